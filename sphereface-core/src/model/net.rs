//! The two networks of ../shared/spec/PROTOCOL.md, for 28×28×1 images and any embedding
//! dimension d ≥ 1.
//!
//! - `mnist4` (the net behind the seed README's numbers, commit 1df7dc7):
//!   conv3×3 32 s1 same → BN → ReLU; conv3×3 64 s2 same → BN → ReLU;
//!   conv3×3 128 s1 valid → BN → ReLU; conv3×3 128 s2 valid → BN → ReLU (5×5×128)
//!   → flatten 3200 → linear d. Convs before BN have no bias (BN's β replaces it).
//! - `sphere20` (the seed's final SphereFace-20 layout): four stages, each a stride-2
//!   3×3 conv (64, 128, 256, 512) + PReLU followed by 1, 2, 4, 1 residual units of two
//!   3×3 convs + PReLU with an identity shortcut; per-channel PReLU; no BN;
//!   flatten 2048 → linear d.
//!
//! Padding is TensorFlow's 'same' (the odd pixel at the bottom/right), as in the seed.

use std::str::FromStr;

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::layers::{conv_bn_relu_portable, window_geometry, Act, BatchNorm, Conv2d, ConvDevice, Linear, Mode, PRelu, Padding};
use super::params::{e, join, xavier_truncated_normal, xavier_uniform, HasParams, ParamKind, Vector};
use crate::{dev_err, Error, Result, Rng, IMAGE_SIDE};

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum NetKind {
    /// Four convs with batch norm (the default on CPU).
    Mnist4,
    /// SphereFace-20 for 28×28 input (meant for a GPU).
    Sphere20,
}

impl FromStr for NetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mnist4" => Ok(NetKind::Mnist4),
            "sphere20" => Ok(NetKind::Sphere20),
            other => Err(Error::Config(format!("unknown network {other:?} (expected mnist4 or sphere20)"))),
        }
    }
}

impl NetKind {
    /// `mnist4` or `sphere20`.
    pub fn name(&self) -> &'static str {
        match self {
            NetKind::Mnist4 => "mnist4",
            NetKind::Sphere20 => "sphere20",
        }
    }
}

/// conv → BN → ReLU.
#[derive(Clone, Debug)]
struct ConvBnRelu<E: Dtype, D: Storage<E>> {
    conv: Conv2d<E, D>,
    bn: BatchNorm<E, D>,
}

/// conv → PReLU.
#[derive(Clone, Debug)]
struct ConvPrelu<E: Dtype, D: Storage<E>> {
    conv: Conv2d<E, D>,
    act: PRelu<E, D>,
}

impl<E: Dtype, D: ConvDevice<E>> ConvPrelu<E, D> {
    fn new(dev: &D, rng: &mut Rng, c_in: usize, c_out: usize, stride: usize, init: fn(&mut Rng, usize, usize, usize) -> Vec<f64>) -> Self {
        ConvPrelu { conv: Conv2d::new(dev, rng, c_in, c_out, 3, stride, Padding::Same, true, init), act: PRelu::new(dev, c_out) }
    }
    fn forward<T: Tape<E, D>>(&self, x: Act<E, D, T>, portable: bool) -> Result<Act<E, D, T>> {
        if portable {
            self.act.forward(self.conv.forward_portable(x)?)
        } else {
            D::conv_prelu(&self.conv, &self.act, x)
        }
    }
}

/// A SphereFace-20 stage: stride-2 conv + PReLU, then residual units (two conv + PReLU each).
#[derive(Clone, Debug)]
struct Stage<E: Dtype, D: Storage<E>> {
    down: ConvPrelu<E, D>,
    units: Vec<(ConvPrelu<E, D>, ConvPrelu<E, D>)>,
}

#[derive(Clone, Debug)]
enum Body<E: Dtype, D: Storage<E>> {
    Mnist4(Vec<ConvBnRelu<E, D>>),
    Sphere20(Vec<Stage<E, D>>),
}

