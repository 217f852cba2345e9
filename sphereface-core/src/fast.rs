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
//! (in evaluation μ, σ are the running statistics and dx = γ dy/σ), with the ReLU after it
//! folded in (its mask γ x̂ + β > 0 is recomputed in backward). The `mnist4` block
//! conv → batch norm → ReLU is a single op ([`ConvDevice::conv_bn_relu`]), so the
//! convolution's output and its gradient never become dfdx tensors. Our own GEMMs use the
//! `gemm` crate with its AVX-512 kernels (`x86-v4`, chosen at run time).
//!
//! Other devices use the portable composition of dfdx ops ([`Conv2d::forward_portable`],
//! [`BatchNorm::forward_portable`]); the tests check that both routes agree in values and
//! gradients.

use std::mem::MaybeUninit;

use dfdx::prelude::*;
use dfdx::tensor::{CpuError, Gradients};
use rayon::prelude::*;

use num_traits::Float;

use crate::layers::{patch_indices, relu, Act, BatchNorm, Conv2d, Mode};
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
    /// Applies `bn` and then ReLU to `x` on this device.
    ///
    /// # Errors
    /// As [`BatchNorm::forward_portable`].
    fn batch_norm_relu<T: Tape<E, Self>>(bn: &mut BatchNorm<E, Self>, x: Act<E, Self, T>, mode: Mode) -> Result<Act<E, Self, T>> {
        relu(bn.forward_portable(x, mode)?)
    }
    /// Applies `conv`, then `bn`, then ReLU to `x` on this device.
    ///
    /// # Errors
    /// As [`Conv2d::forward_portable`] and [`BatchNorm::forward_portable`].
    fn conv_bn_relu<T: Tape<E, Self>>(conv: &Conv2d<E, Self>, bn: &mut BatchNorm<E, Self>, x: Act<E, Self, T>, mode: Mode) -> Result<Act<E, Self, T>> {
        relu(bn.forward_portable(conv.forward_portable(x)?, mode)?)
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
                if fast_path() { batch_norm_cpu(bn, x, mode, false) } else { bn.forward_portable(x, mode) }
            }
            fn batch_norm_relu<T: Tape<$e, Self>>(bn: &mut BatchNorm<$e, Self>, x: Act<$e, Self, T>, mode: Mode) -> Result<Act<$e, Self, T>> {
                if fast_path() { batch_norm_cpu(bn, x, mode, true) } else { relu(bn.forward_portable(x, mode)?) }
            }
            fn conv_bn_relu<T: Tape<$e, Self>>(conv: &Conv2d<$e, Self>, bn: &mut BatchNorm<$e, Self>, x: Act<$e, Self, T>, mode: Mode) -> Result<Act<$e, Self, T>> {
                if fast_path() { conv_bn_relu_cpu(conv, bn, x, mode) } else { relu(bn.forward_portable(conv.forward_portable(x)?, mode)?) }
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

/// The values of a contiguous CPU tensor as a vector (one memcpy; dfdx's `as_vec` walks a
/// strided index per element).
fn host<S: Shape, E: Dtype, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    let mut v = vec![E::default(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// dst[m, n] (row-major) = (accumulate ? dst : 0) + a · b, on all threads.
fn matmul<E: Dtype>(dst: &mut [E], a: Operand<E>, b: Operand<E>, accumulate: bool) {
    assert!(dst.len() == a.out_rows() * b.out_cols(), "matmul sizes");
    // SAFETY: dst holds exactly the m·n elements written.
    unsafe { matmul_raw(dst.as_mut_ptr(), a, b, accumulate) }
}

/// A new `m × n` matrix a · b; its memory is written by the GEMM only (no zeroing pass).
fn matmul_new<E: Dtype>(a: Operand<E>, b: Operand<E>) -> Vec<E> {
    let len = a.out_rows() * b.out_cols();
    let mut out = Vec::with_capacity(len);
    // SAFETY: the GEMM runs with `accumulate` false, so it writes every one of the `len`
    // elements of the reserved buffer without reading them; only then is the length set.
    unsafe {
        matmul_raw(out.as_mut_ptr(), a, b, false);
        out.set_len(len);
    }
    out
}

impl<E> Operand<'_, E> {
    fn out_rows(&self) -> usize {
        if self.transposed { self.cols } else { self.rows }
    }
    fn out_cols(&self) -> usize {
        if self.transposed { self.rows } else { self.cols }
    }
}

/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads) of m·n elements, where
/// m and n are the logical rows of `a` and columns of `b`, and not overlap `a` or `b`.
unsafe fn matmul_raw<E: Dtype>(dst: *mut E, a: Operand<E>, b: Operand<E>, accumulate: bool) {
    let (m, k) = (a.out_rows(), a.out_cols());
    let (k2, n) = (b.out_rows(), b.out_cols());
    assert!(k == k2 && a.data.len() == a.rows * a.cols && b.data.len() == b.rows * b.cols, "matmul sizes");
    // Strides (column step, row step) of the logical operand in its row-major storage.
    let strides = |o: &Operand<E>| if o.transposed { (o.cols as isize, 1) } else { (1, o.cols as isize) };
    let (a_cs, a_rs) = strides(&a);
    let (b_cs, b_rs) = strides(&b);
    // SAFETY: the sizes and strides above describe exactly a and b; dst as the caller
    // promised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
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

/// The backward half of a fused op: given the gradient of its output, adds the gradients
/// of its parameters into `grads`; the convolution's also adds its input's (if wanted).
type ConvBackward<E> = Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E]) -> std::result::Result<(), CpuError>>;
/// The batch norm's backward half: adds dγ and dβ into `grads` and returns dx.
type BnBackward<E> = Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E]) -> std::result::Result<Vec<E>, CpuError>>;

