//! Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray, arXiv 1509.09308) for stride-1
//! 3×3 convolutions, in evaluation and (F(4×4, 3×3) only) in training: each m×m block of
//! outputs comes from an α×α input tile d (α = m + 2) as
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//! ```
//!
//! with F(2×2, 3×3) ([`F2`], the round-3 route's)
//!
//! ```text
//!      ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢ 1/2  1/2  1/2⎥    Aᵀ = ⎡1 1  1  0⎤
//!      ⎢0 −1  1  0⎥        ⎢ 1/2 −1/2  1/2⎥         ⎣0 1 −1 −1⎦
//!      ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! and F(4×4, 3×3) ([`F4`], the direct route's; points 0, ±1, ±2, ∞)
//!
//! ```text
//!      ⎡4  0 −5  0  1  0⎤        ⎡ 1/4    0     0  ⎤
//!      ⎢0 −4 −4  1  1  0⎥        ⎢−1/6  −1/6  −1/6 ⎥         ⎡1 1  1 1  1 0⎤
//! Bᵀ = ⎢0  4 −4 −1  1  0⎥    G = ⎢−1/6   1/6  −1/6 ⎥    Aᵀ = ⎢0 1 −1 2 −2 0⎥
//!      ⎢0 −2 −1  2  1  0⎥        ⎢ 1/24  1/12  1/6 ⎥         ⎢0 1  1 4  4 0⎥
//!      ⎢0  2 −1 −2  1  0⎥        ⎢ 1/24 −1/12  1/6 ⎥         ⎣0 1 −1 8 −8 1⎦
//!      ⎣0  4  0 −5  0  1⎦        ⎣ 0      0     1  ⎦
//! ```
//!
//! Summed over input channels, the α² element-wise products become α² GEMMs of
//! `[tiles, C_in] · [C_in, C_out]`: α²·C_in·C_out multiplications per m² outputs instead of
//! 9·m²·C_in·C_out, 2.25× fewer with F2 and 4× fewer with F4. F2's transforms hold only ±1
//! and ½, so in f32 it is about as close to the direct convolution as the direct one; F4's
//! larger coefficients make its f32 error about seven times F2's (the tests bound both).
//!
//! Training ([`Winograd::for_training`], [`Winograd::forward`], [`Winograd::backward_input`],
//! [`Winograd::add_filter_grad`])
//! keeps V for the backward pass, which is the exact gradient of the forward's arithmetic:
//! the same transforms transposed (dM = A dY Aᵀ, dV = dM·Uᵀ, dd = B dV Bᵀ, and for the
//! filters dU = Σ Vᵀ·dM over the batch, dg = Gᵀ dU G), so 4× fewer multiplications in dX
//! and dW too. Tasks are fixed chunks of images and dU is one GEMM per tile position over
//! the whole batch, so the values do not depend on the thread count.

use dfdx::prelude::*;
use num_traits::Float;

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::direct::SendPtr;
use super::gemm::{matmul_rows, matmul_view_acc, View};
use crate::model::layers::{window_geometry, Padding};
use crate::Result;

/// The matrices of one F(m×m, 3×3): Bᵀ (α×α), G (α×3), Aᵀ (m×α).
pub(super) struct Tiling {
    m: usize,
    bt: &'static [&'static [f64]],
    g: &'static [[f64; 3]],
    at: &'static [&'static [f64]],
}

/// F(2×2, 3×3).
pub(super) const F2: Tiling = Tiling {
    m: 2,
    bt: &[&[1.0, 0.0, -1.0, 0.0], &[0.0, 1.0, 1.0, 0.0], &[0.0, -1.0, 1.0, 0.0], &[0.0, 1.0, 0.0, -1.0]],
    g: &[[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]],
    at: &[&[1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, -1.0, -1.0]],
};

