//! Figures for the SphereFace experiments: embedding scatters, training curves and animations.
//!
//! Every figure is drawn twice from the same drawing code, once into an SVG string and
//! once into an RGB buffer that is encoded as PNG, so both files of a [`Figure`] show the
//! same picture. Text in the PNG is rasterised from an embedded DejaVu Sans font
//! (`assets/DejaVuSans.ttf`, Bitstream Vera licence in `assets/DejaVuSans.LICENSE`), so no
//! system font library is needed.
//!
//! The scatter colours follow matplotlib's `rainbow` colour map sampled the way
//! `plt.cm.rainbow(np.linspace(0, 1, 10))` does (look-up-table indices 0, 28, 56, 85,
//! 113, 142, 170, 199, 227, 255), which is what the SphereFace paper and the TensorFlow
//! reference implementation use for the ten MNIST digits.

mod figure;
mod style;
#[cfg(test)]
mod test_util;

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::Ranged;
use plotters::coord::ranged3d::Cartesian3d;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use figure::{Animation, Figure};
pub use style::{digit_color, rainbow, MAX_SIDE, MIN_HEIGHT, MIN_WIDTH};

use figure::encode_png;
use style::{check_size, draw_err, ensure_font, fmt_tick, io_err, tick_count, write_atomic, FONT, LINE_COLORS};

/// Axis half-range used for normalised (unit circle / sphere) embeddings.
pub const NORMALIZED_LIMIT: f64 = 1.15;

/// Width of the legend panel to the right of a scatter plot, in pixels.
const LEGEND_W: u32 = 74;

/// Everything that can go wrong while building or saving a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There is nothing to draw: no points, no series, or no finite values at all.
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// The inputs have inconsistent shapes or unsupported sizes or options.
    #[error("invalid input: {0}")]
    Shape(String),
    /// The drawing library reported an error.
    #[error("drawing failed: {0}")]
    Drawing(String),
    /// The embedded font could not be registered.
    #[error("font error: {0}")]
    Font(String),
    /// The raster image could not be encoded.
    #[error("image encoding failed: {0}")]
    Encode(String),
    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Points of one embedding set: `values` row-major [n, dim], labels 0..=9.
///
/// Labels above 9 are drawn in grey and listed as "other" in the legend.
#[derive(Debug, Clone, Copy)]
pub struct Embeddings<'a> {
    /// Number of coordinates per point (2 or 3 can be drawn).
    pub dim: usize,
    /// Row-major coordinates, `labels.len() * dim` values.
    pub values: &'a [f32],
    /// Class label of each point.
    pub labels: &'a [u8],
}

/// Settings of an embedding scatter plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterOptions {
    /// Title drawn above the plot; empty for none.
    pub title: String,
    /// Project each point onto the unit circle/sphere (x/||x||) and draw the circle/sphere.
    pub normalize: bool,
    /// 3-D view: rotation about the vertical axis, in radians.
    pub yaw: f64,
    /// 3-D view: tilt towards the viewer, in radians.
    pub pitch: f64,
    /// Figure width in pixels.
    pub width: u32,
    /// Figure height in pixels.
    pub height: u32,
    /// Above this many points every k-th point is drawn (deterministic); 0 means no limit.
    pub max_points: usize,
}

impl Default for ScatterOptions {
    fn default() -> Self {
        Self {
            title: String::new(),
            normalize: false,
            yaw: 0.7,
            pitch: 0.45,
            width: 640,
            height: 520,
            max_points: 5000,
        }
    }
}

/// One line of a line chart, e.g. the test accuracy of one loss per epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend entry, e.g. "angular softmax (test acc 0.9902)"; empty for no entry.
    pub name: String,
    /// X coordinates.
    pub xs: Vec<f64>,
    /// Y coordinates, as many as `xs`.
    pub ys: Vec<f64>,
}

/// Settings of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineOptions {
    /// Title drawn above the plot; empty for none.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Use a logarithmic y axis (non-positive values are skipped).
    pub log_y: bool,
    /// Figure width in pixels.
    pub width: u32,
    /// Figure height in pixels.
    pub height: u32,
    /// Fixed y range `(low, high)`; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
}

impl Default for LineOptions {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            log_y: false,
            width: 720,
            height: 480,
            y_range: None,
        }
    }
}

/// Something that can paint itself on any plotters backend.
trait Paint {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Paints `p` into an SVG string and a PNG image.
fn render<P: Paint>(p: &P, width: u32, height: u32) -> Result<Figure, PlotError> {
    check_size(width, height)?;
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        p.paint(&root)?;
        root.present().map_err(draw_err)?;
    }
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        p.paint(&root)?;
        root.present().map_err(draw_err)?;
    }
    let png = encode_png(&rgb, width, height)?;
    Ok(Figure {
        svg,
        png,
        width,
        height,
    })
}

/// Returns `p` scaled to unit length, or `None` when it has no direction (zero or non-finite).
pub(crate) fn unit_project(p: [f64; 3]) -> Option<[f64; 3]> {
    let norm = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    if !norm.is_finite() || norm <= 0.0 {
        return None;
    }
    Some([p[0] / norm, p[1] / norm, p[2] / norm])
}

/// Points of one embedding set after validation, filtering and subsampling.
#[derive(Debug, Clone)]
struct Cloud {
    /// Coordinates (third one 0 in 2-D).
    pts: Vec<[f64; 3]>,
    labels: Vec<u8>,
}

/// Validates, filters (non-finite rows; zero rows when normalising) and subsamples.
fn prepare(emb: &Embeddings<'_>, opts: &ScatterOptions) -> Result<Cloud, PlotError> {
    let dim = emb.dim;
    if dim != 2 && dim != 3 {
        return Err(PlotError::Shape(format!(
            "can only draw 2-D or 3-D embeddings, got dim {dim}"
        )));
    }
    if Some(emb.values.len()) != emb.labels.len().checked_mul(dim) {
        return Err(PlotError::Shape(format!(
            "{} values do not make {} rows of dim {dim}",
            emb.values.len(),
            emb.labels.len()
        )));
    }
    if emb.labels.is_empty() {
        return Err(PlotError::Empty("the embedding set has no points".into()));
    }
    let mut pts = Vec::with_capacity(emb.labels.len());
    let mut labels = Vec::with_capacity(emb.labels.len());
    for (row, &label) in emb.values.chunks_exact(dim).zip(emb.labels) {
        if !row.iter().all(|v| v.is_finite()) {
            continue;
        }
        let mut p = [0.0f64; 3];
        for (dst, &v) in p.iter_mut().zip(row) {
            *dst = f64::from(v);
        }
        let p = if opts.normalize {
            match unit_project(p) {
                Some(u) => u,
                None => continue,
            }
        } else {
            p
        };
        pts.push(p);
        labels.push(label);
    }
    if pts.is_empty() {
        return Err(PlotError::Empty(if opts.normalize {
            "no finite, non-zero points to normalise".into()
        } else {
            "no finite points".into()
        }));
    }
    if opts.max_points > 0 && pts.len() > opts.max_points {
        let k = pts.len().div_ceil(opts.max_points);
        pts = pts.into_iter().step_by(k).collect();
        labels = labels.into_iter().step_by(k).collect();
    }
    Ok(Cloud { pts, labels })
}

