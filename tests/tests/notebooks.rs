//! The notebooks under `notebooks/`: their structure and committed outputs (checked on the
//! files), and a headless run of each one with the evcxr Rust kernel, whose fresh outputs are
//! checked the same way, turned into a slide deck, and the deck opened offline in headless
//! Chromium.
//!
//! The run needs Jupyter (`jupyter nbconvert`), the evcxr kernel, the slides' local copies of
//! reveal.js and MathJax and Chromium, all installed by `notebooks/install.sh` (which
//! `.ci/run` calls). When they are missing the run test fails if the environment variable
//! `CI` is set (as `.ci/run` does) and otherwise says it did not run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sphereface_tests::workspace_root;

/// The notebooks, in teaching order, with the crate features each asks for.
const NOTEBOOKS: [(&str, &str); 6] = [
    ("01-softmax-formulas.ipynb", r#"["plot"]"#),
    ("02-training.ipynb", r#"["plot", "table"]"#),
    ("03-accuracy-table.ipynb", r#"["table"]"#),
    ("04-embeddings.ipynb", r#"["plot"]"#),
    ("05-margin-family.ipynb", r#"["plot", "table"]"#),
    ("06-open-set.ipynb", r#"["plot", "table"]"#),
];

/// Longest code cell, in lines: a cell must fit on a slide.
const MAX_CODE_LINES: usize = 15;
/// Longest code line, in characters: wider lines wrap on a slide.
const MAX_LINE: usize = 80;

/// Strings that tie a notebook to one machine: absolute paths and home directories.
const MACHINE_SPECIFIC: [&str; 7] = ["/work/", "/root/", "/home/", "/tmp/", "/Users/", ":\\\\", "/usr/local/"];

fn notebook_dir() -> PathBuf {
    workspace_root().join("notebooks")
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Text that nbformat stores as a string or a list of lines, as one string.
fn joined(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn source(cell: &Value) -> String {
    joined(&cell["source"])
}

fn cells(nb: &Value) -> &Vec<Value> {
    nb["cells"].as_array().expect("a notebook has a list of cells")
}

fn code_cells(nb: &Value) -> impl Iterator<Item = &Value> {
    cells(nb).iter().filter(|c| c["cell_type"] == "code")
}

fn slide_type(cell: &Value) -> &str {
    cell["metadata"]["slideshow"]["slide_type"].as_str().unwrap_or("missing")
}

fn outputs(cell: &Value) -> impl Iterator<Item = &Value> {
    cell["outputs"].as_array().into_iter().flatten()
}

/// Every output's MIME types (`stream` outputs count as `stream`, errors as `error`).
fn output_kinds(nb: &Value) -> Vec<String> {
    let mut kinds = Vec::new();
    for out in code_cells(nb).flat_map(outputs) {
        match out["output_type"].as_str() {
            Some("stream") => kinds.push("stream".into()),
            Some("error") => kinds.push("error".into()),
            _ => kinds.extend(out["data"].as_object().into_iter().flatten().map(|(k, _)| k.clone())),
        }
    }
    kinds
}

/// The text of every output that is not an image (streams, text/plain, text/html, errors).
fn output_text(nb: &Value) -> String {
    let mut text = String::new();
    for out in code_cells(nb).flat_map(outputs) {
        text.push_str(&joined(&out["text"]));
        text.push_str(&joined(&out["evalue"]));
        for (mime, v) in out["data"].as_object().into_iter().flatten() {
            if mime.starts_with("text/") {
                text.push_str(&joined(v));
            }
        }
    }
    text
}

/// Every figure a notebook shows: the base64 payload of each PNG, and of each image embedded
/// as an HTML `<img src="data:…">` (the animations).
fn figures(nb: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for o in code_cells(nb).flat_map(outputs) {
        if let Some(png) = o["data"].get("image/png") {
            out.push(joined(png).replace('\n', ""));
        }
        if let Some(html) = o["data"].get("text/html") {
            let html = joined(html);
            for part in html.split("src=\"data:image/").skip(1) {
                let payload = part.split_once("base64,").map(|(_, p)| p.split('"').next().unwrap_or("")).unwrap_or("");
                out.push(payload.to_string());
            }
        }
    }
    out
}

/// Every HTML image in a notebook's outputs: its `alt` and its `data-font-px` (the smallest
/// text of the figure in the image's pixels), when it has them.
fn images(nb: &Value) -> Vec<(Option<String>, Option<f64>)> {
    let attr = |tag: &str, name: &str| tag.split_once(&format!(" {name}=\"")).and_then(|(_, r)| r.split_once('"')).map(|(v, _)| v.to_string());
    let mut out = Vec::new();
    for o in code_cells(nb).flat_map(outputs) {
        if let Some(html) = o["data"].get("text/html") {
            for tag in joined(html).split("<img").skip(1) {
                let tag = tag.split('>').next().unwrap_or("");
                out.push((attr(tag, "alt"), attr(tag, "data-font-px").and_then(|v| v.parse().ok())));
            }
        }
    }
    out
}

/// The decimal numbers (`0.2105`, `6.9`, `98.52`) in a notebook's prose, outside its title
/// cell and outside markdown tables (published numbers, each with its source), with the line
/// each is on.
fn prose_decimals(nb: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for cell in cells(nb).iter().skip(1).filter(|c| c["cell_type"] == "markdown") {
        for line in source(cell).lines().filter(|l| !l.trim_start().starts_with('|')) {
            let b = line.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let starts = b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b'_'));
                if !starts {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b',') {
                    j += 1;
                }
                if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                    let mut k = j + 1;
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    out.push((line[i..k].to_string(), line.trim().to_string()));
                    i = k;
                } else {
                    i = j.max(i + 1);
                }
            }
        }
    }
    out
}

/// A decimal with 8 or more digits after the point: float noise nobody should read.
fn float_noise(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    for (i, w) in b.windows(2).enumerate() {
        if w[0].is_ascii_digit() && w[1] == b'.' {
            let digits = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits >= 8 {
                return Some(&text[i..(i + 2 + digits).min(text.len())]);
            }
        }
    }
    None
}

/// What the outputs of a run must hold: no error, every cell run, rounded numbers, and the
/// figures and tables each notebook is for.
fn check_outputs(name: &str, nb: &Value) {
    let kinds = output_kinds(nb);
    assert!(!kinds.iter().any(|k| k == "error"), "{name}: an output is an error:\n{}", output_text(nb));
    for cell in code_cells(nb) {
        assert!(cell["execution_count"].is_number(), "{name}: a code cell was not run: {}", source(cell));
    }
    let figs = figures(nb).len();
    let text = output_text(nb);
    if let Some(noise) = float_noise(&text) {
        panic!("{name}: an output prints {noise}: round numbers for reading");
    }
    let tables = text.matches("<table>").count();
    match &name[..2] {
        "01" => assert!(figs >= 4, "{name}: ψ, target, λ and decision-region figures: {kinds:?}"),
        "02" => {
            assert!(figs >= 3, "{name}: angle and training-curve figures: {kinds:?}");
            assert!(text.contains("[##########] 100%"), "{name}: the progress bars of the live runs");
            assert!(text.contains("of modified softmax's") && tables >= 3, "{name}: the measured angles and tables");
        }
        "03" => assert!(tables >= 7 && text.contains("seed README") && text.contains("intra-class"), "{name}: accuracy and angle tables"),
        "04" => {
            assert!(figs >= 7, "{name}: embedding figures: {kinds:?}");
            assert!(text.contains("data:image/gif;base64,"), "{name}: the evolution animation, as an HTML image");
        }
        "05" => assert!(figs >= 4 && tables >= 2 && text.contains("ArcFace"), "{name}: curves, regions, embeddings and the five-loss tables"),
        "06" => assert!(figs >= 4 && tables >= 1 && text.contains("AUROC 0.6111, by hand 0.6111") && text.contains("±"), "{name}: the worked AUROC, unseen digits in grey, ROC, pair cosines and the open-set table"),
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
fn the_notebooks_exist_and_use_the_rust_kernel() {
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        assert_eq!(nb["nbformat"], 4, "{name}: nbformat 4");
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "rust", "{name}: the evcxr kernel (name `rust`)");
        assert!(cells(&nb).len() >= 5, "{name}: a notebook to teach from has several cells");
    }
}

/// The first code cell loads `sphereface-core` by its path relative to the notebook, with
/// only the features the notebook uses (so its first cell compiles no more than it needs);
/// nothing else is pulled from a path.
#[test]
fn each_notebook_asks_for_the_features_it_uses() {
    for (name, features) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let deps: Vec<String> = code_cells(&nb).flat_map(|c| source(c).lines().filter(|l| l.trim_start().starts_with(":dep")).map(String::from).collect::<Vec<_>>()).collect();
        let want = format!(r#":dep sphereface-core = {{ path = "../sphereface-core", default-features = false, features = {features} }}"#);
        assert_eq!(deps, [want], "{name}");
        assert!(notebook_dir().join("../sphereface-core/Cargo.toml").exists());
        // Kernel settings (`:opt 0` in the notebook that only reads files) may come first.
        let first_code = code_cells(&nb).next().map(source).unwrap_or_default();
        let first_line = first_code.lines().find(|l| !l.starts_with(":opt")).unwrap_or_default();
        assert!(first_line.starts_with(":dep"), "{name}: the first code cell loads the crate");
    }
}

#[test]
fn no_absolute_paths_or_machine_specific_strings() {
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        for cell in cells(&nb) {
            assert_no_machine_paths(name, "a cell", &source(cell));
        }
    }
}

/// A code cell fits on a slide: at most 15 lines of at most 80 characters (the `:dep` line,
/// in a skipped cell, cannot be split).
#[test]
fn code_cells_fit_on_a_slide() {
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        for cell in code_cells(&nb) {
            let src = source(cell);
            let n = src.lines().count();
            assert!(n <= MAX_CODE_LINES, "{name}: a code cell has {n} lines (max {MAX_CODE_LINES}):\n{src}");
            for line in src.lines().filter(|l| !l.starts_with(":dep")) {
                assert!(line.chars().count() <= MAX_LINE, "{name}: a line of {} characters (max {MAX_LINE}): {line}", line.chars().count());
            }
        }
    }
}

/// Every cell says where it goes in a slide deck; each notebook opens with a slide and has
/// several. A skipped cell (not in the deck) holds only the `:dep` line, `use` lines and
/// kernel commands, so that nothing a visible slide needs is defined out of sight.
#[test]
fn slides_are_self_contained() {
    let types = ["slide", "subslide", "fragment", "-", "skip", "notes"];
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let slide_types: Vec<&str> = cells(&nb).iter().map(slide_type).collect();
        for t in &slide_types {
            assert!(types.contains(t), "{name}: slide_type {t:?}");
        }
        assert_eq!(slide_types[0], "slide", "{name}: opens with a slide");
        assert!(slide_types.iter().filter(|t| **t == "slide").count() >= 3, "{name}: at least three slides");
        for cell in code_cells(&nb).filter(|c| slide_type(c) == "skip") {
            for line in source(cell).lines().map(str::trim).filter(|l| !l.is_empty()) {
                assert!(line.starts_with(':') || line.starts_with("use ") || line.starts_with("//"), "{name}: a skipped cell defines {line:?}, which the slides would need");
            }
        }
    }
}

/// Each notebook states its goal and its measured times at the top, and ends with a summary
/// and exercises.
#[test]
fn notebooks_state_times_and_end_with_exercises() {
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let first = source(&cells(&nb)[0]);
        assert!(first.contains("**Goal:**"), "{name}: a one-sentence goal");
        assert!(first.contains("Times (2 cores)") && first.contains(" min"), "{name}: the measured times");
        assert!(!first.contains("TIME0"), "{name}: a time placeholder was not filled in");
        let last = source(cells(&nb).last().unwrap());
        assert!(last.contains("## Summary") && last.contains("## Exercises"), "{name}: ends with a summary and exercises");
    }
}

