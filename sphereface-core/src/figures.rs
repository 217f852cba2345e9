//! The figures of a results directory (as written by `sphereface reproduce`), drawn from the
//! saved files without retraining: test embeddings per run (raw and projected onto the unit
//! circle/sphere; 3-D from two viewpoints), training loss and accuracy curves of the three
//! losses on shared axes, ψ(θ) against cos θ, and the evolution GIF from the snapshots.

use std::path::{Path, PathBuf};

use crate::model::{psi, LambdaSchedule};
use crate::viz::{decision_regions, lines, scatter, scatter_gif, scatter_panels, Embeddings, Figure, LineOptions, RegionPanel, ScatterOptions, Series};
pub use crate::train::{saved_runs, SavedRun};
use crate::{Error, Result};

/// Steps averaged in the training curves (per-batch values are noisy).
pub const CURVE_SMOOTHING: usize = 20;

fn plot_err(e: crate::viz::PlotError) -> Error {
    Error::Plot(e.to_string())
}

/// Moving average over `k` values (shorter at the start).
pub fn smooth(ys: &[f64], k: usize) -> Vec<f64> {
    let k = k.max(1);
    let mut out = Vec::with_capacity(ys.len());
    let mut sum = 0.0;
    for i in 0..ys.len() {
        sum += ys[i];
        if i >= k {
            sum -= ys[i - k];
        }
        out.push(sum / (i + 1).min(k) as f64);
    }
    out
}

fn pretty(loss: &str) -> String {
    crate::model::loss_title(loss).to_string()
}

fn embedding_title(run: &SavedRun, normalize: bool) -> String {
    format!(
        "{}-D {} (test acc {:.4}){}",
        run.config.dim,
        pretty(run.config.head.name()),
        run.metrics.test_acc,
        if normalize { ", normalised" } else { "" }
    )
}

/// Embedding scatter of a saved run: raw or on the unit circle/sphere, at a view (yaw, pitch).
///
/// # Errors
/// Read or drawing errors.
pub fn embedding_figure(run: &SavedRun, normalize: bool, view: (f64, f64)) -> Result<Figure> {
    let e = run.files.read_embeddings()?;
    let opts = ScatterOptions { title: embedding_title(run, normalize), normalize, yaw: view.0, pitch: view.1, ..ScatterOptions::default() };
    scatter(&Embeddings { dim: e.dim, values: &e.values, labels: &e.labels }, &opts).map_err(plot_err)
}

/// The embeddings of several saved runs side by side in one figure (one panel per run, in
/// the order given, all on the same axes), raw or on the unit circle/sphere, 3-D ones seen
/// from `view`.
///
/// # Errors
/// Read or drawing errors; [`Error::Config`] for no runs.
pub fn embedding_panels(runs: &[SavedRun], normalize: bool, view: (f64, f64)) -> Result<Figure> {
    if runs.is_empty() {
        return Err(Error::Config("no runs to draw".into()));
    }
    let data = runs.iter().map(|r| r.files.read_embeddings()).collect::<Result<Vec<_>>>()?;
    let panels: Vec<Embeddings> = data.iter().map(|e| Embeddings { dim: e.dim, values: &e.values, labels: &e.labels }).collect();
    let titles: Vec<String> = runs.iter().map(|r| embedding_title(r, normalize)).collect();
    let opts = ScatterOptions { normalize, yaw: view.0, pitch: view.1, width: 560, height: 480, ..ScatterOptions::default() };
    scatter_panels(&panels, &titles, runs.len(), &opts).map_err(plot_err)
}

