//! Augmentation of training images: random rotations, scalings and sub-pixel shifts,
//! resampled bilinearly, with an optional elastic distortion on top (Simard, Steinkraus &
//! Platt, "Best practices for convolutional neural networks applied to visual document
//! analysis", ICDAR 2003, §2). One path for every combination: `shift` means the same with
//! or without rotations. The draws are a pure function of (seed, step), so a resumed run
//! draws exactly what an uninterrupted one would.
//!
//! ```text
//! per image: angle ~ U[−rotate°, rotate°], s ~ U[1 − scale, 1 + scale], dy, dx ~ U[−shift, shift]
//! out(p) = src(R(−angle) (p − centre − d) / s + centre + α·field(p))     (bilinear, 0 outside)
//! ```

use serde::{Deserialize, Serialize};

use crate::rng::{stream, Rng, Stream};
use crate::{Error, Result, IMAGE_SIDE};

/// Standard deviation, in pixels, of the Gaussian that smooths the elastic displacement
/// fields (Simard et al. 2003 use 4 on MNIST).
pub const ELASTIC_SIGMA: f64 = 4.0;

/// How training images are augmented (all zero: not at all). Part of a run's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Offsets uniform in ±`shift` pixels in x and in y (sub-pixel).
    #[serde(default)]
    pub shift: usize,
    /// Rotations uniform in ±`rotate` degrees about the image centre.
    #[serde(default)]
    pub rotate: f64,
    /// Scalings by a factor uniform in 1 ± `scale`.
    #[serde(default)]
    pub scale: f64,
    /// Elastic distortion of strength α: two fields uniform in [−1, 1] per pixel, smoothed by
    /// a normalised Gaussian of σ = [`ELASTIC_SIGMA`] pixels (zero outside), times α.
    #[serde(default)]
    pub elastic: f64,
}

impl Augment {
    /// Whether the images are left as they are.
    pub fn is_none(&self) -> bool {
        self.shift == 0 && self.rotate == 0.0 && self.scale == 0.0 && self.elastic == 0.0
    }

    /// Checks shift ≤ 13 pixels, rotate in [0, 45]°, scale in [0, 0.5], elastic in [0, 100].
    ///
    /// # Errors
    /// [`Error::Config`] naming the field and the value.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.shift > 13 {
            return bad(format!("shift must be at most 13 pixels (half the 28-pixel image), got {}", self.shift));
        }
        if !(self.rotate.is_finite() && (0.0..=45.0).contains(&self.rotate)) {
            return bad(format!("rotate must be between 0 and 45 degrees, got {}", self.rotate));
        }
        if !(self.scale.is_finite() && (0.0..=0.5).contains(&self.scale)) {
            return bad(format!("scale must be between 0 and 0.5, got {}", self.scale));
        }
        if !(self.elastic.is_finite() && (0.0..=100.0).contains(&self.elastic)) {
            return bad(format!("elastic must be between 0 and 100, got {}", self.elastic));
        }
        Ok(())
    }
}

/// Augments a batch of 28×28 images (`pixels` is `[B, 784]`) in place, for training step
/// `step` of a run seeded with `seed`: per image an angle, a scale and an offset
/// ([`Stream::Affine`]) and, with `elastic` > 0, a displacement field ([`Stream::Elastic`],
/// a separate stream, so α = 0 leaves the affine draws as they are). [`Augment::is_none`]
/// leaves the batch untouched.
pub fn augment(pixels: &mut [f32], aug: &Augment, seed: u64, step: u64) {
    use rand::Rng as _;
    const SIDE: usize = IMAGE_SIDE;
    if aug.is_none() {
        return;
    }
    let (max_degrees, max_scale, alpha) = (aug.rotate, aug.scale, aug.elastic);
    let mut rng = stream(seed, Stream::Affine, step);
    let mut field_rng = stream(seed, Stream::Elastic, step);
    let kernel = gaussian_kernel(ELASTIC_SIGMA);
    let shift = aug.shift.min(SIDE - 1) as f64;
    let mut src = [0.0f32; SIDE * SIDE];
    for img in pixels.chunks_exact_mut(SIDE * SIDE) {
        let angle = if max_degrees > 0.0 { rng.gen_range(-max_degrees..=max_degrees).to_radians() } else { 0.0 };
        let scale = if max_scale > 0.0 { rng.gen_range(1.0 - max_scale..=1.0 + max_scale) } else { 1.0 };
        let (dy, dx) = if shift > 0.0 { (rng.gen_range(-shift..=shift), rng.gen_range(-shift..=shift)) } else { (0.0, 0.0) };
        let field = (alpha > 0.0).then(|| elastic_field(&mut field_rng, alpha, &kernel));
        src.copy_from_slice(img);
        warp_one(&src, img, angle, scale, dy, dx, field.as_ref());
    }
}

