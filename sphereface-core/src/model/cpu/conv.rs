//! The convolution as one op on the dfdx tape: im2col with plain copies (in parallel over
//! the batch), one GEMM, and in backward two GEMMs and a col2im scatter-add; and the
//! `mnist4` block conv → batch norm → ReLU as a single op.
//!
//! ```text
//! forward:  cols[B·OH·OW, k·k·C_in] = im2col(x);   y = cols · W + b
//! backward: dW += colsᵀ · dy;   db += Σ_rows dy;   dx += col2im(dy · Wᵀ)
//! ```

use dfdx::prelude::*;
use dfdx::tensor::{CpuError, Gradients};
use num_traits::Float;
use rayon::prelude::*;

use super::direct::{self, DirectElem, Geometry, Kernels};
use super::taps;
use super::batch_norm::{bn_relu_parts, channel_sums, ROWS_PER_TASK};
use super::eval::{CHUNK_IMAGES, WINOGRAD_MIN_C_IN};
use super::winograd::{Winograd, F4};
use super::gemm::{matmul, matmul_on, matmul_uninit, Operand};
use super::host;
use crate::model::layers::{patch_indices, window_geometry, Act, BatchNorm, Conv2d, Mode, PRelu};
use crate::{dev_err, Result};

/// The backward half of a fused op: given the gradient of its output, adds the gradients
/// of its parameters into `grads`; the convolution's also adds its input's (if wanted).
pub(super) type ConvBackward<E> = Box<dyn FnOnce(&mut Gradients<E, Cpu>, &[E]) -> std::result::Result<(), CpuError>>;

/// The largest weight matrix (bytes) for which a convolution runs in chunks of
/// [`CHUNK_IMAGES`] images, one chunk per thread: each chunk packs W again, which pays while
/// W stays in the core's cache (1 MiB L2 here). Measured: every `mnist4` layer gains (its
/// largest W is 576 KiB); `sphere20`'s 256- and 512-channel stages (2.3 and 9 MiB) lose
/// (docs/PERFORMANCE.md).
const MAX_CHUNKED_WEIGHT_BYTES: usize = 640 << 10;

