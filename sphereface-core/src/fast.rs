//! The CPU fast path of the convolution: one op on the dfdx tape that builds the im2col
//! matrix with plain copies (in parallel over the batch), multiplies it with one GEMM (both
//! cores), and in backward runs two GEMMs and a col2im scatter-add.
//!
//! ```text
//! forward:  cols[B·OH·OW, k·k·C_in] = im2col(x);   y = cols · W + b
//! backward: dW += colsᵀ · dy;   db += Σ_rows dy;   dx += col2im(dy · Wᵀ)
//! ```
//! Batch norm gets the same treatment: one pass for the statistics, one for the output,
//! and the closed-form backward
//!
//! ```text
//! x̂ = (x − μ)/σ,  y = γ x̂ + β;   dγ = Σ dy·x̂,  dβ = Σ dy,  dx = γ/(Nσ) · (N dy − dβ − x̂ dγ)
//! ```
//! (in evaluation μ, σ are the running statistics and dx = γ dy/σ).
//!
//! Other devices use the portable composition of dfdx ops ([`Conv2d::forward_portable`],
//! [`BatchNorm::forward_portable`]); the tests check that both routes agree in values and
//! gradients.

use dfdx::prelude::*;
use rayon::prelude::*;

use num_traits::Float;

use crate::layers::{patch_indices, Act, BatchNorm, Conv2d, Mode};
use crate::{dev_err, Result};

/// A device's route for the heavy layers. The defaults are the portable op compositions;
/// `Cpu` overrides them with fused ops.
pub trait ConvDevice<E: Dtype>: Device<E> {
    /// Applies `conv` to `x` on this device.
    ///
    /// # Errors
    /// As [`Conv2d::forward_portable`].
    fn conv2d<T: Tape<E, Self>>(conv: &Conv2d<E, Self>, x: Act<E, Self, T>) -> Result<Act<E, Self, T>> {
        conv.forward_portable(x)
    }
    /// Applies `bn` to `x` on this device (updating its running statistics in training).
    ///
    /// # Errors
    /// As [`BatchNorm::forward_portable`].
    fn batch_norm<T: Tape<E, Self>>(bn: &mut BatchNorm<E, Self>, x: Act<E, Self, T>, mode: Mode) -> Result<Act<E, Self, T>> {
        bn.forward_portable(x, mode)
    }
}

static FAST_PATH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns the CPU fast path on (the default) or off (the portable route everywhere), for
/// before/after benchmarks.
pub fn set_fast_path(enabled: bool) {
    FAST_PATH.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether the CPU fast path is on.
pub fn fast_path() -> bool {
    FAST_PATH.load(std::sync::atomic::Ordering::Relaxed)
}

macro_rules! cpu_fast_path {
    ($($e:ty),*) => {$(
        impl ConvDevice<$e> for Cpu {
            fn conv2d<T: Tape<$e, Self>>(conv: &Conv2d<$e, Self>, x: Act<$e, Self, T>) -> Result<Act<$e, Self, T>> {
                if fast_path() { conv2d_cpu(conv, x) } else { conv.forward_portable(x) }
            }
            fn batch_norm<T: Tape<$e, Self>>(bn: &mut BatchNorm<$e, Self>, x: Act<$e, Self, T>, mode: Mode) -> Result<Act<$e, Self, T>> {
                if fast_path() { batch_norm_cpu(bn, x, mode) } else { bn.forward_portable(x, mode) }
            }
        }
    )*};
}
cpu_fast_path!(f32, f64);

#[cfg(feature = "cuda")]
impl ConvDevice<f32> for dfdx::tensor::Cuda {}
#[cfg(feature = "cuda")]
impl ConvDevice<f64> for dfdx::tensor::Cuda {}

/// Row-major matrix operand for [`matmul`]: data, rows, columns, and whether to use its transpose.
struct Operand<'a, E> {
    data: &'a [E],
    rows: usize,
    cols: usize,
    transposed: bool,
}

