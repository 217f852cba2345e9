//! What a run leaves on disk, and the only place that knows the file names and formats:
//!
//! | file | content |
//! |---|---|
//! | `config.json` | the [`TrainConfig`], written first |
//! | `history.csv` | one [`StepRecord`] per step (`step,loss,acc,margin_acc,lambda,lr`) |
//! | `metrics.json` | the [`Metrics`] of the finished run, the machine's CPU ([`cpu_description`]) and the convolution route |
//! | `embeddings.csv` | test embeddings and labels (`x1,..,xd,label`; an open-set run: every test image, known or not) |
//! | `head.json` | the trained class weights ([`HeadWeights`]) |
//! | `snapshots/step-NNNNNN.csv` | embeddings of the first test images during training |
//! | `checkpoint.bin` | parameters and optimizer state ([`super::checkpoint`]), not committed |
//!
//! Every file is written atomically ([`crate::io::write_atomic`]). The CSV files are read
//! back plain or gzip-compressed (`history.csv.gz`, `embeddings.csv.gz`: how committed
//! results keep the repository light).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::model::LossKind;
use crate::{Error, Result};

const CONFIG: &str = "config.json";
const HISTORY: &str = "history.csv";
const METRICS: &str = "metrics.json";
const EMBEDDINGS: &str = "embeddings.csv";
const HEAD: &str = "head.json";
const SNAPSHOTS: &str = "snapshots";
const CHECKPOINT: &str = "checkpoint.bin";

/// One optimizer step, as logged. The values are kept to f32 precision (what training
/// computes; the learning rate and λ used are the f64 values of the schedules), so that
/// `history.csv` stays short and reads back exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step index (0-based).
    pub step: u64,
    /// Training loss of the batch (on the margin logits).
    #[serde(serialize_with = "as_f32", deserialize_with = "from_f32")]
    pub loss: f64,
    /// Batch accuracy without the margin.
    #[serde(serialize_with = "as_f32", deserialize_with = "from_f32")]
    pub acc: f64,
    /// Batch accuracy on the margin logits (the seed's "accuracy" for A-Softmax).
    #[serde(serialize_with = "as_f32", deserialize_with = "from_f32")]
    pub margin_acc: f64,
    /// λ used at this step (0 for the non-angular heads).
    #[serde(serialize_with = "as_f32", deserialize_with = "from_f32")]
    pub lambda: f64,
    /// Learning rate used at this step.
    #[serde(serialize_with = "as_f32", deserialize_with = "from_f32")]
    pub lr: f64,
}

impl StepRecord {
    /// A record with its values rounded to f32, as they are written and read back.
    pub fn new(step: u64, loss: f64, acc: f64, margin_acc: f64, lambda: f64, lr: f64) -> Self {
        let r = |v: f64| v as f32 as f64;
        StepRecord { step, loss: r(loss), acc: r(acc), margin_acc: r(margin_acc), lambda: r(lambda), lr: r(lr) }
    }
}

/// Reads a number back through f32 (files written before records were f32 read back
/// rounded, as a new record would be).
fn from_f32<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(f32::deserialize(d)? as f64)
}

/// Writes an f64 as the shortest decimal that reads back as the same f32.
fn as_f32<S: serde::Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f32(*v as f32)
}

/// What a finished run reports (`metrics.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Run label, e.g. `angular-m4-d2`.
    pub label: String,
    /// Test accuracy without the margin (the honest number).
    pub test_acc: f64,
    /// Test accuracy on the margin logits.
    pub test_acc_margin: f64,
    /// Mean test loss.
    pub test_loss: f64,
    /// Accuracy on the validation split (its first `test_subset` images when that is set).
    pub val_acc: Option<f64>,
    /// Number of test images evaluated.
    pub test_images: usize,
    /// Steps trained.
    pub steps: u64,
    /// Wall-clock seconds spent in training steps (this process and resumed ones).
    pub train_seconds: f64,
    /// Training throughput.
    pub images_per_second: f64,
    /// Loss of the last training step.
    pub final_train_loss: f64,
    /// Device name (`cpu` or `cuda`).
    pub device: String,
    /// Worker threads of the CPU kernels.
    pub threads: usize,
}

/// `metrics.json` as written: the [`Metrics`] and, beside them, the machine.
#[derive(Serialize)]
struct MetricsFile<'a> {
    #[serde(flatten)]
    metrics: &'a Metrics,
    cpu: String,
    /// The convolution route ([`crate::model::conv_route_on`]): the direct kernels
    /// and im2col sum in different orders, so runs agree across routes only to rounding.
    conv: String,
}

