//! Parameters: every weight is a flat vector `Tensor<(usize,), E, D>`, reshaped where it
//! is used, so one optimizer, one checkpoint format and one gradient check cover all layers.
//! Initialisers draw on the host from a seeded [`Rng`], so a seed gives the same
//! network on every device.

use dfdx::prelude::*;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

use crate::Rng;

/// A flat parameter or buffer.
pub type Vector<E, D> = Tensor<(usize,), E, D>;

/// Whether a tensor is trained by the optimizer or only carried (batch-norm statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Updated by the optimizer from its gradient.
    Trainable,
    /// State that is saved with the model but has no gradient (running statistics).
    Buffer,
}

/// Something that owns named parameters.
pub trait HasParams<E: Dtype, D: Storage<E>> {
    /// Calls `f` with the dotted name, kind and value of every tensor, in a fixed order.
    #[allow(clippy::type_complexity)]
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &Vector<E, D>));
    /// Like [`HasParams::visit`], with mutable access (optimizers, checkpoint loading).
    #[allow(clippy::type_complexity)]
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &mut Vector<E, D>));

    /// Number of trainable scalars.
    fn num_trainable(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, k, t| {
            if k == ParamKind::Trainable {
                n += t.shape().0;
            }
        });
        n
    }

    /// Names of all tensors, in visiting order.
    fn param_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.visit("", &mut |n, _, _| names.push(n.to_string()));
        names
    }
}

/// `prefix.name`, or `name` when the prefix is empty.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Converts an f64 constant to the dtype `E` (exact for f64, rounded for f32).
pub fn e<E: Dtype>(x: f64) -> E {
    // from_f64 never fails for f32/f64; a NaN marks a dtype that cannot hold it.
    E::from_f64(x).unwrap_or_else(|| E::from_f64(f64::NAN).unwrap_or_default())
}

/// Builds a flat tensor from host values.
pub fn vector<E: Dtype, D: Device<E>>(dev: &D, values: Vec<f64>) -> Vector<E, D> {
    let n = values.len();
    dev.tensor_from_vec(values.into_iter().map(e::<E>).collect(), (n,))
}

/// Glorot/Xavier uniform: U(−a, a), a = sqrt(6 / (fan_in + fan_out)) (TF `glorot_uniform`).
pub fn xavier_uniform(rng: &mut Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f64> {
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    (0..n).map(|_| rng.gen_range(-a..a)).collect()
}

/// TF1 `xavier_initializer(uniform=False)`: a normal truncated at ±2σ with
/// σ = sqrt(1.3 / ((fan_in + fan_out) / 2)); the 1.3 restores the variance lost to truncation.
pub fn xavier_truncated_normal(rng: &mut Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f64> {
    /// Variance correction of a normal truncated at two standard deviations (TF1).
    const TRUNCATION_CORRECTION: f64 = 1.3;
    let sigma = (TRUNCATION_CORRECTION / ((fan_in + fan_out) as f64 / 2.0)).sqrt();
    (0..n)
        .map(|_| loop {
            let z: f64 = StandardNormal.sample(rng);
            if z.abs() <= 2.0 {
                break z * sigma;
            }
        })
        .collect()
}

/// Implements [`HasParams`] for a layer with a trainable `weight` and an optional trainable
/// `bias` (both [`Vector`]s), named `weight` and `bias`.
#[macro_export]
#[doc(hidden)]
macro_rules! weight_bias_params {
    ($ty:ident) => {
        impl<E: dfdx::prelude::Dtype, D: dfdx::prelude::Storage<E>> $crate::model::params::HasParams<E, D> for $ty<E, D> {
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, $crate::model::params::ParamKind, &$crate::model::params::Vector<E, D>)) {
                f(&$crate::model::params::join(prefix, "weight"), $crate::model::params::ParamKind::Trainable, &self.weight);
                if let Some(b) = &self.bias {
                    f(&$crate::model::params::join(prefix, "bias"), $crate::model::params::ParamKind::Trainable, b);
                }
            }
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, $crate::model::params::ParamKind, &mut $crate::model::params::Vector<E, D>)) {
                f(&$crate::model::params::join(prefix, "weight"), $crate::model::params::ParamKind::Trainable, &mut self.weight);
                if let Some(b) = &mut self.bias {
                    f(&$crate::model::params::join(prefix, "bias"), $crate::model::params::ParamKind::Trainable, b);
                }
            }
        }
    };
}
