//! The results table: our honest test accuracies per loss and embedding dimension beside
//! the seed README's numbers, as CSV and Markdown.

use serde::{Deserialize, Serialize};

use crate::train::Metrics;

/// The seed README's test accuracies (YunYang1994/SphereFace, produced by a buggy loop
/// that trained the plain softmax graph three times; see the README).
pub const SEED_TABLE: [(&str, f64); 3] = [("original", 0.9769), ("modified", 0.9837), ("angular", 0.9902)];

/// One cell of the results: a loss at one embedding dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `original`, `modified` or `angular`.
    pub loss: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Our test accuracy (no margin, frozen weights, all test images).
    pub test_acc: f64,
    /// Our test accuracy on the margin logits.
    pub test_acc_margin: f64,
    /// The seed README's number for this loss.
    pub seed_acc: f64,
    /// Training seconds.
    pub train_seconds: f64,
    /// Steps trained.
    pub steps: u64,
}

impl ResultRow {
    /// A row from a run's metrics.
    pub fn new(loss: &str, dim: usize, m: &Metrics) -> Self {
        let seed_acc = SEED_TABLE.iter().find(|(l, _)| *l == loss).map(|(_, a)| *a).unwrap_or(f64::NAN);
        ResultRow { loss: loss.into(), dim, test_acc: m.test_acc, test_acc_margin: m.test_acc_margin, seed_acc, train_seconds: m.train_seconds, steps: m.steps }
    }
}

/// `loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps`.
pub fn results_csv(rows: &[ResultRow]) -> String {
    let mut s = String::from("loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps\n");
    for r in rows {
        s.push_str(&format!("{},{},{:.4},{:.4},{:.4},{:.1},{}\n", r.loss, r.dim, r.test_acc, r.test_acc_margin, r.seed_acc, r.train_seconds, r.steps));
    }
    s
}

