//! SphereFace (A-Softmax, arXiv 1704.08063) on MNIST in [dfdx] on stable Rust.
//!
//! A reimplementation of the TensorFlow repository YunYang1994/SphereFace: the networks
//! (`mnist4`, `sphere20`) and the heads (original, modified and angular softmax, and
//! CosFace and ArcFace beside them) in [`model`], MNIST in [`data`], training and
//! evaluation in [`train`], the results table in [`report`]; figures in `viz` and
//! `figures` (feature `plot`), polars tables (feature `table`) and the `sphereface` command
//! (feature `cli`). `docs/ARCHITECTURE.md` maps the modules.
//!
//! dfdx 0.13 has no convolution on stable Rust, so [`model::layers`] builds it from stable
//! tensor ops (an im2col through `gather`, then one matmul), with a fused CPU fast path
//! (direct convolutions with AVX-512 / AVX2 kernels chosen at run time, im2col + GEMM for
//! layers with large weights).
//! Activations are kept as `[B·H·W, C]` matrices (NHWC order) with their spatial size.
//!
//! # Examples
//!
//! ```
//! use sphereface_core::prelude::*;
//!
//! # fn main() -> Result<(), sphereface_core::Error> {
//! let dev = Cpu::default();
//! let mut rng = Rng::seed_from_u64(0);
//! let mut net = Network::<f32, Cpu>::new(NetKind::Mnist4, 2, &dev, &mut rng)?;
//! let head = Head::<f32, Cpu>::new(LossKind::angular(4, LambdaSchedule::caffe())?, 2, 10, &dev, &mut rng)?;
//! let images: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(3, 784));
//! let x = net.forward(images.leaky_traced(), Mode::Train)?; // [3, 2]
//! let out = head.forward(x, &[1, 7, 3], 0)?;
//! assert!(out.loss.array().is_finite());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod data;
mod error;
pub mod io;
pub mod model;
pub mod openset;
pub mod optim;
pub mod report;
pub mod rng;
pub mod train;

#[cfg(feature = "plot")]
pub mod figures;
#[cfg(feature = "plot")]
pub mod viz;

pub use dfdx;
pub use error::{Error, InputError, OpenSetError, Result};
pub(crate) use error::dev_err;
/// polars, re-exported for notebooks that work with [`report::Table`]s.
#[cfg(feature = "table")]
pub use polars;
pub use rng::Rng;

/// Height and width of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels of one MNIST image (`IMAGE_SIDE²`); images are rows of this many values.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes (labels are `0..NUM_CLASSES`).
pub const NUM_CLASSES: usize = 10;

/// Makes glibc keep large freed blocks instead of returning them to the system: the
/// im2col matrices and activations of every training step come and go, and glibc would
/// map and unmap them each time. Halves the step time of `mnist4` on the 2-core sandbox
/// (measured, docs/PERFORMANCE.md). The `sphereface` command calls it first thing; call it
/// before training from your own program or notebook. Does nothing on other platforms or
/// when the environment variable `SPHEREFACE_MALLOC_DEFAULT` is set (for before/after
/// measurements).
pub fn tune_allocator() {
    if std::env::var_os("SPHEREFACE_MALLOC_DEFAULT").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters (glibc takes its own lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// docs/LIBRARY.md's Rust example (the heads in your own dfdx model), run as a doctest.
#[doc = include_str!("../../docs/LIBRARY.md")]
#[cfg(doctest)]
pub struct LibraryDoctests;

/// Everything a user of the crate usually needs, plus dfdx's prelude (no name here is one of
/// dfdx's: the optimizer choice is [`OptimizerKind`](crate::optim::OptimizerKind), not
/// dfdx's `Optimizer` trait).
pub mod prelude {
    pub use crate::data::{Mnist, Sampler, Split};
    pub use crate::model::{psi, Act, ConvDevice, HasParams, Head, HeadModule, HeadOutput, LambdaSchedule, LossKind, Mode, NetKind, Network, Padding, ParamKind};
    pub use crate::optim::{OptimConfig, OptimizerKind, OptimizerState};
    pub use crate::train::{Metrics, Protocol, RunDir, StepRecord, TrainConfig, Trainer};
    pub use crate::{Error, Rng};
    pub use dfdx::prelude::*;
    pub use rand::SeedableRng;
}
