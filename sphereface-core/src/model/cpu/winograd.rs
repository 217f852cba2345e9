//! Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, arXiv 1509.09308) for the
//! stride-1 3×3 convolutions of the evaluation route: each 2×2 block of outputs comes from a
//! 4×4 input tile d as
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//!
//!      ⎡1  0 −1  0⎤        ⎡ 1    0    0 ⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢ 1/2  1/2  1/2⎥    Aᵀ = ⎡1 1  1  0⎤
//!      ⎢0 −1  1  0⎥        ⎢ 1/2 −1/2  1/2⎥         ⎣0 1 −1 −1⎦
//!      ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
//! ```
//!
//! Summed over input channels, the 16 element-wise products become 16 GEMMs of
//! `[tiles, C_in] · [C_in, C_out]`: 16·C_in·C_out multiplications per four outputs instead
//! of 36·C_in·C_out, 2.25× fewer. The transforms hold only ±1 and ½, so in f64 the result
//! agrees with the direct convolution to rounding; in f32 it is about as close as the direct
//! one (the tests bound both).

use dfdx::prelude::*;
use num_traits::Float;

use super::gemm::matmul_rows;
use crate::model::layers::{window_geometry, Padding};
use crate::Result;

/// A stride-1 3×3 convolution on `h × w` inputs with its filters transformed (`U = G g Gᵀ`).
pub(super) struct Winograd<E> {
    /// `U[ξ][c_in][c_out]` for the 16 tile positions ξ = 4·row + column.
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
}

impl<E: Dtype + Float> Winograd<E> {
    /// From filters `w` laid out as the im2col GEMM's `[(ky·3 + kx)·C_in + c_in, C_out]`.
    ///
    /// # Errors
    /// [`crate::Error::Shape`] when a 'valid' window does not fit the input.
    pub(super) fn new(w: &[E], c_in: usize, c_out: usize, h: usize, wd: usize, padding: Padding) -> Result<Self> {
        assert_eq!(w.len(), 9 * c_in * c_out, "3×3 filters");
        let (oh, pt) = window_geometry(h, 3, 1, padding)?;
        let (ow, pl) = window_geometry(wd, 3, 1, padding)?;
        const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
        let f = |v: E| v.to_f64().unwrap_or(f64::NAN);
        let mut u = vec![E::default(); 16 * c_in * c_out];
        for ci in 0..c_in {
            for co in 0..c_out {
                let g = |ky: usize, kx: usize| f(w[((ky * 3 + kx) * c_in + ci) * c_out + co]);
                for (a, ga) in G.iter().enumerate() {
                    for (b, gb) in G.iter().enumerate() {
                        let mut s = 0.0;
                        for (ky, gay) in ga.iter().enumerate() {
                            for (kx, gbx) in gb.iter().enumerate() {
                                s += gay * g(ky, kx) * gbx;
                            }
                        }
                        u[((a * 4 + b) * c_in + ci) * c_out + co] = E::from_f64(s).unwrap_or_else(E::nan);
                    }
                }
            }
        }
        Ok(Winograd { u, c_in, c_out, h, w: wd, oh, ow, pt, pl })
    }
}

