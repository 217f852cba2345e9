//! Open-set recognition: what the margin is for. A run trained on some digits
//! (`TrainConfig::known`) meets the others at test time, and is asked two questions:
//!
//! - **detecting the unknown** (the open-set-recognition benchmark): does a test image show
//!   a digit the run knows? A score per image ([`detect`]), the AUROC of known against
//!   unknown test images ([`metrics`]);
//! - **verifying unseen digits** (LFW's protocol in miniature): do two images of digits the
//!   run never saw show the same digit? The cosine of their embeddings, thresholded in ten
//!   folds ([`verify`]), on a committed pairs file ([`pairs`]).
//!
//! The benchmark's five splits of known digits are data ([`Splits`], `data/openset/`).

pub mod detect;
mod evaluate;
pub mod metrics;
pub mod pairs;
mod records;
mod run;
mod splits;
mod summary;
pub mod verify;

pub use evaluate::{evaluate, Aurocs, FoldSummary, OpenSetEvaluation, OpenSetInput, OpenSetReport, PairScore, Verification, FAR};
pub use records::OpenSetFiles;
pub use run::{evaluate_saved, evaluate_validation, known_of, VALIDATION_PAIRS_SEED};
pub use splits::{BenchmarkSplit, Splits, SPLITS_FILE};
pub use summary::{evaluated_runs, runs_csv, summarise, summary_markdown, write_tables, EvaluatedRun, MeanStd, SummaryRow};

pub use detect::{image_scores, ImageScore, Score};
pub use metrics::{eer, roc_auc, roc_curve, tar_at_far, Roc};
pub use pairs::{Pair, Pairs};
pub use verify::{best_threshold, fold_accuracies, fold_accuracies_of_scores, Centring, FoldResult, PairFeatures};
