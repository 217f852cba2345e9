//! The CPU fast path: [`ConvDevice`] for dfdx's `Cpu`, with the convolution and the
//! `mnist4` block conv → batch norm → ReLU as single ops on the tape whose intermediate
//! values stay host vectors ([`conv`], [`batch_norm`]), our own GEMMs ([`gemm`]), im2col on
//! the in-image taps only for small images with a wide zero border ([`taps`]), stride-1 3×3
//! layers by Winograd's minimal filtering ([`winograd`]) in training where it saves more
//! than half the products, and for evaluation the `mnist4` body with batch norm folded into
//! the convolutions ([`eval`]), its stride-1 layer by Winograd too.
//! Other devices use the portable composition of dfdx ops ([`Conv2d::forward_portable`],
//! [`BatchNorm::forward_portable`]); the tests check that both routes agree in values and
//! gradients.

use dfdx::prelude::*;

use crate::model::layers::{Act, BatchNorm, Conv2d, ConvDevice, Mode, PRelu};
use crate::Result;

pub use direct::{conv_kernels, conv_route_description, fma_peak_gflops, with_conv_kernels, ConvKernels, Isa};

mod batch_norm;
mod conv;
mod direct;
mod eval;
mod gemm;
mod taps;
mod winograd;

macro_rules! cpu_fast_path {
    ($($e:ty),*) => {$(
        impl ConvDevice<$e> for Cpu {
            fn conv2d<T: Tape<$e, Self>>(conv: &Conv2d<$e, Self>, x: Act<$e, Self, T>) -> Result<Act<$e, Self, T>> {
                conv::conv2d_cpu(conv, x)
            }
            fn conv_bn_relu<T: Tape<$e, Self>>(conv: &Conv2d<$e, Self>, bn: &mut BatchNorm<$e, Self>, x: Act<$e, Self, T>, mode: Mode) -> Result<Act<$e, Self, T>> {
                conv::conv_bn_relu_cpu(conv, bn, x, mode)
            }
            fn conv_prelu<T: Tape<$e, Self>>(conv: &Conv2d<$e, Self>, act: &PRelu<$e, Self>, x: Act<$e, Self, T>) -> Result<Act<$e, Self, T>> {
                conv::conv_prelu_cpu(conv, act, x)
            }
            fn conv_bn_relu_stack_eval(blocks: &[(&Conv2d<$e, Self>, &BatchNorm<$e, Self>)], x: &Act<$e, Self, NoneTape>) -> Result<Option<Act<$e, Self, NoneTape>>> {
                eval::conv_bn_relu_stack_eval(blocks, x).map(Some)
            }
        }
    )*};
}
cpu_fast_path!(f32, f64);

#[cfg(feature = "cuda")]
impl ConvDevice<f32> for dfdx::tensor::Cuda {}
#[cfg(feature = "cuda")]
impl ConvDevice<f64> for dfdx::tensor::Cuda {}

/// The values of a contiguous CPU tensor as a vector (one memcpy; dfdx's `as_vec` walks a
/// strided index per element).
pub(super) fn host<S: Shape, E: Dtype, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    let mut v = vec![E::default(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}


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

use finished_grad;
