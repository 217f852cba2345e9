//! The three heads against independent float64 reference values, finite differences,
//! hand-checkable cases, equivalences and properties.
//!
//! Reference values come from `tests/reference/gen_refs.py` (numpy, float64, per-sample
//! scalar loops, hand-derived gradients verified there by central differences). Its core:
//!
//! ```python
//! def norm(v):                      # ||v|| = sqrt(sum v^2 + EPS)
//!     return math.sqrt(float(np.dot(v, v)) + EPS)
//! def cheb(m, c):                   # (T_m(c), T_m'(c)) by the three-term recurrence
//!     t0, t1, d0, d1 = 1.0, c, 0.0, 1.0
//!     for _ in range(m - 1):
//!         t0, t1, d0, d1 = t1, 2*c*t1 - t0, d1, 2*t1 + 2*c*d1 - d0
//!     return t1, d1
//! def margin_k(m, c):               # k = #{j' in 1..m-1 : c <= cos(j' pi/m)}
//!     return sum(1 for j in range(1, m) if c <= math.cos(j*math.pi/m))
//! def psi(m, c):                    # (psi(c), dpsi/dc); k carries no gradient
//!     k = margin_k(m, c)
//!     t, dt = cheb(m, c)
//!     s = -1.0 if k % 2 else 1.0
//!     return s*t - 2*k, s*dt
//! def psi_direct(m, theta):         # independent route: k = floor(m theta / pi)
//!     k = min(int(math.floor(m*theta/math.pi)), m - 1)
//!     return (-1)**k * math.cos(m*theta) - 2*k
//! def lambda_sched(t, base, gamma, power, lmin):
//!     return max(lmin, base * (1.0 + gamma*t) ** (-power))
//! def logits_original(x, W, b):     # f_j = x.w_j + b_j
//!     return [float(np.dot(x, W[:, j])) + (float(b[j]) if b is not None else 0.0)
//!             for j in range(W.shape[1])]
//! def cos_ij(x, W):                 # c_j = clamp(x.w_j/(||x|| ||w_j||), -1, 1)
//!     nx = norm(x)
//!     return [min(1.0, max(-1.0, float(np.dot(x, W[:, j])) / norm(W[:, j]) / nx))
//!             for j in range(W.shape[1])]
//! def logits_angular(x, W, y, m, lam):  # target: ||x||(lam c + psi)/(1+lam); others ||x|| c
//!     nx, c = norm(x), cos_ij(x, W)
//!     f = [nx*cj for cj in c]
//!     f[y] = nx * (lam*c[y] + psi(m, c[y])[0]) / (1.0 + lam)
//!     return f
//! def ce(f, y):                     # -log softmax(f)_y
//!     mx = max(f)
//!     return mx + math.log(sum(math.exp(v - mx) for v in f)) - f[y]
//! # loss = mean of ce over the batch; modified == logits_angular with m = 1
//! ```

mod common;
#[path = "reference/head_refs.rs"]
mod head_refs;

use common::*;
use head_refs as r;
use proptest::prelude::*;
use sphereface_core::model::margin::{chebyshev_coefficients, margin_interval};
use sphereface_core::prelude::*;
use std::f64::consts::PI;

const C: usize = 4;

/// What a head gives for one batch, on the host.
struct Run {
    loss: f64,
    logits: Vec<f64>,
    margin: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
    db: Option<Vec<f64>>,
}

fn constant_lambda(l: f64) -> LambdaSchedule {
    LambdaSchedule { base: l, gamma: 0.0, power: 1.0, min: l }
}

fn run(kind: LossKind, d: usize, x: &[f64], w: &[f64], b: Option<&[f64]>, labels: &[usize]) -> Run {
    let dev = Cpu::default();
    let classes = w.len() / d;
    let head = Head::<f64, Cpu>::from_weights(kind, d, classes, w.to_vec(), b.map(|b| b.to_vec()), &dev).unwrap();
    let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(x.to_vec(), (labels.len(), d));
    let out = head.forward(xt.leaky_trace(), labels, 0).unwrap();
    let loss = out.loss.array();
    let grads = out.loss.backward();
    Run {
        loss,
        logits: out.logits.as_vec(),
        margin: out.margin_logits.as_vec(),
        dx: grads.get(&xt).as_vec(),
        dw: grads.get(&head.weight).as_vec(),
        db: head.bias.as_ref().map(|b| grads.get(b).as_vec()),
    }
}

