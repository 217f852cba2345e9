//! MNIST loading: IDX parsing (plain or gzip), checksums, splits, batches and a resumable sampler.
//!
//! The four original IDX files are read from a directory, each either gzip-compressed
//! (`<name>.gz`) or plain (`<name>`). Every malformed input becomes a [`DataError`] whose
//! message names the file and the numbers involved; nothing in this module panics on file
//! contents.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::read::GzDecoder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

/// Height and width of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Number of pixels in one MNIST image (`IMAGE_SIDE * IMAGE_SIDE`).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of digit classes (labels are `0..NUM_CLASSES`).
pub const NUM_CLASSES: usize = 10;
/// Size of the validation split: the first 5,000 training images (protocol).
pub const VALIDATION_SIZE: usize = 5000;
/// Largest size accepted for one file, on disk and after gzip decompression (64 MiB).
///
/// The largest MNIST file, `train-images-idx3-ubyte`, is 47,040,016 bytes uncompressed.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Base name (without `.gz`) of the training images file.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Base name (without `.gz`) of the training labels file.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Base name (without `.gz`) of the test images file.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Base name (without `.gz`) of the test labels file.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// SHA-256 of the four .gz files shipped under data/mnist (from the README table).
pub const DEFAULT_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    ),
];

/// IDX magic number of an unsigned-byte, 3-dimensional (images) file.
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic number of an unsigned-byte, 1-dimensional (labels) file.
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header length of an IDX images file: magic, count, rows, cols.
const IMAGES_HEADER: usize = 16;
/// Header length of an IDX labels file: magic, count.
const LABELS_HEADER: usize = 8;

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
    /// The file (on disk, or after decompression) exceeds [`MAX_FILE_BYTES`].
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
    /// A [`Split`] whose pixel buffer does not match its label count.
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
    /// Invalid [`Sampler`] parameters.
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

/// A set of images and labels. images.len() == labels.len() * IMAGE_PIXELS.
///
/// Image `i` is `images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]`, row-major, grey levels 0..=255.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Pixels of all images, concatenated, `IMAGE_PIXELS` bytes each.
    pub images: Vec<u8>,
    /// One label `0..NUM_CLASSES` per image.
    pub labels: Vec<u8>,
}

impl Split {
    /// Builds a split after checking `images.len() == labels.len() * IMAGE_PIXELS`.
    ///
    /// # Errors
    ///
    /// [`DataError::Inconsistent`] if the lengths do not match.
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Split, DataError> {
        let split = Split { images, labels };
        split.check()?;
        Ok(split)
    }

    /// Checks the length invariant.
    fn check(&self) -> Result<(), DataError> {
        if Some(self.images.len()) == self.labels.len().checked_mul(IMAGE_PIXELS) {
            Ok(())
        } else {
            Err(DataError::Inconsistent {
                pixels: self.images.len(),
                labels: self.labels.len(),
            })
        }
    }

    /// Number of images (the number of labels).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `IMAGE_PIXELS` pixels of image `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()` (a programmer error) or the length invariant was broken by hand.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
    }

    /// The subset with the given indices, in that order.
    ///
    /// Indices may repeat.
    ///
    /// # Panics
    ///
    /// If an index is `>= self.len()` (a programmer error).
    pub fn subset(&self, idx: &[usize]) -> Split {
        let mut images = Vec::with_capacity(idx.len() * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in idx {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Split { images, labels }
    }

    /// The first n items and the rest: Err if n >= len (message gives both numbers).
    ///
    /// # Errors
    ///
    /// [`DataError::Split`] if `n >= self.len()`; [`DataError::Inconsistent`] if the
    /// length invariant was broken by hand.
    pub fn split_at(&self, n: usize) -> Result<(Split, Split), DataError> {
        self.split_named(n, "a Split")
    }

    /// [`Split::split_at`] with a description of the split for the error message.
    fn split_named(&self, n: usize, what: &'static str) -> Result<(Split, Split), DataError> {
        self.check()?;
        if n >= self.len() {
            return Err(DataError::Split {
                what,
                n,
                len: self.len(),
            });
        }
        let (l1, l2) = self.labels.split_at(n);
        let (i1, i2) = self.images.split_at(n * IMAGE_PIXELS);
        Ok((
            Split {
                images: i1.to_vec(),
                labels: l1.to_vec(),
            },
            Split {
                images: i2.to_vec(),
                labels: l2.to_vec(),
            },
        ))
    }

    /// Pixels scaled to `[0, 1]` (x/255) as f32, row-major `[idx.len(), 784]`, and labels as usize.
    ///
    /// # Panics
    ///
    /// If an index is `>= self.len()` (a programmer error).
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let mut x = Vec::with_capacity(idx.len() * IMAGE_PIXELS);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend(self.image(i).iter().map(|&p| f32::from(p) / 255.0));
            y.push(usize::from(self.labels[i]));
        }
        (x, y)
    }

    /// Count of each label 0..9.
    ///
    /// Labels outside `0..NUM_CLASSES` (impossible for parsed data) are not counted.
    pub fn label_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        counts
    }
}

/// The MNIST training and test sets.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The 60,000 training images (validation split included).
    pub train: Split,
    /// The 10,000 test images.
    pub test: Split,
}

impl Mnist {
    /// Loads the four IDX files from `dir`.
    ///
    /// Each file may be gzip-compressed (`<name>.gz`) or plain (`<name>`); if both exist the
    /// `.gz` one is used. Any number of images is accepted (zero included), as long as each
    /// images file and its labels file agree.
    ///
    /// # Errors
    ///
    /// [`DataError::Missing`] if neither name exists for a file; [`DataError::Io`],
    /// [`DataError::Gzip`] or [`DataError::TooLarge`] if a file cannot be read; the parse
    /// errors of [`parse_images`] and [`parse_labels`]; [`DataError::CountMismatch`] if an
    /// images file and its labels file hold different numbers of items.
    pub fn load(dir: &Path) -> Result<Mnist, DataError> {
        Ok(Mnist {
            train: load_pair(dir, TRAIN_IMAGES, TRAIN_LABELS)?,
            test: load_pair(dir, TEST_IMAGES, TEST_LABELS)?,
        })
    }

    /// Loads the dataset committed in the repository, `default_data_dir()`, and first checks the SHA-256 of each .gz file against DEFAULT_SHA256.
    ///
    /// # Errors
    ///
    /// Those of [`verify_checksums`] (notably [`DataError::Checksum`]), then those of
    /// [`Mnist::load`].
    pub fn load_default() -> Result<Mnist, DataError> {
        load_checked(&default_data_dir(), &DEFAULT_SHA256)
    }