/// Axis limits `[(lo, hi); 3]` with one common scale for all axes.
fn limits(clouds: &[&Cloud], dim: usize, normalize: bool) -> [(f64, f64); 3] {
    if normalize {
        return [(-NORMALIZED_LIMIT, NORMALIZED_LIMIT); 3];
    }
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for cloud in clouds {
        for p in &cloud.pts {
            for a in 0..dim {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    let mut radius = 0.0f64;
    let mut span = 0.0f64;
    for a in 0..dim {
        if lo[a] > hi[a] {
            // No points at all; callers never get here, but stay sane.
            lo[a] = 0.0;
            hi[a] = 0.0;
        }
        radius = radius.max(lo[a].abs()).max(hi[a].abs());
        span = span.max(hi[a] - lo[a]);
    }
    let mut out = [(-1.0, 1.0); 3];
    if radius < 1e-30 {
        // All points at (or indistinguishably near) the origin.
        return out;
    }
    if radius <= 3.0 * span {
        // The origin is close to the data: centre on it (features radiate from the origin).
        let r = radius * 1.08;
        for o in out.iter_mut().take(dim) {
            *o = (-r, r);
        }
    } else {
        // A compact cloud far from the origin: its bounding box, same scale on all axes.
        let half = if span > 0.0 {
            span * 0.54
        } else {
            radius * 0.1
        };
        // Keep ticks distinguishable in f64 however tight the cloud.
        let half = half.max(radius * 1e-6);
        for a in 0..dim {
            let c = lo[a] / 2.0 + hi[a] / 2.0;
            out[a] = (c - half, c + half);
        }
    }
    out
}

/// Widens the x or y range so that one unit has the same length on both axes.
fn equal_aspect(x: (f64, f64), y: (f64, f64), px_w: f64, px_h: f64) -> ((f64, f64), (f64, f64)) {
    if px_w <= 1.0 || px_h <= 1.0 {
        return (x, y);
    }
    let (wx, wy) = (x.1 - x.0, y.1 - y.0);
    if !(wx > 0.0 && wy > 0.0) {
        return (x, y);
    }
    let ratio = px_w / px_h;
    if wx / wy < ratio {
        let cx = x.0 / 2.0 + x.1 / 2.0;
        let half = wy * ratio / 2.0;
        ((cx - half, cx + half), y)
    } else {
        let cy = y.0 / 2.0 + y.1 / 2.0;
        let half = wx / ratio / 2.0;
        (x, (cy - half, cy + half))
    }
}

/// Everything needed to paint one scatter frame.
struct ScatterPlan<'c> {
    cloud: &'c Cloud,
    dim: usize,
    title: String,
    normalize: bool,
    yaw: f64,
    pitch: f64,
    lims: [(f64, f64); 3],
}

/// Draws the digit legend into its own panel.
fn draw_digit_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[u8],
) -> Result<(), PlotError> {
    let mut present = [false; 11];
    for &l in labels {
        present[usize::from(l.min(10))] = true;
    }
    let mut entries: Vec<(String, RGBColor)> =
        (0u8..10).map(|d| (d.to_string(), digit_color(d))).collect();
    if present[10] {
        entries.push(("other".into(), digit_color(10)));
    }
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let n = entries.len() as i32;
    let row = ((h - 16) / n).clamp(12, 22);
    let box_h = row * n + 12;
    let top = ((h - box_h) / 2).max(0);
    let left = 6i32;
    let box_w = (w - 12).max(20);
    area.draw(&Rectangle::new(
        [(left, top), (left + box_w, top + box_h)],
        ShapeStyle::from(&RGBColor(180, 180, 180)).stroke_width(1),
    ))
    .map_err(draw_err)?;
    let font = (FONT, f64::from(row) * 17.0 / 22.0)
        .into_font()
        .color(&BLACK);
    let style = font.pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, color)) in entries.iter().enumerate() {
        let y = top + 6 + row * i as i32 + row / 2;
        area.draw(&Circle::new(
            (left + 14, y),
            (row / 4).min(5),
            color.filled(),
        ))
        .map_err(draw_err)?;
        area.draw(&Text::new(name.clone(), (left + 26, y), style.clone()))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// A plot area and the legend panel beside it.
type AreaPair<DB> = (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>);

/// Splits off the title (if any) and the legend panel; returns (plot area, legend area).
fn layout_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<AreaPair<DB>, PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let body = if title.is_empty() {
        root.clone()
    } else {
        root.titled(title, (FONT, 24)).map_err(draw_err)?
    };
    let (w, _) = body.dim_in_pixel();
    let split = w.saturating_sub(LEGEND_W).max(1);
    Ok(body.split_horizontally(split))
}

fn marker_radius(n: usize) -> i32 {
    if n <= 600 {
        3
    } else {
        2
    }
}

impl Paint for ScatterPlan<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (main, legend) = layout_with_legend(root, &self.title)?;
        if self.dim == 2 {
            self.paint_2d(&main)?;
        } else {
            self.paint_3d(&main)?;
        }
        draw_digit_legend(&legend, &self.cloud.labels)
    }
}

impl ScatterPlan<'_> {
    fn paint_2d<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        const MARGIN: u32 = 12;
        const X_AREA: u32 = 42;
        const Y_AREA: u32 = 58;
        let (w, h) = area.dim_in_pixel();
        let px_w = f64::from(w) - f64::from(2 * MARGIN + Y_AREA);
        let px_h = f64::from(h) - f64::from(2 * MARGIN + X_AREA);
        let (xr, yr) = equal_aspect(self.lims[0], self.lims[1], px_w, px_h);
        let mut chart = ChartBuilder::on(area)
            .margin(MARGIN)
            .x_label_area_size(X_AREA)
            .y_label_area_size(Y_AREA)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("embedding dim 1")
            .y_desc("embedding dim 2")
            .axis_desc_style((FONT, 17))
            .label_style((FONT, 14))
            .x_label_formatter(&|v| fmt_tick(*v, xr.1 - xr.0))
            .y_label_formatter(&|v| fmt_tick(*v, yr.1 - yr.0))
            .x_labels(tick_count(px_w, 50.0))
            .y_labels(tick_count(px_h, 28.0))
            .max_light_lines(2)
            .light_line_style(RGBColor(244, 244, 244))
            .bold_line_style(RGBColor(222, 222, 222))
            .draw()
            .map_err(draw_err)?;
        if self.normalize {
            let circle: Vec<(f64, f64)> = (0..=240)
                .map(|i| {
                    let t = f64::from(i) / 240.0 * std::f64::consts::TAU;
                    (t.cos(), t.sin())
                })
                .collect();
            chart
                .draw_series(DashedLineSeries::new(
                    circle,
                    6,
                    4,
                    ShapeStyle::from(&RGBColor(120, 120, 120)).stroke_width(1),
                ))
                .map_err(draw_err)?;
        }
        let r = marker_radius(self.cloud.pts.len());
        chart
            .draw_series(
                self.cloud
                    .pts
                    .iter()
                    .zip(&self.cloud.labels)
                    .map(|(p, &l)| Circle::new((p[0], p[1]), r, digit_color(l).filled())),
            )
            .map_err(draw_err)?;
        Ok(())
    }

    fn paint_3d<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
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
                Circle::new(
                    (p[0], p[1], p[2]),
                    r,
                    digit_color(self.cloud.labels[i]).filled(),
                )
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

fn check_view(opts: &ScatterOptions) -> Result<(), PlotError> {
    if !opts.yaw.is_finite() || !opts.pitch.is_finite() {
        return Err(PlotError::Shape(format!(
            "view angles must be finite, got yaw {} pitch {}",
            opts.yaw, opts.pitch
        )));
    }
    Ok(())
}

/// Draws an embedding set as a 2-D or 3-D scatter plot, one colour per digit.
///
/// `dim` 2 gives a flat scatter, `dim` 3 a 3-D scatter seen from `opts.yaw` /
/// `opts.pitch`. Colours are matplotlib's `rainbow` at `np.linspace(0, 1, 10)` (violet
/// for 0 to red for 9, see [`digit_color`]); a legend "0".."9" sits to the right of the
/// plot. With `opts.normalize` every point is projected onto the unit circle/sphere and
/// a dashed grey unit circle (2-D) or a light wireframe unit sphere (3-D) is drawn.
///
/// Rows with a NaN or infinite coordinate are skipped (and, when normalising, rows of
/// length zero). Raw embeddings get axis limits from the data with a small margin
/// (centred on the origin unless the cloud lies far from it) and the same scale on every
/// axis; normalised ones use [-1.15, 1.15].
///
/// # Errors
/// [`PlotError::Shape`] for `dim` not in {2, 3}, `values.len() != labels.len() * dim`,
/// a figure size outside [`MIN_WIDTH`]..=[`MAX_SIDE`] x [`MIN_HEIGHT`]..=[`MAX_SIDE`] or
/// non-finite view angles; [`PlotError::Empty`] when no finite point is left;
/// [`PlotError::Drawing`], [`PlotError::Font`] or [`PlotError::Encode`] if rendering fails.
pub fn scatter(emb: &Embeddings<'_>, opts: &ScatterOptions) -> Result<Figure, PlotError> {
    check_size(opts.width, opts.height)?;
    check_view(opts)?;
    let cloud = prepare(emb, opts)?;
    let plan = ScatterPlan {
        cloud: &cloud,
        dim: emb.dim,
        title: opts.title.clone(),
        normalize: opts.normalize,
        yaw: opts.yaw,
        pitch: opts.pitch,
        lims: limits(&[&cloud], emb.dim, opts.normalize),
    };
    render(&plan, opts.width, opts.height)
}

