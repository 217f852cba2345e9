//! The classification heads: the seed's three (original, modified and angular softmax) and
//! the two margins that came after A-Softmax (CosFace and ArcFace).
//!
//! x ∈ R^d is the embedding, W = [w_1..w_C] ∈ R^{d×C} the class weights, y the label.
//! Each head gives the loss (batch mean of the cross-entropy, through a log-sum-exp),
//! the prediction logits (no margin) and the margin logits the loss was taken on.
//!
//! ```text
//! original:  f_j = w_j·x + b_j
//! modified:  f_j = ||x|| cos θ_j = x·ŵ_j,            ŵ_j = w_j/||w_j||
//! angular:   f_y = ||x|| (λ cos θ_y + ψ(θ_y)) / (1 + λ),  f_j = ||x|| cos θ_j (j ≠ y)
//!            ψ(θ) = (−1)^k cos(mθ) − 2k,  θ ∈ [kπ/m, (k+1)π/m]
//! cosface:   f_y = s (cos θ_y − m),                   f_j = s cos θ_j,   cos θ_j = x̂·ŵ_j
//! arcface:   f_y = s cos(θ_y + m)  (s (cos θ_y − m sin m) where θ_y > π − m),  f_j = s cos θ_j
//! ```
//! **Reference:** Liu et al., *SphereFace*, arXiv 1704.08063, eq. (6)–(7); λ annealing as in
//! the authors' Caffe `MarginInnerProduct` layer (wy1iu/sphereface). Wang et al., *CosFace*,
//! arXiv 1801.09414, eq. (4) (= AM-Softmax, arXiv 1801.05599). Deng et al., *ArcFace*,
//! arXiv 1801.07698, eq. (3), with the fallback of insightface's `ArcMarginProduct`
//! (`easy_margin = False`). The prediction logits are ||x|| cos θ_j for the modified and
//! angular heads and s cos θ_j for CosFace and ArcFace: the same argmax, no margin.

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::margin::{arcface_fallback_threshold, chebyshev_coefficients, margin_thresholds, psi, psi_arcface, psi_cosface, LambdaSchedule, MAX_MARGIN};
use super::params::{e, vector, xavier_uniform, HasParams, Vector};
use crate::{dev_err, Error, InputError, Result, Rng};

/// Added to squared norms before the square root: ||v|| = sqrt(Σv² + ε), finite gradient at 0.
pub const NORM_EPS: f64 = 1e-12;

/// The heads by name, without their settings (what `--loss` chooses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum LossName {
    /// [`LossKind::Original`].
    Original,
    /// [`LossKind::Modified`].
    Modified,
    /// [`LossKind::Angular`].
    Angular,
    /// [`LossKind::CosFace`].
    #[cfg_attr(feature = "cli", value(name = "cosface"))]
    CosFace,
    /// [`LossKind::ArcFace`].
    #[cfg_attr(feature = "cli", value(name = "arcface"))]
    ArcFace,
}

impl LossName {
    /// The heads the seed compares, in table order.
    pub const SEED: [LossName; 3] = [LossName::Original, LossName::Modified, LossName::Angular];
    /// All five, in table order.
    pub const ALL: [LossName; 5] = [LossName::Original, LossName::Modified, LossName::Angular, LossName::CosFace, LossName::ArcFace];

    /// `original`, `modified`, `angular`, `cosface` or `arcface` (as in [`LossKind::name`]).
    pub fn as_str(self) -> &'static str {
        match self {
            LossName::Original => "original",
            LossName::Modified => "modified",
            LossName::Angular => "angular",
            LossName::CosFace => "cosface",
            LossName::ArcFace => "arcface",
        }
    }

    /// The name written by [`LossName::as_str`], back.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// How tables and figures call it: `original softmax`, …, `A-Softmax`, `CosFace`, `ArcFace`.
    pub fn title(self) -> &'static str {
        match self {
            LossName::Original => "original softmax",
            LossName::Modified => "modified softmax",
            LossName::Angular => "angular softmax",
            LossName::CosFace => "CosFace",
            LossName::ArcFace => "ArcFace",
        }
    }
}

/// The title of a loss named `name` ([`LossName::title`]), or the name itself.
pub fn loss_title(name: &str) -> &str {
    match LossName::parse(name) {
        Some(l) => l.title(),
        None => name,
    }
}

