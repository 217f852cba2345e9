//! The optimizers over the flat parameters of a [`HasParams`] model, with the learning rate
//! passed in at every step (the schedule is the caller's input, never hidden state).
//!
//! ```text
//! Adam:  m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
//!        p ← p − lr · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)
//! SGD:   b ← μ b + g                    p ← p − lr · b
//! ```
//! **Reference:** Kingma & Ba, arXiv 1412.6980, Algorithm 1 (PyTorch's ε placement); SGD with
//! heavy-ball momentum in PyTorch's convention (no dampening), as in the Caffe recipes for
//! MNIST (LeNet++, L-Softmax).
//!
//! With a weight decay λ_wd > 0 (decoupled, as AdamW: Loshchilov & Hutter, arXiv 1711.05101,
//! scaled by the learning rate as PyTorch does) every tensor named `*.weight` (convolution and
//! linear weights, the head's class weights included; not biases, batch-norm γ/β or PReLU
//! slopes) first shrinks, `p ← p · (1 − lr · λ_wd)`, then takes the step above.

use std::any::Any;

use dfdx::prelude::*;
use num_traits::Float;
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};

use dfdx::nn::tensor_collection::{RecursiveWalker, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef};
use dfdx::optim::OptimizerUpdateError;

use crate::model::{HasParams, ParamKind, Vector};
use crate::{dev_err, Error, Result};
use crate::model::params::e;

/// Which optimizer, with its constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with decay rates β₁, β₂ of its two moments and ε added to the root.
    Adam {
        /// β₁, decay of the first moment.
        beta1: f64,
        /// β₂, decay of the second moment.
        beta2: f64,
        /// ε added to the root of the second moment.
        eps: f64,
    },
    /// SGD with heavy-ball momentum μ (0: plain SGD).
    Sgd {
        /// μ, the decay of the velocity.
        momentum: f64,
    },
}

impl Default for OptimizerKind {
    /// Adam, β 0.9/0.999, ε 1e-8 (the protocol's and TF's defaults).
    fn default() -> Self {
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

impl OptimizerKind {
    /// Checks 0 ≤ β < 1 and ε > 0 (Adam), 0 ≤ μ < 1 (SGD).
    ///
    /// # Errors
    /// [`Error::Config`] with the bad value.
    pub fn validate(&self) -> Result<()> {
        match *self {
            OptimizerKind::Adam { beta1, beta2, eps } => {
                for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::Config(format!("adam {name} must be in [0, 1), got {b}")));
                    }
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return Err(Error::Config(format!("adam eps must be > 0, got {eps}")));
                }
            }
            OptimizerKind::Sgd { momentum } => {
                if !(momentum.is_finite() && (0.0..1.0).contains(&momentum)) {
                    return Err(Error::Config(format!("momentum must be in [0, 1), got {momentum}")));
                }
            }
        }
        Ok(())
    }

    /// Names of the state tensors kept per parameter: `m`, `v` (Adam) or `velocity` (SGD).
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Adam { .. } => &["m", "v"],
            OptimizerKind::Sgd { .. } => &["velocity"],
        }
    }
}

/// The optimizer of a run: which one, and the decoupled weight decay of the `*.weight`
/// tensors. Saved in `config.json` as `"optimizer": {"kind": "adam", …}, "weight_decay": …`;
/// configurations written before the optimizer had a name (`"adam": {"beta1": …,
/// "momentum": null | μ, "weight_decay": …}`) read back as the same settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct OptimConfig {
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Decoupled weight decay λ_wd (0: none).
    pub weight_decay: f64,
}

