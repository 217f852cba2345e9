//! The results as a polars [`DataFrame`] with a caption ([`Table`]), shown as an HTML table
//! in an evcxr notebook and saved as HTML and Markdown for slides (feature `table`).

use polars::prelude::*;

use super::{seed_number, ResultRow};

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
        Ok(AnyValue::Float64(v)) if col.name().contains('°') || col.name().as_str() == "separation" => format!("{v:.1}"),
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
            let path = std::path::PathBuf::from(path);
            crate::io::write_atomic(&path, text.as_bytes()).map_err(|source| crate::Error::Io { path, source })?;
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

/// The accuracy table: one row per loss present (in table order), the seed README's number
/// (none for CosFace and ArcFace), then for each embedding dimension our test accuracy and
/// its difference to the seed's (positive: ours is higher).
///
/// # Errors
/// [`crate::Error::Config`] if polars rejects the columns (it should not).
pub fn accuracy_table(rows: &[ResultRow], caption: &str) -> crate::Result<Table> {
    let mut dims: Vec<usize> = rows.iter().map(|r| r.dim).collect();
    dims.sort_unstable();
    dims.dedup();
    let lines = super::accuracy_lines(rows, &dims);
    let seeds: Vec<Option<f64>> = lines.iter().map(|(_, l, _)| seed_number(l)).collect();
    let mut columns = vec![
        Column::new("loss".into(), lines.iter().map(|(label, _, _)| label.clone()).collect::<Vec<_>>()),
        Column::new("seed README".into(), seeds.clone()),
    ];
    for (k, d) in dims.iter().enumerate() {
        let ours: Vec<Option<f64>> = lines.iter().map(|(_, _, cells)| cells[k].map(|r| r.test_acc)).collect();
        let diff: Vec<Option<f64>> = ours.iter().zip(&seeds).map(|(o, s)| Some(o.as_ref()? - s.as_ref()?)).collect();
        columns.push(Column::new(format!("ours {d}-D").into(), ours));
        columns.push(Column::new(format!("{d}-D − seed").into(), diff));
    }
    let frame = DataFrame::new(lines.len(), columns).map_err(|e| crate::Error::Config(format!("results table: {e}")))?;
    Ok(Table {
        frame,
        caption: caption.to_string(),
    })
}

/// The angular separation table: one row per run (by dimension, then loss), with its test
/// accuracy and the angles of its test embeddings ([`super::Separation`]), rounded to 0.1°.
///
/// # Errors
/// [`crate::Error::Config`] when no row has angles (tables written before they were
/// measured: rewrite them with `sphereface table --from DIR`).
pub fn angles_table(rows: &[ResultRow], caption: &str) -> crate::Result<Table> {
    let mut rows: Vec<&ResultRow> = rows.iter().filter(|r| r.intra_mean_deg.is_some()).collect();
    if rows.is_empty() {
        return Err(crate::Error::Config(format!("{caption}: no run has angles (rewrite the table with `sphereface table --from DIR`)")));
    }
    rows.sort_by_key(|r| (r.dim, crate::model::LossName::parse(&r.loss).map_or(usize::MAX, |l| l as usize)));
    let deg = |f: fn(&ResultRow) -> Option<f64>| rows.iter().map(|r| f(r).map(|v| (v * 10.0).round() / 10.0)).collect::<Vec<_>>();
    let columns = vec![
        Column::new("loss".into(), rows.iter().map(|r| super::row_label(r, &rows)).collect::<Vec<_>>()),
        Column::new("dim".into(), rows.iter().map(|r| r.dim as u32).collect::<Vec<_>>()),
        Column::new("test acc".into(), rows.iter().map(|r| r.test_acc).collect::<Vec<_>>()),
        Column::new("intra-class ° (mean)".into(), deg(|r| r.intra_mean_deg)),
        Column::new("intra-class ° (95 %)".into(), deg(|r| r.intra_p95_deg)),
        Column::new("closest centres °".into(), deg(|r| r.inter_min_deg)),
        Column::new("separation".into(), deg(|r| r.separation)),
    ];
    let frame = DataFrame::new(rows.len(), columns).map_err(|e| crate::Error::Config(format!("angles table: {e}")))?;
    Ok(Table { frame, caption: caption.to_string() })
}

/// The open-set summary: one row per loss and embedding size, each number in percent as
/// mean ± standard deviation over the splits ([`crate::openset::summarise`]).
///
/// # Errors
/// [`crate::Error::Config`] for no rows.
pub fn openset_table(rows: &[crate::openset::SummaryRow], caption: &str) -> crate::Result<Table> {
    if rows.is_empty() {
        return Err(crate::Error::Config(format!("{caption}: no open-set runs")));
    }
    let pct = |f: fn(&crate::openset::SummaryRow) -> crate::openset::MeanStd, digits: usize| -> Vec<String> { rows.iter().map(|r| f(r).percent(digits, r.splits > 1)).collect() };
    let columns = vec![
        Column::new("loss".into(), rows.iter().map(|r| crate::model::loss_title(&r.loss).to_string()).collect::<Vec<_>>()),
        Column::new("dim".into(), rows.iter().map(|r| r.dim as u32).collect::<Vec<_>>()),
        Column::new("splits".into(), rows.iter().map(|r| r.splits as u32).collect::<Vec<_>>()),
        Column::new("known acc %".into(), pct(|r| r.closed_set_acc, 2)),
        Column::new("AUROC %".into(), pct(|r| r.auroc, 2)),
        Column::new("score".into(), rows.iter().map(|r| r.score.title().to_string()).collect::<Vec<_>>()),
        Column::new("pairs verified %".into(), pct(|r| r.verification, 2)),
        Column::new("EER %".into(), pct(|r| r.eer, 2)),
        Column::new("TAR@FAR 1e-3 %".into(), pct(|r| r.tar_at_far, 1)),
    ];
    let frame = DataFrame::new(rows.len(), columns).map_err(|e| crate::Error::Config(format!("open-set table: {e}")))?;
    Ok(Table { frame, caption: caption.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::row;

    #[test]
    fn angles_table_has_a_row_per_run_in_degrees() {
        let mut a = row("angular", 2, 0.98);
        (a.intra_mean_deg, a.intra_p95_deg, a.inter_min_deg, a.separation) = (Some(1.894), Some(4.86), Some(28.74), Some(15.22));
        let mut o = row("original", 2, 0.97);
        (o.intra_mean_deg, o.intra_p95_deg, o.inter_min_deg, o.separation) = (Some(10.88), Some(68.21), Some(17.76), Some(1.63));
        let t = angles_table(&[a, row("modified", 3, 0.99), o], "long").unwrap();
        assert_eq!(t.frame.shape(), (2, 7), "runs without angles are left out");
        let md = t.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[2], "| original softmax | 2 | 0.9700 | 10.9 | 68.2 | 17.8 | 1.6 |", "{md}");
        assert_eq!(lines[3], "| angular softmax | 2 | 0.9800 | 1.9 | 4.9 | 28.7 | 15.2 |", "{md}");
        assert!(angles_table(&[row("modified", 3, 0.99)], "old").unwrap_err().to_string().contains("sphereface table"));
    }

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
}
