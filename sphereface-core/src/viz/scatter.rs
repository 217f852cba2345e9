//! Embedding scatter plots: one set of points in 2-D or 3-D with the digit legend
//! ([`scatter`]); several side by side are in `panels`.

use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::points::{equal_aspect, limits, prepare, Cloud};
use super::style::{
    check_size, digit_color, draw_err, fmt_tick, outline_color, tick_count, tick_len, titled,
    Scale, font,
};
use super::{render, Figure, Paint, PlotError};

/// Points of one embedding set: `values` row-major [n, dim], labels 0..=9.
///
/// Labels above 9 are drawn in light grey and listed as "other" in the legend.
#[derive(Debug, Clone, Copy)]
pub struct Embeddings<'a> {
    /// Number of coordinates per point (2 or 3 can be drawn).
    pub dim: usize,
    /// Row-major coordinates, `labels.len() * dim` values.
    pub values: &'a [f32],
    /// Class label of each point.
    pub labels: &'a [u8],
    /// Class directions to draw as lines from the origin in a 2-D plot (entry `j`: class j's
    /// weight direction, any length); empty for none. Ignored in 3-D.
    pub directions: &'a [[f64; 2]],
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
    /// The legend's name for labels above 9 (light grey): `other`, or `unknown` for the
    /// digits an open-set run never saw.
    pub other_label: String,
    /// What the lines from the centre of a 2-D plot are ([`Embeddings::directions`]), as the
    /// legend row under panels names them: `class weight`, `class centre`.
    pub directions_name: String,
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
            other_label: "other".into(),
            directions_name: "class direction".into(),
        }
    }
}

/// Width of the legend panel to the right of a scatter plot, in pixels (at 1x).
const LEGEND_W: u32 = 74;

/// Everything needed to paint one scatter frame.
pub(super) struct ScatterPlan<'c> {
    /// The points and their labels.
    pub(super) cloud: &'c Cloud,
    /// 2 for a flat scatter, 3 for a 3-D one.
    pub(super) dim: usize,
    /// Title above the plot; empty for none.
    pub(super) title: String,
    /// The points lie on the unit circle/sphere, which is drawn.
    pub(super) normalize: bool,
    /// 3-D view: rotation about the vertical axis, in radians.
    pub(super) yaw: f64,
    /// 3-D view: tilt towards the viewer, in radians.
    pub(super) pitch: f64,
    /// Axis ranges `(lo, hi)` of x, y, z.
    pub(super) lims: [(f64, f64); 3],
    /// The legend's name for labels above 9.
    pub(super) other_label: String,
    /// Factor on every font size (and on the room kept for tick labels): 1 for a figure,
    /// more in a GIF, which is shown at its own pixel size ([`super::animation`]).
    pub(super) text: f64,
    /// Draw the digit legend to the right of the plot; `false` when one legend is shared
    /// by several panels ([`draw_legend_row`]).
    pub(super) legend: bool,
}

/// Which of the digits 0..=9 (and, at index 10, any label above 9) occur in `labels`.
fn present_labels(labels: &[u8]) -> [bool; 11] {
    let mut present = [false; 11];
    for &l in labels {
        present[usize::from(l.min(10))] = true;
    }
    present
}

/// Width of the legend panel: [`LEGEND_W`], widened when labels above 9 are drawn to fit
/// `other_label` (about 10 pixels a character at the largest legend font, after the marker).
fn legend_width(labels: &[u8], other_label: &str) -> u32 {
    if present_labels(labels)[10] { LEGEND_W.max(40 + 10 * other_label.chars().count() as u32) } else { LEGEND_W }
}