fn frame_title(main: &str, frame: &str) -> String {
    match (main.is_empty(), frame.is_empty()) {
        (_, true) => main.to_string(),
        (true, false) => frame.to_string(),
        (false, false) => format!("{main} — {frame}"),
    }
}

/// Writes an animated GIF of several scatter plots, e.g. the embeddings after each epoch.
///
/// Each frame is drawn as by [`scatter`]; `delay_ms` is the time each frame is shown.
/// The file is written to a temporary file next to `path` and renamed into place.
///
/// All frames share one set of axis limits so that the animation does not jump; each
/// frame's title is `opts.title` and the frame title joined by a dash (either alone when
/// the other is empty). The GIF loops forever; delays are rounded to 10 ms.
///
/// # Errors
/// [`PlotError::Empty`] for no frames or a frame without finite points,
/// [`PlotError::Shape`] as for [`scatter`] (also when the frames mix dimensions),
/// [`PlotError::Io`] if the file cannot be written, [`PlotError::Drawing`] or
/// [`PlotError::Font`] if rendering or GIF encoding fails.
pub fn scatter_gif(
    frames: &[(Embeddings<'_>, String)],
    opts: &ScatterOptions,
    delay_ms: u32,
    path: &Path,
) -> Result<(), PlotError> {
    check_size(opts.width, opts.height)?;
    check_view(opts)?;
    let first = frames
        .first()
        .ok_or_else(|| PlotError::Empty("no frames for the animation".into()))?;
    let dim = first.0.dim;
    let mut clouds = Vec::with_capacity(frames.len());
    for (i, (emb, _)) in frames.iter().enumerate() {
        if emb.dim != dim {
            return Err(PlotError::Shape(format!(
                "frame {i} has dim {} but frame 0 has dim {dim}",
                emb.dim
            )));
        }
        clouds.push(prepare(emb, opts).map_err(|e| match e {
            PlotError::Empty(m) => PlotError::Empty(format!("frame {i}: {m}")),
            PlotError::Shape(m) => PlotError::Shape(format!("frame {i}: {m}")),
            other => other,
        })?);
    }
    let refs: Vec<&Cloud> = clouds.iter().collect();
    let lims = limits(&refs, dim, opts.normalize);
    ensure_font()?;

    // plotters' GIF encoder writes to a path: render into a scratch file beside the target,
    // then put the bytes in place with the crate's one atomic write.
    let name = path.file_name().ok_or_else(|| PlotError::Shape(format!("output path {} has no file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!(".{}.frames-{}", name.to_string_lossy(), std::process::id()));
    // plotters rounds to 1/100 s and stores it in 16 bits.
    let delay = delay_ms.min(655_000);
    let result = (|| -> Result<Vec<u8>, PlotError> {
        let backend =
            BitMapBackend::gif(&tmp, (opts.width, opts.height), delay).map_err(draw_err)?;
        let root = backend.into_drawing_area();
        for (cloud, (_, title)) in clouds.iter().zip(frames) {
            let plan = ScatterPlan {
                cloud,
                dim,
                title: frame_title(&opts.title, title),
                normalize: opts.normalize,
                yaw: opts.yaw,
                pitch: opts.pitch,
                lims,
            };
            plan.paint(&root)?;
            root.present().map_err(draw_err)?;
        }
        drop(root);
        fs::read(&tmp).map_err(io_err(&tmp))
    })();
    let _ = fs::remove_file(&tmp);
    write_atomic(path, &result?)
}

/// One series, split into runs of drawable points.
struct LineData<'o> {
    /// Position in the input (picks the colour).
    index: usize,
    name: &'o str,
    /// Maximal runs of consecutive drawable points.
    runs: Vec<Vec<(f64, f64)>>,
}

/// Validated line data: runs of drawable points per series.
struct LinePlan<'o> {
    opts: &'o LineOptions,
    /// The drawable series, in input order.
    series: Vec<LineData<'o>>,
    x: (f64, f64),
    y: (f64, f64),
}

/// Largest magnitude an axis reaches (and smallest positive one on a log axis); lines
/// beyond it are clipped. Keeps plotters' tick search on ranges it can handle.
const AXIS_LIMIT: f64 = 1e100;

/// Whether `(lo, hi)` is a range plotters can draw: finite, inside [`AXIS_LIMIT`], and
/// wide enough relative to its magnitude for distinct ticks.
fn drawable_range(lo: f64, hi: f64, log: bool) -> bool {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return false;
    }
    if log {
        lo >= 1.0 / AXIS_LIMIT && hi <= AXIS_LIMIT && hi / lo >= 1.0 + 1e-6
    } else {
        let mag = lo.abs().max(hi.abs());
        mag <= AXIS_LIMIT && hi - lo >= mag * 1e-6 && hi - lo >= 1e-100
    }
}

/// Widens the data range `[lo, hi]` by `frac` of its width on both sides, into a
/// drawable range (see [`drawable_range`]); degenerate ranges get a fixed padding.
fn pad_range(lo: f64, hi: f64, log: bool, frac: f64) -> (f64, f64) {
    if log {
        let l = lo.clamp(1.0 / AXIS_LIMIT, AXIS_LIMIT).log10();
        let h = hi.clamp(1.0 / AXIS_LIMIT, AXIS_LIMIT).log10();
        let pad = if h - l > 1e-5 { (h - l) * frac } else { 0.3 };
        let (l, h) = ((l - pad).max(-100.0), (h + pad).min(100.0));
        (10f64.powf(l), 10f64.powf(h))
    } else {
        let lo = lo.clamp(-AXIS_LIMIT, AXIS_LIMIT);
        let hi = hi.clamp(-AXIS_LIMIT, AXIS_LIMIT);
        let (lo, hi) = if drawable_range(lo, hi, false) {
            let pad = (hi - lo) * frac;
            (lo - pad, hi + pad)
        } else {
            let pad = (lo.abs().max(hi.abs()) * 0.1).max(0.5);
            (lo - pad, hi + pad)
        };
        (lo.max(-AXIS_LIMIT), hi.min(AXIS_LIMIT))
    }
}

impl<'o> LinePlan<'o> {
    fn new(series: &'o [Series], opts: &'o LineOptions) -> Result<Self, PlotError> {
        if series.is_empty() {
            return Err(PlotError::Empty("no series".into()));
        }
        if let Some((lo, hi)) = opts.y_range {
            if !drawable_range(lo, hi, opts.log_y) {
                return Err(PlotError::Shape(format!(
                    "y range ({lo}, {hi}) is not drawable{}",
                    if opts.log_y {
                        " on a log axis (needs 1e-100 <= low < high <= 1e100)"
                    } else {
                        " (needs low < high, |values| <= 1e100)"
                    }
                )));
            }
        }
        let mut out = Vec::new();
        let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, s) in series.iter().enumerate() {
            if s.xs.len() != s.ys.len() {
                return Err(PlotError::Shape(format!(
                    "series {:?} has {} x values but {} y values",
                    s.name,
                    s.xs.len(),
                    s.ys.len()
                )));
            }
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut cur = Vec::new();
            for (&x, &y) in s.xs.iter().zip(&s.ys) {
                let ok = x.is_finite() && y.is_finite() && (!opts.log_y || y > 0.0);
                if ok {
                    cur.push((x, y));
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                } else if !cur.is_empty() {
                    runs.push(std::mem::take(&mut cur));
                }
            }
            if !cur.is_empty() {
                runs.push(cur);
            }
            if !runs.is_empty() {
                out.push(LineData {
                    index: i,
                    name: s.name.as_str(),
                    runs,
                });
            }
        }
        if out.is_empty() {
            return Err(PlotError::Empty(
                "no series has a finite point (positive y for a log axis)".into(),
            ));
        }
        let x = pad_range(x0, x1, false, 0.0);
        let y = match opts.y_range {
            Some(r) => r,
            None => pad_range(y0, y1, opts.log_y, 0.05),
        };
        // Clip to the visible window: a fixed y range may cut lines, and plotters must not
        // be handed coordinates far outside its pixel range.
        for line in &mut out {
            line.runs = clip_runs(&line.runs, x, y, opts.log_y);
        }
        Ok(Self {
            opts,
            series: out,
            x,
            y,
        })
    }

    /// Picks the plot corner least crowded by the lines for the legend.
    fn legend_position(&self) -> SeriesLabelPosition {
        let ty = |y: f64| {
            if self.opts.log_y {
                (y.log10() - self.y.0.log10()) / (self.y.1.log10() - self.y.0.log10())
            } else {
                (y - self.y.0) / (self.y.1 - self.y.0)
            }
        };
        let tx = |x: f64| (x - self.x.0) / (self.x.1 - self.x.0);
        // (position, x interval, y interval) in unit coordinates, preferred first.
        let corners = [
            (SeriesLabelPosition::UpperRight, (0.55, 1.0), (0.6, 1.0)),
            (SeriesLabelPosition::LowerRight, (0.55, 1.0), (0.0, 0.4)),
            (SeriesLabelPosition::UpperLeft, (0.0, 0.45), (0.6, 1.0)),
            (SeriesLabelPosition::LowerLeft, (0.0, 0.45), (0.0, 0.4)),
        ];
        let mut counts = [0usize; 4];
        for line in &self.series {
            for run in &line.runs {
                let samples = run.windows(2).flat_map(|w| {
                    (0..8).map(move |k| {
                        let t = f64::from(k) / 8.0;
                        (
                            w[0].0 + (w[1].0 - w[0].0) * t,
                            w[0].1 + (w[1].1 - w[0].1) * t,
                        )
                    })
                });
                for (x, y) in samples.chain(run.last().copied()) {
                    let (u, v) = (tx(x), ty(y));
                    for (c, (_, xi, yi)) in corners.iter().enumerate() {
                        if (xi.0..=xi.1).contains(&u) && (yi.0..=yi.1).contains(&v) {
                            counts[c] += 1;
                        }
                    }
                }
            }
        }
        let mut best = 0;
        for c in 1..4 {
            if counts[c] < counts[best] {
                best = c;
            }
        }
        match best {
            0 => SeriesLabelPosition::UpperRight,
            1 => SeriesLabelPosition::LowerRight,
            2 => SeriesLabelPosition::UpperLeft,
            _ => SeriesLabelPosition::LowerLeft,
        }
    }

    fn paint_on<DB, Y>(&self, root: &DrawingArea<DB, Shift>, y_spec: Y) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
        Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        root.fill(&WHITE).map_err(draw_err)?;
        let (w, h) = root.dim_in_pixel();
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(16)
            .x_label_area_size(46)
            .y_label_area_size(66);
        if !self.opts.title.is_empty() {
            builder.caption(&self.opts.title, (FONT, 24));
        }
        let mut chart = builder
            .build_cartesian_2d(self.x.0..self.x.1, y_spec)
            .map_err(draw_err)?;
        let log = self.opts.log_y;
        let light = RGBColor(244, 244, 244);
        let bold = RGBColor(222, 222, 222);
        let (x_span, y_span) = (self.x.1 - self.x.0, self.y.1 - self.y.0);
        let x_fmt = |v: &f64| fmt_tick(*v, x_span);
        let y_fmt = |v: &f64| fmt_tick(*v, y_span);
        let no_fmt = |_: &f64| String::new();
        {
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(self.opts.x_label.as_str())
                .y_desc(self.opts.y_label.as_str())
                .axis_desc_style((FONT, 17))
                .label_style((FONT, 14))
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .x_labels(tick_count(f64::from(w) - 100.0, 50.0))
                .y_labels(tick_count(f64::from(h) - 100.0, 28.0))
                .max_light_lines(2)
                .light_line_style(light)
                .bold_line_style(bold);
            if log {
                // plotters' log-axis ticks bunch up; draw decade ticks ourselves below.
                mesh.y_labels(0).y_label_formatter(&no_fmt).disable_y_mesh();
            }
            mesh.draw().map_err(draw_err)?;
        }
        if log {
            let (labelled, minor) = log_ticks(self.y.0, self.y.1);
            let grid = |y: f64, color: RGBColor| {
                LineSeries::new(vec![(self.x.0, y), (self.x.1, y)], color.stroke_width(1))
            };
            for &y in &minor {
                chart.draw_series(grid(y, light)).map_err(draw_err)?;
            }
            let style =
                TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            for &y in &labelled {
                chart.draw_series(grid(y, bold)).map_err(draw_err)?;
                let (px, py) = chart.backend_coord(&(self.x.0, y));
                let base = root.get_base_pixel();
                let (px, py) = (px - base.0, py - base.1);
                root.draw(&PathElement::new(
                    vec![(px - 5, py), (px, py)],
                    BLACK.stroke_width(1),
                ))
                .map_err(draw_err)?;
                root.draw(&Text::new(fmt_tick(y, y), (px - 8, py), style.clone()))
                    .map_err(draw_err)?;
            }
        }
        let mut labelled = false;
        for LineData { index, name, runs } in &self.series {
            let color = LINE_COLORS[index % LINE_COLORS.len()];
            let style = color.stroke_width(2);
            if runs.is_empty() && !name.is_empty() {
                // Entirely outside a fixed y range: still listed in the legend.
                labelled = true;
                chart
                    .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), style))
                    .map_err(draw_err)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
                    });
            }
            for (k, run) in runs.iter().enumerate() {
                let ann = if run.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(run[0], 3, color.filled())))
                } else {
                    chart.draw_series(LineSeries::new(run.iter().copied(), style))
                }
                .map_err(draw_err)?;
                if k == 0 && !name.is_empty() {
                    labelled = true;
                    ann.label(*name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2))
                    });
                }
            }
        }
        if labelled {
            chart
                .configure_series_labels()
                .position(self.legend_position())
                .margin(12)
                .label_font((FONT, 16))
                .background_style(WHITE.mix(0.88))
                .border_style(RGBColor(170, 170, 170))
                .draw()
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Clips segment `a`-`b` to the rectangle `[x0, x1] x [y0, y1]` (Liang-Barsky); the ends
/// that need no clipping are returned unchanged, bit for bit.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    let start = if t0 == 0.0 { a } else { at(t0) };
    let end = if t1 == 1.0 { b } else { at(t1) };
    Some((start, end))
}

