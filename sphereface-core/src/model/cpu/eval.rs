//! Evaluation of a stack of conv → batch norm → ReLU blocks (the `mnist4` body) without a
//! tape: each batch norm, on its running statistics, is folded into its convolution
//!
//! ```text
//! s = γ/√(running var + ε):   W' = W·s (per output channel),   b' = β − s·running mean + s·b
//! ```
//!
//! so a block is one convolution starting from b', and a ReLU. A stride-1 3×3 block with
//! at least [`WINOGRAD_MIN_C_IN`] input channels (`mnist4`'s third, 58 % of its
//! multiply-adds) takes Winograd's minimal filtering ([`super::winograd`]): F(4×4, 3×3), 4×
//! fewer multiplications, where the convolutions take the direct kernels, else F(2×2, 3×3),
//! 2.25× fewer. The other blocks take the direct kernels where the training route would
//! ([`super::direct`], W packed once), else im2col and one GEMM; under
//! `SPHEREFACE_CONV=im2col` evaluation is that of round 3, under which the committed runs
//! reproduce. The batch is cut into chunks of [`CHUNK_IMAGES`] images, and one thread
//! carries a chunk through every block with single-threaded kernels: the buffers stay small
//! enough for the caches, and the result does not depend on the thread count.

use dfdx::prelude::*;
use num_traits::Float;
use rayon::prelude::*;

use super::conv::im2col_image;
use super::direct::{self, DirectElem, ForwardPlan, Geometry};
use super::gemm::{matmul_on, Operand};
use super::host;
use super::winograd::{Winograd, F2, F4};
use crate::model::layers::{patch_indices, window_geometry, Act, BatchNorm, Conv2d};
use crate::{dev_err, Error, Result};

/// Images per chunk (measured with `sphereface bench --eval`, docs/PERFORMANCE.md).
pub(super) const CHUNK_IMAGES: usize = 2;

/// Input channels from which a stride-1 3×3 block takes the Winograd route (with fewer, the
/// transforms cost more than the GEMM they save: `mnist4`'s first layer has one).
pub(super) const WINOGRAD_MIN_C_IN: usize = 8;

/// Winograd's F(4×4, 3×3) on the direct route, F(2×2, 3×3) on the im2col route (the
/// round-3 evaluation, under which the committed runs reproduce).
fn winograd_tiling() -> &'static super::winograd::Tiling {
    if direct::conv_kernels().resolved().is_some() {
        &F4
    } else {
        &F2
    }
}

/// One block with its batch norm folded in, and its geometry on this input size.
struct Folded<E: 'static> {
    w: Vec<E>,
    bias: Vec<E>,
    c_in: usize,
    c_out: usize,
    kk: usize,
    idx: Vec<usize>,
    /// Input pixels H·W (the `pad` marker of `idx`) and output pixels OH·OW per image.
    in_pixels: usize,
    out_pixels: usize,
    /// The Winograd form of a stride-1 3×3 block (used instead of `idx` and `w`).
    winograd: Option<Winograd<E>>,
    /// The other blocks on the direct kernels where the route takes them (W packed once;
    /// used instead of `idx` and `w`).
    direct: Option<(ForwardPlan<E>, Geometry)>,
}

fn fold<E: DirectElem + Float>(conv: &Conv2d<E, Cpu>, bn: &BatchNorm<E, Cpu>, h: usize, w: usize) -> Result<(Folded<E>, usize, usize)> {
    if bn.gamma.shape().0 != conv.c_out {
        return Err(Error::Shape(format!("batch norm expects {} channels, got {}", bn.gamma.shape().0, conv.c_out)));
    }
    let f = |v: &E| v.to_f64().unwrap_or(f64::NAN);
    let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
    let (idx, oh, ow, _) = patch_indices(h, w, conv.k, conv.stride, conv.padding)?;
    let (gamma, beta, mean, var) = (host(&bn.gamma), host(&bn.beta), host(&bn.running_mean), host(&bn.running_var));
    let scale: Vec<f64> = gamma.iter().zip(&var).map(|(g, v)| f(g) / (f(v) + bn.eps).sqrt()).collect();
    let conv_bias = conv.bias.as_ref().map(host).unwrap_or_else(|| vec![E::default(); conv.c_out]);
    let bias = (0..conv.c_out).map(|j| to(f(&beta[j]) - scale[j] * f(&mean[j]) + scale[j] * f(&conv_bias[j]))).collect();
    let wv = host(&conv.weight);
    let w_folded: Vec<E> = wv.chunks(conv.c_out).flat_map(|row| row.iter().zip(&scale).map(|(v, s)| to(f(v) * s))).collect();
    let winograd = if conv.k == 3 && conv.stride == 1 && conv.c_in >= WINOGRAD_MIN_C_IN { Some(Winograd::new(winograd_tiling(), &w_folded, conv.c_in, conv.c_out, h, w, conv.padding)?) } else { None };
    let direct = match (&winograd, direct::direct_kernels::<E>(conv.k * conv.k * conv.c_in, conv.c_out)) {
        (None, Some(ker)) => {
            let (k, s) = (conv.k, conv.stride);
            let g = Geometry::new(CHUNK_IMAGES, h, w, conv.c_in, conv.c_out, k, s, window_geometry(h, k, s, conv.padding)?, window_geometry(w, k, s, conv.padding)?);
            Some((ForwardPlan::new(ker, &g, &w_folded), g))
        }
        _ => None,
    };
    Ok((Folded { w: w_folded, bias, c_in: conv.c_in, c_out: conv.c_out, kk: conv.k * conv.k, idx, in_pixels: h * w, out_pixels: oh * ow, winograd, direct }, oh, ow))
}

