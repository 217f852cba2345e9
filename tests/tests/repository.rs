//! The repository keeps what the README promises: the MNIST copy with its checksums, the
//! CI script running the README's test command, and the workspace layout.

use sha2::{Digest, Sha256};
use sphereface_tests::{times, workspace_root};

/// The four committed MNIST files hash to the values in data/mnist/README.md, so a fresh
/// clone trains offline on exactly the published data.
#[test]
fn committed_mnist_matches_its_checksums() {
    let dir = workspace_root().join("data/mnist");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("data/mnist/README.md");
    let mut checked = 0;
    for line in readme.lines().filter(|l| l.starts_with("| ") && l.contains(".gz |")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (name, want) = (cells[1], cells[2]);
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4, "the README lists the four files");
}

/// `.ci/run` runs the test command the README gives, and the README names it.
#[test]
fn ci_runs_the_readme_test_command() {
    let root = workspace_root();
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let cmd = "cargo test -p sphereface-core";
    // as is, or timed by the script's `step` helper
    let runs = |l: &str| l.trim() == cmd || l.trim() == format!("step {cmd}");
    assert!(ci.lines().any(runs), ".ci/run must run `{cmd}`");
    assert!(readme.contains(cmd), "README.md must give `{cmd}`");
    assert!(ci.contains("--features cuda,dfdx/ci-check"), ".ci/run type-checks the cuda build");
}

/// The top level holds what the project's shape promises.
#[test]
fn workspace_layout() {
    let root = workspace_root();
    for p in ["notebooks", "sphereface-core", "Cargo.toml", "data", "tests", "README.md"] {
        assert!(root.join(p).exists(), "{p} missing at the top level");
    }
}

/// Every metrics.json under `results/` (recursively): its test and validation accuracies.
fn committed_accuracies(dir: &std::path::Path, out: &mut Vec<f64>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            committed_accuracies(&p, out);
        } else if p.file_name().is_some_and(|n| n == "metrics.json") {
            let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            out.extend(["test_acc", "val_acc"].iter().filter_map(|k| m[*k].as_f64()));
        }
    }
}

/// The degrees in every committed results.csv, to 0.1° as the README writes them.
fn committed_angles(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let csv = entry.path().join("results.csv");
        let Ok(text) = std::fs::read_to_string(&csv) else { continue };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        for line in lines {
            for (name, v) in header.iter().zip(line.split(',')) {
                if name.ends_with("_deg") {
                    if let Ok(v) = v.parse::<f64>() {
                        out.push(format!("{v:.1}°"));
                    }
                }
            }
        }
    }
    out
}