/// Draws the legend of the digits drawn (and of labels above 9, named `other_label`) into
/// its own panel, at pixel scale `s`.
fn draw_digit_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[u8],
    other_label: &str,
    s: Scale,
) -> Result<(), PlotError> {
    let entries = legend_entries(labels, other_label);
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let n = entries.len() as i32;
    let row = ((h - s.i(16)) / n).clamp(s.i(19), s.i(22));
    let box_h = row * n + s.i(12);
    let top = ((h - box_h) / 2).max(0);
    let left = s.i(6);
    let box_w = (w - s.i(12)).max(s.i(20));
    area.draw(&Rectangle::new(
        [(left, top), (left + box_w, top + box_h)],
        ShapeStyle::from(&RGBColor(180, 180, 180)).stroke_width(s.u(1)),
    ))
    .map_err(draw_err)?;
    let font = font(f64::from(row) * 17.0 / 22.0)
        .into_font()
        .color(&BLACK);
    let style = font.pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, color)) in entries.iter().enumerate() {
        let y = top + s.i(6) + row * i as i32 + row / 2;
        area.draw(&marker((left + s.i(14), y), (row / 4).min(s.i(5)), *color, s))
            .map_err(draw_err)?;
        area.draw(&Text::new(name.clone(), (left + s.i(26), y), style.clone()))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// The entries of a digit legend: the digits 0..=9 present in `labels` and, when a label
/// above 9 occurs, `other_label`, each with its colour.
fn legend_entries(labels: &[u8], other_label: &str) -> Vec<(String, RGBColor)> {
    let present = present_labels(labels);
    let mut entries: Vec<(String, RGBColor)> =
        (0u8..10).filter(|&d| present[usize::from(d)]).map(|d| (d.to_string(), digit_color(d))).collect();
    if present[10] {
        entries.push((other_label.to_string(), digit_color(10)));
    }
    entries
}

/// Height of the legend row under panels ([`draw_legend_row`]), in pixels at 1x.
pub(super) const LEGEND_ROW_H: u32 = 40;

/// Draws one legend for several panels as a centred row under them: a marker and the name
/// of every digit drawn in any panel (`labels` of all panels), `other_label` for labels
/// above 9, and, when `directions` names them, a dark line for the lines from the centre;
/// in the figure font of `size` pixels (at 1x; scaled by `s`).
///
/// # Errors
/// [`PlotError::Drawing`] if drawing fails.
pub(super) fn draw_legend_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: &[&[u8]],
    other_label: &str,
    directions: Option<&str>,
    size: f64,
    s: Scale,
) -> Result<(), PlotError> {
    let all: Vec<u8> = labels.iter().flat_map(|l| l.iter().copied()).collect();
    let mut entries = legend_entries(&all, other_label);
    let line_at = entries.len();
    if let Some(name) = directions {
        entries.push((format!("line: {name}"), RGBColor(60, 60, 60)));
    }
    let style = TextStyle::from(font(s.f(size)).into_font()).color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let scaled = |v: f64| s.i((v * size / 17.0).round() as i32);
    let (gap, mark, radius) = (scaled(22.0), scaled(18.0), scaled(5.0));
    let widths = entries
        .iter()
        .map(|(name, _)| area.estimate_text_size(name, &style).map(|(w, _)| w as i32).map_err(draw_err))
        .collect::<Result<Vec<_>, _>>()?;
    let total: i32 = widths.iter().map(|w| mark + w).sum::<i32>() + gap * (entries.len() as i32 - 1).max(0);
    let (w, h) = area.dim_in_pixel();
    let (mut x, y) = ((((w as i32) - total) / 2).max(0), h as i32 / 2);
    for (i, ((name, color), tw)) in entries.iter().zip(widths).enumerate() {
        if i == line_at {
            area.draw(&PathElement::new(vec![(x - scaled(8.0), y), (x + scaled(12.0), y)], color.stroke_width(s.u(2)))).map_err(draw_err)?;
            area.draw(&Circle::new((x + scaled(12.0), y), scaled(4.0), color.filled())).map_err(draw_err)?;
            x += scaled(8.0);
        } else {
            area.draw(&marker((x + radius + s.i(1), y), radius, *color, s)).map_err(draw_err)?;
        }
        area.draw(&Text::new(name.clone(), (x + mark, y), style.clone())).map_err(draw_err)?;
        x += mark + tw + gap;
    }
    Ok(())
}

/// A plot area and the legend panel beside it.
type AreaPair<DB> = (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>);

