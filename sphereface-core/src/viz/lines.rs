//! Line charts ([`lines`]): one line per [`Series`] on shared axes, with a legend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axes::{clip_runs, drawable_range, log_ticks, pad_range};
use super::style::{
    check_size, draw_err, fmt_tick, tick_count, tick_len, titled, Scale, font, LINE_COLORS,
};
use super::{render, Figure, Paint, PlotError};

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
    /// Draw the legend (off in all but the first of panels whose series share names).
    legend: bool,
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
            legend: true,
        })
    }

    /// Picks the plot corner least crowded by the lines for the legend: (right, upper).
    fn legend_corner(&self) -> (bool, bool) {
        let ty = |y: f64| {
            if self.opts.log_y {
                (y.log10() - self.y.0.log10()) / (self.y.1.log10() - self.y.0.log10())
            } else {
                (y - self.y.0) / (self.y.1 - self.y.0)
            }
        };
        let tx = |x: f64| (x - self.x.0) / (self.x.1 - self.x.0);
        // ((right, upper), x interval, y interval) in unit coordinates, preferred first.
        let corners = [
            ((true, true), (0.55, 1.0), (0.6, 1.0)),
            ((true, false), (0.55, 1.0), (0.0, 0.4)),
            ((false, true), (0.0, 0.45), (0.6, 1.0)),
            ((false, false), (0.0, 0.45), (0.0, 0.4)),
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
        corners[best].0
    }

    /// Paints the chart on `root` at pixel scale `s`, with the y axis `y_spec`.
    fn paint_on<DB, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        y_spec: Y,
        s: Scale,
    ) -> Result<(), PlotError>
    where
        DB: DrawingBackend,
        Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
        Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        root.fill(&WHITE).map_err(draw_err)?;
        let (w, h) = root.dim_in_pixel();
        let m = s.i(16);
        let mut body = root.margin(m, m, m, m);
        if !self.opts.title.is_empty() {
            body = titled(&body, &self.opts.title, s.f(24.0), s)?;
        }
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(s.u(46))
            .y_label_area_size(s.u(66))
            .build_cartesian_2d(self.x.0..self.x.1, y_spec)
            .map_err(draw_err)?;
        let log = self.opts.log_y;
        let light = RGBColor(244, 244, 244).stroke_width(s.u(1));
        let bold = RGBColor(222, 222, 222).stroke_width(s.u(1));
        let tick = tick_len(chart.plotting_area().dim_in_pixel(), s);
        let (x_span, y_span) = (self.x.1 - self.x.0, self.y.1 - self.y.0);
        let x_fmt = |v: &f64| fmt_tick(*v, x_span);
        let y_fmt = |v: &f64| fmt_tick(*v, y_span);
        let no_fmt = |_: &f64| String::new();
        {
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(self.opts.x_label.as_str())
                .y_desc(self.opts.y_label.as_str())
                .axis_desc_style(font(s.f(17.0)))
                .label_style(font(s.f(15.0)))
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .x_labels(tick_count(f64::from(w) - s.f(100.0), s.f(50.0)))
                .y_labels(tick_count(f64::from(h) - s.f(100.0), s.f(28.0)))
                .max_light_lines(2)
                .light_line_style(light)
                .bold_line_style(bold)
                .axis_style(BLACK.stroke_width(s.u(1)))
                .set_all_tick_mark_size(tick);
            if log {
                // plotters' log-axis ticks bunch up; draw decade ticks ourselves below.
                mesh.y_labels(0).y_label_formatter(&no_fmt).disable_y_mesh();
            }
            mesh.draw().map_err(draw_err)?;
        }
        if log {
            let (labelled, minor) = log_ticks(self.y.0, self.y.1);
            let grid = |y: f64, style: ShapeStyle| {
                LineSeries::new(vec![(self.x.0, y), (self.x.1, y)], style)
            };
            for &y in &minor {
                chart.draw_series(grid(y, light)).map_err(draw_err)?;
            }
            let style = TextStyle::from(font(s.f(15.0)).into_font())
                .pos(Pos::new(HPos::Right, VPos::Center));
            for &y in &labelled {
                chart.draw_series(grid(y, bold)).map_err(draw_err)?;
                let (px, py) = chart.backend_coord(&(self.x.0, y));
                let base = root.get_base_pixel();
                let (px, py) = (px - base.0, py - base.1);
                root.draw(&PathElement::new(
                    vec![(px - s.i(5), py), (px, py)],
                    BLACK.stroke_width(s.u(1)),
                ))
                .map_err(draw_err)?;
                root.draw(&Text::new(fmt_tick(y, y), (px - s.i(8), py), style.clone()))
                    .map_err(draw_err)?;
            }
        }
        let mut labelled = false;
        let (key_len, key_width) = (s.i(22), s.u(2));
        for LineData { index, name, runs } in &self.series {
            let color = LINE_COLORS[index % LINE_COLORS.len()];
            let style = color.stroke_width(s.u(2));
            if runs.is_empty() && !name.is_empty() {
                // Entirely outside a fixed y range: still listed in the legend.
                labelled = true;
                chart
                    .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), style))
                    .map_err(draw_err)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + key_len, y)], color.stroke_width(key_width))
                    });
            }
            for (k, run) in runs.iter().enumerate() {
                let ann = if run.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(run[0], s.i(3), color.filled())))
                } else {
                    chart.draw_series(LineSeries::new(run.iter().copied(), style))
                }
                .map_err(draw_err)?;
                if k == 0 && !name.is_empty() {
                    labelled = true;
                    ann.label(*name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + key_len, y)], color.stroke_width(key_width))
                    });
                }
            }
        }
        if labelled && self.legend {
            // The legend box as plotters lays it out (text, key area, margins), placed in
            // the chosen corner with plotters' 5-pixel inset scaled.
            let (margin, key_area) = (s.i(12), s.i(30));
            let font = TextStyle::from(font(s.f(16.0)).into_font());
            let mut text = MultiLineText::<(i32, i32), &str>::new((0, 0), &font);
            for line in self.series.iter().filter(|l| !l.name.is_empty()) {
                text.push_line(line.name);
            }
            let (tw, th) = text.estimate_dimension().map_err(draw_err)?;
            let (bw, bh) = (tw + key_area + 2 * margin, th + 2 * margin);
            let (aw, ah) = chart.plotting_area().dim_in_pixel();
            let (right, upper) = self.legend_corner();
            let x = if right { aw as i32 - bw - s.i(5) } else { s.i(5) };
            let y = if upper { s.i(5) } else { ah as i32 - bh - s.i(5) };
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::Coordinate(x, y))
                .margin(margin)
                .legend_area_size(key_area)
                .label_font(font)
                .background_style(WHITE.mix(0.88))
                .border_style(RGBColor(170, 170, 170).stroke_width(s.u(1)))
                .draw()
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

