//! MNIST: loading (IDX, plain or gzip, checksummed), splits and batches ([`Split`],
//! [`Mnist`]), the digits an open-set run knows ([`KnownDigits`]), the resumable batch
//! order ([`Sampler`]) and the augmentation of training images ([`augment`]).
//!
//! The four original IDX files are read from a directory, each either gzip-compressed
//! (`<name>.gz`) or plain (`<name>`). Every malformed input becomes a [`DataError`] whose
//! message names the file and the numbers involved; nothing in this module panics on file
//! contents.

use std::path::{Path, PathBuf};

mod augment;
mod checksum;
mod error;
mod idx;
mod known;
mod sampler;
#[cfg(test)]
mod tests;

pub use augment::{augment, Augment, ELASTIC_SIGMA};
pub use checksum::{verify_checksums, DEFAULT_SHA256};
pub use error::DataError;
pub use idx::{parse_images, parse_labels, split_from_bytes, MAX_FILE_BYTES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
pub use known::KnownDigits;
pub use sampler::Sampler;
pub use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

use idx::load_pair;

/// Size of the validation split: the first 5,000 training images (protocol).
pub const VALIDATION_SIZE: usize = 5000;

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