impl<E: Dtype> Winograd<E> {
    /// `max(0, conv(x) + bias)` for images `x` `[n, H·W·C_in]` (NHWC), on the calling thread:
    /// `[n·OH·OW, C_out]`.
    pub(super) fn forward_relu(&self, x: &[E], bias: &[E]) -> Vec<E> {
        let (ci, co) = (self.c_in, self.c_out);
        let n = x.len() / (self.h * self.w * ci);
        assert_eq!(x.len(), n * self.h * self.w * ci, "whole images");
        assert_eq!(bias.len(), co, "one bias per output channel");
        let (th, tw) = (self.oh.div_ceil(2), self.ow.div_ceil(2));
        let tiles = n * th * tw;
        if tiles == 0 {
            return Vec::new();
        }
        // V[tile][ξ][c_in]: the 16 transformed rows of a tile lie together.
        let mut v = vec![E::default(); tiles * 16 * ci];
        let zeros = vec![E::default(); ci];
        let mut scratch = vec![E::default(); 16 * ci.max(co)];
        for (t, vt) in v.chunks_exact_mut(16 * ci).enumerate() {
            let (img, ty, tx) = (t / (th * tw), t / tw % th, t % tw);
            let image = &x[img * self.h * self.w * ci..(img + 1) * self.h * self.w * ci];
            let pixel = |r: usize, c: usize| -> &[E] {
                let (y, xx) = ((2 * ty + r) as isize - self.pt as isize, (2 * tx + c) as isize - self.pl as isize);
                if y < 0 || xx < 0 || y >= self.h as isize || xx >= self.w as isize {
                    &zeros
                } else {
                    let p = y as usize * self.w + xx as usize;
                    &image[p * ci..(p + 1) * ci]
                }
            };
            let d: [[&[E]; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|c| pixel(r, c)));
            input_tile(&d, vt, &mut scratch[..16 * ci], ci);
        }
        // M[tile][ξ][c_out] = V[·][ξ][·] · U[ξ]
        let mut m = vec![E::default(); tiles * 16 * co];
        for xi in 0..16 {
            matmul_rows(&mut m[xi * co..], 16 * co, &v[xi * ci..], 16 * ci, tiles, ci, &self.u[xi * ci * co..(xi + 1) * ci * co], co);
        }
        let mut out = vec![E::default(); n * self.oh * self.ow * co];
        let mut y = vec![E::default(); 4 * co];
        for (t, mt) in m.chunks_exact(16 * co).enumerate() {
            let (img, ty, tx) = (t / (th * tw), t / tw % th, t % tw);
            output_tile(mt, &mut y, &mut scratch[..8 * co], co);
            for (q, yq) in y.chunks_exact(co).enumerate() {
                let (oy, ox) = (2 * ty + q / 2, 2 * tx + q % 2);
                if oy < self.oh && ox < self.ow {
                    let p = (img * self.oh + oy) * self.ow + ox;
                    for ((o, &s), &b) in out[p * co..(p + 1) * co].iter_mut().zip(yq).zip(bias) {
                        let s = s + b;
                        *o = if s > E::default() { s } else { E::default() };
                    }
                }
            }
        }
        out
    }
}

/// `Bᵀ d B` for every channel of one tile: `d[r][c]` holds the C_in values of tile pixel
/// (r, c); `vt` receives the 16 transformed rows `[ξ][c_in]`; `t` is scratch of the same
/// size. Written as whole-row sums and differences, which the compiler vectorises.
fn input_tile<E: Dtype>(d: &[[&[E]; 4]; 4], vt: &mut [E], t: &mut [E], ci: usize) {
    // t = Bᵀ d: row r of t from the rows of d, column by column.
    for k in 0..4 {
        let mut rows = t.chunks_exact_mut(ci).skip(k).step_by(4);
        let t4: [&mut [E]; 4] = std::array::from_fn(|_| rows.next().expect("4 rows"));
        bt(t4, d.map(|row| row[k]));
    }
    // v = t B: the same combination along each row of t.
    for (v4, t4) in vt.chunks_exact_mut(4 * ci).zip(t.chunks_exact(4 * ci)) {
        let mut out = v4.chunks_exact_mut(ci);
        let mut inp = t4.chunks_exact(ci);
        bt(std::array::from_fn(|_| out.next().expect("4 rows")), std::array::from_fn(|_| inp.next().expect("4 rows")));
    }
}

/// `y = Bᵀ x` for four rows of values: y₀ = x₀ − x₂, y₁ = x₁ + x₂, y₂ = x₂ − x₁, y₃ = x₁ − x₃.
fn bt<E: Dtype>(y: [&mut [E]; 4], x: [&[E]; 4]) {
    let [y0, y1, y2, y3] = y;
    let [x0, x1, x2, x3] = x;
    for (o, (a, b)) in y0.iter_mut().zip(x0.iter().zip(x2)) {
        *o = *a - *b;
    }
    for (o, (a, b)) in y1.iter_mut().zip(x1.iter().zip(x2)) {
        *o = *a + *b;
    }
    for (o, (a, b)) in y2.iter_mut().zip(x2.iter().zip(x1)) {
        *o = *a - *b;
    }
    for (o, (a, b)) in y3.iter_mut().zip(x1.iter().zip(x3)) {
        *o = *a - *b;
    }
}

