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

