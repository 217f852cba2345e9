//! Training and evaluation: [`TrainConfig`] (validated, saved with every run), the
//! [`Trainer`] (Adam, the protocol's learning-rate schedule, per-step history, atomic
//! checkpoints and exact resume), and evaluation on the test set without the margin.
//!
//! ```text
//! lr(t) = lr₀ · decay^(t / decay_steps)        (continuous, as TF's exponential_decay)
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, write_atomic};
use crate::data::{Mnist, Sampler, Split, IMAGE_PIXELS};
use crate::fast::ConvDevice;
use crate::heads::{count_correct, Head, LambdaSchedule, LossKind, NUM_CLASSES};
use crate::layers::Mode;
use crate::net::{NetKind, Network};
use crate::optim::{Adam, AdamConfig};
use crate::params::{e, HasParams};
use crate::{Error, Result, Rng};
use rand::SeedableRng;

/// A named training budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The seed's budget: 1,600 steps of 256 on images 5,000..59,999, Adam 1e-3·0.9^(t/500).
    Seed,
    /// A small budget for notebooks and CI (about a minute per run on two cores).
    Quick,
    /// The seed protocol made stronger to clear the seed's table honestly: 4× the steps
    /// (6,400 of 256), 3× the learning rate (3e-3·0.9^(t/500), ending at 7.8e-4) and
    /// augmentation by random shifts of up to 2 pixels. Each change was measured on angular
    /// 2-D (see the README's strong-protocol section).
    Strong,
    /// The strong protocol stretched for 2-D embeddings: 51,200 steps of 64 (twice strong's
    /// images, in eight times the steps), learning rate 3e-3·0.9^(t/2000) (ending at 2.0e-4),
    /// shifts of up to 2 pixels plus rotations of up to ±10° and scalings of up to ±10 %,
    /// and the angular loss with λ = 0 unless another schedule is asked for
    /// ([`Protocol::default_lambda`]). Each change was measured on 2-D probes (the README's
    /// long-protocol section).
    Long,
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(Protocol::Seed),
            "quick" => Ok(Protocol::Quick),
            "strong" => Ok(Protocol::Strong),
            "long" => Ok(Protocol::Long),
            other => Err(Error::Config(format!("unknown protocol {other:?} (expected quick, seed, strong or long)"))),
        }
    }
}

impl Protocol {
    /// `seed`, `quick`, `strong` or `long`.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Seed => "seed",
            Protocol::Quick => "quick",
            Protocol::Strong => "strong",
            Protocol::Long => "long",
        }
    }

    /// The λ schedule of the angular loss when none is asked for: `caffe` (the spec's
    /// default), except λ = 0 under [`Protocol::Long`] (the seed's final code; better in the
    /// long 2-D runs).
    pub fn default_lambda(&self) -> LambdaSchedule {
        match self {
            Protocol::Long => LambdaSchedule::none(),
            _ => LambdaSchedule::caffe(),
        }
    }
}