/// dst[m, n] (row-major) = (accumulate ? dst : 0) + a · b, on all threads.
fn matmul<E: Dtype>(dst: &mut [E], a: Operand<E>, b: Operand<E>, accumulate: bool) {
    let (m, k) = if a.transposed { (a.cols, a.rows) } else { (a.rows, a.cols) };
    let (k2, n) = if b.transposed { (b.cols, b.rows) } else { (b.rows, b.cols) };
    assert!(k == k2 && dst.len() == m * n && a.data.len() == a.rows * a.cols && b.data.len() == b.rows * b.cols, "matmul sizes");
    // Strides (column step, row step) of the logical operand in its row-major storage.
    let strides = |o: &Operand<E>| if o.transposed { (o.cols as isize, 1) } else { (1, o.cols as isize) };
    let (a_cs, a_rs) = strides(&a);
    let (b_cs, b_rs) = strides(&b);
    // SAFETY: the sizes and strides above describe exactly the three slices, which do not
    // overlap (dst is borrowed mutably, a and b shared).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            E::ONE,
            E::ONE,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(rayon::current_num_threads()),
        );
    }
}

fn conv2d_cpu<E: Dtype, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, x: Act<E, Cpu, T>) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    let (ci, co, k) = (conv.c_in, conv.c_out, conv.k);
    let (idx, oh, ow, _) = patch_indices(h, w, k, conv.stride, conv.padding)?;
    let (np, kk, kkc) = (oh * ow, k * k, k * k * ci);
    let pad = h * w;
    let n = b * np;

    let (t, mut tape) = t.split_tape();
    let xv = t.as_vec(); // [B·H·W·C_in]
    let wv = conv.weight.as_vec(); // [k·k·C_in, C_out]

    // im2col: row (b, p) holds the k·k patch of output pixel p, C_in values per offset.
    let mut cols = vec![E::default(); n * kkc];
    cols.par_chunks_mut(np * kkc).enumerate().for_each(|(bi, img)| {
        let src = &xv[bi * pad * ci..(bi + 1) * pad * ci];
        for (row, patch) in img.chunks_mut(kkc).zip(idx.chunks(kk)) {
            for (dst, &p) in row.chunks_mut(ci).zip(patch) {
                if p != pad {
                    dst.copy_from_slice(&src[p * ci..(p + 1) * ci]);
                }
            }
        }
    });

    // y = cols · W + b                                                  [N', C_out]
    let mut out = match &conv.bias {
        Some(bias) => bias.as_vec().repeat(n),
        None => vec![E::default(); n * co],
    };
    let with_bias = conv.bias.is_some();
    matmul(&mut out, Operand { data: &cols, rows: n, cols: kkc, transposed: false }, Operand { data: &wv, rows: kkc, cols: co, transposed: false }, with_bias);
    let dev = t.device().clone();
    let y: Tensor<(usize, usize), E, Cpu> = dev.try_tensor_from_vec(out, (n, co)).map_err(dev_err)?;

    let x_ghost = t.ghost();
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let y_ghost = y.ghost();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&x_ghost)?;
        grads.try_alloc_for(&w_ghost)?;
        if let Some(bg) = &b_ghost {
            grads.try_alloc_for(bg)?;
        }
        // The output's gradient is complete (every consumer ran before this op) and is not
        // touched again; its heap buffer does not move while other entries are updated.
        let dy_vec = grads.get_or_alloc_mut(&y_ghost)?;
        let (dy_ptr, dy_len) = (dy_vec.as_ptr(), dy_vec.len());
        // SAFETY: see above; the buffer lives in `grads` for the whole closure.
        let dy: &[E] = unsafe { std::slice::from_raw_parts(dy_ptr, dy_len) };

        // dW += colsᵀ · dy                                              [k·k·C_in, C_out]
        let dw = grads.get_or_alloc_mut(&w_ghost)?;
        matmul(dw, Operand { data: &cols, rows: n, cols: kkc, transposed: true }, Operand { data: dy, rows: n, cols: co, transposed: false }, true);
        // db += Σ_rows dy                                                [C_out]
        if let Some(bg) = &b_ghost {
            let db = grads.get_or_alloc_mut(bg)?;
            for row in dy.chunks(co) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += *g;
                }
            }
        }
        // dcols = dy · Wᵀ, then col2im adds each patch back to its pixels.  [N', k·k·C_in]
        let mut dcols = vec![E::default(); n * kkc];
        matmul(&mut dcols, Operand { data: dy, rows: n, cols: co, transposed: false }, Operand { data: &wv, rows: kkc, cols: co, transposed: true }, false);
        let dx = grads.get_or_alloc_mut(&x_ghost)?;
        dx.par_chunks_mut(pad * ci).zip(dcols.par_chunks(np * kkc)).for_each(|(img, dimg)| {
            for (row, patch) in dimg.chunks(kkc).zip(idx.chunks(kk)) {
                for (src, &p) in row.chunks(ci).zip(patch) {
                    if p != pad {
                        for (d, s) in img[p * ci..(p + 1) * ci].iter_mut().zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        });
        Ok(())
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}

/// Rows per partial sum. Fixed (not tied to the thread count) and summed in order, so a
/// result does not depend on the threads or on how rayon split the work.
const SUM_CHUNK_ROWS: usize = 2048;

/// Per-channel sums of `f(channel, a, b)` over the rows of two `[N, C]` matrices, in f64,
/// in parallel, deterministic.
fn channel_sums<E: Dtype + Float>(a: &[E], b: &[E], c: usize, f: impl Fn(usize, E, E) -> f64 + Sync) -> Vec<f64> {
    let chunk = SUM_CHUNK_ROWS * c;
    let partial: Vec<Vec<f64>> = a
        .par_chunks(chunk)
        .zip(b.par_chunks(chunk))
        .map(|(pa, pb)| {
            let mut acc = vec![0.0f64; c];
            for (ra, rb) in pa.chunks(c).zip(pb.chunks(c)) {
                for j in 0..c {
                    acc[j] += f(j, ra[j], rb[j]);
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0.0; c];
    for p in partial {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

fn batch_norm_cpu<E: Dtype + Float, T: Tape<E, Cpu>>(bn: &mut BatchNorm<E, Cpu>, x: Act<E, Cpu, T>, mode: Mode) -> Result<Act<E, Cpu, T>> {
    let x = bn.check_input(x, mode)?;
    let Act { t, b, h, w } = x;
    let (n, c) = *t.shape();
    let (t, mut tape) = t.split_tape();
    let xv = t.as_vec();
    let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
    let (mean, inv_std): (Vec<f64>, Vec<f64>) = match mode {
        Mode::Train => {
            let mean: Vec<f64> = channel_sums(&xv, &xv, c, |_, v, _| v.to_f64().unwrap_or(f64::NAN)).into_iter().map(|s| s / n as f64).collect();
            let var: Vec<f64> = channel_sums(&xv, &xv, c, |j, v, _| (v.to_f64().unwrap_or(f64::NAN) - mean[j]).powi(2)).into_iter().map(|s| s / n as f64).collect();
            // running ← (1 − m)·running + m·batch (unbiased variance, as PyTorch)
            let (m, unbias) = (bn.momentum, n as f64 / (n as f64 - 1.0));
            let rm: Vec<E> = bn.running_mean.as_vec().iter().zip(&mean).map(|(r, b)| to((1.0 - m) * r.to_f64().unwrap_or(f64::NAN) + m * b)).collect();
            let rv: Vec<E> = bn.running_var.as_vec().iter().zip(&var).map(|(r, v)| to((1.0 - m) * r.to_f64().unwrap_or(f64::NAN) + m * v * unbias)).collect();
            let dev = t.device().clone();
            bn.running_mean = dev.try_tensor_from_vec(rm, (c,)).map_err(dev_err)?;
            bn.running_var = dev.try_tensor_from_vec(rv, (c,)).map_err(dev_err)?;
            let inv = var.iter().map(|v| 1.0 / (v + bn.eps).sqrt()).collect();
            (mean, inv)
        }
        Mode::Eval => {
            let mean = bn.running_mean.as_vec().iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect();
            let inv = bn.running_var.as_vec().iter().map(|v| 1.0 / (v.to_f64().unwrap_or(f64::NAN) + bn.eps).sqrt()).collect();
            (mean, inv)
        }
    };
    let gamma = bn.gamma.as_vec();
    let beta = bn.beta.as_vec();
    let (mean_e, inv_e): (Vec<E>, Vec<E>) = (mean.iter().map(|&v| to(v)).collect(), inv_std.iter().map(|&v| to(v)).collect());
    // x̂ and y                                                            [N, C]
    let mut xhat = xv;
    let mut y = vec![E::default(); n * c];
    xhat.par_chunks_mut(c * 256).zip(y.par_chunks_mut(c * 256)).for_each(|(xs, ys)| {
        for (xr, yr) in xs.chunks_mut(c).zip(ys.chunks_mut(c)) {
            for j in 0..c {
                let v = (xr[j] - mean_e[j]) * inv_e[j];
                xr[j] = v;
                yr[j] = gamma[j] * v + beta[j];
            }
        }
    });
    let dev = t.device().clone();
    let y: Tensor<(usize, usize), E, Cpu> = dev.try_tensor_from_vec(y, (n, c)).map_err(dev_err)?;
    let (x_ghost, y_ghost, g_ghost, b_ghost) = (t.ghost(), y.ghost(), bn.gamma.ghost(), bn.beta.ghost());
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&x_ghost)?;
        grads.try_alloc_for(&g_ghost)?;
        grads.try_alloc_for(&b_ghost)?;
        let dy_vec = grads.get_or_alloc_mut(&y_ghost)?;
        let (dy_ptr, dy_len) = (dy_vec.as_ptr(), dy_vec.len());
        // SAFETY: as in the convolution: the finished output gradient stays put.
        let dy: &[E] = unsafe { std::slice::from_raw_parts(dy_ptr, dy_len) };
        let dbeta = channel_sums(dy, dy, c, |_, g, _| g.to_f64().unwrap_or(f64::NAN));
        let dgamma = channel_sums(dy, &xhat, c, |_, g, xh| (g * xh).to_f64().unwrap_or(f64::NAN));
        for (acc, v) in grads.get_or_alloc_mut(&g_ghost)?.iter_mut().zip(&dgamma) {
            *acc += to(*v);
        }
        for (acc, v) in grads.get_or_alloc_mut(&b_ghost)?.iter_mut().zip(&dbeta) {
            *acc += to(*v);
        }
        // Train: dx = γ/(Nσ)·(N dy − dβ − x̂ dγ);  Eval: dx = γ dy/σ
        let nf = n as f64;
        let (scale, sub_b, sub_g): (Vec<E>, Vec<E>, Vec<E>) = match mode {
            Mode::Train => (
                (0..c).map(|j| to(gamma[j].to_f64().unwrap_or(f64::NAN) * inv_std[j])).collect(),
                dbeta.iter().map(|v| to(v / nf)).collect(),
                dgamma.iter().map(|v| to(v / nf)).collect(),
            ),
            Mode::Eval => ((0..c).map(|j| to(gamma[j].to_f64().unwrap_or(f64::NAN) * inv_std[j])).collect(), vec![E::default(); c], vec![E::default(); c]),
        };
        let dx = grads.get_or_alloc_mut(&x_ghost)?;
        dx.par_chunks_mut(c * 256).zip(dy.par_chunks(c * 256)).zip(xhat.par_chunks(c * 256)).for_each(|((dxs, dys), xhs)| {
            for ((dxr, dyr), xr) in dxs.chunks_mut(c).zip(dys.chunks(c)).zip(xhs.chunks(c)) {
                for j in 0..c {
                    dxr[j] += scale[j] * (dyr[j] - sub_b[j] - xr[j] * sub_g[j]);
                }
            }
        });
        Ok(())
    });
    Ok(Act { t: y.put_tape(tape), b, h, w })
}