impl OptimConfig {
    /// Checks the optimizer's constants and 0 ≤ weight decay < 1.
    ///
    /// # Errors
    /// [`Error::Config`] with the bad value.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
            return Err(Error::Config(format!("weight decay must be in [0, 1), got {}", self.weight_decay)));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for OptimConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// The `adam` block of configurations written before [`OptimizerKind`] existed.
        #[derive(Deserialize)]
        struct Legacy {
            beta1: f64,
            beta2: f64,
            eps: f64,
            #[serde(default)]
            weight_decay: f64,
            #[serde(default)]
            momentum: Option<f64>,
        }
        #[derive(Deserialize)]
        struct Raw {
            optimizer: Option<OptimizerKind>,
            weight_decay: Option<f64>,
            adam: Option<Legacy>,
        }
        let raw = Raw::deserialize(d)?;
        match (raw.optimizer, raw.adam) {
            (Some(optimizer), _) => Ok(OptimConfig { optimizer, weight_decay: raw.weight_decay.unwrap_or(0.0) }),
            (None, Some(a)) => Ok(OptimConfig {
                optimizer: match a.momentum {
                    Some(momentum) => OptimizerKind::Sgd { momentum },
                    None => OptimizerKind::Adam { beta1: a.beta1, beta2: a.beta2, eps: a.eps },
                },
                weight_decay: a.weight_decay,
            }),
            (None, None) => Err(serde::de::Error::missing_field("optimizer")),
        }
    }
}

/// A parameter's name with its state tensors (in the order of [`OptimizerKind::slot_names`]).
pub type Slots<E, D> = (String, Vec<Vector<E, D>>);

/// One tensor to update: its slot, the parameter and the parameter after weight decay.
type Work<E, D> = (usize, Vector<E, D>, Vector<E, D>);

/// The optimizer's state: its settings, the number of updates made and the state tensors
/// of every trainable parameter of a [`HasParams`] model (the crate's networks, [`Head`](crate::model::Head)
/// (crate::model::Head), [`Model`](crate::model::Model)). For dfdx modules (your own, and
/// [`HeadModule`](crate::model::HeadModule)) use dfdx's optimizers, through [`update`].
///
/// # Examples
///
/// Two steps of SGD with momentum on a head, the second with its weight frozen:
///
/// ```
/// use sphereface_core::prelude::*;
///
/// # fn main() -> Result<(), sphereface_core::Error> {
/// let dev = Cpu::default();
/// let mut head = Head::<f64, Cpu>::from_weights(LossKind::Original { bias: true }, 1, 2, vec![0.5, -0.5], Some(vec![0.0, 0.0]), &dev)?;
/// let cfg = OptimConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, weight_decay: 0.0 };
/// let mut opt = OptimizerState::new(&head, cfg)?;
/// let step = |head: &mut Head<f64, Cpu>, opt: &mut OptimizerState<f64, Cpu>| -> Result<(), sphereface_core::Error> {
///     let x = dev.tensor_from_vec(vec![1.0, -1.0], (2, 1));
///     let mut grads = head.forward(x.leaky_traced(), &[0, 1], 0)?.loss.backward();
///     opt.step(head, &mut grads, 0.1)
/// };
/// step(&mut head, &mut opt)?;
/// let w = head.weight.as_vec();
/// assert!(w[0] > 0.5 && w[1] < -0.5, "the classes moved apart: {w:?}");
/// opt.freeze("weight")?;
/// step(&mut head, &mut opt)?;
/// assert_eq!(head.weight.as_vec(), w, "frozen");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OptimizerState<E: Dtype, D: Storage<E>> {
    /// Settings.
    pub cfg: OptimConfig,
    /// Number of updates made so far.
    pub t: u64,
    /// (name, state tensors) in the model's visiting order.
    pub slots: Vec<Slots<E, D>>,
    /// Trainable tensors that [`OptimizerState::step`] leaves as they are
    /// ([`OptimizerState::freeze`]).
    pub frozen: Vec<String>,
}

