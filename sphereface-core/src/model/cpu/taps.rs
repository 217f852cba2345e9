//! im2col on the in-image taps only, for layers whose zero border is a large part of the
//! work: `sphere20`'s last stages run 3×3 windows over 4×4 and 2×2 images, where 31 % and
//! 56 % of the plain im2col's multiply-adds are with the border's zeros.
//!
//! The output pixels are grouped into classes by the rectangle of kernel taps that falls
//! inside the image (a 'same' 3×3 layer has up to nine: the interior, four edges, four
//! corners). Per class, `cols_c` holds only those taps (row `(b, p)`: for each tap row ky,
//! the `nkx` neighbouring input pixels' channels side by side), and every GEMM takes the
//! matching rows of W, which for one ky lie together:
//!
//! ```text
//! forward:  y[class]  = b + Σ_ky cols_c[:, ky] · W[ky·k + kx0 .. ky·k + kx1]
//! backward: dW[ky·k + kx0 ..] += cols_c[:, ky]ᵀ · dy[class];   dcols_c[:, ky] = dy[class] · W[ky·k + kx0 ..]ᵀ
//!           dx += col2im(dcols_c) (in-image taps only)
//! ```
//! The sums are the plain im2col's without its zero terms, in another order (per tap row).

use dfdx::prelude::*;
use rayon::prelude::*;

use super::conv::{add_row_sums, ConvBackward};
use super::gemm::{matmul_view_acc, matmul_view_into, View};
use super::host;
use crate::model::layers::Conv2d;

/// The smallest fraction of the plain im2col's multiply-adds spent on the zero border for
/// which a layer takes this route (measured per layer: `tests/conv_layer_times.rs`,
/// docs/PERFORMANCE.md).
pub(super) const MIN_BORDER_WASTE: f64 = 0.25;

/// Output pixels (indices into `OH·OW`) whose in-image taps are rows `ky` and columns `kx`
/// of the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TapClass {
    pixels: Vec<usize>,
    ky: (usize, usize),
    kx: (usize, usize),
}

impl TapClass {
    fn taps(&self) -> usize {
        (self.ky.1 - self.ky.0) * (self.kx.1 - self.kx.0)
    }

    /// For a kernel of side `k` on `ci` input channels: a row's width in `cols_c`, and the
    /// GEMM pieces: one per tap row of `run` columns, or one for them all where the rows are
    /// whole (their rows of W then lie together). Piece j starts at column j·run of `cols_c`
    /// and at row [`Self::w_row`] of W.
    fn layout(&self, k: usize, ci: usize) -> (usize, usize, usize) {
        let (nky, nkx) = (self.ky.1 - self.ky.0, self.kx.1 - self.kx.0);
        let kc = nky * nkx * ci;
        let (pieces, run) = if nkx == k { (1.min(nky), kc) } else { (nky, nkx * ci) };
        (kc, pieces, run)
    }

    /// W's first row for GEMM piece `j`.
    fn w_row(&self, j: usize, k: usize, ci: usize) -> usize {
        ((self.ky.0 + j) * k + self.kx.0) * ci
    }

    /// The kernel offsets `ky·k + kx` of the in-image taps, in `cols_c`'s order.
    fn offsets(&self, k: usize) -> impl Iterator<Item = usize> + '_ {
        (self.ky.0..self.ky.1).flat_map(move |ky| (self.kx.0..self.kx.1).map(move |kx| ky * k + kx))
    }
}

/// The classes of a layer's output pixels from its patch indices (`idx`: `k·k` per pixel,
/// `pad` outside the image), in order of their first pixel; with the fraction of the
/// im2col's taps that lie outside the image.
pub(super) fn tap_classes(idx: &[usize], k: usize, pad: usize) -> (Vec<TapClass>, f64) {
    let kk = k * k;
    let mut classes: Vec<TapClass> = Vec::new();
    for (p, patch) in idx.chunks(kk).enumerate() {
        let inside = |ky: usize, kx: usize| patch[ky * k + kx] != pad;
        let row_in = |ky: &usize| (0..k).any(|kx| inside(*ky, kx));
        let col_in = |kx: &usize| (0..k).any(|ky| inside(ky, *kx));
        // A pixel with no tap in the image (a border wider than the kernel) has no terms:
        // it keeps only the bias. An empty rectangle stands for it.
        let (ky, kx) = match ((0..k).find(row_in), (0..k).rev().find(row_in), (0..k).find(col_in), (0..k).rev().find(col_in)) {
            (Some(y0), Some(y1), Some(x0), Some(x1)) => ((y0, y1 + 1), (x0, x1 + 1)),
            _ => ((0, 0), (0, 0)),
        };
        debug_assert!((ky.0..ky.1).all(|y| (kx.0..kx.1).all(|x| inside(y, x))), "in-image taps form a rectangle");
        match classes.iter_mut().find(|c| c.ky == ky && c.kx == kx) {
            Some(c) => c.pixels.push(p),
            None => classes.push(TapClass { pixels: vec![p], ky, kx }),
        }
    }
    let used: usize = classes.iter().map(|c| c.pixels.len() * c.taps()).sum();
    let all = idx.len().max(1);
    (classes, 1.0 - used as f64 / all as f64)
}