/// Which head, with its settings.
///
/// # Examples
///
/// The settings are checked where they are made, and [`LossKind::target`] gives the target
/// logit over its scale as a number (what the heads compute on the tape):
///
/// ```
/// use sphereface_core::prelude::*;
///
/// let a_softmax = LossKind::angular(4, LambdaSchedule::none()).unwrap();
/// let arcface = LossKind::arcface(30.0, 0.5).unwrap();
/// assert!(LossKind::angular(0, LambdaSchedule::none()).is_err()); // m ≥ 1
/// assert!(LossKind::cosface(30.0, 2.5).is_err());               // m in [0, 2)
/// let c = 60f64.to_radians().cos(); // θ_y = 60°
/// // ψ(θ) = −cos(4θ) − 2 at 60° (k = 1): −cos 240° − 2 = −1.5
/// assert!((a_softmax.target(0.0, c).unwrap() + 1.5).abs() < 1e-12);
/// // ArcFace: cos(θ + m)
/// assert!((arcface.target(0.0, c).unwrap() - (60f64.to_radians() + 0.5).cos()).abs() < 1e-12);
/// assert_eq!(LossKind::Original { bias: true }.target(0.0, c), None); // logits are not angles
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "loss", rename_all = "lowercase")]
pub enum LossKind {
    /// f_j = w_j·x + b_j (bias switchable; the README formula has it, the seed code not).
    Original {
        /// Whether the head has a bias b.
        bias: bool,
    },
    /// f_j = ||x|| cos θ_j: weights normalised, x not, no bias.
    Modified,
    /// A-Softmax with integer margin m and the λ schedule.
    Angular {
        /// Angular margin m ≥ 1.
        m: u32,
        /// λ(t) schedule.
        lambda: LambdaSchedule,
    },
    /// CosFace / AM-Softmax: additive cosine margin m on normalised x and w, scale s.
    #[serde(rename = "cosface")]
    CosFace {
        /// Scale s > 0 of the logits.
        s: f64,
        /// Cosine margin, 0 ≤ m < 2.
        m: f64,
    },
    /// ArcFace: additive angular margin m (radians) on normalised x and w, scale s.
    #[serde(rename = "arcface")]
    ArcFace {
        /// Scale s > 0 of the logits.
        s: f64,
        /// Angular margin in radians, 0 ≤ m < π/2.
        m: f64,
    },
}

/// The default scale of CosFace and ArcFace: the CosFace paper's s = 30, well above its
/// lower bound s ≥ (C−1)/C · ln((C−1) P / (1 − P)) = 8.2 for C = 10 classes and a target
/// probability P = 0.999 (CosFace §3.3); the bound does not depend on the embedding size.
pub const DEFAULT_SCALE: f64 = 30.0;
/// The CosFace paper's margin.
pub const COSFACE_MARGIN: f64 = 0.35;
/// The ArcFace paper's margin (radians, about 28.6°).
pub const ARCFACE_MARGIN: f64 = 0.5;