/// A Markdown table: one line per loss, the seed's number, then ours for each dimension.
pub fn results_markdown(rows: &[ResultRow]) -> String {
    let mut dims: Vec<usize> = rows.iter().map(|r| r.dim).collect();
    dims.sort_unstable();
    dims.dedup();
    let mut s = String::from("| loss | seed README |");
    for d in &dims {
        s.push_str(&format!(" ours, {d}-D |"));
    }
    s.push_str("\n|---|---:|");
    for _ in &dims {
        s.push_str("---:|");
    }
    s.push('\n');
    for (loss, seed) in SEED_TABLE {
        if !rows.iter().any(|r| r.loss == loss) {
            continue;
        }
        s.push_str(&format!("| {loss} softmax | {seed:.4} |"));
        for d in &dims {
            match rows.iter().find(|r| r.loss == loss && r.dim == *d) {
                Some(r) => s.push_str(&format!(" {:.4} |", r.test_acc)),
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

/// Writes `results.csv` ([`results_csv`]) and `results.md` ([`results_markdown`]) into
/// `dir` atomically (as `sphereface reproduce` does after every run).
///
/// # Errors
/// [`crate::Error::Io`] naming the file.
pub fn write_results(dir: &std::path::Path, rows: &[ResultRow]) -> crate::Result<()> {
    crate::checkpoint::write_atomic(&dir.join("results.csv"), results_csv(rows).as_bytes())?;
    crate::checkpoint::write_atomic(&dir.join("results.md"), results_markdown(rows).as_bytes())
}

/// Reads a `results.csv` written by [`results_csv`] (e.g. `results/quick/results.csv`).
///
/// # Errors
/// [`crate::Error::Io`] if it cannot be read, [`crate::Error::Config`] naming the line
/// that is not `loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps`.
pub fn read_results_csv(path: &std::path::Path) -> crate::Result<Vec<ResultRow>> {
    let text = std::fs::read_to_string(path).map_err(|source| crate::Error::Io { path: path.to_path_buf(), source })?;
    parse_results_csv(&text).map_err(|m| crate::Error::Config(format!("{}: {m}", path.display())))
}

/// Parses the text of a `results.csv`; the error names the bad line.
pub fn parse_results_csv(text: &str) -> Result<Vec<ResultRow>, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.trim() != "loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps" {
        return Err(format!("line 1 is {header:?}, not the results header"));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || format!("line {} ({line:?}) is not loss,dim,test_acc,test_acc_margin,seed_acc,train_seconds,steps", i + 2);
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.len() != 7 {
            return Err(bad());
        }
        let num = |k: usize| f[k].parse::<f64>().map_err(|_| bad());
        rows.push(ResultRow {
            loss: f[0].to_string(),
            dim: f[1].parse().map_err(|_| bad())?,
            test_acc: num(2)?,
            test_acc_margin: num(3)?,
            seed_acc: num(4)?,
            train_seconds: num(5)?,
            steps: f[6].parse().map_err(|_| bad())?,
        });
    }
    Ok(rows)
}

#[cfg(feature = "table")]
pub use table::{accuracy_table, Table};

#[cfg(feature = "table")]
mod table {
    use polars::prelude::*;

    use super::{ResultRow, SEED_TABLE};

    /// A results table as a polars [`DataFrame`], with a caption; shown as an HTML table in
    /// an evcxr notebook (its `evcxr_display`), as text by `Display`.
    #[derive(Clone, Debug)]
    pub struct Table {
        /// The data.
        pub frame: DataFrame,
        /// A caption (e.g. the protocol).
        pub caption: String,
    }

    fn cell(col: &Column, i: usize) -> String {
        match col.get(i) {
            Ok(AnyValue::Null) | Err(_) => "–".into(),
            Ok(AnyValue::Float64(v)) => format!("{v:.4}"),
            Ok(AnyValue::String(s)) => s.to_string(),
            Ok(AnyValue::StringOwned(s)) => s.to_string(),
            Ok(v) => v.to_string(),
        }
    }

    fn escape(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    }

    impl Table {
        /// The table as an HTML `<table>` (numbers with four decimals, missing ones as –).
        pub fn to_html(&self) -> String {
            let cols = self.frame.columns();
            let mut s = String::from("<table>\n");
            if !self.caption.is_empty() {
                s.push_str(&format!("<caption>{}</caption>\n", escape(&self.caption)));
            }
            s.push_str("<thead><tr>");
            for c in cols {
                s.push_str(&format!("<th>{}</th>", escape(c.name())));
            }
            s.push_str("</tr></thead>\n<tbody>\n");
            for i in 0..self.frame.height() {
                s.push_str("<tr>");
                for c in cols {
                    let align = if c.dtype().is_float() { " style=\"text-align:right\"" } else { "" };
                    s.push_str(&format!("<td{align}>{}</td>", escape(&cell(c, i))));
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</tbody>\n</table>\n");
            s
        }

        /// The table in Markdown (for a README or a slide).
        pub fn to_markdown(&self) -> String {
            let cols = self.frame.columns();
            let mut s = format!("| {} |\n|", cols.iter().map(|c| c.name().to_string()).collect::<Vec<_>>().join(" | "));
            for c in cols {
                s.push_str(if c.dtype().is_float() { "---:|" } else { "---|" });
            }
            s.push('\n');
            for i in 0..self.frame.height() {
                s.push_str(&format!("| {} |\n", cols.iter().map(|c| cell(c, i)).collect::<Vec<_>>().join(" | ")));
            }
            s
        }

        /// Shows the table as HTML in an evcxr (Jupyter Rust kernel) notebook cell.
        pub fn evcxr_display(&self) {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT\n", self.to_html());
            let _ = out.flush();
        }

        /// Writes `<stem>.html` and `<stem>.md` (atomically).
        ///
        /// # Errors
        /// [`crate::Error::Io`] naming the file.
        pub fn save(&self, stem: &std::path::Path) -> crate::Result<()> {
            for (ext, text) in [("html", self.to_html()), ("md", self.to_markdown())] {
                let mut path = stem.as_os_str().to_owned();
                path.push(format!(".{ext}"));
                crate::checkpoint::write_atomic(std::path::Path::new(&path), text.as_bytes())?;
            }
            Ok(())
        }
    }

    impl std::fmt::Display for Table {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if !self.caption.is_empty() {
                writeln!(f, "{}", self.caption)?;
            }
            write!(f, "{}", self.frame)
        }
    }

    /// The accuracy table: one row per loss (original, modified, angular, those present),
    /// the seed README's number, then for each embedding dimension our test accuracy and its
    /// difference to the seed's (positive: ours is higher).
    ///
    /// # Errors
    /// [`crate::Error::Config`] if polars rejects the columns (it should not).
    pub fn accuracy_table(rows: &[ResultRow], caption: &str) -> crate::Result<Table> {
        let mut dims: Vec<usize> = rows.iter().map(|r| r.dim).collect();
        dims.sort_unstable();
        dims.dedup();
        let losses: Vec<(&str, f64)> = SEED_TABLE.iter().copied().filter(|(l, _)| rows.iter().any(|r| r.loss == *l)).collect();
        let mut columns = vec![
            Column::new("loss".into(), losses.iter().map(|(l, _)| format!("{l} softmax")).collect::<Vec<_>>()),
            Column::new("seed README".into(), losses.iter().map(|(_, a)| *a).collect::<Vec<_>>()),
        ];
        for d in &dims {
            let ours: Vec<Option<f64>> = losses.iter().map(|(l, _)| rows.iter().find(|r| r.loss == *l && r.dim == *d).map(|r| r.test_acc)).collect();
            let diff: Vec<Option<f64>> = ours.iter().zip(&losses).map(|(o, (_, s))| o.map(|o| o - s)).collect();
            columns.push(Column::new(format!("ours {d}-D").into(), ours));
            columns.push(Column::new(format!("{d}-D − seed").into(), diff));
        }
        let frame = DataFrame::new(losses.len(), columns).map_err(|e| crate::Error::Config(format!("results table: {e}")))?;
        Ok(Table { frame, caption: caption.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(loss: &str, dim: usize, acc: f64) -> ResultRow {
        ResultRow { loss: loss.into(), dim, test_acc: acc, test_acc_margin: acc - 0.01, seed_acc: 0.0, train_seconds: 1.0, steps: 10 }
    }

    #[test]
    fn markdown_has_one_line_per_loss_and_a_column_per_dim() {
        let md = results_markdown(&[row("original", 2, 0.95), row("angular", 3, 0.99), row("angular", 2, 0.97)]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| loss | seed README | ours, 2-D | ours, 3-D |");
        assert_eq!(lines[2], "| original softmax | 0.9769 | 0.9500 | – |");
        assert_eq!(lines[3], "| angular softmax | 0.9902 | 0.9700 | 0.9900 |");
        assert_eq!(lines.len(), 4, "no line for a loss without results");
    }

    #[test]
    fn results_csv_round_trips_and_names_bad_lines() {
        let rows = vec![row("original", 2, 0.9512), row("angular", 3, 0.9876)];
        let back = parse_results_csv(&results_csv(&rows)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[1].loss.as_str(), back[1].dim, back[1].test_acc), ("angular", 3, 0.9876));
        assert!(parse_results_csv("a,b\n").unwrap_err().contains("line 1"));
        let err = parse_results_csv(&format!("{}original,2,x,0,0,0,1\n", results_csv(&[]))).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }

    #[cfg(feature = "table")]
    #[test]
    fn accuracy_table_puts_ours_beside_the_seed() {
        let t = accuracy_table(&[row("angular", 3, 0.9950), row("original", 2, 0.95), row("angular", 2, 0.97)], "test").unwrap();
        assert_eq!(t.frame.shape(), (2, 6), "two losses; seed + (ours, diff) per dim");
        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| loss | seed README | ours 2-D | 2-D − seed | ours 3-D | 3-D − seed |");
        assert_eq!(lines[2], "| original softmax | 0.9769 | 0.9500 | -0.0269 | – | – |");
        assert_eq!(lines[3], "| angular softmax | 0.9902 | 0.9700 | -0.0202 | 0.9950 | 0.0048 |");
        let html = t.to_html();
        assert!(html.contains("<caption>test</caption>") && html.contains("<td style=\"text-align:right\">0.9950</td>"));
        assert!(html.matches("<tr>").count() == 3);
    }

    #[test]
    fn csv_rows() {
        let csv = results_csv(&[row("modified", 2, 0.5)]);
        assert_eq!(csv.lines().nth(1), Some("modified,2,0.5000,0.4900,0.0000,1.0,10"));
    }
}
