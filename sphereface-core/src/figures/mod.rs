//! The project's figures. From saved runs (as written by `sphereface reproduce`, read through
//! [`SavedRun`]): test embeddings (raw or on the unit circle/sphere, 3-D from two
//! viewpoints, several runs as panels with shared axes), training curves, the intra-class
//! angle against the step, and the evolution animation. From the formulas
//! ([`formulas`]): ψ(θ), the target with λ, the margin family, the λ schedules, decision
//! regions. All drawn with [`crate::viz`] (feature `plot`).

use std::path::{Path, PathBuf};

use crate::report::{angle_history, angular_separation};
use crate::viz::{lines, scatter, scatter_gif, scatter_panels, Embeddings, Figure, LineOptions, ScatterOptions, Series};
pub use crate::train::{saved_runs, SavedRun};
use crate::{Error, Result};

mod formulas;
pub mod openset;
pub use formulas::{decision_figure, lambda_figure, margin_family_figure, psi_figure, target_figure, winning_class};

/// Steps averaged in the training curves (per-batch values are noisy).
pub const CURVE_SMOOTHING: usize = 20;

/// Most points a training curve is drawn with: one per pixel or so (denser curves come out
/// broken up by the line drawing, and weigh more).
const CURVE_POINTS: usize = 1500;

pub(crate) fn plot_err(e: crate::viz::PlotError) -> Error {
    Error::Plot(e.to_string())
}

/// How embeddings are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// As the network gives them.
    Raw,
    /// Projected onto the unit circle (2-D) or sphere (3-D): x / ‖x‖, what the angular heads see.
    Sphere,
}

/// Where a 3-D figure is seen from (radians).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Rotation about the vertical axis.
    pub yaw: f64,
    /// Tilt towards the viewer.
    pub pitch: f64,
}

impl View {
    /// The default viewpoint, slightly from above.
    pub const FRONT: View = View { yaw: 0.7, pitch: 0.45 };
    /// From the other side and from higher above.
    pub const ABOVE: View = View { yaw: 2.4, pitch: 0.9 };
}

/// Which training curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// The training loss (log scale).
    Loss,
    /// The batch accuracy without the margin.
    Accuracy,
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

pub(crate) fn pretty(loss: &str) -> String {
    crate::model::loss_title(loss).to_string()
}

/// A head as figure titles name it, with its margin: `modified softmax`, `A-Softmax, m = 4`,
/// `CosFace, m = 0.35`.
pub fn head_title(kind: &crate::model::LossKind) -> String {
    use crate::model::LossKind;
    match *kind {
        LossKind::Angular { m, .. } => format!("A-Softmax, m = {m}"),
        LossKind::CosFace { m, .. } => format!("CosFace, m = {m}"),
        LossKind::ArcFace { m, .. } => format!("ArcFace, m = {m}"),
        _ => pretty(kind.name()),
    }
}

/// What the lines from the centre of a 2-D embedding figure are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Directions {
    /// The head's class weights (`head.json`).
    Weights,
    /// The class centres of the test embeddings (runs made before heads were saved).
    Centres,
}

impl Directions {
    /// The legend's name for them, given the kinds in a figure.
    pub(crate) fn name(kinds: &[Directions]) -> String {
        let (w, c) = (kinds.contains(&Directions::Weights), kinds.contains(&Directions::Centres));
        match (w, c) {
            (true, true) => "class weight (class centre where the title says so)".into(),
            (false, true) => "class centre (these runs saved no weights)".into(),
            _ => "class weight".into(),
        }
    }
}

/// A panel's title: the head with its margin and the run's test accuracy (the dimension and
/// projection are the figure's, in its alt text and the slide's heading).
fn panel_title(run: &SavedRun, directions: Option<Directions>, mixed: bool) -> String {
    let centres = if mixed && directions == Some(Directions::Centres) { ", centres" } else { "" };
    format!("{} (acc {:.4}){centres}", head_title(&run.config.head), run.metrics.test_acc)
}

