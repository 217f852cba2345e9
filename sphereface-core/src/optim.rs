//! Adam over the flat parameters of a [`HasParams`] model, with the learning rate passed in
//! at every step (the schedule is the caller's input, never hidden state).
//!
//! ```text
//! m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
//! p ← p − lr · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)
//! ```
//! **Reference:** Kingma & Ba, arXiv 1412.6980, Algorithm 1 (PyTorch's ε placement).
//!
//! With a weight decay λ_wd > 0 (decoupled, AdamW: Loshchilov & Hutter, arXiv 1711.05101,
//! PyTorch's convention of scaling it by the learning rate) every tensor named `*.weight`
//! (convolution and linear weights, the head's class weights included; not biases,
//! batch-norm γ/β or PReLU slopes) first
//! shrinks: `p ← p · (1 − lr · λ_wd)`, then takes the Adam step above.
//!
//! With `momentum: Some(μ)` the same state runs SGD with heavy-ball momentum instead (the
//! Caffe recipes for MNIST: LeNet++, L-Softmax; PyTorch's `SGD` convention, no dampening),
//! with the same decoupled weight decay (SGDW); β and ε are then unused:
//!
//! ```text
//! b ← μ b + g          p ← p · (1 − lr · λ_wd) − lr · b
//! ```

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::params::{e, HasParams, ParamKind, Vector};
use crate::{dev_err, Error, Result};

/// Adam's constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// β₁, decay of the first moment.
    pub beta1: f64,
    /// β₂, decay of the second moment.
    pub beta2: f64,
    /// ε added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay λ_wd of the `*.weight` tensors (0: none, plain Adam).
    #[serde(default)]
    pub weight_decay: f64,
    /// `Some(μ)`: SGD with momentum μ instead of Adam (see the module docs). `None`: Adam.
    #[serde(default)]
    pub momentum: Option<f64>,
}

impl Default for AdamConfig {
    /// β 0.9/0.999, ε 1e-8 (the protocol's and TF's defaults), no weight decay.
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, momentum: None }
    }
}

impl AdamConfig {
    /// Checks 0 ≤ β < 1, ε > 0, 0 ≤ weight decay < 1 and 0 ≤ momentum < 1.
    ///
    /// # Errors
    /// [`Error::Config`] with the bad value.
    pub fn validate(&self) -> Result<()> {
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::Config(format!("adam {name} must be in [0, 1), got {b}")));
            }
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(Error::Config(format!("adam eps must be > 0, got {}", self.eps)));
        }
        if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
            return Err(Error::Config(format!("weight decay must be in [0, 1), got {}", self.weight_decay)));
        }
        if let Some(mu) = self.momentum {
            if !(mu.is_finite() && (0.0..1.0).contains(&mu)) {
                return Err(Error::Config(format!("momentum must be in [0, 1), got {mu}")));
            }
        }
        Ok(())
    }
}

/// A parameter's name with its first and second moments.
pub type Moments<E, D> = (String, Vector<E, D>, Vector<E, D>);

/// Adam's state: step count and the two moments of every trainable parameter (SGD with
/// momentum keeps its velocity in the first and leaves the second at zero).
#[derive(Clone, Debug)]
pub struct Adam<E: Dtype, D: Storage<E>> {
    /// Constants.
    pub cfg: AdamConfig,
    /// Number of updates made so far.
    pub t: u64,
    /// (name, first moment, second moment) in the model's visiting order.
    pub moments: Vec<Moments<E, D>>,
}

impl<E: Dtype, D: Device<E>> Adam<E, D> {
    /// Zero moments for every trainable parameter of `model`.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid constants.
    pub fn new(model: &impl HasParams<E, D>, cfg: AdamConfig) -> Result<Self> {
        cfg.validate()?;
        let mut moments = Vec::new();
        model.visit("", &mut |name, kind, p| {
            if kind == ParamKind::Trainable {
                let z: Vector<E, D> = p.device().zeros_like(p.shape());
                moments.push((name.to_string(), z.clone(), z));
            }
        });
        Ok(Adam { cfg, t: 0, moments })
    }

    /// One update with learning rate `lr`, from `grads` of a backward pass through `model`.
    ///
    /// # Errors
    /// [`Error::Config`] when `lr` is not a finite non-negative number or the model's
    /// parameters are not the ones this optimizer was made for.
    pub fn step(&mut self, model: &mut impl HasParams<E, D>, grads: &Gradients<E, D>, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config(format!("learning rate must be finite and >= 0, got {lr}")));
        }
        self.t += 1;
        let t = self.t as i32;
        let c = self.cfg;
        let b1 = e::<E>(c.beta1);
        let b2 = e::<E>(c.beta2);
        let step = e::<E>(lr / (1.0 - c.beta1.powi(t)));
        let vscale = e::<E>(1.0 / (1.0 - c.beta2.powi(t)));
        let eps = e::<E>(c.eps);
        let keep = e::<E>(1.0 - lr * c.weight_decay);
        let mut i = 0;
        let mut failure: Option<Error> = None;
        let moments = &mut self.moments;
        model.visit_mut("", &mut |name, kind, p| {
            if kind != ParamKind::Trainable || failure.is_some() {
                return;
            }
            let Some((n, m, v)) = moments.get_mut(i) else {
                failure = Some(Error::Config(format!("parameter {name} is not known to the optimizer")));
                return;
            };
            if n != name {
                failure = Some(Error::Config(format!("optimizer state is for {n}, the model has {name}")));
                return;
            }
            i += 1;
            let g = grads.get(p);
            let decay = c.weight_decay > 0.0 && (name == "weight" || name.ends_with(".weight"));
            let res = (|| -> Result<()> {
                if let Some(mu) = c.momentum {
                    *m = (m.clone() * e::<E>(mu)).try_add(g.clone()).map_err(dev_err)?;
                    let decayed = if decay { p.clone() * keep } else { p.clone() };
                    *p = decayed.try_sub(m.clone() * e::<E>(lr)).map_err(dev_err)?;
                    return Ok(());
                }
                *m = (m.clone() * b1).try_add(g.clone() * (E::ONE - b1)).map_err(dev_err)?;
                *v = (v.clone() * b2).try_add(g.try_square().map_err(dev_err)? * (E::ONE - b2)).map_err(dev_err)?;
                let denom = (v.clone() * vscale).try_sqrt().map_err(dev_err)? + eps;
                let upd = (m.clone() * step).try_div(denom).map_err(dev_err)?;
                let decayed = if decay { p.clone() * keep } else { p.clone() };
                *p = decayed.try_sub(upd).map_err(dev_err)?;
                Ok(())
            })();
            if let Err(err) = res {
                failure = Some(err);
            }
        });
        match failure {
            Some(err) => Err(err),
            None if i != moments.len() => Err(Error::Config(format!("the model has {i} trainable tensors, the optimizer {}", moments.len()))),
            None => Ok(()),
        }
    }
}
