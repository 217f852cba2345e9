//! The 3-D view of a scatter plot: projection fitted to the area, the unit-sphere
//! wireframe, depth-sorted points and the axis names.

use plotters::coord::ranged1d::Ranged;
use plotters::coord::ranged3d::Cartesian3d;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::scatter::{marker, marker_radius, ScatterPlan};
use super::style::{digit_color, draw_err, fmt_tick, FONT};
use super::PlotError;

impl ScatterPlan<'_> {
    pub(super) fn paint_3d<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let [xr, yr, zr] = self.lims;
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .build_cartesian_3d(xr.0..xr.1, yr.0..yr.1, zr.0..zr.1)
            .map_err(draw_err)?;
        // Fit the projected box (plus room for tick labels and axis names) into the area.
        let (yaw, pitch) = (self.yaw, self.pitch);
        chart.with_projection(|mut p| {
            p.yaw = yaw;
            p.pitch = pitch;
            p.into_matrix()
        });
        let (scale, pivot_before, pivot_after) = {
            let (x0, x1, y0, y1) = projected_box(chart.as_coord_spec(), &self.lims);
            let (w, h) = area.dim_in_pixel();
            let bw = f64::from(x1.saturating_sub(x0).max(1));
            let bh = f64::from(y1.saturating_sub(y0).max(1));
            let fit = ((f64::from(w) - 120.0) / bw).min((f64::from(h) - 90.0) / bh);
            let scale = fit.clamp(0.1, 1.0);
            // Re-centre the box: plotters pivots on the centre of the (square) 3-D pixel
            // cube, placed at the centre of the plotting area.
            let (rx, ry) = chart.plotting_area().get_pixel_range();
            let size = (rx.end - rx.start).min(ry.end - ry.start) * 4 / 5;
            let centre = ((rx.start + rx.end) / 2, (ry.start + ry.end) / 2);
            let off_x = (f64::from(x0) / 2.0 + f64::from(x1) / 2.0 - f64::from(centre.0)) * scale;
            let off_y = (f64::from(y0) / 2.0 + f64::from(y1) / 2.0 - f64::from(centre.1)) * scale;
            (
                scale,
                (size / 2, size / 2, size / 2),
                (
                    centre.0 - off_x.round() as i32,
                    centre.1 - off_y.round() as i32,
                ),
            )
        };
        chart.with_projection(|mut p| {
            p.yaw = yaw;
            p.pitch = pitch;
            p.scale = scale;
            p.set_pivot(pivot_before, pivot_after);
            p.into_matrix()
        });
        chart
            .configure_axes()
            .label_style((FONT, 14))
            .x_formatter(&|v| fmt_tick(*v, xr.1 - xr.0))
            .y_formatter(&|v| fmt_tick(*v, yr.1 - yr.0))
            .z_formatter(&|v| fmt_tick(*v, zr.1 - zr.0))
            .max_light_lines(2)
            .light_grid_style(RGBColor(238, 238, 238))
            .bold_grid_style(RGBColor(205, 205, 205))
            .axis_panel_style(RGBColor(250, 250, 250))
            .draw()
            .map_err(draw_err)?;

        // Depth of every point; plotters' projected depth grows away from the viewer.
        let coord = chart.as_coord_spec().clone();
        let depth = |p: &[f64; 3]| coord.projected_depth(&p[0], &p[1], &p[2]);

        // The unit sphere: back half before the points, front half after them.
        let sphere = if self.normalize {
            sphere_wireframe()
        } else {
            Vec::new()
        };
        let centre_depth = depth(&[0.0, 0.0, 0.0]);
        let wire = ShapeStyle::from(&RGBColor(150, 150, 150).mix(0.45)).stroke_width(1);
        let draw_wire =
            |chart: &mut ChartContext<'_, DB, _>, back: bool| -> Result<(), PlotError> {
                for path in &sphere {
                    for run in split_runs(path, |p| (depth(p) >= centre_depth) == back) {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                run.iter().map(|p| (p[0], p[1], p[2])).collect::<Vec<_>>(),
                                wire,
                            )))
                            .map_err(draw_err)?;
                    }
                }
                Ok(())
            };
        draw_wire(&mut chart, true)?;

        let mut order: Vec<usize> = (0..self.cloud.pts.len()).collect();
        let depths: Vec<i32> = self.cloud.pts.iter().map(depth).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(depths[i]));
        let r = marker_radius(self.cloud.pts.len());
        chart
            .draw_series(order.iter().map(|&i| {
                let p = self.cloud.pts[i];
                marker((p[0], p[1], p[2]), r, digit_color(self.cloud.labels[i]))
            }))
            .map_err(draw_err)?;
        draw_wire(&mut chart, false)?;

        // Axis names beside the edge that carries each axis' tick labels.
        let name_style =
            TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let base = area.get_base_pixel();
        for (axis, name) in ["dim 1", "dim 2", "dim 3"].iter().enumerate() {
            let (x, y) = axis_name_position(&coord, &self.lims, axis);
            area.draw(&Text::new(
                *name,
                (x - base.0, y - base.1),
                name_style.clone(),
            ))
            .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Pixel bounding box `(x0, x1, y0, y1)` of the projected axis box.
fn projected_box<X, Y, Z>(
    coord: &Cartesian3d<X, Y, Z>,
    lims: &[(f64, f64); 3],
) -> (i32, i32, i32, i32)
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
{
    let (mut x0, mut x1, mut y0, mut y1) = (i32::MAX, i32::MIN, i32::MAX, i32::MIN);
    for &x in &[lims[0].0, lims[0].1] {
        for &y in &[lims[1].0, lims[1].1] {
            for &z in &[lims[2].0, lims[2].1] {
                let (px, py) = coord.translate(&(x, y, z));
                x0 = x0.min(px);
                x1 = x1.max(px);
                y0 = y0.min(py);
                y1 = y1.max(py);
            }
        }
    }
    (x0, x1, y0, y1)
}

/// Where (backend pixels) to write the name of `axis` in a 3-D chart.
///
/// Mirrors plotters' choice of the edge that gets the tick labels: of the four box edges
/// parallel to the axis, those touching a back panel, the one nearest to the viewer; the
/// name goes beyond its midpoint, away from the centre of the box.
fn axis_name_position<X, Y, Z>(
    coord: &Cartesian3d<X, Y, Z>,
    lims: &[(f64, f64); 3],
    axis: usize,
) -> (i32, i32)
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
{
    let at = |p: [f64; 3]| (p[0], p[1], p[2]);
    let depth = |p: [f64; 3]| coord.projected_depth(&p[0], &p[1], &p[2]);
    let mid = [
        (lims[0].0 + lims[0].1) / 2.0,
        (lims[1].0 + lims[1].1) / 2.0,
        (lims[2].0 + lims[2].1) / 2.0,
    ];
    // The back panel of each axis: the end further from the viewer.
    let back: Vec<f64> = (0..3)
        .map(|i| {
            let (mut lo, mut hi) = (mid, mid);
            lo[i] = lims[i].0;
            hi[i] = lims[i].1;
            if depth(lo) >= depth(hi) {
                lims[i].0
            } else {
                lims[i].1
            }
        })
        .collect();
    let others: Vec<usize> = (0..3).filter(|&i| i != axis).collect();
    let mut best: Option<((i32, i32), [f64; 3])> = None;
    for (fixed, free) in [(others[0], others[1]), (others[1], others[0])] {
        for end in [lims[free].0, lims[free].1] {
            let mut p = mid;
            p[fixed] = back[fixed];
            p[free] = end;
            let key = (depth(p), coord.translate(&at(p)).1);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, p));
            }
        }
    }
    let edge_mid = best.map_or(mid, |(_, p)| p);
    let (ex, ey) = coord.translate(&at(edge_mid));
    let (cx, cy) = coord.translate(&at(mid));
    let (dx, dy) = (f64::from(ex - cx), f64::from(ey - cy));
    let len = (dx * dx + dy * dy).sqrt();
    let (ux, uy) = if len > 1e-9 {
        (dx / len, dy / len)
    } else {
        (0.0, 1.0)
    };
    (
        ex + (ux * 48.0).round() as i32,
        ey + (uy * 40.0).round() as i32,
    )
}

