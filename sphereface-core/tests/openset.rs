//! Open set: the metrics against scikit-learn and the SphereFace authors' protocol
//! (float64 values from `reference/gen_openset_refs.py`), the committed pairs files, a run
//! with `known` digits (resume, what it saves) and its evaluation with every bad input.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use dfdx::prelude::*;
use sphereface_core::data::{KnownDigits, Mnist};
use sphereface_core::model::{HasParams, LambdaSchedule, LossKind};
use sphereface_core::openset::{self, eer, fold_accuracies, roc_auc, roc_curve, tar_at_far, Centring, OpenSetFiles, PairFeatures, Pairs, Splits};
use sphereface_core::train::{self, Protocol, RunDir, RunFiles, SavedRun, Silent, TrainConfig, Trainer};
use sphereface_core::{Error, OpenSetError};

use common::{assert_all_close, assert_close, REF_ATOL, REF_RTOL};

#[path = "reference/openset_refs.rs"]
mod openset_refs;
use openset_refs as r;

fn data() -> &'static Mnist {
    static DATA: OnceLock<Mnist> = OnceLock::new();
    DATA.get_or_init(|| Mnist::load_default().expect("the committed MNIST copy loads"))
}

/// scikit-learn's `roc_auc_score` and `roc_curve(drop_intermediate=False)` on 300 scores with
/// many ties; the EER of `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`; TAR at FAR
/// as `tpr[fpr <= far].max()` (gen_openset_refs.py).
#[test]
fn detection_metrics_match_scikit_learn() {
    assert_close("AUROC", roc_auc(r::SCORES, r::POSITIVE).unwrap(), r::AUC, REF_ATOL, REF_RTOL);
    let roc = roc_curve(r::SCORES, r::POSITIVE).unwrap();
    assert_all_close("FPR", &roc.fpr, r::ROC_FPR, REF_ATOL, REF_RTOL);
    assert_all_close("TPR", &roc.tpr, r::ROC_TPR, REF_ATOL, REF_RTOL);
    assert_eq!(roc.thresholds[0], f64::INFINITY);
    assert_all_close("thresholds", &roc.thresholds[1..], r::ROC_THRESHOLDS, 0.0, 0.0);
    // brentq stops at 1e-15 of the root; the crossing is computed exactly here.
    assert_close("EER", eer(&roc), r::EER, 1e-12, 0.0);
    for (far, tar) in r::FARS.iter().zip(r::TARS) {
        assert_eq!(tar_at_far(&roc, *far), *tar, "TAR at FAR {far}");
    }
    // The trapezoids under the curve are the AUROC (ties counting ½ either way).
    let area: f64 = (1..roc.fpr.len()).map(|k| (roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1]) / 2.0).sum();
    assert_close("area", area, r::AUC, REF_ATOL, REF_RTOL);
}

/// Ten folds of 30 pairs of 3-D features, with and without the nine folds' mean
/// subtracted, against `evaluation.m` in numpy: the same fold accuracies, and thresholds
/// within 5e-4. Their threshold is the mean of the grid points (step 1e-4) in the best
/// intervals, ours the length-weighted mean of those intervals (the grid's limit); when
/// the best intervals are short and apart, a grid point more or less in one moves the
/// grid's mean by more than a step (1.5e-4 here, fold 7 centred).
#[test]
fn verification_matches_the_authors_protocol() {
    let row = |v: &[f64], k: usize| v[3 * k..3 * k + 3].to_vec();
    let n = r::PAIR_SAME.len();
    let pairs = PairFeatures { left: (0..n).map(|k| row(r::PAIR_LEFT, k)).collect(), right: (0..n).map(|k| row(r::PAIR_RIGHT, k)).collect(), same: r::PAIR_SAME.to_vec(), fold: r::PAIR_FOLD.to_vec() };
    for (centring, thresholds, accuracies, std) in [
        (Centring::None, r::FOLD_THRESHOLDS_PLAIN, r::FOLD_ACCURACIES_PLAIN, r::FOLD_STD_PLAIN),
        (Centring::NineFolds, r::FOLD_THRESHOLDS_CENTRED, r::FOLD_ACCURACIES_CENTRED, r::FOLD_STD_CENTRED),
    ] {
        let res = fold_accuracies(&pairs, 10, centring).unwrap();
        assert_all_close(&format!("{centring:?} fold accuracies"), &res.accuracies, accuracies, 1e-15, 0.0);
        assert_all_close(&format!("{centring:?} thresholds"), &res.thresholds, thresholds, 5e-4, 0.0);
        assert_close("std", res.std(), std, 1e-15, 0.0);
    }
}