/// Convolution forward on the host: returns the output `[B·OH·OW, C_out]`, OH, OW and the
/// backward half.
fn conv_parts<E: DirectElem + Float>(conv: &Conv2d<E, Cpu>, t: &Tensor<(usize, usize), E, Cpu>, b: usize, h: usize, w: usize) -> Result<(Vec<E>, usize, usize, ConvBackward<E>)> {
    if winograd_trains(conv, h, w)? {
        return winograd_parts(conv, t, h, w);
    }
    if let Some(ker) = direct::direct_kernels::<E>(conv.k * conv.k * conv.c_in, conv.c_out) {
        return direct_parts(conv, t, b, h, w, ker);
    }
    let (ci, co, k) = (conv.c_in, conv.c_out, conv.k);
    let (idx, oh, ow, padded) = patch_indices(h, w, k, conv.stride, conv.padding)?;
    let (np, kk, kkc) = (oh * ow, k * k, k * k * ci);
    let pad = h * w;
    // Under `Auto`, a layer whose zero border is a large part of the work (small images)
    // multiplies only the in-image taps; `Taps` forces that for every layer.
    let choice = direct::conv_kernels();
    if choice == direct::ConvKernels::Taps || (padded && choice.per_layer()) {
        let (classes, waste) = taps::tap_classes(&idx, k, pad);
        if choice == direct::ConvKernels::Taps || waste >= taps::MIN_BORDER_WASTE {
            let (out, backward) = taps::taps_parts(conv, t, b, pad, np, idx, classes);
            return Ok((out, oh, ow, backward));
        }
    }
    let n = b * np;
    let xv = host(t); // [B·H·W·C_in]
    let wv = host(&conv.weight); // [k·k·C_in, C_out]

    // Per chunk of images: im2col (row (b, p) holds the k·k patch of output pixel p, C_in
    // values per offset, zeros outside the image), then y = cols · W + b. Where W is small
    // (MAX_CHUNKED_WEIGHT_BYTES), chunks of CHUNK_IMAGES images run one per thread with
    // single-threaded GEMMs on cache-sized blocks; else the whole batch is one chunk and the
    // GEMM uses every thread. `cols` is kept whole for dW in backward. Every element is written once.
    let chunked = kkc * co * std::mem::size_of::<E>() <= MAX_CHUNKED_WEIGHT_BYTES;
    let (imgs, all_threads) = if chunked { (CHUNK_IMAGES, false) } else { (b.max(1), true) };
    let bias = conv.bias.as_ref().map(host);
    let (img_cols, img_out) = (np * kkc, np * co);
    let mut cols: Vec<E> = Vec::with_capacity(n * kkc);
    let mut out: Vec<E> = Vec::with_capacity(n * co);
    cols.spare_capacity_mut()[..n * kkc]
        .par_chunks_mut(imgs * img_cols)
        .zip(out.spare_capacity_mut()[..n * co].par_chunks_mut(imgs * img_out))
        .zip(xv.par_chunks(imgs * pad * ci))
        .for_each(|((cc, oc), src)| {
            cc.par_chunks_mut(img_cols).zip(src.par_chunks(pad * ci)).for_each(|(img, s)| im2col_image(img, s, &idx, kk, ci, pad));
            let rows = cc.len() / kkc;
            // SAFETY: im2col_image wrote every element of cc.
            let cc: &[E] = unsafe { std::slice::from_raw_parts(cc.as_ptr().cast::<E>(), cc.len()) };
            let (a, w_op) = (Operand { data: cc, rows, cols: kkc, transposed: false }, Operand { data: &wv, rows: kkc, cols: co, transposed: false });
            match &bias {
                Some(bias) => {
                    for (d, v) in oc.iter_mut().zip(bias.iter().cycle()) {
                        d.write(*v);
                    }
                    // SAFETY: every element of oc was just written.
                    let oc: &mut [E] = unsafe { std::slice::from_raw_parts_mut(oc.as_mut_ptr().cast::<E>(), oc.len()) };
                    matmul_on(oc, a, w_op, true, all_threads);
                }
                None => matmul_uninit(oc, a, w_op, all_threads),
            }
        });
    // SAFETY: each chunk wrote all its elements of cols (im2col) and out (the GEMM).
    unsafe {
        cols.set_len(n * kkc);
        out.set_len(n * co);
    }
    drop(xv);

    let x_ghost = conv.input_grad.then(|| t.ghost());
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        // dW += colsᵀ · dy                                              [k·k·C_in, C_out]
        let dw = grads.get_or_alloc_mut(&w_ghost)?;
        matmul(dw, Operand { data: &cols, rows: n, cols: kkc, transposed: true }, Operand { data: dy, rows: n, cols: co, transposed: false }, true);
        drop(cols);
        if let Some(bg) = &b_ghost {
            add_row_sums(grads.get_or_alloc_mut(bg)?, dy);
        }
        let Some(xg) = &x_ghost else { return Ok(()) };
        // Per chunk of images, as in forward: dcols = dy · Wᵀ  [rows, k·k·C_in], then col2im
        // adds each patch back to its pixels.
        let dx = grads.get_or_alloc_mut(xg)?;
        dx.par_chunks_mut(imgs * pad * ci).zip(dy.par_chunks(imgs * img_out)).for_each(|(dxc, dyc)| {
            let rows = dyc.len() / co;
            let mut dcols: Vec<E> = Vec::with_capacity(rows * kkc);
            matmul_uninit(&mut dcols.spare_capacity_mut()[..rows * kkc], Operand { data: dyc, rows, cols: co, transposed: false }, Operand { data: &wv, rows: kkc, cols: co, transposed: true }, all_threads);
            // SAFETY: the GEMM wrote all rows·k·k·C_in elements.
            unsafe { dcols.set_len(rows * kkc) };
            dxc.par_chunks_mut(pad * ci).zip(dcols.par_chunks(img_cols)).for_each(|(img, dimg)| {
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
        });
        Ok(())
    };
    Ok((out, oh, ow, Box::new(backward)))
}

/// Whether a layer trains on Winograd's F(4×4, 3×3) ([`winograd`]): a stride-1 3×3 layer
/// with at least [`WINOGRAD_MIN_C_IN`] input channels, every one under `Winograd`, and under
/// `Auto` (on a CPU with direct kernels) those whose tiles need fewer than half the direct
/// products: 36 per tile of 4×4 outputs against 9 per output, so 8·tiles ≤ OH·OW (not
/// `sphere20`'s 2×2 images, where one tile serves four outputs).
fn winograd_trains<E: Dtype>(conv: &Conv2d<E, Cpu>, h: usize, w: usize) -> Result<bool> {
    let choice = direct::conv_kernels();
    if conv.k != 3 || conv.stride != 1 || conv.c_in < WINOGRAD_MIN_C_IN || !choice.per_layer() {
        return Ok(false);
    }
    let ((oh, _), (ow, _)) = (window_geometry(h, 3, 1, conv.padding)?, window_geometry(w, 3, 1, conv.padding)?);
    let tiles = oh.div_ceil(4) * ow.div_ceil(4);
    Ok(choice == direct::ConvKernels::Winograd || (choice.resolved().is_some() && 8 * tiles <= oh * ow))
}

/// Convolution forward by Winograd's F(4×4, 3×3): returns what [`conv_parts`] does; the
/// transformed input V is kept for backward instead of the input.
fn winograd_parts<E: DirectElem + Float>(conv: &Conv2d<E, Cpu>, t: &Tensor<(usize, usize), E, Cpu>, h: usize, w: usize) -> Result<(Vec<E>, usize, usize, ConvBackward<E>)> {
    let wg = Winograd::for_training(&F4, &host(&conv.weight), conv.c_in, conv.c_out, h, w, conv.padding)?;
    let bias = conv.bias.as_ref().map(host);
    let (out, v) = wg.forward(&host(t), bias.as_deref());
    let (oh, ow) = wg.out_size();
    let x_ghost = conv.input_grad.then(|| t.ghost());
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        if let Some(bg) = &b_ghost {
            add_row_sums(grads.get_or_alloc_mut(bg)?, dy);
        }
        let dx = match &x_ghost {
            Some(xg) => Some(&mut grads.get_or_alloc_mut(xg)?[..]),
            None => None,
        };
        let dm = wg.backward_input(&v, dy, dx);
        wg.add_filter_grad(&v, &dm, grads.get_or_alloc_mut(&w_ghost)?);
        Ok(())
    };
    Ok((out, oh, ow, Box::new(backward)))
}