/// Everything that determines a training run. Saved as `config.json` beside its results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The protocol the budget came from (informational once fields are overridden).
    pub protocol: Protocol,
    /// Head and loss settings.
    pub head: LossKind,
    /// Network layout.
    pub net: NetKind,
    /// Embedding dimension d ≥ 1.
    pub dim: usize,
    /// Number of optimizer steps.
    pub steps: u64,
    /// Images per step.
    pub batch: usize,
    /// Learning rate at step 0.
    pub lr: f64,
    /// Factor of the exponential decay per `lr_decay_steps` steps.
    pub lr_decay: f64,
    /// Steps over which the learning rate is multiplied by `lr_decay`.
    pub lr_decay_steps: f64,
    /// Adam's constants (and, with `adam.momentum`, SGD with momentum instead of Adam).
    pub adam: AdamConfig,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
    /// Train on only the first N images of the training split (`None`: all of it, 55,000
    /// with the default validation split).
    pub train_subset: Option<usize>,
    /// Images held out as the validation split: the first `validation` images of the
    /// training file (5,000 as in the seed; 0: train on all 60,000 and report no validation
    /// accuracy).
    #[serde(default = "default_validation")]
    pub validation: usize,
    /// Evaluate on only the first N test (and validation) images (`None`: all 10,000 and 5,000).
    pub test_subset: Option<usize>,
    /// Save a checkpoint every this many steps (and always at the end).
    pub checkpoint_every: u64,
    /// Images per evaluation batch.
    pub eval_batch: usize,
    /// Save the embeddings of the first `snapshot_images` test images every this many
    /// steps (and at step 0) into `snapshots/` of the run directory, for the evolution GIF.
    #[serde(default)]
    pub snapshot_every: Option<u64>,
    /// Test images per snapshot.
    #[serde(default = "default_snapshot_images")]
    pub snapshot_images: usize,
    /// Augmentation: each training image moves by an offset uniform in ±`shift` pixels in x
    /// and in y (sub-pixel, resampled bilinearly, zero fill; [`crate::data::distort_images`]),
    /// with or without rotations. 0: none (the seed protocol).
    #[serde(default)]
    pub shift: usize,
    /// Augmentation: each training image turns by an angle uniform in ±`rotate` degrees
    /// ([`crate::data::affine_images`]). 0: none.
    #[serde(default)]
    pub rotate: f64,
    /// Augmentation: each training image is scaled by a factor uniform in 1 ± `scale`. 0: none.
    #[serde(default)]
    pub scale: f64,
    /// Augmentation: elastic distortion of strength α ([`crate::data::distort_images`],
    /// Simard et al. 2003, σ = 4 pixels). 0: none.
    #[serde(default)]
    pub elastic: f64,
    /// Channel multiplier of the network's convolutions (1: the preset as specified;
    /// [`Network::with_width`]).
    #[serde(default = "default_width")]
    pub width: usize,
    /// Dropout probability on the flattened features before the embedding layer, in
    /// training only ([`Network::forward_with_dropout`]; masks depend only on seed and step).
    /// 0: none.
    #[serde(default)]
    pub dropout: f64,
}

fn default_width() -> usize {
    1
}

fn default_validation() -> usize {
    crate::data::VALIDATION_SIZE
}

fn default_snapshot_images() -> usize {
    500
}

impl TrainConfig {
    /// The protocol's settings for `head` with a `dim`-dimensional `mnist4`. The head is
    /// kept as given: build an angular head with [`Protocol::default_lambda`] for the
    /// protocol's λ schedule.
    pub fn new(protocol: Protocol, head: LossKind, dim: usize) -> Self {
        let seed = TrainConfig {
            protocol,
            head,
            net: NetKind::Mnist4,
            dim,
            steps: 1600,
            batch: 256,
            lr: 1e-3,
            lr_decay: 0.9,
            lr_decay_steps: 500.0,
            adam: AdamConfig::default(),
            seed: 0,
            train_subset: None,
            validation: default_validation(),
            test_subset: None,
            checkpoint_every: 200,
            eval_batch: 500,
            snapshot_every: None,
            snapshot_images: default_snapshot_images(),
            shift: 0,
            rotate: 0.0,
            scale: 0.0,
            elastic: 0.0,
            width: 1,
            dropout: 0.0,
        };
        match protocol {
            Protocol::Seed => seed,
            Protocol::Quick => TrainConfig { steps: 300, batch: 64, lr: 2e-3, lr_decay_steps: 100.0, train_subset: Some(20_000), checkpoint_every: 100, snapshot_every: Some(30), ..seed },
            Protocol::Strong => TrainConfig { steps: 6400, lr: 3e-3, shift: 2, ..seed },
            Protocol::Long => TrainConfig { steps: 51_200, batch: 64, lr: 3e-3, lr_decay_steps: 2000.0, shift: 2, rotate: 10.0, scale: 0.1, ..seed },
        }
    }

