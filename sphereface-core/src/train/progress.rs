//! Progress reports of a training run: a trait the trainer calls after every step, with a
//! silent and a printing implementation (the command's progress bar is another).

use super::records::StepRecord;

/// Receives progress reports.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, _rec: &StepRecord, _total: u64) {}
    /// Called with a free-text message (evaluation, checkpoint).
    fn message(&mut self, _msg: &str) {}
    /// Polled after every step: `true` saves a checkpoint and stops with [`Error::Interrupted`](crate::Error::Interrupted).
    fn should_stop(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// Prints a line every `every` steps (for notebooks and logs).
pub struct PrintEvery(pub u64);
impl Progress for PrintEvery {
    fn step(&mut self, r: &StepRecord, total: u64) {
        if (r.step + 1).is_multiple_of(self.0) || r.step + 1 == total {
            println!("step {:>5}/{total}  loss {:.4}  acc {:.3}  margin acc {:.3}  lambda {:.1}  lr {:.2e}", r.step + 1, r.loss, r.acc, r.margin_acc, r.lambda, r.lr);
        }
    }
    fn message(&mut self, msg: &str) {
        println!("{msg}");
    }
}


/// A text progress bar for notebooks: one line at every tenth of the run (a notebook shows
/// each line; a terminal bar redrawn in place would come out garbled), with the elapsed
/// time, the loss and the batch accuracies.
///
/// ```text
/// [######----]  60%  step  900/1500  41 s  loss 0.412  acc 0.953  margin acc 0.891
/// ```
pub struct TextBar {
    start: std::time::Instant,
    next_tenth: u64,
}

impl TextBar {
    /// A bar starting now.
    pub fn new() -> Self {
        TextBar { start: std::time::Instant::now(), next_tenth: 1 }
    }
}

impl Default for TextBar {
    fn default() -> Self {
        Self::new()
    }
}

impl TextBar {
    /// The line to print after step `r` of `total`, if this step completes a tenth.
    fn line(&mut self, r: &StepRecord, total: u64) -> Option<String> {
        let done = r.step + 1;
        if done * 10 < self.next_tenth * total && done != total {
            return None;
        }
        let tenths = (done * 10 / total.max(1)).min(10);
        self.next_tenth = tenths + 1;
        let bar: String = (0..10).map(|i| if i < tenths { '#' } else { '-' }).collect();
        let secs = self.start.elapsed().as_secs_f64();
        Some(format!("[{bar}] {:>3}%  step {done:>5}/{total}  {secs:.0} s  loss {:.3}  acc {:.3}  margin acc {:.3}", tenths * 10, r.loss, r.acc, r.margin_acc))
    }
}

impl Progress for TextBar {
    fn step(&mut self, r: &StepRecord, total: u64) {
        if let Some(line) = self.line(r, total) {
            println!("{line}");
        }
    }
    fn message(&mut self, msg: &str) {
        println!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per tenth of the run, the last at the last step, whatever the step count.
    #[test]
    fn text_bar_prints_each_tenth_once() {
        for total in [7u64, 10, 300, 1501] {
            let mut bar = TextBar::new();
            let lines: Vec<String> = (0..total).filter_map(|s| bar.line(&StepRecord::new(s, 0.5, 0.9, 0.8, 0.0, 1e-3), total)).collect();
            assert!(lines.last().unwrap().starts_with("[##########] 100%"), "{total}: {lines:?}");
            assert!(lines.len() <= 10 && lines.len() >= (total.min(10)) as usize, "{total}: {} lines", lines.len());
            assert!(lines.iter().all(|l| l.contains("loss 0.500  acc 0.900  margin acc 0.800")));
        }
    }
}
