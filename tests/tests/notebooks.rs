//! The notebooks under `notebooks/`: their structure (checked on the committed files) and
//! a headless run of each one with the evcxr Rust kernel.
//!
//! The run needs Jupyter (`jupyter nbconvert`) and the evcxr kernel (`evcxr_jupyter
//! --install`), both installed by `notebooks/install.sh`, which `.ci/run` calls. When they
//! are missing the run test fails if the environment variable `CI` is set (as `.ci/run`
//! does) and otherwise says it did not run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sphereface_tests::workspace_root;

/// The four notebooks, in teaching order.
const NOTEBOOKS: [&str; 4] = ["01-softmax-formulas.ipynb", "02-training.ipynb", "03-accuracy-table.ipynb", "04-embeddings.ipynb"];

/// Longest code cell, in lines: a cell must fit on a slide.
const MAX_CODE_LINES: usize = 15;

/// Strings that tie a notebook to one machine: absolute paths and home directories.
const MACHINE_SPECIFIC: [&str; 7] = ["/work/", "/root/", "/home/", "/tmp/", "/Users/", ":\\\\", "/usr/local/"];

fn notebook_dir() -> PathBuf {
    workspace_root().join("notebooks")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// A cell's source as one string (nbformat allows a string or a list of lines).
fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn cells(nb: &Value) -> &Vec<Value> {
    nb["cells"].as_array().expect("a notebook has a list of cells")
}

fn code_cells(nb: &Value) -> impl Iterator<Item = &Value> {
    cells(nb).iter().filter(|c| c["cell_type"] == "code")
}

/// Every output's MIME types (`stream` outputs count as `stream`, errors as `error`).
fn output_kinds(nb: &Value) -> Vec<String> {
    let mut kinds = Vec::new();
    for cell in code_cells(nb) {
        for out in cell["outputs"].as_array().into_iter().flatten() {
            match out["output_type"].as_str() {
                Some("stream") => kinds.push("stream".into()),
                Some("error") => kinds.push("error".into()),
                _ => kinds.extend(out["data"].as_object().into_iter().flatten().map(|(k, _)| k.clone())),
            }
        }
    }
    kinds
}

/// The text of every output that is not an image (streams, text/plain, text/html, errors).
fn output_text(nb: &Value) -> String {
    let mut text = String::new();
    let join = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    };
    for cell in code_cells(nb) {
        for out in cell["outputs"].as_array().into_iter().flatten() {
            text.push_str(&join(&out["text"]));
            text.push_str(&join(&out["evalue"]));
            for (mime, v) in out["data"].as_object().into_iter().flatten() {
                if mime.starts_with("text/") {
                    text.push_str(&join(v));
                }
            }
        }
    }
    text
}

/// What the outputs of a run must hold: no error, and the figures and tables each
/// notebook is for.
fn check_outputs(name: &str, nb: &Value) {
    let kinds = output_kinds(nb);
    assert!(!kinds.iter().any(|k| k == "error"), "{name}: an output is an error:\n{}", output_text(nb));
    for cell in code_cells(nb) {
        assert!(cell["execution_count"].is_number(), "{name}: a code cell was not run: {}", source(cell));
    }
    let count = |mime: &str| kinds.iter().filter(|k| *k == mime).count();
    let text = output_text(nb);
    match &name[..2] {
        "01" => assert!(count("image/png") >= 3, "{name}: ψ, decision regions and λ figures: {kinds:?}"),
        "02" => {
            assert!(count("image/png") >= 4, "{name}: four training-curve figures: {kinds:?}");
            assert!(text.contains("<table>") && text.contains("ours 3-D"), "{name}: the accuracy table");
            assert!(text.contains("step   300/300"), "{name}: training progress lines");
        }
        "03" => assert!(text.matches("<table>").count() >= 5 && text.contains("seed README") && text.contains("long protocol"), "{name}: five HTML tables (seed, strong, long, quick protocol, per run)"),
        "04" => {
            assert!(count("image/png") >= 5, "{name}: five embedding figures: {kinds:?}");
            assert!(count("image/gif") >= 1, "{name}: the evolution animation");
        }
        _ => unreachable!(),
    }
    assert_no_machine_paths(name, "an output", &text);
}

#[track_caller]
fn assert_no_machine_paths(name: &str, what: &str, text: &str) {
    for bad in MACHINE_SPECIFIC {
        assert!(!text.contains(bad), "{name}: {what} mentions {bad:?}, a machine-specific path:\n{text}");
    }
}

#[test]
fn the_four_notebooks_exist_and_use_the_rust_kernel() {
    for name in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        assert_eq!(nb["nbformat"], 4, "{name}: nbformat 4");
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "rust", "{name}: the evcxr kernel (name `rust`)");
        assert_eq!(nb["metadata"]["kernelspec"]["language"], "rust", "{name}");
        assert!(cells(&nb).len() >= 5, "{name}: a notebook to teach from has several cells");
    }
}