/// A displacement field: (x component, y component), one value per pixel, row-major.
type Field = (Vec<f64>, Vec<f64>);

/// Normalised 1-D Gaussian taps of standard deviation `sigma`, radius ⌈3σ⌉.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let r = (3.0 * sigma).ceil() as i64;
    let taps: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

/// One elastic field: uniform [−1, 1] per pixel and component, smoothed by `kernel` along
/// rows then columns (zero outside the image), times `alpha`.
fn elastic_field(rng: &mut Rng, alpha: f64, kernel: &[f64]) -> Field {
    use rand::Rng as _;
    let mut one = || {
        let raw: Vec<f64> = (0..IMAGE_SIDE * IMAGE_SIDE).map(|_| rng.gen_range(-1.0..=1.0)).collect();
        let rows = blur(&raw, kernel, 1, IMAGE_SIDE);
        blur(&rows, kernel, IMAGE_SIDE, 1).into_iter().map(|v| v * alpha).collect::<Vec<f64>>()
    };
    let fx = one();
    let fy = one();
    (fx, fy)
}

/// Convolves each line of a 28×28 grid with `kernel` (zero outside): `along` is the stride
/// between neighbours on a line (1: rows, 28: columns), `across` the stride between lines.
fn blur(v: &[f64], kernel: &[f64], along: usize, across: usize) -> Vec<f64> {
    const SIDE: usize = IMAGE_SIDE;
    let r = (kernel.len() / 2) as i64;
    let mut out = vec![0.0; SIDE * SIDE];
    for line in 0..SIDE {
        for i in 0..SIDE as i64 {
            let mut acc = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                let j = i + k as i64 - r;
                if (0..SIDE as i64).contains(&j) {
                    acc += w * v[line * across + j as usize * along];
                }
            }
            out[line * across + i as usize * along] = acc;
        }
    }
    out
}

