//! The heads as a dfdx module: class weights with compile-time sizes that dfdx's optimizers,
//! `alloc_grads`, `reset_params` and safetensors/npz files see like a `Linear`'s, so one
//! dfdx optimizer trains your model and the head together. The losses are those of
//! [`Head`], computed by the same code.

use dfdx::prelude::*;
use rand_distr::uniform::SampleUniform;

use super::heads::{check_input, head_forward, head_logits, to_matrix, Head, HeadOutput, LossKind, Mat};
use super::params::{e, xavier_uniform};
use crate::{dev_err, Error, Result, Rng};

/// A head for `DIM`-dimensional embeddings and `CLASSES` classes as a dfdx module: its
/// class weights `W` `[DIM, CLASSES]` are a dfdx tensor that dfdx's optimizers update with
/// your model's (put both in a tuple, or in your own [`TensorCollection`]). Every
/// [`LossKind`] but the original softmax with a bias (use dfdx's `Linear` and
/// `cross_entropy_with_logits_loss` for that).
///
/// dfdx builds and converts modules from their tensors alone, so the loss kind is not part
/// of what dfdx sees: `to_dtype` and `to_device` give a [`ClassWeights`], which
/// [`HeadModule::with_weights`] turns back into a head with the kind you name; and
/// `dev.build_module::<HeadModule<…>, f32>()` does not compile: use [`HeadModule::new`].
///
/// # The tape
/// The gradient of `W` survives `backward()` only when the tape keeps it: allocate the
/// gradients for model *and* head, `let both = (model, head); … x.traced(both.alloc_grads())`
/// (or `leaky_traced()`, which keeps every gradient). With `x.traced(model.alloc_grads())` the head's gradient is dropped,
/// and dfdx's optimizers then return `OptimizerUpdateError::UnusedParams` (an id, no name);
/// [`update`](crate::optim::update) turns that into [`Error::MissingGradient`] naming the
/// tensor. Either way the step fails: the head is never left unchanged in silence.
///
/// # Examples
///
/// A dfdx MLP and an A-Softmax head trained by one dfdx Adam (the full scenario, with data
/// and an accuracy, is `examples/own_model.rs`):
///
/// ```
/// use sphereface_core::prelude::*;
/// use sphereface_core::model::HeadModule;
/// use sphereface_core::dfdx::optim::Adam;
///
/// # fn main() -> Result<(), sphereface_core::Error> {
/// type Mlp = (Linear<2, 16>, ReLU, Linear<16, 2>);
/// let dev = Cpu::default();
/// let mut rng = Rng::seed_from_u64(0);
/// let mlp = dev.build_module::<Mlp, f32>();
/// let head = HeadModule::<2, 4, f32, Cpu>::new(LossKind::angular(4, LambdaSchedule::none())?, &dev, &mut rng)?;
/// let mut both = (mlp, head); // one collection: one optimizer, one alloc_grads
/// let mut opt = Adam::new(&both, AdamConfig { lr: 1e-2, ..Default::default() });
/// let x: Tensor<Rank2<8, 2>, f32, Cpu> = dev.sample_normal();
/// let labels = [0, 1, 2, 3, 0, 1, 2, 3];
/// let before = both.1.weight.as_vec();
/// let emb = both.0.forward(x.traced(both.alloc_grads())); // [8, 2] as (Const<8>, Const<2>)
/// let out = both.1.forward(emb, &labels, 0)?;
/// let grads = out.loss.backward();
/// sphereface_core::optim::update(&mut opt, &mut both, &grads)?;
/// assert_ne!(both.1.weight.as_vec(), before, "the head trained");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HeadModule<const DIM: usize, const CLASSES: usize, E: Dtype, D: Storage<E>> {
    /// The loss.
    pub kind: LossKind,
    /// Class weights `[DIM, CLASSES]` (column j is w_j), as [`Head::weight`] reshaped.
    pub weight: Tensor<Rank2<DIM, CLASSES>, E, D>,
}

/// The tensors of a [`HeadModule`] without its loss kind: what dfdx's conversions
/// (`to_dtype`, `to_device`) give.
#[derive(Clone, Debug)]
pub struct ClassWeights<const DIM: usize, const CLASSES: usize, E: Dtype, D: Storage<E>> {
    /// Class weights `[DIM, CLASSES]`.
    pub weight: Tensor<Rank2<DIM, CLASSES>, E, D>,
}