    /// Training split per protocol: (validation = first VALIDATION_SIZE, train = rest).
    ///
    /// # Errors
    ///
    /// [`DataError::Split`] when the training set has `VALIDATION_SIZE` images or fewer.
    pub fn train_validation(&self) -> Result<(Split, Split), DataError> {
        self.train_validation_sized(VALIDATION_SIZE)
    }

    /// Training split with the first `n` images held out for validation: (validation, train).
    /// `n = 0` gives an empty validation split and the whole training set.
    ///
    /// # Errors
    ///
    /// [`DataError::Split`] when the training set has `n` images or fewer.
    pub fn train_validation_sized(&self, n: usize) -> Result<(Split, Split), DataError> {
        self.train.split_named(n, "the training set into validation (its first images) and train")
    }
}

/// Verifies the checksums in `expected`, then loads `dir` with [`Mnist::load`].
fn load_checked(dir: &Path, expected: &[(&str, &str)]) -> Result<Mnist, DataError> {
    verify_checksums(dir, expected)?;
    Mnist::load(dir)
}

/// `<CARGO_MANIFEST_DIR>/../data/mnist`, the copy committed in the repository.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
        .join("mnist")
}

/// Verifies the SHA-256 of the four .gz files in dir against `expected`; Err(Checksum) naming file, expected, found.
///
/// `expected` holds `(file name, lowercase or uppercase hex digest)` pairs; each named file
/// is read from `dir`.
///
/// # Errors
///
/// [`DataError::Missing`] if a file does not exist, [`DataError::Io`] if it cannot be read,
/// [`DataError::Checksum`] on the first mismatch.
pub fn verify_checksums(dir: &Path, expected: &[(&str, &str)]) -> Result<(), DataError> {
    for &(name, hex) in expected {
        let path = dir.join(name);
        let mut file = fs::File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                DataError::Missing {
                    dir: dir.to_path_buf(),
                    names: vec![name.to_string()],
                }
            } else {
                DataError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher).map_err(|e| DataError::Io {
            path: path.clone(),
            source: e,
        })?;
        let found = to_hex(&hasher.finalize());
        if !found.eq_ignore_ascii_case(hex.trim()) {
            return Err(DataError::Checksum {
                path,
                expected: hex.to_string(),
                found,
            });
        }
    }
    Ok(())
}

/// Lowercase hex encoding of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
    Hex(bytes).to_string()
}

/// Loads one images file and its labels file from `dir` and checks that their counts agree.
fn load_pair(dir: &Path, images_name: &str, labels_name: &str) -> Result<Split, DataError> {
    let images_path = locate(dir, images_name)?;
    let labels_path = locate(dir, labels_name)?;
    let images = read_raw(&images_path, MAX_FILE_BYTES)?;
    let labels = read_raw(&labels_path, MAX_FILE_BYTES)?;
    split_from_bytes(&images, &images_path, &labels, &labels_path, MAX_FILE_BYTES)
}

/// A split from the bytes of an images file and a labels file as they are on disk: each is
/// gunzipped first when its path ends in `.gz` (at most `limit` bytes after decompression),
/// then parsed ([`parse_images`], [`parse_labels`]) and their counts compared. The paths
/// only name the files in errors and tell gzip from plain. This is what [`Mnist::load`]
/// does after reading the files, and what the fuzz target (`sphereface-core/fuzz`) feeds
/// with arbitrary bytes.
///
/// # Errors
/// Every [`DataError`] of decompression, parsing and count comparison; never a panic.
pub fn split_from_bytes(images_raw: &[u8], images_path: &Path, labels_raw: &[u8], labels_path: &Path, limit: u64) -> Result<Split, DataError> {
    let (count, images) = parse_images(&decode(images_raw, images_path, limit)?, images_path)?;
    let labels = parse_labels(&decode(labels_raw, labels_path, limit)?, labels_path)?;
    if count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    Ok(Split { images, labels })
}

/// The file's bytes, gunzipped when its name ends in `.gz` (borrowed otherwise).
fn decode<'a>(raw: &'a [u8], path: &Path, limit: u64) -> Result<std::borrow::Cow<'a, [u8]>, DataError> {
    let is_gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if is_gz { std::borrow::Cow::Owned(gunzip(raw, path, limit)?) } else { std::borrow::Cow::Borrowed(raw) })
}

/// Path of `<base>.gz` in `dir` if it exists, else of `<base>`.
fn locate(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    let gz_name = format!("{base}.gz");
    let gz = dir.join(&gz_name);
    if gz.exists() {
        return Ok(gz);
    }
    let plain = dir.join(base);
    if plain.exists() {
        return Ok(plain);
    }
    Err(DataError::Missing {
        dir: dir.to_path_buf(),
        names: vec![gz_name, base.to_string()],
    })
}

/// Reads a file whole, decompressing it if its name ends in `.gz`, at most `limit` bytes
/// on disk and after decompression.
#[cfg(test)]
fn read_file_capped(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let raw = read_raw(path, limit)?;
    Ok(decode(&raw, path, limit)?.into_owned())
}

/// Reads a file whole as it is on disk, refusing more than `limit` bytes.
fn read_raw(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let mut raw = Vec::new();
    let read = file.take(limit.saturating_add(1)).read_to_end(&mut raw);
    read.map_err(io_err)?;
    if raw.len() as u64 > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
            what: "on disk",
        });
    }
    Ok(raw)
}

/// Decompresses a gzip stream, refusing more than `limit` output bytes.
fn gunzip(compressed: &[u8], path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    let result = GzDecoder::new(compressed)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out);
    if let Err(source) = result {
        return Err(DataError::Gzip {
            path: path.to_path_buf(),
            decoded: out.len(),
            source,
        });
    }
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
            what: "after gzip decompression",
        });
    }
    Ok(out)
}

/// Big-endian `u32` at `offset`, if the bytes are there.
fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Checks the magic number, then returns the header's u32 fields after the magic.
fn header<const N: usize>(
    bytes: &[u8],
    path: &Path,
    kind: &'static str,
    magic: u32,
) -> Result<[u32; N], DataError> {
    let header_len = 4 * (N + 1);
    // The magic is checked first when present, so that a wrong file gets the clearer message.
    if let Some(found) = be_u32(bytes, 0) {
        if found != magic {
            return Err(DataError::BadMagic {
                path: path.to_path_buf(),
                kind,
                expected: magic,
                found,
            });
        }
    }
    let short = || DataError::ShortHeader {
        path: path.to_path_buf(),
        kind,
        expected: header_len,
        found: bytes.len(),
    };
    let mut fields = [0u32; N];
    for (i, f) in fields.iter_mut().enumerate() {
        *f = be_u32(bytes, 4 * (i + 1)).ok_or_else(short)?;
    }
    Ok(fields)
}