/// Every accuracy (0.dddd) and angle (d.d°) in the README's tables comes from a committed run:
/// a `metrics.json` under `results/` (test or validation accuracy) or a committed
/// `results.csv` (angles), or is one of the seed README's own numbers.
#[test]
fn readme_numbers_come_from_committed_runs() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut accs = Vec::new();
    committed_accuracies(&root.join("results"), &mut accs);
    let angles = committed_angles(&root.join("results"));
    let seed = ["0.9769", "0.9837", "0.9902"];
    if let Ok(seed_readme) = std::fs::read_to_string(root.join("../shared/spec/seed-README.md")) {
        assert!(seed.iter().all(|s| seed_readme.contains(s)), "the seed README's numbers");
    }
    let mut checked = 0;
    for line in readme.lines().filter(|l| l.starts_with('|')) {
        for cell in line.split('|') {
            for word in cell.split(|c: char| c.is_whitespace() || c == '/' || c == '*') {
                if word.len() == 6 && word.starts_with("0.") && word[2..].chars().all(|c| c.is_ascii_digit()) {
                    let v: f64 = word.parse().unwrap();
                    assert!(seed.contains(&word) || accs.iter().any(|a| (a - v).abs() < 5e-5), "README table number {word} is in no committed metrics.json (line: {line})");
                    checked += 1;
                } else if word.ends_with('°') && word.trim_end_matches('°').parse::<f64>().is_ok() {
                    assert!(angles.iter().any(|a| a == word), "README angle {word} is in no committed results.csv (line: {line})");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} numbers found in the README's tables");
}

/// Every row of the README's open-set table is a row of the committed
/// `results/openset/openset.md`, which `sphereface openset table` writes from the runs.
#[test]
fn readme_open_set_table_comes_from_the_committed_runs() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = std::fs::read_to_string(root.join("results/openset/openset.md")).expect("results/openset/openset.md");
    // The README's table with the header of openset.md, up to the first line that is not a row.
    let header = table.lines().next().unwrap();
    let rows: Vec<&str> = readme.lines().skip_while(|l| *l != header).skip(2).take_while(|l| l.starts_with('|')).collect();
    assert!(rows.len() >= 5, "the README's open-set table has a row per loss: {rows:?}");
    for row in rows {
        assert!(table.lines().any(|l| l == row), "README row is not in results/openset/openset.md: {row}");
    }
}

/// The documents whose every time must come from a committed record (see
/// `sphereface_tests::times`). docs/PERFORMANCE.md is not among them: its per-step and
/// per-phase times come from profiles and single sittings whose raw numbers were not all
/// committed (its throughputs are, in `benches/*.jsonl`).
const TIMED_DOCUMENTS: [&str; 3] = ["README.md", "docs/EXPERIMENTS.md", "notebooks/README.md"];

/// Every time in the README, docs/EXPERIMENTS.md and notebooks/README.md (`49.5–63.4 s`,
/// `41–64 min`, `1 min 13 s`, `two minutes`) equals, to the precision it is written with, a
/// time in a committed record cited in its paragraph (or beside its table): `train_seconds`
/// of the runs under a cited `results/` directory, a `*seconds`/`*_s`/`*_min` field of a
/// cited `.jsonl` (`benches/`, `notebooks/timings.jsonl`, `docs/ci-times.jsonl`), or a time
/// printed in a cited `.log`.
#[test]
fn documented_times_come_from_committed_records() {
    let root = workspace_root();
    let mut errors = Vec::new();
    for doc in TIMED_DOCUMENTS {
        let (count, errs) = times::check_document(&root.join(doc), &root);
        assert!(count >= 3, "{doc}: only {count} times found; is the matcher broken?");
        errors.extend(errs);
    }
    assert!(errors.is_empty(), "times without a record:\n{}", errors.join("\n"));
}

/// The matcher finds each way a time is written, with the tolerance of its precision.
#[test]
fn times_are_found_as_written() {
    let t = times::find_times("took 4 min 51 s, then 49.5–63.4 s per run; 4,246 s (71 min)\nand 2.5 h,\nabout two\nminutes; 1,600 steps, 6 steps/s, 0.9^(t/500), s = 30, 8s and 3s, 10 to 12 hours");
    let got: Vec<(&str, usize, Vec<(f64, f64)>)> = t.iter().map(|t| (t.text.as_str(), t.line, t.ends.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("4 min 51 s", 1, vec![(291.0, 0.5)]),
            ("49.5–63.4 s", 1, vec![(49.5, 0.05), (63.4, 0.05)]),
            ("4,246 s", 1, vec![(4246.0, 0.5)]),
            ("71 min", 1, vec![(4260.0, 30.0)]),
            ("2.5 h", 2, vec![(9000.0, 180.0)]),
            ("two\nminutes", 3, vec![(120.0, 30.0)]),
            ("10 to 12 hours", 4, vec![(36000.0, 1800.0), (43200.0, 1800.0)]),
        ]
    );
}

/// A wrong time is caught, a right one passes, and a time with no record beside it fails:
/// the quick runs' committed `train_seconds` are 49.5–63.4 s, not the 35 s the README once said.
#[test]
fn a_time_without_its_record_fails() {
    let root = workspace_root();
    let check = |text: &str| times::check_text(text, "made-up.md", &root, &root);
    let (n, errs) = check("The quick runs train in 49.5–63.4 s each (`results/quick/*/metrics.json`).\n");
    assert_eq!((n, errs.len()), (1, 0), "{errs:?}");
    let (n, errs) = check("The quick runs train in 35 s each (`results/quick/*/metrics.json`).\n");
    assert_eq!(n, 1);
    assert!(errs.len() == 1 && errs[0].contains("line 1") && errs[0].contains("`35 s`") && errs[0].contains("results/quick"), "{errs:?}");
    let (_, errs) = check("Intro.\n\nThe whole run took 4 min 51 s on 2 cores.\n");
    assert!(errs.len() == 1 && errs[0].contains("line 3") && errs[0].contains("cited: none"), "{errs:?}");
    // a range must be backed at both ends, in minutes to the minute
    let (_, errs) = check("Long runs: 41–64 min each (`results/long/results.csv`, seed's three losses).\n");
    assert!(errs.is_empty(), "{errs:?}");
    let (_, errs) = check("Long runs: 40–65 min each (`results/long/results.csv`).\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    // a table is backed by the record cited just below it
    let (_, errs) = check("| notebook | cold |\n|---|---:|\n| 01 | 1 min 13 s |\n\nFrom `notebooks/timings.jsonl`.\n");
    assert!(errs.is_empty(), "{errs:?}");
}
