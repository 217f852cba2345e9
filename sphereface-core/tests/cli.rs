//! The `sphereface` command: bad flags and values get a clear error and a non-zero exit
//! status, never a panic; a tiny run writes its files.

use std::process::Command;

fn sphereface(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sphereface")).args(args).output().expect("the binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn fails_with(args: &[&str], want: &str) {
    let (code, _, err) = sphereface(args);
    assert_ne!(code, 0, "{args:?} should fail");
    assert!(err.contains(want), "{args:?}: expected {want:?} in stderr:\n{err}");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

#[test]
fn bad_flags_and_values_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    fails_with(&["train", "--loss", "angular", "--m", "0", "--out", out], "m must be an integer >= 1, got 0");
    fails_with(&["train", "--loss", "modified", "--batch", "0", "--out", out], "batch must be >= 2");
    fails_with(&["train", "--loss", "modified", "--lr", "-0.1", "--out", out], "lr must be a positive number, got -0.1");
    fails_with(&["train", "--loss", "sphereface2", "--out", out], "invalid value 'sphereface2'");
    fails_with(&["train", "--loss", "cosface", "--scale", "0", "--out", out], "cosface scale s must be a number > 0, got 0");
    fails_with(&["train", "--loss", "cosface", "--margin", "2", "--out", out], "cosface margin m must be in [0, 2)");
    fails_with(&["train", "--loss", "cosface", "--margin", "-0.1", "--out", out], "got -0.1");
    fails_with(&["train", "--loss", "arcface", "--margin", "1.6", "--out", out], "arcface margin m must be in [0, π/2) radians, got 1.6");
    fails_with(&["train", "--loss", "arcface", "--scale", "nan", "--out", out], "arcface scale s must be a number > 0, got NaN");
    fails_with(&["train", "--loss", "angular", "--margin", "0.3", "--out", out], "A-Softmax's margin is --m");
    fails_with(&["reproduce", "--losses", "original,cosine", "--out", out], "invalid value 'cosine'");
    fails_with(&["train", "--loss", "modified", "--dim", "0", "--out", out], "dim must be >= 1, got 0");
    fails_with(&["train", "--loss", "modified", "--shift", "14", "--out", out], "shift must be at most 13 pixels");
    fails_with(&["train", "--loss", "modified", "--protocol", "fast", "--out", out], "invalid value 'fast'");
    fails_with(&["train", "--loss", "modified", "--rotate", "90", "--out", out], "rotate must be between 0 and 45 degrees, got 90");
    fails_with(&["train", "--loss", "modified", "--elastic", "200", "--out", out], "elastic must be between 0 and 100, got 200");
    fails_with(&["train", "--loss", "modified", "--width", "0", "--out", out], "width must be between 1 and 8, got 0");
    fails_with(&["train", "--loss", "modified", "--weight-decay", "-0.1", "--out", out], "weight decay must be in [0, 1), got -0.1");
    fails_with(&["train", "--loss", "modified", "--momentum", "1.5", "--out", out], "momentum must be in [0, 1), got 1.5");
    fails_with(&["train", "--loss", "modified", "--dropout", "0.95", "--out", out], "dropout must be in [0, 0.9), got 0.95");
    fails_with(&["train", "--loss", "modified", "--zoom", "-0.1", "--out", out], "scale must be between 0 and 0.5, got -0.1");
    fails_with(&["train", "--loss", "modified", "--scale", "0.1", "--out", out], "the augmentation's scaling is --zoom");
    fails_with(&["train", "--loss", "modified", "--lr-decay", "2", "--out", out], "lr_decay must be in (0, 1], got 2");
    fails_with(&["train", "--loss", "modified", "--lr-decay-steps", "0", "--out", out], "lr_decay_steps must be > 0, got 0");
    fails_with(&["train", "--loss", "modified", "--steps", "0", "--out", out], "steps must be >= 1, got 0");
    fails_with(&["train", "--loss", "modified", "--net", "vgg", "--out", out], "invalid value 'vgg'");
    fails_with(&["train", "--loss", "modified", "--protocol", "slow", "--out", out], "invalid value 'slow'");
    fails_with(&["train", "--loss", "modified", "--threads", "0", "--out", out], "threads must be >= 1");
    fails_with(&["train", "--loss", "modified"], "--out");
    fails_with(&["reproduce", "--dims", "0"], "dims must be a list of dimensions >= 1");
    fails_with(&["train", "--loss", "modified", "--batch", "1", "--out", out], "batch must be >= 2 (batch norm needs two images), got 1");
    fails_with(&["train", "--loss", "modified", "--train-subset", "0", "--out", out], "train_subset must be >= 1 when given, got 0");
    fails_with(&["train", "--loss", "modified", "--test-subset", "0", "--out", out], "test_subset must be >= 1 when given, got 0");
    fails_with(&["train", "--loss", "modified", "--train-subset", "10", "--out", out], "train_subset (10) must hold at least one batch (64)");
    fails_with(&["train", "--loss", "angular", "--m", "17", "--out", out], "angular margin m must be at most 16, got 17");
    fails_with(&["train", "--loss", "angular", "--lambda", "linear", "--out", out], "invalid value 'linear'");
    fails_with(&["train", "--loss", "modified", "--lr", "nan", "--out", out], "lr must be a positive number, got NaN");
    fails_with(&["train", "--loss", "modified", "--steps", "-3", "--out", out], "unexpected argument '-3'");
    fails_with(&["train", "--loss", "modified", "--force", "--resume", "--out", out], "cannot be used with");
    #[cfg(not(feature = "cuda"))]
    fails_with(&["train", "--loss", "modified", "--device", "cuda", "--steps", "1", "--out", out], "built without the cuda feature");
    fails_with(&["bench", "--batch", "1"], "bench needs batch >= 2 and steps >= 1, got batch 1");
    fails_with(&["bench", "--steps", "0"], "got batch 256, steps 0");
    fails_with(&["bench", "--eval", "--batch", "0"], "bench --eval needs batch >= 1");
    let missing = dir.path().join("nowhere");
    fails_with(&["train", "--loss", "modified", "--data-dir", missing.to_str().unwrap(), "--out", out], "MNIST file missing");
    fails_with(&["figures", "--from", missing.to_str().unwrap()], "nowhere");
}

#[test]
fn refuses_to_overwrite_a_run_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let tiny = ["--steps", "2", "--batch", "8", "--train-subset", "64", "--test-subset", "50", "--quiet"];
    let run = |extra: &[&str]| {
        let mut a = vec!["train", "--loss", "original", "--dim", "2", "--out", out];
        a.extend_from_slice(&tiny);
        a.extend_from_slice(extra);
        sphereface(&a)
    };
    let (code, stdout, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/metrics.json")).unwrap()).unwrap();
    for key in ["test_acc", "test_acc_margin", "train_seconds", "steps", "images_per_second"] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
    }
    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a run") && err.contains("--force"), "{err}");
    let (code, _, err) = run(&["--force"]);
    assert_eq!(code, 0, "{err}");
    // The figures of the run, drawn from its files.
    let (code, stdout, err) = sphereface(&["figures", "--from", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for name in ["original-d2-embeddings.png", "original-d2-normalized.svg", "curves-d2-loss.png", "curves-d2-accuracy.svg", "psi.png", "original-d2-evolution.gif"] {
        assert!(stdout.contains(name), "{name} not drawn:\n{stdout}");
        let bytes = std::fs::read(dir.path().join("figures").join(name)).unwrap();
        assert!(bytes.len() > 1000, "{name} is {} bytes", bytes.len());
    }
    fails_with(&["figures", "--from", dir.path().join("figures").to_str().unwrap()], "holds no finished runs");

    // `evaluate` reloads the checkpoint and gets the test accuracy metrics.json reports.
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/metrics.json")).unwrap()).unwrap();
    let (code, stdout, err) = sphereface(&["evaluate", "--run", out, "--limit", "50"]);
    assert_eq!(code, 0, "{err}");
    let ev: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!((ev["split"].as_str(), ev["images"].as_u64(), ev["steps"].as_u64()), (Some("test"), Some(50), Some(2)));
    assert_eq!(ev["acc"], metrics["test_acc"], "evaluate agrees with the run's own evaluation");
    assert_eq!(ev["acc_margin"], metrics["test_acc_margin"]);
    let deg = ev["angles"]["intra_mean_deg"].as_f64().unwrap();
    assert!((0.0..180.0).contains(&deg) && ev["angles"]["inter_min_deg"].as_f64().unwrap() > 0.0, "{ev}");
    let (code, stdout, err) = sphereface(&["evaluate", "--run", out, "--split", "train", "--limit", "30", "--batch-stats"]);
    assert_eq!(code, 0, "{err}");
    let ev: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((ev["split"].as_str(), ev["images"].as_u64(), ev["batch_norm"].as_str()), (Some("train"), Some(30), Some("batch statistics")));
    assert!((0.0..=1.0).contains(&ev["acc"].as_f64().unwrap()));
    fails_with(&["evaluate", "--run", out, "--limit", "0"], "limit must be >= 1, got 0");
    fails_with(&["evaluate", "--run", dir.path().join("nowhere").to_str().unwrap()], "config.json");
    fails_with(&["evaluate", "--run", out, "--split", "holdout"], "invalid value 'holdout'");
}

/// Ctrl-C (SIGINT) saves a checkpoint, leaves no half-written file and exits with 130;
/// `--resume` then continues the run to its end.
#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_continues() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = ["train", "--loss", "modified", "--dim", "2", "--steps", "100000", "--batch", "8", "--train-subset", "64", "--test-subset", "50", "--quiet", "--out", out.to_str().unwrap()];
    let child = Command::new(env!("CARGO_BIN_EXE_sphereface")).args(args).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until training has checkpointed at least once (checkpoint_every is 100 in quick).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !out.join("checkpoint.bin").exists() {
        assert!(std::time::Instant::now() < deadline, "no checkpoint within two minutes");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SAFETY: sends SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted after step") && err.contains("--resume"), "{err}");
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "temporary files left: {names:?}");
    let hist = std::fs::read_to_string(out.join("history.csv")).unwrap();
    let saved_steps = hist.lines().count() - 1;
    assert!(saved_steps >= 100, "saved {saved_steps} steps");
    // Resume with a budget just past the saved step.
    let mut resume: Vec<&str> = args.to_vec();
    let target = (saved_steps + 3).to_string();
    resume[6] = &target;
    resume.push("--resume");
    let (code, stdout, err) = sphereface(&resume);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("{target} steps")), "{stdout}");
    let hist = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(hist.lines().count() - 1, saved_steps + 3);
}

