//! The SHA-256 sums of the MNIST copy committed under `data/mnist`, and their check.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::DataError;

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
pub(super) fn to_hex(bytes: &[u8]) -> String {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
    Hex(bytes).to_string()
}
