//! Shared test helpers: named tolerances, finite differences, random data.
#![allow(dead_code)]

use rand::{Rng as _, SeedableRng};
use sphereface_core::Rng;

/// Tolerances for comparing against float64 reference values (same formula, other code).
pub const REF_ATOL: f64 = 1e-10;
/// Relative part of the reference tolerance.
pub const REF_RTOL: f64 = 1e-9;
/// Central finite differences in f64 with step [`FD_STEP`] agree to about h² ≈ 1e-12
/// relative plus rounding ε/h ≈ 1e-10: these leave a margin of 100.
pub const FD_ATOL: f64 = 1e-7;
/// Relative part of the finite-difference tolerance.
pub const FD_RTOL: f64 = 1e-6;
/// Step of the central finite differences.
pub const FD_STEP: f64 = 1e-5;

/// |a − b| ≤ atol + rtol·|b|, with a message naming the element.
#[track_caller]
pub fn assert_close(what: &str, a: f64, b: f64, atol: f64, rtol: f64) {
    assert!(a.is_finite(), "{what}: got non-finite {a}");
    assert!((a - b).abs() <= atol + rtol * b.abs(), "{what}: got {a}, expected {b} (diff {:e}, atol {atol:e}, rtol {rtol:e})", (a - b).abs());
}

/// Element-wise [`assert_close`].
#[track_caller]
pub fn assert_all_close(what: &str, a: &[f64], b: &[f64], atol: f64, rtol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_close(&format!("{what}[{i}]"), *x, *y, atol, rtol);
    }
}

/// Step for whole networks: a bias or an early weight moves hundreds of ReLU/PReLU inputs,
/// and a step of [`FD_STEP`] can carry one of them across its kink; 1e-7 makes that rarer,
/// while rounding (ε·|L|/h ≈ 1e-9) stays far below [`FD_ATOL`].
pub const FD_STEP_NETWORK: f64 = 1e-7;

/// Checks `analytic` against central differences of `f` at `x0`, on the listed coordinates.
#[track_caller]
pub fn fd_check(what: &str, x0: &[f64], analytic: &[f64], coords: &[usize], f: impl Fn(&[f64]) -> f64) {
    fd_check_step(what, x0, analytic, coords, FD_STEP, f)
}

/// [`fd_check`] with step `h`.
#[track_caller]
pub fn fd_check_step(what: &str, x0: &[f64], analytic: &[f64], coords: &[usize], h: f64, f: impl Fn(&[f64]) -> f64) {
    assert_eq!(x0.len(), analytic.len(), "{what}: gradient length");
    let mut x = x0.to_vec();
    for &i in coords {
        let orig = x[i];
        x[i] = orig + h;
        let up = f(&x);
        x[i] = orig - h;
        let down = f(&x);
        x[i] = orig;
        let numeric = (up - down) / (2.0 * h);
        assert_close(&format!("{what} d/d[{i}]"), analytic[i], numeric, FD_ATOL, FD_RTOL);
    }
}

/// `n` coordinates spread over `0..len` (all of them when len ≤ n), seeded.
pub fn sample_coords(len: usize, n: usize, seed: u64) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    let mut rng = Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(0..len)).collect()
}

/// `n` values uniform in [lo, hi), seeded.
pub fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// Row-major flattening of a fixed-size 2-D array.
pub fn flat<const R: usize, const C: usize>(a: &[[f64; C]; R]) -> Vec<f64> {
    a.iter().flat_map(|r| r.iter().copied()).collect()
}

/// A run of `cfg` stopped after 3 steps (its checkpoint in `files`), then resumed from the
/// checkpoint by a new trainer and trained to the end: to compare with a straight run.
pub fn interrupted_and_resumed(cfg: &sphereface_core::train::TrainConfig, split: &sphereface_core::data::Split, files: &sphereface_core::train::RunFiles) -> sphereface_core::train::Trainer<f32, dfdx::prelude::Cpu> {
    use sphereface_core::train::{Silent, TrainConfig, Trainer};
    let mut first = Trainer::<f32, _>::new(TrainConfig { steps: 3, ..cfg.clone() }, dfdx::prelude::Cpu::default()).unwrap();
    first.fit(split, Some(files), &mut Silent).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(files, cfg.clone(), dfdx::prelude::Cpu::default()).unwrap();
    assert_eq!(resumed.step, 3);
    resumed.fit(split, Some(files), &mut Silent).unwrap();
    resumed
}