/// The committed pairs files are what their seeds draw from the test labels, byte for byte,
/// and read back checked: 6,000 pairs of each split's unknown digits.
#[test]
fn committed_pairs_files_regenerate_from_their_seeds() {
    let splits = Splits::load_default().unwrap();
    assert_eq!(splits.splits.len(), 5);
    assert_eq!(splits.get("1").unwrap().known.digits(), [2, 4, 5, 9, 8, 3]);
    for s in &splits.splits {
        let path = splits.pairs_path(s);
        let drawn = Pairs::generate(&data().test.labels, &s.known.unknown(), openset::pairs::FOLDS, openset::pairs::PER_FOLD, s.pairs_seed).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), drawn.to_text(), "{} is not what seed {} draws", path.display(), s.pairs_seed);
        let read = Pairs::read(&path, &data().test.labels).unwrap();
        read.check_unknown_to(&s.known, &path).unwrap();
        assert_eq!((read.pairs.len(), read.pairs.iter().filter(|p| p.same()).count()), (6000, 3000));
    }
    assert!(splits.get("7").unwrap_err().to_string().contains("split1, split2"));
}

fn known() -> KnownDigits {
    "2,4,5,9,8,3".parse().unwrap()
}

/// A tiny open-set run: `steps` steps of 16 on 256 images of the known digits.
fn tiny_known(head: LossKind, steps: u64) -> TrainConfig {
    TrainConfig { steps, batch: 16, train_subset: Some(256), checkpoint_every: 2, eval_batch: 500, known: Some(known()), ..TrainConfig::new(Protocol::Quick, head, 3) }
}

fn params(t: &mut Trainer<f32, Cpu>) -> Vec<f32> {
    let mut v = Vec::new();
    t.model().visit("", &mut |_, _, p| v.extend(p.as_vec()));
    v
}

