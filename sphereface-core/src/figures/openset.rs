//! The open-set experiment's figures, from the runs and their open-set evaluation
//! (`sphereface openset run`): where the digits a run never saw land on the circle or sphere
//! (known digits in their colours, unknown ones in grey), the ROC curves of detecting them,
//! and the cosines of pairs of them (same digit against different digits).

use std::path::{Path, PathBuf};

use super::{directions_of, kept_indices, plot_err, pretty, Directions, View, PANEL_SIDE};
use crate::openset::{roc_curve, EvaluatedRun, OpenSetFiles, Score};
use crate::train::{saved_runs, EmbeddingSet, SavedRun};
use crate::viz::{line_panels, lines, scatter_panels, Embeddings, Figure, LineOptions, ScatterOptions, Series};
use crate::{Error, Result};

/// The label unknown digits are drawn with: above 9, light grey.
const UNKNOWN: u8 = 10;

/// The embeddings with every unknown digit relabelled `UNKNOWN` and moved after the known
/// ones (drawn on top: where they land is the question).
pub fn unknown_in_grey(emb: &EmbeddingSet, run: &SavedRun) -> Result<EmbeddingSet> {
    let known = crate::openset::known_of(run)?;
    let (first, last): (Vec<usize>, Vec<usize>) = (0..emb.labels.len()).partition(|&i| known.contains(emb.labels[i]));
    let mut out = emb.rows(&[first, last].concat());
    for l in &mut out.labels {
        if !known.contains(*l) {
            *l = UNKNOWN;
        }
    }
    Ok(out)
}

/// A panel title: `3-D A-Softmax: AUROC 0.9912` (the loss's own score), or the closed-set
/// accuracy for a run not evaluated yet.
fn title(run: &SavedRun) -> String {
    let loss = super::head_title(&run.config.head);
    match OpenSetFiles::new(run.dir()).read_report() {
        Ok(r) => format!("{loss}: AUROC {:.4}", r.primary_auroc()),
        Err(_) => format!("{loss} (known acc {:.4})", run.metrics.test_acc),
    }
}

/// The test embeddings of open-set runs on the unit circle or sphere, one panel per run
/// (`cols` per row), known digits in their colours with the class directions (2-D), the
/// digits the runs never saw in grey.
///
/// # Errors
/// [`crate::OpenSetError::NothingUnknown`] for a run trained on all ten digits; read or
/// drawing errors; [`Error::Config`] for no runs.
pub fn unknown_panels(runs: &[SavedRun], view: View, cols: usize) -> Result<Figure> {
    if runs.is_empty() {
        return Err(Error::Config("no runs to draw".into()));
    }
    let data = runs.iter().map(|r| unknown_in_grey(&r.files.read_embeddings()?, r)).collect::<Result<Vec<_>>>()?;
    let (dirs, kinds): (Vec<_>, Vec<_>) = runs.iter().zip(&data).map(|(r, e)| directions_of(r, e)).collect::<Result<Vec<_>>>()?.into_iter().unzip();
    let kinds: Vec<Directions> = kinds.into_iter().flatten().collect();
    let panels: Vec<Embeddings> = data.iter().zip(&dirs).map(|(e, d)| Embeddings { dim: e.dim, values: &e.values, labels: &e.labels, directions: d }).collect();
    let titles: Vec<String> = runs.iter().map(title).collect();
    let opts = ScatterOptions { normalize: true, yaw: view.yaw, pitch: view.pitch, width: PANEL_SIDE, height: PANEL_SIDE, max_points: 10_000, other_label: "unknown".into(), directions_name: Directions::name(&kinds), ..ScatterOptions::default() };
    scatter_panels(&panels, &titles, cols, &opts).map_err(plot_err)
}

/// Most points of a ROC curve drawn.
const ROC_POINTS: usize = 1000;

/// The ROC of detecting the unknown digits (known positive) under each run's own score, one
/// curve per run on shared axes, each legend entry with its AUROC.
///
/// # Errors
/// Reading a run's `openset-scores.csv`; drawing errors.
pub fn roc_figure(runs: &[EvaluatedRun], caption: &str) -> Result<Figure> {
    let mut series = Vec::new();
    for r in runs {
        let scores = OpenSetFiles::new(&r.dir).read_image_scores()?;
        let positive: Vec<bool> = scores.iter().map(|s| r.report.known.contains(s.digit)).collect();
        let roc = roc_curve(&scores.iter().map(|s| s.get(r.report.primary)).collect::<Vec<_>>(), &positive)?;
        let keep = kept_indices(roc.fpr.len(), ROC_POINTS);
        let score = if r.report.primary == Score::MaxCosine { String::new() } else { format!(", {}", r.report.primary.title()) };
        series.push(Series {
            name: format!("{} (AUROC {:.4}{score})", pretty(&r.report.loss), r.report.primary_auroc()),
            xs: keep.iter().map(|&i| roc.fpr[i]).collect(),
            ys: keep.iter().map(|&i| roc.tpr[i]).collect(),
        });
    }
    let opts = LineOptions { title: format!("detecting unseen digits: ROC, {caption}"), x_label: "unknown digits accepted (FPR)".into(), y_label: "known digits accepted (TPR)".into(), y_range: Some((0.0, 1.0)), width: 720, height: 480, ..LineOptions::default() };
    lines(&series, &opts).map_err(plot_err)
}