fn loss_only(kind: LossKind, d: usize, x: &[f64], w: &[f64], b: Option<&[f64]>, labels: &[usize]) -> f64 {
    let dev = Cpu::default();
    let head = Head::<f64, Cpu>::from_weights(kind, d, w.len() / d, w.to_vec(), b.map(|b| b.to_vec()), &dev).unwrap();
    let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(x.to_vec(), (labels.len(), d));
    head.forward(xt, labels, 0).unwrap().loss.array()
}

#[allow(clippy::too_many_arguments)]
fn check_reference<const D: usize>(
    name: &str,
    kind: LossKind,
    x: &[[f64; D]; 3],
    w: &[[f64; C]; D],
    loss: f64,
    dx: &[[f64; D]; 3],
    dw: &[[f64; C]; D],
    logits: &[[f64; C]; 3],
    margin: &[[f64; C]; 3],
) {
    let got = run(kind, D, &flat(x), &flat(w), None, &r::LABELS);
    assert_close(&format!("{name} loss"), got.loss, loss, REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} logits"), &got.logits, &flat(logits), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} margin logits"), &got.margin, &flat(margin), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} dL/dx"), &got.dx, &flat(dx), REF_ATOL, REF_RTOL);
    assert_all_close(&format!("{name} dL/dW"), &got.dw, &flat(dw), REF_ATOL, REF_RTOL);
}

/// Reference values: see the module docs (gen_refs.py, float64).
#[test]
fn original_with_bias_matches_reference() {
    let got = run(LossKind::Original { bias: true }, 2, &flat(&r::X_D2), &flat(&r::W_D2), Some(&r::B), &r::LABELS);
    assert_close("loss", got.loss, r::ORIGINAL_BIAS_LOSS, REF_ATOL, REF_RTOL);
    assert_all_close("logits", &got.logits, &flat(&r::ORIGINAL_BIAS_LOGITS), REF_ATOL, REF_RTOL);
    assert_all_close("margin logits", &got.margin, &flat(&r::ORIGINAL_BIAS_MARGIN_LOGITS), REF_ATOL, REF_RTOL);
    assert_all_close("dx", &got.dx, &flat(&r::ORIGINAL_BIAS_DX), REF_ATOL, REF_RTOL);
    assert_all_close("dW", &got.dw, &flat(&r::ORIGINAL_BIAS_DW), REF_ATOL, REF_RTOL);
    assert_all_close("db", &got.db.unwrap(), &r::ORIGINAL_BIAS_DB, REF_ATOL, REF_RTOL);
}

/// Reference values: see the module docs (gen_refs.py, float64).
#[test]
fn original_without_bias_and_modified_match_reference() {
    check_reference(
        "original (no bias)",
        LossKind::Original { bias: false },
        &r::X_D2,
        &r::W_D2,
        r::ORIGINAL_NOBIAS_LOSS,
        &r::ORIGINAL_NOBIAS_DX,
        &r::ORIGINAL_NOBIAS_DW,
        &r::ORIGINAL_NOBIAS_LOGITS,
        &r::ORIGINAL_NOBIAS_MARGIN_LOGITS,
    );
    check_reference(
        "modified",
        LossKind::Modified,
        &r::X_D2,
        &r::W_D2,
        r::MODIFIED_LOSS,
        &r::MODIFIED_DX,
        &r::MODIFIED_DW,
        &r::MODIFIED_LOGITS,
        &r::MODIFIED_MARGIN_LOGITS,
    );
}

