//! The 3-D view of a scatter plot: projection fitted to the area, the unit-sphere
//! wireframe, depth-sorted points (faded on the far side of the sphere) and the axis names.

use plotters::coord::ranged1d::{BoldPoints, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::ranged3d::{Cartesian3d, ProjectionMatrixBuilder};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::scatter::{marker, marker_radius, ScatterPlan};
use super::style::{digit_color, draw_err, faded_color, fmt_tick, tick_len, Scale, font};
use super::PlotError;

impl ScatterPlan<'_> {
    /// Paints the 3-D scatter into `area` at pixel scale `s`.
    pub(super) fn paint_3d<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        let [xr, yr, zr] = self.lims;
        let mut chart = ChartBuilder::on(area)
            .margin(s.u(8))
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
            let fit = ((f64::from(w) - s.f(120.0 * self.text)) / bw).min((f64::from(h) - s.f(90.0 * self.text)) / bh);
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
        let tick = tick_len(chart.plotting_area().dim_in_pixel(), s);
        let (rx, ry) = chart.plotting_area().get_pixel_range();
        let mid = ((rx.start + rx.end) / 2, (ry.start + ry.end) / 2);
        let unlabelled = crowded_ticks(chart.as_coord_spec(), &self.lims, mid);
        let label = |axis: usize, v: f64, span: f64| {
            if unlabelled[axis].contains(&v) {
                String::new()
            } else {
                fmt_tick(v, span)
            }
        };
        chart
            .configure_axes()
            .label_style(font(s.f(15.0 * self.text)))
            .x_formatter(&|v| label(0, *v, xr.1 - xr.0))
            .y_formatter(&|v| label(1, *v, yr.1 - yr.0))
            .z_formatter(&|v| label(2, *v, zr.1 - zr.0))
            .max_light_lines(2)
            .light_grid_style(RGBColor(238, 238, 238).stroke_width(s.u(1)))
            .bold_grid_style(RGBColor(205, 205, 205).stroke_width(s.u(1)))
            .axis_panel_style(RGBColor(250, 250, 250))
            .tick_size(tick)
            .draw()
            .map_err(draw_err)?;
        let coord = chart.as_coord_spec().clone();
        if s != Scale::ONE {
            // plotters draws the three axes one pixel wide whatever the scale: draw them
            // again at the scaled width.
            let style = BLACK.mix(0.8).stroke_width(s.u(1));
            for axis in 0..3 {
                let (a, b) = axis_edge(&coord, &self.lims, axis);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(a[0], a[1], a[2]), (b[0], b[1], b[2])],
                        style,
                    )))
                    .map_err(draw_err)?;
            }
        }

        // Towards the viewer: a point's depth is minus its component along this direction
        // (every axis has the same scale). Far points are drawn first.
        let view = toward_viewer(yaw, pitch);
        let along = |p: &[f64; 3]| p[0] * view[0] + p[1] * view[1] + p[2] * view[2];

        // The unit sphere: back half before the points, front half after them.
        let sphere = if self.normalize {
            sphere_wireframe()
        } else {
            Vec::new()
        };
        let wire = ShapeStyle::from(&RGBColor(150, 150, 150).mix(0.45)).stroke_width(s.u(1));
        let draw_wire =
            |chart: &mut ChartContext<'_, DB, _>, back: bool| -> Result<(), PlotError> {
                for path in &sphere {
                    for run in split_runs(path, |p| (along(p) < 0.0) == back) {
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
        let toward: Vec<f64> = self.cloud.pts.iter().map(along).collect();
        order.sort_by(|&i, &j| toward[i].total_cmp(&toward[j]));
        let r = marker_radius(self.cloud.pts.len(), s);
        // On the sphere, points on the hemisphere facing away are faded and have no outline.
        let split = if self.normalize {
            order.partition_point(|&i| toward[i] < 0.0)
        } else {
            0
        };
        let at = |i: usize| {
            let p = self.cloud.pts[i];
            ((p[0], p[1], p[2]), digit_color(self.cloud.labels[i]))
        };
        chart
            .draw_series(order[..split].iter().map(|&i| {
                let (p, color) = at(i);
                Circle::new(p, r, faded_color(color).filled())
            }))
            .map_err(draw_err)?;
        chart
            .draw_series(order[split..].iter().map(|&i| {
                let (p, color) = at(i);
                marker(p, r, color, s)
            }))
            .map_err(draw_err)?;
        draw_wire(&mut chart, false)?;

        // Axis names beside the edge that carries each axis' tick labels.
        let name_style = TextStyle::from(font(s.f(17.0 * self.text)).into_font())
            .pos(Pos::new(HPos::Center, VPos::Center));
        let base = area.get_base_pixel();
        for (axis, name) in ["dim 1", "dim 2", "dim 3"].iter().enumerate() {
            let (x, y) = axis_name_position(&coord, &self.lims, axis, s, self.text);
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

/// The unit vector from the centre of the 3-D box towards the viewer, in data coordinates
/// of axes with one common scale, for plotters' view `yaw` and `pitch`: the direction in
/// which plotters' projected depth falls fastest.
pub(super) fn toward_viewer(yaw: f64, pitch: f64) -> [f64; 3] {
    let mut builder = ProjectionMatrixBuilder::new();
    builder.yaw = yaw;
    builder.pitch = pitch;
    // Shifts, the pivot and the scale leave the direction of the depth row unchanged.
    let depth_row = builder.into_matrix().as_ref()[2];
    let v = [-depth_row[0], -depth_row[1], -depth_row[2]];
    let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if norm > 0.0 && norm.is_finite() {
        [v[0] / norm, v[1] / norm, v[2] / norm]
    } else {
        [0.0, 0.0, 1.0]
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

/// The box edge `(start, end)` that carries the axis line and tick labels of `axis` in a
/// 3-D chart, picked as plotters picks it: of the box edges parallel to the axis that lie
/// on a back panel, the one nearest to the viewer (then the highest on screen).
fn axis_edge<X, Y, Z>(
    coord: &Cartesian3d<X, Y, Z>,
    lims: &[(f64, f64); 3],
    axis: usize,
) -> ([f64; 3], [f64; 3])
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
{
    let depth = |p: [f64; 3]| coord.projected_depth(&p[0], &p[1], &p[2]);
    let screen_y = |p: [f64; 3]| coord.translate(&(p[0], p[1], p[2])).1;
    let lows = [lims[0].0, lims[1].0, lims[2].0];
    // The back panel of each axis: the end further from the viewer.
    let back: [f64; 3] = std::array::from_fn(|i| {
        let mut high = lows;
        high[i] = lims[i].1;
        if depth(lows) >= depth(high) {
            lims[i].0
        } else {
            lims[i].1
        }
    });
    // (sort key, edge) of the best candidate so far.
    type Candidate = ((i32, i32), ([f64; 3], [f64; 3]));
    let mut best: Option<Candidate> = None;
    for fixed in (0..3).filter(|&i| i != axis) {
        let free = 3 - axis - fixed;
        for end in [lims[free].0, lims[free].1] {
            let mut a = lows;
            a[fixed] = back[fixed];
            a[free] = end;
            let mut b = a;
            a[axis] = lims[axis].0;
            b[axis] = lims[axis].1;
            let key = (depth(a) + depth(b), screen_y(a) + screen_y(b));
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, (a, b)));
            }
        }
    }
    best.map_or((lows, lows), |(_, edge)| edge)
}

/// Labelled tick values of each axis of a 3-D chart (plotters' default of at most ten)
/// that stay unlabelled: where the label edges of two axes meet at a corner of the box and
/// plotters puts both axes' labels on the same side (both below, say), the later axis'
/// tick nearest to that corner (within half a tick step), whose label would overlap the
/// other's. `mid` is the centre of the plotting area in backend pixels.
fn crowded_ticks<X, Y, Z>(
    coord: &Cartesian3d<X, Y, Z>,
    lims: &[(f64, f64); 3],
    mid: (i32, i32),
) -> [Vec<f64>; 3]
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
{
    let edges: [([f64; 3], [f64; 3]); 3] = std::array::from_fn(|a| axis_edge(coord, lims, a));
    // The side of its edge on which plotters writes an axis' labels (as in its
    // `draw_axis_ticks`): left or right of a steep edge, above or below a flat one.
    let side = |(start, end): ([f64; 3], [f64; 3])| {
        let begin = coord.translate(&(start[0], start[1], start[2]));
        let stop = coord.translate(&(end[0], end[1], end[2]));
        let x_dir = if begin.0 < mid.0 { -1 } else { 1 };
        let y_dir = if begin.1 < mid.1 { -1 } else { 1 };
        if (stop.0 - begin.0).abs() < (stop.1 - begin.1).abs() {
            (x_dir, 0)
        } else {
            (0, y_dir)
        }
    };
    let mut out: [Vec<f64>; 3] = Default::default();
    for b in 1..3 {
        let ticks = RangedCoordf64::from(lims[b].0..lims[b].1).key_points(BoldPoints(10));
        let step = ticks.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
        for a in 0..b {
            let (ea, eb) = (edges[a], edges[b]);
            let corner = [eb.0, eb.1].into_iter().find(|c| *c == ea.0 || *c == ea.1);
            if let (Some(c), true) = (corner, side(ea) == side(eb)) {
                out[b].extend(ticks.iter().filter(|&&t| (t - c[b]).abs() < step / 2.0));
            }
        }
    }
    out
}

/// Where (backend pixels) to write the name of `axis` in a 3-D chart at pixel scale `s`:
/// beyond the midpoint of its [`axis_edge`], away from the centre of the box, by a distance
/// that grows with the text factor `text` (the tick labels in between grow with it).
fn axis_name_position<X, Y, Z>(
    coord: &Cartesian3d<X, Y, Z>,
    lims: &[(f64, f64); 3],
    axis: usize,
    s: Scale,
    text: f64,
) -> (i32, i32)
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
    Z: Ranged<ValueType = f64>,
{
    let at = |p: [f64; 3]| (p[0], p[1], p[2]);
    let mid: [f64; 3] = std::array::from_fn(|i| (lims[i].0 + lims[i].1) / 2.0);
    let (a, b) = axis_edge(coord, lims, axis);
    let edge_mid: [f64; 3] = std::array::from_fn(|i| (a[i] + b[i]) / 2.0);
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
        ex + (ux * s.f(48.0 * text)).round() as i32,
        ey + (uy * s.f(40.0 * text)).round() as i32,
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

#[cfg(test)]
mod tests {
    use super::super::style::outline_color;
    use super::super::{scatter, Embeddings, ScatterOptions};
    use super::*;

    #[test]
    fn view_direction_matches_plotters_depth() {
        for (yaw, pitch) in [(0.7, 0.45), (2.4, 0.9), (-2.0, 1.1), (0.0, 0.0)] {
            let mut svg = String::new();
            let root = SVGBackend::with_string(&mut svg, (400, 400)).into_drawing_area();
            let mut chart = ChartBuilder::on(&root)
                .build_cartesian_3d(-1.0..1.0, -1.0..1.0, -1.0..1.0)
                .unwrap();
            chart.with_projection(|mut p| {
                p.yaw = yaw;
                p.pitch = pitch;
                p.into_matrix()
            });
            let coord = chart.as_coord_spec();
            let v = toward_viewer(yaw, pitch);
            let depth = |s: f64| coord.projected_depth(&(s * v[0]), &(s * v[1]), &(s * v[2]));
            assert!(depth(0.8) < depth(0.0) - 50, "{yaw} {pitch}");
            assert!(depth(-0.8) > depth(0.0) + 50, "{yaw} {pitch}");
            // A direction across the line of sight keeps the depth.
            let across = [v[1], -v[0], 0.0];
            let n = (across[0] * across[0] + across[1] * across[1]).sqrt().max(1e-9);
            let d = coord.projected_depth(&(0.8 * across[0] / n), &(0.8 * across[1] / n), &0.0);
            assert!((d - depth(0.0)).abs() <= 2, "{yaw} {pitch}: {d} vs {}", depth(0.0));
        }
    }

    #[test]
    fn corner_labels_of_two_axes_do_not_overlap() {
        // The default view: the dim-1 and dim-3 label edges meet at the front-bottom corner
        // with both axes' labels below them; dim 3's tick there goes unlabelled. Dim 2's
        // labels are on the left of its edge, so its bottom tick keeps its label.
        let lims = [(-1.15, 1.15); 3];
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (500, 500)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .build_cartesian_3d(-1.15..1.15, -1.15..1.15, -1.15..1.15)
            .unwrap();
        chart.with_projection(|mut p| {
            p.yaw = 0.7;
            p.pitch = 0.45;
            p.into_matrix()
        });
        let (rx, ry) = chart.plotting_area().get_pixel_range();
        let mid = ((rx.start + rx.end) / 2, (ry.start + ry.end) / 2);
        let out = crowded_ticks(chart.as_coord_spec(), &lims, mid);
        assert!(out[0].is_empty() && out[1].is_empty(), "{out:?}");
        assert_eq!(out[2].len(), 1, "{out:?}");
        assert!((out[2][0].abs() - 1.0).abs() < 1e-9, "{out:?}");
    }

    /// Pixels of the plot area (left of the legend) of exactly `c`.
    fn count(png: &[u8], c: RGBColor, plot_width: u32) -> usize {
        let img = image::load_from_memory(png).unwrap().to_rgb8();
        img.enumerate_pixels()
            .filter(|(x, _, p)| *x < plot_width && p.0 == [c.0, c.1, c.2])
            .count()
    }

    #[test]
    fn far_side_of_the_sphere_is_faded() {
        let opts = ScatterOptions { normalize: true, ..Default::default() };
        let v = toward_viewer(opts.yaw, opts.pitch);
        let color = digit_color(4);
        let faded = faded_color(color);
        // 60 points of digit 4 around the direction +v (front) or -v (back).
        let cloud = |sign: f64| -> Vec<f32> {
            (0..60)
                .flat_map(|i| {
                    let t = f64::from(i) * 0.7;
                    let jitter = [0.25 * t.cos(), 0.25 * (1.3 * t).sin(), 0.25 * (0.7 * t).cos()];
                    (0..3).map(move |a| (sign * v[a] + jitter[a]) as f32)
                })
                .collect()
        };
        let labels = vec![4u8; 60];
        let plot_width = opts.width - 80;
        for (sign, front) in [(1.0, true), (-1.0, false)] {
            let values = cloud(sign);
            let fig = scatter(&Embeddings { dim: 3, values: &values, labels: &labels, directions: &[] }, &opts).unwrap();
            let (full, pale) = (count(&fig.png, color, plot_width), count(&fig.png, faded, plot_width));
            let ring = count(&fig.png, outline_color(color), plot_width);
            if front {
                assert!(full > 100 && ring > 100 && pale == 0, "front: {full} full, {ring} outline, {pale} faded");
            } else {
                assert!(pale > 100 && full == 0 && ring == 0, "back: {full} full, {ring} outline, {pale} faded");
            }
        }
        // Raw (not normalised) 3-D clouds are never faded.
        let values = cloud(-1.0);
        let raw = ScatterOptions { normalize: false, ..opts };
        let fig = scatter(&Embeddings { dim: 3, values: &values, labels: &labels, directions: &[] }, &raw).unwrap();
        assert!(count(&fig.png, color, plot_width) > 100 && count(&fig.png, faded, plot_width) == 0);
    }
}
