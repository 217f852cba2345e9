//! The figures of a results directory (as written by `sphereface reproduce`), drawn from the
//! saved files without retraining: test embeddings per run (raw and projected onto the unit
//! circle/sphere; 3-D from two viewpoints), training loss and accuracy curves of the three
//! losses on shared axes, ψ(θ) against cos θ, and the evolution GIF from the snapshots.

use std::path::{Path, PathBuf};

use crate::heads::psi;
use crate::plot::{lines, scatter, scatter_gif, Embeddings, Figure, LineOptions, ScatterOptions, Series};
use crate::train::{parse_history_csv, Metrics, TrainConfig, CONFIG_FILE, EMBEDDINGS_FILE, HISTORY_FILE, METRICS_FILE, SNAPSHOT_DIR};
use crate::{Error, Result};

/// Steps averaged in the training curves (per-batch values are noisy).
pub const CURVE_SMOOTHING: usize = 20;

/// A finished run read back from its directory.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// Its directory.
    pub dir: PathBuf,
    /// Its configuration.
    pub config: TrainConfig,
    /// Its metrics.
    pub metrics: Metrics,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

fn plot_err(e: crate::plot::PlotError) -> Error {
    Error::Plot(e.to_string())
}

/// The finished runs (directories holding `config.json` and `metrics.json`) under `root`,
/// sorted by dimension, then original, modified, angular.
///
/// # Errors
/// [`Error::Io`] if `root` cannot be read, [`Error::Config`] for unreadable JSON.
pub fn saved_runs(root: &Path) -> Result<Vec<SavedRun>> {
    let entries = std::fs::read_dir(root).map_err(|source| Error::Io { path: root.to_path_buf(), source })?;
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join(METRICS_FILE).exists() || !dir.join(CONFIG_FILE).exists() {
            continue;
        }
        let parse = |f: &str| -> Result<serde_json::Value> {
            serde_json::from_str(&read(&dir.join(f))?).map_err(|e| Error::Config(format!("{}: {e}", dir.join(f).display())))
        };
        let config: TrainConfig = serde_json::from_value(parse(CONFIG_FILE)?).map_err(|e| Error::Config(format!("{}: {e}", dir.join(CONFIG_FILE).display())))?;
        let metrics: Metrics = serde_json::from_value(parse(METRICS_FILE)?).map_err(|e| Error::Config(format!("{}: {e}", dir.join(METRICS_FILE).display())))?;
        runs.push(SavedRun { dir, config, metrics });
    }
    let order = |r: &SavedRun| (r.config.dim, ["original", "modified", "angular"].iter().position(|n| *n == r.config.head.name()).unwrap_or(3));
    runs.sort_by_key(order);
    Ok(runs)
}

/// Reads an embeddings CSV (`x1,..,xd,label`): (d, values, labels).
///
/// # Errors
/// [`Error::Config`] naming the file and line.
pub fn read_embeddings(path: &Path) -> Result<(usize, Vec<f32>, Vec<u8>)> {
    let text = read(path)?;
    let mut lines = text.lines();
    let dim = lines.next().map(|h| h.split(',').count().saturating_sub(1)).unwrap_or(0);
    if dim == 0 {
        return Err(Error::Config(format!("{}: no header x1,..,xd,label", path.display())));
    }
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let bad = || Error::Config(format!("{}: line {} is not {dim} numbers and a label", path.display(), i + 2));
        if f.len() != dim + 1 {
            return Err(bad());
        }
        for v in &f[..dim] {
            values.push(v.parse::<f32>().map_err(|_| bad())?);
        }
        labels.push(f[dim].parse::<u8>().map_err(|_| bad())?);
    }
    Ok((dim, values, labels))
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
    format!("{loss} softmax")
}

/// Embedding scatter of a saved run: raw or on the unit circle/sphere, at a view (yaw, pitch).
///
/// # Errors
/// Read or drawing errors.
pub fn embedding_figure(run: &SavedRun, normalize: bool, view: (f64, f64)) -> Result<Figure> {
    let (dim, values, labels) = read_embeddings(&run.dir.join(EMBEDDINGS_FILE))?;
    let title = format!(
        "{}-D {} (test acc {:.4}){}",
        dim,
        pretty(run.config.head.name()),
        run.metrics.test_acc,
        if normalize { ", normalised" } else { "" }
    );
    let opts = ScatterOptions { title, normalize, yaw: view.0, pitch: view.1, ..ScatterOptions::default() };
    scatter(&Embeddings { dim, values: &values, labels: &labels }, &opts).map_err(plot_err)
}

/// Training loss or accuracy of several runs on shared axes (moving average of
/// [`CURVE_SMOOTHING`] steps), each legend entry with its test accuracy.
///
/// # Errors
/// Read or drawing errors.
pub fn curves_figure(runs: &[&SavedRun], accuracy: bool) -> Result<Figure> {
    let mut series = Vec::new();
    for run in runs {
        let hist = parse_history_csv(&read(&run.dir.join(HISTORY_FILE))?).map_err(|m| Error::Config(format!("{}: {m}", run.dir.join(HISTORY_FILE).display())))?;
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
    let dir = run.dir.join(SNAPSHOT_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(false) };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "csv")).collect();
    files.sort();
    if files.is_empty() {
        return Ok(false);
    }
    let mut data = Vec::new();
    for f in &files {
        let step = f.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("step-")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        data.push((read_embeddings(f)?, step));
    }
    let frames: Vec<(Embeddings, String)> = data.iter().map(|((dim, v, l), step)| (Embeddings { dim: *dim, values: v, labels: l }, format!("step {step}"))).collect();
    let opts = ScatterOptions { title: format!("{}-D {}", run.config.dim, pretty(run.config.head.name())), ..ScatterOptions::default() };
    scatter_gif(&frames, &opts, 300, path).map_err(plot_err)?;
    Ok(true)
}

/// Second 3-D viewpoint (yaw, pitch), looking from the other side and from above.
pub const VIEW_2: (f64, f64) = (2.4, 0.9);

/// Draws every figure of the runs under `root` into `root/figures/` (SVG and PNG; GIFs for
/// runs with snapshots) and returns the files written.
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
    let default_view = (ScatterOptions::default().yaw, ScatterOptions::default().pitch);
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
        let group: Vec<&SavedRun> = runs.iter().filter(|r| r.config.dim == dim).collect();
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
    fn embeddings_csv_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.csv");
        std::fs::write(&p, crate::train::embeddings_csv(3, &[0.5, -1.0, 2.0, 1.0, 0.0, 0.25], &[7, 2])).unwrap();
        assert_eq!(read_embeddings(&p).unwrap(), (3, vec![0.5, -1.0, 2.0, 1.0, 0.0, 0.25], vec![7, 2]));
        std::fs::write(&p, "x1,x2,label\n1,2,3\n1,oops,3\n").unwrap();
        assert!(read_embeddings(&p).unwrap_err().to_string().contains("line 3"));
    }

    #[test]
    fn psi_figure_draws() {
        let fig = psi_figure().unwrap();
        assert!(fig.svg.contains("<svg") && fig.svg.contains("m = 4"));
        assert!(fig.png.starts_with(&[0x89, b'P', b'N', b'G']));
    }

    #[test]
    fn draw_all_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(draw_all(dir.path()).unwrap_err().to_string().contains("no finished runs"));
    }
}
