//! Layers on stable dfdx: 2-D convolution, batch norm, PReLU, ReLU, linear.
//!
//! Activations are [`Act`]: a `[B·H·W, C]` matrix in NHWC order plus `(B, H, W)`.
//! The convolution gathers image patches (im2col) with dfdx's `gather`, whose backward
//! accumulates, so no `slice` (whose CPU backward overwrites) is involved. Padding
//! positions point at one extra all-zero pixel row.
//!
//! Every layer is generic over the dfdx device: the same code runs on `Cpu` and, with the
//! `cuda` feature, on `Cuda`. The heavy layers go through [`ConvDevice`], which the layers
//! own: its default methods are the portable compositions of dfdx ops defined here, and
//! `Cpu` overrides them with the fused host ops of the private `model::cpu` module.

use dfdx::prelude::*;

use super::params::{e, join, vector, HasParams, ParamKind, Vector};
use crate::{dev_err, Error, Result, Rng};

/// A device's route for the heavy layers. The defaults are the portable op compositions
/// ([`Conv2d::forward_portable`], [`BatchNorm::forward_portable`]); `Cpu` overrides them with
/// fused ops (module `model::cpu`).
pub trait ConvDevice<E: Dtype>: Device<E> {
    /// Applies `conv` to `x` on this device.
    ///
    /// # Errors
    /// As [`Conv2d::forward_portable`].
    fn conv2d<T: Tape<E, Self>>(conv: &Conv2d<E, Self>, x: Act<E, Self, T>) -> Result<Act<E, Self, T>> {
        conv.forward_portable(x)
    }
    /// Applies `conv`, then `bn` (updating its running statistics in training), then ReLU.
    ///
    /// # Errors
    /// As [`Conv2d::forward_portable`] and [`BatchNorm::forward_portable`].
    fn conv_bn_relu<T: Tape<E, Self>>(conv: &Conv2d<E, Self>, bn: &mut BatchNorm<E, Self>, x: Act<E, Self, T>, mode: Mode) -> Result<Act<E, Self, T>> {
        conv_bn_relu_portable(conv, bn, x, mode)
    }
    /// Applies `conv`, then the PReLU `act` (the `sphere20` block).
    ///
    /// # Errors
    /// As [`Conv2d::forward_portable`] and [`PRelu::forward`].
    fn conv_prelu<T: Tape<E, Self>>(conv: &Conv2d<E, Self>, act: &PRelu<E, Self>, x: Act<E, Self, T>) -> Result<Act<E, Self, T>> {
        act.forward(Self::conv2d(conv, x)?)
    }
    /// Evaluation (no tape, batch norm on its running statistics) of the blocks `conv →
    /// batch norm → ReLU` in turn, through a dedicated route; `None` where the device has
    /// none (the blocks then run one by one through [`ConvDevice::conv_bn_relu`]).
    ///
    /// # Errors
    /// As [`ConvDevice::conv_bn_relu`].
    fn conv_bn_relu_stack_eval(blocks: &[(&Conv2d<E, Self>, &BatchNorm<E, Self>)], x: &Act<E, Self, NoneTape>) -> Result<Option<Act<E, Self, NoneTape>>> {
        let _ = (blocks, x);
        Ok(None)
    }
}

/// conv → batch norm → ReLU composed of dfdx ops (any device): the reference route of
/// [`ConvDevice::conv_bn_relu`].
///
/// # Errors
/// As [`Conv2d::forward_portable`] and [`BatchNorm::forward_portable`].
pub fn conv_bn_relu_portable<E: Dtype, D: Device<E>, T: Tape<E, D>>(conv: &Conv2d<E, D>, bn: &mut BatchNorm<E, D>, x: Act<E, D, T>, mode: Mode) -> Result<Act<E, D, T>> {
    relu(bn.forward_portable(conv.forward_portable(x)?, mode)?)
}

/// Training (batch statistics, running statistics updated) or evaluation (frozen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch norm uses and records batch statistics.
    Train,
    /// Batch norm uses its running statistics; nothing changes.
    Eval,
}

/// A batch of feature maps: `t` is `[B·H·W, C]`, rows ordered (b, y, x).
#[derive(Debug)]
pub struct Act<E: Dtype, D: Storage<E>, T> {
    /// The values, `[B·H·W, C]`.
    pub t: Tensor<(usize, usize), E, D, T>,
    /// Batch size B.
    pub b: usize,
    /// Height H.
    pub h: usize,
    /// Width W.
    pub w: usize,
}