/// `--protocol long` sets its schedule and augmentation, and λ = 0 for the angular loss
/// unless `--lambda` asks for another schedule.
#[test]
fn long_protocol_defaults_to_lambda_zero_for_angular() {
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(name);
        let mut a = vec!["train", "--loss", "angular", "--dim", "2", "--protocol", "long", "--out", out.to_str().unwrap()];
        a.extend_from_slice(&["--steps", "2", "--train-subset", "64", "--test-subset", "50", "--quiet"]);
        a.extend_from_slice(extra);
        let (code, _, err) = sphereface(&a);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap()
    };
    let c = config("long", &[]);
    assert_eq!(c["protocol"], "long");
    assert_eq!((c["batch"].as_u64(), c["lr_decay_steps"].as_f64(), c["rotate"].as_f64(), c["scale"].as_f64(), c["shift"].as_u64()), (Some(64), Some(2000.0), Some(10.0), Some(0.1), Some(2)));
    assert_eq!((c["head"]["lambda"]["base"].as_f64(), c["head"]["lambda"]["min"].as_f64()), (Some(0.0), Some(0.0)));
    assert_eq!(c["optimizer"]["kind"], "adam", "Adam unless --momentum is given");
    let sgd = config("long-sgd", &["--momentum", "0.9"]);
    assert_eq!((sgd["optimizer"]["kind"].as_str(), sgd["optimizer"]["momentum"].as_f64()), (Some("sgd"), Some(0.9)));
    let caffe = config("long-caffe", &["--lambda", "caffe"]);
    assert_eq!((caffe["head"]["lambda"]["base"].as_f64(), caffe["head"]["lambda"]["min"].as_f64()), (Some(1000.0), Some(5.0)));
    // Other protocols keep caffe as the default.
    let out = dir.path().join("quick");
    let (code, _, err) = sphereface(&["train", "--loss", "angular", "--steps", "2", "--train-subset", "64", "--test-subset", "50", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let q: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(q["head"]["lambda"]["base"].as_f64(), Some(1000.0));
}

/// `--validation 0` trains on every training image: config.json says so, metrics.json has no
/// validation accuracy, and `evaluate --split validation` explains why it cannot run.
#[test]
fn validation_zero_trains_on_all_images() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all");
    let o = out.to_str().unwrap();
    let (code, _, err) = sphereface(&["train", "--loss", "modified", "--validation", "0", "--steps", "2", "--train-subset", "64", "--test-subset", "50", "--quiet", "--out", o]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["validation"].as_u64(), Some(0));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert!(m["val_acc"].is_null(), "{m}");
    assert!(m["test_acc"].as_f64().is_some(), "{m}");
    fails_with(&["evaluate", "--run", o, "--split", "validation"], "was trained with no validation split");
    let (code, stdout, err) = sphereface(&["evaluate", "--run", o, "--split", "train", "--limit", "30"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("\"images\":30"), "{stdout}");
    fails_with(&["train", "--loss", "modified", "--validation", "40000", "--out", dir.path().join("x").to_str().unwrap()], "validation must be between 0 and 30000, got 40000");
}

/// `--loss cosface|arcface` trains with the papers' settings unless `--scale`/`--margin` say
/// otherwise, and `config.json` records them; `reproduce --losses` trains the ones asked for.
#[test]
fn margin_heads_from_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = ["--steps", "2", "--train-subset", "64", "--test-subset", "50", "--quiet"];
    let head = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(name);
        let mut a = vec!["train", "--dim", "2", "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        a.extend_from_slice(&tiny);
        let (code, _, err) = sphereface(&a);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap()["head"].clone()
    };
    assert_eq!(head("c", &["--loss", "cosface"]), serde_json::json!({"loss": "cosface", "s": 30.0, "m": 0.35}));
    assert_eq!(head("a", &["--loss", "arcface", "--scale", "16", "--margin", "0.3"]), serde_json::json!({"loss": "arcface", "s": 16.0, "m": 0.3}));
    let out = dir.path().join("rep");
    let mut a = vec!["reproduce", "--losses", "arcface,modified", "--dims", "3", "--out", out.to_str().unwrap()];
    a.extend_from_slice(&tiny);
    let (code, stdout, err) = sphereface(&a);
    assert_eq!(code, 0, "{err}");
    assert!(out.join("arcface-d3/metrics.json").exists() && out.join("modified-d3/metrics.json").exists() && !out.join("angular-d3").exists());
    assert!(stdout.contains("| ArcFace | – |"), "no seed number for ArcFace:\n{stdout}");
    // `table` rewrites the table from the saved runs, with the angles of their embeddings.
    std::fs::remove_file(out.join("results.csv")).unwrap();
    let (code, stdout, err) = sphereface(&["table", "--from", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.starts_with("loss,dim,test_acc,") && csv.contains("intra_mean_deg") && csv.lines().count() == 3, "{csv}");
    assert!(stdout.contains("| ArcFace | 3 |") && stdout.contains("°"), "{stdout}");
    fails_with(&["table", "--from", dir.path().join("c").to_str().unwrap()], "holds no finished runs");
}

/// `reproduce --jobs N` trains N runs at once: the same files as one at a time, the table in
/// the order of the runs asked for, and `reproduce.json` with the wall time of the whole.
#[test]
fn reproduce_trains_runs_at_once_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = ["--losses", "modified,angular", "--dims", "2,3", "--steps", "3", "--train-subset", "64", "--test-subset", "50", "--quiet"];
    let run = |name: &str, jobs: &str| {
        let out = dir.path().join(name);
        let mut a = vec!["reproduce", "--jobs", jobs, "--out", out.to_str().unwrap()];
        a.extend_from_slice(&tiny);
        let (code, stdout, err) = sphereface(&a);
        assert_eq!(code, 0, "{err}");
        (out, stdout)
    };
    let (one, _) = run("one", "1");
    let (three, stdout) = run("three", "3");
    assert!(stdout.contains("4 runs into") && stdout.contains("3 at a time"), "{stdout}");
    for r in ["modified-d2", "angular-d2", "modified-d3", "angular-d3"] {
        for f in ["history.csv", "embeddings.csv", "metrics.json"] {
            let read = |d: &std::path::Path| std::fs::read_to_string(d.join(r).join(f)).unwrap();
            let (a, b) = (read(&one), read(&three));
            if f == "metrics.json" {
                // equal but for the timings and the threads each run had
                let strip = |t: String| t.lines().filter(|l| !["seconds", "images_per_second", "threads"].iter().any(|k| l.contains(k))).collect::<Vec<_>>().join("\n");
                assert_eq!(strip(a), strip(b), "{r}/{f}");
            } else {
                assert!(a == b, "{r}/{f} differs between --jobs 1 and --jobs 3");
            }
        }
    }
    let csv = std::fs::read_to_string(three.join("results.csv")).unwrap();
    let order: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(order.len(), 4, "{csv}");
    assert!(order[0].ends_with(",2") && order[1].ends_with(",2") && order[2].ends_with(",3") && order[3].ends_with(",3"), "{order:?}");
    let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(three.join("reproduce.json")).unwrap()).unwrap();
    assert_eq!((rec["runs"].as_u64(), rec["jobs"].as_u64(), rec["protocol"].as_str()), (Some(4), Some(3), Some("quick")));
    assert!(rec["wall_seconds"].as_f64().unwrap() > 0.0 && rec["threads_per_job"].as_u64().unwrap() >= 1, "{rec}");
    let when = rec["finished_utc"].as_str().unwrap();
    assert!(when.len() == 20 && when.starts_with("20") && when.ends_with('Z'), "{when}");
    fails_with(&["reproduce", "--jobs", "0", "--out", dir.path().join("zero").to_str().unwrap()], "jobs must be >= 1, got 0");
}

