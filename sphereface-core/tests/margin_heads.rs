//! CosFace and ArcFace against independent float64 reference values, finite differences,
//! the fallback region of ArcFace, and properties (m = 0 is normalised softmax with scale s).
//!
//! Reference values come from `tests/reference/gen_refs.py` (numpy, float64, per-sample
//! scalar loops with hand-derived gradients checked there by central differences). The two
//! heads there:
//!
//! ```python
//! def cos_ij(x, W):                 # c_j = clamp(x.w_j/(||x|| ||w_j||), -1, 1)
//!     nx = norm(x)
//!     return [min(1.0, max(-1.0, fdot(x, W[:, j]) / norm(W[:, j]) / nx))
//!             for j in range(W.shape[1])]
//! def arcface_target(c, s, m):      # (f_y, df_y/dc, fallback?); the branch carries no gradient
//!     sn = math.sqrt(max(1.0 - c*c, 0.0) + EPS)        # sin theta_y (EPS: finite at c = +-1)
//!     if c > math.cos(math.pi - m):                    # theta_y + m < pi: s cos(theta_y + m)
//!         return s * (c*math.cos(m) - sn*math.sin(m)), s * (math.cos(m) + c*math.sin(m)/sn), False
//!     return s * (c - m*math.sin(m)), s, True          # insightface fallback
//! def logits_cosface(x, W, y, s, m):   # target: s (c - m); others s c
//!     c = cos_ij(x, W)
//!     f = [s*cj for cj in c]
//!     f[y] = s * (c[y] - m)
//!     return f
//! def logits_arcface(x, W, y, s, m):   # target: arcface_target; others s c
//!     c = cos_ij(x, W)
//!     f = [s*cj for cj in c]
//!     f[y] = arcface_target(c[y], s, m)[0]
//!     return f
//! # loss = mean over the batch of -log softmax(f)_y; prediction logits s c_j
//! ```

mod common;
#[path = "reference/head_refs.rs"]
mod head_refs;

use common::*;
use head_refs as r;
use proptest::prelude::*;
use sphereface_core::model::margin::{arcface_fallback, psi_arcface, psi_cosface};
use sphereface_core::prelude::*;
use std::f64::consts::PI;

/// Loss, logits, margin logits and gradients of a head on the host.
struct Run {
    loss: f64,
    logits: Vec<f64>,
    margin: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
}

fn run(kind: LossKind, d: usize, x: &[f64], w: &[f64], labels: &[usize]) -> Run {
    let dev = Cpu::default();
    let head = Head::<f64, Cpu>::from_weights(kind, d, w.len() / d, w.to_vec(), None, &dev).unwrap();
    let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(x.to_vec(), (labels.len(), d));
    let out = head.forward(xt.leaky_trace(), labels, 0).unwrap();
    let loss = out.loss.array();
    let grads = out.loss.backward();
    Run { loss, logits: out.logits.as_vec(), margin: out.margin_logits.as_vec(), dx: grads.get(&xt).as_vec(), dw: grads.get(&head.weight).as_vec() }
}

fn loss_only(kind: LossKind, d: usize, x: &[f64], w: &[f64], labels: &[usize]) -> f64 {
    run(kind, d, x, w, labels).loss
}

/// Checks a head on (x, W, labels) against the constants of one gen_refs.py case.
#[allow(clippy::too_many_arguments)]
fn check<const D: usize, const B: usize, const C: usize>(
    name: &str,
    kind: LossKind,
    x: &[[f64; D]; B],
    w: &[[f64; C]; D],
    labels: &[usize; B],
    loss: f64,
    dx: &[[f64; D]; B],
    dw: &[[f64; C]; D],
    logits: &[[f64; C]; B],
    margin: &[[f64; C]; B],
) {
    let got = run(kind, D, &flat(x), &flat(w), labels);
    assert_close(&format!("{name} loss"), got.loss, loss, REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} logits"), &got.logits, &flat(logits), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} margin logits"), &got.margin, &flat(margin), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} dL/dx"), &got.dx, &flat(dx), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} dL/dW"), &got.dw, &flat(dw), REF_ATOL, REF_RTOL);
}

