//! Several embedding scatters side by side in one figure ([`scatter_panels`]), on shared
//! axes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::points::{limits, prepare, Cloud};
use super::scatter::{check_view, draw_legend_row, ScatterPlan, LEGEND_ROW_H};
use super::style::{check_size, draw_err, Scale, MAX_SIDE};
use super::{render, Embeddings, Figure, Paint, PlotError, ScatterOptions};

/// Several scatter plans painted side by side (row-major in a grid of `cols` columns).
struct PanelPlan<'c> {
    /// The panels, row-major.
    plans: Vec<ScatterPlan<'c>>,
    /// Panels per row.
    cols: usize,
    /// The name of the lines from the centre, for the legend.
    directions_name: String,
}

impl Paint for PanelPlan<'_> {
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let (_, h) = root.dim_in_pixel();
        let (body, legend) = root.split_vertically(h.saturating_sub(s.u(LEGEND_ROW_H)));
        let rows = self.plans.len().div_ceil(self.cols);
        for (plan, area) in self.plans.iter().zip(body.split_evenly((rows, self.cols))) {
            plan.paint(&area, s)?;
        }
        let labels: Vec<&[u8]> = self.plans.iter().map(|p| p.cloud.labels.as_slice()).collect();
        let other = self.plans.first().map(|p| p.other_label.as_str()).unwrap_or("other");
        let lines = self.plans.iter().any(|p| p.dim == 2 && !p.cloud.directions.is_empty());
        draw_legend_row(&legend, &labels, other, lines.then_some(self.directions_name.as_str()), 17.0, s)
    }
}