impl<E: Dtype, D: Device<E>> OptimizerState<E, D> {
    /// Zero state for every trainable parameter of `model`.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings.
    pub fn new(model: &impl HasParams<E, D>, cfg: OptimConfig) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.optimizer.slot_names().len();
        let mut slots = Vec::new();
        model.visit("", &mut |name, kind, p| {
            if kind == ParamKind::Trainable {
                let z: Vector<E, D> = p.device().zeros_like(p.shape());
                slots.push((name.to_string(), vec![z; n]));
            }
        });
        Ok(OptimizerState { cfg, t: 0, slots, frozen: Vec::new() })
    }

    /// Leaves the trainable tensor `name` (as [`HasParams::param_names`] gives it, e.g.
    /// `head.weight`) as it is from now on: no update, no weight decay, its state kept.
    ///
    /// # Errors
    /// [`Error::Config`] when no trainable tensor has that name.
    pub fn freeze(&mut self, name: &str) -> Result<()> {
        if !self.slots.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = self.slots.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Config(format!("cannot freeze {name}: no trainable tensor has that name (there are: {})", known.join(", "))));
        }
        if !self.frozen.iter().any(|n| n == name) {
            self.frozen.push(name.to_string());
        }
        Ok(())
    }

    /// One update with learning rate `lr`, from `grads` of a backward pass through `model`.
    ///
    /// # Errors
    /// [`Error::Config`] when `lr` is not a finite non-negative number or the model's
    /// parameters are not the ones this state was made for.
    /// `grads` is mutable so that the CPU route can read each gradient in place instead of
    /// copying it; the gradients it holds are left as they are. Frozen tensors
    /// ([`OptimizerState::freeze`]) are skipped. A trainable tensor without a gradient in
    /// `grads` counts as a zero gradient (dfdx 0.13 cannot tell "absent" from "zero"
    /// through its public API); the crate's own [`Head`](crate::model::Head) makes sure its
    /// gradients reach `grads` (its `forward` refuses a tape that would drop them).
    /// A refused step changes neither the model nor the state. Adam on CPU tensors updates
    /// all tensors at once, spread over the threads (the same bits as one at a time).
    pub fn step(&mut self, model: &mut impl HasParams<E, D>, grads: &mut Gradients<E, D>, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config(format!("learning rate must be finite and >= 0, got {lr}")));
        }
        let t = (self.t + 1) as i32;
        let cfg = self.cfg;
        let keep = e::<E>(1.0 - lr * cfg.weight_decay);
        // 1. Check the model against the state and list what to update: (slot, parameter,
        //    parameter after weight decay), each gradient allocated (zeros where absent).
        let mut i = 0;
        let mut failure: Option<Error> = None;
        let mut work: Vec<Work<E, D>> = Vec::new();
        {
            let slots = &self.slots;
            let frozen = &self.frozen;
            model.visit("", &mut |name, kind, p| {
                if kind != ParamKind::Trainable || failure.is_some() {
                    return;
                }
                let Some((n, state)) = slots.get(i) else {
                    failure = Some(Error::Config(format!("parameter {name} is not known to the optimizer")));
                    return;
                };
                if n != name {
                    failure = Some(Error::Config(format!("optimizer state is for {n}, the model has {name}")));
                    return;
                }
                if state.len() != cfg.optimizer.slot_names().len() {
                    failure = Some(Error::Config(format!("optimizer state of {name} has {} tensors, {:?} keeps {}", state.len(), cfg.optimizer, cfg.optimizer.slot_names().len())));
                    return;
                }
                if let Some(s) = state.iter().find(|s| s.shape().0 != p.shape().0) {
                    failure = Some(Error::Shape(format!("optimizer state of {name} holds {} values, the parameter {}", s.shape().0, p.shape().0)));
                    return;
                }
                i += 1;
                if frozen.iter().any(|f| f == name) {
                    return;
                }
                if let Err(err) = grads.try_alloc_for(p) {
                    failure = Some(dev_err(err));
                    return;
                }
                let decay = cfg.weight_decay > 0.0 && (name == "weight" || name.ends_with(".weight"));
                work.push((i - 1, p.clone(), if decay { p.clone() * keep } else { p.clone() }));
            });
        }
        if let Some(err) = failure {
            return Err(err);
        }
        if i != self.slots.len() {
            return Err(Error::Config(format!("the model has {i} trainable tensors, the optimizer {}", self.slots.len())));
        }
        // 2. The new parameters (and the state updated in place): Adam on CPU tensors for
        //    all tensors at once, spread over the threads; otherwise one tensor at a time.
        let new = match cfg.optimizer {
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let hyper = (beta1, beta2, eps);
                match adam_cpu_all::<f32, E, D>(&work, &mut self.slots, grads, t, lr, hyper).or_else(|| adam_cpu_all::<f64, E, D>(&work, &mut self.slots, grads, t, lr, hyper)) {
                    Some(new) => new?,
                    None => work.into_iter().map(|(k, p, decayed)| match &mut self.slots[k].1[..] {
                        [m, v] => adam_update(m, v, grads, &p, decayed, t, lr, hyper),
                        _ => Err(Error::Config(format!("optimizer state of {} does not match {:?}", self.slots[k].0, cfg.optimizer))),
                    }).collect::<Result<Vec<_>>>()?,
                }
            }
            OptimizerKind::Sgd { momentum } => work.into_iter().map(|(k, p, decayed)| match &mut self.slots[k].1[..] {
                [b] => sgd_update(b, grads.get(&p), decayed, lr, momentum),
                _ => Err(Error::Config(format!("optimizer state of {} does not match {:?}", self.slots[k].0, cfg.optimizer))),
            }).collect::<Result<Vec<_>>>()?,
        };
        // 3. Put them in place, in the same visiting order: nothing changed before this, so
        //    a step refused above leaves model and state as they were.
        self.t += 1;
        let frozen = &self.frozen;
        let mut new = new.into_iter();
        model.visit_mut("", &mut |name, kind, p| {
            if kind == ParamKind::Trainable && !frozen.iter().any(|f| f == name) {
                if let Some(t) = new.next() {
                    *p = t;
                }
            }
        });
        Ok(())
    }
}

