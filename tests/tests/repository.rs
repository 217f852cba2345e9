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
    assert!(ci.lines().any(|l| l.trim() == cmd), ".ci/run must run `{cmd}`");
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