/// The machine field of `metrics.json`, read alone (older files lack it).
#[derive(Deserialize)]
struct Machine {
    #[serde(default = "not_recorded")]
    cpu: String,
}

fn not_recorded() -> String {
    "not recorded".into()
}

/// The CPU this process runs on, as `metrics.json` records it: the model name from
/// `/proc/cpuinfo` and which of AVX2 and AVX-512F it has, e.g. `"Intel Xeon Processor
/// (avx2, avx512f)"`; `"unknown"` where `/proc/cpuinfo` cannot be read (not Linux).
pub fn cpu_description() -> String {
    std::fs::read_to_string("/proc/cpuinfo").map(|t| describe_cpu(&t)).unwrap_or_else(|_| "unknown".into())
}

/// The time now in UTC as `YYYY-MM-DDTHH:MM:SSZ`, for records (`reproduce.json`).
pub fn utc_now() -> String {
    utc_string(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (days to a civil date by H. Hinnant's algorithm).
fn utc_string(unix: u64) -> String {
    let (days, s) = (unix / 86_400, unix % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", s / 3_600, s % 3_600 / 60, s % 60)
}

/// [`cpu_description`] of a `/proc/cpuinfo` text (its first processor's lines).
fn describe_cpu(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let model = field("model name").filter(|m| !m.is_empty()).unwrap_or_else(|| "unknown".into());
    let flags = field("flags").unwrap_or_default();
    let has: Vec<&str> = ["avx2", "avx512f"].into_iter().filter(|f| flags.split_whitespace().any(|g| g == *f)).collect();
    if has.is_empty() {
        format!("{model} (no avx2, no avx512f)")
    } else {
        format!("{model} ({})", has.join(", "))
    }
}

/// The class weights of a trained head (`head.json`), for drawing the class directions and
/// measuring angles without the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadWeights {
    /// The head's loss and settings.
    pub kind: LossKind,
    /// Embedding dimension d.
    pub dim: usize,
    /// w_1..w_C, one row of d values per class.
    pub weights: Vec<Vec<f64>>,
    /// b_1..b_C (original softmax with bias only).
    pub bias: Option<Vec<f64>>,
}

/// Embeddings with their labels: `values` is `[n, dim]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingSet {
    /// Coordinates per point.
    pub dim: usize,
    /// `labels.len() · dim` values.
    pub values: Vec<f32>,
    /// One label per point.
    pub labels: Vec<u8>,
}

/// The files of one run directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFiles {
    dir: PathBuf,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

pub(crate) fn bad(path: &Path, m: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {m}", path.display()))
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::io::write_atomic(path, bytes).map_err(io_err(path))
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| bad(path, e))?;
    write(path, text.as_bytes())
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| bad(path, e))
}

/// The text of `path`, or of `path.gz` (decompressed) when only that exists.
pub(crate) fn read_text(path: &Path) -> Result<(PathBuf, String)> {
    if path.exists() {
        return Ok((path.to_path_buf(), std::fs::read_to_string(path).map_err(io_err(path))?));
    }
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    if !gz.exists() {
        // Name the plain file in the error: it is the one a run writes.
        return Err(Error::Io { path: path.to_path_buf(), source: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    let file = std::fs::File::open(&gz).map_err(io_err(&gz))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).map_err(io_err(&gz))?;
    Ok((gz, text))
}

impl EmbeddingSet {
    /// The points whose label passes `keep`, in their order.
    pub fn only(&self, keep: impl Fn(u8) -> bool) -> EmbeddingSet {
        self.rows(&(0..self.labels.len()).filter(|&i| keep(self.labels[i])).collect::<Vec<_>>())
    }

    /// The points `rows` (indices, in that order).
    ///
    /// # Panics
    /// If an index is past the points (a programmer error).
    pub fn rows(&self, rows: &[usize]) -> EmbeddingSet {
        let d = self.dim;
        EmbeddingSet { dim: d, values: rows.iter().flat_map(|&i| self.values[i * d..(i + 1) * d].iter().copied()).collect(), labels: rows.iter().map(|&i| self.labels[i]).collect() }
    }

    /// The CSV text: header `x1,..,xd,label`, then one row per point (values as Rust's
    /// shortest `f32` display, which reads back exactly).
    fn to_csv(&self) -> Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = (1..=self.dim).map(|i| format!("x{i}")).collect();
        header.push("label".into());
        let csv_err = |e: csv::Error| Error::Config(format!("embeddings CSV: {e}"));
        w.write_record(&header).map_err(csv_err)?;
        for (row, l) in self.values.chunks(self.dim.max(1)).zip(&self.labels) {
            let mut rec: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            rec.push(l.to_string());
            w.write_record(&rec).map_err(csv_err)?;
        }
        w.into_inner().map_err(|e| Error::Config(format!("embeddings CSV: {e}")))
    }

    /// Parses [`EmbeddingSet::to_csv`]'s text; `path` names the file in errors.
    fn from_csv(text: &str, path: &Path) -> Result<Self> {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let dim = r.headers().map_err(|e| bad(path, e))?.len().saturating_sub(1);
        if dim == 0 {
            return Err(bad(path, "no header x1,..,xd,label"));
        }
        let (mut values, mut labels) = (Vec::new(), Vec::new());
        for (i, rec) in r.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| bad(path, format!("line {line}: {e}")))?;
            let row_err = || bad(path, format!("line {line} is not {dim} numbers and a label"));
            if rec.len() != dim + 1 {
                return Err(row_err());
            }
            for v in rec.iter().take(dim) {
                values.push(v.parse::<f32>().map_err(|_| row_err())?);
            }
            labels.push(rec[dim].parse::<u8>().map_err(|_| row_err())?);
        }
        Ok(EmbeddingSet { dim, values, labels })
    }
}