/// The class that wins at `x` among classes with weights `w` (and biases `b`) for a head:
/// `"original"` (largest w·x + b), `"modified"` (largest cos θ) or `"angular"` with margin
/// `m` (class j only where ψ(θ_j) beats cos θ of every other class; `None` in between).
pub fn winning_class(head: &str, m: u32, w: &[[f64; 2]], b: &[f64], x: [f64; 2]) -> Option<u8> {
    let nx = x[0].hypot(x[1]);
    let dot = |j: usize| w[j][0] * x[0] + w[j][1] * x[1];
    let cos = |j: usize| dot(j) / (nx * w[j][0].hypot(w[j][1]));
    let argmax = |f: &dyn Fn(usize) -> f64| (0..w.len()).max_by(|&i, &j| f(i).total_cmp(&f(j))).map(|j| j as u8);
    match head {
        "original" => argmax(&|j| dot(j) + b.get(j).copied().unwrap_or(0.0)),
        _ if nx == 0.0 => None,
        "modified" => argmax(&|j| cos(j)),
        _ => (0..w.len()).find(|&j| (0..w.len()).all(|k| k == j || psi(m, cos(j).clamp(-1.0, 1.0)) > cos(k))).map(|j| j as u8),
    }
}

/// Decision regions of the three heads for two classes in the plane (the formula
/// comparison): original softmax (a straight boundary, shifted by the biases), modified
/// softmax (the bisector of the two weight directions) and A-Softmax with margin `m` (each
/// class only inside an angle m times smaller; grey where neither class wins).
///
/// # Errors
/// [`Error::Config`] for m = 0; drawing errors.
pub fn decision_figure(m: u32) -> Result<Figure> {
    if m == 0 {
        return Err(Error::Config("m must be an integer >= 1, got 0".into()));
    }
    let (w, b, n, e) = ([[1.6, 0.4], [0.3, 1.4]], [0.6, 0.0], 160usize, 2.0);
    let grid = |head: &str| -> Vec<Option<u8>> {
        let step = 2.0 * e / n as f64;
        (0..n * n).map(|i| winning_class(head, m, &w, &b, [-e + (i % n) as f64 * step + step / 2.0, -e + (i / n) as f64 * step + step / 2.0])).collect()
    };
    let panel = |title: String, head: &str| RegionPanel { title, extent: e, n, cells: grid(head), weights: w.to_vec() };
    let panels = [
        panel("original: w·x + b (b = 0.6, 0)".into(), "original"),
        panel("modified: cos θ".into(), "modified"),
        panel(format!("A-Softmax: ψ(θ), m = {m}"), "angular"),
    ];
    decision_regions(&panels, 1260, 440).map_err(plot_err)
}

/// λ(t) of the `caffe` and `pytorch` presets over `steps` steps (log scale): the weight of
/// the plain cos θ in the A-Softmax target, falling to its floor of 5.
///
/// # Errors
/// Drawing errors.
pub fn lambda_figure(steps: u64) -> Result<Figure> {
    let xs: Vec<f64> = (0..=steps).map(|t| t as f64).collect();
    let series = [("caffe", LambdaSchedule::caffe()), ("pytorch", LambdaSchedule::pytorch())]
        .map(|(name, l)| Series { name: format!("{name}: max({}, {}·(1 + {}t)^-{})", l.min, l.base, l.gamma, l.power), xs: xs.clone(), ys: xs.iter().map(|&t| l.at(t as u64)).collect() });
    let opts = LineOptions { title: "λ(t), the annealing of the A-Softmax target".into(), x_label: "step t".into(), y_label: "λ".into(), log_y: true, ..LineOptions::default() };
    lines(&series, &opts).map_err(plot_err)
}