/// A network mapping `[B, 784]` images in [0, 1] to `[B, d]` embeddings.
#[derive(Clone, Debug)]
pub struct Network<E: Dtype, D: Storage<E>> {
    /// Which layout.
    pub kind: NetKind,
    /// Embedding dimension d.
    pub dim: usize,
    /// Use the portable route (dfdx op compositions) even where the device has a fast
    /// path: for before/after benchmarks (`sphereface bench --portable`) and tests.
    pub portable: bool,
    body: Body<E, D>,
    fc: Linear<E, D>,
}

impl<E: Dtype, D: ConvDevice<E>> Network<E, D> {
    /// A freshly initialised network (TF1 initialisers of the seed, see the crate docs).
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` is 0.
    pub fn new(kind: NetKind, dim: usize, dev: &D, rng: &mut Rng) -> Result<Self> {
        Self::with_width(kind, dim, 1, dev, rng)
    }

    /// As [`Network::new`], with every convolution `width` times as wide (`width` = 1: the
    /// preset itself; 2: `mnist4` with 64, 128, 256, 256 channels, about 4× the compute).
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` or `width` is 0.
    pub fn with_width(kind: NetKind, dim: usize, width: usize, dev: &D, rng: &mut Rng) -> Result<Self> {
        if dim == 0 {
            return Err(Error::Config("embedding dimension must be >= 1, got 0".into()));
        }
        if width == 0 {
            return Err(Error::Config("network width must be >= 1, got 0".into()));
        }
        let w = width;
        let (body, flat) = match kind {
            NetKind::Mnist4 => {
                let spec = [(1, 32 * w, 1, Padding::Same), (32 * w, 64 * w, 2, Padding::Same), (64 * w, 128 * w, 1, Padding::Valid), (128 * w, 128 * w, 2, Padding::Valid)];
                let mut layers: Vec<ConvBnRelu<E, D>> = spec
                    .iter()
                    .map(|&(ci, co, s, p)| ConvBnRelu { conv: Conv2d::new(dev, rng, ci, co, 3, s, p, false, xavier_uniform), bn: BatchNorm::new(dev, co) })
                    .collect();
                // The first layer sees the images: no gradient needed there.
                layers[0].conv.input_grad = false;
                (Body::Mnist4(layers), 5 * 5 * 128 * w)
            }
            NetKind::Sphere20 => {
                let spec = [(1, 64 * w, 1), (64 * w, 128 * w, 2), (128 * w, 256 * w, 4), (256 * w, 512 * w, 1)];
                let stages = spec
                    .iter()
                    .map(|&(ci, co, n)| Stage {
                        down: {
                            let mut down = ConvPrelu::new(dev, rng, ci, co, 2, xavier_uniform);
                            down.conv.input_grad = ci != 1; // the first stage sees the images
                            down
                        },
                        units: (0..n)
                            .map(|_| {
                                (ConvPrelu::new(dev, rng, co, co, 1, xavier_truncated_normal), ConvPrelu::new(dev, rng, co, co, 1, xavier_truncated_normal))
                            })
                            .collect(),
                    })
                    .collect();
                (Body::Sphere20(stages), 2 * 2 * 512 * w)
            }
        };
        let fc = Linear::new(dev, rng, flat, dim, true, xavier_truncated_normal);
        Ok(Network { kind, dim, portable: false, body, fc })
    }

    /// Embeddings `[B, d]` of images `[B, 784]`. In [`Mode::Train`] batch norm uses batch
    /// statistics and updates its running statistics; in [`Mode::Eval`] nothing changes.
    ///
    /// # Errors
    /// [`Error::Shape`] when the images are not `[B, 784]` (or B < 2 in training with BN).
    pub fn forward<T: Tape<E, D>>(&mut self, images: Tensor<(usize, usize), E, D, T>, mode: Mode) -> Result<Tensor<(usize, usize), E, D, T>> {
        self.forward_with_dropout(images, mode, None)
    }