/// F(4×4, 3×3).
pub(super) const F4: Tiling = Tiling {
    m: 4,
    bt: &[
        &[4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
        &[0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
        &[0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
        &[0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        &[0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
        &[0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
    ],
    g: &[[0.25, 0.0, 0.0], [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0], [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0], [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0], [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0], [0.0, 0.0, 1.0]],
    at: &[&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, -1.0, 2.0, -2.0, 0.0], &[0.0, 1.0, 1.0, 4.0, 4.0, 0.0], &[0.0, 1.0, -1.0, 8.0, -8.0, 1.0]],
};

/// The largest α of the tilings.
const MAX_ALPHA: usize = 6;

/// A stride-1 3×3 convolution on `h × w` inputs with its filters transformed (`U = G g Gᵀ`).
pub(super) struct Winograd<E> {
    /// Outputs per tile side, m, and input pixels per tile side, α = m + 2.
    m: usize,
    alpha: usize,
    /// Bᵀ and Aᵀ in `E`, the nonzero terms of each row; and for the gradients (the
    /// transposes, [`Winograd::for_training`]): A (α×m), B (α×α) and Gᵀ (3×α).
    bt: Terms<E>,
    at: Terms<E>,
    a: Terms<E>,
    b: Terms<E>,
    gt: Terms<E>,
    /// `U[ξ][c_in][c_out]` for the α² tile positions ξ = α·row + column.
    u: Vec<E>,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    /// Leading padding (rows, columns).
    pt: usize,
    pl: usize,
    /// Tiles per image: rows and columns.
    th: usize,
    tw: usize,
}

/// The nonzero terms of the rows of a `rows × cols` matrix given by `at(i, j)`.
fn terms<E: Dtype + Float>(rows: usize, cols: usize, at: impl Fn(usize, usize) -> f64) -> Terms<E> {
    let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
    (0..rows).map(|i| (0..cols).filter(|&j| at(i, j) != 0.0).map(|j| (j, to(at(i, j)))).collect()).collect()
}

impl<E: Dtype + Float> Winograd<E> {
    /// From filters `w` laid out as the im2col GEMM's `[(ky·3 + kx)·C_in + c_in, C_out]`, for
    /// the tiling `f` ([`F2`] or [`F4`]); U summed in f64 (the evaluation route's).
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when a 'valid' window does not fit the input.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(f: &Tiling, w: &[E], c_in: usize, c_out: usize, h: usize, wd: usize, padding: Padding) -> Result<Self> {
        let mut wg = Self::shell(f, w, c_in, c_out, h, wd, padding)?;
        let alpha = wg.alpha;
        let to = |v: f64| E::from_f64(v).unwrap_or_else(E::nan);
        let from = |v: E| v.to_f64().unwrap_or(f64::NAN);
        let mut u = vec![E::default(); alpha * alpha * c_in * c_out];
        for ci in 0..c_in {
            for co in 0..c_out {
                let g = |ky: usize, kx: usize| from(w[((ky * 3 + kx) * c_in + ci) * c_out + co]);
                for (a, ga) in f.g.iter().enumerate() {
                    for (b, gb) in f.g.iter().enumerate() {
                        let mut s = 0.0;
                        for (ky, gay) in ga.iter().enumerate() {
                            for (kx, gbx) in gb.iter().enumerate() {
                                s += gay * g(ky, kx) * gbx;
                            }
                        }
                        u[((a * alpha + b) * c_in + ci) * c_out + co] = to(s);
                    }
                }
            }
        }
        wg.u = u;
        Ok(wg)
    }

    /// As [`Winograd::new`] for a training step: U = G g Gᵀ in `E`, in parallel over the
    /// channel pairs (the filters change every step).
    ///
    /// # Errors
    /// As [`Winograd::new`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn for_training(f: &Tiling, w: &[E], c_in: usize, c_out: usize, h: usize, wd: usize, padding: Padding) -> Result<Self> {
        let mut wg = Self::shell(f, w, c_in, c_out, h, wd, padding)?;
        let ch = c_in * c_out;
        let g = terms::<E>(wg.alpha, 3, |i, j| f.g[i][j]);
        let cells: Vec<&[E]> = w.chunks_exact(ch).collect();
        let mut u = vec![E::default(); wg.alpha * wg.alpha * ch];
        par_sandwich(&g, &cells, ch, SendPtr(u.as_mut_ptr()), false);
        wg.u = u;
        Ok(wg)
    }

    /// Everything but U.
    #[allow(clippy::too_many_arguments)]
    fn shell(f: &Tiling, w: &[E], c_in: usize, c_out: usize, h: usize, wd: usize, padding: Padding) -> Result<Self> {
        assert_eq!(w.len(), 9 * c_in * c_out, "3×3 filters");
        let (oh, pt) = window_geometry(h, 3, 1, padding)?;
        let (ow, pl) = window_geometry(wd, 3, 1, padding)?;
        let (m, alpha) = (f.m, f.m + 2);
        Ok(Winograd {
            m,
            alpha,
            bt: terms(alpha, alpha, |i, j| f.bt[i][j]),
            at: terms(m, alpha, |i, j| f.at[i][j]),
            a: terms(alpha, m, |i, j| f.at[j][i]),
            b: terms(alpha, alpha, |i, j| f.bt[j][i]),
            gt: terms(3, alpha, |i, j| f.g[j][i]),
            u: Vec::new(),
            c_in,
            c_out,
            h,
            w: wd,
            oh,
            ow,
            pt,
            pl,
            th: oh.div_ceil(m),
            tw: ow.div_ceil(m),
        })
    }
}

impl<E: Dtype> Winograd<E> {
    /// `max(0, conv(x) + bias)` for images `x` `[n, H·W·C_in]` (NHWC), on the calling thread:
    /// `[n·OH·OW, C_out]`.
    pub(super) fn forward_relu(&self, x: &[E], bias: &[E]) -> Vec<E> {
        assert_eq!(bias.len(), self.c_out, "one bias per output channel");
        let n = self.images(x);
        let tiles = n * self.th * self.tw;
        if tiles == 0 {
            return Vec::new();
        }
        let mut v = vec![E::default(); tiles * self.alpha * self.alpha * self.c_in];
        self.transform_input(x, &mut v);
        let mm = self.multiply(&v, tiles);
        let len = n * self.oh * self.ow * self.c_out;
        let mut out = Vec::with_capacity(len);
        self.transform_output(&mm, Some(bias), true, &mut out.spare_capacity_mut()[..len]);
        // SAFETY: transform_output wrote every output element.
        unsafe { out.set_len(len) };
        out
    }

    /// The output's height and width.
    pub(super) fn out_size(&self) -> (usize, usize) {
        (self.oh, self.ow)
    }

    /// Images in `x` (`[n, H·W·C_in]`).
    fn images(&self, x: &[E]) -> usize {
        let per = self.h * self.w * self.c_in;
        let n = x.len() / per;
        assert_eq!(x.len(), n * per, "whole images");
        n
    }

    /// Images per task of the training route: about 64 tiles (the GEMMs' columns), at least
    /// four tasks; fixed by the shape and the batch, not the thread count, so that the
    /// values do not depend on it.
    fn task_images(&self, n: usize) -> usize {
        (64 / (self.th * self.tw).max(1)).clamp(1, n.div_ceil(4).max(1))
    }

    /// `V[tile][ξ][c_in] = Bᵀ d B` for the tiles of images `x`: the α² transformed rows of a
    /// tile lie together. Writes every element of `v`.
    fn transform_input(&self, x: &[E], v: &mut [E]) {
        let (ci, m, al) = (self.c_in, self.m, self.alpha);
        let aa = al * al;
        let zeros = vec![E::default(); ci];
        let mut scratch = vec![E::default(); aa * ci];
        let mut d: Vec<&[E]> = Vec::with_capacity(aa);
        for (t, vt) in v.chunks_exact_mut(aa * ci).enumerate() {
            let (img, ty, tx) = (t / (self.th * self.tw), t / self.tw % self.th, t % self.tw);
            let image = &x[img * self.h * self.w * ci..(img + 1) * self.h * self.w * ci];
            d.clear();
            for r in 0..al {
                for c in 0..al {
                    let (y, xx) = ((m * ty + r) as isize - self.pt as isize, (m * tx + c) as isize - self.pl as isize);
                    d.push(if y < 0 || xx < 0 || y >= self.h as isize || xx >= self.w as isize {
                        &zeros
                    } else {
                        let p = y as usize * self.w + xx as usize;
                        &image[p * ci..(p + 1) * ci]
                    });
                }
            }
            sandwich(&self.bt, &d, &mut scratch, vt, ci);
        }
    }

    /// `M[tile][ξ][c_out] = V[·][ξ][·] · U[ξ]` on the calling thread.
    fn multiply(&self, v: &[E], tiles: usize) -> Vec<E> {
        let (ci, co, aa) = (self.c_in, self.c_out, self.alpha * self.alpha);
        let mut mm = vec![E::default(); tiles * aa * co];
        for xi in 0..aa {
            matmul_rows(&mut mm[xi * co..], aa * co, &v[xi * ci..], aa * ci, tiles, ci, &self.u[xi * ci * co..(xi + 1) * ci * co], co);
        }
        mm
    }

    /// The outputs `Y = Aᵀ M A` of the tiles of `mm` (whole images), plus `bias`, through a
    /// ReLU if `relu`, into `out` (`[n·OH·OW, C_out]`, every element written).
    fn transform_output(&self, mm: &[E], bias: Option<&[E]>, relu: bool, out: &mut [MaybeUninit<E>]) {
        let (co, m, al) = (self.c_out, self.m, self.alpha);
        let aa = al * al;
        let mut scratch = vec![E::default(); m * al * co];
        let mut y = vec![E::default(); m * m * co];
        for (t, mt) in mm.chunks_exact(aa * co).enumerate() {
            let (img, ty, tx) = (t / (self.th * self.tw), t / self.tw % self.th, t % self.tw);
            let mut parts = mt.chunks_exact(co);
            let grid: [&[E]; MAX_ALPHA * MAX_ALPHA] = std::array::from_fn(|_| parts.next().unwrap_or(&[]));
            sandwich(&self.at, &grid[..aa], &mut scratch, &mut y, co);
            for (q, yq) in y.chunks_exact(co).enumerate() {
                let (oy, ox) = (m * ty + q / m, m * tx + q % m);
                if oy < self.oh && ox < self.ow {
                    let p = (img * self.oh + oy) * self.ow + ox;
                    let o = &mut out[p * co..(p + 1) * co];
                    match bias {
                        Some(bias) => {
                            for ((o, &s), &b) in o.iter_mut().zip(yq).zip(bias) {
                                let s = s + b;
                                o.write(if !relu || s > E::default() { s } else { E::default() });
                            }
                        }
                        None => {
                            for (o, &s) in o.iter_mut().zip(yq) {
                                o.write(if !relu || s > E::default() { s } else { E::default() });
                            }
                        }
                    }
                }
            }
        }
    }

    /// The training forward pass `conv(x) (+ bias)` of images `x` `[n, H·W·C_in]`, in
    /// parallel over chunks of images: the outputs `[n·OH·OW, C_out]` and the transformed
    /// input V, which [`Winograd::backward`] reads.
    pub(super) fn forward(&self, x: &[E], bias: Option<&[E]>) -> (Vec<E>, Vec<E>) {
        let (ci, co, aa) = (self.c_in, self.c_out, self.alpha * self.alpha);
        let n = self.images(x);
        let (tpi, imgs) = (self.th * self.tw, self.task_images(n));
        let mut v = vec![E::default(); n * tpi * aa * ci];
        let len = n * self.oh * self.ow * co;
        let mut out = Vec::with_capacity(len);
        v.par_chunks_mut(imgs * tpi * aa * ci).zip(out.spare_capacity_mut()[..len].par_chunks_mut(imgs * self.oh * self.ow * co)).zip(x.par_chunks(imgs * self.h * self.w * ci)).for_each(|((vc, oc), xc)| {
            self.transform_input(xc, vc);
            let mm = self.multiply(vc, vc.len() / (aa * ci));
            self.transform_output(&mm, bias, false, oc);
        });
        // SAFETY: each task's transform_output wrote every element of its chunk.
        unsafe { out.set_len(len) };
        (out, v)
    }

    /// The backward pass of [`Winograd::forward`] (its exact gradient: the transposed
    /// transforms), given V and the outputs' gradient `dy`: if given, `dx` `[n, H·W·C_in]`
    /// += the input's gradient; returns dM, from which [`Winograd::add_filter_grad`] adds
    /// the filters'.
    ///
    /// ```text
    /// dM = A dY Aᵀ,   dV[ξ] = dM[ξ] U[ξ]ᵀ,   dd = B dV Bᵀ (tiles overlap: added)
    /// ```
    pub(super) fn backward_input(&self, v: &[E], dy: &[E], dx: Option<&mut [E]>) -> Vec<E> {
        let (ci, co, m, al) = (self.c_in, self.c_out, self.m, self.alpha);
        let aa = al * al;
        let tpi = self.th * self.tw;
        let n = v.len() / (tpi * aa * ci);
        assert_eq!(dy.len(), n * self.oh * self.ow * co, "one gradient per output");
        let imgs = self.task_images(n);
        let mut dm = vec![E::default(); n * tpi * aa * co];
        // dM per chunk of images, and there dx.
        let dm_task = |dmc: &mut [E], dyc: &[E], dxc: Option<&mut [E]>| {
            let zeros = vec![E::default(); co];
            let mut scratch = vec![E::default(); al * m * co];
            let mut cells: Vec<&[E]> = Vec::with_capacity(m * m);
            for (t, dmt) in dmc.chunks_exact_mut(aa * co).enumerate() {
                let (img, ty, tx) = (t / tpi, t / self.tw % self.th, t % self.tw);
                cells.clear();
                for q in 0..m * m {
                    let (oy, ox) = (m * ty + q / m, m * tx + q % m);
                    cells.push(if oy < self.oh && ox < self.ow {
                        let p = (img * self.oh + oy) * self.ow + ox;
                        &dyc[p * co..(p + 1) * co]
                    } else {
                        &zeros
                    });
                }
                sandwich(&self.a, &cells, &mut scratch, dmt, co);
            }
            let Some(dxc) = dxc else { return };
            let tiles = dmc.len() / (aa * co);
            let mut dv = vec![E::default(); tiles * aa * ci];
            for xi in 0..aa {
                let a = View { data: dmc, offset: xi * co, rows: tiles, cols: co, rs: aa * co, cs: 1 };
                let b = View { data: &self.u, offset: xi * ci * co, rows: co, cols: ci, rs: 1, cs: co };
                matmul_view_acc(&mut dv, xi * ci, aa * ci, a, b, false);
            }
            // dd = B dV Bᵀ per tile, added into the image's padded gradient, whose interior
            // is the input's.
            let (hp, wp) = (m * self.th + 2, m * self.tw + 2);
            let mut dxp = vec![E::default(); hp * wp * ci];
            let mut mid = vec![E::default(); aa * ci];
            let mut dd = vec![E::default(); aa * ci];
            for (i, dimg) in dxc.chunks_exact_mut(self.h * self.w * ci).enumerate() {
                dxp.iter_mut().for_each(|v| *v = E::default());
                for tt in 0..tpi {
                    let (ty, tx) = (tt / self.tw, tt % self.tw);
                    let dvt = &dv[(i * tpi + tt) * aa * ci..][..aa * ci];
                    let mut parts = dvt.chunks_exact(ci);
                    let grid: [&[E]; MAX_ALPHA * MAX_ALPHA] = std::array::from_fn(|_| parts.next().unwrap_or(&[]));
                    sandwich(&self.b, &grid[..aa], &mut mid, &mut dd, ci);
                    for (r, row) in dd.chunks_exact(al * ci).enumerate() {
                        let start = ((m * ty + r) * wp + m * tx) * ci;
                        for (d, s) in dxp[start..start + al * ci].iter_mut().zip(row) {
                            *d += *s;
                        }
                    }
                }
                for iy in 0..self.h {
                    let start = ((iy + self.pt) * wp + self.pl) * ci;
                    for (d, s) in dimg[iy * self.w * ci..(iy + 1) * self.w * ci].iter_mut().zip(&dxp[start..start + self.w * ci]) {
                        *d += *s;
                    }
                }
            }
        };
        let (dm_chunk, dy_chunk) = (imgs * tpi * aa * co, imgs * self.oh * self.ow * co);
        match dx {
            Some(dx) => dm.par_chunks_mut(dm_chunk).zip(dy.par_chunks(dy_chunk)).zip(dx.par_chunks_mut(imgs * self.h * self.w * ci)).for_each(|((dmc, dyc), dxc)| dm_task(dmc, dyc, Some(dxc))),
            None => dm.par_chunks_mut(dm_chunk).zip(dy.par_chunks(dy_chunk)).for_each(|(dmc, dyc)| dm_task(dmc, dyc, None)),
        }
        dm
    }

    /// `dw` `[9·C_in, C_out]` += the filters' gradient from V and the dM of
    /// [`Winograd::backward_input`]:
    ///
    /// ```text
    /// dU[ξ] = Σ_tiles V[ξ]ᵀ dM[ξ],   dg = Gᵀ dU G
    /// ```
    pub(super) fn add_filter_grad(&self, v: &[E], dm: &[E], dw: &mut [E]) {
        let (ci, co, aa) = (self.c_in, self.c_out, self.alpha * self.alpha);
        assert_eq!(dw.len(), 9 * ci * co, "3×3 filters");
        let tiles = v.len() / (aa * ci);
        assert_eq!(dm.len(), tiles * aa * co, "one dM row per tile position");
        // dU[ξ] over every tile of the batch: one GEMM per position, the positions spread
        // over the threads.
        let ch = ci * co;
        let mut du = vec![E::default(); aa * ch];
        du.par_chunks_mut(ch).enumerate().for_each(|(xi, d)| {
            let a = View { data: v, offset: xi * ci, rows: ci, cols: tiles, rs: 1, cs: aa * ci };
            let b = View { data: dm, offset: xi * co, rows: tiles, cols: co, rs: aa * co, cs: 1 };
            matmul_view_acc(d, 0, co, a, b, false);
        });
        let cells: Vec<&[E]> = du.chunks_exact(ch).collect();
        par_sandwich(&self.gt, &cells, ch, SendPtr(dw.as_mut_ptr()), true);
    }
}

/// [`sandwich`] of grids whose cells hold `ch` values each, in parallel over pieces of the
/// cells: `out` (rows² cells of `ch`, T's rows) receives the result, or (`add`) has it added.
fn par_sandwich<E: Dtype>(t: &Terms<E>, cells: &[&[E]], ch: usize, out: SendPtr<E>, add: bool) {
    const PIECE: usize = 2048;
    let (rows, al) = (t.len(), cells.len().isqrt());
    let starts: Vec<usize> = (0..ch).step_by(PIECE).collect();
    starts.par_iter().for_each(|&c0| {
        let len = PIECE.min(ch - c0);
        let part: Vec<&[E]> = cells.iter().map(|c| &c[c0..c0 + len]).collect();
        let mut mid = vec![E::default(); rows * al * len];
        let mut res = vec![E::default(); rows * rows * len];
        sandwich(t, &part, &mut mid, &mut res, len);
        for (q, r) in res.chunks_exact(len).enumerate() {
            // SAFETY: values c0 .. c0 + len of cell q: no other piece touches them; `out`
            // holds rows² cells of `ch`.
            let dst = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(q * ch + c0), len) };
            if add {
                dst.iter_mut().zip(r).for_each(|(d, s)| *d += *s);
            } else {
                dst.copy_from_slice(r);
            }
        }
    });
}

/// `out = T x Tᵀ` for an α×α grid `x` of `ch` values per cell (row by row) and a transform
/// T of `t.len()` rows × α: first `mid = T x` (`mid[i][c]` from column c of x), then `out =
/// mid Tᵀ` (row i of out from row i of mid), each cell one [`combine`].
fn sandwich<E: Dtype>(t: &Terms<E>, x: &[&[E]], mid: &mut [E], out: &mut [E], ch: usize) {
    let (rows, al) = (t.len(), x.len().isqrt());
    for c in 0..al {
        let col: [&[E]; MAX_ALPHA] = std::array::from_fn(|r| if r < al { x[r * al + c] } else { &[] });
        for (i, ti) in t.iter().enumerate() {
            combine(&mut mid[(i * al + c) * ch..][..ch], ti, &col[..al]);
        }
    }
    for i in 0..rows {
        let mut parts = mid[i * al * ch..][..al * ch].chunks_exact(ch);
        let row: [&[E]; MAX_ALPHA] = std::array::from_fn(|_| parts.next().unwrap_or(&[]));
        for (j, tj) in t.iter().enumerate() {
            combine(&mut out[(i * rows + j) * ch..][..ch], tj, &row[..al]);
        }
    }
}

/// The nonzero terms `(j, c_j)` of each row of a transform matrix, in order of j.
type Terms<E> = Vec<Vec<(usize, E)>>;

/// `y = Σ_j c_j·x_j` over a row's nonzero `terms`, value by value in one pass (the sum in
/// the order of the terms, the first product starting it; ±1 multiplies exactly, so F2's
/// values are those of its sums and differences).
fn combine<E: Dtype>(y: &mut [E], terms: &[(usize, E)], x: &[&[E]]) {
    match terms.len() {
        1 => combine_n::<E, 1>(y, terms, x),
        2 => combine_n::<E, 2>(y, terms, x),
        3 => combine_n::<E, 3>(y, terms, x),
        4 => combine_n::<E, 4>(y, terms, x),
        5 => combine_n::<E, 5>(y, terms, x),
        6 => combine_n::<E, 6>(y, terms, x),
        n => unreachable!("a transform row with {n} nonzero terms"),
    }
}

#[inline(always)]
fn combine_n<E: Dtype, const N: usize>(y: &mut [E], terms: &[(usize, E)], x: &[&[E]]) {
    let n = y.len();
    let c: [E; N] = std::array::from_fn(|k| terms[k].1);
    let xs: [&[E]; N] = std::array::from_fn(|k| &x[terms[k].0][..n]);
    for (i, y) in y.iter_mut().enumerate() {
        let mut s = c[0] * xs[0][i];
        for k in 1..N {
            s += c[k] * xs[k][i];
        }
        *y = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::patch_indices;

    /// The direct convolution in f64 from the im2col indices: `[n·OH·OW, C_out]`, with ReLU.
    #[allow(clippy::too_many_arguments)]
    fn direct(x: &[f64], w: &[f64], bias: &[f64], n: usize, h: usize, wd: usize, ci: usize, padding: Padding) -> Vec<f64> {
        let (idx, oh, ow, _) = patch_indices(h, wd, 3, 1, padding).unwrap();
        let co = bias.len();
        let mut out = Vec::new();
        for img in 0..n {
            for patch in idx.chunks(9).take(oh * ow) {
                for o in 0..co {
                    let mut s = bias[o];
                    for (j, &p) in patch.iter().enumerate() {
                        if p != h * wd {
                            for c in 0..ci {
                                s += x[(img * h * wd + p) * ci + c] * w[(j * ci + c) * co + o];
                            }
                        }
                    }
                    out.push(s.max(0.0));
                }
            }
        }
        out
    }

    fn uniform(n: usize, seed: u64) -> Vec<f64> {
        use rand::{Rng as _, SeedableRng};
        let mut rng = crate::Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// Both tilings, both paddings, output sizes that are and are not whole tiles (the last
    /// tile partly outside), one channel and several: Winograd in f64 equals the direct sum
    /// to rounding, and in f32 it stays within a bound of it (relative to the largest output
    /// and √C_in): 5e-7 for F2, 4e-6 for F4, whose error is about seven times F2's. The
    /// worst f32 error of each must also exceed a tenth of its bound, so that a bound far
    /// too loose shows.
    #[test]
    fn winograd_matches_the_direct_convolution() {
        for (tiling, name, bound32) in [(&F2, "F2", 5e-7), (&F4, "F4", 4e-6)] {
            let mut worst32 = 0.0f64;
            for (n, h, wd, ci, co, padding) in [(2, 14, 14, 64, 16, Padding::Valid), (3, 7, 9, 5, 3, Padding::Same), (1, 5, 4, 1, 2, Padding::Valid), (2, 6, 6, 3, 4, Padding::Same), (2, 9, 11, 16, 8, Padding::Same)] {
                let x = uniform(n * h * wd * ci, 1);
                let w = uniform(9 * ci * co, 2);
                let bias = uniform(co, 3);
                let want = direct(&x, &w, &bias, n, h, wd, ci, padding);
                let wg = Winograd::new(tiling, &w, ci, co, h, wd, padding).unwrap();
                let got = wg.forward_relu(&x, &bias);
                assert!(wg.forward_relu(&[], &bias).is_empty(), "no images, no outputs");
                assert_eq!(got.len(), want.len());
                assert!(want.iter().filter(|v| **v > 0.0).count() > want.len() / 4, "the ReLU leaves values to compare");
                let scale = want.iter().fold(1.0f64, |a, v| a.max(v.abs()));
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() <= 1e-13 * scale, "{name} f64: {g} vs {e} ({n}×{h}×{wd}×{ci}→{co}, {padding:?})");
                }
                let to32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
                let got32 = Winograd::new(tiling, &to32(&w), ci, co, h, wd, padding).unwrap().forward_relu(&to32(&x), &to32(&bias));
                let limit = bound32 * scale * (ci as f64).sqrt();
                for (g, e) in got32.iter().zip(&want) {
                    let err = (*g as f64 - e).abs();
                    assert!(err <= limit, "{name} f32: {g} vs {e} ({n}×{h}×{wd}×{ci}→{co}, {padding:?})");
                    worst32 = worst32.max(err / limit);
                }
            }
            assert!(worst32 > 0.1, "{name}: the f32 error reaches only {worst32:.3} of its bound");
        }
    }
}