fn embedding_title(run: &SavedRun, projection: Projection) -> String {
    let on = match (projection, run.config.dim) {
        (Projection::Raw, _) => "",
        (Projection::Sphere, 2) => ", unit circle",
        (Projection::Sphere, _) => ", unit sphere",
    };
    format!("{}-D {} (test acc {:.4}){on}", run.config.dim, head_title(&run.config.head), run.metrics.test_acc)
}

/// The class directions to draw on a 2-D run: its saved class weights (`head.json`) or,
/// for runs made before heads were saved, the centres of its test embeddings' classes.
pub(crate) fn class_directions(run: &SavedRun, emb: &crate::train::EmbeddingSet) -> Result<Vec<[f64; 2]>> {
    Ok(directions_of(run, emb)?.0)
}

/// [`class_directions`] and which they are (none in 3-D).
pub(crate) fn directions_of(run: &SavedRun, emb: &crate::train::EmbeddingSet) -> Result<(Vec<[f64; 2]>, Option<Directions>)> {
    if emb.dim != 2 {
        return Ok((Vec::new(), None));
    }
    if let Some(head) = run.files.read_head()? {
        let dirs: Vec<[f64; 2]> = head.weights.iter().map(|w| [w[0], w[1]]).collect();
        // An open-set run's class j is digit known[j]: directions are indexed by digit.
        let dirs = match &run.config.known {
            Some(known) => (0..10u8).map(|d| known.class_of(d).map_or([0.0, 0.0], |j| dirs[j])).collect(),
            None => dirs,
        };
        return Ok((dirs, Some(Directions::Weights)));
    }
    let mut sums = vec![[0.0f64; 2]; 10];
    for (p, &l) in emb.values.chunks(2).zip(&emb.labels) {
        let n = f64::from(p[0]).hypot(f64::from(p[1]));
        if let (Some(s), true) = (sums.get_mut(usize::from(l)), n > 0.0) {
            s[0] += f64::from(p[0]) / n;
            s[1] += f64::from(p[1]) / n;
        }
    }
    Ok((sums, Some(Directions::Centres)))
}

fn scatter_options(projection: Projection, view: View) -> ScatterOptions {
    ScatterOptions { normalize: projection == Projection::Sphere, yaw: view.yaw, pitch: view.pitch, ..ScatterOptions::default() }
}

/// The test embeddings of a saved run, raw or on the unit circle/sphere, 3-D ones seen from
/// `view`; in 2-D with the class directions (its weights, else its class centres).
///
/// # Errors
/// Read or drawing errors.
pub fn embedding_figure(run: &SavedRun, projection: Projection, view: View) -> Result<Figure> {
    let e = run.files.read_embeddings()?;
    let dirs = class_directions(run, &e)?;
    let opts = ScatterOptions { title: embedding_title(run, projection), ..scatter_options(projection, view) };
    scatter(&Embeddings { dim: e.dim, values: &e.values, labels: &e.labels, directions: &dirs }, &opts).map_err(plot_err)
}

/// The test embeddings of several saved runs side by side in one figure (one panel per run,
/// in the order given, [`PANELS_PER_ROW`] to a row, shared axes, one legend), raw or on the
/// unit circle/sphere, 3-D ones seen from `view`; in 2-D with each run's class directions
/// (its class weights, or for runs that saved none the class centres, as the legend says).
/// For a slide, give at most three runs: more make a second row, too tall for a slide.
///
/// # Errors
/// Read or drawing errors; [`Error::Config`] for no runs.
pub fn embedding_panels(runs: &[SavedRun], projection: Projection, view: View) -> Result<Figure> {
    if runs.is_empty() {
        return Err(Error::Config("no runs to draw".into()));
    }
    let data = runs.iter().map(|r| r.files.read_embeddings()).collect::<Result<Vec<_>>>()?;
    let (dirs, kinds): (Vec<_>, Vec<_>) = runs.iter().zip(&data).map(|(r, e)| directions_of(r, e)).collect::<Result<Vec<_>>>()?.into_iter().unzip();
    let panels: Vec<Embeddings> = data.iter().zip(&dirs).map(|(e, d)| Embeddings { dim: e.dim, values: &e.values, labels: &e.labels, directions: d }).collect();
    let kinds: Vec<Directions> = kinds.into_iter().flatten().collect();
    let mixed = kinds.contains(&Directions::Weights) && kinds.contains(&Directions::Centres);
    let titles: Vec<String> = runs.iter().zip(&data).map(|(r, e)| Ok(panel_title(r, directions_of(r, e)?.1, mixed))).collect::<Result<_>>()?;
    let opts = ScatterOptions { width: PANEL_SIDE, height: PANEL_SIDE, directions_name: Directions::name(&kinds), ..scatter_options(projection, view) };
    scatter_panels(&panels, &titles, runs.len().min(PANELS_PER_ROW), &opts).map_err(plot_err)
}