impl LossKind {
    /// A-Softmax with margin `m` (validated: m ≥ 1) and schedule `lambda`.
    ///
    /// # Errors
    /// [`Error::Config`] when m = 0 or the schedule is invalid.
    pub fn angular(m: u32, lambda: LambdaSchedule) -> Result<Self> {
        let k = LossKind::Angular { m, lambda };
        k.validate()?;
        Ok(k)
    }
    /// CosFace with scale `s` and margin `m` (validated).
    ///
    /// # Errors
    /// [`Error::Config`] when s ≤ 0 or m is outside [0, 2).
    pub fn cosface(s: f64, m: f64) -> Result<Self> {
        let k = LossKind::CosFace { s, m };
        k.validate()?;
        Ok(k)
    }
    /// ArcFace with scale `s` and margin `m` radians (validated).
    ///
    /// # Errors
    /// [`Error::Config`] when s ≤ 0 or m is outside [0, π/2).
    pub fn arcface(s: f64, m: f64) -> Result<Self> {
        let k = LossKind::ArcFace { s, m };
        k.validate()?;
        Ok(k)
    }
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] with the bad value.
    pub fn validate(&self) -> Result<()> {
        let scale_ok = |name: &str, s: f64| {
            if s.is_finite() && s > 0.0 {
                Ok(())
            } else {
                Err(Error::Config(format!("{name} scale s must be a number > 0, got {s}")))
            }
        };
        match *self {
            LossKind::Angular { m, lambda } => {
                if m == 0 {
                    return Err(Error::Config("angular margin m must be an integer >= 1, got 0".into()));
                }
                if m > MAX_MARGIN {
                    return Err(Error::Config(format!("angular margin m must be at most {MAX_MARGIN}, got {m}")));
                }
                lambda.validate()?;
            }
            LossKind::CosFace { s, m } => {
                scale_ok("cosface", s)?;
                if !(0.0..2.0).contains(&m) {
                    return Err(Error::Config(format!("cosface margin m must be in [0, 2) (cos θ − m spans [−3, 1]), got {m}")));
                }
            }
            LossKind::ArcFace { s, m } => {
                scale_ok("arcface", s)?;
                if !(0.0..std::f64::consts::FRAC_PI_2).contains(&m) {
                    return Err(Error::Config(format!("arcface margin m must be in [0, π/2) radians, got {m}")));
                }
            }
            LossKind::Original { .. } | LossKind::Modified => {}
        }
        Ok(())
    }
    /// Position in tables and figures: original, modified, angular, cosface, arcface.
    pub fn order(&self) -> usize {
        match self {
            LossKind::Original { .. } => 0,
            LossKind::Modified => 1,
            LossKind::Angular { .. } => 2,
            LossKind::CosFace { .. } => 3,
            LossKind::ArcFace { .. } => 4,
        }
    }
    /// Short name: `original`, `modified`, `angular`, `cosface` or `arcface`.
    pub fn name(&self) -> &'static str {
        match self {
            LossKind::Original { .. } => "original",
            LossKind::Modified => "modified",
            LossKind::Angular { .. } => "angular",
            LossKind::CosFace { .. } => "cosface",
            LossKind::ArcFace { .. } => "arcface",
        }
    }
    /// The head's settings in short, for tables: `bias` or `no bias` (original), empty
    /// (modified), `m=4` (angular), `s=30 m=0.35` (CosFace, ArcFace).
    pub fn params(&self) -> String {
        match self {
            LossKind::Original { bias } => if *bias { "bias" } else { "no bias" }.into(),
            LossKind::Modified => String::new(),
            LossKind::Angular { m, .. } => format!("m={m}"),
            LossKind::CosFace { s, m } | LossKind::ArcFace { s, m } => format!("s={s} m={m}"),
        }
    }
    /// The target logit over its scale as a function of c = cos θ_y, at λ for A-Softmax:
    /// c (modified), (λ c + ψ(θ))/(1 + λ) (angular), c − m (CosFace), cos(θ + m) or its
    /// fallback (ArcFace); the other classes keep c. `None` for original softmax, whose
    /// logits are not angles. What the figures draw and the decision regions compare; the
    /// head computes the same on the tape.
    pub fn target(&self, lambda: f64, c: f64) -> Option<f64> {
        let c = c.clamp(-1.0, 1.0);
        match *self {
            LossKind::Original { .. } => None,
            LossKind::Modified => Some(c),
            LossKind::Angular { m, .. } => Some((lambda * c + psi(m, c)) / (1.0 + lambda)),
            LossKind::CosFace { m, .. } => Some(psi_cosface(m, c)),
            LossKind::ArcFace { m, .. } => Some(psi_arcface(m, c)),
        }
    }
    /// The scale s of the heads that normalise x (CosFace, ArcFace); `None` for the others.
    pub fn feature_scale(&self) -> Option<f64> {
        match self {
            LossKind::CosFace { s, .. } | LossKind::ArcFace { s, .. } => Some(*s),
            _ => None,
        }
    }
}

/// What a head computes for one batch.
///
/// # Examples
///
/// ```
/// use sphereface_core::prelude::*;
///
/// # fn main() -> Result<(), sphereface_core::Error> {
/// let dev = Cpu::default();
/// // two classes at 0° and 90°, one embedding at 30° from class 0
/// let head = Head::<f64, Cpu>::from_weights(LossKind::angular(2, LambdaSchedule::none())?, 2, 2, vec![1.0, 0.0, 0.0, 1.0], None, &dev)?;
/// let x = dev.tensor([[3f64.sqrt(), 1.0]]); // ||x|| = 2, θ₀ = 30°, θ₁ = 60°
/// let out: HeadOutput<f64, Cpu, _> = head.forward(x.clone().leaky_traced(), &[0], 0)?;
/// let (f, fm) = (out.logits.as_vec(), out.margin_logits.as_vec());
/// assert!((f[0] - 2.0 * 30f64.to_radians().cos()).abs() < 1e-10); // ||x|| cos θ₀: no margin
/// assert!((fm[0] - 2.0 * 60f64.to_radians().cos()).abs() < 1e-10, "{fm:?}"); // ||x|| ψ(θ₀) = ||x|| cos 2θ₀
/// assert_eq!(fm[1], f[1]); // the other class keeps ||x|| cos θ₁
/// assert!(out.loss.array() > 0.0);
/// let grads = out.loss.backward(); // the embedding's gradient flows back through the margin
/// assert!(grads.get(&x).array()[0].iter().all(|g| g.is_finite()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct HeadOutput<E: Dtype, D: Storage<E>, T> {
    /// Mean cross-entropy over the batch, on the margin logits; carries the tape.
    pub loss: Tensor<(), E, D, T>,
    /// Prediction logits `[B, C]` without margin (argmax = prediction), detached.
    pub logits: Tensor<(usize, usize), E, D>,
    /// The logits the loss was taken on `[B, C]` (equal to `logits` for the heads without a
    /// margin), detached.
    pub margin_logits: Tensor<(usize, usize), E, D>,
    /// λ used (0 for the non-angular heads).
    pub lambda: f64,
}