    /// Learning rate at `step`.
    pub fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.lr_decay.powf(step as f64 / self.lr_decay_steps)
    }

    /// Checks every field; the message names the field and the bad value.
    ///
    /// # Errors
    /// [`Error::Config`].
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        self.head.validate()?;
        self.adam.validate()?;
        if self.dim == 0 {
            return bad("dim must be >= 1, got 0".into());
        }
        if self.steps == 0 {
            return bad("steps must be >= 1, got 0".into());
        }
        if self.batch < 2 {
            return bad(format!("batch must be >= 2 (batch norm needs two images), got {}", self.batch));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad(format!("lr_decay must be in (0, 1], got {}", self.lr_decay));
        }
        if !(self.lr_decay_steps.is_finite() && self.lr_decay_steps > 0.0) {
            return bad(format!("lr_decay_steps must be > 0, got {}", self.lr_decay_steps));
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every must be >= 1, got 0".into());
        }
        if self.eval_batch == 0 {
            return bad("eval_batch must be >= 1, got 0".into());
        }
        if self.snapshot_every == Some(0) {
            return bad("snapshot_every must be >= 1 when given, got 0".into());
        }
        if self.shift > 13 {
            return bad(format!("shift must be at most 13 pixels (half the 28-pixel image), got {}", self.shift));
        }
        if !(self.rotate.is_finite() && (0.0..=45.0).contains(&self.rotate)) {
            return bad(format!("rotate must be between 0 and 45 degrees, got {}", self.rotate));
        }
        if !(self.scale.is_finite() && (0.0..=0.5).contains(&self.scale)) {
            return bad(format!("scale must be between 0 and 0.5, got {}", self.scale));
        }
        if !(self.elastic.is_finite() && (0.0..=100.0).contains(&self.elastic)) {
            return bad(format!("elastic must be between 0 and 100, got {}", self.elastic));
        }
        if !(self.dropout.is_finite() && (0.0..0.9).contains(&self.dropout)) {
            return bad(format!("dropout must be in [0, 0.9), got {}", self.dropout));
        }
        if !(1..=8).contains(&self.width) {
            return bad(format!("width must be between 1 and 8, got {}", self.width));
        }
        if self.snapshot_every.is_some() && self.snapshot_images == 0 {
            return bad("snapshot_images must be >= 1, got 0".into());
        }
        for (name, v) in [("train_subset", self.train_subset), ("test_subset", self.test_subset)] {
            if v == Some(0) {
                return bad(format!("{name} must be >= 1 when given, got 0"));
            }
        }
        if self.validation > MAX_VALIDATION {
            return bad(format!("validation must be between 0 and {MAX_VALIDATION}, got {}", self.validation));
        }
        if let Some(n) = self.train_subset {
            if n < self.batch {
                return bad(format!("train_subset ({n}) must hold at least one batch ({})", self.batch));
            }
        }
        Ok(())
    }

    /// A short label: `angular-m4-d2` etc., with `-w2` appended for a network of width 2.
    pub fn label(&self) -> String {
        let base = match self.head {
            LossKind::Angular { m, .. } => format!("angular-m{m}-d{}", self.dim),
            k => format!("{}-d{}", k.name(), self.dim),
        };
        if self.width == 1 { base } else { format!("{base}-w{}", self.width) }
    }
}

/// One optimizer step, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step index (0-based).
    pub step: u64,
    /// Training loss of the batch (on the margin logits).
    pub loss: f64,
    /// Batch accuracy without the margin.
    pub acc: f64,
    /// Batch accuracy on the margin logits (the seed's "accuracy" for A-Softmax).
    pub margin_acc: f64,
    /// λ used at this step (0 for the non-angular heads).
    pub lambda: f64,
    /// Learning rate used at this step.
    pub lr: f64,
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
    /// Embeddings `[n, d]` row-major.
    pub embeddings: Vec<f32>,
    /// Labels of the embeddings.
    pub labels: Vec<u8>,
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

/// Receives progress reports.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, _rec: &StepRecord, _total: u64) {}
    /// Called with a free-text message (evaluation, checkpoint).
    fn message(&mut self, _msg: &str) {}
    /// Polled after every step: `true` saves a checkpoint and stops with [`Error::Interrupted`].
    fn should_stop(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// Prints a line every `every` steps (for notebooks and logs).
pub struct PrintEvery(pub u64);
impl Progress for PrintEvery {
    fn step(&mut self, r: &StepRecord, total: u64) {
        if (r.step + 1).is_multiple_of(self.0) || r.step + 1 == total {
            println!("step {:>5}/{total}  loss {:.4}  acc {:.3}  margin acc {:.3}  lambda {:.1}  lr {:.2e}", r.step + 1, r.loss, r.acc, r.margin_acc, r.lambda, r.lr);
        }
    }
    fn message(&mut self, msg: &str) {
        println!("{msg}");
    }
}

/// Network, head, optimizer and position of a run.
pub struct Trainer<E: Dtype, D: ConvDevice<E>> {
    /// The configuration (validated).
    pub cfg: TrainConfig,
    /// The network.
    pub net: Network<E, D>,
    /// The head.
    pub head: Head<E, D>,
    /// The optimizer.
    pub opt: Adam<E, D>,
    /// Next step to run.
    pub step: u64,
    /// Records of the steps run so far.
    pub history: Vec<StepRecord>,
    /// Seconds spent training so far.
    pub train_seconds: f64,
    snapshots: Option<Split>,
    dev: D,
}

/// Model container used for parameter visits (network under `net`, head under `head`).
pub struct Model<'a, E: Dtype, D: Storage<E>> {
    net: &'a mut Network<E, D>,
    head: &'a mut Head<E, D>,
}