/// Width and height of one embedding panel, in pixels at 1x: three side by side fill a
/// 1280 x 720 slide's width with every text at least 15 pixels.
pub const PANEL_SIDE: u32 = 400;

/// Most panels in a row of a figure: more would leave each under 400 pixels on a slide.
pub const PANELS_PER_ROW: usize = 3;

/// Every `k`-th point of a curve (the last one kept), so that at most `max` are drawn.
fn thin(xs: Vec<f64>, ys: Vec<f64>, max: usize) -> (Vec<f64>, Vec<f64>) {
    let keep = kept_indices(xs.len(), max);
    let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect();
    (pick(&xs), pick(&ys))
}

/// Of `n` points, every k-th (k as small as leaves at most `max`) and the last.
pub(crate) fn kept_indices(n: usize, max: usize) -> Vec<usize> {
    let k = n.div_ceil(max.max(1)).max(1);
    (0..n).filter(|i| i % k == 0 || i + 1 == n).collect()
}

/// At most this many frames (plus the last snapshot) in an evolution GIF: a lecture run's 50
/// snapshots give 26 frames, half the file that notebook 4 and its slides carry inline.
pub const MAX_GIF_FRAMES: usize = 25;

/// Training loss or accuracy of several runs on shared axes (moving average of
/// [`CURVE_SMOOTHING`] steps, thinned to about one point per pixel), each legend entry with
/// its test accuracy.
///
/// # Errors
/// Read or drawing errors.
pub fn curves_figure(runs: &[SavedRun], curve: Curve) -> Result<Figure> {
    let mut series = Vec::new();
    for run in runs {
        let hist = run.files.read_history()?;
        let ys: Vec<f64> = hist.iter().map(|r| if curve == Curve::Accuracy { r.acc } else { r.loss }).collect();
        let (xs, ys) = thin(hist.iter().map(|r| r.step as f64).collect(), smooth(&ys, CURVE_SMOOTHING), CURVE_POINTS);
        // A margin head's loss is measured against its margin target: higher than a plain
        // softmax loss for the same embeddings, so the legend says which loss each line is.
        let which = match (curve, run.config.head) {
            (Curve::Loss, crate::model::LossKind::Original { .. } | crate::model::LossKind::Modified) => ": plain loss",
            (Curve::Loss, _) => ": loss with its margin",
            (Curve::Accuracy, _) => "",
        };
        series.push(Series { name: format!("{}{which} (test acc {:.4})", head_title(&run.config.head), run.metrics.test_acc), xs, ys });
    }
    let dim = runs.first().map(|r| r.config.dim).unwrap_or(0);
    let (what, y_label) = match curve {
        Curve::Loss => ("loss, each head's own", "train loss"),
        Curve::Accuracy => ("accuracy", "train accuracy (no margin)"),
    };
    let opts = LineOptions {
        title: format!("training {what} ({dim}-D, mean of {CURVE_SMOOTHING} steps)"),
        x_label: "step".into(),
        y_label: y_label.into(),
        log_y: curve == Curve::Loss,
        ..LineOptions::default()
    };
    lines(&series, &opts).map_err(plot_err)
}

