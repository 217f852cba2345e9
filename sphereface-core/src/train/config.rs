//! The configuration of a run: [`TrainConfig`] (validated, saved as `config.json` beside
//! every run) and the named budgets ([`Protocol`]) it starts from.
//!
//! ```text
//! lr(t) = lr₀ · decay^(t / decay_steps)        (continuous, as TF's exponential_decay)
//! ```

use serde::{Deserialize, Serialize};

use crate::data::{Augment, KnownDigits};
use crate::model::{LambdaSchedule, LossKind, NetKind};
use crate::optim::OptimConfig;
use crate::{Error, Result};

/// A named training budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The seed's budget: 1,600 steps of 256 on images 5,000..59,999, Adam 1e-3·0.9^(t/500).
    Seed,
    /// A small budget for notebooks and CI (about a minute per run on two cores).
    Quick,
    /// The seed protocol made stronger to clear the seed's table honestly: 4× the steps
    /// (6,400 of 256), 3× the learning rate (3e-3·0.9^(t/500), ending at 7.8e-4) and
    /// augmentation by random shifts of up to 2 pixels. Each change was measured on angular
    /// 2-D (docs/EXPERIMENTS.md, "Strong").
    Strong,
    /// The strong protocol stretched for 2-D embeddings: 51,200 steps of 64 (twice strong's
    /// images, in eight times the steps), learning rate 3e-3·0.9^(t/2000) (ending at 2.0e-4),
    /// shifts of up to 2 pixels plus rotations of up to ±10° and scalings of up to ±10 %,
    /// and the angular loss with λ = 0 unless another schedule is asked for
    /// ([`Protocol::default_lambda`]). Each change was measured on 2-D probes
    /// (docs/EXPERIMENTS.md).
    Long,
    /// A budget for training live in a lecture (notebook 2): 1,500 steps of 32 on the quick
    /// protocol's 20,000-image subset, learning rate 5e-3·0.9^(t/500), no augmentation,
    /// λ = 0 for the angular loss, and the embeddings of 500 test images saved every 30
    /// steps; 43–70 s of training per run on 2 cores (the sandbox's speed varied between
    /// sittings), 53–80 s with the snapshots and the test. Chosen on the validation split so that the margin shows in the angles within
    /// two minutes (docs/EXPERIMENTS.md).
    Lecture,
    /// The open-set experiment's budget (`sphereface openset`; run with `--known`): the
    /// `long` protocol's batch, learning rate, augmentation and λ = 0 in 2,000 steps of 64,
    /// the decay quickened to end at the same rate (3e-3·0.9^(t/80), 2.2e-4 at the end);
    /// sized so that the 35 runs of the experiment fit two cores in an afternoon
    /// (docs/EXPERIMENTS.md).
    #[serde(rename = "openset")]
    #[cfg_attr(feature = "cli", value(name = "openset"))]
    OpenSet,
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "seed" => Ok(Protocol::Seed),
            "quick" => Ok(Protocol::Quick),
            "strong" => Ok(Protocol::Strong),
            "long" => Ok(Protocol::Long),
            "lecture" => Ok(Protocol::Lecture),
            "openset" => Ok(Protocol::OpenSet),
            other => Err(Error::Config(format!("unknown protocol {other:?} (expected quick, seed, strong, long, lecture or openset)"))),
        }
    }
}

