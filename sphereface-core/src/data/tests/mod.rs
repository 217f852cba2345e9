//! The loader's tests: fixture files written by hand (valid, and broken in every way the
//! loader must report), round trips, splits, and proptests of random and mutated bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::idx::{IMAGES_MAGIC, LABELS_MAGIC};
use super::*;

mod errors;
mod fuzz;
mod load;

/// Pixel `j` of fixture image `i`.
pub(super) fn pixel(i: usize, j: usize) -> u8 {
    ((i * 31 + j * 7) % 256) as u8
}

/// IDX images file bytes with `k` images of `rows x cols` and the given magic.
pub(super) fn images_file_with(k: usize, rows: u32, cols: u32, magic: u32) -> Vec<u8> {
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
pub(super) fn images_file(k: usize) -> Vec<u8> {
    images_file_with(k, 28, 28, IMAGES_MAGIC)
}

/// A valid IDX labels file with the given labels.
pub(super) fn labels_file_from(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// Fixture labels: `(i * 3 + offset) % 10`.
pub(super) fn fixture_labels(k: usize, offset: usize) -> Vec<u8> {
    (0..k).map(|i| ((i * 3 + offset) % 10) as u8).collect()
}

/// A valid IDX labels file with `k` labels.
pub(super) fn labels_file(k: usize) -> Vec<u8> {
    labels_file_from(&fixture_labels(k, 0))
}

/// Gzip-compresses `bytes`.
pub(super) fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes `bytes` to `dir/<base>` or, compressed, to `dir/<base>.gz`; returns the path.
pub(super) fn put(dir: &Path, base: &str, bytes: &[u8], compress: bool) -> PathBuf {
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
pub(super) fn write_set(dir: &Path, train: usize, test: usize, compress: bool) {
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
pub(super) fn expected_split(k: usize, offset: usize) -> Split {
    let images = (0..k)
        .flat_map(|i| (0..IMAGE_PIXELS).map(move |j| pixel(i, j)))
        .collect();
    Split {
        images,
        labels: fixture_labels(k, offset),
    }
}

/// A fixed path for parse-only tests.
pub(super) fn p(name: &str) -> PathBuf {
    PathBuf::from(format!("/fixture/{name}"))
}

/// Asserts that `msg` contains every needle.
pub(crate) fn assert_mentions(msg: &str, needles: &[&str]) {
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not contain {n:?}");
    }
}