/// `out` = `src` turned by `angle` radians about the centre, scaled by `scale` and moved by
/// `(dy, dx)` pixels, with pixel p then displaced by `field` at p (if given); bilinear, 0
/// outside. Output pixel p reads the source at R(−angle) (p − centre − d) / scale + centre
/// (+ field(p)).
fn warp_one(src: &[f32; IMAGE_SIDE * IMAGE_SIDE], out: &mut [f32], angle: f64, scale: f64, dy: f64, dx: f64, field: Option<&Field>) {
    const SIDE: usize = IMAGE_SIDE;
    let centre = (SIDE as f64 - 1.0) / 2.0;
    let at = |y: i64, x: i64| -> f32 {
        if (0..SIDE as i64).contains(&y) && (0..SIDE as i64).contains(&x) {
            src[y as usize * SIDE + x as usize]
        } else {
            0.0
        }
    };
    let (sin, cos) = angle.sin_cos();
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (u, v) = (x as f64 - centre - dx, y as f64 - centre - dy);
            // Rounding to 1e-9 keeps exact grid points exact (sin/cos of π/2 are not exactly 1/0).
            let sx = ((cos * u + sin * v) / scale + centre) * 1e9;
            let sy = ((-sin * u + cos * v) / scale + centre) * 1e9;
            let (mut sx, mut sy) = (sx.round() / 1e9, sy.round() / 1e9);
            if let Some((fx, fy)) = field {
                sx += fx[y * SIDE + x];
                sy += fy[y * SIDE + x];
            }
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
            let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
            out[y * SIDE + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotations ±10°, scalings ±10 %, shifts of 2 pixels: the long protocol's augmentation.
    const AFFINE: Augment = Augment { shift: 2, rotate: 10.0, scale: 0.1, elastic: 0.0 };

    /// `img` moved by (dy, dx) with zero fill, by a direct loop.
    fn translated(img: &[f32], dy: i64, dx: i64) -> Vec<f32> {
        let mut out = vec![0.0; 784];
        for y in 0..28i64 {
            for x in 0..28i64 {
                let (sy, sx) = (y - dy, x - dx);
                if (0..28).contains(&sy) && (0..28).contains(&sx) {
                    out[(y * 28 + x) as usize] = img[(sy * 28 + sx) as usize];
                }
            }
        }
        out
    }

    #[test]
    fn warp_moves_turns_and_scales_like_the_formula() {
        let img: Vec<f32> = (0..784).map(|i| ((i * 37 % 101) as f32) / 100.0).collect();
        let src: [f32; 784] = img.clone().try_into().unwrap();
        let mut out = vec![0.0; 784];
        // Whole-pixel moves are exact translations.
        warp_one(&src, &mut out, 0.0, 1.0, 2.0, -3.0, None);
        assert_eq!(out, translated(&img, 2, -3));
        // A quarter turn about the centre (13.5, 13.5) maps the pixel grid onto itself:
        // out(y, x) = src(27 − x, y).
        warp_one(&src, &mut out, std::f64::consts::FRAC_PI_2, 1.0, 0.0, 0.0, None);
        for y in 0..28 {
            for x in 0..28 {
                assert_eq!(out[y * 28 + x], img[(27 - x) * 28 + y], "pixel ({y}, {x})");
            }
        }
        // Half-pixel move: each output is the mean of two neighbours.
        warp_one(&src, &mut out, 0.0, 1.0, 0.0, 0.5, None);
        for y in 0..28 {
            for x in 1..28 {
                let want = 0.5 * (img[y * 28 + x - 1] + img[y * 28 + x]);
                assert!((out[y * 28 + x] - want).abs() < 1e-6, "({y}, {x}): {} vs {want}", out[y * 28 + x]);
            }
        }
        // Scaling by 2 about the centre: output (y, x) reads source ((y − 13.5)/2 + 13.5, …).
        warp_one(&src, &mut out, 0.0, 2.0, 0.0, 0.0, None);
        let (y, x) = (7usize, 21usize); // source (10.25, 17.25)
        let s = |yy: usize, xx: usize| img[yy * 28 + xx];
        let want = 0.75 * (0.75 * s(10, 17) + 0.25 * s(10, 18)) + 0.25 * (0.75 * s(11, 17) + 0.25 * s(11, 18));
        assert!((out[y * 28 + x] - want).abs() < 1e-6);
    }

    #[test]
    fn affine_augmentation_is_a_pure_function_of_seed_and_step() {
        let images: Vec<f32> = (0..6 * 784).map(|i| ((i * 53 % 97) as f32) / 96.0).collect();
        let mut same = images.clone();
        augment(&mut same, &Augment::default(), 3, 7);
        assert_eq!(same, images, "all bounds 0 must leave the batch alone");
        let run = |seed, step| {
            let mut b = images.clone();
            augment(&mut b, &AFFINE, seed, step);
            b
        };
        let a = run(3, 7);
        assert_eq!(a, run(3, 7));
        assert_ne!(a, run(3, 8));
        assert_ne!(a, run(4, 7));
        assert_ne!(a, images);
        for (i, (new, old)) in a.chunks(784).zip(images.chunks(784)).enumerate() {
            assert!(new.iter().all(|v| (0.0..=1.0).contains(v)), "image {i} left [0, 1]");
            assert_ne!(new, old, "image {i} unchanged");
        }
    }

    #[test]
    fn gaussian_blur_is_normalised_and_spreads_a_point_like_the_kernel() {
        let k = gaussian_kernel(ELASTIC_SIGMA);
        assert_eq!(k.len(), 25, "radius 3σ = 12");
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(k.windows(2).take(12).all(|w| w[0] < w[1]), "rises to the centre");
        // A point at (13, 14) spreads as the outer product of the kernel with itself.
        let mut point = vec![0.0; 784];
        point[13 * 28 + 14] = 1.0;
        let spread = blur(&blur(&point, &k, 1, 28), &k, 28, 1);
        for (y, x) in [(13usize, 14usize), (10, 14), (13, 20), (5, 9)] {
            let want = k[y + 12 - 13] * k[x + 12 - 14];
            assert!((spread[y * 28 + x] - want).abs() < 1e-15, "({y}, {x}): {} vs {want}", spread[y * 28 + x]);
        }
        assert_eq!(spread[0], 0.0, "(0, 0) is beyond the radius");
        // A constant stays constant away from the edges (zero outside lowers it near them).
        let ones = blur(&blur(&vec![1.0; 784], &k, 1, 28), &k, 28, 1);
        assert!((ones[13 * 28 + 13] - 1.0).abs() < 1e-3);
        assert!(ones[0] < 0.6);
    }

    #[test]
    fn elastic_fields_are_smooth_and_scale_with_alpha() {
        let k = gaussian_kernel(ELASTIC_SIGMA);
        let (ax, ay) = elastic_field(&mut stream(9, Stream::Elastic, 0), 34.0, &k);
        let (bx, by) = elastic_field(&mut stream(9, Stream::Elastic, 0), 68.0, &k);
        for (a, b) in ax.iter().chain(&ay).zip(bx.iter().chain(&by)) {
            assert!((2.0 * a - b).abs() < 1e-9);
        }
        assert_ne!(ax, ay, "two independent components");
        // Smooth: neighbours differ far less than the field varies.
        let mean_abs = ax.iter().map(|v| v.abs()).sum::<f64>() / 784.0;
        let mean_step = (0..28).flat_map(|y| (0..27).map(move |x| (y, x))).map(|(y, x)| (ax[y * 28 + x + 1] - ax[y * 28 + x]).abs()).sum::<f64>() / (28.0 * 27.0);
        assert!(mean_abs > 0.3 && mean_abs < 3.0, "α 34 moves pixels by about a pixel, got {mean_abs}");
        assert!(mean_step < 0.3 * mean_abs, "not smooth: step {mean_step}, size {mean_abs}");
    }

    #[test]
    fn elastic_distortion_adds_the_field_to_the_same_affine_draws() {
        let images: Vec<f32> = (0..4 * 784).map(|i| ((i * 53 % 97) as f32) / 96.0).collect();
        let run = |alpha, seed, step| {
            let mut b = images.clone();
            augment(&mut b, &Augment { elastic: alpha, ..AFFINE }, seed, step);
            b
        };
        let mut affine = images.clone();
        augment(&mut affine, &AFFINE, 3, 7);
        assert_eq!(run(0.0, 3, 7), affine, "alpha 0 is the affine augmentation");
        // A vanishing field barely moves anything: the affine draws are not disturbed.
        let tiny = run(1e-6, 3, 7);
        assert!(tiny.iter().zip(&affine).all(|(a, b)| (a - b).abs() < 1e-4));
        let e = run(34.0, 3, 7);
        assert_eq!(e, run(34.0, 3, 7));
        assert_ne!(e, run(34.0, 3, 8));
        assert_ne!(e, run(34.0, 4, 7));
        for (i, (new, old)) in e.chunks(784).zip(affine.chunks(784)).enumerate() {
            assert!(new.iter().all(|v| (0.0..=1.0).contains(v)), "image {i} left [0, 1]");
            let moved = new.iter().zip(old).filter(|(a, b)| (*a - *b).abs() > 0.05).count();
            assert!(moved > 50, "image {i}: only {moved} pixels changed");
        }
        // Elastic distortion alone (no affine bounds) also applies.
        let mut only = images.clone();
        augment(&mut only, &Augment { elastic: 34.0, ..Augment::default() }, 3, 7);
        assert_ne!(only, images);
    }

    /// `shift` alone moves each image by its own sub-pixel offset within ±shift: a single
    /// bright pixel keeps its mass and its centroid lands within the bound.
    #[test]
    fn shift_moves_each_image_by_a_sub_pixel_offset_within_the_bound() {
        let mut images = vec![0.0f32; 8 * 784];
        for img in images.chunks_mut(784) {
            img[13 * 28 + 14] = 1.0;
        }
        let shift = Augment { shift: 2, ..Augment::default() };
        let mut moved = images.clone();
        augment(&mut moved, &shift, 1, 5);
        let mut offsets = Vec::new();
        for img in moved.chunks(784) {
            let mass: f32 = img.iter().sum();
            assert!((mass - 1.0).abs() < 1e-5, "mass {mass}");
            let (cy, cx) = img.iter().enumerate().fold((0.0, 0.0), |(y, x), (i, v)| (y + (i / 28) as f32 * v, x + (i % 28) as f32 * v));
            let (dy, dx) = (cy - 13.0, cx - 14.0);
            assert!(dy.abs() <= 2.0 + 1e-5 && dx.abs() <= 2.0 + 1e-5, "offset ({dy}, {dx}) beyond ±2");
            offsets.push((dy, dx));
        }
        assert!(offsets.iter().any(|(dy, dx)| dy.fract().abs() > 1e-3 || dx.fract().abs() > 1e-3), "sub-pixel offsets: {offsets:?}");
        assert!(offsets.windows(2).any(|w| w[0] != w[1]), "each image its own offset");
        let mut again = images.clone();
        augment(&mut again, &shift, 1, 5);
        assert_eq!(again, moved, "a pure function of seed and step");
        // With rotations too, the offsets are drawn the same way (one path, one meaning).
        let mut turned = images.clone();
        augment(&mut turned, &Augment { rotate: 1e-9, ..shift }, 1, 5);
        let mut shifted = images.clone();
        let mut rng = stream(1, Stream::Affine, 5);
        use rand::Rng as _;
        for img in shifted.chunks_mut(784) {
            let _angle: f64 = rng.gen_range(-1e-9..=1e-9);
            let (dy, dx): (f64, f64) = (rng.gen_range(-2.0..=2.0), rng.gen_range(-2.0..=2.0));
            let src: [f32; 784] = img.to_vec().try_into().unwrap();
            warp_one(&src, img, 0.0, 1.0, dy, dx, None);
        }
        assert!(turned.iter().zip(&shifted).all(|(a, b)| (a - b).abs() < 1e-6));
    }
}