impl<E: Dtype, D: Device<E>, T: Tape<E, D>> Act<E, D, T> {
    /// Wraps `[B, H·W·C]` images (NHWC, e.g. MNIST `[B, 784]` with C = 1) as an activation.
    ///
    /// # Errors
    /// [`Error::Shape`] when the row length is not `h·w·c`.
    pub fn from_images(x: Tensor<(usize, usize), E, D, T>, h: usize, w: usize, c: usize) -> Result<Self> {
        let (b, n) = *x.shape();
        if n != h * w * c {
            return Err(Error::Shape(format!("images have {n} values per row, expected {h}x{w}x{c} = {}", h * w * c)));
        }
        let t = x.try_reshape_like(&(b * h * w, c)).map_err(dev_err)?;
        Ok(Act { t, b, h, w })
    }

    /// Channels C.
    pub fn channels(&self) -> usize {
        self.t.shape().1
    }

    /// `[B, H·W·C]`: one row per image (flatten in NHWC order).
    pub fn flatten(self) -> Result<Tensor<(usize, usize), E, D, T>> {
        let c = self.channels();
        self.t.try_reshape_like(&(self.b, self.h * self.w * c)).map_err(dev_err)
    }

    fn map(self, f: impl FnOnce(Tensor<(usize, usize), E, D, T>) -> Result<Tensor<(usize, usize), E, D, T>>) -> Result<Self> {
        Ok(Act { t: f(self.t)?, b: self.b, h: self.h, w: self.w })
    }
}

/// How a convolution or pool treats the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// TensorFlow 'same': output ⌈H/s⌉; the total padding max((out−1)·s + k − H, 0) is
    /// split with the odd pixel at the bottom/right (as TF does).
    Same,
    /// No padding: output ⌊(H − k)/s⌋ + 1.
    Valid,
}

/// Output size and leading padding of a window of size `k`, stride `s` over `n` pixels.
///
/// # Errors
/// [`Error::Shape`] when a 'valid' window does not fit or k/s is zero.
pub fn window_geometry(n: usize, k: usize, s: usize, padding: Padding) -> Result<(usize, usize)> {
    if k == 0 || s == 0 {
        return Err(Error::Shape(format!("kernel {k} and stride {s} must be at least 1")));
    }
    match padding {
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(n);
            Ok((out, total / 2))
        }
        Padding::Valid => {
            if n < k {
                return Err(Error::Shape(format!("input size {n} is smaller than the {k}x{k} window ('valid')")));
            }
            Ok(((n - k) / s + 1, 0))
        }
    }
}

/// Patch indices for an image of `h × w`: for each output pixel (row-major) and each kernel
/// offset (ky, kx), the input pixel `y·w + x`, or `h·w` (the padding row) outside the image.
/// Returns `(indices, out_h, out_w, needs_padding_row)`.
pub fn patch_indices(h: usize, w: usize, k: usize, s: usize, padding: Padding) -> Result<(Vec<usize>, usize, usize, bool)> {
    let (oh, pt) = window_geometry(h, k, s, padding)?;
    let (ow, pl) = window_geometry(w, k, s, padding)?;
    let pad = h * w;
    let mut idx = Vec::with_capacity(oh * ow * k * k);
    let mut padded = false;
    for oy in 0..oh {
        for ox in 0..ow {
            for ky in 0..k {
                for kx in 0..k {
                    let y = (oy * s + ky) as isize - pt as isize;
                    let x = (ox * s + kx) as isize - pl as isize;
                    if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                        padded = true;
                        idx.push(pad);
                    } else {
                        idx.push(y as usize * w + x as usize);
                    }
                }
            }
        }
    }
    Ok((idx, oh, ow, padded))
}

/// Image patches `[B·OH·OW, k·k, C]`.
type Patches<E, D, T> = Tensor<(usize, usize, usize), E, D, T>;

/// The gather indices of one convolution's portable route, `[B, OH·OW·k·k]`, for the last
/// `(B, H, W)` and `(k, stride, padding)` it saw: built and copied to the device once, not
/// at every step. A clone starts empty.
pub struct PatchIndexCache<D> {
    slot: std::sync::Mutex<Option<CachedIndices>>,
    device: std::marker::PhantomData<D>,
}