/// Checks the case `r::<PREFIX>_*` with the given head, inputs and labels.
macro_rules! case {
    ($kind:expr, $x:ident, $w:ident, $labels:ident, $p:ident) => {
        paste::paste! {
            check(stringify!($p), $kind, &r::$x, &r::$w, &r::$labels, r::[<$p _LOSS>], &r::[<$p _DX>], &r::[<$p _DW>], &r::[<$p _LOGITS>], &r::[<$p _MARGIN_LOGITS>])
        }
    };
}

/// CosFace, s = 30, m = 0.35, in 2-D and 3-D: gen_refs.py.
#[test]
fn cosface_matches_reference() {
    let kind = LossKind::cosface(r::COSFACE_S, r::COSFACE_M).unwrap();
    case!(kind, X_D2, W_D2, LABELS, COSFACE_D2);
    case!(kind, X_D3, W_D3, LABELS, COSFACE_D3);
}

/// ArcFace, s = 30, m = 0.5, in 2-D (sample 0 in the fallback region) and 3-D (none), and
/// the fallback case (m = 0.7; samples 0 and 1 past π − m, samples 2 and 3 not): gen_refs.py.
#[test]
fn arcface_matches_reference_on_both_branches() {
    let kind = LossKind::arcface(r::ARCFACE_S, r::ARCFACE_M).unwrap();
    case!(kind, X_D2, W_D2, LABELS, ARCFACE_D2);
    case!(kind, X_D3, W_D3, LABELS, ARCFACE_D3);
    let fb = LossKind::arcface(r::ARCFACE_S, r::ARCFACE_FALLBACK_M).unwrap();
    case!(fb, X_FB, W_FB, LABELS_FB, ARCFACE_FALLBACK);
    // The branch the head takes is the reference's, sample by sample.
    for (m, cos, want) in [(r::ARCFACE_M, &r::ARCFACE_D2_TARGET_COS[..], &r::ARCFACE_D2_TARGET_FALLBACK[..]), (r::ARCFACE_FALLBACK_M, &r::ARCFACE_FALLBACK_TARGET_COS[..], &r::ARCFACE_FALLBACK_TARGET_FALLBACK[..])] {
        let got: Vec<bool> = cos.iter().map(|&c| arcface_fallback(m, c)).collect();
        assert_eq!(got, want, "m = {m}");
    }
    assert!(r::ARCFACE_FALLBACK_TARGET_FALLBACK.contains(&true) && r::ARCFACE_FALLBACK_TARGET_FALLBACK.contains(&false), "both branches covered");
}

/// With m = 0 both heads are normalised softmax with scale s: their loss equals
/// −log softmax(s cos θ)_y computed by hand, and gen_refs.py's value.
#[test]
fn margin_zero_is_normalised_softmax_with_scale_s() {
    let (x, w) = (flat(&r::X_D2), flat(&r::W_D2));
    let cosface = loss_only(LossKind::cosface(30.0, 0.0).unwrap(), 2, &x, &w, &r::LABELS);
    let arcface = loss_only(LossKind::arcface(30.0, 0.0).unwrap(), 2, &x, &w, &r::LABELS);
    assert_close("cosface m = 0", cosface, r::COSFACE_M0_LOSS, REF_ATOL, REF_RTOL);
    assert_close("arcface m = 0", arcface, r::ARCFACE_M0_LOSS, REF_ATOL, REF_RTOL);
    let by_hand: f64 = r::X_D2
        .iter()
        .zip(r::LABELS)
        .map(|(xi, y)| {
            let nx = (xi[0] * xi[0] + xi[1] * xi[1]).sqrt();
            let f: Vec<f64> = (0..4).map(|j| 30.0 * (xi[0] * r::W_D2[0][j] + xi[1] * r::W_D2[1][j]) / (nx * r::W_D2[0][j].hypot(r::W_D2[1][j]))).collect();
            f.iter().map(|v| v.exp()).sum::<f64>().ln() - f[y]
        })
        .sum::<f64>()
        / 3.0;
    assert_close("by hand", cosface, by_hand, 1e-9, 1e-9);
}