/// Latitude and longitude circles of the unit sphere (plotters' y axis is vertical).
fn sphere_wireframe() -> Vec<Vec<[f64; 3]>> {
    const STEPS: u32 = 96;
    let mut paths = Vec::new();
    for lat_deg in [-60.0f64, -30.0, 0.0, 30.0, 60.0] {
        let lat = lat_deg.to_radians();
        let (y, rad) = (lat.sin(), lat.cos());
        paths.push(
            (0..=STEPS)
                .map(|i| {
                    let t = f64::from(i) / f64::from(STEPS) * std::f64::consts::TAU;
                    [rad * t.cos(), y, rad * t.sin()]
                })
                .collect(),
        );
    }
    for k in 0..6 {
        let lon = f64::from(k) * std::f64::consts::PI / 6.0;
        paths.push(
            (0..=STEPS)
                .map(|i| {
                    let t = f64::from(i) / f64::from(STEPS) * std::f64::consts::TAU;
                    [t.cos() * lon.cos(), t.sin(), t.cos() * lon.sin()]
                })
                .collect(),
        );
    }
    paths
}

/// Splits a polyline into maximal runs whose segment midpoints satisfy `keep`.
fn split_runs<F: Fn(&[f64; 3]) -> bool>(path: &[[f64; 3]], keep: F) -> Vec<Vec<[f64; 3]>> {
    let mut runs = Vec::new();
    let mut cur: Vec<[f64; 3]> = Vec::new();
    for seg in path.windows(2) {
        let mid = [
            (seg[0][0] + seg[1][0]) / 2.0,
            (seg[0][1] + seg[1][1]) / 2.0,
            (seg[0][2] + seg[1][2]) / 2.0,
        ];
        if keep(&mid) {
            if cur.is_empty() {
                cur.push(seg[0]);
            }
            cur.push(seg[1]);
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}
