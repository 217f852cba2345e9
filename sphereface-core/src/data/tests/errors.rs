//! Every bad input gets a named error.

use tempfile::TempDir;

use super::*;
use sha2::{Digest, Sha256};

use crate::data::checksum::to_hex;
use crate::data::idx::read_file_capped;

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

