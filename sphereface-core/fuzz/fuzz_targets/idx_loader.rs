//! Fuzzes the MNIST loader (`sphereface_core::data::split_from_bytes`): gzip or plain, IDX
//! images and labels, count check. Any input must give a `Split` or a `DataError`, never a
//! panic, an abort or an allocation beyond the limit.
//!
//! The first byte picks which files are gzipped (bits 0 and 1); the next two give the
//! length of the images file's bytes; the rest is split there into images and labels.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sphereface_core::data::split_from_bytes;

/// Decompressed-size limit: small, so gzip bombs are refused quickly.
const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let (cut, rest) = match rest {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, rest),
    };
    let (images, labels) = rest.split_at(cut.min(rest.len()));
    let images_path = if flags & 1 == 1 { Path::new("train-images-idx3-ubyte.gz") } else { Path::new("train-images-idx3-ubyte") };
    let labels_path = if flags & 2 == 2 { Path::new("train-labels-idx1-ubyte.gz") } else { Path::new("train-labels-idx1-ubyte") };
    if let Ok(split) = split_from_bytes(images, images_path, labels, labels_path, LIMIT) {
        // A split that loads is consistent: 784 pixels per label, labels 0..=9.
        assert_eq!(split.images.len(), split.labels.len() * 784);
        assert!(split.labels.iter().all(|&l| l <= 9));
        let _ = split.batch(&(0..split.len().min(4)).collect::<Vec<_>>());
    }
});