/// Clips polylines to the plot window (in log10 space for a log axis), splitting them
/// where they leave it.
fn clip_runs(
    runs: &[Vec<(f64, f64)>],
    x: (f64, f64),
    y: (f64, f64),
    log: bool,
) -> Vec<Vec<(f64, f64)>> {
    let to_axis = |v: f64| if log { v.log10() } else { v };
    let from_axis = |v: f64| if log { 10f64.powf(v) } else { v };
    let ya = (to_axis(y.0), to_axis(y.1));
    let inside = |p: (f64, f64)| p.0 >= x.0 && p.0 <= x.1 && p.1 >= ya.0 && p.1 <= ya.1;
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for run in runs {
        // Clamped so that differences of coordinates stay finite.
        let pts: Vec<(f64, f64)> = run
            .iter()
            .map(|&(px, py)| (px.clamp(-1e300, 1e300), to_axis(py).clamp(-1e300, 1e300)))
            .collect();
        if pts.len() == 1 {
            if inside(pts[0]) {
                out.push(pts);
            }
            continue;
        }
        let mut cur: Vec<(f64, f64)> = Vec::new();
        for seg in pts.windows(2) {
            match clip_segment(seg[0], seg[1], x, ya) {
                Some((a, b)) => {
                    if cur.last() != Some(&a) {
                        if !cur.is_empty() {
                            out.push(std::mem::take(&mut cur));
                        }
                        cur.push(a);
                    }
                    cur.push(b);
                }
                None => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    for run in &mut out {
        for p in run.iter_mut() {
            p.1 = from_axis(p.1);
        }
    }
    out
}

/// Ticks of a log axis over `[lo, hi]`: (labelled values, unlabelled grid values).
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let (a, b) = (lo.log10(), hi.log10());
    let decades = b - a;
    let e0 = (a.floor() as i32).clamp(-330, 330);
    let e1 = (b.ceil() as i32).clamp(-330, 330);
    let label_mults: &[f64] = if decades >= 3.0 {
        &[1.0]
    } else if decades >= 0.6 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let decade_step = ((decades / 8.0).ceil() as i32).max(1);
    let inside = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut labelled = Vec::new();
    let mut minor = Vec::new();
    for e in e0..=e1 {
        let p = 10f64.powi(e);
        for m in 1..10 {
            let v = f64::from(m) * p;
            if !inside(v) {
                continue;
            }
            let is_label =
                label_mults.contains(&f64::from(m)) && (m != 1 || e.rem_euclid(decade_step) == 0);
            if is_label {
                labelled.push(v);
            } else if decades <= 6.0 || m == 1 {
                minor.push(v);
            }
        }
    }
    if labelled.len() < 2 {
        // A range narrower than one step: evenly spaced round values.
        let step = nice_step((hi - lo) / 4.0);
        labelled.clear();
        let mut k = (lo / step).ceil();
        while k * step <= hi && labelled.len() < 12 {
            labelled.push(k * step);
            k += 1.0;
        }
        minor.clear();
    }
    (labelled, minor)
}

/// Rounds `raw` up to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * p
}

impl Paint for LinePlan<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        if self.opts.log_y {
            self.paint_on(root, (self.y.0..self.y.1).log_scale())
        } else {
            self.paint_on(root, self.y.0..self.y.1)
        }
    }
}

