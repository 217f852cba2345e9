//! SphereFace (A-Softmax, arXiv 1704.08063) on MNIST in [dfdx] on stable Rust.
//!
//! A reimplementation of the TensorFlow repository YunYang1994/SphereFace: the
//! networks (`mnist4`, `sphere20`), the three softmax heads (original, modified and
//! angular), MNIST loading and the parameter/optimizer plumbing needed to train them.
//!
//! dfdx 0.13 has no convolution or pooling on stable Rust, so [`layers`] builds them
//! from stable tensor ops (an im2col through `gather`, then one matmul). Activations
//! are kept as `[B·H·W, C]` matrices (NHWC order) with their spatial size beside them.
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
//! let head = Head::<f32, Cpu>::new(LossKind::angular(4, LambdaSchedule::caffe())?, 2, &dev, &mut rng)?;
//! let images: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(3, 784));
//! let x = net.forward(images.leaky_traced(), Mode::Train)?; // [3, 2]
//! let out = head.forward(x, &[1, 7, 3], 0)?;
//! assert!(out.loss.array().is_finite());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod fast;
pub mod heads;
pub mod io;
pub mod layers;
pub mod net;
pub mod optim;
pub mod params;
pub mod viz;
pub mod figures;
pub mod report;
pub mod train;

pub use dfdx;
/// polars, re-exported for notebooks that work with [`report::Table`]s.
#[cfg(feature = "table")]
pub use polars;

use std::fmt;

/// Random number generator used for every initialisation and shuffle (seeded, portable).
pub type Rng = rand::rngs::StdRng;

/// Errors of this crate: every public function returns them instead of panicking.
#[derive(Debug)]
pub enum Error {
    /// The data directory or one of its files is unusable.
    Data(data::DataError),
    /// A configuration value is out of range; the message names the field and the value.
    Config(String),
    /// Tensors or inputs of the wrong size; the message gives the dimensions.
    Shape(String),
    /// The device failed (out of memory, CUDA error).
    Device(String),
    /// A figure could not be drawn or written.
    Plot(String),
    /// The training loss became NaN or infinite; the run stopped, its last checkpoint kept.
    Diverged {
        /// The step whose loss was not finite.
        step: u64,
        /// The loss value.
        loss: f64,
    },
    /// The run was asked to stop (Ctrl-C); its checkpoint was saved first.
    Interrupted {
        /// Steps completed and saved.
        step: u64,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file involved.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Data(e) => write!(f, "{e}"),
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::Shape(m) => write!(f, "shape mismatch: {m}"),
            Error::Device(m) => write!(f, "device error: {m}"),
            Error::Plot(m) => write!(f, "drawing failed: {m}"),
            Error::Diverged { step, loss } => write!(
                f,
                "training diverged at step {step}: the loss is {loss}; nothing was updated and the last checkpoint is kept \
                 (try a lower learning rate, or the caffe lambda schedule for the angular loss)"
            ),
            Error::Interrupted { step } => write!(f, "interrupted after step {step}; the checkpoint is saved: rerun the same command with --resume to continue"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Data(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<data::DataError> for Error {
    fn from(e: data::DataError) -> Self {
        Error::Data(e)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Converts a dfdx device error into [`Error::Device`].
pub(crate) fn dev_err<X: fmt::Debug>(e: X) -> Error {
    Error::Device(format!("{e:?}"))
}

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

/// Everything a user of the crate usually needs, plus dfdx's prelude.
pub mod prelude {
    pub use crate::data::{Mnist, Sampler, Split};
    pub use crate::fast::ConvDevice;
    pub use crate::heads::{psi, Head, HeadOutput, LambdaSchedule, LossKind};
    pub use crate::layers::{Act, Mode, Padding};
    pub use crate::net::{NetKind, Network};
    pub use crate::optim::{Adam, AdamConfig};
    pub use crate::params::{HasParams, ParamKind};
    pub use crate::train::{Metrics, Protocol, RunDir, StepRecord, TrainConfig, Trainer};
    pub use crate::{Error, Rng};
    pub use dfdx::prelude::*;
    pub use rand::SeedableRng;
}