/// What the indices depend on: `(B, H, W)` and `(k, stride, padding)`.
type IndexKey = ((usize, usize, usize), (usize, usize, Padding));

/// The key, the index tensor (a `Tensor<(usize, usize), usize, D>`), OH, OW, padded.
type CachedIndices = (IndexKey, Box<dyn std::any::Any>, usize, usize, bool);

// SAFETY: the slot only ever holds a `Tensor<(usize, usize), usize, D, NoneTape>` (see `get`),
// which is `Send` when `D` is (its data is an `Arc` of a `Send + Sync` storage vector); the
// mutex makes shared access exclusive, so `Sync` needs only `Send` of the contents.
unsafe impl<D: Send> Send for PatchIndexCache<D> {}
// SAFETY: as above.
unsafe impl<D: Send> Sync for PatchIndexCache<D> {}

impl<D> Default for PatchIndexCache<D> {
    fn default() -> Self {
        PatchIndexCache { slot: std::sync::Mutex::new(None), device: std::marker::PhantomData }
    }
}

impl<D> Clone for PatchIndexCache<D> {
    fn clone(&self) -> Self {
        PatchIndexCache::default()
    }
}

impl<D> std::fmt::Debug for PatchIndexCache<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatchIndexCache")
    }
}

impl<D: TensorFromVec<usize>> PatchIndexCache<D> {
    /// The index tensor for a batch of `b` images of `h × w`, with `(OH, OW, padded)`.
    fn get(&self, dev: &D, (b, h, w): (usize, usize, usize), k: usize, s: usize, padding: Padding) -> Result<(Tensor<(usize, usize), usize, D>, usize, usize, bool)> {
        let mut slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((key, idx, oh, ow, padded)) = slot.as_ref() {
            if let (true, Some(idx)) = (*key == ((b, h, w), (k, s, padding)), idx.downcast_ref::<Tensor<(usize, usize), usize, D>>()) {
                return Ok((idx.clone(), *oh, *ow, *padded));
            }
        }
        let (one, oh, ow, padded) = patch_indices(h, w, k, s, padding)?;
        let z = one.len();
        let mut all = Vec::with_capacity(b * z);
        for _ in 0..b {
            all.extend_from_slice(&one);
        }
        let idx: Tensor<(usize, usize), usize, D> = dev.tensor_from_vec(all, (b, z));
        *slot = Some((((b, h, w), (k, s, padding)), Box::new(idx.clone()), oh, ow, padded));
        Ok((idx, oh, ow, padded))
    }
}

/// Gathers the `k×k` patches: returns `[B·OH·OW, k·k, C]`, zeros outside the image.
fn im2col<E: Dtype, D: Device<E>, T: Tape<E, D>>(x: Act<E, D, T>, k: usize, s: usize, padding: Padding, cache: &PatchIndexCache<D>) -> Result<(Patches<E, D, T>, usize, usize)> {
    let Act { t, b, h, w } = x;
    let c = t.shape().1;
    let dev = t.device().clone();
    let (idx, oh, ow, padded) = cache.get(&dev, (b, h, w), k, s, padding)?;
    let x3 = t.try_reshape_like(&(b, h * w, c)).map_err(dev_err)?; // [B, HW, C]
    let src = if padded {
        let pad: Tensor<(usize, usize, usize), E, D> = dev.zeros_like(&(b, 1, c));
        (x3, pad).try_concat_along(Axis::<1>).map_err(dev_err)? // [B, HW+1, C]
    } else {
        x3
    };
    let cols = src.try_gather(idx).map_err(dev_err)?; // [B, OH·OW·k·k, C]
    let cols = cols.try_reshape_like(&(b * oh * ow, k * k, c)).map_err(dev_err)?;
    Ok((cols, oh, ow))
}

