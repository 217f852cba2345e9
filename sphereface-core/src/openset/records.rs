//! What open-set evaluation adds to a run directory, and the only place that knows these
//! files (the training files are [`crate::train::records`]'):
//!
//! | file | content |
//! |---|---|
//! | `openset.json` | the [`OpenSetReport`] on the test set |
//! | `openset-scores.csv` | per test image: `digit,predicted,max_cosine,max_logit,max_probability` |
//! | `pair-scores.csv` | per verification pair: `fold,same,cosine` |
//! | `openset-validation.json` | the [`OpenSetReport`] of a probe on the validation split |
//!
//! Written atomically, after the whole evaluation succeeded; the CSV files are read back
//! plain or gzip-compressed (`.csv.gz`, as committed).

use std::path::{Path, PathBuf};

use super::detect::ImageScore;
use super::evaluate::{OpenSetEvaluation, OpenSetReport, PairScore};
use crate::train::records::{bad, read_json, read_text, write, write_json};
use crate::Result;

const REPORT: &str = "openset.json";
const VALIDATION_REPORT: &str = "openset-validation.json";
const IMAGE_SCORES: &str = "openset-scores.csv";
const PAIR_SCORES: &str = "pair-scores.csv";

fn to_csv<T: serde::Serialize>(rows: &[T], path: &Path) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| bad(path, e))?;
    }
    w.into_inner().map_err(|e| bad(path, e))
}

/// The rows of `path` or `path.gz`.
fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let (path, text) = read_text(path)?;
    csv::Reader::from_reader(text.as_bytes()).deserialize().enumerate().map(|(i, r)| r.map_err(|e| bad(&path, format!("line {}: {e}", i + 2)))).collect()
}

/// The open-set files of the run directory `dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSetFiles {
    dir: PathBuf,
}

impl OpenSetFiles {
    /// The files of `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OpenSetFiles { dir: dir.into() }
    }

    /// Whether `openset.json` is there.
    pub fn has_report(&self) -> bool {
        self.dir.join(REPORT).exists()
    }

    /// Writes the test evaluation: `openset.json`, `openset-scores.csv`, `pair-scores.csv`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming the file.
    pub fn write(&self, eval: &OpenSetEvaluation) -> Result<()> {
        let images = to_csv(&eval.images, &self.dir.join(IMAGE_SCORES))?;
        let pairs = to_csv(&eval.pairs, &self.dir.join(PAIR_SCORES))?;
        write(&self.dir.join(IMAGE_SCORES), &images)?;
        write(&self.dir.join(PAIR_SCORES), &pairs)?;
        write_json(&self.dir.join(REPORT), &eval.report)
    }

    /// Writes a probe's validation report, `openset-validation.json`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) naming the file.
    pub fn write_validation(&self, report: &OpenSetReport) -> Result<()> {
        write_json(&self.dir.join(VALIDATION_REPORT), report)
    }

    /// Reads `openset.json`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) if it cannot be read, [`Error::Config`](crate::Error::Config) if it is not a report.
    pub fn read_report(&self) -> Result<OpenSetReport> {
        read_json(&self.dir.join(REPORT))
    }

    /// Reads `openset-validation.json`.
    ///
    /// # Errors
    /// As [`OpenSetFiles::read_report`].
    pub fn read_validation(&self) -> Result<OpenSetReport> {
        read_json(&self.dir.join(VALIDATION_REPORT))
    }

    /// Reads `openset-scores.csv` (or `.csv.gz`).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io), or [`Error::Config`](crate::Error::Config) naming the bad line.
    pub fn read_image_scores(&self) -> Result<Vec<ImageScore>> {
        read_csv(&self.dir.join(IMAGE_SCORES))
    }

    /// Reads `pair-scores.csv` (or `.csv.gz`).
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io), or [`Error::Config`](crate::Error::Config) naming the bad line.
    pub fn read_pair_scores(&self) -> Result<Vec<PairScore>> {
        read_csv(&self.dir.join(PAIR_SCORES))
    }
}
