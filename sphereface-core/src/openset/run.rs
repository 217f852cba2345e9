//! Open-set evaluation of a run: on the test set from its saved files
//! ([`evaluate_saved`]), or on the validation split from its checkpoint with some known
//! digits playing the unknown ([`evaluate_validation`], how settings are chosen without
//! touching a real unknown digit).

use std::path::Path;

use dfdx::prelude::Dtype;

use super::evaluate::{evaluate, OpenSetEvaluation, OpenSetInput, OpenSetReport};
use super::pairs::{Pairs, FOLDS, PER_FOLD};
use super::splits::Splits;
use crate::data::{KnownDigits, Mnist, Split};
use crate::model::ConvDevice;
use crate::train::{head_weights, SavedRun, Trainer};
use crate::{Error, OpenSetError, Result};

/// The known digits of a run, or the named error for a run trained on all ten.
///
/// # Errors
/// [`OpenSetError::NothingUnknown`].
pub fn known_of(run: &SavedRun) -> Result<KnownDigits> {
    run.config.known.clone().ok_or_else(|| OpenSetError::NothingUnknown { run: run.dir().display().to_string() }.into())
}

/// The test evaluation of a finished open-set run from its files: `embeddings.csv` (every
/// test image), `head.json`, and the pairs file `pairs` (default: that of the benchmark
/// split with the run's known digits, `data/openset/`). Checks everything before computing.
///
/// # Errors
/// [`OpenSetError::NothingUnknown`] for a run without known digits; [`Error::Config`] when
/// no benchmark split matches and no pairs file is given, or the run saved no head; the
/// pairs file's errors ([`Pairs::read`], [`Pairs::check_unknown_to`]); [`Error::Shape`]
/// when the embeddings are not those of the whole test set.
pub fn evaluate_saved(run: &SavedRun, pairs: Option<&Path>, test_labels: &[u8]) -> Result<OpenSetEvaluation> {
    let known = known_of(run)?;
    let pairs_path = match pairs {
        Some(p) => p.to_path_buf(),
        None => {
            let splits = Splits::load_default()?;
            let split = splits.find(&known).ok_or_else(|| Error::Config(format!("no benchmark split knows the digits {known} of {}; pass --pairs FILE (`sphereface openset pairs` draws one)", run.dir().display())))?;
            splits.pairs_path(split)
        }
    };
    let pairs = Pairs::read(&pairs_path, test_labels)?;
    pairs.check_unknown_to(&known, &pairs_path)?;
    let head = run.files.read_head()?.ok_or_else(|| Error::Config(format!("{} has no head.json (the class weights); retrain it", run.dir().display())))?;
    let emb = run.files.read_embeddings()?;
    if emb.labels != test_labels {
        return Err(Error::Shape(format!(
            "{}: embeddings.csv holds {} images, not the test file's {} in order (was it trained with --test-subset?)",
            run.dir().display(),
            emb.labels.len(),
            test_labels.len()
        )));
    }
    let name = pairs_path.file_name().map_or_else(|| pairs_path.display().to_string(), |n| n.to_string_lossy().into_owned());
    evaluate(&OpenSetInput { label: &run.metrics.label, embeddings: &emb, head: &head, known: &known, pairs: &pairs, pairs_name: &name, split: "test" })
}

/// Seed of the validation pairs.
pub const VALIDATION_PAIRS_SEED: u64 = 0;

/// A probe's evaluation on the validation split: the run (trained on `trainer.cfg.known`)
/// embeds the validation images of the digits in `among`, and those of `among` it does not
/// know play the unknown (detection, and verification on pairs drawn from
/// [`VALIDATION_PAIRS_SEED`]). No image of a digit outside `among` is read.
///
/// # Errors
/// [`Error::Config`] when the run has no known digits or validation split, `among` does not
/// hold every known digit and two more; device errors.
pub fn evaluate_validation<E: Dtype, D: ConvDevice<E>>(trainer: &mut Trainer<E, D>, data: &Mnist, among: &KnownDigits) -> Result<OpenSetReport> {
    let known = trainer.cfg.known.clone().ok_or_else(|| Error::Config("a validation probe must be an open-set run (trained with --known)".into()))?;
    let pseudo: Vec<u8> = among.digits().iter().copied().filter(|d| !known.contains(*d)).collect();
    if known.digits().iter().any(|d| !among.contains(*d)) || pseudo.len() < 2 {
        return Err(Error::Config(format!("--among {among} must hold the run's known digits {known} and at least two more")));
    }
    let (val, _) = data.train_validation_sized(trainer.cfg.validation)?;
    if val.is_empty() {
        return Err(Error::Config("the run has no validation split (validation 0)".into()));
    }
    let idx: Vec<usize> = (0..val.len()).filter(|&i| among.contains(val.labels[i])).collect();
    let val: Split = val.subset(&idx);
    let emb = trainer.embed(&val)?;
    let pairs = Pairs::generate(&val.labels, &pseudo, FOLDS, PER_FOLD, VALIDATION_PAIRS_SEED)?;
    let head = head_weights(&trainer.head);
    let label = trainer.cfg.label();
    let name = format!("validation pairs of {pseudo:?}, seed {VALIDATION_PAIRS_SEED}");
    Ok(evaluate(&OpenSetInput { label: &label, embeddings: &emb, head: &head, known: &known, pairs: &pairs, pairs_name: &name, split: "validation" })?.report)
}