/// 2-D convolution, `k×k` kernel, NHWC; weight `[k, k, C_in, C_out]` flattened.
#[derive(Clone, Debug)]
pub struct Conv2d<E: Dtype, D: Storage<E>> {
    /// Flat weight, `[k·k·C_in, C_out]` row-major (ky, kx, c_in).
    pub weight: Vector<E, D>,
    /// Bias `[C_out]`, if any.
    pub bias: Option<Vector<E, D>>,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size k.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
    /// Whether backward computes the gradient of the input. `false` for a first layer fed
    /// with images, where it would be thrown away (the CPU fast path then skips one GEMM and
    /// the col2im; the portable route computes it regardless).
    pub input_grad: bool,
    /// The portable route's gather indices, kept between steps.
    pub indices: PatchIndexCache<D>,
}

impl<E: Dtype, D: Device<E>> Conv2d<E, D> {
    /// A convolution with weights from `init(rng, n, fan_in, fan_out)` and a zero bias.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dev: &D,
        rng: &mut Rng,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: Padding,
        bias: bool,
        init: fn(&mut Rng, usize, usize, usize) -> Vec<f64>,
    ) -> Self {
        let n = k * k * c_in * c_out;
        let weight = vector(dev, init(rng, n, k * k * c_in, k * k * c_out));
        let bias = bias.then(|| vector(dev, vec![0.0; c_out]));
        Conv2d { weight, bias, c_in, c_out, k, stride, padding, input_grad: true, indices: PatchIndexCache::default() }
    }

    /// The convolution composed of dfdx ops (concat, gather, reshape, matmul), on any
    /// device: the reference route that the CPU fast path is tested against.
    ///
    /// # Errors
    /// [`Error::Shape`] when the input has the wrong channel count or is too small.
    pub fn forward_portable<T: Tape<E, D>>(&self, x: Act<E, D, T>) -> Result<Act<E, D, T>> {
        let x = self.check_input(x)?;
        let b = x.b;
        let (cols, oh, ow) = im2col(x, self.k, self.stride, self.padding, &self.indices)?;
        let kkc = self.k * self.k * self.c_in;
        let cols = cols.try_reshape_like(&(b * oh * ow, kkc)).map_err(dev_err)?; // [N', k·k·C_in]
        let w = self.weight.retaped::<T>().try_reshape_like(&(kkc, self.c_out)).map_err(dev_err)?;
        let mut y = cols.try_matmul(w).map_err(dev_err)?; // [N', C_out]
        if let Some(bias) = &self.bias {
            let shape = *y.shape();
            y = y.try_add(bias.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?).map_err(dev_err)?;
        }
        Ok(Act { t: y, b, h: oh, w: ow })
    }
}

impl<E: Dtype, D: Storage<E>> Conv2d<E, D> {
    /// Returns `x` if it has `c_in` channels.
    pub(crate) fn check_input<T>(&self, x: Act<E, D, T>) -> Result<Act<E, D, T>> {
        let c = x.t.shape().1;
        if c != self.c_in {
            return Err(Error::Shape(format!("conv expects {} input channels, got {c}", self.c_in)));
        }
        Ok(x)
    }
}

impl<E: Dtype, D: ConvDevice<E>> Conv2d<E, D> {
    /// Applies the convolution through the device's route ([`ConvDevice`]): on `Cpu` the
    /// fused op (direct kernels or im2col + GEMM, see [`crate::model::ConvKernels`]),
    /// elsewhere [`Conv2d::forward_portable`].
    ///
    /// # Errors
    /// [`Error::Shape`] when the input has the wrong channel count or is too small.
    pub fn forward<T: Tape<E, D>>(&self, x: Act<E, D, T>) -> Result<Act<E, D, T>> {
        D::conv2d(self, x)
    }
}

crate::weight_bias_params!(Conv2d);