/// Checks that `bytes` has exactly `header + count * item` bytes and returns the payload.
fn payload<'a>(
    bytes: &'a [u8],
    path: &Path,
    kind: &'static str,
    count: u32,
    header_len: usize,
    item: usize,
) -> Result<&'a [u8], DataError> {
    // u64 cannot overflow: count < 2^32 and item <= 784.
    let expected = header_len as u64 + u64::from(count) * item as u64;
    let found = bytes.len() as u64;
    if found < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            kind,
            count,
            expected,
            found,
        });
    }
    if found > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            kind,
            count,
            expected,
            found,
        });
    }
    // found == expected, so the header is in range; `get` only guards against the impossible.
    bytes.get(header_len..).ok_or(DataError::ShortHeader {
        path: path.to_path_buf(),
        kind,
        expected: header_len,
        found: bytes.len(),
    })
}

/// Parses an IDX image file's bytes (already decompressed). `path` only for messages.
///
/// Returns the image count and the pixels, `count * IMAGE_PIXELS` bytes. Nothing is allocated
/// before the length implied by the header has been checked against `bytes.len()`.
///
/// # Errors
///
/// [`DataError::BadMagic`] if the magic is not `0x00000803`, [`DataError::ShortHeader`] if the
/// 16-byte header is incomplete, [`DataError::BadImageSize`] unless rows and columns are both
/// 28, [`DataError::Truncated`] or [`DataError::TrailingBytes`] if the length disagrees with
/// the header's count.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<(usize, Vec<u8>), DataError> {
    const KIND: &str = "images";
    let [count, rows, cols] = header::<3>(bytes, path, KIND, IMAGES_MAGIC)?;
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(DataError::BadImageSize {
            path: path.to_path_buf(),
            rows,
            cols,
        });
    }
    let pixels = payload(bytes, path, KIND, count, IMAGES_HEADER, IMAGE_PIXELS)?;
    // The payload exists in memory, so its item count fits in usize.
    Ok((pixels.len() / IMAGE_PIXELS, pixels.to_vec()))
}

/// Parses an IDX label file's bytes (already decompressed). `path` only for messages.
///
/// # Errors
///
/// [`DataError::BadMagic`] if the magic is not `0x00000801`, [`DataError::ShortHeader`] if the
/// 8-byte header is incomplete, [`DataError::Truncated`] or [`DataError::TrailingBytes`] if
/// the length disagrees with the header's count, [`DataError::BadLabel`] for the first label
/// outside `0..=9`.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    const KIND: &str = "labels";
    let [count] = header::<1>(bytes, path, KIND, LABELS_MAGIC)?;
    let labels = payload(bytes, path, KIND, count, LABELS_HEADER, 1)?;
    if let Some((index, &value)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= NUM_CLASSES)
    {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            value,
        });
    }
    Ok(labels.to_vec())
}

/// Deterministic, resumable batch order: every pass over n items is a fresh seeded permutation; each pass gives floor(n / batch) full batches (the tail is dropped); batch number `step` (0-based, counting across passes) is a pure function of (n, batch, seed, step), so a resumed run sees exactly the same batches.
///
/// Pass `p` is the Fisher-Yates shuffle ([`SliceRandom::shuffle`]) of `0..n` driven by
/// `StdRng::seed_from_u64(seed ^ p.wrapping_mul(0x9E3779B97F4A7C15))`; batch `step` is slice
/// `step % batches_per_pass` of pass `step / batches_per_pass`. (`StdRng` is stable within
/// rand 0.8, so the order is reproducible as long as that dependency is.) The permutation of
/// the most recent pass is cached, so consecutive steps cost O(batch).
#[derive(Debug)]
pub struct Sampler {
    /// Number of items.
    n: usize,
    /// Batch size, `1..=n`.
    batch: usize,
    /// Base seed.
    seed: u64,
    /// The last pass computed and its permutation.
    cache: Mutex<Option<(u64, Vec<usize>)>>,
}

impl Clone for Sampler {
    fn clone(&self) -> Sampler {
        Sampler {
            n: self.n,
            batch: self.batch,
            seed: self.seed,
            cache: Mutex::new(None),
        }
    }
}

impl Sampler {
    /// Creates a sampler over items `0..n` with batches of `batch` items.
    ///
    /// # Errors
    ///
    /// [`DataError::BadSampler`] if `batch == 0` or `batch > n`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Result<Sampler, DataError> {
        if batch == 0 || batch > n {
            return Err(DataError::BadSampler { n, batch });
        }
        Ok(Sampler {
            n,
            batch,
            seed,
            cache: Mutex::new(None),
        })
    }

    /// Number of full batches in one pass, `floor(n / batch)` (at least 1).
    pub fn batches_per_pass(&self) -> usize {
        self.n / self.batch
    }

    /// The permutation of `0..n` used for pass `pass`.
    pub fn permutation(&self, pass: u64) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(self.seed ^ pass.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut perm: Vec<usize> = (0..self.n).collect();
        perm.shuffle(&mut rng);
        perm
    }

    /// The item indices of batch number `step` (0-based, counting across passes).
    pub fn indices(&self, step: u64) -> Vec<usize> {
        // batches_per_pass() >= 1 because 1 <= batch <= n.
        let per_pass = self.batches_per_pass().max(1) as u64;
        let pass = step / per_pass;
        // k < per_pass, which came from a usize.
        let k = (step % per_pass) as usize;
        let start = k * self.batch;
        let end = start + self.batch;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.as_ref() {
            Some((p, _)) if *p == pass => {}
            _ => *cache = Some((pass, self.permutation(pass))),
        }
        cache
            .as_ref()
            .and_then(|(_, perm)| perm.get(start..end))
            .map(<[usize]>::to_vec)
            .unwrap_or_default()
    }
}

/// Random translation of a batch of 28×28 images (augmentation): image `i` of the batch
/// moves by `(dy, dx)`, each uniform in `-max_shift..=max_shift`, and the uncovered border
/// is filled with 0 (background). The offsets are a pure function of `(seed, step)`, so a
/// resumed run draws the same ones as an uninterrupted run. `max_shift` 0 leaves the batch
/// as it is.
pub fn shift_images(pixels: &mut [f32], max_shift: usize, seed: u64, step: u64) {
    use rand::Rng as _;
    const SIDE: usize = IMAGE_SIDE;
    if max_shift == 0 {
        return;
    }
    let s = max_shift.min(SIDE - 1) as i64;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xA5A5_5A5A_F00D_CAFE ^ step.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut src = [0.0f32; SIDE * SIDE];
    for img in pixels.chunks_exact_mut(SIDE * SIDE) {
        let dy = rng.gen_range(-s..=s);
        let dx = rng.gen_range(-s..=s);
        if dy == 0 && dx == 0 {
            continue;
        }
        src.copy_from_slice(img);
        for y in 0..SIDE as i64 {
            let row = &mut img[y as usize * SIDE..(y as usize + 1) * SIDE];
            let sy = y - dy;
            if !(0..SIDE as i64).contains(&sy) {
                row.fill(0.0);
                continue;
            }
            for (x, v) in row.iter_mut().enumerate() {
                let sx = x as i64 - dx;
                *v = if (0..SIDE as i64).contains(&sx) { src[sy as usize * SIDE + sx as usize] } else { 0.0 };
            }
        }
    }
}