/// Splits off the title (if any, in the font of `title_px` pixels at 1x) and the legend
/// panel (none when `legend_w` is 0: the plot gets the whole width); returns (plot area,
/// legend area).
fn layout_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    title_px: f64,
    legend_w: u32,
    s: Scale,
) -> Result<AreaPair<DB>, PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let body = if title.is_empty() {
        root.clone()
    } else {
        titled(root, title, s.f(title_px), s)?
    };
    if legend_w == 0 {
        return Ok((body.clone(), body));
    }
    let (w, _) = body.dim_in_pixel();
    let split = w.saturating_sub(s.u(legend_w)).max(1);
    Ok(body.split_horizontally(split))
}

/// A disc in backend pixels, relative to a point.
type Disc = Circle<(i32, i32), i32>;

/// A scatter marker at `at`: a disc of `color` and `radius` inside a thin rim (one pixel
/// at scale `s`) of a darker shade of it ([`outline_color`]), so that light colours stay
/// visible on white. The rim lies outside the disc, so in dense clouds the later discs
/// cover the earlier rims and a cluster keeps the colour of its digit.
pub(super) fn marker<C, DB: DrawingBackend>(
    at: C,
    radius: i32,
    color: RGBColor,
    s: Scale,
) -> ComposedElement<C, DB, Disc, Disc> {
    EmptyElement::at(at)
        + Circle::new((0, 0), radius + s.i(1), outline_color(color).filled())
        + Circle::new((0, 0), radius, color.filled())
}

/// The marker radius for a cloud of `n` points, at pixel scale `s`.
pub(super) fn marker_radius(n: usize, s: Scale) -> i32 {
    s.i(if n <= 600 { 3 } else { 2 })
}

impl Paint for ScatterPlan<'_> {
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        let legend_w = if self.legend { legend_width(&self.cloud.labels, &self.other_label) } else { 0 };
        let (main, legend) = layout_with_legend(root, &self.title, 24.0 * self.text, legend_w, s)?;
        if self.dim == 2 {
            self.paint_2d(&main, s)?;
        } else {
            self.paint_3d(&main, s)?;
        }
        if self.legend {
            draw_digit_legend(&legend, &self.cloud.labels, &self.other_label, s)?;
        }
        Ok(())
    }
}

impl ScatterPlan<'_> {
    fn paint_2d<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        let room = |px: f64| s.u((px * self.text).round() as u32);
        let (margin, x_area, y_area) = (s.u(12), room(42.0), room(58.0));
        let (w, h) = area.dim_in_pixel();
        let px_w = f64::from(w) - f64::from(2 * margin + y_area);
        let px_h = f64::from(h) - f64::from(2 * margin + x_area);
        let (xr, yr) = equal_aspect(self.lims[0], self.lims[1], px_w, px_h);
        let mut chart = ChartBuilder::on(area)
            .margin(margin)
            .x_label_area_size(x_area)
            .y_label_area_size(y_area)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(draw_err)?;
        let tick = tick_len(chart.plotting_area().dim_in_pixel(), s);
        chart
            .configure_mesh()
            .x_desc("embedding dim 1")
            .y_desc("embedding dim 2")
            .axis_desc_style(font(s.f(17.0 * self.text)))
            .label_style(font(s.f(15.0 * self.text)))
            .x_label_formatter(&|v| fmt_tick(*v, xr.1 - xr.0))
            .y_label_formatter(&|v| fmt_tick(*v, yr.1 - yr.0))
            .x_labels(tick_count(px_w, s.f(50.0 * self.text)))
            .y_labels(tick_count(px_h, s.f(28.0 * self.text)))
            .max_light_lines(2)
            .light_line_style(RGBColor(244, 244, 244).stroke_width(s.u(1)))
            .bold_line_style(RGBColor(222, 222, 222).stroke_width(s.u(1)))
            .axis_style(BLACK.stroke_width(s.u(1)))
            .set_all_tick_mark_size(tick)
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
                    s.i(6),
                    s.i(4),
                    ShapeStyle::from(&RGBColor(120, 120, 120)).stroke_width(s.u(1)),
                ))
                .map_err(draw_err)?;
        }
        let r = marker_radius(self.cloud.pts.len(), s);
        chart
            .draw_series(
                self.cloud
                    .pts
                    .iter()
                    .zip(&self.cloud.labels)
                    .map(|(p, &l)| marker((p[0], p[1]), r, digit_color(l), s)),
            )
            .map_err(draw_err)?;
        // Class directions: a line from the origin to the unit circle (or to 95 % of the
        // axis range for raw embeddings), in a darker shade of the class colour, over the points.
        let reach = if self.normalize { 1.0 } else { 0.95 * xr.1.abs().min(xr.0.abs()).min(yr.1.abs()).min(yr.0.abs()) };
        for (j, d) in self.cloud.directions.iter().enumerate() {
            let n = d[0].hypot(d[1]);
            if !(n > 0.0 && n.is_finite()) {
                continue;
            }
            let end = (d[0] / n * reach, d[1] / n * reach);
            let RGBColor(red, green, blue) = digit_color(j as u8);
            let dark = RGBColor((f64::from(red) * 0.6) as u8, (f64::from(green) * 0.6) as u8, (f64::from(blue) * 0.6) as u8);
            chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0.0), end], dark.stroke_width(s.u(2))))).map_err(draw_err)?;
            chart.draw_series(std::iter::once(Circle::new(end, s.i(4), dark.filled()))).map_err(draw_err)?;
        }
        Ok(())
    }
}

