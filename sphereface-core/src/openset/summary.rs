//! The experiment's tables: one line per run (`openset.csv`), and per loss and embedding
//! size the mean ± standard deviation over the splits (`openset.md`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::detect::Score;
use super::evaluate::OpenSetReport;
use super::records::OpenSetFiles;
use crate::model::{loss_title, LossName};
use crate::train::saved_runs;
use crate::{Error, Result};

/// One evaluated run: where it is and its report.
#[derive(Clone, Debug)]
pub struct EvaluatedRun {
    /// The split's directory name (`split1`).
    pub split: String,
    /// The run directory.
    pub dir: PathBuf,
    /// Its open-set report.
    pub report: OpenSetReport,
}

/// The evaluated runs under `root`: `root/<split>/<run>/openset.json`, by split, then
/// dimension, then loss.
///
/// # Errors
/// [`Error::Io`] if `root` cannot be read; reading errors of a run or report.
pub fn evaluated_runs(root: &Path) -> Result<Vec<EvaluatedRun>> {
    let entries = std::fs::read_dir(root).map_err(|source| Error::Io { path: root.to_path_buf(), source })?;
    let mut split_dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    split_dirs.sort();
    let mut out = Vec::new();
    for dir in split_dirs {
        let split = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for run in saved_runs(&dir)? {
            let files = OpenSetFiles::new(run.dir());
            if files.has_report() {
                out.push(EvaluatedRun { split: split.clone(), dir: run.dir().to_path_buf(), report: files.read_report()? });
            }
        }
    }
    Ok(out)
}

/// Mean and sample standard deviation (n − 1; 0 for one value).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
}

impl MeanStd {
    /// Of `values` (at least one).
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 { 0.0 } else { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() };
        MeanStd { mean, std }
    }

    /// `99.12 ± 0.05` in percent with `digits` decimals (± omitted for one split).
    pub fn percent(&self, digits: usize, with_std: bool) -> String {
        if with_std { format!("{:.digits$} ± {:.digits$}", 100.0 * self.mean, 100.0 * self.std) } else { format!("{:.digits$}", 100.0 * self.mean) }
    }
}

/// One loss at one embedding size, over the splits it was run on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The loss.
    pub loss: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Splits averaged.
    pub splits: usize,
    /// Closed-set accuracy on the known digits.
    pub closed_set_acc: MeanStd,
    /// The score the AUROC below is of.
    pub score: Score,
    /// AUROC of known against unknown digits under `score`.
    pub auroc: MeanStd,
    /// AUROC under the largest softmax probability (the benchmark's softmax baseline).
    pub auroc_max_probability: MeanStd,
    /// Verification accuracy of unseen-digit pairs (each split's mean over its ten folds).
    pub verification: MeanStd,
    /// Equal error rate of the pairs.
    pub eer: MeanStd,
    /// True accept rate at false accept rate 1e-3.
    pub tar_at_far: MeanStd,
}

/// The rows, in table order (dimension, then loss).
pub fn summarise(runs: &[EvaluatedRun]) -> Vec<SummaryRow> {
    let mut keys: Vec<(usize, usize, String)> = runs.iter().map(|r| (r.report.dim, LossName::parse(&r.report.loss).map_or(usize::MAX, |l| l as usize), r.report.loss.clone())).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(dim, _, loss)| {
            let group: Vec<&OpenSetReport> = runs.iter().map(|r| &r.report).filter(|r| r.dim == dim && r.loss == loss).collect();
            let of = |f: &dyn Fn(&OpenSetReport) -> f64| MeanStd::of(&group.iter().map(|r| f(r)).collect::<Vec<_>>());
            SummaryRow {
                loss: loss.clone(),
                dim,
                splits: group.len(),
                closed_set_acc: of(&|r| r.closed_set_acc),
                score: group[0].primary,
                auroc: of(&|r| r.primary_auroc()),
                auroc_max_probability: of(&|r| r.auroc.max_probability),
                verification: of(&|r| r.verification.accuracy.mean),
                eer: of(&|r| r.verification.eer),
                tar_at_far: of(&|r| r.verification.tar_at_far),
            }
        })
        .collect()
}

/// The summary as a Markdown table (percent, mean ± std over the splits).
pub fn summary_markdown(rows: &[SummaryRow]) -> String {
    let mut s = String::from("| loss | dim | splits | closed-set acc | AUROC (score) | AUROC, max probability | unseen-pair verification | EER | TAR at FAR 1e-3 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let many = r.splits > 1;
        s += &format!(
            "| {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            loss_title(&r.loss),
            r.dim,
            r.splits,
            r.closed_set_acc.percent(2, many),
            r.auroc.percent(2, many),
            r.score.title(),
            r.auroc_max_probability.percent(2, many),
            r.verification.percent(2, many),
            r.eer.percent(2, many),
            r.tar_at_far.percent(1, many),
        );
    }
    s
}

/// One line per run, every number (fractions, not percent).
///
/// # Errors
/// [`Error::Config`] if the CSV cannot be written.
pub fn runs_csv(runs: &[EvaluatedRun]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Config(format!("openset.csv: {e}"));
    w.write_record(["split", "loss", "dim", "known", "closed_set_acc", "auroc_max_cosine", "auroc_max_logit", "auroc_max_probability", "verification_acc", "verification_std", "verification_acc_centred", "pair_auc", "eer", "tar_at_far_1e-3"]).map_err(err)?;
    for r in runs {
        let p = &r.report;
        let v = &p.verification;
        let f = |x: f64| format!("{x}");
        w.write_record([
            r.split.clone(),
            p.loss.clone(),
            p.dim.to_string(),
            p.known.to_arg(),
            f(p.closed_set_acc),
            f(p.auroc.max_cosine),
            f(p.auroc.max_logit),
            f(p.auroc.max_probability),
            f(v.accuracy.mean),
            f(v.accuracy.std),
            f(v.accuracy_centred.mean),
            f(v.auc),
            f(v.eer),
            f(v.tar_at_far),
        ])
        .map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::Config(format!("openset.csv: {e}")))
}

/// Writes `root/openset.csv` and `root/openset.md` for the evaluated runs under `root`, and
/// returns the summary rows.
///
/// # Errors
/// Reading the runs, [`Error::Config`] when none is evaluated, [`Error::Io`] writing.
pub fn write_tables(root: &Path) -> Result<Vec<SummaryRow>> {
    let runs = evaluated_runs(root)?;
    if runs.is_empty() {
        return Err(Error::Config(format!("{} holds no evaluated open-set runs (SPLIT/RUN/openset.json)", root.display())));
    }
    let rows = summarise(&runs);
    crate::train::records::write(&root.join("openset.csv"), &runs_csv(&runs)?)?;
    crate::train::records::write(&root.join("openset.md"), summary_markdown(&rows).as_bytes())?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let m = MeanStd::of(&[0.99, 0.97, 0.98]);
        assert!((m.mean - 0.98).abs() < 1e-12 && (m.std - 0.01).abs() < 1e-12);
        assert_eq!(m.percent(2, true), "98.00 ± 1.00");
        assert_eq!(MeanStd::of(&[0.5]).std, 0.0);
        assert_eq!(MeanStd::of(&[0.5]).percent(1, false), "50.0");
    }
}
