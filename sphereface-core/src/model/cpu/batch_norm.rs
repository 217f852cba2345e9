//! Batch norm followed by ReLU on host values, for the fused conv → batch norm → ReLU op:
//! one pass for the statistics, one for the output, and the closed-form backward
//!
//! ```text
//! x̂ = (x − μ)/σ,  y = max(0, γ x̂ + β);   with g = dy·[γ x̂ + β > 0]:
//! dγ = Σ g·x̂,  dβ = Σ g,  dx = γ/(Nσ) · (N g − dβ − x̂ dγ)
//! ```
//! (in evaluation μ, σ are the running statistics and dx = γ g/σ; the ReLU's mask is
//! recomputed in backward). Sums are taken in f64 over fixed chunks in a fixed order, so a
//! result does not depend on the thread count.

use std::mem::MaybeUninit;

use dfdx::prelude::*;
use dfdx::tensor::{CpuError, Gradients};
use num_traits::Float;
use rayon::prelude::*;

use super::host;
use crate::model::layers::{BatchNorm, Mode};
use crate::{dev_err, Result};

/// The batch norm's backward half: adds dγ and dβ into `grads` and returns dx.
pub(super) type BnBackward<E> = Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E]) -> std::result::Result<Vec<E>, CpuError>>;

/// Rows per partial sum. Fixed (not tied to the thread count) and summed in order, so a
/// result does not depend on the threads or on how rayon split the work.
const SUM_CHUNK_ROWS: usize = 2048;

/// Rows per parallel task of the elementwise passes.
pub(super) const ROWS_PER_TASK: usize = 256;

/// Per-channel sums over the rows of two `[N, C]` matrices, in f64, in parallel,
/// deterministic: `row(a_row, b_row, s0, s1)` adds one row's terms into the two sums (one
/// of the `*_sums_row` functions below: plain loops over slices, which the compiler
/// vectorises, where a closure per element with indexed lookups did not).
pub(super) fn channel_sums<E: Dtype>(a: &[E], b: &[E], c: usize, row: impl Fn(&[E], &[E], &mut [f64], &mut [f64]) + Sync) -> (Vec<f64>, Vec<f64>) {
    let chunk = SUM_CHUNK_ROWS * c;
    let partial: Vec<(Vec<f64>, Vec<f64>)> = a
        .par_chunks(chunk)
        .zip(b.par_chunks(chunk))
        .map(|(pa, pb)| {
            let (mut s0, mut s1) = (vec![0.0f64; c], vec![0.0f64; c]);
            for (ra, rb) in pa.chunks_exact(c).zip(pb.chunks_exact(c)) {
                row(ra, rb, &mut s0, &mut s1);
            }
            (s0, s1)
        })
        .collect();
    let (mut t0, mut t1) = (vec![0.0; c], vec![0.0; c]);
    for (p0, p1) in partial {
        t0.iter_mut().zip(p0).for_each(|(t, v)| *t += v);
        t1.iter_mut().zip(p1).for_each(|(t, v)| *t += v);
    }
    (t0, t1)
}

/// Σx and Σx² (x in f64) of one row.
fn sum_and_squares_row<E: Dtype + Float>(x: &[E], _: &[E], s0: &mut [f64], s1: &mut [f64]) {
    for ((t0, t1), &v) in s0.iter_mut().zip(s1.iter_mut()).zip(x) {
        let v = v.to_f64().unwrap_or(f64::NAN);
        *t0 += v;
        *t1 += v * v;
    }
}

/// Σg and Σg·x̂ of one row, g = dy where the ReLU passed (γ x̂ + β > 0), else 0.
fn masked_grad_sums_row<E: Dtype + Float>(dy: &[E], xh: &[E], (gamma, beta): (&[E], &[E]), s0: &mut [f64], s1: &mut [f64]) {
    let zero = E::default();
    for ((((t0, t1), &g), &x), (&a, &b)) in s0.iter_mut().zip(s1.iter_mut()).zip(dy).zip(xh).zip(gamma.iter().zip(beta)) {
        let g = if a * x + b > zero { g } else { zero };
        *t0 += g.to_f64().unwrap_or(f64::NAN);
        *t1 += (g * x).to_f64().unwrap_or(f64::NAN);
    }
}