/// Batch normalisation over `[B·H·W, C]` per channel, with running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm<E: Dtype, D: Storage<E>> {
    /// Scale γ `[C]`, starts at 1.
    pub gamma: Vector<E, D>,
    /// Shift β `[C]`, starts at 0.
    pub beta: Vector<E, D>,
    /// Running mean `[C]` (buffer).
    pub running_mean: Vector<E, D>,
    /// Running unbiased variance `[C]` (buffer).
    pub running_var: Vector<E, D>,
    /// Weight of the new batch in the running statistics (PyTorch convention, 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl<E: Dtype, D: Device<E>> BatchNorm<E, D> {
    /// Momentum of the running statistics (PyTorch's default).
    pub const MOMENTUM: f64 = 0.1;
    /// Variance epsilon (TF's `batch_normalization` default).
    pub const EPS: f64 = 1e-3;

    /// γ = 1, β = 0, running mean 0, running variance 1.
    pub fn new(dev: &D, c: usize) -> Self {
        BatchNorm {
            gamma: vector(dev, vec![1.0; c]),
            beta: vector(dev, vec![0.0; c]),
            running_mean: vector(dev, vec![0.0; c]),
            running_var: vector(dev, vec![1.0; c]),
            momentum: Self::MOMENTUM,
            eps: Self::EPS,
        }
    }

    /// y = γ (x − μ)/sqrt(σ² + ε) + β composed of dfdx ops (any device), with batch
    /// statistics (training: the running statistics are updated) or running statistics
    /// (evaluation). The reference route for the CPU fast path.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong channel count, or fewer than 2 rows in training.
    pub fn forward_portable<T: Tape<E, D>>(&mut self, x: Act<E, D, T>, mode: Mode) -> Result<Act<E, D, T>> {
        let x = self.check_input(x, mode)?;
        let eps = e::<E>(self.eps);
        x.map(|t| {
            let shape = *t.shape(); // [N, C]
            let n = shape.0;
            let (centered, std) = match mode {
                Mode::Train => {
                    // The taped `mean` and `var` must flow on: their tapes hold the backward
                    // ops to x; only detached copies go into the running statistics.
                    let mean = t.retaped::<T>().try_mean::<(usize,), Axis<0>>().map_err(dev_err)?; // [C]
                    let batch_mean = mean.retaped::<NoneTape>();
                    let centered = t.try_sub(mean.try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?).map_err(dev_err)?; // [N, C]
                    let var = centered.retaped::<T>().try_square().map_err(dev_err)?.try_mean::<(usize,), Axis<0>>().map_err(dev_err)?; // [C]
                    let batch_var = var.retaped::<NoneTape>();
                    // Running statistics: unbiased variance (as PyTorch).
                    let m = e::<E>(self.momentum);
                    let keep = e::<E>(1.0 - self.momentum);
                    let unbias = e::<E>(n as f64 / (n as f64 - 1.0));
                    self.running_mean = (self.running_mean.clone() * keep).try_add(batch_mean * m).map_err(dev_err)?;
                    self.running_var = (self.running_var.clone() * keep).try_add(batch_var * (m * unbias)).map_err(dev_err)?;
                    let std = (var + eps).try_sqrt().map_err(dev_err)?;
                    (centered, std.try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?)
                }
                Mode::Eval => {
                    let mean = self.running_mean.clone().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?;
                    let std = (self.running_var.clone() + eps).try_sqrt().map_err(dev_err)?;
                    let centered = t.try_sub(mean).map_err(dev_err)?;
                    (centered, std.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?)
                }
            };
            let xhat = centered.try_div(std).map_err(dev_err)?;
            let g = self.gamma.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?;
            let bta = self.beta.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?;
            xhat.try_mul(g).map_err(dev_err)?.try_add(bta).map_err(dev_err)
        })
    }
}

impl<E: Dtype, D: Storage<E>> BatchNorm<E, D> {
    /// Returns `x` if it has the right channel count (and ≥ 2 rows in training).
    pub(crate) fn check_input<T>(&self, x: Act<E, D, T>, mode: Mode) -> Result<Act<E, D, T>> {
        let c = self.gamma.shape().0;
        let (n, xc) = *x.t.shape();
        if xc != c {
            return Err(Error::Shape(format!("batch norm expects {c} channels, got {xc}")));
        }
        if mode == Mode::Train && n < 2 {
            return Err(Error::Shape(format!("batch norm in training needs at least 2 values per channel, got {n}")));
        }
        Ok(x)
    }
}

impl<E: Dtype, D: Storage<E>> HasParams<E, D> for BatchNorm<E, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &Vector<E, D>)) {
        f(&join(prefix, "gamma"), ParamKind::Trainable, &self.gamma);
        f(&join(prefix, "beta"), ParamKind::Trainable, &self.beta);
        f(&join(prefix, "running_mean"), ParamKind::Buffer, &self.running_mean);
        f(&join(prefix, "running_var"), ParamKind::Buffer, &self.running_var);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &mut Vector<E, D>)) {
        f(&join(prefix, "gamma"), ParamKind::Trainable, &mut self.gamma);
        f(&join(prefix, "beta"), ParamKind::Trainable, &mut self.beta);
        f(&join(prefix, "running_mean"), ParamKind::Buffer, &mut self.running_mean);
        f(&join(prefix, "running_var"), ParamKind::Buffer, &mut self.running_var);
    }
}