/// Checks one angular case against the constants `r::<PREFIX>_{LOSS,DX,DW,LOGITS,MARGIN_LOGITS}`.
macro_rules! angular_case {
    ($m:literal, $l:literal, $p:ident) => {
        paste::paste! {
            check_reference(
                stringify!($p),
                LossKind::angular($m, constant_lambda($l as f64)).unwrap(),
                &r::X_D2, &r::W_D2,
                r::[<$p _LOSS>], &r::[<$p _DX>], &r::[<$p _DW>], &r::[<$p _LOGITS>], &r::[<$p _MARGIN_LOGITS>],
            )
        }
    };
}

/// Reference values for m = 1..4 × λ ∈ {0, 5, 1000}: see the module docs (gen_refs.py).
#[test]
fn angular_matches_reference_for_every_m_and_lambda() {
    angular_case!(1, 0, ANGULAR_M1_L0);
    angular_case!(1, 5, ANGULAR_M1_L5);
    angular_case!(1, 1000, ANGULAR_M1_L1000);
    angular_case!(2, 0, ANGULAR_M2_L0);
    angular_case!(2, 5, ANGULAR_M2_L5);
    angular_case!(2, 1000, ANGULAR_M2_L1000);
    angular_case!(3, 0, ANGULAR_M3_L0);
    angular_case!(3, 5, ANGULAR_M3_L5);
    angular_case!(3, 1000, ANGULAR_M3_L1000);
    angular_case!(4, 0, ANGULAR_M4_L0);
    angular_case!(4, 5, ANGULAR_M4_L5);
    angular_case!(4, 1000, ANGULAR_M4_L1000);
}

/// Reference values in 3-D, m = 4, λ = 0 (every k in 0..=2 occurs): gen_refs.py.
#[test]
fn angular_3d_matches_reference() {
    check_reference(
        "angular d=3 m=4",
        LossKind::angular(4, LambdaSchedule::none()).unwrap(),
        &r::X_D3,
        &r::W_D3,
        r::ANGULAR_D3_M4_L0_LOSS,
        &r::ANGULAR_D3_M4_L0_DX,
        &r::ANGULAR_D3_M4_L0_DW,
        &r::ANGULAR_D3_M4_L0_LOGITS,
        &r::ANGULAR_D3_M4_L0_MARGIN_LOGITS,
    );
}

/// λ(t) of the presets against gen_refs.py's `lambda_sched`.
#[test]
fn lambda_schedules_match_reference() {
    for (sched, refs) in [(LambdaSchedule::caffe(), r::LAMBDA_CAFFE), (LambdaSchedule::pytorch(), r::LAMBDA_PYTORCH), (LambdaSchedule::none(), r::LAMBDA_NONE)] {
        for (t, l) in refs {
            assert_close(&format!("lambda({t})"), sched.at(t as u64), l, REF_ATOL, REF_RTOL);
        }
    }
    assert_eq!(LambdaSchedule::preset("caffe").unwrap(), LambdaSchedule::caffe());
    assert!(LambdaSchedule::preset("tensorflow").unwrap_err().to_string().contains("tensorflow"));
}

/// ψ(θ) against gen_refs.py's `psi_direct` (k = ⌊mθ/π⌋, cos(mθ)): a second route.
#[test]
fn psi_matches_direct_formula() {
    for (m, refs) in [(1, r::PSI_M1), (2, r::PSI_M2), (3, r::PSI_M3), (4, r::PSI_M4)] {
        for (theta, p) in refs {
            assert_close(&format!("psi_{m}({theta})"), psi(m, theta.cos()), p, 1e-12, 1e-12);
        }
    }
}

/// Hand-checkable: ψ(0) = 1, ψ(π) = 1 − 2m; T_4 = 8c⁴ − 8c² + 1.
#[test]
fn psi_endpoints_and_chebyshev_coefficients() {
    for m in 1..=8 {
        assert_close("psi(0)", psi(m, 1.0), 1.0, 1e-12, 0.0);
        assert_close("psi(pi)", psi(m, -1.0), 1.0 - 2.0 * m as f64, 1e-9, 0.0);
    }
    assert_eq!(chebyshev_coefficients(4), vec![1.0, 0.0, -8.0, 0.0, 8.0]);
    assert_eq!(chebyshev_coefficients(1), vec![0.0, 1.0]);
    assert_eq!(margin_interval(4, 1.0), 0);
    assert_eq!(margin_interval(4, -1.0), 3);
}

