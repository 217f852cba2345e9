//! The angular margin of A-Softmax, as numbers: ψ(θ) through the Chebyshev polynomial of
//! c = cos θ, its interval k, and the λ(t) schedule that phases the margin in. The head
//! ([`super::heads`]) evaluates ψ on the tape from the same pieces; the figures call [`psi`].
//!
//! ```text
//! ψ(θ) = (−1)^k cos(mθ) − 2k,  θ ∈ [kπ/m, (k+1)π/m];   cos(mθ) = T_m(cos θ)
//! λ(t) = max(λ_min, base·(1 + γ t)^(−power))
//! ```
//! **Reference:** Liu et al., *SphereFace*, arXiv 1704.08063, eq. (6)–(7); λ annealing as in
//! the authors' Caffe `MarginInnerProduct` layer (wy1iu/sphereface).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// λ(t) = max(λ_min, base·(1 + γ t)^(−power)), evaluated at the step passed in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LambdaSchedule {
    /// λ at step 0 (before the floor).
    pub base: f64,
    /// Decay rate γ per step.
    pub gamma: f64,
    /// Exponent.
    pub power: f64,
    /// Floor λ_min.
    pub min: f64,
}

impl LambdaSchedule {
    /// The authors' Caffe values: base 1000, γ 0.12, power 1, λ_min 5 (the default).
    pub fn caffe() -> Self {
        LambdaSchedule { base: 1000.0, gamma: 0.12, power: 1.0, min: 5.0 }
    }
    /// The PyTorch port's values (clcarwin): base 1500, γ 0.1, power 1, λ_min 5.
    pub fn pytorch() -> Self {
        LambdaSchedule { base: 1500.0, gamma: 0.1, power: 1.0, min: 5.0 }
    }
    /// λ = 0 at every step: the full margin from the start (the seed's final code).
    pub fn none() -> Self {
        LambdaSchedule { base: 0.0, gamma: 0.0, power: 1.0, min: 0.0 }
    }
    /// A preset by name: `caffe`, `pytorch` or `none`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the unknown preset.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "caffe" => Ok(LambdaPreset::Caffe.schedule()),
            "pytorch" => Ok(LambdaPreset::Pytorch.schedule()),
            "none" => Ok(LambdaPreset::None.schedule()),
            other => Err(Error::Config(format!("unknown lambda schedule {other:?} (expected caffe, pytorch or none)"))),
        }
    }
    /// λ at `step`.
    pub fn at(&self, step: u64) -> f64 {
        (self.base * (1.0 + self.gamma * step as f64).powf(-self.power)).max(self.min)
    }
    /// Checks that every value is finite and non-negative.
    ///
    /// # Errors
    /// [`Error::Config`] with the bad field and value.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("base", self.base), ("gamma", self.gamma), ("power", self.power), ("min", self.min)] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::Config(format!("lambda {name} must be finite and >= 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// The named λ schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum LambdaPreset {
    /// [`LambdaSchedule::caffe`].
    Caffe,
    /// [`LambdaSchedule::pytorch`].
    Pytorch,
    /// [`LambdaSchedule::none`].
    None,
}

impl LambdaPreset {
    /// The schedule.
    pub fn schedule(self) -> LambdaSchedule {
        match self {
            LambdaPreset::Caffe => LambdaSchedule::caffe(),
            LambdaPreset::Pytorch => LambdaSchedule::pytorch(),
            LambdaPreset::None => LambdaSchedule::none(),
        }
    }
}

/// Largest margin accepted: beyond it the Chebyshev coefficients lose f64 precision.
pub const MAX_MARGIN: u32 = 16;

/// Coefficients a_0..a_m of the Chebyshev polynomial T_m(c) = Σ a_i cᵢ = cos(m·acos c),
/// from T_0 = 1, T_1 = c, T_{n+1} = 2c T_n − T_{n−1}.
pub fn chebyshev_coefficients(m: u32) -> Vec<f64> {
    let mut prev = vec![1.0]; // T_0
    let mut cur = vec![0.0, 1.0]; // T_1
    if m == 0 {
        return prev;
    }
    for _ in 1..m {
        let mut next = vec![0.0; cur.len() + 1];
        for (i, a) in cur.iter().enumerate() {
            next[i + 1] += 2.0 * a;
        }
        for (i, a) in prev.iter().enumerate() {
            next[i] -= a;
        }
        prev = cur;
        cur = next;
    }
    cur
}

/// The thresholds cos(jπ/m), j = 1..m−1, where ψ changes branch.
pub fn margin_thresholds(m: u32) -> impl Iterator<Item = f64> {
    (1..m).map(move |j| (j as f64 * std::f64::consts::PI / m as f64).cos())
}

/// k(c) = #{j ∈ 1..m−1 : c ≤ cos(jπ/m)}, the interval [kπ/m, (k+1)π/m] holding θ = acos c.
pub fn margin_interval(m: u32, c: f64) -> u32 {
    margin_thresholds(m).filter(|&t| c <= t).count() as u32
}

/// The piecewise part of ψ at c = cos θ: ((−1)^k, 2k) with k = [`margin_interval`]`(m, c)`,
/// so that ψ = (−1)^k T_m(c) − 2k. The head takes these per sample (no gradient through k)
/// and evaluates T_m on the tape; [`psi`] evaluates the same formula on a number.
pub fn psi_branch(m: u32, c: f64) -> (f64, f64) {
    let k = margin_interval(m, c);
    (if k.is_multiple_of(2) { 1.0 } else { -1.0 }, 2.0 * k as f64)
}

/// ψ as a function of c = cos θ: (−1)^k T_m(c) − 2k (Chebyshev form, no acos).
pub fn psi(m: u32, c: f64) -> f64 {
    let c = c.clamp(-1.0, 1.0);
    let (sign, two_k) = psi_branch(m, c);
    let t: f64 = chebyshev_coefficients(m).iter().rev().fold(0.0, |acc, a| acc * c + a);
    sign * t - two_k
}

/// Whether ArcFace's target takes the fallback at c = cos θ: θ + m ≥ π, i.e. c ≤ cos(π − m),
/// where cos(θ + m) would stop falling with θ; insightface then uses c − m sin m instead.
pub fn arcface_fallback(m: f64, c: f64) -> bool {
    c <= arcface_fallback_threshold(m)
}

/// cos(π − m): ArcFace's target takes the fallback at and below it.
pub fn arcface_fallback_threshold(m: f64) -> f64 {
    (std::f64::consts::PI - m).cos()
}

/// The target logit of each margin head divided by its scale (‖x‖ for A-Softmax with λ = 0,
/// s for CosFace and ArcFace), as a function of c = cos θ_y: what the figures draw.
///
/// ```text
/// A-Softmax  ψ(θ)                 CosFace  cos θ − m
/// ArcFace    cos(θ + m), or cos θ − m sin m where θ > π − m
/// ```
pub fn psi_arcface(m: f64, c: f64) -> f64 {
    let c = c.clamp(-1.0, 1.0);
    if arcface_fallback(m, c) {
        c - m * m.sin()
    } else {
        c * m.cos() - (1.0 - c * c).max(0.0).sqrt() * m.sin()
    }
}

/// CosFace's target logit over s at c = cos θ: c − m.
pub fn psi_cosface(m: f64, c: f64) -> f64 {
    c.clamp(-1.0, 1.0) - m
}