/// A classification head with sizes chosen at run time: weights W `[d, C]` (and bias b `[C]`
/// for the original softmax), kept as flat tensors so that the crate's optimizer
/// ([`OptimizerState`](crate::optim::OptimizerState)) and checkpoints cover it with the
/// network (through [`HasParams`]). For a head inside your own dfdx model,
/// trained by dfdx's optimizers, see [`HeadModule`](super::HeadModule): the same maths.
///
/// # The tape
/// [`Head::forward`] puts the head's weights on the tape that comes with the embeddings.
/// The gradient of W survives `backward()` only if that tape keeps it: `leaky_traced()`
/// keeps every gradient; `traced(grads)` keeps only the tensors `grads` was allocated for,
/// and dfdx cannot allocate for this head's run-time-sized tensors. So with
/// `x.traced(model.alloc_grads())` (dfdx's usual pattern) `forward` fails with
/// [`Error::MissingGradient`] naming the head's tensors, instead of training nothing in
/// silence: trace with `leaky_traced()`, or use [`HeadModule`](super::HeadModule), which dfdx
/// allocates for with your model.
///
/// # Examples
///
/// Your own embeddings (here a fixed `[4, 3]` batch) into an ArcFace head, one step of Adam:
///
/// ```
/// use sphereface_core::prelude::*;
///
/// # fn main() -> Result<(), sphereface_core::Error> {
/// let dev = Cpu::default();
/// let mut rng = Rng::seed_from_u64(0);
/// let mut head = Head::<f32, Cpu>::new(LossKind::arcface(30.0, 0.5)?, 3, 4, &dev, &mut rng)?;
/// let mut opt = OptimizerState::new(&head, OptimConfig::default())?;
/// let x: Tensor<(Const<4>, Const<3>), f32, Cpu> = dev.sample_normal();
/// let before = head.weight.as_vec();
/// let out = head.forward(x.leaky_traced(), &[0, 1, 2, 3], 0)?;
/// let mut grads = out.loss.backward();
/// opt.step(&mut head, &mut grads, 1e-3)?;
/// assert_ne!(head.weight.as_vec(), before);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Head<E: Dtype, D: Storage<E>> {
    /// The loss this head computes.
    pub kind: LossKind,
    /// Class weights, flat `[d, C]` row-major (column j is w_j).
    pub weight: Vector<E, D>,
    /// Bias `[C]` (original softmax with bias only).
    pub bias: Option<Vector<E, D>>,
    /// Embedding dimension d.
    pub dim: usize,
    /// Number of classes C.
    pub classes: usize,
}

pub(crate) type Mat<E, D, T> = Tensor<(usize, usize), E, D, T>;