/// Training loss or accuracy of several runs on shared axes (moving average of
/// [`CURVE_SMOOTHING`] steps), each legend entry with its test accuracy.
///
/// # Errors
/// Read or drawing errors.
pub fn curves_figure(runs: &[SavedRun], accuracy: bool) -> Result<Figure> {
    let mut series = Vec::new();
    for run in runs {
        let hist = run.files.read_history()?;
        let ys: Vec<f64> = hist.iter().map(|r| if accuracy { r.acc } else { r.loss }).collect();
        series.push(Series {
            name: format!("{} (test acc {:.4})", pretty(run.config.head.name()), run.metrics.test_acc),
            xs: hist.iter().map(|r| r.step as f64).collect(),
            ys: smooth(&ys, CURVE_SMOOTHING),
        });
    }
    let dim = runs.first().map(|r| r.config.dim).unwrap_or(0);
    let opts = LineOptions {
        title: format!("training {} ({dim}-D, mean of {CURVE_SMOOTHING} steps)", if accuracy { "accuracy" } else { "loss" }),
        x_label: "step".into(),
        y_label: if accuracy { "train accuracy (no margin)".into() } else { "train loss".into() },
        log_y: !accuracy,
        ..LineOptions::default()
    };
    lines(&series, &opts).map_err(plot_err)
}

/// ψ(θ) for m = 1..=4 beside cos θ, θ from 0 to π (the formula comparison).
///
/// # Errors
/// Drawing errors.
pub fn psi_figure() -> Result<Figure> {
    let thetas: Vec<f64> = (0..=360).map(|i| i as f64 * std::f64::consts::PI / 360.0).collect();
    let mut series = vec![Series { name: "cos θ".into(), xs: thetas.iter().map(|t| t.to_degrees()).collect(), ys: thetas.iter().map(|t| t.cos()).collect() }];
    for m in 2..=4 {
        series.push(Series { name: format!("ψ(θ), m = {m}"), xs: thetas.iter().map(|t| t.to_degrees()).collect(), ys: thetas.iter().map(|t| psi(m, t.cos())).collect() });
    }
    let opts = LineOptions { title: "ψ(θ) = (−1)^k cos(mθ) − 2k  (m = 1 is cos θ)".into(), x_label: "θ (degrees)".into(), y_label: "target logit / ||x||".into(), ..LineOptions::default() };
    lines(&series, &opts).map_err(plot_err)
}

/// The evolution GIF of a run from its `snapshots/` (one frame per snapshot, 300 ms each),
/// written to `path`. Returns `false` when the run has no snapshots.
///
/// # Errors
/// Read or drawing errors.
pub fn evolution_gif(run: &SavedRun, path: &Path) -> Result<bool> {
    let data = run.files.read_snapshots()?;
    if data.is_empty() {
        return Ok(false);
    }
    let frames: Vec<(Embeddings, String)> = data.iter().map(|(step, e)| (Embeddings { dim: e.dim, values: &e.values, labels: &e.labels }, format!("step {step}"))).collect();
    let opts = ScatterOptions { title: format!("{}-D {}", run.config.dim, pretty(run.config.head.name())), ..ScatterOptions::default() };
    scatter_gif(&frames, &opts, 300, path).map_err(plot_err)?;
    Ok(true)
}

/// The default viewpoint of the 3-D figures (yaw, pitch in radians).
pub const VIEW_1: (f64, f64) = (0.7, 0.45);

/// Second 3-D viewpoint (yaw, pitch), looking from the other side and from above.
pub const VIEW_2: (f64, f64) = (2.4, 0.9);

/// The runs of one embedding dimension (copies, in the order of `runs`).
pub fn runs_of_dim(runs: &[SavedRun], dim: usize) -> Vec<SavedRun> {
    runs.iter().filter(|r| r.config.dim == dim).cloned().collect()
}

/// The run of a loss (`original`, `modified`, `angular`) at a dimension.
///
/// # Errors
/// [`Error::Config`] listing the runs there are.
pub fn find_run(runs: &[SavedRun], loss: &str, dim: usize) -> Result<SavedRun> {
    runs.iter().find(|r| r.config.head.name() == loss && r.config.dim == dim).cloned().ok_or_else(|| {
        let have: Vec<String> = runs.iter().map(|r| format!("{}-d{}", r.config.head.name(), r.config.dim)).collect();
        Error::Config(format!("no {loss} run in {dim}-D among [{}]", have.join(", ")))
    })
}

