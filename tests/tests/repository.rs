//! The repository keeps what the README promises: the MNIST copy with its checksums, the
//! CI script running the README's test command, and the workspace layout.

use sha2::{Digest, Sha256};
use sphereface_tests::workspace_root;

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
