//! Loading, round trips and splits.

use tempfile::TempDir;

use super::*;

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