/// The mean angle between an embedding and its class centre against the training step, from
/// each run's snapshots ([`angle_history`]), with each run's final value over all test images
/// in its legend entry.
///
/// # Errors
/// [`Error::Config`] for runs without snapshots; read or drawing errors.
pub fn angle_figure(runs: &[SavedRun]) -> Result<Figure> {
    let mut series = Vec::new();
    for run in runs {
        let h = angle_history(run)?;
        let last = angular_separation(&run.files.read_embeddings()?)?;
        series.push(Series {
            name: format!("{} ({:.1}° on all test images)", pretty(run.config.head.name()), last.intra_mean_deg),
            xs: h.iter().map(|(s, _)| *s as f64).collect(),
            ys: h.iter().map(|(_, a)| a.intra_mean_deg).collect(),
        });
    }
    let dim = runs.first().map(|r| r.config.dim).unwrap_or(0);
    let opts = LineOptions {
        title: format!("mean angle to the class centre, {dim}-D (500 test images)"),
        x_label: "step".into(),
        y_label: "intra-class angle (degrees)".into(),
        ..LineOptions::default()
    };
    lines(&series, &opts).map_err(plot_err)
}

/// The evolution GIF of a run from its snapshots (at most [`MAX_GIF_FRAMES`] of them, evenly
/// spaced, and the last; 300 ms each), written to `path`. Returns `false` when the run has no
/// snapshots.
///
/// # Errors
/// Read or drawing errors.
pub fn evolution_gif(run: &SavedRun, path: &Path) -> Result<bool> {
    let data = run.files.read_snapshots()?;
    if data.is_empty() {
        return Ok(false);
    }
    let frames: Vec<(Embeddings, String)> = kept_indices(data.len(), MAX_GIF_FRAMES).into_iter().map(|i| &data[i]).map(|(step, e)| (Embeddings { dim: e.dim, values: &e.values, labels: &e.labels, directions: &[] }, format!("step {step}"))).collect();
    let opts = ScatterOptions { title: format!("{}-D {}", run.config.dim, pretty(run.config.head.name())), ..ScatterOptions::default() };
    scatter_gif(&frames, &opts, 300, path).map_err(plot_err)?;
    Ok(true)
}

/// The runs of one embedding dimension (copies, in the order of `runs`).
pub fn runs_of_dim(runs: &[SavedRun], dim: usize) -> Vec<SavedRun> {
    runs.iter().filter(|r| r.config.dim == dim).cloned().collect()
}

/// The runs of the named losses (`original`, `modified`, …) in one dimension, in the order
/// of `losses`; losses without a run are left out.
pub fn select(runs: &[SavedRun], losses: &[&str], dim: usize) -> Vec<SavedRun> {
    losses.iter().filter_map(|l| runs.iter().find(|r| r.config.head.name() == *l && r.config.dim == dim).cloned()).collect()
}

/// The run of a loss (`original`, `modified`, `angular`, `cosface`, `arcface`) at a dimension.
///
/// # Errors
/// [`Error::Config`] listing the runs there are.
pub fn find_run(runs: &[SavedRun], loss: &str, dim: usize) -> Result<SavedRun> {
    runs.iter().find(|r| r.config.head.name() == loss && r.config.dim == dim).cloned().ok_or_else(|| {
        let have: Vec<String> = runs.iter().map(|r| format!("{}-d{}", r.config.head.name(), r.config.dim)).collect();
        Error::Config(format!("no {loss} run in {dim}-D among [{}]", have.join(", ")))
    })
}