/// Random small rotations and scalings of a batch of 28×28 images (augmentation), with an
/// optional translation: image `i` is rotated by an angle uniform in `±max_degrees` about the
/// image centre, scaled by a factor uniform in `1 ± max_scale` and moved by `(dy, dx)`, each
/// uniform in `±max_shift` pixels (not only whole pixels), then resampled bilinearly with 0
/// (background) outside the image. Like [`shift_images`], the draws are a pure function of
/// `(seed, step)`. All three bounds 0 leave the batch as it is.
pub fn affine_images(pixels: &mut [f32], max_degrees: f64, max_scale: f64, max_shift: usize, seed: u64, step: u64) {
    distort_images(pixels, max_degrees, max_scale, max_shift, 0.0, seed, step);
}

/// Standard deviation, in pixels, of the Gaussian that smooths the elastic displacement
/// fields of [`distort_images`] (Simard et al. 2003 use 4 on MNIST).
pub const ELASTIC_SIGMA: f64 = 4.0;

/// [`affine_images`] with an elastic distortion on top (Simard, Steinkraus & Platt, "Best
/// practices for convolutional neural networks applied to visual document analysis", ICDAR
/// 2003, §2): for each image, two fields of values uniform in [−1, 1], one per pixel, are
/// smoothed by a normalised Gaussian of standard deviation [`ELASTIC_SIGMA`] pixels (zero
/// outside the image) and multiplied by `alpha`; pixel p then reads the source at its affine
/// position plus that displacement (bilinear, 0 outside). The affine draws are the same as
/// [`affine_images`]'s and the fields come from a separate stream, so `alpha` = 0 gives exactly
/// [`affine_images`]'s batch. All a pure function of `(seed, step)`.
pub fn distort_images(pixels: &mut [f32], max_degrees: f64, max_scale: f64, max_shift: usize, alpha: f64, seed: u64, step: u64) {
    use rand::Rng as _;
    const SIDE: usize = IMAGE_SIDE;
    if max_degrees == 0.0 && max_scale == 0.0 && max_shift == 0 && alpha == 0.0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x3C6E_F372_FE94_F82B ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut field_rng = StdRng::seed_from_u64(seed ^ 0x510E_527F_ADE6_82D1 ^ step.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    let kernel = gaussian_kernel(ELASTIC_SIGMA);
    let shift = max_shift.min(SIDE - 1) as f64;
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
fn elastic_field(rng: &mut StdRng, alpha: f64, kernel: &[f64]) -> Field {
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
/// `(dy, dx)` pixels; bilinear, 0 outside. Output pixel p reads the source at
/// R(−angle) (p − centre − d) / scale + centre.
#[cfg(test)]
fn affine_one(src: &[f32; IMAGE_SIDE * IMAGE_SIDE], out: &mut [f32], angle: f64, scale: f64, dy: f64, dx: f64) {
    warp_one(src, out, angle, scale, dy, dx, None);
}

/// The affine resampling of `affine_one`, with pixel p reading the source at its affine
/// position plus `field`'s displacement at p (if given).
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
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::io::Write;

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
    fn affine_one_moves_turns_and_scales_like_the_formula() {
        let img: Vec<f32> = (0..784).map(|i| ((i * 37 % 101) as f32) / 100.0).collect();
        let src: [f32; 784] = img.clone().try_into().unwrap();
        let mut out = vec![0.0; 784];
        // Whole-pixel moves are exact translations.
        affine_one(&src, &mut out, 0.0, 1.0, 2.0, -3.0);
        assert_eq!(out, translated(&img, 2, -3));
        // A quarter turn about the centre (13.5, 13.5) maps the pixel grid onto itself:
        // out(y, x) = src(27 − x, y).
        affine_one(&src, &mut out, std::f64::consts::FRAC_PI_2, 1.0, 0.0, 0.0);
        for y in 0..28 {
            for x in 0..28 {
                assert_eq!(out[y * 28 + x], img[(27 - x) * 28 + y], "pixel ({y}, {x})");
            }
        }
        // Half-pixel move: each output is the mean of two neighbours.
        affine_one(&src, &mut out, 0.0, 1.0, 0.0, 0.5);
        for y in 0..28 {
            for x in 1..28 {
                let want = 0.5 * (img[y * 28 + x - 1] + img[y * 28 + x]);
                assert!((out[y * 28 + x] - want).abs() < 1e-6, "({y}, {x}): {} vs {want}", out[y * 28 + x]);
            }
        }
        // Scaling by 2 about the centre: output (y, x) reads source ((y − 13.5)/2 + 13.5, …).
        affine_one(&src, &mut out, 0.0, 2.0, 0.0, 0.0);
        let (y, x) = (7usize, 21usize); // source (10.25, 17.25)
        let s = |yy: usize, xx: usize| img[yy * 28 + xx];
        let want = 0.75 * (0.75 * s(10, 17) + 0.25 * s(10, 18)) + 0.25 * (0.75 * s(11, 17) + 0.25 * s(11, 18));
        assert!((out[y * 28 + x] - want).abs() < 1e-6);
    }

    #[test]
    fn affine_images_is_a_pure_function_of_seed_and_step() {
        let images: Vec<f32> = (0..6 * 784).map(|i| ((i * 53 % 97) as f32) / 96.0).collect();
        let mut same = images.clone();
        affine_images(&mut same, 0.0, 0.0, 0, 3, 7);
        assert_eq!(same, images, "all bounds 0 must leave the batch alone");
        let run = |seed, step| {
            let mut b = images.clone();
            affine_images(&mut b, 10.0, 0.1, 2, seed, step);
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
        let (ax, ay) = elastic_field(&mut StdRng::seed_from_u64(9), 34.0, &k);
        let (bx, by) = elastic_field(&mut StdRng::seed_from_u64(9), 68.0, &k);
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
    fn distort_images_adds_the_field_to_the_same_affine_draws() {
        let images: Vec<f32> = (0..4 * 784).map(|i| ((i * 53 % 97) as f32) / 96.0).collect();
        let run = |alpha, seed, step| {
            let mut b = images.clone();
            distort_images(&mut b, 10.0, 0.1, 2, alpha, seed, step);
            b
        };
        let mut affine = images.clone();
        affine_images(&mut affine, 10.0, 0.1, 2, 3, 7);
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
        distort_images(&mut only, 0.0, 0.0, 0, 34.0, 3, 7);
        assert_ne!(only, images);
    }

    #[test]
    fn shift_images_translates_each_image_within_the_bound() {
        let images: Vec<f32> = (0..8 * 784).map(|i| ((i * 37 % 101) as f32) / 100.0 + 0.01).collect();
        let mut unchanged = images.clone();
        shift_images(&mut unchanged, 0, 1, 5);
        assert_eq!(unchanged, images, "max_shift 0 must leave the batch alone");

        let mut shifted = images.clone();
        shift_images(&mut shifted, 2, 1, 5);
        let mut offsets = HashSet::new();
        for (orig, got) in images.chunks(784).zip(shifted.chunks(784)) {
            // Every pixel of the test images is nonzero, so exactly one offset matches.
            let matches: Vec<(i64, i64)> = (-2..=2).flat_map(|dy| (-2..=2).map(move |dx| (dy, dx))).filter(|&(dy, dx)| translated(orig, dy, dx) == got).collect();
            assert_eq!(matches.len(), 1, "not a translation by at most 2 pixels");
            offsets.insert(matches[0]);
        }
        assert!(offsets.len() > 1, "all eight images got the same offset {offsets:?}");

        // A pure function of (seed, step): same again, another step differs.
        let mut again = images.clone();
        shift_images(&mut again, 2, 1, 5);
        assert_eq!(again, shifted);
        let mut other = images.clone();
        shift_images(&mut other, 2, 1, 6);
        assert_ne!(other, shifted);
    }
    use tempfile::TempDir;

    /// Pixel `j` of fixture image `i`.
    fn pixel(i: usize, j: usize) -> u8 {
        ((i * 31 + j * 7) % 256) as u8
    }

    /// IDX images file bytes with `k` images of `rows x cols` and the given magic.
    fn images_file_with(k: usize, rows: u32, cols: u32, magic: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&magic.to_be_bytes());
        b.extend_from_slice(&(k as u32).to_be_bytes());
        b.extend_from_slice(&rows.to_be_bytes());
        b.extend_from_slice(&cols.to_be_bytes());
        let per = (rows * cols) as usize;
        for i in 0..k {
            b.extend((0..per).map(|j| pixel(i, j)));
        }
        b
    }

    /// A valid IDX images file with `k` 28x28 images.
    fn images_file(k: usize) -> Vec<u8> {
        images_file_with(k, 28, 28, IMAGES_MAGIC)
    }

    /// A valid IDX labels file with the given labels.
    fn labels_file_from(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    /// Fixture labels: `(i * 3 + offset) % 10`.
    fn fixture_labels(k: usize, offset: usize) -> Vec<u8> {
        (0..k).map(|i| ((i * 3 + offset) % 10) as u8).collect()
    }

    /// A valid IDX labels file with `k` labels.
    fn labels_file(k: usize) -> Vec<u8> {
        labels_file_from(&fixture_labels(k, 0))
    }

    /// Gzip-compresses `bytes`.
    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Writes `bytes` to `dir/<base>` or, compressed, to `dir/<base>.gz`; returns the path.
    fn put(dir: &Path, base: &str, bytes: &[u8], compress: bool) -> PathBuf {
        let path = if compress {
            dir.join(format!("{base}.gz"))
        } else {
            dir.join(base)
        };
        let data = if compress { gz(bytes) } else { bytes.to_vec() };
        fs::write(&path, data).unwrap();
        path
    }

    /// Writes a consistent set of four fixture files with `train` and `test` images.
    fn write_set(dir: &Path, train: usize, test: usize, compress: bool) {
        put(dir, TRAIN_IMAGES, &images_file(train), compress);
        put(
            dir,
            TRAIN_LABELS,
            &labels_file_from(&fixture_labels(train, 0)),
            compress,
        );
        put(dir, TEST_IMAGES, &images_file(test), compress);
        put(
            dir,
            TEST_LABELS,
            &labels_file_from(&fixture_labels(test, 1)),
            compress,
        );
    }

    /// The split `write_set` encodes for `k` images with label offset `offset`.
    fn expected_split(k: usize, offset: usize) -> Split {
        let images = (0..k)
            .flat_map(|i| (0..IMAGE_PIXELS).map(move |j| pixel(i, j)))
            .collect();
        Split {
            images,
            labels: fixture_labels(k, offset),
        }
    }

    /// A fixed path for parse-only tests.
    fn p(name: &str) -> PathBuf {
        PathBuf::from(format!("/fixture/{name}"))
    }

    /// Asserts that `msg` contains every needle.
    fn assert_mentions(msg: &str, needles: &[&str]) {
        for n in needles {
            assert!(msg.contains(n), "message {msg:?} does not contain {n:?}");
        }
    }

    #[test]
    fn load_plain_round_trip() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 7, 3, false);
        let m = Mnist::load(dir.path()).unwrap();
        assert_eq!(m.train, expected_split(7, 0));
        assert_eq!(m.test, expected_split(3, 1));
        assert_eq!(m.train.len(), 7);
        assert_eq!(
            m.train.image(2),
            &expected_split(7, 0).images[2 * 784..3 * 784]
        );
    }

    #[test]
    fn load_gz_round_trip() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 5, 4, true);
        let m = Mnist::load(dir.path()).unwrap();
        assert_eq!(m.train, expected_split(5, 0));
        assert_eq!(m.test, expected_split(4, 1));
    }

    #[test]
    fn load_mixed_and_empty() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 0, 2, false);
        // Replace the training labels by a gz copy: mixed plain and gz is fine.
        fs::remove_file(dir.path().join(TRAIN_LABELS)).unwrap();
        put(dir.path(), TRAIN_LABELS, &labels_file(0), true);
        let m = Mnist::load(dir.path()).unwrap();
        assert!(m.train.is_empty());
        assert_eq!(m.test.len(), 2);
    }

    #[test]
    fn gz_preferred_over_plain() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 4, 2, true);
        // Plain files with different contents (and a broken train images file) are ignored.
        write_set(dir.path(), 9, 9, false);
        fs::write(dir.path().join(TRAIN_IMAGES), b"garbage").unwrap();
        let m = Mnist::load(dir.path()).unwrap();
        assert_eq!(m.train, expected_split(4, 0));
        assert_eq!(m.test, expected_split(2, 1));
    }

    #[test]
    fn err_missing() {
        let dir = TempDir::new().unwrap();
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
        let msg = e.to_string();
        assert_mentions(
            &msg,
            &[
                &dir.path().display().to_string(),
                "train-images-idx3-ubyte.gz",
                "and train-images-idx3-ubyte",
            ],
        );
    }

    #[test]
    fn err_io() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 2, 2, true);
        // A directory where the file should be: it exists, but reading it fails.
        let bad = dir.path().join("t10k-labels-idx1-ubyte.gz");
        fs::remove_file(&bad).unwrap();
        fs::create_dir(&bad).unwrap();
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
        assert_mentions(&e.to_string(), &["t10k-labels-idx1-ubyte.gz", "I/O error"]);
    }

    #[test]
    fn err_gzip_truncated_and_garbage() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 3, 2, true);
        let path = dir.path().join("train-images-idx3-ubyte.gz");
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(matches!(e, DataError::Gzip { .. }), "{e:?}");
        assert_mentions(&e.to_string(), &["train-images-idx3-ubyte.gz", "gzip"]);

        fs::write(&path, b"this is not gzip at all").unwrap();
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(matches!(e, DataError::Gzip { decoded: 0, .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &["train-images-idx3-ubyte.gz", "after 0 decompressed"],
        );
    }

    #[test]
    fn err_gzip_bomb() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("bomb.gz");
        fs::write(&path, gz(&vec![0u8; 100_000])).unwrap();
        let e = read_file_capped(&path, 10_000).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::TooLarge {
                    limit: 10_000,
                    what: "after gzip decompression",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["bomb.gz", "10000 bytes", "decompression"]);
        // Exactly at the limit is fine.
        assert_eq!(read_file_capped(&path, 100_000).unwrap().len(), 100_000);

        let plain = dir.path().join("big-plain");
        fs::write(&plain, vec![0u8; 2_000]).unwrap();
        let e = read_file_capped(&plain, 1_000).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::TooLarge {
                    what: "on disk",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["big-plain", "1000 bytes on disk"]);
    }

    #[test]
    fn err_bad_magic_with_hints() {
        let e = parse_images(&labels_file(3), &p("imgs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadMagic {
                    expected: 0x803,
                    found: 0x801,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[
                "/fixture/imgs",
                "0x00000803",
                "0x00000801",
                "labels file given where an images",
            ],
        );

        let e = parse_labels(&images_file(1), &p("labs")).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &[
                "/fixture/labs",
                "0x00000801",
                "0x00000803",
                "images file given where a labels",
            ],
        );

        let e = parse_labels(&gz(&labels_file(2)), &p("labs")).unwrap_err();
        assert_mentions(&e.to_string(), &["/fixture/labs", "gzip data"]);

        let e = parse_images(&[1, 2, 3, 4, 0, 0, 0, 0], &p("x")).unwrap_err();
        assert_mentions(&e.to_string(), &["/fixture/x", "found 0x01020304"]);
    }

    #[test]
    fn err_short_header() {
        for len in [0, 3, 4, 15] {
            let f = images_file(0);
            let e = parse_images(&f[..len], &p("imgs")).unwrap_err();
            assert!(
                matches!(e, DataError::ShortHeader { expected: 16, .. }),
                "{len}: {e:?}"
            );
            assert_mentions(
                &e.to_string(),
                &[
                    "/fixture/imgs",
                    "expected at least 16 bytes",
                    &format!("found {len}"),
                ],
            );
        }
        let e = parse_labels(&labels_file(0)[..7], &p("labs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::ShortHeader {
                    expected: 8,
                    found: 7,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["/fixture/labs", "8 bytes", "found 7"]);
    }

    #[test]
    fn err_truncated() {
        // Header says 5 images, only 3 present.
        let mut f = images_file(5);
        f.truncate(16 + 3 * 784);
        let e = parse_images(&f, &p("imgs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Truncated {
                    count: 5,
                    expected: 3936,
                    found: 2368,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[
                "/fixture/imgs",
                "header says 5 images",
                "expected 3936 bytes",
                "found 2368",
            ],
        );

        let mut f = labels_file(10);
        f.truncate(8 + 4);
        let e = parse_labels(&f, &p("labs")).unwrap_err();
        assert!(matches!(e, DataError::Truncated { count: 10, .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &[
                "/fixture/labs",
                "header says 10 labels",
                "expected 18 bytes",
                "found 12",
            ],
        );
    }

    #[test]
    fn err_huge_count_does_not_allocate() {
        let mut f = images_file(1);
        f[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = parse_images(&f, &p("imgs")).unwrap_err();
        let expected = 16 + u64::from(u32::MAX) * 784;
        assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &[
                "header says 4294967295 images",
                &format!("expected {expected} bytes"),
                "found 800",
            ],
        );
        let mut f = labels_file(1);
        f[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let e = parse_labels(&f, &p("labs")).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e:?}");
    }

    #[test]
    fn err_trailing_bytes() {
        let mut f = images_file(2);
        f.extend_from_slice(&[0; 5]);
        let e = parse_images(&f, &p("imgs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::TrailingBytes {
                    count: 2,
                    expected: 1584,
                    found: 1589,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[
                "/fixture/imgs",
                "5 unexpected trailing byte(s)",
                "expected 1584",
                "found 1589",
            ],
        );
        let mut f = labels_file(3);
        f.push(0);
        let e = parse_labels(&f, &p("labs")).unwrap_err();
        assert!(matches!(e, DataError::TrailingBytes { .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &["/fixture/labs", "1 unexpected", "expected 11"],
        );
    }

    #[test]
    fn err_count_mismatch() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 4, 2, false);
        put(dir.path(), TEST_LABELS, &labels_file(3), false);
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    images: 2,
                    labels: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[
                "t10k-images-idx3-ubyte holds 2 images",
                "t10k-labels-idx1-ubyte holds 3 labels",
            ],
        );
    }

    #[test]
    fn err_bad_label() {
        let e = parse_labels(&labels_file_from(&[0, 9, 10, 200]), &p("labs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadLabel {
                    index: 2,
                    value: 10,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["/fixture/labs", "label 2 is 10", "0..=9"]);

        // Through the loader, from a gz file.
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 3, 3, true);
        put(
            dir.path(),
            TRAIN_LABELS,
            &labels_file_from(&[1, 2, 77]),
            true,
        );
        let e = Mnist::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadLabel {
                    index: 2,
                    value: 77,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &["train-labels-idx1-ubyte.gz", "label 2 is 77"],
        );
    }

    #[test]
    fn err_bad_image_size() {
        let f = images_file_with(2, 20, 30, IMAGES_MAGIC);
        let e = parse_images(&f, &p("imgs")).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadImageSize {
                    rows: 20,
                    cols: 30,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &["/fixture/imgs", "20x30", "expected 28x28"],
        );
    }

    #[test]
    fn err_checksum() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 2, 2, true);
        let actual: Vec<(String, String)> = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
            .iter()
            .map(|b| {
                let name = format!("{b}.gz");
                let bytes = fs::read(dir.path().join(&name)).unwrap();
                (name, to_hex(&Sha256::digest(&bytes)))
            })
            .collect();
        let mut expected: Vec<(&str, &str)> = actual
            .iter()
            .map(|(n, h)| (n.as_str(), h.as_str()))
            .collect();
        // Correct sums (also in upper case) pass and load.
        let upper: Vec<String> = actual.iter().map(|(_, h)| h.to_uppercase()).collect();
        assert_eq!(load_checked(dir.path(), &expected).unwrap().train.len(), 2);
        let up: Vec<(&str, &str)> = actual
            .iter()
            .zip(&upper)
            .map(|((n, _), u)| (n.as_str(), u.as_str()))
            .collect();
        verify_checksums(dir.path(), &up).unwrap();

        let wrong = "00".repeat(32);
        expected[2].1 = &wrong;
        let e = load_checked(dir.path(), &expected).unwrap_err();
        assert!(matches!(e, DataError::Checksum { .. }), "{e:?}");
        assert_mentions(
            &e.to_string(),
            &["t10k-images-idx3-ubyte.gz", &wrong, &actual[2].1],
        );

        // The real table against fixture files fails on the first file.
        let e = load_checked(dir.path(), &DEFAULT_SHA256).unwrap_err();
        assert_mentions(
            &e.to_string(),
            &["train-images-idx3-ubyte.gz", DEFAULT_SHA256[0].1],
        );

        // A missing .gz is reported as missing, even if the plain file exists.
        fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        put(dir.path(), TEST_LABELS, &labels_file(2), false);
        let e = verify_checksums(dir.path(), &DEFAULT_SHA256[3..]).unwrap_err();
        assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
        assert_mentions(&e.to_string(), &["t10k-labels-idx1-ubyte.gz"]);
    }

    #[test]
    fn default_dir_shape() {
        let d = default_data_dir();
        assert!(d.ends_with("../data/mnist"), "{}", d.display());
    }

    #[test]
    fn split_at_and_train_validation() {
        let s = expected_split(6, 0);
        let (a, b) = s.split_at(2).unwrap();
        assert_eq!(a, s.subset(&[0, 1]));
        assert_eq!(b, s.subset(&[2, 3, 4, 5]));
        let (a, b) = s.split_at(0).unwrap();
        assert!(a.is_empty());
        assert_eq!(b, s);
        for n in [6, 7] {
            let e = s.split_at(n).unwrap_err();
            assert!(matches!(e, DataError::Split { len: 6, .. }), "{e:?}");
            assert_mentions(
                &e.to_string(),
                &["has 6 items", &format!("first {n} needs more than {n}")],
            );
        }

        let m = Mnist {
            train: expected_split(VALIDATION_SIZE, 0),
            test: expected_split(1, 0),
        };
        let e = m.train_validation().unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Split {
                    n: 5000,
                    len: 5000,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["training set", "5000"]);

        let m = Mnist {
            train: expected_split(VALIDATION_SIZE + 3, 0),
            test: expected_split(1, 0),
        };
        let (val, train) = m.train_validation().unwrap();
        assert_eq!(val.len(), VALIDATION_SIZE);
        assert_eq!(train.len(), 3);
        assert_eq!(val.image(0), m.train.image(0));
        assert_eq!(train.image(0), m.train.image(VALIDATION_SIZE));
        // No validation split: every training image is trained on.
        let (val, train) = m.train_validation_sized(0).unwrap();
        assert!(val.is_empty());
        assert_eq!(train, m.train);
        let (val, train) = m.train_validation_sized(2).unwrap();
        assert_eq!((val, train), m.train.split_at(2).unwrap());
        let e = m.train_validation_sized(VALIDATION_SIZE + 3).unwrap_err();
        assert!(matches!(e, DataError::Split { n: 5003, len: 5003, .. }), "{e:?}");

        let broken = Split {
            images: vec![0; 10],
            labels: vec![1],
        };
        let e = broken.split_at(0).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Inconsistent {
                    pixels: 10,
                    labels: 1
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["10 pixel bytes", "1 labels", "784"]);
        assert!(Split::new(vec![0; 10], vec![1]).is_err());
        assert_eq!(Split::new(vec![0; 784], vec![1]).unwrap().len(), 1);
    }

    #[test]
    fn subset_order_and_repeats() {
        let s = expected_split(5, 0);
        let sub = s.subset(&[4, 0, 4]);
        assert_eq!(sub.len(), 3);
        assert_eq!(sub.labels, vec![s.labels[4], s.labels[0], s.labels[4]]);
        assert_eq!(sub.image(0), s.image(4));
        assert_eq!(sub.image(1), s.image(0));
        assert_eq!(sub.image(2), s.image(4));
        assert!(s.subset(&[]).is_empty());
    }

    #[test]
    fn batch_scaling_and_counts() {
        let mut images = vec![0u8; 2 * 784];
        images[784..].fill(255);
        images[5] = 51;
        let s = Split {
            images,
            labels: vec![3, 9],
        };
        let (x, y) = s.batch(&[1, 0]);
        assert_eq!(x.len(), 2 * 784);
        assert_eq!(y, vec![9, 3]);
        assert!(x[..784].iter().all(|&v| v == 1.0));
        assert_eq!(x[784], 0.0);
        assert_eq!(x[784 + 5], 0.2);
        assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut expected = [0; NUM_CLASSES];
        expected[3] = 1;
        expected[9] = 1;
        assert_eq!(s.label_counts(), expected);
    }

    #[test]
    fn sampler_passes_are_permutations() {
        let s = Sampler::new(10, 3, 42).unwrap();
        assert_eq!(s.batches_per_pass(), 3);
        let mut passes = Vec::new();
        for pass in 0..4u64 {
            let mut seen = Vec::new();
            for k in 0..3 {
                let b = s.indices(pass * 3 + k);
                assert_eq!(b.len(), 3);
                seen.extend(b);
            }
            let set: HashSet<usize> = seen.iter().copied().collect();
            assert_eq!(set.len(), 9, "no repeats within a pass");
            assert!(seen.iter().all(|&i| i < 10));
            let perm = s.permutation(pass);
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            assert_eq!(seen, perm[..9]);
            passes.push(perm);
        }
        assert!(
            passes.windows(2).any(|w| w[0] != w[1]),
            "passes are reshuffled"
        );
    }

    #[test]
    fn sampler_deterministic_and_seeded() {
        let a = Sampler::new(1000, 32, 7).unwrap();
        let b = Sampler::new(1000, 32, 7).unwrap();
        let c = Sampler::new(1000, 32, 8).unwrap();
        let steps: Vec<u64> = (0..70).collect();
        let xa: Vec<_> = steps.iter().map(|&t| a.indices(t)).collect();
        let xb: Vec<_> = steps.iter().map(|&t| b.indices(t)).collect();
        let xc: Vec<_> = steps.iter().map(|&t| c.indices(t)).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa[0], xa[31], "pass 0 and pass 1 start differently");
    }

    #[test]
    fn sampler_resume() {
        let warm = Sampler::new(50, 8, 3).unwrap();
        let all: Vec<_> = (0..40u64).map(|t| warm.indices(t)).collect();
        for t in [0u64, 5, 6, 7, 13, 39] {
            let fresh = Sampler::new(50, 8, 3).unwrap();
            assert_eq!(fresh.indices(t), all[t as usize], "step {t}");
            assert_eq!(fresh.clone().indices(t), all[t as usize]);
        }
        // Out-of-order access gives the same batches too.
        assert_eq!(warm.indices(2), all[2]);
        assert_eq!(warm.indices(30), all[30]);
        assert_eq!(warm.indices(1), all[1]);
        // Huge step numbers work.
        assert_eq!(warm.indices(u64::MAX).len(), 8);
    }

    #[test]
    fn sampler_errors() {
        for (n, batch) in [(5, 6), (5, 0), (0, 1), (0, 0)] {
            let e = Sampler::new(n, batch, 1).unwrap_err();
            assert!(matches!(e, DataError::BadSampler { .. }), "{e:?}");
            assert_mentions(
                &e.to_string(),
                &[&format!("batch size {batch}"), &format!("items ({n})")],
            );
        }
        let s = Sampler::new(5, 5, 1).unwrap();
        assert_eq!(s.batches_per_pass(), 1);
    }

    /// The shared MNIST folder, if present.
    fn shared_mnist_dir() -> Option<PathBuf> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let candidates = std::env::var_os("SPHEREFACE_SHARED_MNIST")
            .map(PathBuf::from)
            .into_iter()
            .chain([
                PathBuf::from("/work/shared/data/mnist"),
                manifest.join("../../shared/data/mnist"),
                manifest.join("../shared/data/mnist"),
            ]);
        candidates
            .into_iter()
            .find(|d| d.join("train-images-idx3-ubyte.gz").exists())
    }

    #[test]
    fn real_mnist_if_present() {
        let Some(dir) = shared_mnist_dir() else {
            println!("note: shared MNIST folder not found (set SPHEREFACE_SHARED_MNIST); skipping");
            return;
        };
        let m = load_checked(&dir, &DEFAULT_SHA256).unwrap();
        assert_eq!(m.train.len(), 60_000);
        assert_eq!(m.test.len(), 10_000);
        assert_eq!(m.train.images.len(), 60_000 * IMAGE_PIXELS);
        assert_eq!(
            m.train.label_counts(),
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert_eq!(
            m.test.label_counts(),
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        let (val, train) = m.train_validation().unwrap();
        assert_eq!((val.len(), train.len()), (5_000, 55_000));
    }

    /// A valid file and a mutation of it: truncation, byte flips or appended bytes.
    fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let len = valid.len();
        (
            0..3u8,
            0..=len,
            prop::collection::vec((0..len.max(1), any::<u8>()), 1..8),
            prop::collection::vec(any::<u8>(), 1..16),
        )
            .prop_map(move |(mode, cut, flips, extra)| {
                let mut v = valid.clone();
                match mode {
                    0 => v.truncate(cut),
                    1 => {
                        for (i, x) in flips {
                            if let Some(b) = v.get_mut(i) {
                                *b ^= x;
                            }
                        }
                    }
                    _ => v.extend(extra),
                }
                v
            })
    }

    proptest! {
        #[test]
        fn parse_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_images(&bytes, &p("r"));
            let _ = parse_labels(&bytes, &p("r"));
            let _ = gunzip(&bytes, &p("r.gz"), 1 << 16);
        }

        #[test]
        fn parse_idx_headers_never_panic(
            magic in prop_oneof![Just(IMAGES_MAGIC), Just(LABELS_MAGIC), any::<u32>()],
            fields in prop::collection::vec(any::<u32>(), 0..4),
            tail in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut b = magic.to_be_bytes().to_vec();
            for f in fields { b.extend_from_slice(&f.to_be_bytes()); }
            b.extend(tail);
            let _ = parse_images(&b, &p("h"));
            let _ = parse_labels(&b, &p("h"));
        }

        #[test]
        fn mutated_images_never_panic(bytes in mutated(images_file(3))) {
            if let Ok((n, px)) = parse_images(&bytes, &p("m")) {
                prop_assert_eq!(px.len(), n * IMAGE_PIXELS);
            }
        }

        #[test]
        fn mutated_labels_never_panic(bytes in mutated(labels_file(20))) {
            if let Ok(l) = parse_labels(&bytes, &p("m")) {
                prop_assert!(l.iter().all(|&x| x < 10));
            }
        }

        #[test]
        fn mutated_gz_never_panics(
            which in any::<bool>(),
            bytes in mutated(gz(&images_file(2))),
        ) {
            if let Ok(raw) = gunzip(&bytes, &p("m.gz"), 1 << 16) {
                if which {
                    let _ = parse_images(&raw, &p("m.gz"));
                } else {
                    let _ = parse_labels(&raw, &p("m.gz"));
                }
            }
        }

        #[test]
        fn valid_files_round_trip(k in 0usize..6, labels in prop::collection::vec(0u8..10, 0..50)) {
            let (n, px) = parse_images(&images_file(k), &p("v")).unwrap();
            prop_assert_eq!(n, k);
            prop_assert_eq!(px, expected_split(k, 0).images);
            prop_assert_eq!(parse_labels(&labels_file_from(&labels), &p("v")).unwrap(), labels);
        }

        #[test]
        fn sampler_batches_in_range(n in 1usize..200, batch in 1usize..50, seed: u64, step in 0u64..1000) {
            prop_assume!(batch <= n);
            let s = Sampler::new(n, batch, seed).unwrap();
            let b = s.indices(step);
            prop_assert_eq!(b.len(), batch);
            prop_assert!(b.iter().all(|&i| i < n));
            let set: HashSet<usize> = b.iter().copied().collect();
            prop_assert_eq!(set.len(), batch);
        }
    }
}
