//! IDX parsing (plain or gzip) of the four MNIST files. Nothing here panics on file
//! contents: a malformed file becomes a [`DataError`] naming the file and the numbers.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{DataError, Split};
use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

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

/// IDX magic number of an unsigned-byte, 3-dimensional (images) file.
pub(super) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic number of an unsigned-byte, 1-dimensional (labels) file.
pub(super) const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header length of an IDX images file: magic, count, rows, cols.
pub(super) const IMAGES_HEADER: usize = 16;
/// Header length of an IDX labels file: magic, count.
pub(super) const LABELS_HEADER: usize = 8;

/// Loads one images file and its labels file from `dir` and checks that their counts agree.
pub(super) fn load_pair(dir: &Path, images_name: &str, labels_name: &str) -> Result<Split, DataError> {
    let images_path = locate(dir, images_name)?;
    let labels_path = locate(dir, labels_name)?;
    let images = read_raw(&images_path, MAX_FILE_BYTES)?;
    let labels = read_raw(&labels_path, MAX_FILE_BYTES)?;
    split_from_bytes(&images, &images_path, &labels, &labels_path, MAX_FILE_BYTES)
}

/// A split from the bytes of an images file and a labels file as they are on disk: each is
/// gunzipped first when its path ends in `.gz` (at most `limit` bytes after decompression),
/// then parsed ([`parse_images`], [`parse_labels`]) and their counts compared. The paths
/// only name the files in errors and tell gzip from plain. This is what [`Mnist::load`](super::Mnist::load)
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
pub(super) fn read_file_capped(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
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
pub(super) fn gunzip(compressed: &[u8], path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
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