/// [`evolution_gif`] written to `path` and read back for showing inline.
///
/// # Errors
/// [`Error::Config`] when the run has no snapshots (only runs with `snapshot_every` set,
/// such as the quick protocol's, have them); read or drawing errors.
pub fn evolution_animation(run: &SavedRun, path: &Path) -> Result<crate::viz::Animation> {
    if !evolution_gif(run, path)? {
        return Err(Error::Config(format!("{} has no snapshots/ to animate (train with snapshot_every set, e.g. the quick protocol)", run.dir().display())));
    }
    crate::viz::Animation::from_file(path).map_err(plot_err)
}

/// Draws every figure of the runs under `root` into `root/figures/` (SVG and the 2x PNG;
/// GIFs for runs with snapshots) and returns the files written.
///
/// # Errors
/// Read or drawing errors, naming the file.
pub fn draw_all(root: &Path) -> Result<Vec<PathBuf>> {
    let runs = saved_runs(root)?;
    if runs.is_empty() {
        return Err(Error::Config(format!("{} holds no finished runs (directories with config.json and metrics.json)", root.display())));
    }
    let out = root.join("figures");
    let mut written = Vec::new();
    let mut save = |fig: Figure, name: String| -> Result<()> {
        let (svg, png) = fig.save(&out.join(name)).map_err(plot_err)?;
        written.push(svg);
        written.push(png);
        Ok(())
    };
    let default_view = VIEW_1;
    for run in &runs {
        let stem = format!("{}-d{}", run.config.head.name(), run.config.dim);
        save(embedding_figure(run, false, default_view)?, format!("{stem}-embeddings"))?;
        save(embedding_figure(run, true, default_view)?, format!("{stem}-normalized"))?;
        if run.config.dim == 3 {
            save(embedding_figure(run, false, VIEW_2)?, format!("{stem}-embeddings-view2"))?;
            save(embedding_figure(run, true, VIEW_2)?, format!("{stem}-normalized-view2"))?;
        }
    }
    let mut dims: Vec<usize> = runs.iter().map(|r| r.config.dim).collect();
    dims.dedup();
    for dim in dims {
        let group = runs_of_dim(&runs, dim);
        save(embedding_panels(&group, true, VIEW_1)?, format!("panels-d{dim}-normalized"))?;
        save(curves_figure(&group, false)?, format!("curves-d{dim}-loss"))?;
        save(curves_figure(&group, true)?, format!("curves-d{dim}-accuracy"))?;
    }
    save(psi_figure()?, "psi".into())?;
    for run in &runs {
        let path = out.join(format!("{}-d{}-evolution.gif", run.config.head.name(), run.config.dim));
        if evolution_gif(run, &path)? {
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_a_running_mean() {
        assert_eq!(smooth(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
        assert_eq!(smooth(&[], 5), Vec::<f64>::new());
    }

    #[test]
    fn psi_figure_draws() {
        let fig = psi_figure().unwrap();
        assert!(fig.svg.contains("<svg") && fig.svg.contains("m = 4"));
        assert!(fig.png.starts_with(&[0x89, b'P', b'N', b'G']));
    }

    #[test]
    fn winning_class_follows_each_rule() {
        let (w, b) = ([[1.0, 0.0], [0.0, 1.0]], [0.0, 3.0]);
        // on the bisector the plain rules tie; just off it they pick the nearer weight
        assert_eq!(winning_class("modified", 4, &w, &b, [1.0, 0.9]), Some(0));
        assert_eq!(winning_class("original", 4, &w, &[0.0, 0.0], [1.0, 0.9]), Some(0));
        // the bias moves the original boundary, not the modified one
        assert_eq!(winning_class("original", 4, &w, &b, [2.0, 0.0]), Some(1));
        // A-Softmax: nobody wins near the bisector, class 0 wins near w1 (θ1 = 5°: ψ = cos 20°)
        assert_eq!(winning_class("angular", 4, &w, &b, [1.0, 0.9]), None);
        let near = [5f64.to_radians().cos(), 5f64.to_radians().sin()];
        assert_eq!(winning_class("angular", 4, &w, &b, near), Some(0));
        // m = 1 is modified softmax
        assert_eq!(winning_class("angular", 1, &w, &b, [1.0, 0.9]), Some(0));
        assert_eq!(winning_class("angular", 4, &w, &b, [0.0, 0.0]), None);
    }

    #[test]
    fn decision_and_lambda_figures_draw() {
        let fig = decision_figure(4).unwrap();
        assert!(fig.svg.contains("m = 4") && fig.png.starts_with(&[0x89, b'P']));
        assert!(decision_figure(0).unwrap_err().to_string().contains("m must be"));
        let fig = lambda_figure(1600).unwrap();
        assert!(fig.svg.contains("caffe") && fig.svg.contains("pytorch"));
    }

    /// A finished run directory with a few embeddings (no training needed).
    fn fake_run(root: &Path, kind: crate::model::LossKind, dim: usize, acc: f64) {
        use crate::train::{EmbeddingSet, Metrics, Protocol, RunFiles, TrainConfig};
        let cfg = TrainConfig::new(Protocol::Quick, kind, dim);
        let files = RunFiles::new(root.join(format!("{}-d{dim}", kind.name())));
        let metrics = Metrics { label: cfg.label(), test_acc: acc, test_acc_margin: acc, test_loss: 0.5, val_acc: None, test_images: 4, steps: 3, train_seconds: 1.0, images_per_second: 1.0, final_train_loss: 0.5, device: "cpu".into(), threads: 1 };
        files.write_config(&cfg).unwrap();
        files.write_metrics(&metrics).unwrap();
        let values: Vec<f32> = (0..4 * dim).map(|i| (i as f32 * 0.7).sin()).collect();
        files.write_embeddings(&EmbeddingSet { dim, values, labels: vec![0, 1, 2, 3] }).unwrap();
    }

    #[test]
    fn panels_of_saved_runs_by_dimension() {
        let root = tempfile::tempdir().unwrap();
        fake_run(root.path(), crate::model::LossKind::Modified, 3, 0.91);
        fake_run(root.path(), crate::model::LossKind::Original { bias: true }, 2, 0.92);
        fake_run(root.path(), crate::model::LossKind::Modified, 2, 0.93);
        let runs = saved_runs(root.path()).unwrap();
        let names: Vec<String> = runs.iter().map(|r| format!("{}-d{}", r.config.head.name(), r.config.dim)).collect();
        assert_eq!(names, ["original-d2", "modified-d2", "modified-d3"]);
        let d2 = runs_of_dim(&runs, 2);
        assert_eq!(d2.len(), 2);
        let fig = embedding_panels(&d2, true, VIEW_1).unwrap();
        assert_eq!((fig.width, fig.height), (2 * 560, 480));
        assert!(fig.svg.contains("0.9200") && fig.svg.contains("0.9300") && fig.svg.contains("normalised"));
        assert_eq!(find_run(&runs, "modified", 3).unwrap().metrics.test_acc, 0.91);
        let err = find_run(&runs, "angular", 2).unwrap_err().to_string();
        assert!(err.contains("no angular run in 2-D") && err.contains("modified-d3"), "{err}");
        assert!(embedding_panels(&[], false, VIEW_1).is_err());
        let err = evolution_animation(&runs[0], &root.path().join("a.gif")).unwrap_err().to_string();
        assert!(err.contains("no snapshots"), "{err}");
    }

    #[test]
    fn view_1_is_the_scatter_default() {
        let d = ScatterOptions::default();
        assert_eq!(VIEW_1, (d.yaw, d.pitch));
    }

    #[test]
    fn draw_all_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(draw_all(dir.path()).unwrap_err().to_string().contains("no finished runs"));
    }
}
