//! The results table: our honest test accuracies per loss and embedding dimension beside
//! the seed README's numbers, as CSV (`results.csv`) and Markdown (`results.md`), and, with
//! the `table` feature, as polars tables for notebooks ([`Table`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::{loss_title, LossName};
use crate::train::{Metrics, SavedRun};
use crate::{Error, Result};

mod angles;
#[cfg(feature = "table")]
mod table;

pub use angles::{angle_history, angular_separation, Separation};
#[cfg(feature = "table")]
pub use table::{accuracy_table, angles_table, openset_table, Table};

/// The seed README's test accuracies (YunYang1994/SphereFace, produced by a buggy loop
/// that trained the plain softmax graph three times; see the README).
pub const SEED_TABLE: [(&str, f64); 3] = [("original", 0.9769), ("modified", 0.9837), ("angular", 0.9902)];

/// The seed README's number for `loss`, if it has one.
pub fn seed_number(loss: &str) -> Option<f64> {
    SEED_TABLE.iter().find(|(l, _)| *l == loss).map(|(_, a)| *a)
}

/// The losses that have rows, in table order ([`LossName::ALL`], then any other name).
pub fn losses_present(rows: &[ResultRow]) -> Vec<&str> {
    let mut out: Vec<&str> = LossName::ALL.iter().map(|l| l.as_str()).filter(|l| rows.iter().any(|r| r.loss == *l)).collect();
    for r in rows {
        if !out.contains(&r.loss.as_str()) {
            out.push(&r.loss);
        }
    }
    out
}

/// One cell of the results: a loss at one embedding dimension (a line of `results.csv`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `original`, `modified`, `angular`, `cosface` or `arcface`.
    pub loss: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Our test accuracy (no margin, frozen weights, all test images).
    pub test_acc: f64,
    /// Our test accuracy on the margin logits.
    pub test_acc_margin: f64,
    /// The seed README's number for this loss (none for losses the seed did not train).
    pub seed_acc: Option<f64>,
    /// Training seconds (to 0.1 s).
    pub train_seconds: f64,
    /// Steps trained.
    pub steps: u64,
    /// Accuracy on the validation split (none for runs without one).
    #[serde(default)]
    pub val_acc: Option<f64>,
    /// Mean angle of a test embedding to its class centre, degrees ([`Separation`]).
    #[serde(default)]
    pub intra_mean_deg: Option<f64>,
    /// 95th percentile of that angle, degrees.
    #[serde(default)]
    pub intra_p95_deg: Option<f64>,
    /// Smallest angle between two class centres, degrees.
    #[serde(default)]
    pub inter_min_deg: Option<f64>,
    /// `inter_min_deg / intra_mean_deg`.
    #[serde(default)]
    pub separation: Option<f64>,
    /// The head's settings ([`crate::model::LossKind::params`], e.g. `m=4`, `s=30 m=0.1`);
    /// none in rows written before the column existed.
    #[serde(default)]
    pub params: Option<String>,
}

/// `v` rounded to `digits` decimals (tables show what was measured, not float noise).
fn round(v: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (v * k).round() / k
}

impl ResultRow {
    /// A row from a run's metrics (the training time rounded to 0.1 s), without angles.
    pub fn new(loss: &str, dim: usize, m: &Metrics) -> Self {
        ResultRow {
            loss: loss.into(),
            dim,
            test_acc: m.test_acc,
            test_acc_margin: m.test_acc_margin,
            seed_acc: seed_number(loss),
            train_seconds: round(m.train_seconds, 1),
            steps: m.steps,
            val_acc: m.val_acc,
            intra_mean_deg: None,
            intra_p95_deg: None,
            inter_min_deg: None,
            separation: None,
            params: None,
        }
    }

    /// The row of a saved run: its metrics and the angular separation of its test
    /// embeddings ([`ResultRow::with_separation`]; an open-set run's known digits only).
    ///
    /// # Errors
    /// Reading the embeddings, or [`Error::Shape`] when they cannot be measured.
    pub fn from_run(run: &SavedRun) -> Result<Self> {
        let mut emb = run.files.read_embeddings()?;
        if let Some(known) = &run.config.known {
            // An open-set run's classes are its known digits; the others have no class.
            emb = emb.only(|d| known.contains(d));
        }
        let sep = angular_separation(&emb)?;
        let row = ResultRow::new(run.config.head.name(), run.config.dim, &run.metrics).with_separation(&sep);
        Ok(ResultRow { params: Some(run.config.head.params()), ..row })
    }

