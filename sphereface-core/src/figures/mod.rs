//! The project's figures. From saved runs (as written by `sphereface reproduce`, read through
//! [`SavedRun`]): test embeddings (raw or on the unit circle/sphere, 3-D from two
//! viewpoints, several runs as panels with shared axes), training curves, the intra-class
//! angle against the step, and the evolution animation (several runs side by side on the
//! unit circle/sphere, the end state first: [`evolution_animation`]). From the formulas
//! (`formulas`): ψ(θ), the target with λ, the margin family, the λ schedules, decision
//! regions. All drawn with [`crate::viz`] (feature `plot`).

use std::path::{Path, PathBuf};

use crate::report::{angle_history, angular_separation};
use crate::model::LossKind;
use crate::viz::{lines, scatter, scatter_panels, scatter_panels_gif, Animation, Embeddings, Figure, LineOptions, PanelFrame, ScatterOptions, Series};
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
pub fn head_title(kind: &LossKind) -> String {
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

/// At most this many frames from the start to the end of an evolution GIF
/// ([`evolution_snapshots`]); the GIF has one more, the end state shown first
/// ([`evolution_frames`]). A lecture run's 51 snapshots (every 30 steps) give every other
/// one, 26 frames 60 steps apart, and 27 in the GIF.
pub const MAX_GIF_FRAMES: usize = 26;

/// How long each frame of an evolution GIF is shown, in milliseconds.
pub const GIF_FRAME_MS: u32 = 250;

/// How long the first frame of an evolution GIF (the end state) is shown before the
/// evolution starts, in milliseconds.
pub const GIF_FIRST_MS: u32 = 1000;

/// How long the last frame of an evolution GIF (the end state again) is held, in
/// milliseconds.
pub const GIF_HOLD_MS: u32 = 2500;

/// Width and height of one panel of an evolution GIF, in pixels: two side by side with the
/// legend strip under them make 1180 x 510, which a 1280 x 720 slide shows at its own size.
pub const GIF_PANEL: (u32, u32) = (590, 470);

/// Which of `n` snapshots an evolution GIF shows from the start to the end: every k-th,
/// k as small as keeps at most [`MAX_GIF_FRAMES`], and always the last one.
pub fn evolution_snapshots(n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let k = (1..n.max(2)).find(|&k| (n - 1).div_ceil(k) < MAX_GIF_FRAMES).unwrap_or(n - 1).max(1);
    (0..n).filter(|i| i % k == 0 || i + 1 == n).collect()
}

/// The number of frames of the evolution GIF of runs with `n_snapshots` snapshots each:
/// the end state first, then [`evolution_snapshots`] from the start to the end (0 for no
/// snapshots). 27 for the lecture runs' 51.
pub fn evolution_frames(n_snapshots: usize) -> usize {
    match evolution_snapshots(n_snapshots).len() {
        0 => 0,
        k => k + 1,
    }
}

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
            (Curve::Loss, LossKind::Original { .. } | LossKind::Modified) => ": plain loss",
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

/// The evolution GIF of a single run (as [`evolution_animation`] with one panel), written
/// to `path`. Returns `false` when the run has no snapshots.
///
/// # Errors
/// Read or drawing errors.
pub fn evolution_gif(run: &SavedRun, path: &Path) -> Result<bool> {
    if run.files.read_snapshots()?.is_empty() {
        return Ok(false);
    }
    evolution_animation(std::slice::from_ref(run), path)?;
    Ok(true)
}

/// Where the panel of run `i` of `n` sits, for the description: "left", "right", ….
fn panel_place(i: usize, n: usize) -> String {
    match (n, i) {
        (1, _) => String::new(),
        (_, 0) => " (left)".into(),
        (2, _) => " (right)".into(),
        (3, 1) => " (middle)".into(),
        (_, i) if i + 1 == n => " (right)".into(),
        (_, i) => format!(" (panel {})", i + 1),
    }
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

/// The evolution GIF of several runs side by side, written to `path` (atomically) and
/// returned for showing inline (as an HTML image, which slide decks keep), e.g. modified
/// softmax and A-Softmax: `evolution_animation(&[modified, angular], path)`.
///
/// Each frame shows every run's snapshot of the same step (the embeddings of its
/// `snapshot_images` test images) projected onto the unit circle (2-D) or sphere (3-D), one
/// panel per run in the order given ([`GIF_PANEL`] pixels each), titled with the run's loss
/// and the step; one digit legend under the panels serves them all, and one palette all
/// frames. The first frame is the end state, titled "step N (end)", so that every still of
/// the GIF (a slide's screenshot or PDF export, a viewer showing frame 0) shows where
/// training ends; it is shown [`GIF_FIRST_MS`]. Then the snapshots from the start to the end
/// ([`evolution_snapshots`]), [`GIF_FRAME_MS`] each, the last one (the same picture as the
/// first) held [`GIF_HOLD_MS`]. [`evolution_frames`] gives the number of frames
/// ([`Animation::frames`] counts them in the GIF).
///
/// The [`Animation`] carries the size of its smallest text in GIF pixels (`font_px`; the GIF
/// is shown at its own size) and a description of what it shows (`alt`).
///
/// # Errors
/// [`Error::Config`] for no runs, runs of different dimensions, a run without snapshots
/// (only runs with `snapshot_every` set, such as the quick and lecture protocols', have
/// them), or runs whose snapshots are of different steps (the panels of a frame must show
/// the same step); read or drawing errors.
pub fn evolution_animation(runs: &[SavedRun], path: &Path) -> Result<Animation> {
    let first = runs.first().ok_or_else(|| Error::Config("no runs to animate".into()))?;
    let dim = first.config.dim;
    let name = |r: &SavedRun| r.dir().display().to_string();
    if let Some(r) = runs.iter().find(|r| r.config.dim != dim) {
        return Err(Error::Config(format!("{} is {}-D but {} is {dim}-D: the panels of an evolution GIF share one dimension", name(r), r.config.dim, name(first))));
    }
    let data = runs.iter().map(|r| r.files.read_snapshots()).collect::<Result<Vec<_>>>()?;
    for (r, d) in runs.iter().zip(&data) {
        if d.is_empty() {
            return Err(Error::Config(format!("{} has no snapshots/ to animate (train with snapshot_every set, e.g. the lecture protocol)", name(r))));
        }
    }
    let steps: Vec<Vec<u64>> = data.iter().map(|d| d.iter().map(|(s, _)| *s).collect()).collect();
    for (r, st) in runs.iter().zip(&steps).skip(1) {
        if *st != steps[0] {
            let show = |v: &[u64]| format!("{} snapshots, steps {}..={}", v.len(), v[0], v[v.len() - 1]);
            let at = st.iter().zip(&steps[0]).position(|(a, b)| a != b).unwrap_or(st.len().min(steps[0].len()));
            return Err(Error::Config(format!(
                "{} has {} but {} has {} (they first differ at snapshot {at}): the panels of a frame must show the same step",
                name(r),
                show(st),
                name(first),
                show(&steps[0])
            )));
        }
    }
    let steps = &steps[0];
    let last = steps.len() - 1;
    let end = steps[last];
    let labels: Vec<String> = runs.iter().map(|r| head_title(&r.config.head)).collect();
    let frame = |i: usize, delay_ms: u32| -> PanelFrame<'_> {
        let when = if i == last { format!("step {end} (end)") } else { format!("step {}", steps[i]) };
        PanelFrame {
            panels: data.iter().map(|d| { let e = &d[i].1; Embeddings { dim: e.dim, values: &e.values, labels: &e.labels, directions: &[] } }).collect(),
            titles: labels.iter().map(|l| format!("{l} — {when}")).collect(),
            delay_ms,
        }
    };
    let shown = evolution_snapshots(steps.len());
    let mut frames = vec![frame(last, GIF_FIRST_MS)];
    frames.extend(shown.iter().map(|&i| frame(i, if i == last { GIF_HOLD_MS } else { GIF_FRAME_MS })));
    let (width, height) = GIF_PANEL;
    let opts = ScatterOptions { normalize: true, width, height, ..ScatterOptions::default() };
    let anim = scatter_panels_gif(&frames, &opts, path).map_err(plot_err)?;

    let n = runs.len();
    let runs_text: Vec<String> = labels.iter().enumerate().map(|(i, l)| format!("{l}{}", panel_place(i, n))).collect();
    let runs_text = match runs_text.as_slice() {
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => String::new(),
    };
    let mut images: Vec<usize> = data.iter().map(|d| d[last].1.labels.len()).collect();
    images.dedup();
    let images = match images.as_slice() {
        [one] => one.to_string(),
        more => format!("{}–{}", more.iter().min().unwrap_or(&0), more.iter().max().unwrap_or(&0)),
    };
    let surface = if dim == 2 { "circle" } else { "sphere" };
    let spacing = match shown.as_slice() {
        [a, b, ..] => format!(", every {} steps", steps[*b] - steps[*a]),
        _ => String::new(),
    };
    let alt = format!(
        "Animation, {dim}-D, {} frames: the embeddings of {images} test images projected onto the unit {surface}, for {runs_text}, coloured by digit, at {} training steps from {} to {end}{spacing}. The first frame shows the end (step {end}); the last, the end again, is held {:.1} s.",
        frames.len(),
        shown.len(),
        steps[0],
        f64::from(GIF_HOLD_MS) / 1000.0
    );
    Ok(anim.with_alt(alt))
}

/// Draws every figure of the runs under `root` into `root/figures/` (SVG and the 2x PNG;
/// GIFs for runs with snapshots: one per run, and `evolution-d{2,3}.gif` with modified
/// softmax and A-Softmax side by side) and returns the files written.
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
    // Modified softmax against A-Softmax, where both runs have snapshots of the same steps.
    for dim in [2, 3] {
        let pair = select(&runs, &["modified", "angular"], dim);
        let steps = |r: &SavedRun| r.files.read_snapshots().map(|s| s.iter().map(|(step, _)| *step).collect::<Vec<_>>());
        let same = match pair.as_slice() {
            [a, b] => {
                let sa = steps(a)?;
                !sa.is_empty() && sa == steps(b)?
            }
            _ => false,
        };
        if same {
            let path = out.join(format!("evolution-d{dim}.gif"));
            evolution_animation(&pair, &path)?;
            written.push(path);
        }
    }
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
        let err = evolution_animation(&runs[..1], &root.path().join("a.gif")).unwrap_err().to_string();
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
        assert_eq!(kept_indices(7, 25), (0..7).collect::<Vec<_>>());
        assert_eq!(kept_indices(50, 25).len(), 26);
    }

    /// Snapshots of a fake run at `steps`: 20 points of 3-D embeddings, turning with the step.
    fn fake_snapshots(root: &Path, name: &str, steps: &[u64]) {
        let files = crate::train::RunFiles::new(root.join(name));
        for &step in steps {
            let t = step as f32 * 0.05;
            let values: Vec<f32> = (0..20 * 3).map(|i| (i as f32 * 0.9 + t * (1 + i % 3) as f32).sin() + 0.1).collect();
            let labels: Vec<u8> = (0..20u8).map(|i| i % 10).collect();
            files.write_snapshot(step, &crate::train::EmbeddingSet { dim: 3, values, labels }).unwrap();
        }
    }

    #[test]
    fn evolution_frames_thin_the_snapshots_evenly() {
        let lecture = evolution_snapshots(51);
        assert_eq!(lecture, (0..51).step_by(2).collect::<Vec<_>>(), "every other one of a lecture run's");
        assert_eq!((lecture.len(), evolution_frames(51)), (MAX_GIF_FRAMES, MAX_GIF_FRAMES + 1));
        assert_eq!(evolution_snapshots(26), (0..26).collect::<Vec<_>>());
        let odd = evolution_snapshots(28);
        assert_eq!((odd.len(), odd[1], odd[odd.len() - 2], odd[odd.len() - 1]), (15, 2, 26, 27), "{odd:?}");
        for n in 1..200 {
            let s = evolution_snapshots(n);
            assert!(s.len() <= MAX_GIF_FRAMES && s[0] == 0 && s[s.len() - 1] == n - 1, "{n}: {s:?}");
            assert_eq!(evolution_frames(n), s.len() + 1);
        }
        assert_eq!((evolution_snapshots(0), evolution_frames(0)), (vec![], 0));
        assert_eq!(evolution_frames(1), 2);
    }

    #[test]
    fn evolution_animation_puts_runs_side_by_side_and_the_end_first() {
        use crate::model::{LambdaSchedule, LossKind};
        let root = tempfile::tempdir().unwrap();
        let angular = LossKind::angular(4, LambdaSchedule::none()).unwrap();
        fake_run(root.path(), LossKind::Modified, 3, 0.9);
        fake_run(root.path(), angular, 3, 0.95);
        fake_snapshots(root.path(), "modified-d3", &[0, 10, 20]);
        fake_snapshots(root.path(), "angular-d3", &[0, 10, 20]);
        let runs = saved_runs(root.path()).unwrap();
        let pair = [find_run(&runs, "modified", 3).unwrap(), find_run(&runs, "angular", 3).unwrap()];
        let path = root.path().join("figures/evolution.gif");
        let anim = evolution_animation(&pair, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), anim.gif);
        assert_eq!((anim.width, anim.height), (2 * GIF_PANEL.0, GIF_PANEL.1 + 40));
        assert!(anim.width <= 1200 && anim.height <= 520, "fits a 1280 x 720 slide at its own size");
        assert!(anim.font_px.is_finite() && anim.font_px >= 15.0, "{}", anim.font_px);
        // The end first, then every snapshot, the last (the end again) held.
        assert_eq!(anim.frames(), evolution_frames(3));
        let (_, _, shown) = crate::viz::shown_frames(&anim.gif);
        let delays: Vec<u16> = shown.iter().map(|(_, d)| *d).collect();
        let cs = |ms: u32| u16::try_from(ms / 10).unwrap();
        assert_eq!(delays, [cs(GIF_FIRST_MS), cs(GIF_FRAME_MS), cs(GIF_FRAME_MS), cs(GIF_HOLD_MS)]);
        assert!(delays[..3].iter().all(|&d| d < delays[3]));
        assert_eq!(shown[0].0, shown[3].0, "frame 0 is the last frame");
        assert_ne!(shown[0].0, shown[1].0);
        assert_ne!(shown[1].0, shown[2].0);
        for want in ["3-D, 4 frames", "20 test images", "unit sphere", "modified softmax (left)", "A-Softmax, m = 4 (right)", "3 training steps from 0 to 20, every 10 steps", "first frame shows the end (step 20)"] {
            assert!(anim.alt.contains(want), "{want:?} not in {:?}", anim.alt);
        }
        // One run alone: evolution_gif, for draw_all.
        assert!(evolution_gif(&pair[1], &root.path().join("one.gif")).unwrap());
        let one = crate::viz::Animation::from_file(&root.path().join("one.gif")).unwrap();
        assert_eq!((one.width, one.frames()), (GIF_PANEL.0, 4));
    }

    #[test]
    fn evolution_animation_refuses_runs_that_do_not_match() {
        use crate::model::{LambdaSchedule, LossKind};
        let root = tempfile::tempdir().unwrap();
        fake_run(root.path(), LossKind::Modified, 3, 0.9);
        fake_run(root.path(), LossKind::angular(4, LambdaSchedule::none()).unwrap(), 3, 0.95);
        fake_run(root.path(), LossKind::Modified, 2, 0.9);
        fake_snapshots(root.path(), "modified-d3", &[0, 10, 20]);
        fake_snapshots(root.path(), "angular-d3", &[0, 10, 30]);
        let runs = saved_runs(root.path()).unwrap();
        let m3 = find_run(&runs, "modified", 3).unwrap();
        let a3 = find_run(&runs, "angular", 3).unwrap();
        let m2 = find_run(&runs, "modified", 2).unwrap();
        let path = root.path().join("bad.gif");
        let err = |runs: &[SavedRun]| evolution_animation(runs, &path).unwrap_err().to_string();
        let e = err(&[m3.clone(), a3.clone()]);
        assert!(e.contains("angular-d3 has 3 snapshots, steps 0..=30") && e.contains("modified-d3 has 3 snapshots, steps 0..=20") && e.contains("first differ at snapshot 2") && e.contains("same step"), "{e}");
        let e = err(&[m3.clone(), m2.clone()]);
        assert!(e.contains("modified-d2 is 2-D") && e.contains("share one dimension"), "{e}");
        assert!(err(&[]).contains("no runs"));
        assert!(err(&[m2]).contains("no snapshots"));
        assert!(!path.exists());
        assert!(!evolution_gif(&find_run(&runs, "modified", 2).unwrap(), &path).unwrap());
    }

    /// The GIF of notebook 4 from the committed lecture runs (about a second), with its first,
    /// second and middle frames as PNG, into `target/plot-examples/` to look at: sized for a
    /// slide, small enough to carry inline.
    #[test]
    fn lecture_evolution_gif() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lecture");
        let runs = saved_runs(&root).unwrap();
        let pair = [find_run(&runs, "modified", 3).unwrap(), find_run(&runs, "angular", 3).unwrap()];
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plot-examples");
        let anim = evolution_animation(&pair, &out.join("04-evolution.gif")).unwrap();
        println!("{}x{}, {} bytes, {} frames, font {} px\n{}", anim.width, anim.height, anim.gif.len(), anim.frames(), anim.font_px, anim.alt);
        assert_eq!(anim.frames(), evolution_frames(51));
        assert_eq!(evolution_frames(51), 27);
        assert!(anim.font_px >= 15.0 && anim.width <= 1200 && anim.height <= 520, "{anim:?}");
        assert!(anim.gif.len() <= 1_500_000, "{} bytes", anim.gif.len());
        let (w, h, shown) = crate::viz::shown_frames(&anim.gif);
        for i in [0, 1, 13] {
            let png = out.join(format!("04-evolution-frame{i}.png"));
            image::save_buffer(png, &shown[i].0, w.into(), h.into(), image::ColorType::Rgb8).unwrap();
        }
    }

    #[test]
    fn draw_all_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(draw_all(dir.path()).unwrap_err().to_string().contains("no finished runs"));
    }
}