/// Adam on CPU tensors of `F` for every `(slot, parameter, decayed parameter)` of `work` at
/// once, the tensors spread over the threads (each as [`adam_host`]: the same operations in
/// the same order as one at a time, so the same bits). `None` when the tensors are not CPU
/// tensors of `F`.
#[allow(clippy::type_complexity)]
fn adam_cpu_all<F: Dtype + Float, E: Dtype, D: Device<E>>(work: &[Work<E, D>], slots: &mut [Slots<E, D>], grads: &mut Gradients<E, D>, t: i32, lr: f64, hyper: (f64, f64, f64)) -> Option<Result<Vec<Vector<E, D>>>> {
    let grads = (grads as &mut dyn Any).downcast_mut::<Gradients<F, Cpu>>()?;
    // Each gradient as a slice: read only, its buffer does not move while the others are
    // looked up (the same reasoning as `model::cpu::finished_grad`).
    let mut gs: Vec<&[F]> = Vec::with_capacity(work.len());
    for (_, p, _) in work {
        let p = (p as &dyn Any).downcast_ref::<Vector<F, Cpu>>()?;
        match grads.get_or_alloc_mut(p) {
            // SAFETY: see above; `grads` is not used again until `gs` is dropped.
            Ok(g) => gs.push(unsafe { std::slice::from_raw_parts(g.as_ptr(), g.len()) }),
            Err(err) => return Some(Err(dev_err(err))),
        }
    }
    // The state of the listed slots (in increasing order), as CPU tensors of `F`.
    let mut states: Vec<&mut Vec<Vector<E, D>>> = Vec::with_capacity(work.len());
    let mut wanted = work.iter().map(|(k, _, _)| *k).peekable();
    for (k, (_, s)) in slots.iter_mut().enumerate() {
        if wanted.peek() == Some(&k) {
            wanted.next();
            states.push(s);
        }
    }
    let mut mv: Vec<(&mut Vector<F, Cpu>, &mut Vector<F, Cpu>)> = Vec::with_capacity(work.len());
    for s in states {
        let [m, v] = &mut s[..] else { return Some(Err(Error::Config("Adam needs two state tensors per parameter".into()))) };
        mv.push(((m as &mut dyn Any).downcast_mut::<Vector<F, Cpu>>()?, (v as &mut dyn Any).downcast_mut::<Vector<F, Cpu>>()?));
    }
    let mut ps: Vec<&Vector<F, Cpu>> = Vec::with_capacity(work.len());
    for (_, _, decayed) in work {
        ps.push((decayed as &dyn Any).downcast_ref::<Vector<F, Cpu>>()?);
    }
    // Every tensor's new values first, then the tensors, then the state: a failure on the
    // way changes nothing.
    let run = || -> Result<Vec<Vector<E, D>>> {
        let values: Vec<[Vec<F>; 3]> = mv.par_iter().zip(gs.into_par_iter()).zip(ps.par_iter()).map(|(((m, v), g), p)| adam_host(m, v, g, p, t, lr, hyper)).collect::<Result<_>>()?;
        let mut tensors = Vec::with_capacity(values.len());
        for ([m, v, p], old) in values.into_iter().zip(&ps) {
            let (n, dev) = (p.len(), old.device());
            let mk = |x: Vec<F>| dev.try_tensor_from_vec(x, (n,)).map_err(dev_err);
            let p = (Box::new(mk(p)?) as Box<dyn Any>).downcast::<Vector<E, D>>().map(|b| *b).map_err(|_| Error::Device("Adam: tensor type mismatch".into()))?;
            tensors.push((mk(m)?, mk(v)?, p));
        }
        Ok(mv.into_iter().zip(tensors).map(|((m, v), (new_m, new_v, p))| {
            (*m, *v) = (new_m, new_v);
            p
        }).collect())
    };
    Some(run())
}