    /// The row with the angles of `sep`, kept to 10⁻⁶ (degrees, and the ratio): the tables
    /// round them once, to 0.1, so a row reads the same in every table and figure.
    pub fn with_separation(self, sep: &Separation) -> Self {
        ResultRow {
            intra_mean_deg: Some(round(sep.intra_mean_deg, 6)),
            intra_p95_deg: Some(round(sep.intra_p95_deg, 6)),
            inter_min_deg: Some(round(sep.inter_min_deg, 6)),
            separation: Some(round(sep.separation, 6)),
            ..self
        }
    }
}

/// The rows of the finished runs under `root` ([`crate::train::saved_runs`] order), with
/// their angles.
///
/// # Errors
/// Reading the runs or their embeddings.
pub fn rows_of(root: &Path) -> Result<Vec<ResultRow>> {
    crate::train::saved_runs(root)?.iter().map(ResultRow::from_run).collect()
}

/// The rows as CSV, one column per [`ResultRow`] field in order: `loss,dim,test_acc,…,
/// separation,params` (angles in degrees).
///
/// # Errors
/// [`Error::Config`] if a row cannot be written (it should not).
pub fn results_csv(rows: &[ResultRow]) -> Result<Vec<u8>> {
    let csv_err = |e: csv::Error| Error::Config(format!("results CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        w.write_record(["loss", "dim", "test_acc", "test_acc_margin", "seed_acc", "train_seconds", "steps", "val_acc", "intra_mean_deg", "intra_p95_deg", "inter_min_deg", "separation", "params"])
            .map_err(csv_err)?;
    }
    for r in rows {
        w.serialize(r).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| Error::Config(format!("results CSV: {e}")))
}

/// A Markdown table: one line per loss, the seed's number, then ours for each dimension.
pub fn results_markdown(rows: &[ResultRow]) -> String {
    let mut dims: Vec<usize> = rows.iter().map(|r| r.dim).collect();
    dims.sort_unstable();
    dims.dedup();
    let mut s = String::from("| loss | seed README |");
    for d in &dims {
        s.push_str(&format!(" ours, {d}-D |"));
    }
    s.push_str("\n|---|---:|");
    for _ in &dims {
        s.push_str("---:|");
    }
    s.push('\n');
    for (label, loss, cells) in accuracy_lines(rows, &dims) {
        let seed = seed_number(loss).map_or("–".to_string(), |a| format!("{a:.4}"));
        s.push_str(&format!("| {label} | {seed} |"));
        for cell in cells {
            match cell {
                Some(r) => s.push_str(&format!(" {:.4} |", r.test_acc)),
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    if rows.iter().any(|r| r.intra_mean_deg.is_some()) {
        s.push_str(&angles_markdown(rows));
    }
    s
}

/// Whether `rows` hold `loss` more than once at one dimension (a margin sweep): then its
/// rows are told apart by their settings.
fn is_sweep(rows: &[&ResultRow], loss: &str) -> bool {
    rows.iter().any(|r| r.loss == loss && rows.iter().filter(|o| o.loss == loss && o.dim == r.dim).count() > 1)
}

/// The name of a row's loss in tables, with its settings ([`ResultRow::params`]) in a
/// margin sweep.
pub fn row_label(r: &ResultRow, rows: &[&ResultRow]) -> String {
    let title = loss_title(&r.loss);
    match r.params.as_deref() {
        Some(p) if !p.is_empty() && is_sweep(rows, &r.loss) => format!("{title} ({p})"),
        _ => title.to_string(),
    }
}

/// The lines of an accuracy table: per loss present ([`losses_present`]), and per setting
/// in a margin sweep, the label, the loss and the row at each of `dims`.
pub fn accuracy_lines<'a>(rows: &'a [ResultRow], dims: &[usize]) -> Vec<(String, &'a str, Vec<Option<&'a ResultRow>>)> {
    let all: Vec<&ResultRow> = rows.iter().collect();
    let mut out = Vec::new();
    for loss in losses_present(rows) {
        let mut settings: Vec<Option<&str>> = Vec::new();
        for r in rows.iter().filter(|r| r.loss == loss) {
            if !settings.contains(&r.params.as_deref()) {
                settings.push(r.params.as_deref());
            }
        }
        let sweep = is_sweep(&all, loss);
        for v in if sweep { settings } else { vec![None] } {
            let cells: Vec<Option<&ResultRow>> = dims.iter().map(|d| rows.iter().find(|r| r.loss == loss && r.dim == *d && (!sweep || r.params.as_deref() == v))).collect();
            let label = if sweep { cells.iter().flatten().next().map_or_else(|| loss_title(loss).to_string(), |r| row_label(r, &all)) } else { loss_title(loss).to_string() };
            out.push((label, loss, cells));
        }
    }
    out
}

/// The angular separation of each run as a Markdown table (runs without angles skipped).
pub fn angles_markdown(rows: &[ResultRow]) -> String {
    let mut s = String::from("\n| loss | dim | test acc | intra-class angle, mean | 95th percentile | closest centres | separation |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let deg = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}°"));
    let mut sorted: Vec<&ResultRow> = rows.iter().filter(|r| r.intra_mean_deg.is_some()).collect();
    sorted.sort_by_key(|r| (r.dim, LossName::parse(&r.loss).map_or(usize::MAX, |l| l as usize)));
    for r in &sorted {
        let sep = r.separation.map_or("–".to_string(), |v| format!("{v:.1}"));
        s.push_str(&format!("| {} | {} | {:.4} | {} | {} | {} | {sep} |\n", row_label(r, &sorted), r.dim, r.test_acc, deg(r.intra_mean_deg), deg(r.intra_p95_deg), deg(r.inter_min_deg)));
    }
    s
}

/// Writes `results.csv` ([`results_csv`]) and `results.md` ([`results_markdown`]) into
/// `dir` atomically (as `sphereface reproduce` does after every run).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_results(dir: &Path, rows: &[ResultRow]) -> Result<()> {
    for (name, bytes) in [("results.csv", results_csv(rows)?), ("results.md", results_markdown(rows).into_bytes())] {
        let path = dir.join(name);
        crate::io::write_atomic(&path, &bytes).map_err(|source| Error::Io { path, source })?;
    }
    Ok(())
}

/// Reads a `results.csv` (e.g. `results/quick/results.csv`).
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Config`] naming the file and the bad line.
pub fn read_results_csv(path: &Path) -> Result<Vec<ResultRow>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse_results_csv(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Parses the text of a `results.csv`; the error names the bad line.
///
/// # Errors
/// A message naming the line that is not a result row.
pub fn parse_results_csv(text: &str) -> std::result::Result<Vec<ResultRow>, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().map_err(|e| format!("line 1: {e}"))?;
    let wanted = ["loss", "dim", "test_acc", "test_acc_margin", "seed_acc", "train_seconds", "steps"];
    if !wanted.iter().all(|w| header.iter().any(|h| h == *w)) {
        return Err(format!(
            "line 1 is {:?}, not the results header ({})",
            header.iter().collect::<Vec<_>>().join(","),
            wanted.join(",")
        ));
    }
    r.deserialize()
        .enumerate()
        .map(|(i, row)| row.map_err(|e| format!("line {} is not a result row ({e})", i + 2)))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(loss: &str, dim: usize, acc: f64) -> ResultRow {
        ResultRow {
            loss: loss.into(),
            dim,
            test_acc: acc,
            test_acc_margin: acc - 0.01,
            seed_acc: seed_number(loss),
            train_seconds: 1.0,
            steps: 10,
            val_acc: Some(acc + 0.001),
            intra_mean_deg: None,
            intra_p95_deg: None,
            inter_min_deg: None,
            separation: None,
            params: None,
        }
    }

    #[test]
    fn markdown_has_one_line_per_loss_and_a_column_per_dim() {
        let md = results_markdown(&[row("original", 2, 0.95), row("angular", 3, 0.99), row("angular", 2, 0.97)]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| loss | seed README | ours, 2-D | ours, 3-D |");
        assert_eq!(lines[2], "| original softmax | 0.9769 | 0.9500 | – |");
        assert_eq!(lines[3], "| angular softmax | 0.9902 | 0.9700 | 0.9900 |");
        assert_eq!(lines.len(), 4, "no line for a loss without results");
    }

    #[test]
    fn results_csv_round_trips_and_names_bad_lines() {
        let rows = vec![row("original", 2, 0.9512), row("angular", 3, 0.9876)];
        let back = parse_results_csv(std::str::from_utf8(&results_csv(&rows).unwrap()).unwrap()).unwrap();
        assert_eq!(back, rows);
        assert!(parse_results_csv("a,b\n").unwrap_err().to_string().contains("line"));
        let err = parse_results_csv(&format!("{}original,2,x,0,0,0,1\n", String::from_utf8(results_csv(&[]).unwrap()).unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    /// The committed tables (written by the hand-made CSV writer before the `csv` crate) read back.
    #[test]
    fn committed_results_read_back() {
        let rows = parse_results_csv("loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps\noriginal,2,0.8583,0.8583,0.9769,57.4,300\n").unwrap();
        assert_eq!(
            rows,
            [ResultRow {
                loss: "original".into(),
                dim: 2,
                test_acc: 0.8583,
                test_acc_margin: 0.8583,
                seed_acc: Some(0.9769),
                train_seconds: 57.4,
                steps: 300,
                ..ResultRow::new("original", 2, &crate::train::Metrics { label: String::new(), test_acc: 0.0, test_acc_margin: 0.0, test_loss: 0.0, val_acc: None, test_images: 0, steps: 0, train_seconds: 0.0, images_per_second: 0.0, final_train_loss: 0.0, device: String::new(), threads: 1 })
            }]
        );
    }

    /// With angles, a second table gives them per run, in degrees to 0.1°.
    #[test]
    fn angles_table() {
        let mut r = row("cosface", 2, 0.98);
        (r.intra_mean_deg, r.intra_p95_deg, r.inter_min_deg, r.separation) = (Some(3.456), Some(9.0), Some(30.04), Some(8.69));
        let md = results_markdown(&[row("original", 2, 0.95), r]);
        assert!(md.contains("| CosFace | – | 0.9800 |"), "{md}");
        assert!(md.contains("| CosFace | 2 | 0.9800 | 3.5° | 9.0° | 30.0° | 8.7 |"), "{md}");
        assert!(!md.contains("| original softmax | 2 |"), "runs without angles are not in the angles table:\n{md}");
    }

    /// Rows of one loss and dimension (a margin sweep) are told apart by their settings.
    #[test]
    fn sweep_rows_carry_their_settings() {
        let sep = Separation { intra_mean_deg: 5.0, intra_p95_deg: 9.0, inter_min_deg: 30.0, separation: 6.0 };
        let at = |m: u32, acc| ResultRow { params: Some(format!("m={m}")), ..row("angular", 2, acc).with_separation(&sep) };
        let md = results_markdown(&[at(1, 0.91), at(4, 0.93), ResultRow { params: Some("s=30 m=0.1".into()), ..row("cosface", 2, 0.9).with_separation(&sep) }]);
        assert!(md.contains("| angular softmax (m=1) | 2 | 0.9100 |") && md.contains("| angular softmax (m=4) | 2 | 0.9300 |"), "{md}");
        assert!(md.contains("| CosFace | 2 | 0.9000 |"), "a loss with one row per dimension keeps its plain name:\n{md}");
        assert!(md.contains("| angular softmax (m=1) | 0.9902 | 0.9100 |\n| angular softmax (m=4) | 0.9902 | 0.9300 |\n| CosFace | – | 0.9000 |"), "{md}");
        let back = parse_results_csv(std::str::from_utf8(&results_csv(&[at(4, 0.93)]).unwrap()).unwrap()).unwrap();
        assert_eq!(back[0].params.as_deref(), Some("m=4"));
    }

    /// Angles are rounded once, by the tables: 11.0496° is 11.0°, not 11.05° and then 11.1°.
    #[test]
    fn angles_are_rounded_once() {
        let sep = Separation { intra_mean_deg: 11.049_6, intra_p95_deg: 20.049_99, inter_min_deg: 30.26, separation: 30.26 / 11.049_6 };
        let r = row("modified", 3, 0.96).with_separation(&sep);
        assert_eq!(r.intra_mean_deg, Some(11.049_6));
        let md = results_markdown(&[r]);
        assert!(md.contains("| 0.9600 | 11.0° | 20.0° | 30.3° | 2.7 |"), "{md}");
    }

    #[test]
    fn csv_rows() {
        let csv = String::from_utf8(results_csv(&[row("modified", 2, 0.5)]).unwrap()).unwrap();
        assert_eq!(csv.lines().next(), Some("loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps,val_acc,intra_mean_deg,intra_p95_deg,inter_min_deg,separation,params"));
        assert_eq!(csv.lines().nth(1), Some("modified,2,0.5,0.49,0.9837,1.0,10,0.501,,,,,"));
    }
}
