//! The crate's error type: every public function returns [`Result`] instead of panicking,
//! with a message that names the file, field or value involved.

use std::fmt;

use crate::data::DataError;

/// Errors of this crate: every public function returns them instead of panicking.
#[derive(Debug)]
pub enum Error {
    /// The data directory or one of its files is unusable.
    Data(DataError),
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

impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        Error::Data(e)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Converts a dfdx device error into [`Error::Device`].
pub(crate) fn dev_err<X: fmt::Debug>(e: X) -> Error {
    Error::Device(format!("{e:?}"))
}