/// Every `:dep` names `sphereface-core` by its path relative to the notebook, and that
/// path is the workspace's crate; nothing else is pulled from a path.
#[test]
fn dep_paths_are_relative_to_the_workspace() {
    for name in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let deps: Vec<String> = code_cells(&nb).flat_map(|c| source(c).lines().filter(|l| l.trim_start().starts_with(":dep")).map(String::from).collect::<Vec<_>>()).collect();
        assert_eq!(deps.len(), 1, "{name}: one :dep line, got {deps:?}");
        assert_eq!(deps[0].trim(), r#":dep sphereface-core = { path = "../sphereface-core" }"#, "{name}");
        assert!(notebook_dir().join("../sphereface-core/Cargo.toml").exists());
        let first_code = code_cells(&nb).next().map(source).unwrap_or_default();
        assert!(first_code.starts_with(":dep"), "{name}: the first code cell loads the crate");
    }
}

#[test]
fn no_absolute_paths_or_machine_specific_strings() {
    for name in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        for cell in cells(&nb) {
            assert_no_machine_paths(name, "a cell", &source(cell));
        }
        assert_no_machine_paths(name, "an output", &output_text(&nb));
    }
}

#[test]
fn code_cells_fit_on_a_slide() {
    for name in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        for cell in code_cells(&nb) {
            let src = source(cell);
            let n = src.lines().count();
            assert!(n <= MAX_CODE_LINES, "{name}: a code cell has {n} lines (max {MAX_CODE_LINES}):\n{src}");
            assert!(src.lines().all(|l| l.chars().count() <= 150), "{name}: a line longer than 150 characters:\n{src}");
        }
    }
}

/// Every cell says where it goes in a slide deck; each notebook opens with a slide and
/// has several.
#[test]
fn cells_carry_slide_metadata() {
    let types = ["slide", "subslide", "fragment", "-", "skip", "notes"];
    for name in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let slide_types: Vec<&str> = cells(&nb).iter().map(|c| c["metadata"]["slideshow"]["slide_type"].as_str().unwrap_or("missing")).collect();
        for t in &slide_types {
            assert!(types.contains(t), "{name}: slide_type {t:?}");
        }
        assert_eq!(slide_types[0], "slide", "{name}: opens with a slide");
        assert!(slide_types.iter().filter(|t| **t == "slide").count() >= 3, "{name}: at least three slides");
    }
}

/// The committed notebooks carry the outputs of a full run in quick mode.
#[test]
fn committed_notebooks_carry_their_outputs() {
    for name in NOTEBOOKS {
        check_outputs(name, &load(&notebook_dir().join(name)));
    }
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Runs every notebook headless with the evcxr kernel (as `jupyter nbconvert --execute`)
/// and checks the fresh outputs, then builds a slide deck of each.
#[test]
fn notebooks_run_headless_and_build_slides() {
    let jupyter = have("jupyter", &["nbconvert", "--version"]);
    let kernel = Command::new("jupyter").args(["kernelspec", "list"]).output().map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim_start().starts_with("rust "))).unwrap_or(false);
    if !(jupyter && kernel) {
        let what = format!("jupyter nbconvert {}, evcxr kernel {}", if jupyter { "found" } else { "missing" }, if kernel { "found" } else { "missing" });
        if std::env::var_os("CI").is_some() {
            panic!("{what}: run notebooks/install.sh (CI must run the notebooks)");
        }
        eprintln!("notebooks not run ({what}); run notebooks/install.sh, or set CI=1 to make this a failure");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // One persistent build directory for the kernel, shared by the four notebooks and reruns.
    let evcxr_tmp = workspace_root().join("target/evcxr");
    std::fs::create_dir_all(&evcxr_tmp).unwrap();
    for name in NOTEBOOKS {
        let started = std::time::Instant::now();
        let status = Command::new("jupyter")
            .args(["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=3600"])
            .arg("--output-dir")
            .arg(out.path())
            .arg(notebook_dir().join(name))
            .env("EVCXR_TMPDIR", &evcxr_tmp)
            .status()
            .expect("jupyter runs");
        assert!(status.success(), "{name}: jupyter nbconvert --execute failed");
        eprintln!("{name}: ran in {:.0} s", started.elapsed().as_secs_f64());
        check_outputs(name, &load(&out.path().join(name)));
        let slides = Command::new("jupyter")
            .args(["nbconvert", "--to", "slides", "--output-dir"])
            .arg(out.path())
            .arg(out.path().join(name))
            .status()
            .expect("jupyter runs");
        assert!(slides.success(), "{name}: jupyter nbconvert --to slides failed");
        let deck = std::fs::read_to_string(out.path().join(name.replace(".ipynb", ".slides.html"))).expect("the slide deck");
        assert!(deck.matches("<section").count() >= 3, "{name}: the deck has slides");
    }
}