/// Gradients of every head by central differences in f64 (x, W and b), at a random point.
#[test]
fn head_gradients_match_finite_differences() {
    let (d, b) = (3, 5);
    let x = uniform(b * d, -2.0, 2.0, 1);
    let w = uniform(d * 10, -1.0, 1.0, 2);
    let bias = uniform(10, -0.5, 0.5, 3);
    let labels = [0, 3, 9, 3, 7];
    let kinds = [
        LossKind::Original { bias: true },
        LossKind::Modified,
        LossKind::angular(2, constant_lambda(0.0)).unwrap(),
        LossKind::angular(4, constant_lambda(0.0)).unwrap(),
        LossKind::angular(4, constant_lambda(5.0)).unwrap(),
        LossKind::angular(3, constant_lambda(1.5)).unwrap(),
    ];
    for kind in kinds {
        let bias = matches!(kind, LossKind::Original { bias: true }).then_some(&bias[..]);
        let got = run(kind, d, &x, &w, bias, &labels);
        let name = format!("{kind:?}");
        fd_check(&format!("{name} x"), &x, &got.dx, &sample_coords(x.len(), 100, 0), |v| loss_only(kind, d, v, &w, bias, &labels));
        fd_check(&format!("{name} W"), &w, &got.dw, &sample_coords(w.len(), 100, 0), |v| loss_only(kind, d, &x, v, bias, &labels));
        if let (Some(b0), Some(db)) = (bias, &got.db) {
            fd_check(&format!("{name} b"), b0, db, &sample_coords(10, 10, 0), |v| loss_only(kind, d, &x, &w, Some(v), &labels));
        }
    }
}

/// Equal logits give ln C: x = 0 makes every logit 0 (ψ only scales ||x|| = sqrt(ε)).
#[test]
fn zero_embedding_gives_log_c() {
    let w = uniform(2 * 10, -1.0, 1.0, 4);
    for kind in [LossKind::Original { bias: false }, LossKind::Modified, LossKind::angular(4, LambdaSchedule::none()).unwrap()] {
        let got = run(kind, 2, &[0.0, 0.0], &w, None, &[3]);
        assert_close(&format!("{kind:?} loss at x = 0"), got.loss, (10f64).ln(), 1e-5, 0.0);
        assert!(got.dx.iter().chain(&got.dw).all(|g| g.is_finite()), "{kind:?}: gradient not finite at x = 0");
    }
}

/// Scaling a class weight leaves the modified (and angular) head unchanged.
#[test]
fn weight_scale_invariance() {
    let x = uniform(4 * 2, -2.0, 2.0, 5);
    let w = uniform(2 * 10, -1.0, 1.0, 6);
    let mut w2 = w.clone();
    for k in 0..2 {
        w2[k * 10 + 3] *= 7.5; // scale w_3
    }
    for kind in [LossKind::Modified, LossKind::angular(4, LambdaSchedule::none()).unwrap()] {
        let (a, b) = (loss_only(kind, 2, &x, &w, None, &[3, 1, 0, 3]), loss_only(kind, 2, &x, &w2, None, &[3, 1, 0, 3]));
        assert_close(&format!("{kind:?} scaled w"), a, b, 1e-12, 1e-12);
    }
}

/// Bad inputs to the head give errors, not panics.
#[test]
fn head_rejects_bad_input() {
    let dev = Cpu::default();
    let mut rng = sphereface_core::Rng::seed_from_u64(0);
    assert!(LossKind::angular(0, LambdaSchedule::caffe()).unwrap_err().to_string().contains("got 0"));
    assert!(Head::<f64, Cpu>::new(LossKind::Modified, 0, 10, &dev, &mut rng).is_err());
    let head = Head::<f64, Cpu>::new(LossKind::Modified, 2, 10, &dev, &mut rng).unwrap();
    let x: Tensor<(usize, usize), f64, Cpu> = dev.zeros_like(&(2, 3));
    assert!(head.forward(x, &[0, 1], 0).unwrap_err().to_string().contains("2-dimensional"));
    let x: Tensor<(usize, usize), f64, Cpu> = dev.zeros_like(&(2, 2));
    assert!(head.forward(x.clone(), &[0], 0).unwrap_err().to_string().contains("1 labels"));
    assert!(head.forward(x, &[0, 10], 0).unwrap_err().to_string().contains("label 10"));
}