impl<const DIM: usize, const CLASSES: usize, E: Dtype, D: Device<E>> HeadModule<DIM, CLASSES, E, D> {
    /// A head with W Glorot-uniform from `rng` (as [`Head::new`]).
    ///
    /// # Errors
    /// [`Error::Config`] for invalid loss settings, for the original softmax with a bias, or
    /// when `DIM` or `CLASSES` is 0.
    pub fn new(kind: LossKind, dev: &D, rng: &mut Rng) -> Result<Self> {
        Self::check(&kind)?;
        let w: Vec<E> = xavier_uniform(rng, DIM * CLASSES, DIM, CLASSES).into_iter().map(e::<E>).collect();
        let weight = dev.try_tensor_from_vec(w, Rank2::<DIM, CLASSES>::default()).map_err(dev_err)?;
        Ok(HeadModule { kind, weight })
    }

    /// A head with the loss `kind` and the given weights (from a conversion, or a file).
    ///
    /// # Errors
    /// As [`HeadModule::new`].
    pub fn with_weights(kind: LossKind, weights: ClassWeights<DIM, CLASSES, E, D>) -> Result<Self> {
        Self::check(&kind)?;
        Ok(HeadModule { kind, weight: weights.weight })
    }

    fn check(kind: &LossKind) -> Result<()> {
        kind.validate()?;
        if matches!(kind, LossKind::Original { bias: true }) {
            return Err(Error::Config("HeadModule has no bias: for the original softmax with a bias use dfdx's Linear and cross_entropy_with_logits_loss, or Head".into()));
        }
        if DIM == 0 || CLASSES == 0 {
            return Err(Error::Config(format!("embedding dimension and class count must be >= 1, got {DIM} and {CLASSES}")));
        }
        Ok(())
    }

    fn weight_on<T: Tape<E, D>>(&self) -> Result<Mat<E, D, T>> {
        // a shape relabelling: same tensor id, so the gradient lands on `self.weight`
        self.weight.retaped::<T>().try_realize::<(usize, usize)>().map_err(|_| Error::Shape("class weights are not a matrix".into()))
    }

    /// Prediction logits `[B, CLASSES]` (no margin), as [`Head::logits`]; x of any rank-2
    /// shape with `DIM` columns.
    ///
    /// # Errors
    /// [`Error::Shape`] when x is not `[B, DIM]`.
    pub fn logits<B: Dim, F: Dim, T: Tape<E, D>>(&self, x: Tensor<(B, F), E, D, T>) -> Result<Mat<E, D, T>> {
        let x = to_matrix(x)?;
        check_input(&x, DIM)?;
        head_logits(&self.kind, x, self.weight_on::<T>()?, None)
    }

    /// Loss, logits and margin logits, as [`Head::forward`] (same code); x of any rank-2
    /// shape with `DIM` columns, carrying a tape that keeps the head's gradient (see
    /// [the tape](HeadModule#the-tape)).
    ///
    /// # Errors
    /// As [`Head::forward`].
    pub fn forward<B: Dim, F: Dim, T: Tape<E, D>>(&self, x: Tensor<(B, F), E, D, T>, labels: &[usize], step: u64) -> Result<HeadOutput<E, D, T>> {
        let x = to_matrix(x)?;
        check_input(&x, DIM)?;
        head_forward(&self.kind, CLASSES, x, self.weight_on::<T>()?, None, labels, step)
    }

    /// The same head with run-time sizes (a copy of W): for the crate's tools that take a
    /// [`Head`] (open-set scores, figures).
    ///
    /// # Errors
    /// As [`Head::from_weights`].
    pub fn to_head(&self) -> Result<Head<E, D>> {
        let w = self.weight.as_vec().into_iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect();
        Head::from_weights(self.kind, DIM, CLASSES, w, None, self.weight.device())
    }
}

/// Glorot-uniform, as [`HeadModule::new`] (from dfdx's generator: `reset_params`).
fn glorot<const DIM: usize, const CLASSES: usize, E: Dtype + SampleUniform, D: Device<E>>(t: &mut Tensor<Rank2<DIM, CLASSES>, E, D>) -> std::result::Result<(), D::Err> {
    let a = (6.0 / (DIM + CLASSES) as f64).sqrt();
    t.try_fill_with_distr(rand_distr::Uniform::new(e::<E>(-a), e::<E>(a)))
}

impl<const DIM: usize, const CLASSES: usize, E: Dtype + SampleUniform, D: Device<E>> TensorCollection<E, D> for HeadModule<DIM, CLASSES, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = ClassWeights<DIM, CLASSES, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, TensorOptions::reset_with(glorot::<DIM, CLASSES, E, D>)), |weight| ClassWeights { weight })
    }
}