    /// As [`Network::forward`], with (inverted) dropout on the flattened features before the
    /// last linear layer when `dropout` is `Some((p, rng))`: each feature is zeroed with
    /// probability p and the others are scaled by 1/(1 − p), with the mask of
    /// [`dropout_mask`]`(B·F, p, rng)`. Evaluation never uses dropout (pass `None`).
    ///
    /// # Errors
    /// As [`Network::forward`]; [`Error::Config`] when p is not in [0, 1).
    pub fn forward_with_dropout<T: Tape<E, D>>(&mut self, images: Tensor<(usize, usize), E, D, T>, mode: Mode, dropout: Option<(f64, &mut Rng)>) -> Result<Tensor<(usize, usize), E, D, T>> {
        let mut x = Act::from_images(images, IMAGE_SIDE, IMAGE_SIDE, 1)?;
        match &mut self.body {
            Body::Mnist4(layers) if mode == Mode::Eval && !T::OWNS_TAPE && !self.portable => {
                // Evaluation without a tape: the device's route for the whole stack (on the
                // CPU, batch norm folded into the convolutions), else block by block.
                let Act { t, b, h, w } = x;
                let (t, tape) = t.split_tape();
                let plain = Act { t, b, h, w };
                let blocks: Vec<(&Conv2d<E, D>, &BatchNorm<E, D>)> = layers.iter().map(|l| (&l.conv, &l.bn)).collect();
                let y = match D::conv_bn_relu_stack_eval(&blocks, &plain)? {
                    Some(y) => y,
                    None => layers.iter_mut().try_fold(plain, |y, l| D::conv_bn_relu(&l.conv, &mut l.bn, y, mode))?,
                };
                x = Act { t: y.t.put_tape(tape), b: y.b, h: y.h, w: y.w };
            }
            Body::Mnist4(layers) => {
                for l in layers.iter_mut() {
                    x = if self.portable { conv_bn_relu_portable(&l.conv, &mut l.bn, x, mode)? } else { D::conv_bn_relu(&l.conv, &mut l.bn, x, mode)? };
                }
            }
            Body::Sphere20(stages) => {
                for st in stages.iter() {
                    x = st.down.forward(x, self.portable)?;
                    for (a, b) in &st.units {
                        let shortcut = x.t.retaped::<T>();
                        let y = b.forward(a.forward(x, self.portable)?, self.portable)?;
                        x = Act { t: y.t.try_add(shortcut).map_err(dev_err)?, b: y.b, h: y.h, w: y.w };
                    }
                }
            }
        }
        let mut flat = x.flatten()?;
        if let Some((p, rng)) = dropout {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::Config(format!("dropout must be in [0, 1), got {p}")));
            }
            if p > 0.0 {
                let shape = *flat.shape();
                let mask: Tensor<(usize, usize), E, D> = flat.device().tensor_from_vec(dropout_mask(shape.0 * shape.1, p, rng).into_iter().map(e::<E>).collect(), shape);
                flat = flat.try_mul(mask).map_err(dev_err)?;
            }
        }
        self.fc.forward(flat)
    }
}

impl<E: Dtype, D: Storage<E>> Network<E, D> {
    /// The convolutions in the order they run.
    fn convs(&self) -> Vec<&Conv2d<E, D>> {
        match &self.body {
            Body::Mnist4(layers) => layers.iter().map(|l| &l.conv).collect(),
            Body::Sphere20(stages) => stages.iter().flat_map(|st| std::iter::once(&st.down.conv).chain(st.units.iter().flat_map(|(a, b)| [&a.conv, &b.conv]))).collect(),
        }
    }

    /// Floating-point operations of the convolutions for one 28×28 image, two per
    /// multiply-add: `(forward, training step)`, the step being forward, dW, and dX for every
    /// layer that computes it (not the first). Batch norm, activations, the last linear layer
    /// and the head are left out (under 1 %). `mnist4`: 36.3 M and 108.4 M.
    pub fn conv_flops_per_image(&self) -> (f64, f64) {
        self.conv_flops(false)
    }