/// db += Σ_rows dy `[C_out]` (the bias gradient).
pub(super) fn add_row_sums<E: Dtype>(db: &mut [E], dy: &[E]) {
    for row in dy.chunks(db.len()) {
        for (d, g) in db.iter_mut().zip(row) {
            *d += *g;
        }
    }
}

/// Convolution forward on the direct route ([`direct`]): returns what [`conv_parts`] does.
fn direct_parts<E: DirectElem>(conv: &Conv2d<E, Cpu>, t: &Tensor<(usize, usize), E, Cpu>, b: usize, h: usize, w: usize, ker: &'static Kernels<E>) -> Result<(Vec<E>, usize, usize, ConvBackward<E>)> {
    let (ci, co, k, s) = (conv.c_in, conv.c_out, conv.k, conv.stride);
    let g = Geometry::new(b, h, w, ci, co, k, s, window_geometry(h, k, s, conv.padding)?, window_geometry(w, k, s, conv.padding)?);
    let (oh, ow) = (g.oh, g.ow);
    let x = host(t);
    let wv = host(&conv.weight); // [k·k·C_in, C_out]
    let bias = conv.bias.as_ref().map(host);
    let n = b * oh * ow;
    let mut out: Vec<E> = Vec::with_capacity(n * co);
    let xp_len = if g.bordered() { b * g.hp * g.wp * ci } else { 0 };
    let mut xp: Vec<E> = Vec::with_capacity(xp_len);
    direct::forward(ker, &g, &x, g.bordered().then(|| &mut xp.spare_capacity_mut()[..xp_len]), &wv, bias.as_deref(), &mut out.spare_capacity_mut()[..n * co]);
    // SAFETY: `forward` wrote every element of out, and of xp where the input is bordered.
    unsafe {
        out.set_len(n * co);
        xp.set_len(xp_len);
    }
    // What dW reads: the bordered copy, or the input itself.
    let xp = if g.bordered() { xp } else { x };

    let x_ghost = conv.input_grad.then(|| t.ghost());
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let backward = move |grads: &mut Gradients<E, Cpu>, dy: &[E]| {
        direct::backward_weight(ker, &g, &xp, dy, grads.get_or_alloc_mut(&w_ghost)?);
        drop(xp);
        if let Some(bg) = &b_ghost {
            add_row_sums(grads.get_or_alloc_mut(bg)?, dy);
        }
        let Some(xg) = &x_ghost else { return Ok(()) };
        let dx = grads.get_or_alloc_mut(xg)?;
        if ci % ker.lanes == 0 {
            direct::backward_input(ker, &g, dy, &wv, dx);
        } else {
            direct::backward_input_gemm(&g, dy, &wv, dx);
        }
        Ok(())
    };
    Ok((out, oh, ow, Box::new(backward)))
}

