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
    /// A batch given to a head that it cannot take: empty, labels that do not match it,
    /// embeddings that are not finite.
    Input(InputError),
    /// A loss that is NaN or infinite although its inputs were finite (values too large
    /// for the dtype, usually after a learning rate that was too high).
    NonFiniteLoss {
        /// The training step the loss was computed for.
        step: u64,
        /// The loss value.
        loss: f64,
    },
    /// Trainable tensors that the loss did not reach: the optimizer would leave them as they
    /// are. Names as the model's parameter names (`head.weight`, `1.weight`, …).
    MissingGradient {
        /// The tensors without a gradient.
        names: Vec<String>,
        /// How the gradients were probably lost, and what to do.
        hint: &'static str,
    },
    /// A checkpoint that cannot be read back: not one, truncated, or another model's.
    Checkpoint {
        /// The file, when known.
        path: Option<std::path::PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
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
    /// An open-set setting or file is unusable (the known digits, a pairs file, a run
    /// with nothing unknown).
    OpenSet(OpenSetError),
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
            Error::Input(e) => write!(f, "{e}"),
            Error::NonFiniteLoss { step, loss } => write!(f, "the loss at step {step} is {loss} although the embeddings are finite: values too large for the dtype (try a lower learning rate)"),
            Error::MissingGradient { names, hint } => write!(f, "no gradient for {}: the optimizer would leave {} unchanged; {hint}", names.join(", "), if names.len() == 1 { "it" } else { "them" }),
            Error::Checkpoint { path: Some(p), reason } => write!(f, "{}: not a usable checkpoint: {reason}", p.display()),
            Error::Checkpoint { path: None, reason } => write!(f, "not a usable checkpoint: {reason}"),
            Error::Device(m) => write!(f, "device error: {m}"),
            Error::Plot(m) => write!(f, "drawing failed: {m}"),
            Error::Diverged { step, loss } => write!(
                f,
                "training diverged at step {step}: the loss is {loss}; nothing was updated and the last checkpoint is kept \
                 (try a lower learning rate, or the caffe lambda schedule for the angular loss)"
            ),
            Error::Interrupted { step } => write!(f, "interrupted after step {step}; the checkpoint is saved: rerun the same command with --resume to continue"),
            Error::OpenSet(e) => write!(f, "{e}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Data(e) => Some(e),
            Error::OpenSet(e) => Some(e),
            Error::Input(e) => Some(e),
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

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        Error::Input(e)
    }
}

impl From<OpenSetError> for Error {
    fn from(e: OpenSetError) -> Self {
        Error::OpenSet(e)
    }
}

/// What is wrong with a batch given to a head: each case its own variant, its message
/// naming the value and where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// No embeddings at all.
    #[error("empty batch: a head needs at least one embedding and its label")]
    EmptyBatch,
    /// A label count that is not the batch size.
    #[error("{labels} labels for a batch of {batch} embeddings: give one label per row")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Rows of the embeddings.
        batch: usize,
    },
    /// A label that is not a class of the head.
    #[error("label {label} (row {row}) is out of range: the head has {classes} classes, labels 0..{classes}")]
    LabelOutOfRange {
        /// The row of the batch.
        row: usize,
        /// The label given.
        label: usize,
        /// The head's class count.
        classes: usize,
    },
    /// An embedding value that is NaN or infinite.
    #[error("embedding row {row}, column {col} is {value}: the network before the head produced a non-finite value")]
    NonFiniteEmbedding {
        /// Row of the batch.
        row: usize,
        /// Component.
        col: usize,
        /// The value.
        value: f64,
    },
}

/// What is wrong with an open-set setting or file: each case its own variant, its message
/// naming the value, file and line involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenSetError {
    /// `--known` is not a comma-separated list of digits.
    #[error("known digits: {text:?} is not a comma-separated list of digits (e.g. 2,4,5,9,8,3)")]
    KnownNotDigits {
        /// The text given.
        text: String,
    },
    /// A known digit outside 0–9.
    #[error("known digits: {digit} is not a digit (0-9)")]
    KnownOutOfRange {
        /// The value given.
        digit: i64,
    },
    /// A digit listed twice.
    #[error("known digits: {digit} is listed twice")]
    KnownRepeated {
        /// The repeated digit.
        digit: u8,
    },
    /// Fewer than two known digits: nothing to classify.
    #[error("known digits: at least 2 are needed to train a classifier, got {count}")]
    KnownTooFew {
        /// How many were given.
        count: usize,
    },
    /// All ten digits known: nothing would be unknown.
    #[error("known digits: all ten digits are listed, so nothing would be unknown; leave out --known to train on all ten")]
    KnownAll,
    /// Open-set evaluation of a run that was trained on all ten digits.
    #[error("{run}: trained on all ten digits (its config.json has no \"known\" digits), so no test digit is unknown to it; train with --known to evaluate open-set recognition")]
    NothingUnknown {
        /// The run directory.
        run: String,
    },
    /// A pairs file ends before the pairs its first line announces.
    #[error("{path}: truncated pairs file: its first line announces {expected} pairs ({folds} folds of {per_fold}), found {found}")]
    PairsTruncated {
        /// The file.
        path: String,
        /// Pairs announced.
        expected: usize,
        /// Folds announced.
        folds: usize,
        /// Pairs per fold announced.
        per_fold: usize,
        /// Pairs found.
        found: usize,
    },
    /// A line of a pairs file cannot be read.
    #[error("{path}: line {line}: {reason}")]
    PairsMalformed {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A pairs file that does not fit the data or the run: an index whose test image has
    /// another digit, a digit the run knows, more pairs than announced.
    #[error("{path}: line {line}: {reason}")]
    PairsMismatch {
        /// The file.
        path: String,
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What does not match.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Converts a dfdx device error into [`Error::Device`].
pub(crate) fn dev_err<X: fmt::Debug>(e: X) -> Error {
    Error::Device(format!("{e:?}"))
}