impl<'a, E: Dtype, D: Storage<E>> Model<'a, E, D> {
    /// Network and head as one parameter set.
    pub fn new(net: &'a mut Network<E, D>, head: &'a mut Head<E, D>) -> Self {
        Model { net, head }
    }
}

impl<E: Dtype, D: Storage<E>> HasParams<E, D> for Model<'_, E, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, crate::params::ParamKind, &crate::params::Vector<E, D>)) {
        self.net.visit(&crate::params::join(prefix, "net"), f);
        self.head.visit(&crate::params::join(prefix, "head"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, crate::params::ParamKind, &mut crate::params::Vector<E, D>)) {
        self.net.visit_mut(&crate::params::join(prefix, "net"), f);
        self.head.visit_mut(&crate::params::join(prefix, "head"), f);
    }
}

impl<E: Dtype, D: ConvDevice<E>> Trainer<E, D> {
    /// A fresh run: network and head initialised from `cfg.seed`.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn new(cfg: TrainConfig, dev: D) -> Result<Self> {
        cfg.validate()?;
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let mut net = Network::with_width(cfg.net, cfg.dim, cfg.width, &dev, &mut rng)?;
        let mut head = Head::new(cfg.head, cfg.dim, &dev, &mut rng)?;
        let opt = Adam::new(&Model { net: &mut net, head: &mut head }, cfg.adam)?;
        Ok(Trainer { cfg, net, head, opt, step: 0, history: Vec::new(), train_seconds: 0.0, snapshots: None, dev })
    }

    /// Parameters of network and head together (names `net.*`, `head.*`).
    pub fn model(&mut self) -> Model<'_, E, D> {
        Model { net: &mut self.net, head: &mut self.head }
    }

    /// Runs one step on `(pixels, labels)` and returns its record.
    ///
    /// # Errors
    /// [`Error::Diverged`]-style [`Error::Config`] when the loss is not finite (nothing is
    /// updated then), or a device/shape error.
    pub fn train_step(&mut self, pixels: &[f32], labels: &[usize]) -> Result<StepRecord> {
        let b = labels.len();
        let x: Tensor<(usize, usize), E, D> = self.dev.tensor_from_vec(pixels.iter().map(|&p| e::<E>(p as f64)).collect(), (b, IMAGE_PIXELS));
        let dropout = (self.cfg.dropout > 0.0).then(|| (self.cfg.dropout, self.cfg.seed ^ 0x5EED_D0D0_0000_0001 ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        let emb = self.net.forward_with_dropout(x.leaky_traced(), Mode::Train, dropout)?;
        let out = self.head.forward(emb, labels, self.step)?;
        let loss = out.loss.as_vec().first().and_then(|v| v.to_f64()).unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(Error::Diverged { step: self.step, loss });
        }
        let acc = count_correct(&out.logits.as_vec(), NUM_CLASSES, labels) as f64 / b as f64;
        let margin_acc = count_correct(&out.margin_logits.as_vec(), NUM_CLASSES, labels) as f64 / b as f64;
        let lambda = out.lambda;
        let grads = out.loss.backward();
        let lr = self.cfg.lr_at(self.step);
        let mut model = Model { net: &mut self.net, head: &mut self.head };
        self.opt.step(&mut model, &grads, lr)?;
        let rec = StepRecord { step: self.step, loss, acc, margin_acc, lambda, lr };
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
    pub fn fit(&mut self, train: &Split, out: Option<&Path>, progress: &mut dyn Progress) -> Result<()> {
        let sampler = Sampler::new(train.len(), self.cfg.batch, self.cfg.seed)?;
        if self.step == 0 {
            self.snapshot(out)?;
        }
        while self.step < self.cfg.steps {
            let idx = sampler.indices(self.step);
            let (mut pixels, labels) = train.batch(&idx);
            let c = &self.cfg;
            crate::data::distort_images(&mut pixels, c.rotate, c.scale, c.shift, c.elastic, c.seed, self.step);
            let t0 = Instant::now();
            let rec = self.train_step(&pixels, &labels)?;
            self.train_seconds += t0.elapsed().as_secs_f64();
            progress.step(&rec, self.cfg.steps);
            if self.cfg.snapshot_every.is_some_and(|k| self.step.is_multiple_of(k) || self.step == self.cfg.steps) {
                self.snapshot(out)?;
            }
            let stop = progress.should_stop();
            if let Some(dir) = out {
                if stop || self.step.is_multiple_of(self.cfg.checkpoint_every) || self.step == self.cfg.steps {
                    self.save_checkpoint(dir)?;
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

    /// Writes `snapshots/step-NNNNNN.csv` (embeddings and labels of the snapshot images).
    fn snapshot(&mut self, out: Option<&Path>) -> Result<()> {
        let (Some(dir), Some(split)) = (out, self.snapshots.clone()) else { return Ok(()) };
        if self.cfg.snapshot_every.is_none() {
            return Ok(());
        }
        let ev = self.evaluate(&split)?;
        let path = dir.join(SNAPSHOT_DIR).join(format!("step-{:06}.csv", self.step));
        write_atomic(&path, embeddings_csv(self.cfg.dim, &ev.embeddings, &ev.labels).as_bytes())
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
    /// Device or shape errors.
    pub fn evaluate_with(&mut self, split: &Split, mode: Mode) -> Result<Evaluation> {
        let n = split.len();
        if n == 0 {
            return Err(Error::Shape("cannot evaluate on an empty split".into()));
        }
        let (mut correct, mut margin_correct, mut loss_sum) = (0usize, 0usize, 0.0f64);
        let mut embeddings = Vec::with_capacity(n * self.cfg.dim);
        let step = self.step.saturating_sub(1);
        for start in (0..n).step_by(self.cfg.eval_batch) {
            let idx: Vec<usize> = (start..(start + self.cfg.eval_batch).min(n)).collect();
            let (pixels, labels) = split.batch(&idx);
            let x: Tensor<(usize, usize), E, D> = self.dev.tensor_from_vec(pixels.iter().map(|&p| e::<E>(p as f64)).collect(), (idx.len(), IMAGE_PIXELS));
            let emb = self.net.forward(x, mode)?;
            embeddings.extend(emb.as_vec().iter().map(|v| v.to_f32().unwrap_or(f32::NAN)));
            let out = self.head.forward(emb, &labels, step)?;
            correct += count_correct(&out.logits.as_vec(), NUM_CLASSES, &labels);
            margin_correct += count_correct(&out.margin_logits.as_vec(), NUM_CLASSES, &labels);
            loss_sum += out.loss.as_vec().first().and_then(|v| v.to_f64()).unwrap_or(f64::NAN) * idx.len() as f64;
        }
        Ok(Evaluation { acc: correct as f64 / n as f64, margin_acc: margin_correct as f64 / n as f64, loss: loss_sum / n as f64, embeddings, labels: split.labels.clone() })
    }

    /// Writes `checkpoint.bin` and `history.csv` into `dir`, each atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let state = checkpoint::State { step: self.step, adam_t: self.opt.t, train_seconds: self.train_seconds, config: self.cfg.clone() };
        let bytes = checkpoint::encode(&state, &Model { net: &mut self.net, head: &mut self.head }, &self.opt)?;
        write_atomic(&dir.join(CHECKPOINT_FILE), &bytes)?;
        write_atomic(&dir.join(HISTORY_FILE), history_csv(&self.history).as_bytes())
    }

    /// Restores a run from `dir` (checkpoint and history) for the same configuration.
    ///
    /// # Errors
    /// I/O or format errors, or [`Error::Config`] when the saved configuration differs
    /// in anything but `steps`.
    pub fn resume(dir: &Path, cfg: TrainConfig, dev: D) -> Result<Self> {
        let mut t = Trainer::new(cfg, dev)?;
        let bytes = std::fs::read(dir.join(CHECKPOINT_FILE)).map_err(|source| Error::Io { path: dir.join(CHECKPOINT_FILE), source })?;
        let dev = t.dev.clone();
        let state = checkpoint::decode(&bytes, &mut Model { net: &mut t.net, head: &mut t.head }, &mut t.opt, &dev)?;
        let saved = TrainConfig { steps: t.cfg.steps, ..state.config.clone() };
        if saved != t.cfg {
            return Err(Error::Config(format!(
                "the checkpoint in {} was made with another configuration; resume with the same settings (saved: {})",
                dir.display(),
                serde_json::to_string(&state.config).unwrap_or_default()
            )));
        }
        t.step = state.step;
        t.opt.t = state.adam_t;
        t.train_seconds = state.train_seconds;
        let hist_path = dir.join(HISTORY_FILE);
        let text = std::fs::read_to_string(&hist_path).map_err(|source| Error::Io { path: hist_path.clone(), source })?;
        t.history = parse_history_csv(&text).map_err(|m| Error::Config(format!("{}: {m}", hist_path.display())))?;
        t.history.truncate(t.step as usize);
        if t.history.len() as u64 != t.step {
            return Err(Error::Config(format!("{} holds {} steps, the checkpoint {}", hist_path.display(), t.history.len(), t.step)));
        }
        Ok(t)
    }
}

/// Reads a run directory's `config.json`.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Config`] if it is not a configuration.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    let cfg: TrainConfig = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    cfg.validate()?;
    Ok(cfg)
}

/// Loads a saved run (its `config.json` and `checkpoint.bin`) for evaluation.
///
/// # Errors
/// Those of [`read_config`] and [`Trainer::resume`].
pub fn load_run<E: Dtype, D: ConvDevice<E>>(dir: &Path, dev: D) -> Result<Trainer<E, D>> {
    let cfg = read_config(dir)?;
    Trainer::resume(dir, cfg, dev)
}

/// Largest validation split [`TrainConfig::validate`] accepts (half the MNIST training file).
pub const MAX_VALIDATION: usize = 30_000;

/// Name of the checkpoint file in a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
/// Name of the per-step history in a run directory.
pub const HISTORY_FILE: &str = "history.csv";
/// Name of the configuration in a run directory.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the metrics in a run directory.
pub const METRICS_FILE: &str = "metrics.json";
/// Directory of the embedding snapshots in a run directory.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// Name of the head's final class weights in a run directory.
pub const HEAD_FILE: &str = "head.json";

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

impl HeadWeights {
    /// The weights of `head`, read from its device.
    pub fn of<E: Dtype, D: Device<E>>(head: &Head<E, D>) -> Self {
        let flat: Vec<f64> = head.weight.as_vec().iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect(); // [d, C]
        let weights = (0..head.classes).map(|j| (0..head.dim).map(|k| flat[k * head.classes + j]).collect()).collect();
        let bias = head.bias.as_ref().map(|b| b.as_vec().iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect());
        HeadWeights { kind: head.kind, dim: head.dim, weights, bias }
    }
}

/// Name of the test embeddings in a run directory.
pub const EMBEDDINGS_FILE: &str = "embeddings.csv";

/// The history as CSV: `step,loss,acc,margin_acc,lambda,lr`.
pub fn history_csv(h: &[StepRecord]) -> String {
    let mut s = String::from("step,loss,acc,margin_acc,lambda,lr\n");
    for r in h {
        s.push_str(&format!("{},{:e},{},{},{:e},{:e}\n", r.step, r.loss, r.acc, r.margin_acc, r.lambda, r.lr));
    }
    s
}

/// Parses [`history_csv`] output.
///
/// # Errors
/// A message naming the bad line.
pub fn parse_history_csv(text: &str) -> std::result::Result<Vec<StepRecord>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let num = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| format!("line {}: cannot read field {k} of {line:?}", i + 1));
        let step = f.first().and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| format!("line {}: bad step in {line:?}", i + 1))?;
        out.push(StepRecord { step, loss: num(1)?, acc: num(2)?, margin_acc: num(3)?, lambda: num(4)?, lr: num(5)? });
    }
    Ok(out)
}