/// Draws one line per series on shared axes, with a legend, axis labels and optional log-y.
///
/// Series may have different lengths; legend entries are the series names, e.g.
/// "angular softmax (test acc 0.9902)".
///
/// A NaN or infinite point (or a non-positive y on a log axis) is skipped and breaks its
/// line; isolated points are drawn as dots. Lines are clipped to the plot window (a fixed
/// `y_range`, and automatic ranges never reach beyond magnitude 1e100). Series with an
/// empty name get no legend entry; the legend goes to the plot corner least crowded by
/// the lines.
///
/// # Errors
/// [`PlotError::Shape`] when a series has `xs.len() != ys.len()`, for a `y_range` that
/// is not finite, not increasing, too narrow for distinct ticks, beyond magnitude 1e100,
/// or below 1e-100 on a log axis, or for a figure size out of range; [`PlotError::Empty`] when there is no series or no drawable point;
/// [`PlotError::Drawing`], [`PlotError::Font`] or [`PlotError::Encode`] if rendering fails.
pub fn lines(series: &[Series], opts: &LineOptions) -> Result<Figure, PlotError> {
    check_size(opts.width, opts.height)?;
    let plan = LinePlan::new(series, opts)?;
    render(&plan, opts.width, opts.height)
}

/// Several scatter plans painted side by side (row-major in a grid of `cols` columns).
struct PanelPlan<'c> {
    plans: Vec<ScatterPlan<'c>>,
    cols: usize,
}

impl Paint for PanelPlan<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let rows = self.plans.len().div_ceil(self.cols);
        for (plan, area) in self.plans.iter().zip(root.split_evenly((rows, self.cols))) {
            plan.paint(&area)?;
        }
        Ok(())
    }
}

/// Draws several embedding scatters into one figure, `cols` per row, each panel
/// `opts.width` x `opts.height` pixels and drawn as by [`scatter`] with its own title
/// (`titles[i]`) and axis limits. One figure keeps a notebook cell to one output (evcxr
/// shows one image per cell) and pastes onto a slide as one picture.
///
/// # Errors
/// As [`scatter`] (naming the panel), and [`PlotError::Shape`] when `titles` and
/// `panels` differ in length, `cols` is 0 or the whole figure exceeds [`MAX_SIDE`].
pub fn scatter_panels(
    panels: &[Embeddings<'_>],
    titles: &[String],
    cols: usize,
    opts: &ScatterOptions,
) -> Result<Figure, PlotError> {
    if panels.is_empty() {
        return Err(PlotError::Empty("no panels".into()));
    }
    if titles.len() != panels.len() || cols == 0 {
        return Err(PlotError::Shape(format!(
            "{} panels, {} titles and {cols} columns: need one title per panel and at least one column",
            panels.len(),
            titles.len()
        )));
    }
    check_size(opts.width, opts.height)?;
    check_view(opts)?;
    let cols = cols.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    let too_big = || PlotError::Shape(format!("{rows}x{cols} panels of {}x{} pixels exceed {MAX_SIDE} pixels", opts.width, opts.height));
    let width = u32::try_from(cols).ok().and_then(|c| c.checked_mul(opts.width)).ok_or_else(too_big)?;
    let height = u32::try_from(rows).ok().and_then(|r| r.checked_mul(opts.height)).ok_or_else(too_big)?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_big());
    }
    let mut clouds = Vec::with_capacity(panels.len());
    for (i, emb) in panels.iter().enumerate() {
        clouds.push(prepare(emb, opts).map_err(|e| match e {
            PlotError::Empty(m) => PlotError::Empty(format!("panel {i}: {m}")),
            PlotError::Shape(m) => PlotError::Shape(format!("panel {i}: {m}")),
            other => other,
        })?);
    }
    let plans = clouds
        .iter()
        .zip(panels)
        .zip(titles)
        .map(|((cloud, emb), title)| ScatterPlan {
            cloud,
            dim: emb.dim,
            title: title.clone(),
            normalize: opts.normalize,
            yaw: opts.yaw,
            pitch: opts.pitch,
            lims: limits(&[cloud], emb.dim, opts.normalize),
        })
        .collect();
    render(&PanelPlan { plans, cols }, width, height)
}

/// One panel of [`decision_regions`]: which class wins at each point of a square grid
/// over `[-extent, extent]²`, and the class weight vectors drawn as arrows.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionPanel {
    /// Panel title, e.g. "A-Softmax, m = 4".
    pub title: String,
    /// Half-width of the square shown.
    pub extent: f64,
    /// Grid cells per side.
    pub n: usize,
    /// `n * n` cells, row-major from the bottom-left corner: the class that wins there, or
    /// `None` where no class wins (the margin zone of A-Softmax).
    pub cells: Vec<Option<u8>>,
    /// Weight vector of each class (drawn from the origin, in the class's colour).
    pub weights: Vec<[f64; 2]>,
}

/// Fill colour of class `c` in a region plot (light) and of its arrow (dark).
fn region_colors(c: u8) -> (RGBColor, RGBColor) {
    const DARK: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44)];
    const LIGHT: [RGBColor; 3] = [RGBColor(198, 219, 239), RGBColor(252, 203, 203), RGBColor(199, 233, 192)];
    let i = usize::from(c) % 3;
    (LIGHT[i], DARK[i])
}

struct RegionPlan<'p> {
    panels: &'p [RegionPanel],
}