impl RunFiles {
    /// The files of the run directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunFiles { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn checkpoint_path(&self) -> PathBuf {
        self.dir.join(CHECKPOINT)
    }

    /// Whether a checkpoint is there (runs in a fresh clone have none).
    pub fn has_checkpoint(&self) -> bool {
        self.checkpoint_path().exists()
    }

    /// Whether the directory holds a run, finished or not.
    pub fn has_run(&self) -> bool {
        self.dir.join(CONFIG).exists() || self.has_checkpoint()
    }

    /// Whether the run finished (its configuration and metrics are there).
    pub fn is_finished(&self) -> bool {
        self.dir.join(CONFIG).exists() && self.dir.join(METRICS).exists()
    }

    /// Writes `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_config(&self, cfg: &TrainConfig) -> Result<()> {
        write_json(&self.dir.join(CONFIG), cfg)
    }

    /// Reads and validates `config.json`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::Config`] if it is not a valid configuration.
    pub fn read_config(&self) -> Result<TrainConfig> {
        let cfg: TrainConfig = read_json(&self.dir.join(CONFIG))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Writes `history.csv`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_history(&self, history: &[StepRecord]) -> Result<()> {
        let path = self.dir.join(HISTORY);
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in history {
            w.serialize(r).map_err(|e| bad(&path, e))?;
        }
        if history.is_empty() {
            w.write_record(["step", "loss", "acc", "margin_acc", "lambda", "lr"]).map_err(|e| bad(&path, e))?;
        }
        let bytes = w.into_inner().map_err(|e| bad(&path, e))?;
        write(&path, &bytes)
    }

    /// Reads `history.csv` (or `history.csv.gz`).
    ///
    /// # Errors
    /// [`Error::Io`] if neither exists, [`Error::Config`] naming the bad line.
    pub fn read_history(&self) -> Result<Vec<StepRecord>> {
        let (path, text) = read_text(&self.dir.join(HISTORY))?;
        let mut r = csv::Reader::from_reader(text.as_bytes());
        r.deserialize().enumerate().map(|(i, rec)| rec.map_err(|e| bad(&path, format!("line {}: {e}", i + 2)))).collect()
    }

    /// Writes `metrics.json`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_metrics(&self, metrics: &Metrics) -> Result<()> {
        write_json(&self.dir.join(METRICS), &MetricsFile { metrics, cpu: cpu_description(), conv: crate::model::conv_route_on(&metrics.device) })
    }

    /// The CPU that `metrics.json` says the run trained on ([`cpu_description`]);
    /// `"not recorded"` for files written before it was recorded.
    ///
    /// # Errors
    /// Those of [`RunFiles::read_metrics`].
    pub fn read_cpu(&self) -> Result<String> {
        read_json::<Machine>(&self.dir.join(METRICS)).map(|m| m.cpu)
    }

    /// Reads `metrics.json`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::Config`] if it is not metrics.
    pub fn read_metrics(&self) -> Result<Metrics> {
        read_json(&self.dir.join(METRICS))
    }

    /// Writes `embeddings.csv`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_embeddings(&self, emb: &EmbeddingSet) -> Result<()> {
        write(&self.dir.join(EMBEDDINGS), &emb.to_csv()?)
    }

    /// Reads `embeddings.csv` (or `embeddings.csv.gz`).
    ///
    /// # Errors
    /// [`Error::Io`] if neither exists, [`Error::Config`] naming the bad line.
    pub fn read_embeddings(&self) -> Result<EmbeddingSet> {
        let (path, text) = read_text(&self.dir.join(EMBEDDINGS))?;
        EmbeddingSet::from_csv(&text, &path)
    }

    /// Writes `head.json`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_head(&self, head: &HeadWeights) -> Result<()> {
        write_json(&self.dir.join(HEAD), head)
    }

    /// Reads `head.json`; `None` for runs made before heads were saved.
    ///
    /// # Errors
    /// [`Error::Io`] if it exists but cannot be read, [`Error::Config`] if it is not a head.
    pub fn read_head(&self) -> Result<Option<HeadWeights>> {
        let path = self.dir.join(HEAD);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Writes `snapshots/step-NNNNNN.csv`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_snapshot(&self, step: u64, emb: &EmbeddingSet) -> Result<()> {
        write(&self.dir.join(SNAPSHOTS).join(format!("step-{step:06}.csv")), &emb.to_csv()?)
    }

    /// The snapshots, by step; empty when the run saved none.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Config`] for an unreadable snapshot.
    pub fn read_snapshots(&self) -> Result<Vec<(u64, EmbeddingSet)>> {
        let dir = self.dir.join(SNAPSHOTS);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut found: Vec<(u64, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.strip_prefix("step-")?;
                let step = name.strip_suffix(".csv").or_else(|| name.strip_suffix(".csv.gz"))?.parse().ok()?;
                Some((step, p.with_extension("").with_extension("csv")))
            })
            .collect();
        found.sort();
        found.dedup_by_key(|(step, _)| *step);
        found.into_iter().map(|(step, p)| Ok((step, EmbeddingSet::from_csv(&read_text(&p)?.1, &p)?))).collect()
    }

    /// Removes the outputs of an earlier run (checkpoint, history, metrics, embeddings,
    /// head, snapshots), so that nothing stale mixes with a new run.
    ///
    /// # Errors
    /// [`Error::Io`] naming what could not be removed.
    pub fn clear_outputs(&self) -> Result<()> {
        for f in [CHECKPOINT, HISTORY, METRICS, EMBEDDINGS, HEAD] {
            let p = self.dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        let snaps = self.dir.join(SNAPSHOTS);
        if snaps.exists() {
            std::fs::remove_dir_all(&snaps).map_err(io_err(&snaps))?;
        }
        Ok(())
    }

    pub(crate) fn write_checkpoint(&self, bytes: &[u8]) -> Result<()> {
        write(&self.checkpoint_path(), bytes)
    }

    pub(crate) fn read_checkpoint(&self) -> Result<Vec<u8>> {
        let p = self.checkpoint_path();
        std::fs::read(&p).map_err(io_err(&p))
    }
}