/// Bins of the pair-cosine histograms over [−1, 1].
const BINS: usize = 40;

/// The share of `values` in each of [`BINS`] bins over [−1, 1], at the bins' centres.
fn histogram(values: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut counts = vec![0usize; BINS];
    for v in values {
        let b = (((v + 1.0) / 2.0 * BINS as f64).floor().max(0.0) as usize).min(BINS - 1);
        counts[b] += 1;
    }
    let n = values.len().max(1) as f64;
    ((0..BINS).map(|b| -1.0 + (b as f64 + 0.5) * 2.0 / BINS as f64).collect(), counts.iter().map(|&c| c as f64 / n).collect())
}

/// Histograms of the cosines of same-digit and different-digit pairs of unseen digits, one
/// panel per run (`cols` per row): the farther apart the two humps, the better the
/// embedding verifies digits it never saw.
///
/// # Errors
/// Reading a run's `pair-scores.csv`; drawing errors.
pub fn pair_cosine_figure(runs: &[EvaluatedRun], cols: usize) -> Result<Figure> {
    let mut panels = Vec::new();
    for r in runs {
        let pairs = OpenSetFiles::new(&r.dir).read_pair_scores()?;
        let of = |same: bool| histogram(&pairs.iter().filter(|p| p.same == same).map(|p| p.cosine).collect::<Vec<_>>());
        let ((xs, same), (_, diff)) = (of(true), of(false));
        let series = vec![Series { name: "same digit".into(), xs: xs.clone(), ys: same }, Series { name: "different digits".into(), xs, ys: diff }];
        let v = &r.report.verification.accuracy;
        let opts = LineOptions {
            title: format!("{}: {:.2} % verified", pretty(&r.report.loss), 100.0 * v.mean),
            x_label: "cosine of the pair".into(),
            y_label: "share of pairs".into(),
            width: PANEL_SIDE,
            height: 360,
            ..LineOptions::default()
        };
        panels.push((series, opts));
    }
    line_panels(&panels, cols).map_err(plot_err)
}

/// The embedding size of the benchmark runs: the one run on more than one split (else the
/// largest).
fn benchmark_dim(runs: &[EvaluatedRun]) -> Option<usize> {
    let mut dims: Vec<usize> = runs.iter().map(|r| r.report.dim).collect();
    dims.sort_unstable();
    dims.dedup();
    dims.iter().copied().find(|&d| runs.iter().filter(|r| r.report.dim == d).map(|r| &r.split).collect::<std::collections::BTreeSet<_>>().len() > 1).or(dims.last().copied())
}

/// Draws the open-set figures of an experiment directory into `root/figures/`: for the
/// first split, its 2-D and 3-D runs with the unknown digits in grey, and at the benchmark's
/// embedding size the ROC curves and the pair-cosine histograms. Returns the files written.
///
/// # Errors
/// [`Error::Config`] when no run is evaluated; read or drawing errors.
pub fn draw_all(root: &Path) -> Result<Vec<PathBuf>> {
    let runs = crate::openset::evaluated_runs(root)?;
    let (Some(first), Some(dim)) = (runs.first().map(|r| r.split.clone()), benchmark_dim(&runs)) else {
        return Err(Error::Config(format!("{} holds no evaluated open-set runs (SPLIT/RUN/openset.json)", root.display())));
    };
    let out = root.join("figures");
    let mut written = Vec::new();
    let mut save = |fig: Figure, name: String| -> Result<()> {
        let (svg, png) = fig.save(&out.join(name)).map_err(plot_err)?;
        written.extend([svg, png]);
        Ok(())
    };
    let saved = saved_runs(&root.join(&first))?;
    for d in [2, 3] {
        let group: Vec<SavedRun> = saved.iter().filter(|r| r.config.dim == d).cloned().collect();
        if !group.is_empty() {
            save(unknown_panels(&group, View::FRONT, 3)?, format!("unknown-d{d}"))?;
        }
    }
    let bench: Vec<EvaluatedRun> = runs.iter().filter(|r| r.split == first && r.report.dim == dim).cloned().collect();
    save(roc_figure(&bench, &format!("{first}, {dim}-D"))?, format!("roc-{first}-d{dim}"))?;
    save(pair_cosine_figure(&bench, 3)?, format!("pair-cosines-{first}-d{dim}"))?;
    Ok(written)
}
