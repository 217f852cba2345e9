//! One run end to end: the data and its splits, the run directory's rules (refuse, replace
//! or resume), training, the honest test, and what is written at the end.

use std::path::{Path, PathBuf};

use dfdx::prelude::*;

use super::config::TrainConfig;
use super::progress::Progress;
use super::records::{HeadWeights, Metrics, RunFiles};
use super::trainer::Trainer;
use crate::data::{Mnist, Split};
use crate::model::{device_name, ConvDevice, Head};
use crate::{Error, Result};

/// Loads the data for a run: `dir` if given, else the committed copy (checksummed).
///
/// # Errors
/// [`Error::Data`] naming the file and the problem.
pub fn load_data(dir: Option<&Path>) -> Result<Mnist> {
    Ok(match dir {
        Some(d) => Mnist::load(d)?,
        None => Mnist::load_default()?,
    })
}

/// Splits per configuration: (validation = the first `cfg.validation` training images, which
/// is empty for 0; train = the rest, cut to `cfg.train_subset`). An open-set run
/// (`cfg.known`) keeps only the known digits' images in both, labelled by class, before the
/// cut.
///
/// # Errors
/// [`Error::Data`] when the training file is too small.
pub fn splits(data: &Mnist, cfg: &TrainConfig) -> Result<(Split, Split)> {
    let (val, train) = data.train_validation_sized(cfg.validation)?;
    let (val, train) = match &cfg.known {
        Some(k) => (val.known_only(k), train.known_only(k)),
        None => (val, train),
    };
    let train = match cfg.train_subset {
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    Ok((val, train))
}

/// Where a run's files go, and whether an existing run there may be replaced.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The directory.
    pub path: PathBuf,
    /// Replace an existing finished or unfinished run.
    pub force: bool,
    /// Continue the unfinished run found there.
    pub resume: bool,
}

/// `resume` of a finished run whose checkpoint is gone (checkpoints are not committed, so a
/// fresh clone has only `config.json`, `metrics.json` and the rest): the run is kept as it
/// is, never silently retrained, if it was made with the same configuration.
fn keep_finished(cfg: &TrainConfig, files: &RunFiles, progress: &mut dyn Progress) -> Result<Metrics> {
    if files.read_config()? != *cfg {
        return Err(Error::Config(format!(
            "{} holds a finished run with another configuration and no checkpoint to continue from; pass --force to replace it",
            files.dir().display()
        )));
    }
    let metrics = files.read_metrics()?;
    progress.message(&format!("{} is finished (test accuracy {:.4}); kept as it is", files.dir().display(), metrics.test_acc));
    Ok(metrics)
}

/// Trains one configuration end to end into `dir` and returns its metrics: writes
/// `config.json` first, then checkpoints and `history.csv` during training, then
/// `metrics.json`, `embeddings.csv` and `head.json` ([`super::records`]). An open-set run
/// (`cfg.known`) trains and validates on the known digits only, reports the test accuracy
/// of the known digits' test images and saves the embeddings of all test images. Refuses a directory that holds another run
/// unless `force` (start over) or `resume` (continue it).
///
/// # Errors
/// Configuration, data, I/O and divergence errors, each with a message naming the cause.
pub fn run<E: Dtype, D: ConvDevice<E>>(cfg: TrainConfig, data: &Mnist, dir: &RunDir, dev: D, progress: &mut dyn Progress) -> Result<Metrics> {
    cfg.validate()?;
    let files = RunFiles::new(&dir.path);
    if dir.resume && !files.has_checkpoint() && files.is_finished() {
        return keep_finished(&cfg, &files, progress);
    }
    let mut trainer = if dir.resume && files.has_checkpoint() {
        let t = Trainer::resume(&files, cfg.clone(), dev)?;
        progress.message(&format!("resuming {} at step {}", files.dir().display(), t.step));
        t
    } else {
        if files.has_run() && !dir.force && !dir.resume {
            return Err(Error::Config(format!("{} already holds a run; pass --force to replace it or --resume to continue it", files.dir().display())));
        }
        // Stale files (the snapshots of an earlier, longer run would end up in this run's GIF).
        files.clear_outputs()?;
        Trainer::new(cfg.clone(), dev)?
    };
    files.write_config(&cfg)?;
    let (val, train) = splits(data, &cfg)?;
    if cfg.snapshot_every.is_some() {
        let first: Vec<usize> = (0..cfg.snapshot_images.min(data.test.len())).collect();
        trainer.set_snapshot_images(data.test.subset(&first));
    }
    trainer.fit(&train, Some(&files), progress)?;
    progress.message("evaluating on the test set");
    let all_test = match cfg.test_subset {
        Some(n) if n < data.test.len() => data.test.split_at(n)?.0,
        _ => data.test.clone(),
    };
    // An open-set run's closed-set test: the known digits' images, labelled by class.
    let test = match &cfg.known {
        Some(k) => all_test.known_only(k),
        None => all_test.clone(),
    };
    let ev = trainer.evaluate(&test)?;
    // The validation split is capped like the test set (small runs stay small).
    let val = match cfg.test_subset {
        Some(n) if n < val.len() => val.split_at(n)?.0,
        _ => val,
    };
    let val_acc = if val.is_empty() { None } else { Some(trainer.evaluate(&val)?.acc) };
    let images = trainer.step as f64 * cfg.batch as f64;
    let metrics = Metrics {
        label: cfg.label(),
        test_acc: ev.acc,
        test_acc_margin: ev.margin_acc,
        test_loss: ev.loss,
        val_acc,
        test_images: test.len(),
        steps: trainer.step,
        train_seconds: trainer.train_seconds,
        images_per_second: if trainer.train_seconds > 0.0 { images / trainer.train_seconds } else { 0.0 },
        final_train_loss: trainer.history.last().map(|r| r.loss).unwrap_or(f64::NAN),
        device: device_name::<E, D>(),
        threads: rayon::current_num_threads(),
    };
    // An open-set run saves every test image's embedding, known and unknown, with its digit:
    // what open-set evaluation reads.
    let embeddings = if cfg.known.is_some() { trainer.embed(&all_test)? } else { ev.embeddings };
    files.write_embeddings(&embeddings)?;
    files.write_head(&head_weights(&trainer.head))?;
    files.write_metrics(&metrics)?;
    Ok(metrics)
}


/// Loads a saved run (its `config.json` and `checkpoint.bin`) for evaluation.
///
/// # Errors
/// Those of [`RunFiles::read_config`] and [`Trainer::resume`].
pub fn load_run<E: Dtype, D: ConvDevice<E>>(dir: &Path, dev: D) -> Result<Trainer<E, D>> {
    let files = RunFiles::new(dir);
    let cfg = files.read_config()?;
    Trainer::resume(&files, cfg, dev)
}

/// The class weights of `head`, read from its device, w_j as row j.
pub fn head_weights<E: Dtype, D: Device<E>>(head: &Head<E, D>) -> HeadWeights {
    let flat: Vec<f64> = head.weight.as_vec().iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect(); // [d, C]
    let weights = (0..head.classes).map(|j| (0..head.dim).map(|k| flat[k * head.classes + j]).collect()).collect();
    let bias = head.bias.as_ref().map(|b| b.as_vec().iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect());
    HeadWeights { kind: head.kind, dim: head.dim, weights, bias }
}
