//! Decision regions in the plane ([`decision_regions`]).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{check_size, draw_err, fmt_tick, tick_len, titled, Scale, font};
use super::{render, Figure, Paint, PlotError};

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

/// The panels of a [`decision_regions`] figure.
struct RegionPlan<'p> {
    /// The panels, row by row.
    panels: &'p [RegionPanel],
    /// Panels per row.
    cols: usize,
}

/// Height of the legend strip under the panels, in pixels at 1x.
const LEGEND_H: u32 = 36;

/// The legend: which colour means which class wins, and the margin zone.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: Scale) -> Result<(), PlotError> {
    let entries = [(region_colors(0).0, "class 1 wins"), (region_colors(1).0, "class 2 wins"), (RGBColor(235, 235, 235), "neither wins: the margin")];
    let (w, h) = area.dim_in_pixel();
    let box_side = s.i(16);
    let slot = (w as i32) / entries.len() as i32;
    let y = (h as i32 - box_side) / 2;
    let font = font(s.f(16.0)).into_font().color(&BLACK);
    for (i, (fill, label)) in entries.iter().enumerate() {
        let x = slot * i as i32 + slot / 6;
        area.draw(&Rectangle::new([(x, y), (x + box_side, y + box_side)], fill.filled())).map_err(draw_err)?;
        area.draw(&Rectangle::new([(x, y), (x + box_side, y + box_side)], RGBColor(120, 120, 120).stroke_width(s.u(1)))).map_err(draw_err)?;
        area.draw(&Text::new(label.to_string(), (x + box_side + s.i(8), y + box_side / 2), font.clone().pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Left, plotters::style::text_anchor::VPos::Center))))
            .map_err(draw_err)?;
    }
    Ok(())
}

impl Paint for RegionPlan<'_> {
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let (_, h) = root.dim_in_pixel();
        let (body, legend) = root.split_vertically(h.saturating_sub(s.u(LEGEND_H)));
        draw_legend(&legend, s)?;
        let rows = self.panels.len().div_ceil(self.cols);
        for (panel, area) in self.panels.iter().zip(body.split_evenly((rows, self.cols))) {
            let e = panel.extent;
            let m = s.i(10);
            let body = titled(&area.margin(m, m, m, m), &panel.title, s.f(20.0), s)?;
            let mut chart = ChartBuilder::on(&body)
                .x_label_area_size(s.u(40))
                .y_label_area_size(s.u(50))
                .build_cartesian_2d(-e..e, -e..e)
                .map_err(draw_err)?;
            let tick = tick_len(chart.plotting_area().dim_in_pixel(), s);
            chart
                .configure_mesh()
                .disable_mesh()
                .axis_style(BLACK.stroke_width(s.u(1)))
                .set_all_tick_mark_size(tick)
                .label_style(font(s.f(15.0)))
                .x_labels(5)
                .y_labels(5)
                .x_desc("x₁")
                .y_desc("x₂")
                .axis_desc_style(font(s.f(16.0)))
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
                let style = ShapeStyle::from(&dark).stroke_width(s.u(3));
                chart.draw_series(LineSeries::new([(0.0, 0.0), (w[0], w[1])], style)).map_err(draw_err)?;
                chart.draw_series([Circle::new((w[0], w[1]), s.i(5), dark.filled())]).map_err(draw_err)?;
                let label = format!("w{}", c + 1);
                let font = font(s.f(18.0)).into_font().color(&dark);
                chart
                    .draw_series([Text::new(label, (w[0] * 1.12, w[1] * 1.12), font)])
                    .map_err(draw_err)?;
            }
        }
        Ok(())
    }
}

/// Draws decision-region panels, `cols` per row, `width` x `height` pixels in all: each grid
/// cell coloured by the class that wins there (light blue, light red, light green for
/// classes 0, 1, 2; light grey where none wins), the weight vectors as arrows, the axes
/// named x₁ and x₂, and a legend of the colours under the panels.
///
/// # Errors
/// [`PlotError::Empty`] for no panels, [`PlotError::Shape`] when a panel's cells are not
/// `n * n`, its extent is not finite and positive, `cols` is 0 or the size is out of range.
pub fn decision_regions(panels: &[RegionPanel], cols: usize, width: u32, height: u32) -> Result<Figure, PlotError> {
    check_size(width, height)?;
    if panels.is_empty() {
        return Err(PlotError::Empty("no panels".into()));
    }
    if cols == 0 {
        return Err(PlotError::Shape("decision regions need at least one panel per row".into()));
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
    let mut fig = render(&RegionPlan { panels, cols: cols.min(panels.len()) }, width, height)?;
    let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
    fig.alt = format!("Decision regions in the plane, {} panels ({}): blue where class 1 wins, red where class 2 wins, grey where neither wins by its margin; lines: the class weights w1 and w2.", panels.len(), titles.join("; "));
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::png_size;
    use super::*;

    #[test]
    fn decision_regions_colour_each_class_and_the_margin_zone() {
        let n = 4;
        let cells: Vec<Option<u8>> = (0..n * n).map(|i| match i % 4 { 0 => Some(0), 1 => Some(1), _ => None }).collect();
        let panel = RegionPanel { title: "two classes".into(), extent: 2.0, n, cells, weights: vec![[1.0, 0.0], [0.0, 1.0]] };
        let fig = decision_regions(&[panel.clone(), panel.clone()], 2, 800, 400).unwrap();
        assert_eq!(png_size(&fig.png), (800, 400));
        assert_eq!((fig.width, fig.height), (800, 400));
        let svg = fig.svg.to_uppercase();
        for fill in ["#C6DBEF", "#FCCBCB", "#EBEBEB"] {
            assert!(svg.contains(fill), "no {fill} cell");
        }
        assert!(fig.svg.contains("w1") && fig.svg.contains("w2"));
        assert!(fig.svg.contains("neither wins: the margin") && fig.svg.contains("x₂"), "legend and axis names");
        let bad = RegionPanel { cells: vec![None; 3], ..panel.clone() };
        assert!(matches!(decision_regions(&[bad], 1, 800, 400), Err(PlotError::Shape(_))));
        let bad = RegionPanel { extent: f64::NAN, ..panel };
        assert!(matches!(decision_regions(&[bad], 1, 800, 400), Err(PlotError::Shape(_))));
        assert!(matches!(decision_regions(&[], 1, 800, 400), Err(PlotError::Empty(_))));
    }
}
