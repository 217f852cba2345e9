//! The [`Trainer`]: network, head and optimizer state of a run, the protocol's
//! learning-rate schedule, per-step history, checkpoints with exact resume, and evaluation
//! with frozen weights and without the margin.

use std::time::Instant;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::config::TrainConfig;
use super::progress::Progress;
use super::records::{EmbeddingSet, RunFiles, StepRecord};
use crate::data::{augment, Sampler, Split};
use crate::model::params::e;
use crate::model::{count_correct, ConvDevice, Head, Mode, Model, Network};
use crate::optim::OptimizerState;
use crate::rng::{stream, Stream};
use crate::{Error, InputError, Result, IMAGE_PIXELS};

/// The position of a run, saved in its checkpoint beside the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CheckpointState {
    /// Next step to run.
    step: u64,
    /// The optimizer's update count.
    optim_t: u64,
    /// Seconds trained so far.
    train_seconds: f64,
    /// The run's configuration.
    config: TrainConfig,
}

/// Accuracies and embeddings of one evaluation pass (weights frozen, batch norm in
/// evaluation mode).
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Accuracy of argmax of the prediction logits (no margin).
    pub acc: f64,
    /// Accuracy on the margin logits at the final λ (label-dependent, for comparison).
    pub margin_acc: f64,
    /// Mean loss.
    pub loss: f64,
    /// The embeddings of the evaluated images, with their labels.
    pub embeddings: EmbeddingSet,
}

/// Network, head, optimizer and position of a run.
pub struct Trainer<E: Dtype, D: ConvDevice<E>> {
    /// The configuration (validated).
    pub cfg: TrainConfig,
    /// The network.
    pub net: Network<E, D>,
    /// The head.
    pub head: Head<E, D>,
    /// The optimizer's state.
    pub opt: OptimizerState<E, D>,
    /// Next step to run.
    pub step: u64,
    /// Records of the steps run so far.
    pub history: Vec<StepRecord>,
    /// Seconds spent training so far.
    pub train_seconds: f64,
    snapshots: Option<Split>,
    dev: D,
}

