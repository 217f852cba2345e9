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
    fn csv_rows() {
        let csv = results_csv(&[row("modified", 2, 0.5)]);
        assert_eq!(csv.lines().nth(1), Some("modified,2,0.5000,0.4900,0.0000,1.0,10"));
    }
}