/// The committed notebooks carry the outputs of a fresh-kernel run.
#[test]
fn committed_notebooks_carry_their_outputs() {
    for (name, _) in NOTEBOOKS {
        check_outputs(name, &load(&notebook_dir().join(name)));
    }
}

/// A screenshot of one slide of each deck (its densest figure slide, `check-deck.sh DECK
/// SHOT densest`), opened offline at 1280 x 720, is committed beside the figures.
#[test]
fn a_slide_of_each_deck_is_pictured() {
    for (name, _) in NOTEBOOKS {
        let shot = notebook_dir().join(format!("figures/slides-{}.png", &name[..2]));
        let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert!(bytes.starts_with(&[0x89, b'P', b'N', b'G']) && bytes.len() > 10_000, "{}", shot.display());
        // The IHDR chunk: width and height, big-endian, at bytes 16..24.
        let side = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((side(16), side(20)), (1280, 720), "{}: a whole slide as projected", shot.display());
    }
}

/// Every figure a notebook shows says what it shows (`alt`) and how small its text is
/// (`data-font-px`, which the slide check turns into pixels on the slide), and its smallest
/// text is at least 15 px in the image's own pixels at 1x (30 in the 2x PNG).
#[test]
fn figures_are_described_and_measured() {
    let mut n = 0;
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let imgs = images(&nb);
        n += imgs.len();
        for (alt, font) in imgs {
            let alt = alt.unwrap_or_default();
            assert!(alt.len() > 30 && !alt.starts_with("No description"), "{name}: a figure without a real description: {alt:?}");
            assert!(font.is_some_and(|f| f >= 15.0), "{name}: a figure's smallest text is {font:?} px ({alt})");
        }
    }
    assert!(n >= 30, "only {n} figures in the notebooks");
}