impl Protocol {
    /// `seed`, `quick`, `strong`, `long`, `lecture` or `openset`.
    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Seed => "seed",
            Protocol::Quick => "quick",
            Protocol::Strong => "strong",
            Protocol::Long => "long",
            Protocol::Lecture => "lecture",
            Protocol::OpenSet => "openset",
        }
    }

    /// The λ schedule of the angular loss when none is asked for: `caffe` (the spec's
    /// default), except λ = 0 under [`Protocol::Long`] (the seed's final code; better in the
    /// long 2-D runs), [`Protocol::Lecture`] (a run that short never gets λ down) and
    /// [`Protocol::OpenSet`] (`long`'s settings, shortened).
    pub fn default_lambda(&self) -> LambdaSchedule {
        match self {
            Protocol::Long | Protocol::Lecture | Protocol::OpenSet => LambdaSchedule::none(),
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
    /// The optimizer and its decoupled weight decay (`"optimizer"` and `"weight_decay"` in
    /// `config.json`; older files with an `"adam"` block read back as the same settings).
    #[serde(flatten)]
    pub optim: OptimConfig,
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
    /// Augmentation of the training images (`shift`, `rotate`, `scale`, `elastic` in
    /// `config.json`); all zero: none (the seed protocol).
    #[serde(flatten)]
    pub augment: Augment,
    /// Channel multiplier of the network's convolutions (1: the preset as specified;
    /// [`Network::with_width`](crate::model::Network::with_width)).
    #[serde(default = "default_width")]
    pub width: usize,
    /// Dropout probability on the flattened features before the embedding layer, in
    /// training only ([`Network::forward_with_dropout`](crate::model::Network::forward_with_dropout); masks depend only on seed and step).
    /// 0: none.
    #[serde(default)]
    pub dropout: f64,
    /// The digits an open-set run trains on (`--known 2,4,5,9,8,3`): the head gets one
    /// class per known digit, training and the validation split keep only their images, and
    /// the test accuracy is measured on the known digits' test images; the other digits are
    /// never seen until open-set evaluation. `None` (absent from `config.json`): all ten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<KnownDigits>,
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
            optim: OptimConfig::default(),
            seed: 0,
            train_subset: None,
            validation: default_validation(),
            test_subset: None,
            checkpoint_every: 200,
            eval_batch: 500,
            snapshot_every: None,
            snapshot_images: default_snapshot_images(),
            augment: Augment::default(),
            width: 1,
            dropout: 0.0,
            known: None,
        };
        match protocol {
            Protocol::Seed => seed,
            Protocol::Quick => TrainConfig { steps: 300, batch: 64, lr: 2e-3, lr_decay_steps: 100.0, train_subset: Some(20_000), checkpoint_every: 100, snapshot_every: Some(30), ..seed },
            Protocol::Strong => TrainConfig { steps: 6400, lr: 3e-3, augment: Augment { shift: 2, ..Augment::default() }, ..seed },
            Protocol::Long => TrainConfig { steps: 51_200, batch: 64, lr: 3e-3, lr_decay_steps: 2000.0, augment: Augment { shift: 2, rotate: 10.0, scale: 0.1, elastic: 0.0 }, ..seed },
            Protocol::Lecture => TrainConfig { steps: 1500, batch: 32, lr: 5e-3, lr_decay_steps: 500.0, train_subset: Some(20_000), checkpoint_every: 500, snapshot_every: Some(30), ..seed },
            Protocol::OpenSet => TrainConfig { steps: 2000, batch: 64, lr: 3e-3, lr_decay_steps: 80.0, checkpoint_every: 500, augment: Augment { shift: 2, rotate: 10.0, scale: 0.1, elastic: 0.0 }, ..seed },
        }
    }

    /// Classes of the head: the known digits of an open-set run, else ten.
    pub fn classes(&self) -> usize {
        self.known.as_ref().map_or(crate::NUM_CLASSES, KnownDigits::len)
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
        self.optim.validate()?;
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
        self.augment.validate()?;
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

    /// A short label: `angular-m4-d2` etc., with `-w2` appended for a network of width 2
    /// and `-k245983` for an open-set run that knows 2, 4, 5, 9, 8 and 3.
    pub fn label(&self) -> String {
        let mut label = match self.head {
            LossKind::Angular { m, .. } => format!("angular-m{m}-d{}", self.dim),
            k => format!("{}-d{}", k.name(), self.dim),
        };
        if self.width != 1 {
            label += &format!("-w{}", self.width);
        }
        if let Some(k) = &self.known {
            label += "-k";
            label.extend(k.digits().iter().map(|d| char::from(b'0' + d)));
        }
        label
    }
}

/// Largest validation split [`TrainConfig::validate`] accepts (half the MNIST training file).
pub const MAX_VALIDATION: usize = 30_000;

