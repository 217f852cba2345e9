//! Several embedding scatters side by side in one figure ([`scatter_panels`]), on shared
//! axes.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::points::{limits, prepare, Cloud};
use super::scatter::{check_view, ScatterPlan};
use super::style::{check_size, draw_err, Scale, MAX_SIDE};
use super::{render, Embeddings, Figure, Paint, PlotError, ScatterOptions};

/// Several scatter plans painted side by side (row-major in a grid of `cols` columns).
struct PanelPlan<'c> {
    /// The panels, row-major.
    plans: Vec<ScatterPlan<'c>>,
    /// Panels per row.
    cols: usize,
}

impl Paint for PanelPlan<'_> {
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let rows = self.plans.len().div_ceil(self.cols);
        for (plan, area) in self.plans.iter().zip(root.split_evenly((rows, self.cols))) {
            plan.paint(&area, s)?;
        }
        Ok(())
    }
}

/// Draws several embedding scatters into one figure, `cols` per row, each panel
/// `opts.width` x `opts.height` pixels and drawn as by [`scatter`] with its own title
/// (`titles[i]`). One figure keeps a notebook cell to one output (evcxr shows one image
/// per cell) and pastes onto a slide as one picture.
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
            legend: true,
        })
        .collect();
    render(&PanelPlan { plans, cols }, width, height)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check_figure, clusters, svg_texts};
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
        check_figure(&fig, 800, 720);
        for t in &titles {
            assert!(fig.svg.contains(t.as_str()), "{t} missing");
        }
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
        let ticks = |left: bool| -> Vec<String> {
            let mut t: Vec<String> = svg_texts(&fig.svg)
                .into_iter()
                .filter(|(x, s)| (*x < 400.0) == left && s.parse::<f64>().is_ok())
                .map(|(_, s)| s)
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
        let max_alone = svg_texts(&alone.svg)
            .into_iter()
            .filter_map(|(_, s)| s.parse::<f64>().ok())
            .fold(0.0, f64::max);
        assert!(max_alone < 20.0, "{max_alone}");
    }
}