/// One chunk of images `x` `[n, H·W·C_in]` through every block; the last block's output.
fn run_chunk<E: DirectElem>(blocks: &[Folded<E>], x: &[E]) -> Vec<E> {
    let mut cur = x.to_vec();
    let mut scratch = Vec::new();
    for bl in blocks {
        if let Some(wg) = &bl.winograd {
            cur = wg.forward_relu(&cur, &bl.bias);
            continue;
        }
        let n = cur.len() / (bl.in_pixels * bl.c_in);
        if let Some((plan, g)) = &bl.direct {
            let len = n * bl.out_pixels * bl.c_out;
            let mut out: Vec<E> = Vec::with_capacity(len);
            plan.run_images(g, &cur, &mut scratch, &bl.bias, &mut out.spare_capacity_mut()[..len]);
            // SAFETY: run_images wrote every output element.
            unsafe { out.set_len(len) };
            relu_in_place(&mut out);
            cur = out;
            continue;
        }
        let (rows, kkc) = (n * bl.out_pixels, bl.kk * bl.c_in);
        let mut cols: Vec<E> = Vec::with_capacity(rows * kkc);
        for (img, src) in cols.spare_capacity_mut()[..rows * kkc].chunks_mut(bl.out_pixels * kkc).zip(cur.chunks(bl.in_pixels * bl.c_in)) {
            im2col_image(img, src, &bl.idx, bl.kk, bl.c_in, bl.in_pixels);
        }
        // SAFETY: im2col_image wrote every element of each image's rows.
        unsafe { cols.set_len(rows * kkc) };
        let mut out = bl.bias.repeat(rows);
        matmul_on(&mut out, Operand { data: &cols, rows, cols: kkc, transposed: false }, Operand { data: &bl.w, rows: kkc, cols: bl.c_out, transposed: false }, true, false);
        relu_in_place(&mut out);
        cur = out;
    }
    cur
}

/// max(0, v) for each value. Every element is stored (a select, not a conditional store),
/// so that the loop vectorises; with `if v <= 0 { v = 0 }` it took a fifth of the time.
fn relu_in_place<E: Dtype>(v: &mut [E]) {
    let zero = E::default();
    for x in v.iter_mut() {
        *x = if *x > zero { *x } else { zero };
    }
}

/// The blocks `conv → batch norm (running statistics) → ReLU` applied in turn to `x`, for
/// evaluation (no tape).
///
/// # Errors
/// [`Error::Shape`] when the channels do not chain or an input is too small.
pub(super) fn conv_bn_relu_stack_eval<E: DirectElem + Float>(blocks: &[(&Conv2d<E, Cpu>, &BatchNorm<E, Cpu>)], x: &Act<E, Cpu, NoneTape>) -> Result<Act<E, Cpu, NoneTape>> {
    let (b, mut h, mut w) = (x.b, x.h, x.w);
    let mut c = x.t.shape().1;
    let mut folded = Vec::with_capacity(blocks.len());
    for (conv, bn) in blocks {
        if c != conv.c_in {
            return Err(Error::Shape(format!("conv expects {} input channels, got {c}", conv.c_in)));
        }
        let (f, oh, ow) = fold(conv, bn, h, w)?;
        (h, w, c) = (oh, ow, conv.c_out);
        folded.push(f);
    }
    let xv = host(&x.t);
    let (per_in, per_out) = (xv.len() / b.max(1), h * w * c);
    let mut y: Vec<E> = Vec::with_capacity(b * per_out);
    y.spare_capacity_mut()[..b * per_out].par_chunks_mut(CHUNK_IMAGES * per_out).zip(xv.par_chunks(CHUNK_IMAGES * per_in)).for_each(|(dst, src)| {
        let out = run_chunk(&folded, src);
        assert_eq!(out.len(), dst.len(), "a chunk's output has its chunk's length");
        for (d, v) in dst.iter_mut().zip(out) {
            d.write(v);
        }
    });
    // SAFETY: each chunk of `y` received its chunk's output, which has exactly its length.
    unsafe { y.set_len(b * per_out) };
    let t = x.t.device().try_tensor_from_vec(y, (b * h * w, c)).map_err(dev_err)?;
    Ok(Act { t, b, h, w })
}
