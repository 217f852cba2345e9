//! What can go wrong while loading, checking or splitting MNIST: every malformed input
//! becomes a [`DataError`] whose message names the file and the numbers involved.

use std::io;
use std::path::PathBuf;

use super::idx::{IMAGES_MAGIC, LABELS_MAGIC};
use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Everything that can go wrong while loading, checking or splitting MNIST data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// None of the accepted file names exists in the data directory.
    #[error("MNIST file missing in {}: looked for {}", .dir.display(), .names.join(" and "))]
    Missing {
        /// Directory that was searched.
        dir: PathBuf,
        /// File names looked for, in order of preference.
        names: Vec<String>,
    },
    /// Reading the file failed at the operating-system level.
    #[error("{}: I/O error: {source}", .path.display())]
    Io {
        /// File being read.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// The gzip stream is corrupt or ends early.
    #[error(
        "{}: corrupt or truncated gzip stream (failed after {decoded} decompressed bytes): {source}",
        .path.display()
    )]
    Gzip {
        /// Compressed file.
        path: PathBuf,
        /// Bytes decompressed successfully before the failure.
        decoded: usize,
        /// Underlying decoder error.
        source: io::Error,
    },
    /// The file (on disk, or after decompression) exceeds [`MAX_FILE_BYTES`](super::MAX_FILE_BYTES).
    #[error(
        "{}: more than {limit} bytes {what}; refusing to read it (not an MNIST file, or a gzip bomb?)",
        .path.display()
    )]
    TooLarge {
        /// Offending file.
        path: PathBuf,
        /// The size limit in bytes.
        limit: u64,
        /// Where the limit was exceeded: `"on disk"` or `"after gzip decompression"`.
        what: &'static str,
    },
    /// The IDX magic number is not the expected one.
    #[error(
        "{}: bad magic number for an IDX {kind} file: expected {expected:#010x}, found {found:#010x}{}",
        .path.display(),
        magic_hint(*.expected, *.found)
    )]
    BadMagic {
        /// Offending file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Magic number required.
        expected: u32,
        /// Magic number read.
        found: u32,
    },
    /// The file is shorter than its fixed-size header.
    #[error(
        "{}: IDX {kind} file too short for its header: expected at least {expected} bytes, found {found}",
        .path.display()
    )]
    ShortHeader {
        /// Offending file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Header size in bytes.
        expected: usize,
        /// File size in bytes.
        found: usize,
    },
    /// The file holds fewer bytes than its header promises.
    #[error(
        "{}: truncated IDX {kind} file: header says {count} {kind}, so expected {expected} bytes, found {found}",
        .path.display()
    )]
    Truncated {
        /// Offending file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Item count from the header.
        count: u32,
        /// File size implied by the header, in bytes.
        expected: u64,
        /// Actual (decompressed) file size, in bytes.
        found: u64,
    },
    /// The file holds more bytes than its header promises.
    #[error(
        "{}: {} unexpected trailing byte(s) in IDX {kind} file: header says {count} {kind}, so expected {expected} bytes, found {found}",
        .path.display(),
        .found - .expected
    )]
    TrailingBytes {
        /// Offending file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        kind: &'static str,
        /// Item count from the header.
        count: u32,
        /// File size implied by the header, in bytes.
        expected: u64,
        /// Actual (decompressed) file size, in bytes (always greater than `expected`).
        found: u64,
    },
    /// An images file and its labels file disagree on the number of items.
    #[error(
        "image/label count mismatch: {} holds {images} images but {} holds {labels} labels",
        .images_path.display(),
        .labels_path.display()
    )]
    CountMismatch {
        /// Images file.
        images_path: PathBuf,
        /// Number of images in it.
        images: usize,
        /// Labels file.
        labels_path: PathBuf,
        /// Number of labels in it.
        labels: usize,
    },
    /// A label is not a digit `0..=9`.
    #[error(
        "{}: label {index} is {value}, but labels must be 0..={}",
        .path.display(),
        NUM_CLASSES - 1
    )]
    BadLabel {
        /// Labels file.
        path: PathBuf,
        /// 0-based position of the label.
        index: usize,
        /// Label value read.
        value: u8,
    },
    /// The images are not 28x28.
    #[error(
        "{}: images are {rows}x{cols} (rows x cols), expected {IMAGE_SIDE}x{IMAGE_SIDE}",
        .path.display()
    )]
    BadImageSize {
        /// Images file.
        path: PathBuf,
        /// Rows from the header.
        rows: u32,
        /// Columns from the header.
        cols: u32,
    },
    /// A file's SHA-256 differs from the expected one.
    #[error("{}: SHA-256 mismatch: expected {expected}, found {found}", .path.display())]
    Checksum {
        /// Checked file.
        path: PathBuf,
        /// Expected hex digest.
        expected: String,
        /// Hex digest of the file.
        found: String,
    },
    /// A split point leaves no item for the second part.
    #[error("cannot split {what}: it has {len} items, but taking the first {n} needs more than {n} so that the rest is not empty")]
    Split {
        /// What was being split.
        what: &'static str,
        /// Requested size of the first part.
        n: usize,
        /// Number of items available.
        len: usize,
    },
    /// A [`Split`](super::Split) whose pixel buffer does not match its label count.
    #[error(
        "inconsistent split: {pixels} pixel bytes for {labels} labels, expected {labels} x {IMAGE_PIXELS} = {}",
        .labels.saturating_mul(IMAGE_PIXELS)
    )]
    Inconsistent {
        /// Length of `images`.
        pixels: usize,
        /// Length of `labels`.
        labels: usize,
    },
    /// Invalid [`Sampler`](super::Sampler) parameters.
    #[error("invalid sampler: batch size {batch} must be between 1 and the number of items ({n})")]
    BadSampler {
        /// Number of items.
        n: usize,
        /// Requested batch size.
        batch: usize,
    },
}

/// Extra words for a [`DataError::BadMagic`] message when the found magic is recognisable.
fn magic_hint(expected: u32, found: u32) -> &'static str {
    if expected == IMAGES_MAGIC && found == LABELS_MAGIC {
        " (this looks like an IDX labels file given where an images file was expected)"
    } else if expected == LABELS_MAGIC && found == IMAGES_MAGIC {
        " (this looks like an IDX images file given where a labels file was expected)"
    } else if found >> 16 == 0x1f8b {
        " (this looks like gzip data; give the file a .gz suffix)"
    } else {
        ""
    }
}