    /// As [`Self::conv_flops_per_image`], counting only the multiply-adds whose input lies
    /// inside the image (not the zero border): the work of a convolution that skips the
    /// border, as the `taps` route does (and, by its figures, PyTorch's oneDNN). `mnist4`:
    /// 99 % of the full count; `sphere20`: 71 % (its 4×4 and 2×2 stages).
    pub fn conv_flops_per_image_in_image(&self) -> (f64, f64) {
        self.conv_flops(true)
    }

    /// The two counts above: per layer and side, the kernel offsets summed over the output
    /// positions, all k of them or (`in_image`) those that fall inside the input.
    fn conv_flops(&self, in_image: bool) -> (f64, f64) {
        let side = |n: usize, c: &Conv2d<E, D>| -> (usize, usize) {
            let Ok((out, start)) = window_geometry(n, c.k, c.stride, c.padding) else { return (0, 0) };
            let inside = |o: usize| (0..c.k).filter(|&ky| (o * c.stride + ky).checked_sub(start).is_some_and(|y| y < n)).count();
            (out, if in_image { (0..out).map(inside).sum() } else { out * c.k })
        };
        let (mut h, mut w, mut fwd, mut train) = (IMAGE_SIDE, IMAGE_SIDE, 0.0, 0.0);
        for c in self.convs() {
            let ((oh, ty), (ow, tx)) = (side(h, c), side(w, c));
            let f = 2.0 * (ty * tx * c.c_in * c.c_out) as f64;
            fwd += f;
            train += if c.input_grad { 3.0 * f } else { 2.0 * f };
            (h, w) = (oh, ow);
        }
        (fwd, train)
    }
}

/// An inverted-dropout mask of `n` values: 0 with probability `p`, else 1/(1 − p), drawn
/// from `rng` (the trainer passes [`crate::rng::Stream::Dropout`] at the step, so a step's
/// mask is a pure function of seed and step).
pub fn dropout_mask(n: usize, p: f64, rng: &mut Rng) -> Vec<f64> {
    use rand::Rng as _;
    let keep = 1.0 / (1.0 - p);
    (0..n).map(|_| if rng.gen::<f64>() < p { 0.0 } else { keep }).collect()
}

/// The traversal shared by `visit` and `visit_mut` (`$visit` names the method, `$($m)?`
/// is `mut` for the mutable one).
macro_rules! visit_network {
    ($self:ident, $prefix:ident, $f:ident, $visit:ident $(, $m:tt)?) => {
        match &$($m)? $self.body {
            Body::Mnist4(layers) => {
                for (i, l) in layers.into_iter().enumerate() {
                    l.conv.$visit(&join($prefix, &format!("conv{}", i + 1)), $f);
                    l.bn.$visit(&join($prefix, &format!("bn{}", i + 1)), $f);
                }
            }
            Body::Sphere20(stages) => {
                for (s, st) in stages.into_iter().enumerate() {
                    let p = join($prefix, &format!("stage{}", s + 1));
                    st.down.conv.$visit(&join(&p, "down.conv"), $f);
                    st.down.act.$visit(&join(&p, "down.prelu"), $f);
                    for (u, (a, b)) in (&$($m)? st.units).into_iter().enumerate() {
                        for (n, l) in [(1, a), (2, b)] {
                            let q = join(&p, &format!("unit{}.{}", u + 1, n));
                            l.conv.$visit(&join(&q, "conv"), $f);
                            l.act.$visit(&join(&q, "prelu"), $f);
                        }
                    }
                }
            }
        }
        $self.fc.$visit(&join($prefix, "fc"), $f);
    };
}

impl<E: Dtype, D: Storage<E>> HasParams<E, D> for Network<E, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &Vector<E, D>)) {
        visit_network!(self, prefix, f, visit);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &mut Vector<E, D>)) {
        visit_network!(self, prefix, f, visit_mut, mut);
    }
}