/// im2col of one image `src` `[H·W·C_in]` into `dst` `[OH·OW, k·k·C_in]`: row p holds the
/// k·k patch of output pixel p (offsets from [`patch_indices`], `pad` = H·W marking a pixel
/// outside the image, written as zeros). Writes every element of `dst`.
pub(super) fn im2col_image<E: Dtype>(dst: &mut [std::mem::MaybeUninit<E>], src: &[E], idx: &[usize], kk: usize, ci: usize, pad: usize) {
    for (row, patch) in dst.chunks_mut(kk * ci).zip(idx.chunks(kk)) {
        // Offsets of neighbouring pixels in the image (a patch row's k pixels) are copied as
        // one run of C_in values each: one copy of 3·C_in values instead of three.
        let mut j = 0;
        while j < patch.len() {
            let p = patch[j];
            let mut len = 1;
            if p != pad {
                while j + len < patch.len() && patch[j + len] == p + len && patch[j + len] != pad {
                    len += 1;
                }
            }
            let d = &mut row[j * ci..(j + len) * ci];
            if p == pad {
                d.iter_mut().for_each(|d| {
                    d.write(E::default());
                });
            } else {
                // SAFETY: `MaybeUninit<E>` has the layout of `E`; source and destination are
                // different buffers and both hold len·C_in elements.
                unsafe { std::ptr::copy_nonoverlapping(src[p * ci..(p + len) * ci].as_ptr(), d.as_mut_ptr().cast::<E>(), len * ci) };
            }
            j += len;
        }
    }
}