/// Checks that the view angles of `opts` are finite.
pub(super) fn check_view(opts: &ScatterOptions) -> Result<(), PlotError> {
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
/// `opts.pitch`. Each digit has its colour of the Okabe–Ito palette (see [`digit_color`]),
/// markers a thin darker outline; a legend "0".."9" sits to the right of the plot. With `opts.normalize` every point is projected onto the unit circle/sphere and
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
///
/// [`MIN_WIDTH`]: super::MIN_WIDTH
/// [`MIN_HEIGHT`]: super::MIN_HEIGHT
/// [`MAX_SIDE`]: super::MAX_SIDE
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
        other_label: opts.other_label.clone(),
        text: 1.0,
        legend: true,
    };
    let mut fig = render(&plan, opts.width, opts.height)?;
    fig.alt = scatter_alt(&[&opts.title], emb.dim, opts, cloud.labels.iter().any(|&l| l > 9));
    Ok(fig)
}

/// A description of embedding scatters titled `titles`.
/// `others`: labels above 9 are drawn (light grey, named `opts.other_label`).
pub(super) fn scatter_alt(titles: &[&str], dim: usize, opts: &ScatterOptions, others: bool) -> String {
    let on = match (opts.normalize, dim) {
        (false, _) => format!("raw {dim}-D"),
        (true, 2) => "2-D, on the unit circle,".into(),
        (true, _) => "3-D, on the unit sphere,".into(),
    };
    let lines = if dim == 2 { format!("; lines from the centre: {} directions", opts.directions_name) } else { String::new() };
    let n = titles.len();
    let which = if n == 1 { format!("\"{}\"", titles[0]) } else { format!("{n} panels: {}", titles.join("; ")) };
    let grey = if others { format!(", the {} ones in light grey", opts.other_label) } else { String::new() };
    format!("Scatter of {on} embeddings of test images, each a dot coloured by its digit{grey} ({which}){lines}.")
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_figure, clusters, PNG_SIG};
    use super::super::{MIN_HEIGHT, MIN_WIDTH};
    use super::*;

    #[test]
    fn scatter_2d_and_3d() {
        let (v2, l2) = clusters(2, 40, 1);
        let fig = scatter(
            &Embeddings {
                dim: 2,
                values: &v2,
                labels: &l2,
                directions: &[],
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
                directions: &[],
            },
            &opts,
        )
        .unwrap();
        check_figure(&fig, 500, 400);
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
                    directions: &[],
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
                    directions: &[],
                };
                match scatter(&emb, o) {
                    Ok(fig) => assert_eq!(&fig.png[..8], &PNG_SIG),
                    Err(PlotError::Empty(_)) if o.normalize => {}
                    Err(err) => panic!("{dim} {values:?}: {err}"),
                }
            }
        }
    }
}