/// A finished run read back from its directory.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// Its files.
    pub files: RunFiles,
    /// Its configuration.
    pub config: TrainConfig,
    /// Its metrics.
    pub metrics: Metrics,
}

impl SavedRun {
    /// Reads the run in `dir`.
    ///
    /// # Errors
    /// Those of [`RunFiles::read_config`] and [`RunFiles::read_metrics`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let files = RunFiles::new(dir);
        let config = files.read_config()?;
        let metrics = files.read_metrics()?;
        Ok(SavedRun { files, config, metrics })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }
}

/// The finished runs (directories holding `config.json` and `metrics.json`) under `root`,
/// sorted by dimension, then by loss ([`LossKind::order`]).
///
/// # Errors
/// [`Error::Io`] if `root` cannot be read, [`Error::Config`] for unreadable JSON.
pub fn saved_runs(root: &Path) -> Result<Vec<SavedRun>> {
    let entries = std::fs::read_dir(root).map_err(io_err(root))?;
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        if RunFiles::new(entry.path()).is_finished() {
            runs.push(SavedRun::open(entry.path())?);
        }
    }
    runs.sort_by_key(|r| (r.config.dim, r.config.head.order(), r.dir().to_path_buf()));
    Ok(runs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_strings_match_known_dates() {
        assert_eq!(super::utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc_string(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc_string(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(super::utc_string(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    use super::*;

    /// The CPU's model name and its AVX2 / AVX-512F flags, from `/proc/cpuinfo` text; a
    /// metrics.json written now carries it, and one written before reads as not recorded.
    #[test]
    fn metrics_json_names_the_cpu() {
        let xeon = "processor\t: 0\nmodel name\t: Intel Xeon Processor (Cascadelake)\nflags\t\t: fpu sse avx avx2 avx512f avx512dq\n\nprocessor\t: 1\n";
        assert_eq!(describe_cpu(xeon), "Intel Xeon Processor (Cascadelake) (avx2, avx512f)");
        let epyc = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu avx avx2 fma\n";
        assert_eq!(describe_cpu(epyc), "AMD EPYC 7B13 (avx2)");
        assert_eq!(describe_cpu("processor : 0\nflags : fp asimd\n"), "unknown (no avx2, no avx512f)");

        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles::new(dir.path());
        let m = Metrics { label: "x".into(), test_acc: 0.5, test_acc_margin: 0.5, test_loss: 1.0, val_acc: None, test_images: 4, steps: 3, train_seconds: 1.5, images_per_second: 2.0, final_train_loss: 1.0, device: "cpu".into(), threads: 1 };
        files.write_metrics(&m).unwrap();
        assert_eq!(files.read_metrics().unwrap(), m);
        assert_eq!(files.read_cpu().unwrap(), cpu_description());
        let text = std::fs::read_to_string(dir.path().join(METRICS)).unwrap();
        assert!(text.contains("\"cpu\""), "{text}");
        // a file from before the field: the metrics read as they did, the CPU as not recorded
        let old = serde_json::to_string(&m).unwrap();
        std::fs::write(dir.path().join(METRICS), old).unwrap();
        assert_eq!(files.read_metrics().unwrap(), m);
        assert_eq!(files.read_cpu().unwrap(), "not recorded");
    }

    fn gzip(path: &Path) {
        use std::io::Write as _;
        let bytes = std::fs::read(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).unwrap();
        let mut name = path.as_os_str().to_owned();
        name.push(".gz");
        std::fs::write(name, gz.finish().unwrap()).unwrap();
        std::fs::remove_file(path).unwrap();
    }

    /// History, embeddings and snapshots read back exactly what was written, plain or
    /// gzip-compressed (as the committed results are stored).
    #[test]
    fn records_round_trip_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles::new(dir.path());
        let history: Vec<StepRecord> = (0..5).map(|i| StepRecord::new(i, 2.125 / (i + 1) as f64, i as f64 / 64.0, 0.5, 1000.0 / (1.0 + 0.12 * i as f64), 3e-3 * 0.9f64.powf(i as f64 / 2000.0))).collect();
        files.write_history(&history).unwrap();
        let text = std::fs::read_to_string(dir.path().join(HISTORY)).unwrap();
        assert_eq!(text.lines().next(), Some("step,loss,acc,margin_acc,lambda,lr"));
        assert_eq!(text.lines().nth(1), Some("0,2.125,0.0,0.5,1000.0,0.003"), "f32's shortest decimals");
        let emb = EmbeddingSet { dim: 3, values: vec![0.5, -1.0, 2.0, 1e-7, 0.0, 123.456], labels: vec![7, 2] };
        files.write_embeddings(&emb).unwrap();
        files.write_snapshot(30, &emb).unwrap();
        files.write_snapshot(0, &emb).unwrap();
        for compressed in [false, true] {
            assert_eq!(files.read_history().unwrap(), history);
            assert_eq!(files.read_embeddings().unwrap(), emb);
            let snaps = files.read_snapshots().unwrap();
            assert_eq!(snaps.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [0, 30]);
            assert!(snaps.iter().all(|(_, e)| *e == emb));
            if !compressed {
                gzip(&dir.path().join(HISTORY));
                gzip(&dir.path().join(EMBEDDINGS));
                gzip(&dir.path().join(SNAPSHOTS).join("step-000030.csv"));
            }
        }
        assert!(!dir.path().join(HISTORY).exists() && dir.path().join("history.csv.gz").exists());
    }

    /// Bad files are named with the line that is wrong; a missing one names the plain file.
    #[test]
    fn bad_records_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles::new(dir.path());
        let err = files.read_history().unwrap_err().to_string();
        assert!(err.contains("history.csv") && !err.contains(".gz"), "{err}");
        std::fs::write(dir.path().join(EMBEDDINGS), "x1,x2,label\n1,2,3\n1,oops,3\n").unwrap();
        assert!(files.read_embeddings().unwrap_err().to_string().contains("line 3"));
        std::fs::write(dir.path().join(HISTORY), "step,loss,acc,margin_acc,lambda,lr\n0,1,1,1,0,0.1\nx,1,1,1,0,0.1\n").unwrap();
        assert!(files.read_history().unwrap_err().to_string().contains("line 3"));
        std::fs::write(dir.path().join(EMBEDDINGS), "label\n").unwrap();
        assert!(files.read_embeddings().unwrap_err().to_string().contains("no header"));
    }
}