/// The known digits shape the run: a head of six classes, only their images in training
/// and validation (by class), and an interrupted run resumes exactly.
#[test]
fn a_run_with_known_digits_resumes_exactly() {
    let cfg = tiny_known(LossKind::angular(4, LambdaSchedule::caffe()).unwrap(), 6);
    let (val, train_split) = train::splits(data(), &cfg).unwrap();
    assert_eq!(train_split.len(), 256);
    assert!(val.labels.iter().chain(&train_split.labels).all(|&l| l < 6), "labelled by class");
    let digits_of_val: Vec<u8> = data().train.labels[..5000].iter().copied().filter(|d| known().contains(*d)).collect();
    assert_eq!(val.labels.iter().map(|&c| known().digits()[usize::from(c)]).collect::<Vec<_>>(), digits_of_val);
    let mut straight = Trainer::<f32, Cpu>::new(cfg.clone(), Cpu::default()).unwrap();
    assert_eq!(straight.head.classes, 6);
    straight.fit(&train_split, None, &mut Silent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = RunFiles::new(dir.path());
    let mut resumed = common::interrupted_and_resumed(&cfg, &train_split, &files);
    assert_eq!(resumed.history, straight.history);
    assert_eq!(params(&mut resumed), params(&mut straight));
    // Other known digits are another configuration.
    let other = TrainConfig { known: Some("3,2,6,9,4,0".parse().unwrap()), ..cfg };
    assert!(Trainer::<f32, Cpu>::resume(&files, other, Cpu::default()).is_err());
}

fn write_text(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A finished open-set run saves every test image's embedding with its digit; its
/// evaluation writes numbers that recompute from the saved scores; every bad input is a
/// named error that writes nothing.
#[test]
fn open_set_evaluation_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let run_dir = root.path().join("split1").join("cosface-d3");
    let cfg = tiny_known(LossKind::cosface(30.0, 0.35).unwrap(), 4);
    let metrics = train::run::<f32, _>(cfg.clone(), data(), &RunDir { path: run_dir.clone(), force: false, resume: false }, Cpu::default(), &mut Silent).unwrap();
    let known_test = data().test.labels.iter().filter(|d| known().contains(**d)).count();
    assert_eq!(metrics.test_images, known_test);
    let run = SavedRun::open(&run_dir).unwrap();
    let emb = run.files.read_embeddings().unwrap();
    assert_eq!(emb.labels, data().test.labels, "every test image, labelled by digit");
    assert_eq!(run.files.read_head().unwrap().unwrap().weights.len(), 6);
    assert!(metrics.label.ends_with("-k245983"));

    // Bad pairs files: named errors, nothing written.
    let splits = Splits::load_default().unwrap();
    let committed = std::fs::read_to_string(splits.pairs_path(splits.get("1").unwrap())).unwrap();
    let bad = root.path().join("bad-pairs.txt");
    let cut: String = committed.lines().take(4000).map(|l| format!("{l}\n")).collect();
    write_text(&bad, &cut);
    let err = openset::evaluate_saved(&run, Some(&bad), &data().test.labels).unwrap_err();
    assert!(matches!(err, Error::OpenSet(OpenSetError::PairsTruncated { expected: 6000, found: 3999, .. })), "{err}");
    let other = std::fs::read_to_string(splits.pairs_path(splits.get("2").unwrap())).unwrap();
    write_text(&bad, &other);
    let err = openset::evaluate_saved(&run, Some(&bad), &data().test.labels).unwrap_err();
    assert!(matches!(&err, Error::OpenSet(OpenSetError::PairsMismatch { .. })) && err.to_string().contains("is known to the run"), "{err}");
    let first_pair: Vec<&str> = committed.lines().nth(1).unwrap().split('\t').collect();
    let wrong_digit = committed.replacen(&format!("{}\t{}\t", first_pair[0], first_pair[1]), &format!("{}\t{}\t", (first_pair[0].parse::<u8>().unwrap() + 1) % 10, first_pair[1]), 1);
    write_text(&bad, &wrong_digit);
    let err = openset::evaluate_saved(&run, Some(&bad), &data().test.labels).unwrap_err();
    assert!(err.to_string().contains("line 2") && err.to_string().contains("the file says"), "{err}");
    assert!(!OpenSetFiles::new(&run_dir).has_report(), "nothing written on an error");

    // The evaluation: both protocols, recomputable from the saved scores.
    let eval = openset::evaluate_saved(&run, None, &data().test.labels).unwrap();
    OpenSetFiles::new(&run_dir).write(&eval).unwrap();
    let report = OpenSetFiles::new(&run_dir).read_report().unwrap();
    assert_eq!(report, eval.report);
    assert_eq!((report.known_images, report.unknown_images), (known_test, 10_000 - known_test));
    assert_eq!(report.unknown, [0, 1, 6, 7]);
    assert_eq!((report.verification.count, report.verification.folds), (6000, 10));
    assert_close("closed-set accuracy from the embeddings", report.closed_set_acc, metrics.test_acc, 2.0 / known_test as f64, 0.0);
    let scores = OpenSetFiles::new(&run_dir).read_image_scores().unwrap();
    let positive: Vec<bool> = scores.iter().map(|s| known().contains(s.digit)).collect();
    let max_cos: Vec<f64> = scores.iter().map(|s| s.max_cosine).collect();
    assert_eq!(roc_auc(&max_cos, &positive).unwrap(), report.auroc.max_cosine);
    let pairs = OpenSetFiles::new(&run_dir).read_pair_scores().unwrap();
    let cosines: Vec<f64> = pairs.iter().map(|p| p.cosine).collect();
    let same: Vec<bool> = pairs.iter().map(|p| p.same).collect();
    assert_eq!(roc_auc(&cosines, &same).unwrap(), report.verification.auc);
    assert_eq!(eer(&roc_curve(&cosines, &same).unwrap()), report.verification.eer);
    // The summary table over the split directories.
    let rows = openset::write_tables(root.path()).unwrap();
    assert_eq!((rows.len(), rows[0].splits, rows[0].auroc.mean), (1, 1, report.auroc.max_cosine));
    assert!(std::fs::read_to_string(root.path().join("openset.md")).unwrap().contains("CosFace"));

    // A run trained on all ten digits has nothing unknown.
    let closed = root.path().join("closed");
    train::run::<f32, _>(TrainConfig { known: None, test_subset: Some(100), ..cfg.clone() }, data(), &RunDir { path: closed.clone(), force: false, resume: false }, Cpu::default(), &mut Silent).unwrap();
    let err = openset::evaluate_saved(&SavedRun::open(&closed).unwrap(), None, &data().test.labels).unwrap_err();
    assert!(matches!(err, Error::OpenSet(OpenSetError::NothingUnknown { .. })), "{err}");
    // A run that embedded only part of the test set cannot be paired.
    let part = root.path().join("part");
    train::run::<f32, _>(TrainConfig { test_subset: Some(100), ..cfg }, data(), &RunDir { path: part.clone(), force: false, resume: false }, Cpu::default(), &mut Silent).unwrap();
    let err = openset::evaluate_saved(&SavedRun::open(&part).unwrap(), None, &data().test.labels).unwrap_err();
    assert!(err.to_string().contains("--test-subset"), "{err}");
}

/// The committed experiment (`results/openset`) recomputes: its tables from the runs'
/// reports, and split 1's numbers at the benchmark size from the committed per-image and
/// per-pair scores.
#[test]
fn committed_open_set_results_recompute() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/openset");
    let runs = openset::evaluated_runs(&root).unwrap();
    assert_eq!(runs.len(), 35, "5 losses on 5 splits at the benchmark size, 2-D and 3-D on split 1");
    assert_eq!(openset::summary_markdown(&openset::summarise(&runs)), std::fs::read_to_string(root.join("openset.md")).unwrap());
    assert_eq!(openset::runs_csv(&runs).unwrap(), std::fs::read(root.join("openset.csv")).unwrap());
    let split1: Vec<_> = runs.iter().filter(|r| r.split == "split1" && r.report.dim == 16).collect();
    assert_eq!(split1.len(), 5);
    for r in split1 {
        let files = OpenSetFiles::new(&r.dir);
        let images = files.read_image_scores().unwrap();
        let known: Vec<bool> = images.iter().map(|s| r.report.known.contains(s.digit)).collect();
        for score in openset::Score::ALL {
            let values: Vec<f64> = images.iter().map(|s| s.get(score)).collect();
            assert_eq!(roc_auc(&values, &known).unwrap(), r.report.auroc.get(score), "{} {score:?}", r.dir.display());
        }
        let correct = images.iter().filter(|s| r.report.known.contains(s.digit) && s.predicted == s.digit).count();
        assert_eq!(correct as f64 / r.report.known_images as f64, r.report.closed_set_acc);
        let pairs = files.read_pair_scores().unwrap();
        let (cos, same, fold): (Vec<f64>, Vec<bool>, Vec<usize>) = (pairs.iter().map(|p| p.cosine).collect(), pairs.iter().map(|p| p.same).collect(), pairs.iter().map(|p| p.fold).collect());
        let v = &r.report.verification;
        let folds = openset::fold_accuracies_of_scores(&cos, &same, &fold, 10).unwrap();
        assert_eq!((folds.accuracies, folds.thresholds), (v.accuracy.accuracies.clone(), v.accuracy.thresholds.clone()));
        let roc = roc_curve(&cos, &same).unwrap();
        assert_eq!((roc_auc(&cos, &same).unwrap(), eer(&roc), tar_at_far(&roc, openset::FAR)), (v.auc, v.eer, v.tar_at_far));
    }
}