impl Paint for RegionPlan<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        for (panel, area) in self.panels.iter().zip(root.split_evenly((1, self.panels.len()))) {
            let e = panel.extent;
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, (FONT, 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(-e..e, -e..e)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .label_style((FONT, 13))
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| fmt_tick(*v, 2.0 * e))
                .y_label_formatter(&|v| fmt_tick(*v, 2.0 * e))
                .draw()
                .map_err(draw_err)?;
            let step = 2.0 * e / panel.n as f64;
            let grey = RGBColor(235, 235, 235);
            chart
                .draw_series(panel.cells.iter().enumerate().map(|(i, c)| {
                    let (x0, y0) = (-e + (i % panel.n) as f64 * step, -e + (i / panel.n) as f64 * step);
                    let fill = c.map_or(grey, |c| region_colors(c).0);
                    Rectangle::new([(x0, y0), (x0 + step, y0 + step)], fill.filled())
                }))
                .map_err(draw_err)?;
            for (c, w) in panel.weights.iter().enumerate() {
                let dark = region_colors(c as u8).1;
                let style = ShapeStyle::from(&dark).stroke_width(3);
                chart.draw_series(LineSeries::new([(0.0, 0.0), (w[0], w[1])], style)).map_err(draw_err)?;
                chart.draw_series([Circle::new((w[0], w[1]), 5, dark.filled())]).map_err(draw_err)?;
                let label = format!("w{}", c + 1);
                chart
                    .draw_series([Text::new(label, (w[0] * 1.12, w[1] * 1.12), (FONT, 18).into_font().color(&dark))])
                    .map_err(draw_err)?;
            }
        }
        Ok(())
    }
}

/// Draws decision-region panels side by side, `width` x `height` pixels in all: each grid
/// cell coloured by the class that wins there (light blue, light red, light green for
/// classes 0, 1, 2; light grey where none wins) and the weight vectors as arrows.
///
/// # Errors
/// [`PlotError::Empty`] for no panels, [`PlotError::Shape`] when a panel's cells are not
/// `n * n`, its extent is not finite and positive, or the size is out of range.
pub fn decision_regions(panels: &[RegionPanel], width: u32, height: u32) -> Result<Figure, PlotError> {
    check_size(width, height)?;
    if panels.is_empty() {
        return Err(PlotError::Empty("no panels".into()));
    }
    for (i, p) in panels.iter().enumerate() {
        if p.n == 0 || p.cells.len() != p.n * p.n || !(p.extent.is_finite() && p.extent > 0.0) {
            return Err(PlotError::Shape(format!(
                "panel {i}: {} cells for a {n}x{n} grid with extent {}",
                p.cells.len(),
                p.extent,
                n = p.n
            )));
        }
    }
    render(&RegionPlan { panels }, width, height)
}

#[cfg(test)]
mod tests {
    use super::test_util::{check_figure, clusters, png_size, scratch_dir, PNG_SIG};
    use super::*;

    #[test]
    fn scatter_2d_and_3d() {
        let (v2, l2) = clusters(2, 40, 1);
        let fig = scatter(
            &Embeddings {
                dim: 2,
                values: &v2,
                labels: &l2,
            },
            &ScatterOptions {
                title: "2-D".into(),
                ..Default::default()
            },
        )
        .unwrap();
        check_figure(&fig, 640, 520);
        assert!(fig.svg.contains("embedding dim 1"));

        let (v3, l3) = clusters(3, 40, 2);
        let opts = ScatterOptions {
            width: 500,
            height: 400,
            normalize: true,
            ..Default::default()
        };
        let fig = scatter(
            &Embeddings {
                dim: 3,
                values: &v3,
                labels: &l3,
            },
            &opts,
        )
        .unwrap();
        check_figure(&fig, 500, 400);
    }

    #[test]
    fn panels_share_one_figure() {
        let (v2, l2) = clusters(2, 30, 3);
        let (v3, l3) = clusters(3, 30, 4);
        let e2 = Embeddings { dim: 2, values: &v2, labels: &l2 };
        let e3 = Embeddings { dim: 3, values: &v3, labels: &l3 };
        let opts = ScatterOptions { width: 400, height: 360, ..Default::default() };
        let titles: Vec<String> = ["left panel", "middle panel", "bottom panel"].map(String::from).to_vec();
        let fig = scatter_panels(&[e2, e3, e2], &titles, 2, &opts).unwrap();
        check_figure(&fig, 800, 720);
        for t in &titles {
            assert!(fig.svg.contains(t.as_str()), "{t} missing");
        }
        assert!(matches!(scatter_panels(&[e2], &titles, 1, &opts), Err(PlotError::Shape(_))));
        assert!(matches!(scatter_panels(&[e2], &titles[..1], 0, &opts), Err(PlotError::Shape(_))));
        let bad = Embeddings { dim: 4, values: &v2[..8], labels: &l2[..2] };
        let err = scatter_panels(&[e2, bad], &titles[..2], 2, &opts).unwrap_err();
        assert!(err.to_string().contains("panel 1"), "{err}");
        let huge = ScatterOptions { width: 5000, ..opts };
        assert!(matches!(scatter_panels(&[e2, e2], &titles[..2], 2, &huge), Err(PlotError::Shape(_))));
    }

    #[test]
    fn decision_regions_colour_each_class_and_the_margin_zone() {
        let n = 4;
        let cells: Vec<Option<u8>> = (0..n * n).map(|i| match i % 4 { 0 => Some(0), 1 => Some(1), _ => None }).collect();
        let panel = RegionPanel { title: "two classes".into(), extent: 2.0, n, cells, weights: vec![[1.0, 0.0], [0.0, 1.0]] };
        let fig = decision_regions(&[panel.clone(), panel.clone()], 800, 400).unwrap();
        assert_eq!(png_size(&fig.png), (800, 400));
        assert_eq!((fig.width, fig.height), (800, 400));
        let svg = fig.svg.to_uppercase();
        for fill in ["#C6DBEF", "#FCCBCB", "#EBEBEB"] {
            assert!(svg.contains(fill), "no {fill} cell");
        }
        assert!(fig.svg.contains("w1") && fig.svg.contains("w2"));
        let bad = RegionPanel { cells: vec![None; 3], ..panel.clone() };
        assert!(matches!(decision_regions(&[bad], 800, 400), Err(PlotError::Shape(_))));
        let bad = RegionPanel { extent: f64::NAN, ..panel };
        assert!(matches!(decision_regions(&[bad], 800, 400), Err(PlotError::Shape(_))));
        assert!(matches!(decision_regions(&[], 800, 400), Err(PlotError::Empty(_))));
    }