impl Paint for LinePlan<'_> {
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        if self.opts.log_y {
            self.paint_on(root, (self.y.0..self.y.1).log_scale(), s)
        } else {
            self.paint_on(root, self.y.0..self.y.1, s)
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
    let mut fig = render(&plan, opts.width, opts.height)?;
    fig.alt = line_alt(series, opts);
    Ok(fig)
}

/// A description of a line chart from its title, axes and series names.
fn line_alt(series: &[Series], opts: &LineOptions) -> String {
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).filter(|n| !n.is_empty()).collect();
    let lines = if names.is_empty() { String::new() } else { format!("; lines: {}", names.join("; ")) };
    format!("Line chart \"{}\": {} against {}{lines}.", opts.title, opts.y_label, opts.x_label)
}

/// Several line charts in one figure, `cols` per row (row-major).
struct LinePanels<'o> {
    plans: Vec<LinePlan<'o>>,
    cols: usize,
}

impl Paint for LinePanels<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: Scale) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let rows = self.plans.len().div_ceil(self.cols);
        for (plan, area) in self.plans.iter().zip(root.split_evenly((rows, self.cols))) {
            plan.paint(&area, s)?;
        }
        Ok(())
    }
}

/// Several charts as by [`lines`] in one figure, `cols` per row, each panel the size of the
/// first panel's options (one figure keeps a notebook cell to one output). Each panel has
/// its own axes; when every panel names the same series, only the first panel has a legend
/// (one legend per figure), else each its own.
///
/// # Errors
/// As [`lines`] for any panel (naming it); [`PlotError::Empty`] for no panels,
/// [`PlotError::Shape`] for 0 columns or a figure over [`super::MAX_SIDE`].
pub fn line_panels(panels: &[(Vec<Series>, LineOptions)], cols: usize) -> Result<Figure, PlotError> {
    let Some((_, first)) = panels.first() else { return Err(PlotError::Empty("no panels".into())) };
    if cols == 0 {
        return Err(PlotError::Shape("line panels need at least one column".into()));
    }
    let cols = cols.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (first.width.saturating_mul(cols as u32), first.height.saturating_mul(rows as u32));
    check_size(w, h)?;
    let plans = panels
        .iter()
        .enumerate()
        .map(|(i, (series, opts))| {
            LinePlan::new(series, opts).map_err(|e| match e {
                PlotError::Empty(m) => PlotError::Empty(format!("panel {i}: {m}")),
                PlotError::Shape(m) => PlotError::Shape(format!("panel {i}: {m}")),
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names = |series: &[Series]| series.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    let shared = panels.iter().all(|(series, _)| names(series) == names(&panels[0].0));
    let mut plans = plans;
    for plan in plans.iter_mut().skip(1) {
        plan.legend = !shared;
    }
    let mut fig = render(&LinePanels { plans, cols }, w, h)?;
    fig.alt = format!("{} line charts: {}", panels.len(), panels.iter().map(|(s, o)| line_alt(s, o)).collect::<Vec<_>>().join(" "));
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::png_size;
    use super::*;

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
}