/// Per-channel PReLU: y = max(0, x) + α_c·min(0, x).
#[derive(Clone, Debug)]
pub struct PRelu<E: Dtype, D: Storage<E>> {
    /// Slopes α `[C]`.
    pub alpha: Vector<E, D>,
}

impl<E: Dtype, D: Device<E>> PRelu<E, D> {
    /// Initial slope, Caffe's and PyTorch's default (the seed started at 0).
    pub const ALPHA0: f64 = 0.25;

    /// All slopes [`Self::ALPHA0`].
    pub fn new(dev: &D, c: usize) -> Self {
        PRelu { alpha: vector(dev, vec![Self::ALPHA0; c]) }
    }

    /// Applies PReLU, computed as relu(x) − α·relu(−x).
    pub fn forward<T: Tape<E, D>>(&self, x: Act<E, D, T>) -> Result<Act<E, D, T>> {
        let c = self.alpha.shape().0;
        if x.channels() != c {
            return Err(Error::Shape(format!("PReLU expects {c} channels, got {}", x.channels())));
        }
        x.map(|t| {
            let shape = *t.shape();
            let neg = t.retaped::<T>().try_negate().map_err(dev_err)?.try_relu().map_err(dev_err)?;
            let a = self.alpha.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&shape).map_err(dev_err)?;
            t.try_relu().map_err(dev_err)?.try_sub(neg.try_mul(a).map_err(dev_err)?).map_err(dev_err)
        })
    }
}

impl<E: Dtype, D: Storage<E>> HasParams<E, D> for PRelu<E, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &Vector<E, D>)) {
        f(&join(prefix, "alpha"), ParamKind::Trainable, &self.alpha);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &mut Vector<E, D>)) {
        f(&join(prefix, "alpha"), ParamKind::Trainable, &mut self.alpha);
    }
}

/// ReLU on an activation.
pub fn relu<E: Dtype, D: Device<E>, T: Tape<E, D>>(x: Act<E, D, T>) -> Result<Act<E, D, T>> {
    x.map(|t| t.try_relu().map_err(dev_err))
}

/// Fully connected layer: y = x W + b, W `[in, out]`.
#[derive(Clone, Debug)]
pub struct Linear<E: Dtype, D: Storage<E>> {
    /// Flat weight `[in, out]` row-major.
    pub weight: Vector<E, D>,
    /// Bias `[out]`, if any.
    pub bias: Option<Vector<E, D>>,
    /// Input features.
    pub n_in: usize,
    /// Output features.
    pub n_out: usize,
}

impl<E: Dtype, D: Device<E>> Linear<E, D> {
    /// A linear layer with weights from `init` (e.g. [`super::params::xavier_uniform`]) and zero bias.
    pub fn new(dev: &D, rng: &mut Rng, n_in: usize, n_out: usize, bias: bool, init: fn(&mut Rng, usize, usize, usize) -> Vec<f64>) -> Self {
        Linear {
            weight: vector(dev, init(rng, n_in * n_out, n_in, n_out)),
            bias: bias.then(|| vector(dev, vec![0.0; n_out])),
            n_in,
            n_out,
        }
    }

    /// `[B, in] → [B, out]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the input width is not `n_in`.
    pub fn forward<T: Tape<E, D>>(&self, x: Tensor<(usize, usize), E, D, T>) -> Result<Tensor<(usize, usize), E, D, T>> {
        let (b, n) = *x.shape();
        if n != self.n_in {
            return Err(Error::Shape(format!("linear layer expects {} inputs, got {n}", self.n_in)));
        }
        let w = self.weight.retaped::<T>().try_reshape_like(&(self.n_in, self.n_out)).map_err(dev_err)?;
        let y = x.try_matmul(w).map_err(dev_err)?;
        match &self.bias {
            Some(bias) => y.try_add(bias.retaped::<T>().try_broadcast_like::<_, Axis<0>>(&(b, self.n_out)).map_err(dev_err)?).map_err(dev_err),
            None => Ok(y),
        }
    }
}

crate::weight_bias_params!(Linear);
