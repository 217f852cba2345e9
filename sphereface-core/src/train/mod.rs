//! Training and evaluation: the configuration ([`TrainConfig`], [`Protocol`]), the
//! [`Trainer`] (optimizer, learning-rate schedule, history, checkpoints with exact resume,
//! evaluation without the margin), one run end to end ([`run`]), what a run leaves on disk
//! ([`records`]) and the step-time benchmark ([`bench`](mod@bench)).
//!
//! Dependencies point one way: `config` ← `trainer` ← `run`, all of them writing through
//! `records` and `checkpoint`, which know nothing of training.

pub mod bench;
pub mod checkpoint;
mod config;
mod progress;
pub mod records;
mod run;
mod trainer;

pub use config::{Protocol, TrainConfig, MAX_VALIDATION};
pub use progress::{PrintEvery, Progress, Silent, TextBar};
pub use records::{cpu_description, saved_runs, utc_now, EmbeddingSet, HeadWeights, Metrics, RunFiles, SavedRun, StepRecord};
pub use run::{head_weights, load_data, load_run, run, splits, RunDir};
pub use trainer::{Evaluation, Trainer};