/// `bench` prints one JSON line; with `--eval` it times evaluation only (no backward, no
/// optimizer) and says so.
#[test]
fn bench_prints_training_and_evaluation_timings() {
    for (args, mode) in [(vec!["bench", "--batch", "4", "--steps", "1", "--warmup", "0"], "train"), (vec!["bench", "--eval", "--batch", "3", "--steps", "1", "--warmup", "0"], "eval")] {
        let (code, out, err) = sphereface(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(v["mode"], mode);
        assert!(v["images_per_second"].as_f64().unwrap() > 0.0);
        let backward = v["backward_seconds"].as_f64().unwrap();
        assert_eq!(backward == 0.0, mode == "eval", "{mode}: backward {backward}");
    }
}

/// Open set from the command: `--known` refuses every bad list by name; a run trained on
/// known digits is evaluated (`openset evaluate`, then `openset table`); a closed-set run, a
/// truncated pairs file or a probe without pseudo-unknown digits are named errors that write
/// nothing.
#[test]
fn open_set_from_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x");
    let x = x.to_str().unwrap();
    fails_with(&["train", "--loss", "modified", "--known", "2,4,2", "--out", x], "known digits: 2 is listed twice");
    fails_with(&["train", "--loss", "modified", "--known", "0,1,2,3,4,5,6,7,8,9", "--out", x], "nothing would be unknown");
    fails_with(&["train", "--loss", "modified", "--known", "3,12", "--out", x], "12 is not a digit (0-9)");
    fails_with(&["train", "--loss", "modified", "--known", "5", "--out", x], "at least 2 are needed");
    fails_with(&["train", "--loss", "modified", "--known", "five", "--out", x], "not a comma-separated list of digits");
    fails_with(&["openset", "run", "--known", "1,2", "--out", x], "--known is for `train`");
    fails_with(&["openset", "pairs", "--split", "9"], "no split \"9\"");
    assert!(!dir.path().join("x").exists(), "nothing written");

    let root = dir.path().join("exp");
    let run = root.join("split1").join("angular-d3");
    let r = run.to_str().unwrap();
    let tiny = ["--steps", "2", "--train-subset", "64", "--quiet"];
    let mut a = vec!["train", "--loss", "angular", "--dim", "3", "--known", "2,4,5,9,8,3", "--out", r];
    a.extend_from_slice(&tiny);
    let (code, _, err) = sphereface(&a);
    assert_eq!(code, 0, "{err}");
    let cut: String = std::fs::read_to_string(sphereface_core::openset::Splits::default_dir().join("pairs-split1.txt")).unwrap().lines().take(100).map(|l| format!("{l}\n")).collect();
    let bad = dir.path().join("cut.txt");
    std::fs::write(&bad, cut).unwrap();
    fails_with(&["openset", "evaluate", "--run", r, "--pairs", bad.to_str().unwrap()], "truncated pairs file: its first line announces 6000 pairs (10 folds of 300), found 99");
    fails_with(&["openset", "evaluate", "--run", r, "--among", "2,4,5,9,8,3"], "must hold the run's known digits 2,4,5,9,8,3 and at least two more");
    assert!(!run.join("openset.json").exists() && !run.join("openset-validation.json").exists(), "nothing written on an error");
    let (code, stdout, err) = sphereface(&["openset", "evaluate", "--run", r]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((report["known_images"].as_u64(), report["verification"]["count"].as_u64()), (Some(5_899), Some(6_000)), "{stdout}");
    assert!(run.join("openset.json").exists() && run.join("pair-scores.csv").exists());
    let (code, stdout, err) = sphereface(&["openset", "table", "--from", root.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("| angular softmax | 3 | 1 |") && root.join("openset.csv").exists(), "{stdout}");

    let closed = dir.path().join("closed");
    let c = closed.to_str().unwrap();
    let mut a = vec!["train", "--loss", "modified", "--dim", "2", "--test-subset", "50", "--out", c];
    a.extend_from_slice(&tiny);
    assert_eq!(sphereface(&a).0, 0);
    fails_with(&["openset", "evaluate", "--run", c], "trained on all ten digits");
    fails_with(&["openset", "table", "--from", dir.path().join("closed").to_str().unwrap()], "holds no evaluated open-set runs");
}