impl<E: Dtype, D: ConvDevice<E>> Trainer<E, D> {
    /// A fresh run: network and head initialised from `cfg.seed`.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn new(cfg: TrainConfig, dev: D) -> Result<Self> {
        cfg.validate()?;
        let mut rng = stream(cfg.seed, Stream::Init, 0);
        let mut net = Network::with_width(cfg.net, cfg.dim, cfg.width, &dev, &mut rng)?;
        let mut head = Head::new(cfg.head, cfg.dim, cfg.classes(), &dev, &mut rng)?;
        let opt = OptimizerState::new(&Model::new(&mut net, &mut head), cfg.optim)?;
        Ok(Trainer { cfg, net, head, opt, step: 0, history: Vec::new(), train_seconds: 0.0, snapshots: None, dev })
    }

    /// Parameters of network and head together (names `net.*`, `head.*`).
    pub fn model(&mut self) -> Model<'_, E, D> {
        Model::new(&mut self.net, &mut self.head)
    }

    /// Runs one step on `(pixels, labels)` and returns its record.
    ///
    /// # Errors
    /// [`Error::Diverged`] when the loss is not finite (nothing is
    /// updated then), or a device/shape error.
    pub fn train_step(&mut self, pixels: &[f32], labels: &[usize]) -> Result<StepRecord> {
        let b = labels.len();
        let x: Tensor<(usize, usize), E, D> = self.dev.tensor_from_vec(pixels.iter().map(|&p| e::<E>(p as f64)).collect(), (b, IMAGE_PIXELS));
        let mut mask_rng = stream(self.cfg.seed, Stream::Dropout, self.step);
        let dropout = (self.cfg.dropout > 0.0).then_some((self.cfg.dropout, &mut mask_rng));
        let emb = self.net.forward_with_dropout(x.leaky_traced(), Mode::Train, dropout)?;
        // a non-finite embedding or loss is this run diverging
        let out = self.head.forward(emb, labels, self.step).map_err(|err| match err {
            Error::Input(InputError::NonFiniteEmbedding { .. }) => Error::Diverged { step: self.step, loss: f64::NAN },
            Error::NonFiniteLoss { step, loss } => Error::Diverged { step, loss },
            other => other,
        })?;
        let loss = out.loss.as_vec().first().and_then(|v| v.to_f64()).unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(Error::Diverged { step: self.step, loss });
        }
        let classes = self.head.classes;
        let acc = count_correct(&out.logits.as_vec(), classes, labels) as f64 / b as f64;
        let margin_acc = count_correct(&out.margin_logits.as_vec(), classes, labels) as f64 / b as f64;
        let lambda = out.lambda;
        let mut grads = out.loss.backward();
        let lr = self.cfg.lr_at(self.step);
        let mut model = Model::new(&mut self.net, &mut self.head);
        self.opt.step(&mut model, &mut grads, lr)?;
        let rec = StepRecord::new(self.step, loss, acc, margin_acc, lambda, lr);
        self.step += 1;
        self.history.push(rec.clone());
        Ok(rec)
    }

    /// Trains until `cfg.steps` on `train`, checkpointing into `out` (if given) every
    /// `checkpoint_every` steps and at the end. A non-finite loss stops the run with
    /// [`Error::Diverged`]; the last checkpoint written stays as it was.
    ///
    /// # Errors
    /// [`Error::Diverged`], I/O errors writing checkpoints, device errors.
    pub fn fit(&mut self, train: &Split, out: Option<&RunFiles>, progress: &mut dyn Progress) -> Result<()> {
        let sampler = Sampler::new(train.len(), self.cfg.batch, self.cfg.seed)?;
        if self.step == 0 {
            self.snapshot(out)?;
        }
        while self.step < self.cfg.steps {
            let idx = sampler.indices(self.step);
            let (mut pixels, labels) = train.batch(&idx);
            augment(&mut pixels, &self.cfg.augment, self.cfg.seed, self.step);
            let t0 = Instant::now();
            let rec = self.train_step(&pixels, &labels)?;
            self.train_seconds += t0.elapsed().as_secs_f64();
            progress.step(&rec, self.cfg.steps);
            if self.cfg.snapshot_every.is_some_and(|k| self.step.is_multiple_of(k) || self.step == self.cfg.steps) {
                self.snapshot(out)?;
            }
            let stop = progress.should_stop();
            if let Some(files) = out {
                if stop || self.step.is_multiple_of(self.cfg.checkpoint_every) || self.step == self.cfg.steps {
                    self.save_checkpoint(files)?;
                }
            }
            if stop {
                return Err(Error::Interrupted { step: self.step });
            }
        }
        Ok(())
    }

    /// Sets the images whose embeddings [`Trainer::fit`] saves every `snapshot_every` steps.
    pub fn set_snapshot_images(&mut self, split: Split) {
        self.snapshots = Some(split);
    }

    /// Writes the snapshot of this step (embeddings and labels of the snapshot images).
    fn snapshot(&mut self, out: Option<&RunFiles>) -> Result<()> {
        let (Some(files), Some(split)) = (out, self.snapshots.clone()) else { return Ok(()) };
        if self.cfg.snapshot_every.is_none() {
            return Ok(());
        }
        let emb = self.embed(&split)?;
        files.write_snapshot(self.step, &emb)
    }

    /// The embeddings of `split`'s images with frozen weights (batch norm on its running
    /// statistics), labelled with the split's labels as they are: no head, so any label goes
    /// (an open-set run embeds the digits it never saw).
    ///
    /// # Errors
    /// Device or shape errors.
    pub fn embed(&mut self, split: &Split) -> Result<EmbeddingSet> {
        let values = self.embed_batches(split, Mode::Eval, |_, _, _| Ok(()))?;
        Ok(EmbeddingSet { dim: self.cfg.dim, values, labels: split.labels.clone() })
    }

    /// Runs `split` through the network without a tape, `eval_batch` images at a time, and
    /// hands each batch's embeddings (`[b, d]`) and labels to `f` with the head; returns all
    /// embeddings, row-major.
    fn embed_batches(&mut self, split: &Split, mode: Mode, mut f: impl FnMut(&Head<E, D>, Tensor<(usize, usize), E, D>, &[usize]) -> Result<()>) -> Result<Vec<f32>> {
        let n = split.len();
        let mut values = Vec::with_capacity(n * self.cfg.dim);
        for start in (0..n).step_by(self.cfg.eval_batch) {
            let idx: Vec<usize> = (start..(start + self.cfg.eval_batch).min(n)).collect();
            let (pixels, labels) = split.batch(&idx);
            let x: Tensor<(usize, usize), E, D> = self.dev.tensor_from_vec(pixels.iter().map(|&p| e::<E>(p as f64)).collect(), (idx.len(), IMAGE_PIXELS));
            let emb = self.net.forward(x, mode)?; // [b, d]
            values.extend(emb.as_vec().iter().map(|v| v.to_f32().unwrap_or(f32::NAN)));
            f(&self.head, emb, &labels)?;
        }
        Ok(values)
    }

    /// Evaluates on `split` with frozen weights: accuracy without and with the margin,
    /// mean loss and the embeddings. Batch norm uses its running statistics.
    ///
    /// # Errors
    /// Device or shape errors.
    pub fn evaluate(&mut self, split: &Split) -> Result<Evaluation> {
        self.evaluate_with(split, Mode::Eval)
    }

    /// [`Trainer::evaluate`] with a choice of batch-norm statistics: [`Mode::Eval`] (the
    /// running statistics, the honest test) or [`Mode::Train`] (each evaluation batch's own
    /// statistics, a diagnostic: it also updates the running statistics, so evaluate a
    /// trainer that is not saved afterwards).
    ///
    /// # Errors
    /// Device or shape errors; [`Error::Config`] for a label outside the head's classes.
    pub fn evaluate_with(&mut self, split: &Split, mode: Mode) -> Result<Evaluation> {
        let n = split.len();
        if n == 0 {
            return Err(Error::Shape("cannot evaluate on an empty split".into()));
        }
        let (mut correct, mut margin_correct, mut loss_sum) = (0usize, 0usize, 0.0f64);
        let step = self.step.saturating_sub(1);
        let values = self.embed_batches(split, mode, |head, emb, labels| {
            let out = head.forward(emb, labels, step)?;
            correct += count_correct(&out.logits.as_vec(), head.classes, labels);
            margin_correct += count_correct(&out.margin_logits.as_vec(), head.classes, labels);
            loss_sum += out.loss.as_vec().first().and_then(|v| v.to_f64()).unwrap_or(f64::NAN) * labels.len() as f64;
            Ok(())
        })?;
        let embeddings = EmbeddingSet { dim: self.cfg.dim, values, labels: split.labels.clone() };
        Ok(Evaluation { acc: correct as f64 / n as f64, margin_acc: margin_correct as f64 / n as f64, loss: loss_sum / n as f64, embeddings })
    }

    /// Writes the checkpoint and the history into the run directory, each atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save_checkpoint(&mut self, files: &RunFiles) -> Result<()> {
        let state = CheckpointState { step: self.step, optim_t: self.opt.t, train_seconds: self.train_seconds, config: self.cfg.clone() };
        let bytes = checkpoint::encode(&state, &Model::new(&mut self.net, &mut self.head), &self.opt)?;
        files.write_checkpoint(&bytes)?;
        files.write_history(&self.history)
    }

    /// Restores a run from `dir` (checkpoint and history) for the same configuration.
    ///
    /// # Errors
    /// [`Error::Io`] when the checkpoint cannot be read, [`Error::Checkpoint`] when it is not
    /// one of this model, [`Error::Config`] when the saved configuration differs in anything
    /// but `steps`.
    pub fn resume(files: &RunFiles, cfg: TrainConfig, dev: D) -> Result<Self> {
        let mut t = Trainer::new(cfg, dev)?;
        let bytes = files.read_checkpoint()?;
        let dev = t.dev.clone();
        let state: CheckpointState = checkpoint::decode(&bytes, &mut Model::new(&mut t.net, &mut t.head), &mut t.opt, &dev).map_err(|err| match err {
            Error::Checkpoint { path: None, reason } => Error::Checkpoint { path: Some(files.checkpoint_path()), reason },
            other => other,
        })?;
        let saved = TrainConfig { steps: t.cfg.steps, ..state.config.clone() };
        if saved != t.cfg {
            return Err(Error::Config(format!(
                "the checkpoint in {} was made with another configuration; resume with the same settings (saved: {})",
                files.dir().display(),
                serde_json::to_string(&state.config).unwrap_or_default()
            )));
        }
        t.step = state.step;
        t.opt.t = state.optim_t;
        t.train_seconds = state.train_seconds;
        t.history = files.read_history()?;
        t.history.truncate(t.step as usize);
        if t.history.len() as u64 != t.step {
            return Err(Error::Config(format!("the history in {} holds {} steps, the checkpoint {}", files.dir().display(), t.history.len(), t.step)));
        }
        Ok(t)
    }
}