pub(super) fn conv2d_cpu<E: DirectElem + Float, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, x: Act<E, Cpu, T>) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    let (t, mut tape) = t.split_tape();
    let (out, oh, ow, backward) = conv_parts(conv, &t, b, h, w)?;
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(out, (b * oh * ow, conv.c_out)).map_err(dev_err)?;
    let y_ghost = y.ghost();
    tape.add_backward_op(move |grads| {
        let dy = super::finished_grad!(grads, &y_ghost);
        backward(grads, dy)
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}

/// conv → batch norm → ReLU as one op: the convolution's output and its gradient never
/// become dfdx tensors (no copies, no zeroed gradient buffer).
pub(super) fn conv_bn_relu_cpu<E: DirectElem + Float, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, bn: &mut BatchNorm<E, Cpu>, x: Act<E, Cpu, T>, mode: Mode) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    if bn.gamma.shape().0 != conv.c_out {
        return Err(crate::Error::Shape(format!("batch norm expects {} channels, got {}", bn.gamma.shape().0, conv.c_out)));
    }
    let (t, mut tape) = t.split_tape();
    let (out, oh, ow, conv_backward) = conv_parts(conv, &t, b, h, w)?;
    if mode == Mode::Train && b * oh * ow < 2 {
        return Err(crate::Error::Shape(format!("batch norm in training needs at least 2 values per channel, got {}", b * oh * ow)));
    }
    let (y, bn_backward) = bn_relu_parts(bn, out, conv.c_out, mode)?;
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(y, (b * oh * ow, conv.c_out)).map_err(dev_err)?;
    let y_ghost = y.ghost();
    tape.add_backward_op(move |grads| {
        let dy = super::finished_grad!(grads, &y_ghost);
        let dconv = bn_backward(grads, dy)?;
        conv_backward(grads, &dconv)
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}


/// conv → PReLU as one op (the `sphere20` block): y = z where z > 0, α_c·z elsewhere, with
/// z the convolution's output, kept as a host vector for backward:
///
/// ```text
/// dz = dy·[z > 0] + α_c·dy·[z < 0],   dα_c = Σ dy·z·[z < 0]
/// ```
/// (at z = 0 both are 0, as for the portable route's relu(z) − α·relu(−z)).
pub(super) fn conv_prelu_cpu<E: DirectElem + Float, T: Tape<E, Cpu>>(conv: &Conv2d<E, Cpu>, act: &PRelu<E, Cpu>, x: Act<E, Cpu, T>) -> Result<Act<E, Cpu, T>> {
    let Act { t, b, h, w } = conv.check_input(x)?;
    let c = conv.c_out;
    if act.alpha.shape().0 != c {
        return Err(crate::Error::Shape(format!("PReLU expects {} channels, got {c}", act.alpha.shape().0)));
    }
    let (t, mut tape) = t.split_tape();
    let (z, oh, ow, conv_backward) = conv_parts(conv, &t, b, h, w)?;
    let alpha = host(&act.alpha);
    let n = z.len();
    let rows = c * ROWS_PER_TASK;
    let mut y: Vec<E> = Vec::with_capacity(n);
    y.spare_capacity_mut()[..n].par_chunks_mut(rows).zip(z.par_chunks(rows)).for_each(|(ys, zs)| prelu_rows(ys, zs, &alpha));
    // SAFETY: prelu_rows wrote every element.
    unsafe { y.set_len(n) };
    let y: Tensor<(usize, usize), E, Cpu> = t.device().try_tensor_from_vec(y, (b * oh * ow, c)).map_err(dev_err)?;
    let (y_ghost, a_ghost) = (y.ghost(), act.alpha.ghost());
    tape.add_backward_op(move |grads| {
        let dy = super::finished_grad!(grads, &y_ghost);
        let (dalpha, _) = channel_sums(dy, &z, c, prelu_alpha_sums_row);
        for (acc, v) in grads.get_or_alloc_mut(&a_ghost)?.iter_mut().zip(&dalpha) {
            *acc += E::from_f64(*v).unwrap_or_else(E::nan);
        }
        let mut dz = Vec::with_capacity(n);
        dz.spare_capacity_mut()[..n].par_chunks_mut(rows).zip(dy.par_chunks(rows)).zip(z.par_chunks(rows)).for_each(|((ds, gs), zs)| prelu_grad_rows(ds, gs, zs, &alpha));
        // SAFETY: prelu_grad_rows wrote every element.
        unsafe { dz.set_len(n) };
        conv_backward(grads, &dz)
    });
    Ok(Act { t: y.put_tape(tape), b, h: oh, w: ow })
}

/// dα's terms of one row: Σ dy·z where z < 0 (the second sum stays 0).
fn prelu_alpha_sums_row<E: Dtype + Float>(dy: &[E], z: &[E], s0: &mut [f64], _: &mut [f64]) {
    let zero = E::default();
    for ((t, &g), &zv) in s0.iter_mut().zip(dy).zip(z) {
        *t += if zv < zero { (g * zv).to_f64().unwrap_or(f64::NAN) } else { 0.0 };
    }
}

/// y = z where z > 0, else α_c·z (rows of C values). A select with one store per element,
/// so that it vectorises.
fn prelu_rows<E: Dtype>(ys: &mut [std::mem::MaybeUninit<E>], zs: &[E], alpha: &[E]) {
    let zero = E::default();
    for (yr, zr) in ys.chunks_exact_mut(alpha.len()).zip(zs.chunks_exact(alpha.len())) {
        for ((y, &z), &a) in yr.iter_mut().zip(zr).zip(alpha) {
            y.write(if z > zero { z } else { a * z });
        }
    }
}

/// dz = dy where z > 0, α_c·dy where z < 0, 0 at z = 0.
fn prelu_grad_rows<E: Dtype>(ds: &mut [std::mem::MaybeUninit<E>], gs: &[E], zs: &[E], alpha: &[E]) {
    let zero = E::default();
    for ((dr, gr), zr) in ds.chunks_exact_mut(alpha.len()).zip(gs.chunks_exact(alpha.len())).zip(zs.chunks_exact(alpha.len())) {
        for (((d, &g), &z), &a) in dr.iter_mut().zip(gr).zip(zr).zip(alpha) {
            d.write(if z > zero { g } else if z < zero { a * g } else { zero });
        }
    }
}
