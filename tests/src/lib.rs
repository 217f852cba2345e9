//! Workspace-level checks (see `tests/`): the promises of the README about the repository
//! itself, independent of the `sphereface-core` crate.

use std::path::PathBuf;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Times stated in the documentation, and the committed records that back them.
///
/// A *time* is a number with a unit of time in prose: `49.5 s`, `4,246 s`, `41–64 min`,
/// `1 min 13 s`, `2.5 h`, `two minutes`. A *record* is a committed file that measured it:
/// `train_seconds` of a `metrics.json` or a `results.csv`, a field named `*seconds`, `*_s`
/// or `*_min` of a `.jsonl` file (`benches/`, `notebooks/timings.jsonl`,
/// `docs/ci-times.jsonl`), or a time printed in a committed `.log`. A time is backed when a
/// record cited in its paragraph (or, for a paragraph citing none, such as a table, in the
/// paragraph just before or after it) equals it to the precision it is written with: `41
/// min` is 2,430–2,490 s, `49.5 s` is 49.45–49.55 s; both ends of a range must be records.
pub mod times {
    use std::path::{Path, PathBuf};

    /// One time found in a text.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Time {
        /// As written, e.g. `41–64 min`.
        pub text: String,
        /// 1-based line where it starts.
        pub line: usize,
        /// Its value or the ends of its range, in seconds, each with its rounding tolerance.
        pub ends: Vec<(f64, f64)>,
    }

    fn unit_seconds(word: &str) -> Option<f64> {
        Some(match word {
            "ms" => 1e-3,
            "s" | "sec" | "second" | "seconds" => 1.0,
            "min" | "minute" | "minutes" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            _ => return None,
        })
    }

    const WORDS: [&str; 12] = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];

    /// A number at `i` (digits, `,ddd` groups, `.ddd`): its value, decimals, end.
    fn number(c: &[char], i: usize) -> Option<(f64, i32, usize)> {
        let mut j = i;
        let mut s = String::new();
        while j < c.len() && c[j].is_ascii_digit() {
            s.push(c[j]);
            j += 1;
        }
        if s.is_empty() {
            return None;
        }
        while j + 3 < c.len() && c[j] == ',' && c[j + 1..j + 4].iter().all(|d| d.is_ascii_digit()) && !c.get(j + 4).is_some_and(|d| d.is_ascii_digit()) {
            s.extend(&c[j + 1..j + 4]);
            j += 4;
        }
        let mut dec = 0;
        if j + 1 < c.len() && c[j] == '.' && c[j + 1].is_ascii_digit() {
            s.push('.');
            j += 1;
            while j < c.len() && c[j].is_ascii_digit() {
                s.push(c[j]);
                dec += 1;
                j += 1;
            }
        }
        Some((s.parse().ok()?, dec, j))
    }

    fn skip_spaces(c: &[char], mut j: usize) -> usize {
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        j
    }

    /// A unit word at `j` (after at least one space at `j - 1`), ending before a character
    /// that is not a letter, digit or `/`: its seconds and end.
    fn unit(c: &[char], j: usize) -> Option<(f64, usize)> {
        let mut k = j;
        while k < c.len() && c[k].is_ascii_alphabetic() {
            k += 1;
        }
        if k < c.len() && (c[k].is_alphanumeric() || c[k] == '/' || c[k] == '_') {
            return None;
        }
        let word: String = c[j..k].iter().collect();
        unit_seconds(&word).map(|u| (u, k))
    }

    /// Every time in `text`, with the line it starts on (paragraphs are read across line
    /// breaks).
    pub fn find_times(text: &str) -> Vec<Time> {
        let c: Vec<char> = text.chars().collect();
        let line_of = |i: usize| 1 + c[..i].iter().filter(|&&ch| ch == '\n').count();
        let mut out = Vec::new();
        let mut i = 0;
        while i < c.len() {
            let prev = if i > 0 { Some(c[i - 1]) } else { None };
            let boundary = prev.map_or(true, |p| !(p.is_alphanumeric() || matches!(p, '.' | '^' | '/' | '_' | ',' | '-' | '+' | '×')));
            // spelled-out numbers: "two minutes"
            if boundary && c[i].is_ascii_alphabetic() {
                let mut k = i;
                while k < c.len() && c[k].is_ascii_alphabetic() {
                    k += 1;
                }
                let w: String = c[i..k].iter().collect::<String>().to_lowercase();
                if let Some(n) = WORDS.iter().position(|x| *x == w) {
                    let j = skip_spaces(&c, k);
                    if j > k {
                        if let Some((u, end)) = unit(&c, j).filter(|(u, _)| *u >= 1.0) {
                            let v = (n + 1) as f64 * u;
                            out.push(Time { text: c[i..end].iter().collect(), line: line_of(i), ends: vec![(v, 0.5 * u)] });
                            i = end;
                            continue;
                        }
                    }
                }
                i = k;
                continue;
            }
            if !(boundary && c[i].is_ascii_digit()) {
                i += 1;
                continue;
            }
            let Some((a, da, mut j)) = number(&c, i) else {
                i += 1;
                continue;
            };
            let mut ends = vec![(a, da)];
            // a range: "A–B", "A-B", "A to B"
            let k = skip_spaces(&c, j);
            let sep_end = if k < c.len() && (c[k] == '–' || c[k] == '-') {
                Some(k + 1)
            } else if c[k..].starts_with(&['t', 'o', ' ']) {
                Some(k + 2)
            } else {
                None
            };
            if let Some(s) = sep_end {
                let s = skip_spaces(&c, s);
                if let Some((b, db, e)) = number(&c, s) {
                    ends.push((b, db));
                    j = e;
                }
            }
            let after = skip_spaces(&c, j);
            let found = if after > j { unit(&c, after) } else { None };
            let Some((u, mut end)) = found else {
                i = j.max(i + 1);
                continue;
            };
            let mut ends: Vec<(f64, f64)> = ends.iter().map(|&(v, d)| (v * u, 0.5 * 10f64.powi(-d) * u)).collect();
            // "1 min 13 s"
            if u == 60.0 && ends.len() == 1 {
                let k = skip_spaces(&c, end);
                if k > end {
                    if let Some((s, 0, e)) = number(&c, k) {
                        let k2 = skip_spaces(&c, e);
                        if let Some((_, e2)) = unit(&c, k2).filter(|&(us, _)| k2 > e && us == 1.0) {
                            ends = vec![(ends[0].0 + s, 0.5)];
                            end = e2;
                        }
                    }
                }
            }
            out.push(Time { text: c[i..end].iter().collect(), line: line_of(i), ends });
            i = end;
        }
        out
    }

    /// The records cited in `text`: paths under `results/` or `benches/`, `.jsonl` and
    /// `.log` files, `metrics.json` (all of `results/`), resolved against the workspace
    /// `root` and the document's directory `doc_dir`; a glob or a file name is cut back to
    /// the deepest path that exists.
    pub fn cited_records(text: &str, root: &Path, doc_dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for tok in text.split(|ch: char| ch.is_whitespace() || "`()[]<>,;\"'|".contains(ch)) {
            let tok = tok.trim_end_matches(['.', ':']);
            let cites = tok.contains("results/") || tok.contains("benches/") || tok.ends_with(".jsonl") || tok.ends_with(".log") || tok.ends_with("metrics.json") || tok.ends_with("results.csv");
            if !cites || tok.contains("://") {
                continue;
            }
            if tok == "metrics.json" {
                if !out.contains(&root.join("results")) {
                    out.push(root.join("results"));
                }
                continue;
            }
            let mut rel = tok;
            while let Some(r) = rel.strip_prefix("../").or_else(|| rel.strip_prefix("./")) {
                rel = r;
            }
            let rel = rel.split('*').next().unwrap_or("").trim_end_matches('/');
            for base in [root, doc_dir] {
                let mut p = base.join(rel);
                while !p.exists() && p.pop() && p.starts_with(base) && p != base {}
                if p.exists() && p != base && p.starts_with(root) && p != root {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                    break;
                }
            }
        }
        out
    }

    /// The times (seconds) a record holds; a directory: those of every record below it.
    pub fn record_values(path: &Path) -> Vec<f64> {
        let mut out = Vec::new();
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            entries.sort();
            for p in entries {
                out.extend(record_values(&p));
            }
            return out;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Ok(text) = std::fs::read_to_string(path) else { return out };
        if name == "metrics.json" {
            if let Some(v) = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|m| m["train_seconds"].as_f64()) {
                out.push(v);
            }
        } else if name.ends_with(".jsonl") {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let Ok(serde_json::Value::Object(m)) = serde_json::from_str(line) else { continue };
                for (k, v) in &m {
                    let scale = if k.ends_with("seconds") || k.ends_with("_s") {
                        1.0
                    } else if k.ends_with("_min") {
                        60.0
                    } else {
                        continue;
                    };
                    out.extend(v.as_f64().map(|v| v * scale));
                }
            }
        } else if name.ends_with(".log") {
            out.extend(find_times(&text).iter().flat_map(|t| t.ends.iter().map(|e| e.0)));
        } else if name == "results.csv" {
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
            if let Some(col) = header.iter().position(|h| *h == "train_seconds") {
                out.extend(lines.filter_map(|l| l.split(',').nth(col)?.parse::<f64>().ok()));
            }
        }
        out
    }

    /// Whether `t` is backed by `values`: every end of it equals one of them to its precision.
    pub fn backed(t: &Time, values: &[f64]) -> bool {
        t.ends.iter().all(|&(v, tol)| values.iter().any(|r| (r - v).abs() <= tol + 1e-9))
    }

    /// Checks every time in the document `doc` (a path under `root`): returns how many
    /// times it holds and one message per time that no cited record backs.
    pub fn check_document(doc: &Path, root: &Path) -> (usize, Vec<String>) {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let name = doc.strip_prefix(root).unwrap_or(doc).display().to_string();
        check_text(&text, &name, root, doc.parent().unwrap_or(root))
    }

    /// [`check_document`] of a text.
    pub fn check_text(text: &str, name: &str, root: &Path, doc_dir: &Path) -> (usize, Vec<String>) {
        // paragraphs (blank-line separated) with their first line
        let mut paras: Vec<(usize, String)> = Vec::new();
        let mut cur = String::new();
        let mut first = 1;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                if !cur.is_empty() {
                    paras.push((first, std::mem::take(&mut cur)));
                }
                first = n + 2;
            } else {
                cur.push_str(line);
                cur.push('\n');
            }
        }
        if !cur.is_empty() {
            paras.push((first, cur));
        }
        let cites: Vec<Vec<PathBuf>> = paras.iter().map(|(_, p)| cited_records(p, root, doc_dir)).collect();
        let (mut count, mut errors) = (0, Vec::new());
        for (i, (first, para)) in paras.iter().enumerate() {
            let times = find_times(para);
            if times.is_empty() {
                continue;
            }
            let mut sources = cites[i].clone();
            if sources.is_empty() {
                sources.extend(i.checked_sub(1).map(|j| cites[j].clone()).unwrap_or_default());
                sources.extend(cites.get(i + 1).cloned().unwrap_or_default());
            }
            let values: Vec<f64> = sources.iter().flat_map(|s| record_values(s)).collect();
            for t in times {
                count += 1;
                if !backed(&t, &values) {
                    let cited: Vec<String> = sources.iter().map(|s| s.strip_prefix(root).unwrap_or(s).display().to_string()).collect();
                    errors.push(format!(
                        "{name} line {}: the time `{}` is in no record cited beside it (cited: {})",
                        first + t.line - 1,
                        t.text.replace('\n', " "),
                        if cited.is_empty() { "none".to_string() } else { cited.join(", ") }
                    ));
                }
            }
        }
        (count, errors)
    }
}