/// Batch norm and ReLU on the host values `x` `[N, C]`: returns the output and the backward
/// half. Updates the running statistics in training.
pub(super) fn bn_relu_parts<E: Dtype + Float>(bn: &mut BatchNorm<E, Cpu>, x: Vec<E>, c: usize, mode: Mode) -> Result<(Vec<E>, BnBackward<E>)> {
    let n = x.len() / c;
    let f = |v: E| v.to_f64().unwrap_or(f64::NAN);
    let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
    let (mean, inv_std): (Vec<f64>, Vec<f64>) = match mode {
        Mode::Train => {
            // One pass: Σx and Σx² in f64, var = E[x²] − E[x]².
            let (sum, sq) = channel_sums(&x, &x, c, sum_and_squares_row);
            let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
            let var: Vec<f64> = sq.iter().zip(&mean).map(|(q, m)| (q / n as f64 - m * m).max(0.0)).collect();
            // running ← (1 − m)·running + m·batch (unbiased variance, as PyTorch)
            let (m, unbias) = (bn.momentum, n as f64 / (n as f64 - 1.0));
            let rm: Vec<E> = host(&bn.running_mean).iter().zip(&mean).map(|(r, b)| to((1.0 - m) * f(*r) + m * b)).collect();
            let rv: Vec<E> = host(&bn.running_var).iter().zip(&var).map(|(r, v)| to((1.0 - m) * f(*r) + m * v * unbias)).collect();
            let dev = bn.gamma.device().clone();
            bn.running_mean = dev.try_tensor_from_vec(rm, (c,)).map_err(dev_err)?;
            bn.running_var = dev.try_tensor_from_vec(rv, (c,)).map_err(dev_err)?;
            let inv = var.iter().map(|v| 1.0 / (v + bn.eps).sqrt()).collect();
            (mean, inv)
        }
        Mode::Eval => {
            let mean = host(&bn.running_mean).iter().map(|v| f(*v)).collect();
            let inv = host(&bn.running_var).iter().map(|v| 1.0 / (f(*v) + bn.eps).sqrt()).collect();
            (mean, inv)
        }
    };
    let gamma = host(&bn.gamma);
    let beta = host(&bn.beta);
    let (mean_e, inv_e): (Vec<E>, Vec<E>) = (mean.iter().map(|&v| to(v)).collect(), inv_std.iter().map(|&v| to(v)).collect());
    // x̂ (kept for backward, in place of x) and y = max(0, γ x̂ + β)              [N, C]
    let rows = c * ROWS_PER_TASK;
    let mut xhat = x;
    let mut y: Vec<E> = Vec::with_capacity(n * c);
    xhat.par_chunks_mut(rows).zip(y.spare_capacity_mut()[..n * c].par_chunks_mut(rows)).for_each(|(xs, ys)| bn_relu_forward_rows(xs, ys, &mean_e, &inv_e, &gamma, &beta));
    // SAFETY: bn_relu_forward_rows wrote every element of every chunk (xhat and y have n·c).
    unsafe { y.set_len(n * c) };
    let (g_ghost, b_ghost) = (bn.gamma.ghost(), bn.beta.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        // The gradient reaching the batch norm's output is dy where the ReLU passed
        // (γ x̂ + β > 0, recomputed exactly as in forward), else 0: applied on the fly by
        // the sums and by dx's pass (no masked copy of dy).
        let (dbeta, dgamma) = channel_sums(dy, &xhat, c, |d, x, s0, s1| masked_grad_sums_row(d, x, (&gamma, &beta), s0, s1));
        for (acc, v) in grads.get_or_alloc_mut(&g_ghost)?.iter_mut().zip(&dgamma) {
            *acc += to(*v);
        }
        for (acc, v) in grads.get_or_alloc_mut(&b_ghost)?.iter_mut().zip(&dbeta) {
            *acc += to(*v);
        }
        // Train: dx = γ/(Nσ)·(N dy − dβ − x̂ dγ);  Eval: dx = γ dy/σ
        let nf = n as f64;
        let scale: Vec<E> = (0..c).map(|j| to(f(gamma[j]) * inv_std[j])).collect();
        let (sub_b, sub_g): (Vec<E>, Vec<E>) = match mode {
            Mode::Train => (dbeta.iter().map(|v| to(v / nf)).collect(), dgamma.iter().map(|v| to(v / nf)).collect()),
            Mode::Eval => (vec![E::default(); c], vec![E::default(); c]),
        };
        let mut dx = Vec::with_capacity(n * c);
        dx.spare_capacity_mut()[..n * c].par_chunks_mut(rows).zip(dy.par_chunks(rows)).zip(xhat.par_chunks(rows)).for_each(|((dxs, dys), xhs)| bn_dx_rows(dxs, dys, xhs, &scale, &sub_b, &sub_g, (&gamma, &beta)));
        // SAFETY: bn_dx_rows wrote every element.
        unsafe { dx.set_len(n * c) };
        Ok(dx)
    };
    Ok((y, Box::new(backward)))
}

// The elementwise kernels of the batch norm, on whole rows of `[rows, C]` blocks. Plain
// functions over slices (not closures) so that the compiler sees unaliased inputs and
// vectorises them.

/// x ← x̂ = (x − μ)·inv, y = max(0, γ x̂ + β) (per channel).
fn bn_relu_forward_rows<E: Dtype>(xs: &mut [E], ys: &mut [MaybeUninit<E>], mean: &[E], inv: &[E], gamma: &[E], beta: &[E]) {
    let zero = E::default();
    let c = mean.len();
    for (xr, yr) in xs.chunks_exact_mut(c).zip(ys.chunks_exact_mut(c)) {
        for (((x, y), (&m, &s)), (&g, &b)) in xr.iter_mut().zip(yr.iter_mut()).zip(mean.iter().zip(inv)).zip(gamma.iter().zip(beta)) {
            let v = (*x - m) * s;
            *x = v;
            let out = g * v + b;
            y.write(if out > zero { out } else { zero });
        }
    }
}

/// dx = scale·(g − sub_b − x̂·sub_g) per channel, with g = dy where the ReLU passed
/// (γ x̂ + β > 0), else 0.
fn bn_dx_rows<E: Dtype>(dxs: &mut [MaybeUninit<E>], dys: &[E], xs: &[E], scale: &[E], sub_b: &[E], sub_g: &[E], (gamma, beta): (&[E], &[E])) {
    let zero = E::default();
    let c = scale.len();
    for ((dxr, dyr), xr) in dxs.chunks_exact_mut(c).zip(dys.chunks_exact(c)).zip(xs.chunks_exact(c)) {
        for ((((d, &g), &x), (&sc, (&sb, &sg))), (&a, &b)) in dxr.iter_mut().zip(dyr).zip(xr).zip(scale.iter().zip(sub_b.iter().zip(sub_g))).zip(gamma.iter().zip(beta)) {
            let g = if a * x + b > zero { g } else { zero };
            d.write(sc * (g - sb - x * sg));
        }
    }
}
