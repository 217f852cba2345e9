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

mod animation;
mod figure;
mod points;
mod scatter;
mod scatter3d;
mod style;
#[cfg(test)]
mod test_util;

use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use animation::scatter_gif;
pub use figure::{Animation, Figure};
pub use points::NORMALIZED_LIMIT;
pub use scatter::{scatter, scatter_panels, Embeddings, ScatterOptions};
pub use style::{digit_color, rainbow, MAX_SIDE, MIN_HEIGHT, MIN_WIDTH};

use figure::encode_png;
use style::{check_size, draw_err, ensure_font, fmt_tick, tick_count, FONT, LINE_COLORS};

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
    use super::test_util::{clusters, png_size, PNG_SIG};
    use super::*;
    use std::fs;
    use std::path::Path;

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