/// One update of a dfdx optimizer (`Adam`, `Sgd`, `RMSprop`) on a dfdx module, as
/// `opt.update(module, grads)`, with dfdx's `UnusedParams` (tensor ids) turned into
/// [`Error::MissingGradient`] with the tensors' names (`1.weight`, `0.2.bias`, …; a tuple's
/// fields are numbered). dfdx has then already updated the tensors that had gradients.
///
/// # Errors
/// [`Error::MissingGradient`] when trainable tensors of `module` have no gradient in
/// `grads`; [`Error::Device`] for a device error.
///
/// # Examples
///
/// ```
/// use sphereface_core::dfdx::optim::Sgd;
/// use sphereface_core::prelude::*;
///
/// let dev = Cpu::default();
/// let mut model = dev.build_module::<(Linear<2, 3>, Linear<3, 2>), f32>();
/// let mut opt = Sgd::new(&model, Default::default());
/// let x: Tensor<Rank1<2>, f32, Cpu> = dev.sample_normal();
/// // gradients allocated for the first layer only: the second's are dropped by backward()
/// let grads = model.forward(x.traced(model.0.alloc_grads())).square().sum().backward();
/// let err = sphereface_core::optim::update(&mut opt, &mut model, &grads).unwrap_err();
/// assert!(err.to_string().contains("1.weight, 1.bias"), "{err}");
/// ```
pub fn update<M, O, E, D>(opt: &mut O, module: &mut M, grads: &Gradients<E, D>) -> Result<()>
where
    E: Dtype,
    D: Device<E>,
    M: TensorCollection<E, D>,
    O: dfdx::optim::Optimizer<M, D, E>,
{
    match opt.update(module, grads) {
        Ok(()) => Ok(()),
        Err(OptimizerUpdateError::DeviceError(err)) => Err(dev_err(err)),
        Err(OptimizerUpdateError::UnusedParams(unused)) => {
            let mut names = Names { wanted: unused.ids, found: Vec::new() };
            M::iter_tensors(&mut RecursiveWalker { m: (&*module, String::new()), f: &mut names }).map_err(dev_err)?;
            Err(Error::MissingGradient { names: names.found, hint: UPDATE_HINT })
        }
    }
}

/// What to do when dfdx's optimizer finds tensors without gradients.
const UPDATE_HINT: &str = "either the loss does not depend on them, or the input's tape was made by traced(grads) with gradients \
    allocated for part of the module only (backward() drops the others): allocate for everything the optimizer updates \
    (let both = (model, head); ... x.traced(both.alloc_grads())), or give the optimizer only what the loss reaches";

/// Collects the names of the tensors whose ids are `wanted`, in visiting order.
struct Names {
    wanted: Vec<UniqueId>,
    found: Vec<String>,
}

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for Names {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(&mut self, _: TensorOptions<S, E, D>, (t, name): (&Tensor<S, E, D>, String)) -> std::result::Result<Option<Tensor<S, E, D>>, Self::Err> {
        let mut id = UnusedTensors::default();
        id.add(t);
        if id.ids.iter().any(|i| self.wanted.contains(i)) {
            self.found.push(name);
        }
        Ok(None)
    }
}