fn angle_to(theta: f64) -> [f64; 2] {
    [theta.cos(), theta.sin()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// ψ is non-increasing on [0, π] and never above cos θ.
    #[test]
    fn psi_is_monotone_and_below_cos(m in 1u32..=6, a in 0.0..PI, b in 0.0..PI) {
        let (t1, t2) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(psi(m, t1.cos()) >= psi(m, t2.cos()) - 1e-9);
        prop_assert!(psi(m, a.cos()) <= a.cos() + 1e-9);
    }

    /// The Chebyshev form equals cos(m·acos c) inside the first interval and ψ is continuous.
    #[test]
    fn psi_chebyshev_equals_direct(m in 1u32..=6, theta in 0.0..PI) {
        let k = ((m as f64 * theta / PI).floor() as u32).min(m - 1);
        let direct = if k.is_multiple_of(2) { 1.0 } else { -1.0 } * (m as f64 * theta).cos() - 2.0 * k as f64;
        prop_assert!((psi(m, theta.cos()) - direct).abs() < 1e-7);
    }

    /// A-Softmax with m = 1 is the modified softmax for any λ; λ → ∞ approaches it for any m;
    /// the margin never lowers the loss.
    #[test]
    fn angular_equivalences(xs in proptest::collection::vec(-3.0..3.0f64, 6), ws in proptest::collection::vec(-1.0..1.0f64, 20),
                            lambda in 0.0..100.0f64, m in 2u32..=5) {
        let labels = [1, 4, 9];
        let modified = loss_only(LossKind::Modified, 2, &xs, &ws, None, &labels);
        let m1 = loss_only(LossKind::angular(1, constant_lambda(lambda)).unwrap(), 2, &xs, &ws, None, &labels);
        prop_assert!((m1 - modified).abs() <= 1e-12 * (1.0 + modified.abs()));
        let huge = loss_only(LossKind::angular(m, constant_lambda(1e9)).unwrap(), 2, &xs, &ws, None, &labels);
        prop_assert!((huge - modified).abs() <= 1e-6 * (1.0 + modified.abs()));
        let ang = loss_only(LossKind::angular(m, constant_lambda(lambda)).unwrap(), 2, &xs, &ws, None, &labels);
        prop_assert!(ang >= modified - 1e-12);
    }

    /// Loss finite and ≥ 0, gradients finite, when x lies exactly along ±w_y (c = ±1) or is 0.
    #[test]
    fn loss_finite_at_c_plus_minus_one_and_zero(theta in 0.0..(2.0 * PI), r in 0.0..50.0f64, sign in prop_oneof![Just(1.0), Just(-1.0), Just(0.0)], m in 1u32..=6) {
        // Column j of W is angle_to(theta + j), so x = r·sign·w_0 gives c_0 = ±1 (or x = 0).
        let mut w = vec![0.0; 2 * 10];
        for j in 0..10 {
            let v = angle_to(theta + j as f64);
            w[j] = v[0];
            w[10 + j] = v[1];
        }
        let x = [sign * r * w[0], sign * r * w[10]];
        for kind in [LossKind::Modified, LossKind::angular(m, LambdaSchedule::none()).unwrap(), LossKind::angular(m, LambdaSchedule::caffe()).unwrap()] {
            let got = run(kind, 2, &x, &w, None, &[0]);
            prop_assert!(got.loss.is_finite() && got.loss >= 0.0, "{:?}: loss {}", kind, got.loss);
            prop_assert!(got.dx.iter().chain(&got.dw).all(|g| g.is_finite()), "{:?}: gradient not finite", kind);
        }
    }
}