/// `y = Aᵀ x` for four rows of values: y₀ = x₀ + x₁ + x₂, y₁ = x₁ − x₂ − x₃.
fn at<E: Dtype>(y: [&mut [E]; 2], x: [&[E]; 4]) {
    let [y0, y1] = y;
    let [x0, x1, x2, x3] = x;
    for (o, ((a, b), c)) in y0.iter_mut().zip(x0.iter().zip(x1).zip(x2)) {
        *o = *a + *b + *c;
    }
    for (o, ((a, b), c)) in y1.iter_mut().zip(x1.iter().zip(x2).zip(x3)) {
        *o = *a - *b - *c;
    }
}

/// `Aᵀ M A` for every output channel of one tile (`mt`: `[ξ][c_out]`) into `y`: the 2×2
/// outputs `[2·i + j][c_out]`; `t` is scratch of 8·C_out values.
fn output_tile<E: Dtype>(mt: &[E], y: &mut [E], t: &mut [E], co: usize) {
    // t = Aᵀ M: t[i][k] from M[·][k], column by column.
    for k in 0..4 {
        let (t0, t1) = t.split_at_mut(4 * co);
        let m: [&[E]; 4] = std::array::from_fn(|r| &mt[(4 * r + k) * co..(4 * r + k + 1) * co]);
        at([&mut t0[k * co..(k + 1) * co], &mut t1[k * co..(k + 1) * co]], m);
    }
    // y = t A along each row of t.
    for (y2, t4) in y.chunks_exact_mut(2 * co).zip(t.chunks_exact(4 * co)) {
        let (y0, y1) = y2.split_at_mut(co);
        let mut inp = t4.chunks_exact(co);
        at([y0, y1], std::array::from_fn(|_| inp.next().expect("4 rows")));
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

    /// Both paddings, even and odd output sizes (the last tile half outside), one channel
    /// and several: Winograd in f64 equals the direct sum to rounding, and in f32 it stays
    /// within f32 rounding of it.
    #[test]
    fn winograd_matches_the_direct_convolution() {
        for (n, h, wd, ci, co, padding) in [(2, 14, 14, 64, 16, Padding::Valid), (3, 7, 9, 5, 3, Padding::Same), (1, 5, 4, 1, 2, Padding::Valid), (2, 6, 6, 3, 4, Padding::Same)] {
            let x = uniform(n * h * wd * ci, 1);
            let w = uniform(9 * ci * co, 2);
            let bias = uniform(co, 3);
            let want = direct(&x, &w, &bias, n, h, wd, ci, padding);
            let wg = Winograd::new(&w, ci, co, h, wd, padding).unwrap();
            let got = wg.forward_relu(&x, &bias);
            assert!(wg.forward_relu(&[], &bias).is_empty(), "no images, no outputs");
            assert_eq!(got.len(), want.len());
            assert!(want.iter().filter(|v| **v > 0.0).count() > want.len() / 4, "the ReLU leaves values to compare");
            let scale = want.iter().fold(1.0f64, |a, v| a.max(v.abs()));
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() <= 1e-13 * scale, "f64: {g} vs {e} ({n}×{h}×{wd}×{ci}→{co}, {padding:?})");
            }
            let to32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
            let got32 = Winograd::new(&to32(&w), ci, co, h, wd, padding).unwrap().forward_relu(&to32(&x), &to32(&bias));
            for (g, e) in got32.iter().zip(&want) {
                assert!((*g as f64 - e).abs() <= 2e-6 * scale * (ci as f64).sqrt(), "f32: {g} vs {e}");
            }
        }
    }
}