/// [`evolution_gif`] written to `path` and read back for showing inline (as an HTML image,
/// which slide decks keep).
///
/// # Errors
/// [`Error::Config`] when the run has no snapshots (only runs with `snapshot_every` set,
/// such as the quick and lecture protocols', have them); read or drawing errors.
pub fn evolution_animation(run: &SavedRun, path: &Path) -> Result<crate::viz::Animation> {
    if !evolution_gif(run, path)? {
        return Err(Error::Config(format!("{} has no snapshots/ to animate (train with snapshot_every set, e.g. the lecture protocol)", run.dir().display())));
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
    for run in &runs {
        let stem = format!("{}-d{}", run.config.head.name(), run.config.dim);
        save(embedding_figure(run, Projection::Raw, View::FRONT)?, format!("{stem}-embeddings"))?;
        save(embedding_figure(run, Projection::Sphere, View::FRONT)?, format!("{stem}-normalized"))?;
        if run.config.dim == 3 {
            save(embedding_figure(run, Projection::Raw, View::ABOVE)?, format!("{stem}-embeddings-view2"))?;
            save(embedding_figure(run, Projection::Sphere, View::ABOVE)?, format!("{stem}-normalized-view2"))?;
        }
    }
    let mut dims: Vec<usize> = runs.iter().map(|r| r.config.dim).collect();
    dims.dedup();
    for dim in dims {
        let group = runs_of_dim(&runs, dim);
        save(embedding_panels(&group, Projection::Sphere, View::FRONT)?, format!("panels-d{dim}-normalized"))?;
        save(curves_figure(&group, Curve::Loss)?, format!("curves-d{dim}-loss"))?;
        save(curves_figure(&group, Curve::Accuracy)?, format!("curves-d{dim}-accuracy"))?;
        if group.iter().all(|r| r.files.read_snapshots().is_ok_and(|s| !s.is_empty())) {
            save(angle_figure(&group)?, format!("angles-d{dim}"))?;
        }
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
        let fig = embedding_panels(&d2, Projection::Sphere, View::FRONT).unwrap();
        assert_eq!((fig.width, fig.height), (2 * PANEL_SIDE, PANEL_SIDE + 40));
        assert!(fig.svg.contains("0.9200") && fig.svg.contains("0.9300") && fig.alt.contains("unit circle"), "{}", fig.alt);
        // Runs without a saved head: the lines are class centres, and the legend says so.
        assert!(fig.svg.contains("line: class centre"), "the legend names the lines");
        assert!(fig.font_px >= 15.0, "smallest text {} px", fig.font_px);
        assert_eq!(select(&runs, &["modified", "original", "arcface"], 2).iter().map(|r| r.config.head.name()).collect::<Vec<_>>(), ["modified", "original"]);
        assert_eq!(find_run(&runs, "modified", 3).unwrap().metrics.test_acc, 0.91);
        let err = find_run(&runs, "angular", 2).unwrap_err().to_string();
        assert!(err.contains("no angular run in 2-D") && err.contains("modified-d3"), "{err}");
        assert!(embedding_panels(&[], Projection::Raw, View::FRONT).is_err());
        let err = evolution_animation(&runs[0], &root.path().join("a.gif")).unwrap_err().to_string();
        assert!(err.contains("no snapshots"), "{err}");
    }

    #[test]
    fn the_front_view_is_the_scatter_default() {
        let d = ScatterOptions::default();
        assert_eq!(View::FRONT, View { yaw: d.yaw, pitch: d.pitch });
    }

    /// Curves are thinned to at most the given number of points, first and last kept.
    #[test]
    fn thinning_keeps_the_ends() {
        let xs: Vec<f64> = (0..51_200).map(f64::from).collect();
        let (tx, ty) = thin(xs.clone(), xs.clone(), 1500);
        assert!(tx.len() <= 1501 && tx.len() > 1000, "{}", tx.len());
        assert_eq!((tx[0], *tx.last().unwrap()), (0.0, 51_199.0));
        assert_eq!(tx, ty);
        assert_eq!(thin(vec![1.0, 2.0], vec![3.0, 4.0], 1500), (vec![1.0, 2.0], vec![3.0, 4.0]));
        // a lecture run's 50 snapshots: every other one and the last, 26 GIF frames
        let frames = kept_indices(50, MAX_GIF_FRAMES);
        assert_eq!((frames.len(), frames[1], frames[24], frames[25]), (26, 2, 48, 49));
        assert_eq!(kept_indices(7, MAX_GIF_FRAMES), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn draw_all_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(draw_all(dir.path()).unwrap_err().to_string().contains("no finished runs"));
    }
}