/// Finite differences in f64 of x and W, with some samples on each ArcFace branch.
#[test]
fn gradients_match_finite_differences() {
    let (d, b) = (3, 6);
    let x = uniform(b * d, -2.0, 2.0, 31);
    let w = uniform(d * 10, -1.0, 1.0, 32);
    let labels = [0, 3, 9, 3, 7, 1];
    // A small scale keeps the softmax away from saturation, where every gradient vanishes.
    for kind in [LossKind::cosface(4.0, 0.35).unwrap(), LossKind::arcface(4.0, 0.5).unwrap(), LossKind::arcface(4.0, 1.3).unwrap()] {
        let got = run(kind, d, &x, &w, &labels);
        fd_check(&format!("{kind:?} x"), &x, &got.dx, &sample_coords(x.len(), 100, 0), |v| loss_only(kind, d, v, &w, &labels));
        fd_check(&format!("{kind:?} W"), &w, &got.dw, &sample_coords(w.len(), 100, 0), |v| loss_only(kind, d, &x, v, &labels));
    }
    // m = 1.3 puts targets with θ_y > 104° in the fallback region: check some are.
    let dev = Cpu::default();
    let head = Head::<f64, Cpu>::from_weights(LossKind::Modified, d, 10, w.clone(), None, &dev).unwrap();
    let cos: Vec<f64> = head.logits(dev.tensor_from_vec(x.clone(), (b, d))).unwrap().as_vec();
    let fallbacks = (0..b).filter(|&i| arcface_fallback(1.3, cos[i * 10 + labels[i]] / x[i * d..(i + 1) * d].iter().map(|v| v * v).sum::<f64>().sqrt())).count();
    assert!((1..b).contains(&fallbacks), "{fallbacks} of {b} samples in the fallback region");
}

/// The target curves of the figures: cos θ − m, and cos(θ + m) up to π − m, then
/// insightface's cos θ − m sin m, which starts m sin m + cos m − 1 below −1 there (0.117 for
/// m = 0.5: the fallback is not continuous) and keeps falling, so the target never rises with θ.
#[test]
fn target_curves() {
    for t in [0.0, 0.3, 1.0, 2.0, 2.6] {
        assert_close("cosface", psi_cosface(0.35, f64::cos(t)), t.cos() - 0.35, 1e-12, 0.0);
        assert_close("arcface", psi_arcface(0.5, f64::cos(t)), (t + 0.5).cos(), 1e-12, 0.0);
    }
    let m = 0.5;
    let edge = (PI - m).cos();
    assert_close("just before π − m", psi_arcface(m, edge + 1e-12), -1.0, 1e-5, 0.0);
    assert_close("the jump at π − m", psi_arcface(m, edge), -1.0 - (m * m.sin() + m.cos() - 1.0), 1e-12, 0.0);
    let thetas: Vec<f64> = (0..=1000).map(|i| PI * i as f64 / 1000.0).collect();
    assert!(thetas.windows(2).all(|t| psi_arcface(m, t[1].cos()) <= psi_arcface(m, t[0].cos()) + 1e-12), "non-increasing in θ");
    assert_close("fallback", psi_arcface(m, -1.0), -1.0 - m * m.sin(), 1e-12, 0.0);
}