/// Draws several embedding scatters into one figure, `cols` per row, each panel
/// `opts.width` x `opts.height` pixels and drawn as by [`scatter`] with its own title
/// (`titles[i]`) but no legend of its own: one legend row under the panels names the
/// digits of all of them. One figure keeps a notebook cell to one output (evcxr shows one
/// image per cell) and pastes onto a slide as one picture.
///
/// Every panel has the same axis ranges, computed over the points of all panels (raw
/// embeddings of different runs have different scales, and panels side by side are read
/// as comparable).
///
/// # Errors
/// As [`scatter`] (naming the panel), and [`PlotError::Shape`] when `titles` and
/// `panels` differ in length, `cols` is 0 or the whole figure exceeds [`MAX_SIDE`].
///
/// [`scatter`]: fn@super::scatter
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
    let height = u32::try_from(rows).ok().and_then(|r| r.checked_mul(opts.height)).and_then(|h| h.checked_add(LEGEND_ROW_H)).ok_or_else(too_big)?;
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
    // One range over all panels (2-D clouds have a zero third coordinate).
    let refs: Vec<&Cloud> = clouds.iter().collect();
    let dim = panels.iter().map(|e| e.dim).max().unwrap_or(2);
    let lims = limits(&refs, dim, opts.normalize);
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
            lims,
            other_label: opts.other_label.clone(),
            text: 1.0,
            legend: false,
        })
        .collect();
    let mut fig = render(&PanelPlan { plans, cols, directions_name: opts.directions_name.clone() }, width, height)?;
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let others = clouds.iter().any(|c| c.labels.iter().any(|&l| l > 9));
    fig.alt = super::scatter::scatter_alt(&titles, dim, opts, others);
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_figure, clusters, svg_texts_at};
    use super::*;

    #[test]
    fn panels_share_one_figure() {
        let (v2, l2) = clusters(2, 30, 3);
        let (v3, l3) = clusters(3, 30, 4);
        let e2 = Embeddings { dim: 2, values: &v2, labels: &l2, directions: &[] };
        let e3 = Embeddings { dim: 3, values: &v3, labels: &l3, directions: &[] };
        let opts = ScatterOptions { width: 400, height: 360, ..Default::default() };
        let titles: Vec<String> = ["left panel", "middle panel", "bottom panel"].map(String::from).to_vec();
        let fig = scatter_panels(&[e2, e3, e2], &titles, 2, &opts).unwrap();
        check_figure(&fig, 800, 720 + LEGEND_ROW_H);
        for t in &titles {
            assert!(fig.svg.contains(t.as_str()), "{t} missing");
            assert!(fig.alt.contains(t.as_str()), "the description names the panel {t}: {}", fig.alt);
        }
        // One legend for the figure: each digit's name once, in the row under the panels.
        let texts = svg_texts_at(&fig.svg);
        let mut row: Vec<&str> = texts.iter().filter(|(_, y, _)| *y > 720.0).map(|(_, _, s)| s.as_str()).collect();
        row.sort_unstable();
        let mut digits: Vec<String> = l2.iter().chain(&l3).map(u8::to_string).collect();
        digits.sort_unstable();
        digits.dedup();
        assert_eq!(row, digits, "the legend row names each digit once");
        let legend_boxes = texts.iter().filter(|(x, y, s)| *y < 720.0 && (*x % 400.0) > 330.0 && s.len() == 1).count();
        assert_eq!(legend_boxes, 0, "no legend beside a panel");
        assert!(fig.font_px >= 15.0, "smallest text {} px", fig.font_px);
        // Labels above 9 (an open-set run's unseen digits) are named in the description.
        assert!(!fig.alt.contains("light grey"), "{}", fig.alt);
        let mut l_unknown = l2.clone();
        l_unknown[0] = 12;
        let e_unknown = Embeddings { dim: 2, values: &v2, labels: &l_unknown, directions: &[] };
        let unknown = ScatterOptions { other_label: "unknown".into(), ..opts.clone() };
        let fig = scatter_panels(&[e_unknown], &titles[..1], 1, &unknown).unwrap();
        assert!(fig.alt.contains("the unknown ones in light grey"), "{}", fig.alt);
        assert!(matches!(scatter_panels(&[e2], &titles, 1, &opts), Err(PlotError::Shape(_))));
        assert!(matches!(scatter_panels(&[e2], &titles[..1], 0, &opts), Err(PlotError::Shape(_))));
        let bad = Embeddings { dim: 4, values: &v2[..8], labels: &l2[..2], directions: &[] };
        let err = scatter_panels(&[e2, bad], &titles[..2], 2, &opts).unwrap_err();
        assert!(err.to_string().contains("panel 1"), "{err}");
        let huge = ScatterOptions { width: 5000, ..opts };
        assert!(matches!(scatter_panels(&[e2, e2], &titles[..2], 2, &huge), Err(PlotError::Shape(_))));
    }

    #[test]
    fn panels_share_axis_ranges() {
        // The same cloud at two scales: each panel alone would get its own ticks.
        let (v, l) = clusters(2, 30, 7);
        let big: Vec<f32> = v.iter().map(|x| x * 10.0).collect();
        let small = Embeddings { dim: 2, values: &v, labels: &l, directions: &[] };
        let large = Embeddings { dim: 2, values: &big, labels: &l, directions: &[] };
        let opts = ScatterOptions { width: 400, height: 360, ..Default::default() };
        let titles: Vec<String> = ["small", "large"].map(String::from).to_vec();
        let fig = scatter_panels(&[small, large], &titles, 2, &opts).unwrap();
        // The texts above the legend row (whose digits would pass for tick labels).
        let ticks = |left: bool| -> Vec<String> {
            let mut t: Vec<String> = svg_texts_at(&fig.svg)
                .into_iter()
                .filter(|(x, y, s)| (*x < 400.0) == left && *y < 360.0 && s.parse::<f64>().is_ok())
                .map(|(_, _, s)| s)
                .collect();
            t.sort();
            t
        };
        let (a, b) = (ticks(true), ticks(false));
        assert!(a.len() >= 6, "{a:?}");
        assert_eq!(a, b);
        // The range is the large cloud's (radius about 120), in both panels.
        let max = a.iter().map(|s| s.parse::<f64>().unwrap()).fold(0.0, f64::max);
        assert!(max >= 50.0, "{a:?}");
        let alone = scatter_panels(&[small], &titles[..1], 1, &opts).unwrap();
        let max_alone = svg_texts_at(&alone.svg)
            .into_iter()
            .filter(|(_, y, _)| *y < 360.0)
            .filter_map(|(_, _, s)| s.parse::<f64>().ok())
            .fold(0.0, f64::max);
        assert!(max_alone < 20.0, "{max_alone}");
    }
}