/// Test embeddings as CSV: `x1,..,xd,label`.
pub fn embeddings_csv(dim: usize, values: &[f32], labels: &[u8]) -> String {
    let mut s = (1..=dim).map(|i| format!("x{i}")).collect::<Vec<_>>().join(",");
    s.push_str(",label\n");
    for (row, l) in values.chunks(dim).zip(labels) {
        for v in row {
            s.push_str(&format!("{v},"));
        }
        s.push_str(&format!("{l}\n"));
    }
    s
}

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
/// is empty for 0; train = the rest, cut to `cfg.train_subset`).
///
/// # Errors
/// [`Error::Data`] when the training file is too small.
pub fn splits(data: &Mnist, cfg: &TrainConfig) -> Result<(Split, Split)> {
    let (val, train) = data.train_validation_sized(cfg.validation)?;
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
fn keep_finished(cfg: &TrainConfig, path: &Path, progress: &mut dyn Progress) -> Result<Metrics> {
    let saved = read_config(path)?;
    if saved != *cfg {
        return Err(Error::Config(format!(
            "{} holds a finished run with another configuration and no checkpoint to continue from; pass --force to replace it",
            path.display()
        )));
    }
    let p = path.join(METRICS_FILE);
    let text = std::fs::read_to_string(&p).map_err(|source| Error::Io { path: p.clone(), source })?;
    let metrics: Metrics = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
    progress.message(&format!("{} is finished (test accuracy {:.4}); kept as it is", path.display(), metrics.test_acc));
    Ok(metrics)
}

/// Trains one configuration end to end into `dir` and returns its metrics: writes
/// `config.json` first, then checkpoints and `history.csv` during training, then
/// `metrics.json` and `embeddings.csv`. Refuses a directory that holds another run
/// unless `force` (start over) or `resume` (continue it).
///
/// # Errors
/// Configuration, data, I/O and divergence errors, each with a message naming the cause.
pub fn run<E: Dtype, D: ConvDevice<E>>(cfg: TrainConfig, data: &Mnist, dir: &RunDir, dev: D, progress: &mut dyn Progress) -> Result<Metrics> {
    cfg.validate()?;
    let path = &dir.path;
    if dir.resume && !path.join(CHECKPOINT_FILE).exists() && path.join(METRICS_FILE).exists() {
        return keep_finished(&cfg, path, progress);
    }
    let has_run = path.join(CONFIG_FILE).exists() || path.join(CHECKPOINT_FILE).exists();
    let mut trainer = if dir.resume && path.join(CHECKPOINT_FILE).exists() {
        let t = Trainer::resume(path, cfg.clone(), dev)?;
        progress.message(&format!("resuming {} at step {}", path.display(), t.step));
        t
    } else {
        if has_run && !dir.force && !dir.resume {
            return Err(Error::Config(format!("{} already holds a run; pass --force to replace it or --resume to continue it", path.display())));
        }
        std::fs::create_dir_all(path).map_err(|source| Error::Io { path: path.clone(), source })?;
        for f in [CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE, EMBEDDINGS_FILE, HEAD_FILE] {
            let p = path.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|source| Error::Io { path: p, source })?;
            }
        }
        // Stale frames of an earlier, longer run would end up in the new run's GIF.
        let snaps = path.join(SNAPSHOT_DIR);
        if snaps.exists() {
            std::fs::remove_dir_all(&snaps).map_err(|source| Error::Io { path: snaps, source })?;
        }
        Trainer::new(cfg.clone(), dev)?
    };
    write_atomic(&path.join(CONFIG_FILE), serde_json::to_string_pretty(&cfg).unwrap_or_default().as_bytes())?;
    let (val, train) = splits(data, &cfg)?;
    if cfg.snapshot_every.is_some() {
        let first: Vec<usize> = (0..cfg.snapshot_images.min(data.test.len())).collect();
        trainer.set_snapshot_images(data.test.subset(&first));
    }
    trainer.fit(&train, Some(path), progress)?;
    progress.message("evaluating on the test set");
    let test = match cfg.test_subset {
        Some(n) if n < data.test.len() => data.test.split_at(n)?.0,
        _ => data.test.clone(),
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
    write_atomic(&path.join(EMBEDDINGS_FILE), embeddings_csv(cfg.dim, &ev.embeddings, &ev.labels).as_bytes())?;
    write_atomic(&path.join(HEAD_FILE), serde_json::to_string_pretty(&HeadWeights::of(&trainer.head)).unwrap_or_default().as_bytes())?;
    write_atomic(&path.join(METRICS_FILE), serde_json::to_string_pretty(&metrics).unwrap_or_default().as_bytes())?;
    Ok(metrics)
}

/// `cpu` or `cuda`, from the device type.
pub fn device_name<E: Dtype, D: Storage<E>>() -> String {
    if std::any::type_name::<D>().contains("Cuda") {
        "cuda".into()
    } else {
        "cpu".into()
    }
}

/// The λ schedule preset named `name` for an angular head with margin `m`.
///
/// # Errors
/// [`Error::Config`] for an unknown preset or m = 0.
pub fn angular(m: u32, name: &str) -> Result<LossKind> {
    LossKind::angular(m, LambdaSchedule::preset(name)?)
}