/// Bad settings are refused with the value named.
#[test]
fn settings_are_validated() {
    for (kind, want) in [
        (LossKind::cosface(0.0, 0.35), "scale s must be a number > 0, got 0"),
        (LossKind::cosface(f64::NAN, 0.35), "got NaN"),
        (LossKind::cosface(30.0, -0.1), "cosface margin m must be in [0, 2)"),
        (LossKind::cosface(30.0, 2.0), "got 2"),
        (LossKind::arcface(-1.0, 0.5), "arcface scale s must be a number > 0, got -1"),
        (LossKind::arcface(30.0, PI / 2.0), "arcface margin m must be in [0, π/2) radians"),
        (LossKind::arcface(30.0, -0.5), "got -0.5"),
    ] {
        let err = kind.unwrap_err().to_string();
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

/// In f32 (as training runs), an embedding along its class weight (c = 1, sin θ = 0) keeps
/// every gradient finite: the ε under ArcFace's square root must survive f32 rounding.
#[test]
fn f32_on_a_class_weight_stays_finite() {
    let dev = Cpu::default();
    for kind in [LossKind::arcface(30.0, 0.5).unwrap(), LossKind::cosface(30.0, 0.35).unwrap()] {
        let head = Head::<f32, Cpu>::from_weights(kind, 2, 3, vec![1.0, 0.0, -0.6, 0.0, 1.0, 0.8], None, &dev).unwrap();
        let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(vec![3.0, 0.0, 0.0, 2.0], (2, 2));
        let out = head.forward(x.leaky_trace(), &[0, 1], 0).unwrap();
        assert!(out.loss.array().is_finite());
        let grads = out.loss.backward();
        let all: Vec<f32> = grads.get(&x).as_vec().into_iter().chain(grads.get(&head.weight).as_vec()).collect();
        assert!(all.iter().all(|g| g.is_finite()), "{kind:?}: {all:?}");
    }
}

proptest! {
    /// The loss is finite and ≥ 0 with finite gradients for any x (zero included, and x along
    /// a class weight, where c = 1 and sin θ = 0) and any valid margin.
    #[test]
    fn loss_finite_everywhere(theta in 0.0..(2.0 * PI), r in 0.0..50.0f64, on_weight in any::<bool>(), m in 0.0..1.5f64, arc in any::<bool>()) {
        let w = [1.0, 0.0, -0.6, 0.8, 0.3, -0.9];
        let x = if on_weight { [r, 0.0] } else { [r * theta.cos(), r * theta.sin()] };
        let kind = if arc { LossKind::arcface(30.0, m).unwrap() } else { LossKind::cosface(30.0, m).unwrap() };
        let got = run(kind, 2, &x, &w, &[0]);
        prop_assert!(got.loss.is_finite() && got.loss >= 0.0, "{kind:?}: loss {}", got.loss);
        prop_assert!(got.dx.iter().chain(&got.dw).all(|g| g.is_finite()));
    }

    /// The margin never lowers the loss: each head's target logit is at most s cos θ_y.
    #[test]
    fn margin_raises_the_loss(xs in proptest::collection::vec(-3.0..3.0f64, 4), m in 0.0..1.5f64) {
        let w = [0.9, -0.2, 0.4, 0.1, 0.7, -1.0];
        let plain = loss_only(LossKind::cosface(10.0, 0.0).unwrap(), 2, &xs, &w, &[1, 2]);
        for kind in [LossKind::cosface(10.0, m).unwrap(), LossKind::arcface(10.0, m).unwrap()] {
            prop_assert!(loss_only(kind, 2, &xs, &w, &[1, 2]) >= plain - 1e-12);
        }
    }
}

/// `LossKind::target` (the number the figures draw) is what the head puts at the label on
/// the tape: margin logit / scale = target(λ, cos θ_y), with the prediction logits giving
/// cos θ_y, for every head with an angle.
#[test]
fn target_as_a_number_matches_the_head() {
    let (d, b) = (3, 8);
    let x = uniform(b * d, -2.0, 2.0, 41);
    let w = uniform(d * 10, -1.0, 1.0, 42);
    let labels = [0, 3, 9, 3, 7, 1, 5, 2];
    let kinds = [
        LossKind::Modified,
        LossKind::angular(4, LambdaSchedule { base: 5.0, gamma: 0.0, power: 1.0, min: 5.0 }).unwrap(),
        LossKind::angular(3, LambdaSchedule::none()).unwrap(),
        LossKind::cosface(7.0, 0.35).unwrap(),
        LossKind::arcface(7.0, 1.2).unwrap(),
    ];
    for kind in kinds {
        let got = run(kind, d, &x, &w, &labels);
        let lambda = match kind {
            LossKind::Angular { lambda, .. } => lambda.at(0),
            _ => 0.0,
        };
        for (i, &y) in labels.iter().enumerate() {
            let scale = kind.feature_scale().unwrap_or_else(|| x[i * d..(i + 1) * d].iter().map(|v| v * v).sum::<f64>().sqrt());
            let c = got.logits[i * 10 + y] / scale;
            let want = kind.target(lambda, c).unwrap();
            assert_close(&format!("{kind:?} sample {i}"), got.margin[i * 10 + y] / scale, want, 1e-9, 1e-9);
        }
    }
    assert_eq!(LossKind::Original { bias: true }.target(0.0, 0.5), None);
}