/// The gradient of `ghost`'s tensor as a slice that stays valid while other entries of
/// `grads` are updated.
///
/// # Safety
/// The caller must not touch this entry of `grads` again while the slice is alive (the
/// heap buffer does not move when other entries are inserted; the entry is complete
/// because every consumer of the tensor ran its backward before).
macro_rules! finished_grad {
    ($grads:expr, $ghost:expr) => {{
        let v = $grads.get_or_alloc_mut($ghost)?;
        let (ptr, len) = (v.as_ptr(), v.len());
        // SAFETY: see `finished_grad`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }};
}

/// Convolution forward on the host: returns the output `[B·OH·OW, C_out]`, OH, OW and the
/// backward half.
fn conv_parts<E: Dtype>(conv: &Conv2d<E, Cpu>, t: &Tensor<(usize, usize), E, Cpu>, b: usize, h: usize, w: usize) -> Result<(Vec<E>, usize, usize, ConvBackward<E>)> {
    let (ci, co, k) = (conv.c_in, conv.c_out, conv.k);
    let (idx, oh, ow, _) = patch_indices(h, w, k, conv.stride, conv.padding)?;
    let (np, kk, kkc) = (oh * ow, k * k, k * k * ci);
    let pad = h * w;
    let n = b * np;
    let xv = host(t); // [B·H·W·C_in]
    let wv = host(&conv.weight); // [k·k·C_in, C_out]

    // im2col: row (b, p) holds the k·k patch of output pixel p, C_in values per offset
    // (zeros outside the image). Every element is written once, so no zeroing pass.
    let mut cols: Vec<E> = Vec::with_capacity(n * kkc);
    cols.spare_capacity_mut()[..n * kkc].par_chunks_mut(np * kkc).enumerate().for_each(|(bi, img)| {
        let src = &xv[bi * pad * ci..(bi + 1) * pad * ci];
        for (row, patch) in img.chunks_mut(kkc).zip(idx.chunks(kk)) {
            for (dst, &p) in row.chunks_mut(ci).zip(patch) {
                if p == pad {
                    dst.iter_mut().for_each(|d| {
                        d.write(E::default());
                    });
                } else {
                    dst.iter_mut().zip(&src[p * ci..(p + 1) * ci]).for_each(|(d, v)| {
                        d.write(*v);
                    });
                }
            }
        }
    });
    // SAFETY: the loop above wrote all n·k·k·C_in elements (each row of `img` is covered
    // by the patch offsets, each offset by C_in values).
    unsafe { cols.set_len(n * kkc) };
    drop(xv);

    // y = cols · W + b                                                  [N', C_out]
    let cols_op = Operand { data: &cols, rows: n, cols: kkc, transposed: false };
    let w_op = Operand { data: &wv, rows: kkc, cols: co, transposed: false };
    let out = match &conv.bias {
        Some(bias) => {
            let mut out = host(bias).repeat(n);
            matmul(&mut out, cols_op, w_op, true);
            out
        }
        None => matmul_new(cols_op, w_op),
    };

    let x_ghost = conv.input_grad.then(|| t.ghost());
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        // dW += colsᵀ · dy                                              [k·k·C_in, C_out]
        let dw = grads.get_or_alloc_mut(&w_ghost)?;
        matmul(dw, Operand { data: &cols, rows: n, cols: kkc, transposed: true }, Operand { data: dy, rows: n, cols: co, transposed: false }, true);
        drop(cols);
        // db += Σ_rows dy                                                [C_out]
        if let Some(bg) = &b_ghost {
            let db = grads.get_or_alloc_mut(bg)?;
            for row in dy.chunks(co) {
                for (d, g) in db.iter_mut().zip(row) {
                    *d += *g;
                }
            }
        }
        let Some(xg) = &x_ghost else { return Ok(()) };
        // dcols = dy · Wᵀ, then col2im adds each patch back to its pixels.  [N', k·k·C_in]
        let dcols = matmul_new(Operand { data: dy, rows: n, cols: co, transposed: false }, Operand { data: &wv, rows: kkc, cols: co, transposed: true });
        let dx = grads.get_or_alloc_mut(xg)?;
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
    };
    Ok((out, oh, ow, Box::new(backward)))
}

fn conv2d_cpu<E: Dtype, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, x: Act<E, Cpu, T>) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    let (t, mut tape) = t.split_tape();
    let (out, oh, ow, backward) = conv_parts(conv, &t, b, h, w)?;
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(out, (b * oh * ow, conv.c_out)).map_err(dev_err)?;
    let y_ghost = y.ghost();
    tape.add_backward_op(move |grads| {
        let dy = finished_grad!(grads, &y_ghost);
        backward(grads, dy)
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}

/// conv → batch norm → ReLU as one op: the convolution's output and its gradient never
/// become dfdx tensors (no copies, no zeroed gradient buffer).
fn conv_bn_relu_cpu<E: Dtype + Float, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, bn: &mut BatchNorm<E, Cpu>, x: Act<E, Cpu, T>, mode: Mode) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    if bn.gamma.shape().0 != conv.c_out {
        return Err(crate::Error::Shape(format!("batch norm expects {} channels, got {}", bn.gamma.shape().0, conv.c_out)));
    }
    let (t, mut tape) = t.split_tape();
    let (out, oh, ow, conv_backward) = conv_parts(conv, &t, b, h, w)?;
    if mode == Mode::Train && b * oh * ow < 2 {
        return Err(crate::Error::Shape(format!("batch norm in training needs at least 2 values per channel, got {}", b * oh * ow)));
    }
    let (y, bn_backward) = bn_parts(bn, out, conv.c_out, mode, true)?;
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(y, (b * oh * ow, conv.c_out)).map_err(dev_err)?;
    let y_ghost = y.ghost();
    tape.add_backward_op(move |grads| {
        let dy = finished_grad!(grads, &y_ghost);
        let dconv = bn_backward(grads, dy)?;
        conv_backward(grads, &dconv)
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}

/// Rows per partial sum. Fixed (not tied to the thread count) and summed in order, so a
/// result does not depend on the threads or on how rayon split the work.
const SUM_CHUNK_ROWS: usize = 2048;

/// Rows per parallel task of the elementwise passes.
const ROWS_PER_TASK: usize = 256;

/// Per-channel sums of the pair `f(a, b)` over the rows of two `[N, C]` matrices, in f64,
/// in parallel, deterministic.
fn channel_sums<E: Dtype + Float>(a: &[E], b: &[E], c: usize, f: impl Fn(E, E) -> (f64, f64) + Sync) -> (Vec<f64>, Vec<f64>) {
    let chunk = SUM_CHUNK_ROWS * c;
    let partial: Vec<(Vec<f64>, Vec<f64>)> = a
        .par_chunks(chunk)
        .zip(b.par_chunks(chunk))
        .map(|(pa, pb)| {
            let (mut s0, mut s1) = (vec![0.0f64; c], vec![0.0f64; c]);
            for (ra, rb) in pa.chunks_exact(c).zip(pb.chunks_exact(c)) {
                for (((t0, t1), &u), &v) in s0.iter_mut().zip(s1.iter_mut()).zip(ra).zip(rb) {
                    let (p, q) = f(u, v);
                    *t0 += p;
                    *t1 += q;
                }
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

/// Batch norm (and, with `relu`, ReLU after it) on the host values `x` `[N, C]`: returns
/// the output and the backward half. Updates the running statistics in training.
fn bn_parts<E: Dtype + Float>(bn: &mut BatchNorm<E, Cpu>, x: Vec<E>, c: usize, mode: Mode, relu: bool) -> Result<(Vec<E>, BnBackward<E>)> {
    let n = x.len() / c;
    let f = |v: E| v.to_f64().unwrap_or(f64::NAN);
    let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
    let (mean, inv_std): (Vec<f64>, Vec<f64>) = match mode {
        Mode::Train => {
            // One pass: Σx and Σx² in f64, var = E[x²] − E[x]².
            let (sum, sq) = channel_sums(&x, &x, c, |v, _| {
                let v = f(v);
                (v, v * v)
            });
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
    // x̂ (kept for backward, in place of x) and y = γ x̂ + β, or max(0, γ x̂ + β)    [N, C]
    let rows = c * ROWS_PER_TASK;
    let mut xhat = x;
    let mut y: Vec<E> = Vec::with_capacity(n * c);
    xhat.par_chunks_mut(rows).zip(y.spare_capacity_mut()[..n * c].par_chunks_mut(rows)).for_each(|(xs, ys)| bn_forward_rows(xs, ys, &mean_e, &inv_e, &gamma, &beta, relu));
    // SAFETY: bn_forward_rows wrote every element of every chunk (xhat and y have n·c).
    unsafe { y.set_len(n * c) };
    let (g_ghost, b_ghost) = (bn.gamma.ghost(), bn.beta.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        // The gradient reaching the batch norm's output: dy, or dy where the ReLU passed
        // (γ x̂ + β > 0, recomputed exactly as in forward).
        let masked: Option<Vec<E>> = relu.then(|| {
            let mut g = Vec::with_capacity(n * c);
            g.spare_capacity_mut()[..n * c].par_chunks_mut(rows).zip(dy.par_chunks(rows)).zip(xhat.par_chunks(rows)).for_each(|((gs, ds), xs)| relu_mask_rows(gs, ds, xs, &gamma, &beta));
            // SAFETY: relu_mask_rows wrote every element.
            unsafe { g.set_len(n * c) };
            g
        });
        let dy = masked.as_deref().unwrap_or(dy);
        let (dbeta, dgamma) = channel_sums(dy, &xhat, c, |g, xh| (f(g), f(g * xh)));
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
        dx.spare_capacity_mut()[..n * c].par_chunks_mut(rows).zip(dy.par_chunks(rows)).zip(xhat.par_chunks(rows)).for_each(|((dxs, dys), xhs)| bn_dx_rows(dxs, dys, xhs, &scale, &sub_b, &sub_g));
        // SAFETY: bn_dx_rows wrote every element.
        unsafe { dx.set_len(n * c) };
        Ok(dx)
    };
    Ok((y, Box::new(backward)))
}

/// Batch norm (and, with `relu`, ReLU after it) as one op on the tape.
fn batch_norm_cpu<E: Dtype + Float, T: Tape<E, Cpu>>(bn: &mut BatchNorm<E, Cpu>, x: Act<E, Cpu, T>, mode: Mode, relu: bool) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = bn.check_input(x, mode)?;
    let (n, c) = *t.shape();
    let (t, mut tape) = t.split_tape();
    let (y, backward) = bn_parts(bn, host(&t), c, mode, relu)?;
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(y, (n, c)).map_err(dev_err)?;
    let (x_ghost, y_ghost) = (t.ghost(), y.ghost());
    tape.add_backward_op(move |grads| {
        let dy = finished_grad!(grads, &y_ghost);
        let dx = backward(grads, dy)?;
        for (acc, v) in grads.get_or_alloc_mut(&x_ghost)?.iter_mut().zip(&dx) {
            *acc += *v;
        }
        Ok(())
    });
    Ok(Act { t: y.put_tape(tape), b, h, w })
}

// The elementwise kernels of the batch norm, on whole rows of `[rows, C]` blocks. Plain
// functions over slices (not closures) so that the compiler sees unaliased inputs and
// vectorises them.

/// x ← x̂ = (x − μ)·inv, y = γ x̂ + β, or max(0, γ x̂ + β) with `relu` (per channel).
fn bn_forward_rows<E: Dtype>(xs: &mut [E], ys: &mut [MaybeUninit<E>], mean: &[E], inv: &[E], gamma: &[E], beta: &[E], relu: bool) {
    let zero = E::default();
    let c = mean.len();
    for (xr, yr) in xs.chunks_exact_mut(c).zip(ys.chunks_exact_mut(c)) {
        for (((x, y), (&m, &s)), (&g, &b)) in xr.iter_mut().zip(yr.iter_mut()).zip(mean.iter().zip(inv)).zip(gamma.iter().zip(beta)) {
            let v = (*x - m) * s;
            *x = v;
            let out = g * v + b;
            y.write(if !relu || out > zero { out } else { zero });
        }
    }
}

/// g = dy where γ x̂ + β > 0 (the ReLU passed), else 0.
fn relu_mask_rows<E: Dtype>(gs: &mut [MaybeUninit<E>], dys: &[E], xs: &[E], gamma: &[E], beta: &[E]) {
    let zero = E::default();
    let c = gamma.len();
    for ((gr, dr), xr) in gs.chunks_exact_mut(c).zip(dys.chunks_exact(c)).zip(xs.chunks_exact(c)) {
        for (((g, &d), &x), (&a, &b)) in gr.iter_mut().zip(dr).zip(xr).zip(gamma.iter().zip(beta)) {
            g.write(if a * x + b > zero { d } else { zero });
        }
    }
}

/// dx = scale·(dy − sub_b − x̂·sub_g) per channel.
fn bn_dx_rows<E: Dtype>(dxs: &mut [MaybeUninit<E>], dys: &[E], xs: &[E], scale: &[E], sub_b: &[E], sub_g: &[E]) {
    let c = scale.len();
    for ((dxr, dyr), xr) in dxs.chunks_exact_mut(c).zip(dys.chunks_exact(c)).zip(xs.chunks_exact(c)) {
        for (((d, &g), &x), (&sc, (&sb, &sg))) in dxr.iter_mut().zip(dyr).zip(xr).zip(scale.iter().zip(sub_b.iter().zip(sub_g))) {
            d.write(sc * (g - sb - x * sg));
        }
    }
}