    #[test]
    fn projection_helper_and_normalized_cloud() {
        assert!(unit_project([0.0, 0.0, 0.0]).is_none());
        let u = unit_project([3.0, 4.0, 0.0]).unwrap();
        assert!((u[0] - 0.6).abs() < 1e-12 && (u[1] - 0.8).abs() < 1e-12);
        let u = unit_project([f64::from(f32::MAX), f64::from(f32::MAX), 1.0]).unwrap();
        assert!(((u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt() - 1.0).abs() < 1e-9);

        for dim in [2, 3] {
            let (v, l) = clusters(dim, 30, 3);
            let emb = Embeddings {
                dim,
                values: &v,
                labels: &l,
            };
            let opts = ScatterOptions {
                normalize: true,
                ..Default::default()
            };
            let cloud = prepare(&emb, &opts).unwrap();
            assert_eq!(cloud.pts.len(), 300);
            for p in &cloud.pts {
                let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                assert!((r - 1.0).abs() < 1e-6, "radius {r}");
            }
            assert_eq!(
                limits(&[&cloud], dim, true)[0],
                (-NORMALIZED_LIMIT, NORMALIZED_LIMIT)
            );
        }
    }

    #[test]
    fn subsampling_is_every_kth() {
        let (v, l) = clusters(2, 100, 4);
        let emb = Embeddings {
            dim: 2,
            values: &v,
            labels: &l,
        };
        let cloud = prepare(
            &emb,
            &ScatterOptions {
                max_points: 300,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cloud.pts.len(), 250); // k = ceil(1000 / 300) = 4
        assert_eq!(cloud.labels[1], l[4]);
        let all = prepare(
            &emb,
            &ScatterOptions {
                max_points: 0,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(all.pts.len(), 1000);
    }

    #[test]
    fn degenerate_inputs_draw_or_fail_cleanly() {
        let opts = ScatterOptions::default();
        // Errors.
        let e = |dim, values: &[f32], labels: &[u8], o: &ScatterOptions| {
            scatter(
                &Embeddings {
                    dim,
                    values,
                    labels,
                },
                o,
            )
            .unwrap_err()
        };
        assert!(matches!(e(4, &[0.0; 4], &[1], &opts), PlotError::Shape(_)));
        assert!(matches!(e(0, &[], &[], &opts), PlotError::Shape(_)));
        assert!(matches!(
            e(2, &[0.0; 3], &[1, 2], &opts),
            PlotError::Shape(_)
        ));
        assert!(matches!(e(2, &[], &[], &opts), PlotError::Empty(_)));
        assert!(matches!(
            e(3, &[f32::NAN; 6], &[1, 2], &opts),
            PlotError::Empty(_)
        ));
        assert!(matches!(
            e(
                2,
                &[f32::INFINITY, 1.0, 2.0, f32::NEG_INFINITY],
                &[1, 2],
                &opts
            ),
            PlotError::Empty(_)
        ));
        let norm = ScatterOptions {
            normalize: true,
            ..Default::default()
        };
        assert!(matches!(
            e(2, &[0.0; 4], &[1, 2], &norm),
            PlotError::Empty(_)
        ));
        let tiny = ScatterOptions {
            width: 10,
            ..Default::default()
        };
        assert!(matches!(
            e(2, &[1.0, 2.0], &[1], &tiny),
            PlotError::Shape(_)
        ));
        let bad_view = ScatterOptions {
            yaw: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            e(3, &[1.0, 2.0, 3.0], &[1], &bad_view),
            PlotError::Shape(_)
        ));

        // Sensible figures.
        let small = ScatterOptions {
            width: MIN_WIDTH,
            height: MIN_HEIGHT,
            ..Default::default()
        };
        assert!(matches!(
            e(
                2,
                &[1.0, 2.0],
                &[1],
                &ScatterOptions {
                    height: MIN_HEIGHT - 1,
                    ..Default::default()
                }
            ),
            PlotError::Shape(_)
        ));
        let cases: Vec<(usize, Vec<f32>, Vec<u8>)> = vec![
            (2, vec![1.0, 2.0], vec![3]),
            (3, vec![1.0, 2.0, 3.0], vec![3]),
            (2, vec![0.0; 8], vec![0, 1, 2, 3]),
            (3, vec![5.0; 9], vec![0, 1, 2]),
            (
                2,
                vec![1.0, f32::NAN, 2.0, 2.0, 1e-40, -1e-40],
                vec![0, 1, 2],
            ),
            (
                2,
                vec![f32::MAX, -f32::MAX, -f32::MAX, f32::MAX],
                vec![0, 42],
            ),
            (
                3,
                vec![1000.0, 1000.0, 1000.0, 1001.0, 1000.5, 1000.0],
                vec![7, 8],
            ),
            (
                3,
                vec![f32::MAX, -f32::MAX, 0.0, 1.0, f32::MAX, -f32::MAX],
                vec![1, 2],
            ),
            (
                2,
                vec![1000.0, 5.0, f32::from_bits(1000f32.to_bits() + 1), 5.0],
                vec![1, 2],
            ),
            (3, vec![1e-45, 0.0, 0.0, 0.0, 1e-45, 0.0], vec![1, 2]),
        ];
        for (dim, values, labels) in &cases {
            for o in [&opts, &small, &norm] {
                let emb = Embeddings {
                    dim: *dim,
                    values,
                    labels,
                };
                match scatter(&emb, o) {
                    Ok(fig) => assert_eq!(&fig.png[..8], &PNG_SIG),
                    Err(PlotError::Empty(_)) if o.normalize => {}
                    Err(err) => panic!("{dim} {values:?}: {err}"),
                }
            }
        }
    }

    #[test]
    fn lines_with_log_axis_and_gaps() {
        let mk = |name: &str, n: usize, scale: f64| Series {
            name: name.into(),
            xs: (0..n).map(|i| i as f64).collect(),
            ys: (0..n)
                .map(|i| {
                    if i == 3 {
                        f64::NAN
                    } else {
                        scale * (-(i as f64) / 4.0).exp() + 0.01
                    }
                })
                .collect(),
        };
        let series = vec![
            mk("original softmax", 20, 2.3),
            mk("modified softmax", 15, 2.0),
            mk("angular softmax (test acc 0.9902)", 25, 4.0),
        ];
        let opts = LineOptions {
            title: "training loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            log_y: true,
            ..Default::default()
        };
        let fig = lines(&series, &opts).unwrap();
        assert!(fig.svg.contains("<svg"));
        assert!(fig.svg.contains("angular softmax (test acc 0.9902)"));
        assert!(fig.svg.contains("epoch"));
        assert_eq!(png_size(&fig.png), (720, 480));

        // Fixed range, a single point, a constant series.
        let one = vec![Series {
            name: "a".into(),
            xs: vec![1.0],
            ys: vec![0.5],
        }];
        let fixed = LineOptions {
            y_range: Some((0.0, 1.0)),
            ..Default::default()
        };
        assert!(lines(&one, &fixed).is_ok());
        assert!(lines(&one, &LineOptions::default()).is_ok());
        let flat = vec![Series {
            name: String::new(),
            xs: vec![1.0, 2.0],
            ys: vec![3.0, 3.0],
        }];
        assert!(lines(
            &flat,
            &LineOptions {
                log_y: true,
                ..Default::default()
            }
        )
        .is_ok());

        // Errors.
        assert!(matches!(lines(&[], &opts), Err(PlotError::Empty(_))));
        let nan = vec![Series {
            name: "n".into(),
            xs: vec![1.0, 2.0],
            ys: vec![f64::NAN; 2],
        }];
        assert!(matches!(lines(&nan, &opts), Err(PlotError::Empty(_))));
        let neg = vec![Series {
            name: "n".into(),
            xs: vec![1.0],
            ys: vec![-1.0],
        }];
        assert!(matches!(lines(&neg, &opts), Err(PlotError::Empty(_))));
        let bad = vec![Series {
            name: "n".into(),
            xs: vec![1.0, 2.0],
            ys: vec![1.0],
        }];
        assert!(matches!(lines(&bad, &opts), Err(PlotError::Shape(_))));
        let bad_range = LineOptions {
            y_range: Some((0.0, 1.0)),
            log_y: true,
            ..Default::default()
        };
        assert!(matches!(lines(&one, &bad_range), Err(PlotError::Shape(_))));
        for r in [
            (1.0, 1.0),
            (1.0, 1.0 + 1e-12),
            (0.0, 1e200),
            (f64::NAN, 1.0),
            (2.0, 1.0),
        ] {
            let o = LineOptions {
                y_range: Some(r),
                ..Default::default()
            };
            assert!(matches!(lines(&one, &o), Err(PlotError::Shape(_))), "{r:?}");
        }
    }

    #[test]
    fn gif_has_frames() {
        let dir = scratch_dir("gif");
        let path = dir.join("anim.gif");
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..3).map(|s| clusters(2, 15, 10 + s)).collect();
        let frames: Vec<(Embeddings, String)> = data
            .iter()
            .enumerate()
            .map(|(i, (v, l))| {
                (
                    Embeddings {
                        dim: 2,
                        values: v,
                        labels: l,
                    },
                    format!("epoch {i}"),
                )
            })
            .collect();
        let opts = ScatterOptions {
            width: 320,
            height: 260,
            title: "features".into(),
            ..Default::default()
        };
        scatter_gif(&frames, &opts, 400, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a");
        let mut decoder = gif::DecodeOptions::new()
            .read_info(bytes.as_slice())
            .unwrap();
        let mut count = 0;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!(frame.delay, 40);
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

        assert!(matches!(
            scatter_gif(&[], &opts, 100, &path),
            Err(PlotError::Empty(_))
        ));
        let mixed = vec![
            frames[0].clone(),
            (
                Embeddings {
                    dim: 3,
                    values: &[1.0, 2.0, 3.0],
                    labels: &[1],
                },
                String::new(),
            ),
        ];
        assert!(matches!(
            scatter_gif(&mixed, &opts, 100, &path),
            Err(PlotError::Shape(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clipping_to_fixed_range() {
        let runs = vec![vec![(0.0, 0.5), (1.0, 1.5), (2.0, 0.5), (3.0, 0.25)]];
        let out = clip_runs(&runs, (0.0, 3.0), (0.0, 1.0), false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], vec![(0.0, 0.5), (0.5, 1.0)]);
        assert_eq!(out[1], vec![(1.5, 1.0), (2.0, 0.5), (3.0, 0.25)]);
        let log = clip_runs(
            &[vec![(0.0, 0.01), (1.0, 100.0)]],
            (0.0, 1.0),
            (0.1, 10.0),
            true,
        );
        assert_eq!(log.len(), 1);
        assert!((log[0][0].0 - 0.25).abs() < 1e-12 && (log[0][0].1 - 0.1).abs() < 1e-12);
        assert!((log[0][1].0 - 0.75).abs() < 1e-12 && (log[0][1].1 - 10.0).abs() < 1e-9);
        assert!(clip_runs(&[vec![(0.0, 5.0)]], (0.0, 1.0), (0.0, 1.0), false).is_empty());

        // Far-out values with a fixed range draw without trouble.
        let wild = vec![
            Series {
                name: "wild".into(),
                xs: vec![0.0, 1.0, 2.0, 3.0],
                ys: vec![0.5, 1e300, -1e300, 0.4],
            },
            Series {
                name: "outside".into(),
                xs: vec![0.0, 1.0],
                ys: vec![5.0, 6.0],
            },
        ];
        let fig = lines(
            &wild,
            &LineOptions {
                y_range: Some((0.0, 1.0)),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(fig.svg.contains("outside"));
        let fig = lines(&wild, &LineOptions::default()).unwrap();
        assert_eq!(&fig.png[..8], &PNG_SIG);
        let log = LineOptions {
            y_range: Some((0.1, 1.0)),
            log_y: true,
            ..Default::default()
        };
        assert!(lines(&wild, &log).is_ok());
        let extreme = vec![Series {
            name: "extreme".into(),
            xs: vec![-f64::MAX, 0.0, f64::MAX],
            ys: vec![f64::MAX, -f64::MAX, 1.0],
        }];
        for opts in [
            LineOptions::default(),
            LineOptions {
                log_y: true,
                ..Default::default()
            },
        ] {
            let fig = lines(&extreme, &opts).unwrap();
            assert_eq!(&fig.png[..8], &PNG_SIG);
        }
        let tiny = vec![Series {
            name: "tiny".into(),
            xs: vec![0.0, 1e-300],
            ys: vec![1e-300, 2e-300],
        }];
        assert!(lines(
            &tiny,
            &LineOptions {
                log_y: true,
                ..Default::default()
            }
        )
        .is_ok());
        assert!(lines(&tiny, &LineOptions::default()).is_ok());
    }

    #[test]
    fn log_tick_choice() {
        let (l, m) = log_ticks(0.0005, 1.2);
        assert_eq!(l, vec![0.001, 0.01, 0.1, 1.0]);
        assert!(m.contains(&0.0005) && m.contains(&0.2));
        let (l, _) = log_ticks(0.005, 1.2);
        assert_eq!(l, vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]);
        let (l, _) = log_ticks(0.3, 0.9);
        assert_eq!(l.len(), 7); // 0.3 .. 0.9
        let (l, _) = log_ticks(0.31, 0.33);
        assert!(l.len() >= 2 && l.iter().all(|v| (0.31..=0.33).contains(v)));
        let (l, _) = log_ticks(1e-30, 1e30);
        assert!(l.len() >= 2 && l.len() <= 10);
        assert_eq!(log_ticks(0.0, 1.0), (vec![], vec![]));
    }

    /// Renders the example figures into `target/plot-examples/` for a visual check (not
    /// into the source tree).
    #[test]
    fn example_figures() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plot-examples");
        let (v2, l2) = clusters(2, 300, 21);
        scatter(
            &Embeddings {
                dim: 2,
                values: &v2,
                labels: &l2,
            },
            &ScatterOptions {
                title: "modified softmax, 2-D features".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter2d"))
        .unwrap();
        scatter(
            &Embeddings {
                dim: 2,
                values: &v2,
                labels: &l2,
            },
            &ScatterOptions {
                title: "2-D features, normalised".into(),
                normalize: true,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter2d_norm"))
        .unwrap();
        let (v3, l3) = clusters(3, 300, 22);
        let e3 = Embeddings {
            dim: 3,
            values: &v3,
            labels: &l3,
        };
        scatter(
            &e3,
            &ScatterOptions {
                title: "angular softmax, 3-D features".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter3d"))
        .unwrap();
        scatter(
            &e3,
            &ScatterOptions {
                title: "3-D features on the unit sphere".into(),
                normalize: true,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter3d_norm"))
        .unwrap();
        let frames: Vec<(Vec<f32>, Vec<u8>)> = (0..4)
            .map(|k| {
                let (v, l) = clusters(2, 60, 30);
                let s = 0.3 + 0.25 * k as f32;
                (v.iter().map(|x| x * s).collect(), l)
            })
            .collect();
        let frames: Vec<(Embeddings, String)> = frames
            .iter()
            .enumerate()
            .map(|(i, (v, l))| {
                (
                    Embeddings {
                        dim: 2,
                        values: v,
                        labels: l,
                    },
                    format!("epoch {}", i + 1),
                )
            })
            .collect();
        scatter_gif(
            &frames,
            &ScatterOptions {
                title: "2-D features".into(),
                ..Default::default()
            },
            500,
            &out.join("anim.gif"),
        )
        .unwrap();
        // The last GIF frame as PNG, to look at.
        let bytes = fs::read(out.join("anim.gif")).unwrap();
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = opts.read_info(bytes.as_slice()).unwrap();
        let mut last = None;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            last = Some((frame.width, frame.height, frame.buffer.to_vec()));
        }
        let (w, h, rgba) = last.unwrap();
        image::save_buffer(
            out.join("anim_last_frame.png"),
            &rgba,
            w.into(),
            h.into(),
            image::ColorType::Rgba8,
        )
        .unwrap();
        scatter(
            &e3,
            &ScatterOptions {
                title: "other view".into(),
                yaw: -2.0,
                pitch: 1.1,
                width: 480,
                height: 420,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter3d_view"))
        .unwrap();
        // Degenerate input: one point plus a label outside 0..=9.
        scatter(
            &Embeddings {
                dim: 2,
                values: &[3.0, 4.0, 3.0, 4.0],
                labels: &[5, 11],
            },
            &ScatterOptions {
                title: "one point".into(),
                width: MIN_WIDTH,
                height: MIN_HEIGHT,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("degenerate"))
        .unwrap();
        let curve = |name: &str, rate: f64, floor: f64, n: usize| Series {
            name: name.into(),
            xs: (1..=n).map(|i| i as f64).collect(),
            ys: (1..=n)
                .map(|i| floor + (1.0 - floor) * (-(i as f64) * rate).exp())
                .collect(),
        };
        let series = vec![
            curve("original softmax (test acc 0.9871)", 0.30, 0.02, 30),
            curve("modified softmax (test acc 0.9885)", 0.25, 0.015, 30),
            curve("angular softmax (test acc 0.9902)", 0.18, 0.008, 24),
        ];
        lines(
            &series,
            &LineOptions {
                title: "training loss".into(),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                log_y: true,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("lines"))
        .unwrap();
        let acc: Vec<Series> = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                xs: s.xs.clone(),
                ys: s.ys.iter().map(|y| 1.0 - y * 0.5).collect(),
            })
            .collect();
        lines(
            &acc,
            &LineOptions {
                title: "test accuracy".into(),
                x_label: "epoch".into(),
                y_label: "accuracy".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("lines_acc"))
        .unwrap();
    }
}