/// Every decimal number in a notebook's prose is one the notebook computes: it appears in
/// the notebook's code or in its outputs (a number typed into the text by hand drifts from
/// the run: 01 once said L = 0.2104 where its cell printed 0.2105).
#[test]
fn prose_numbers_come_from_the_notebook() {
    for (name, _) in NOTEBOOKS {
        let nb = load(&notebook_dir().join(name));
        let code: String = code_cells(&nb).map(source).collect::<Vec<_>>().join("\n");
        let text = output_text(&nb);
        let mut missing = Vec::new();
        for (num, line) in prose_decimals(&nb) {
            if !text.contains(&num) && !code.contains(&num) {
                missing.push(format!("{num} in: {line}"));
            }
        }
        assert!(missing.is_empty(), "{name}: numbers in the prose that the notebook neither computes nor prints:\n{}", missing.join("\n"));
    }
}

#[test]
fn prose_decimals_are_found() {
    let nb: Value = serde_json::from_str(r##"{"cells": [{"cell_type": "markdown", "source": "# title 1.5"}, {"cell_type": "markdown", "source": ["L = 0.2104, x_1.5 and v2.0 no, 1,234.5 yes\n", "| 97.8 | table |"]}]}"##).unwrap();
    let nums: Vec<String> = prose_decimals(&nb).into_iter().map(|(n, _)| n).collect();
    assert_eq!(nums, ["0.2104", "1,234.5"]);
}

/// The formula notebook has headings with ψ, θ and λ: the deck check (headings keep their
/// case) is tried on them.
#[test]
fn greek_headings_are_in_the_decks() {
    let nb = load(&notebook_dir().join(NOTEBOOKS[0].0));
    let headings: Vec<String> = cells(&nb).iter().filter(|c| c["cell_type"] == "markdown").flat_map(|c| source(c).lines().filter(|l| l.starts_with('#')).map(String::from).collect::<Vec<_>>()).collect();
    assert!(headings.iter().any(|h| h.contains("ψ(θ)")) && headings.iter().any(|h| h.contains('λ')), "{headings:?}");
}

#[test]
fn float_noise_is_found() {
    assert_eq!(float_noise("logits [1.999999999999, 2.0]"), Some("1.999999999999"));
    assert_eq!(float_noise("loss 0.2104, 12.5°"), None);
}

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Runs every notebook headless with the evcxr kernel (as `jupyter nbconvert --execute`) and
/// checks the fresh outputs; builds the slide decks with `notebooks/slides.sh`, checks that
/// every figure of a notebook is in its deck, and opens each deck in headless Chromium with
/// the network blocked (`notebooks/slides/check-deck.sh`): formulas typeset, slides laid out,
/// nothing loaded from the network, no slide larger than 1280 x 720, every figure's text at
/// least 14 px on the slide, every image described, headings in their own case.
#[test]
fn notebooks_run_headless_and_work_as_offline_slides() {
    let jupyter = have("jupyter", &["nbconvert", "--version"]);
    let kernel = Command::new("jupyter").args(["kernelspec", "list"]).output().map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim_start().starts_with("rust "))).unwrap_or(false);
    let vendor = notebook_dir().join("slides/vendor/node_modules/reveal.js").exists();
    let chromium = have("chromium", &["--version"]);
    if !(jupyter && kernel && vendor && chromium) {
        let what = format!("jupyter nbconvert {jupyter}, evcxr kernel {kernel}, slides' vendor files {vendor}, chromium {chromium}");
        if std::env::var_os("CI").is_some() {
            panic!("missing ({what}): run notebooks/install.sh (CI must run the notebooks)");
        }
        eprintln!("notebooks not run (found: {what}); run notebooks/install.sh, or set CI=1 to make this a failure");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // One persistent build directory for the kernel, shared by the notebooks and reruns.
    let evcxr_tmp = workspace_root().join("target/evcxr");
    std::fs::create_dir_all(&evcxr_tmp).unwrap();
    for (name, _) in NOTEBOOKS {
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
        let ran = load(&out.path().join(name));
        check_outputs(name, &ran);
        let slides = Command::new("bash")
            .arg(notebook_dir().join("slides.sh"))
            .arg(out.path().join(name))
            .env("OUT", out.path())
            .output()
            .expect("bash runs");
        let log = String::from_utf8_lossy(&slides.stderr);
        assert!(slides.status.success(), "{name}: notebooks/slides.sh failed:\n{log}");
        assert!(!log.contains("Alternative text is missing"), "{name}: nbconvert finds images without alternative text:\n{log}");
        let deck_path = out.path().join(name.replace(".ipynb", ".slides.html"));
        let deck = std::fs::read_to_string(&deck_path).expect("the slide deck");
        for (i, fig) in figures(&ran).iter().enumerate() {
            assert!(fig.len() > 100 && deck.contains(fig.as_str()), "{name}: figure {i} is not in the slide deck");
        }
        let check = Command::new("bash").arg(notebook_dir().join("slides/check-deck.sh")).arg(&deck_path).output().expect("bash runs");
        assert!(check.status.success(), "{name}: the deck does not work offline:\n{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
        if name.starts_with("01") {
            the_deck_check_fails_on_a_broken_deck(&deck, out.path());
        }
    }
}

/// The deck check is a check that can fail: copies of a deck that passed, each with one fault
/// injected, must each fail with its own message.
fn the_deck_check_fails_on_a_broken_deck(deck: &str, dir: &Path) {
    let style = |css: &str| deck.replacen("</head>", &format!("<style>{css}</style></head>"), 1);
    let faults = [
        ("small", style(".reveal .jp-OutputArea-output img { max-width: 300px !important; }"), "figure text too small to read"),
        ("upper", style(".reveal h2 { text-transform: uppercase !important; }"), "heading changed by the theme"),
        ("tall", style(".reveal .jp-OutputArea-output img { max-height: none !important; min-height: 900px; }"), "slide taller than the slide height"),
        ("noalt", deck.replacen(" alt=\"", " data-alt=\"", 1), "no description (alt text)"),
        ("mathml", style(".reveal .MJX_Assistive_MathML { display: none !important; }"), "formula for screen readers"),
    ];
    for (what, html, message) in faults {
        let path = dir.join(format!("fault-{what}.slides.html"));
        std::fs::write(&path, html).unwrap();
        let check = Command::new("bash").arg(notebook_dir().join("slides/check-deck.sh")).arg(&path).output().expect("bash runs");
        let err = String::from_utf8_lossy(&check.stderr);
        assert!(!check.status.success() && err.contains(message), "a deck with fault {what:?} passed the check or failed otherwise:\n{err}");
    }
}