/// The convolution on this route: returns the output `[B·OH·OW, C_out]` and the backward
/// half (OH·OW = `np`, `idx` and `classes` as [`tap_classes`] gave them).
#[allow(clippy::too_many_arguments)]
pub(super) fn taps_parts<E: Dtype>(conv: &Conv2d<E, Cpu>, t: &Tensor<(usize, usize), E, Cpu>, b: usize, hw: usize, np: usize, idx: Vec<usize>, classes: Vec<TapClass>) -> (Vec<E>, ConvBackward<E>) {
    let (ci, co, k) = (conv.c_in, conv.c_out, conv.k);
    let kk = k * k;
    let xv = host(t); // [B·H·W·C_in]
    let wv = host(&conv.weight); // [k·k·C_in, C_out]
    let bias = conv.bias.as_ref().map(host);
    // Per class, the classes in parallel, each on one thread (their GEMMs are too small to
    // split well: measured 10–18 % faster for sphere20's 4×4 and 2×2 layers at batch 64,
    // docs/PERFORMANCE.md): cols_c and y_c.
    let per_class = |c: &TapClass| -> (Vec<E>, Vec<E>) {
        let ((kc, pieces, run), pc) = (c.layout(k, ci), c.pixels.len());
        let rows = b * pc;
        // cols_c: each row's taps, C_in values each.
        let mut cols: Vec<E> = Vec::with_capacity(rows * kc);
        if kc > 0 {
            for (img, src) in cols.spare_capacity_mut()[..rows * kc].chunks_mut(pc * kc).zip(xv.chunks(hw * ci)) {
                for (row, &p) in img.chunks_mut(kc).zip(&c.pixels) {
                    for (d, t) in row.chunks_mut(ci).zip(c.offsets(k)) {
                        let q = idx[p * kk + t];
                        for (d, s) in d.iter_mut().zip(&src[q * ci..(q + 1) * ci]) {
                            d.write(*s);
                        }
                    }
                }
            }
        }
        // SAFETY: every row's nky·nkx taps of C_in values were written above.
        unsafe { cols.set_len(rows * kc) };
        let mut yc: Vec<E> = match &bias {
            Some(bias) => bias.iter().copied().cycle().take(rows * co).collect(),
            None => vec![E::default(); rows * co],
        };
        for j in 0..pieces {
            let w0 = c.w_row(j, k, ci);
            let a = View { data: &cols, offset: j * run, rows, cols: run, rs: kc, cs: 1 };
            let w = View { data: &wv, offset: w0 * co, rows: run, cols: co, rs: co, cs: 1 };
            matmul_view_acc(&mut yc, 0, co, a, w, false);
        }
        (cols, yc)
    };
    let done: Vec<(Vec<E>, Vec<E>)> = classes.par_iter().map(per_class).collect();
    // Every output row is written once, by its pixel's class.
    let mut out: Vec<E> = Vec::with_capacity(b * np * co);
    let mut saved: Vec<Vec<E>> = Vec::with_capacity(classes.len());
    for (c, (cols, yc)) in classes.iter().zip(done) {
        let pc = c.pixels.len();
        out.spare_capacity_mut()[..b * np * co].par_chunks_mut(np * co).zip(yc.par_chunks(pc * co)).for_each(|(oimg, yimg)| {
            for (r, &p) in yimg.chunks(co).zip(&c.pixels) {
                for (d, v) in oimg[p * co..(p + 1) * co].iter_mut().zip(r) {
                    d.write(*v);
                }
            }
        });
        saved.push(cols);
    }
    // SAFETY: the classes hold every output pixel once, and each class wrote its pixels' rows
    // of every image above.
    unsafe { out.set_len(b * np * co) };
    drop(xv);

    let x_ghost = conv.input_grad.then(|| t.ghost());
    let w_ghost = conv.weight.ghost();
    let b_ghost = conv.bias.as_ref().map(|b| b.ghost());
    let backward = move |grads: &mut dfdx::tensor::Gradients<E, Cpu>, dy: &[E]| {
        // Per class: dy's rows gathered, then dW += cols_cᵀ · dy_c per tap row.
        let dw = grads.get_or_alloc_mut(&w_ghost)?;
        let mut dys: Vec<Vec<E>> = Vec::with_capacity(classes.len());
        for (c, cols) in classes.iter().zip(&saved) {
            let ((kc, pieces, run), pc) = (c.layout(k, ci), c.pixels.len());
            let rows = b * pc;
            let mut dyc: Vec<E> = Vec::with_capacity(rows * co);
            dyc.spare_capacity_mut()[..rows * co].par_chunks_mut(pc * co).zip(dy.par_chunks(np * co)).for_each(|(dimg, simg)| {
                for (d, &p) in dimg.chunks_mut(co).zip(&c.pixels) {
                    for (d, s) in d.iter_mut().zip(&simg[p * co..(p + 1) * co]) {
                        d.write(*s);
                    }
                }
            });
            // SAFETY: every row of dyc was written above.
            unsafe { dyc.set_len(rows * co) };
            for j in 0..pieces {
                let w0 = c.w_row(j, k, ci);
                let a = View { data: cols, offset: j * run, rows: run, cols: rows, rs: 1, cs: kc };
                let g = View { data: &dyc, offset: 0, rows, cols: co, rs: co, cs: 1 };
                matmul_view_acc(dw, w0 * co, co, a, g, true);
            }
            dys.push(dyc);
        }
        drop(saved);
        if let Some(bg) = &b_ghost {
            add_row_sums(grads.get_or_alloc_mut(bg)?, dy);
        }
        let Some(xg) = &x_ghost else { return Ok(()) };
        // Per class: dcols_c = dy_c · Wᵀ per tap row, then each run added to its pixels.
        let dx = grads.get_or_alloc_mut(xg)?;
        // Wᵀ [C_out, k·k·C_in], so that the GEMMs read each piece of it row by row (packing
        // a piece of W read across its rows cost more than the product).
        let kkc = kk * ci;
        let mut wt: Vec<E> = Vec::with_capacity(kkc * co);
        wt.spare_capacity_mut()[..kkc * co].par_chunks_mut(kkc).enumerate().for_each(|(o, row)| {
            for (i, d) in row.iter_mut().enumerate() {
                d.write(wv[i * co + o]);
            }
        });
        // SAFETY: every row of Wᵀ was written above.
        unsafe { wt.set_len(kkc * co) };
        for (c, dyc) in classes.iter().zip(&dys) {
            let ((kc, pieces, run), pc) = (c.layout(k, ci), c.pixels.len());
            let rows = b * pc;
            if kc == 0 {
                continue;
            }
            let mut dcols: Vec<E> = Vec::with_capacity(rows * kc);
            for j in 0..pieces {
                let w0 = c.w_row(j, k, ci);
                let g = View { data: dyc, offset: 0, rows, cols: co, rs: co, cs: 1 };
                let wt = View { data: &wt, offset: w0, rows: co, cols: run, rs: kkc, cs: 1 };
                matmul_view_into(&mut dcols.spare_capacity_mut()[..rows * kc], j * run, kc, g, wt, true);
            }
            // SAFETY: the GEMMs wrote every piece of every row.
            unsafe { dcols.set_len(rows * kc) };
            dx.par_chunks_mut(hw * ci).zip(dcols.par_chunks(pc * kc)).for_each(|(img, dimg)| {
                for (row, &p) in dimg.chunks(kc).zip(&c.pixels) {
                    for (s, t) in row.chunks(ci).zip(c.offsets(k)) {
                        let q = idx[p * kk + t];
                        for (d, s) in img[q * ci..(q + 1) * ci].iter_mut().zip(s) {
                            *d += *s;
                        }
                    }
                }
            });
        }
        Ok(())
    };
    (out, Box::new(backward))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::{patch_indices, Padding};

    #[test]
    fn classes_of_a_same_layer_on_small_images() {
        // 2×2 'same' 3×3: four corners, four taps each; 1 − 16/36 of the taps are border.
        let (idx, _, _, _) = patch_indices(2, 2, 3, 1, Padding::Same).unwrap();
        let (classes, waste) = tap_classes(&idx, 3, 4);
        assert_eq!(classes.len(), 4);
        assert!(classes.iter().all(|c| c.taps() == 4 && c.pixels.len() == 1));
        assert_eq!(classes[0], TapClass { pixels: vec![0], ky: (1, 3), kx: (1, 3) });
        assert_eq!(classes[3], TapClass { pixels: vec![3], ky: (0, 2), kx: (0, 2) });
        assert!((waste - 20.0 / 36.0).abs() < 1e-12);
        // 4×4: nine classes, the interior's four pixels with all nine taps.
        let (idx, _, _, _) = patch_indices(4, 4, 3, 1, Padding::Same).unwrap();
        let (classes, waste) = tap_classes(&idx, 3, 16);
        assert_eq!(classes.len(), 9);
        assert_eq!(classes.iter().map(|c| c.pixels.len()).sum::<usize>(), 16);
        assert_eq!(classes.iter().find(|c| c.taps() == 9).unwrap().pixels, vec![5, 6, 9, 10]);
        assert!((waste - 44.0 / 144.0).abs() < 1e-12);
        // 'valid': one class, no border.
        let (idx, _, _, _) = patch_indices(5, 5, 3, 1, Padding::Valid).unwrap();
        let (classes, waste) = tap_classes(&idx, 3, 25);
        assert_eq!((classes.len(), waste), (1, 0.0));
    }
}