/// Adam's moments updated in place; returns the new parameter (from the decayed one `p`;
/// the gradient is `param`'s in `grads`), with dfdx ops (any device). CPU tensors take
/// [`adam_cpu_all`] instead: the same floating-point operations in the same order, so the
/// two agree bit for bit.
#[allow(clippy::too_many_arguments)]
fn adam_update<E: Dtype, D: Device<E>>(m: &mut Vector<E, D>, v: &mut Vector<E, D>, grads: &mut Gradients<E, D>, param: &Vector<E, D>, p: Vector<E, D>, t: i32, lr: f64, hyper: (f64, f64, f64)) -> Result<Vector<E, D>> {
    let g = grads.get(param);
    let (beta1, beta2, eps) = hyper;
    let (b1, b2) = (e::<E>(beta1), e::<E>(beta2));
    let step = e::<E>(lr / (1.0 - beta1.powi(t)));
    let vscale = e::<E>(1.0 / (1.0 - beta2.powi(t)));
    *m = (m.clone() * b1).try_add(g.clone() * (E::ONE - b1)).map_err(dev_err)?;
    *v = (v.clone() * b2).try_add(g.try_square().map_err(dev_err)? * (E::ONE - b2)).map_err(dev_err)?;
    let denom = (v.clone() * vscale).try_sqrt().map_err(dev_err)? + e::<E>(eps);
    let upd = (m.clone() * step).try_div(denom).map_err(dev_err)?;
    p.try_sub(upd).map_err(dev_err)
}

/// Adam on one CPU tensor: m, v and the parameter in one pass over host values (in
/// parallel chunks: elementwise, so the values do not depend on the split), with the
/// operations of the dfdx route in the same order. The gradient `g` is read in place, and
/// the new m, v and parameter are returned as host vectors (for tensors made without
/// copying their buffers again).
fn adam_host<F: Dtype + Float>(m: &Vector<F, Cpu>, v: &Vector<F, Cpu>, g: &[F], p: &Vector<F, Cpu>, t: i32, lr: f64, (beta1, beta2, eps): (f64, f64, f64)) -> Result<[Vec<F>; 3]> {
    let (b1, b2) = (e::<F>(beta1), e::<F>(beta2));
    let step = e::<F>(lr / (1.0 - beta1.powi(t)));
    let vscale = e::<F>(1.0 / (1.0 - beta2.powi(t)));
    let (one_b1, one_b2, eps) = (F::ONE - b1, F::ONE - b2, e::<F>(eps));
    let n = p.shape().0;
    if g.len() != n || m.shape().0 != n || v.shape().0 != n {
        return Err(Error::Shape(format!("Adam: gradient of {}, moments of {} and {} values for a parameter of {n}", g.len(), m.shape().0, v.shape().0)));
    }
    let (mut mv, mut vv, mut pv) = (vec![F::default(); n], vec![F::default(); n], vec![F::default(); n]);
    m.copy_into(&mut mv);
    v.copy_into(&mut vv);
    p.copy_into(&mut pv);
    const CHUNK: usize = 1 << 15;
    mv.par_chunks_mut(CHUNK).zip(vv.par_chunks_mut(CHUNK)).zip(g.par_chunks(CHUNK)).zip(pv.par_chunks_mut(CHUNK)).for_each(|(((m, v), g), p)| {
        for (((m, v), &g), p) in m.iter_mut().zip(v.iter_mut()).zip(g).zip(p.iter_mut()) {
            *m = *m * b1 + g * one_b1;
            *v = *v * b2 + g * g * one_b2;
            *p = *p - (*m * step) / ((*v * vscale).sqrt() + eps);
        }
    });
    Ok([mv, vv, pv])
}

/// SGD's velocity updated in place; returns the new parameter (from the decayed one).
fn sgd_update<E: Dtype, D: Device<E>>(b: &mut Vector<E, D>, g: Vector<E, D>, p: Vector<E, D>, lr: f64, momentum: f64) -> Result<Vector<E, D>> {
    *b = (b.clone() * e::<E>(momentum)).try_add(g).map_err(dev_err)?;
    p.try_sub(b.clone() * e::<E>(lr)).map_err(dev_err)
}