impl<E: Dtype, D: Device<E>> Head<E, D> {
    /// A head for `dim`-dimensional embeddings and `classes` classes; W Glorot-uniform
    /// (as TF's `glorot_uniform`), b = 0.
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` or `classes` is 0 or the loss settings are invalid.
    pub fn new(kind: LossKind, dim: usize, classes: usize, dev: &D, rng: &mut Rng) -> Result<Self> {
        kind.validate()?;
        if dim == 0 || classes == 0 {
            return Err(Error::Config(format!("embedding dimension and class count must be >= 1, got {dim} and {classes}")));
        }
        let weight = vector(dev, xavier_uniform(rng, dim * classes, dim, classes));
        let bias = matches!(kind, LossKind::Original { bias: true }).then(|| vector(dev, vec![0.0; classes]));
        Ok(Head { kind, weight, bias, dim, classes })
    }

    /// A head with the given weights (W `[d][C]` row-major, optional bias).
    ///
    /// # Errors
    /// [`Error::Shape`] when the sizes disagree, [`Error::Config`] for bad settings.
    pub fn from_weights(kind: LossKind, dim: usize, classes: usize, weight: Vec<f64>, bias: Option<Vec<f64>>, dev: &D) -> Result<Self> {
        kind.validate()?;
        if weight.len() != dim * classes {
            return Err(Error::Shape(format!("head weight has {} values, expected {dim}x{classes}", weight.len())));
        }
        let wants_bias = matches!(kind, LossKind::Original { bias: true });
        if wants_bias != bias.is_some() || bias.as_ref().is_some_and(|b| b.len() != classes) {
            return Err(Error::Shape("head bias must be given (with one value per class) exactly for original softmax with bias".into()));
        }
        Ok(Head { kind, weight: vector(dev, weight), bias: bias.map(|b| vector(dev, b)), dim, classes })
    }

    /// Fails when `x`'s tape would drop the head's gradients at `backward()`: a tape made by
    /// `traced(grads)` keeps only the tensors `grads` was allocated for (dfdx's leaf set),
    /// and nothing can allocate for this head's run-time-sized tensors. dfdx 0.13 shows a
    /// tape's leaf set only through `Debug`, so it is read from there: cheap for the tapes
    /// that keep everything (`leaky_traced`, whose gradients are still empty here).
    fn check_tape<T: Tape<E, D> + std::fmt::Debug>(&self, x: Mat<E, D, T>) -> Result<Mat<E, D, T>> {
        if !T::OWNS_TAPE {
            return Ok(x);
        }
        let (x, tape) = x.split_tape();
        let text = format!("{tape:?}");
        let x = x.put_tape(tape);
        let Some(leaves) = text.rsplit_once("leaf_ids: ").map(|(_, l)| l) else {
            return Err(Error::Device("cannot read the tape's leaf set (dfdx's Debug output changed)".into()));
        };
        if leaves.starts_with("None") {
            return Ok(x);
        }
        let mut names = Vec::new();
        self.visit("", &mut |name, _, t| {
            let mut ids = UnusedTensors::default();
            ids.add(t);
            if !ids.ids.iter().all(|id| leaves.contains(&format!("{id:?}"))) {
                names.push(name.to_string());
            }
        });
        if names.is_empty() {
            return Ok(x);
        }
        Err(Error::MissingGradient { names, hint: TRACED_HINT })
    }

    /// W `[d, C]` and b on the tape `T`.
    fn parts<T: Tape<E, D>>(&self) -> Result<(Mat<E, D, T>, Option<Tensor<(usize,), E, D, T>>)> {
        let w = self.weight.retaped::<T>().try_reshape_like(&(self.dim, self.classes)).map_err(dev_err)?;
        Ok((w, self.bias.as_ref().map(|b| b.retaped::<T>())))
    }

    /// Prediction logits `[B, C]` (no margin): x·W + b; x·ŵ_j = ||x|| cos θ_j; or s cos θ_j
    /// for the heads that normalise x too (CosFace, ArcFace). `x` may have any rank-2
    /// shape, `(usize, usize)` or a dfdx layer's `(usize, Const<d>)`.
    ///
    /// # Errors
    /// [`Error::Shape`] when x is not `[B, d]`; [`Error::MissingGradient`] when x's tape
    /// would drop the head's gradients (see [the tape](Head#the-tape)).
    pub fn logits<B: Dim, F: Dim, T: Tape<E, D> + std::fmt::Debug>(&self, x: Tensor<(B, F), E, D, T>) -> Result<Mat<E, D, T>> {
        let x = self.check_tape(to_matrix(x)?)?;
        check_input(&x, self.dim)?;
        let (w, b) = self.parts::<T>()?;
        head_logits(&self.kind, x, w, b)
    }

    /// Loss, prediction logits and margin logits for embeddings x `[B, d]` (any rank-2
    /// shape), labels y and training step `step` (which sets λ for the angular head). See
    /// [the tape](Head#the-tape) for what `x` must carry.
    ///
    /// # Errors
    /// [`Error::Shape`] when x is not `[B, d]`; [`Error::MissingGradient`] when x's tape
    /// would drop the head's gradients (see [the tape](Head#the-tape)); [`Error::Input`] for
    /// an empty batch, a label count other than B, a label ≥ C or a non-finite embedding;
    /// [`Error::NonFiniteLoss`] when the loss overflows although the embeddings are finite.
    pub fn forward<B: Dim, F: Dim, T: Tape<E, D> + std::fmt::Debug>(&self, x: Tensor<(B, F), E, D, T>, labels: &[usize], step: u64) -> Result<HeadOutput<E, D, T>> {
        let x = self.check_tape(to_matrix(x)?)?;
        check_input(&x, self.dim)?;
        let (w, b) = self.parts::<T>()?;
        head_forward(&self.kind, self.classes, x, w, b, labels, step)
    }
}

/// Any rank-2 tensor as `(usize, usize)` (the same data and tape, the sizes checked at run
/// time).
pub(crate) fn to_matrix<B: Dim, F: Dim, E: Dtype, D: Storage<E>, T: Tape<E, D>>(x: Tensor<(B, F), E, D, T>) -> Result<Mat<E, D, T>> {
    x.try_realize::<(usize, usize)>().map_err(|x| Error::Shape(format!("embeddings of shape {:?} are not a matrix", x.shape().concrete())))
}

pub(crate) fn check_input<E: Dtype, D: Storage<E>, T>(x: &Mat<E, D, T>, dim: usize) -> Result<()> {
    let (_, d) = *x.shape();
    if d != dim {
        return Err(Error::Shape(format!("head expects {dim}-dimensional embeddings, got {d}")));
    }
    Ok(())
}

/// Labels against the batch and the class count; embeddings finite.
fn check_batch<E: Dtype, D: Device<E>, T>(x: &Mat<E, D, T>, classes: usize, labels: &[usize]) -> Result<()> {
    let (b, d) = *x.shape();
    if b == 0 {
        return Err(InputError::EmptyBatch.into());
    }
    if labels.len() != b {
        return Err(InputError::LabelCount { labels: labels.len(), batch: b }.into());
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(InputError::LabelOutOfRange { row, label, classes }.into());
    }
    if let Some((i, v)) = x.as_vec().iter().enumerate().find(|(_, v)| !v.to_f64().is_some_and(f64::is_finite)) {
        return Err(InputError::NonFiniteEmbedding { row: i / d, col: i % d, value: v.to_f64().unwrap_or(f64::NAN) }.into());
    }
    Ok(())
}

/// `[d, C]` weights, normalised per column for every head but the original softmax.
fn class_weights<E: Dtype, D: Device<E>, T: Tape<E, D>>(kind: &LossKind, w: Mat<E, D, T>) -> Result<Mat<E, D, T>> {
    if matches!(kind, LossKind::Original { .. }) {
        return Ok(w);
    }
    let shape = *w.shape();
    // ŵ_j = w_j / sqrt(Σ_k w_kj² + ε)
    let norms = (w.retaped::<T>().try_square().map_err(dev_err)?.try_sum::<(usize,), Axis<0>>().map_err(dev_err)? + e::<E>(NORM_EPS))
        .try_sqrt()
        .map_err(dev_err)?; // [C]
    w.try_div(norms.try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?).map_err(dev_err)
}

/// The prediction logits of [`Head::logits`] from raw weights `w` `[d, C]` and bias `b`.
pub(crate) fn head_logits<E: Dtype, D: Device<E>, T: Tape<E, D>>(kind: &LossKind, x: Mat<E, D, T>, w: Mat<E, D, T>, bias: Option<Tensor<(usize,), E, D, T>>) -> Result<Mat<E, D, T>> {
    let (b, d) = *x.shape();
    let classes = w.shape().1;
    let w = class_weights(kind, w)?;
    if let Some(s) = kind.feature_scale() {
        // x̂ = x / sqrt(Σ x² + ε);  s cos θ_j = s clamp(x̂·ŵ_j, −1, 1)      [B, C]
        let xnorm = (x.retaped::<T>().try_square().map_err(dev_err)?.try_sum::<(usize,), Axis<1>>().map_err(dev_err)? + e::<E>(NORM_EPS))
            .try_sqrt()
            .map_err(dev_err)?; // [B]
        let xhat = x.try_div(xnorm.try_broadcast_like::<_, Axis<1>>(&(b, d)).map_err(dev_err)?).map_err(dev_err)?;
        let c = xhat.try_matmul(w).map_err(dev_err)?.try_clamp(-1.0, 1.0).map_err(dev_err)?;
        return Ok(c * e::<E>(s));
    }
    let y = x.try_matmul(w).map_err(dev_err)?; // [B, C]
    match bias {
        Some(bias) => y.try_add(bias.try_broadcast_like::<_, Axis<0>>(&(b, classes)).map_err(dev_err)?).map_err(dev_err),
        None => Ok(y),
    }
}

/// What to do when a tape drops a head's gradient.
pub(crate) const TRACED_HINT: &str = "the embeddings' tape was made by traced(grads) with gradients allocated for another model only, \
    so backward() would drop the head's: trace with leaky_traced(), or use HeadModule and allocate for model and head together \
    (let both = (model, head); ... x.traced(both.alloc_grads()))";

/// [`Head::forward`] from raw weights `w` `[d, C]` and bias `b`: the one implementation of
/// the losses, for [`Head`] and [`HeadModule`](super::HeadModule).
pub(crate) fn head_forward<E: Dtype, D: Device<E>, T: Tape<E, D>>(kind: &LossKind, classes: usize, x: Mat<E, D, T>, w: Mat<E, D, T>, bias: Option<Tensor<(usize,), E, D, T>>, labels: &[usize], step: u64) -> Result<HeadOutput<E, D, T>> {
    check_batch(&x, classes, labels)?;
    let (b, _) = *x.shape();
    let dev = x.device().clone();
    let mut onehot = vec![E::default(); b * classes];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * classes + l] = E::ONE;
    }
    let onehot: Mat<E, D, NoneTape> = dev.tensor_from_vec(onehot, (b, classes)); // [B, C]

    let (m, lambda) = match *kind {
        LossKind::Angular { m, lambda } => (m, lambda.at(step)),
        _ => (1, 0.0),
    };
    let xnorm = match kind {
        LossKind::Angular { .. } if m > 1 => Some(x.retaped::<T>()),
        _ => None,
    };
    let f = head_logits(kind, x, w, bias)?; // [B, C]: x·W + b, ||x|| cos θ_j or s cos θ_j
    let logits = f.retaped::<NoneTape>();
    let f = match (*kind, xnorm) {
        // f_y = s (cos θ_y − m): subtract s·m at the label                    [B, C]
        (LossKind::CosFace { s, m }, _) => f.try_sub(onehot.clone() * e::<E>(s * m)).map_err(dev_err)?,
        (LossKind::ArcFace { s, m }, _) => {
            // c_y = f_y / s                                                   [B]
            let idx: Tensor<(usize,), usize, D> = dev.tensor_from_vec(labels.to_vec(), (b,));
            let c = f.retaped::<T>().try_select(idx).map_err(dev_err)? * e::<E>(1.0 / s);
            // Which samples take the fallback (θ_y + m ≥ π, as `arcface_fallback`):
            // compared on the device, no gradient                              [B]
            let fallback = c.retaped::<NoneTape>().try_le(e::<E>(arcface_fallback_threshold(m))).map_err(dev_err)?;
            // cos(θ + m) = c cos m − sin θ sin m,  sin θ = sqrt((1 − c²) + ε): ε added
            // after the difference, or f32 loses it and sqrt′(0) is infinite at c = ±1
            let one_minus = c.retaped::<T>().try_square().map_err(dev_err)?.try_negate().map_err(dev_err)? + E::ONE;
            let sin = (one_minus + e::<E>(NORM_EPS)).try_sqrt().map_err(dev_err)?;
            let arc = (c.retaped::<T>() * e::<E>(m.cos())).try_sub(sin * e::<E>(m.sin())).map_err(dev_err)?;
            let fall = c.retaped::<T>() - e::<E>(m * m.sin());
            let target = fallback.try_choose(fall, arc).map_err(dev_err)?;
            // f_y − s c_y = s (target − c_y)                                   [B]
            let delta = target.try_sub(c).map_err(dev_err)? * e::<E>(s);
            let delta = delta.try_broadcast_like::<_, Axis<1>>(&(b, classes)).map_err(dev_err)?.try_mul(onehot.clone()).map_err(dev_err)?;
            f.try_add(delta).map_err(dev_err)?
        }
        (_, None) => f,
        (_, Some(x)) => {
            // ||x|| = sqrt(Σ x² + ε)                                   [B]
            let xnorm = (x.try_square().map_err(dev_err)?.try_sum::<(usize,), Axis<1>>().map_err(dev_err)? + e::<E>(NORM_EPS))
                .try_sqrt()
                .map_err(dev_err)?;
            // c_y = clamp(x·ŵ_y / ||x||, −1, 1)                        [B]
            let idx: Tensor<(usize,), usize, D> = dev.tensor_from_vec(labels.to_vec(), (b,));
            let fy = f.retaped::<T>().try_select(idx).map_err(dev_err)?;
            let c = fy.try_div(xnorm.retaped::<T>()).map_err(dev_err)?.try_clamp(-1.0, 1.0).map_err(dev_err)?;
            // (−1)^k and 2k (`psi_branch`), by comparisons on the device     [B]
            let (sign, two_k) = psi_branch_on_device(m, &c.retaped::<NoneTape>())?;
            // T_m(c) by Horner on the Chebyshev coefficients           [B]
            let coef = chebyshev_coefficients(m);
            let mut t = (c.retaped::<T>() * e::<E>(coef[m as usize])) + e::<E>(coef[m as usize - 1]);
            for a in coef[..m as usize - 1].iter().rev() {
                t = t.try_mul(c.retaped::<T>()).map_err(dev_err)? + e::<E>(*a);
            }
            // ψ = (−1)^k T_m(c) − 2k
            let psi = t.try_mul(sign).map_err(dev_err)?.try_sub(two_k).map_err(dev_err)?;
            // f_y − ||x|| c_y = ||x|| (ψ − c_y)/(1 + λ)                   [B]
            let delta = psi.try_sub(c).map_err(dev_err)?.try_mul(xnorm).map_err(dev_err)? * e::<E>(1.0 / (1.0 + lambda));
            let delta = delta.try_broadcast_like::<_, Axis<1>>(&(b, classes)).map_err(dev_err)?.try_mul(onehot.clone()).map_err(dev_err)?;
            f.try_add(delta).map_err(dev_err)?
        }
    };
    let margin_logits = f.retaped::<NoneTape>();
    let loss = cross_entropy_with_logits_loss(f, onehot);
    let value = loss.as_vec().first().and_then(|v| v.to_f64()).unwrap_or(f64::NAN);
    if !value.is_finite() {
        return Err(Error::NonFiniteLoss { step, loss: value });
    }
    Ok(HeadOutput { loss, logits, margin_logits, lambda })
}

crate::weight_bias_params!(Head);

/// [`psi_branch`](super::margin::psi_branch) for a batch, without leaving the device: ((−1)^k, 2k) with
/// k = #{j ∈ 1..m−1 : c ≤ cos(jπ/m)}, one comparison and two selections per threshold.
fn psi_branch_on_device<E: Dtype, D: Device<E>>(m: u32, c: &Tensor<(usize,), E, D>) -> Result<(Tensor<(usize,), E, D>, Tensor<(usize,), E, D>)> {
    let dev = c.device().clone();
    let shape = *c.shape();
    let mut sign: Tensor<(usize,), E, D> = dev.ones_like(&shape);
    let mut two_k: Tensor<(usize,), E, D> = dev.zeros_like(&shape);
    for threshold in margin_thresholds(m) {
        let past = c.try_le(e::<E>(threshold)).map_err(dev_err)?;
        // past the j-th threshold: k grows by one, the sign flips
        two_k = past.clone().try_choose(two_k.clone() + e::<E>(2.0), two_k).map_err(dev_err)?;
        sign = past.try_choose(sign.clone().try_negate().map_err(dev_err)?, sign).map_err(dev_err)?;
    }
    Ok((sign, two_k))
}

/// Number of rows whose argmax equals the label (first maximum wins).
pub fn count_correct<E: Dtype + num_traits::ToPrimitive>(logits: &[E], classes: usize, labels: &[usize]) -> usize {
    logits
        .chunks(classes)
        .zip(labels)
        .filter(|(row, &y)| {
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if v.to_f64() > row[best].to_f64() {
                    best = j;
                }
            }
            best == y
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::margin::psi_branch;

    #[test]
    fn branches_on_the_device_match_the_scalar_formula() {
        let dev = Cpu::default();
        for m in 1..=MAX_MARGIN {
            // a grid over [−1, 1] plus every threshold itself (c ≤ t counts as past it)
            let mut cs: Vec<f64> = (0..=400).map(|i| -1.0 + i as f64 / 200.0).collect();
            cs.extend(margin_thresholds(m));
            let t: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(cs.clone(), (cs.len(),));
            let (sign, two_k) = psi_branch_on_device(m, &t).unwrap();
            for ((c, s), k) in cs.iter().zip(sign.as_vec()).zip(two_k.as_vec()) {
                assert_eq!((s, k), psi_branch(m, *c), "m = {m}, c = {c}");
            }
        }
    }
}
