//! `sphereface openset`: the open-set experiment (`run`), one run's evaluation
//! (`evaluate`), its tables (`table`) and the benchmark's pairs files (`pairs`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};
use indicatif::MultiProgress;
use sphereface_core::data::{KnownDigits, Mnist};
use sphereface_core::model::LossName;
use sphereface_core::openset::{self, OpenSetFiles, Pairs, Splits};
use sphereface_core::train::{self, Protocol, RunDir, SavedRun, TrainConfig};
use sphereface_core::Error;

use super::{config, jobs, loss_kind, run_in, set_threads, Bar, Common, FiguresArgs};

/// The embedding size of the benchmark runs, chosen on the validation split
/// (docs/EXPERIMENTS.md, "Open set").
const DIM: usize = 16;

#[derive(Subcommand)]
pub(crate) enum OpenSetCmd {
    /// Train the losses on the benchmark's splits of known digits (and 2-D and 3-D runs on the first split for the pictures), evaluate each run on the unknown digits, write the tables (openset.csv, openset.md) and draw the figures. Finished runs are kept, interrupted ones resumed.
    Run(Box<RunArgs>),
    /// Evaluate one open-set run on the test set from its files (embeddings, head, the pairs file): writes openset.json, openset-scores.csv and pair-scores.csv into it and prints the report; with --among, on the validation split from its checkpoint instead.
    Evaluate(EvalArgs),
    /// Write the tables of an experiment directory (openset.csv, openset.md) from its runs' openset.json.
    Table(FiguresArgs),
    /// Draw the figures of an experiment directory into DIR/figures (unseen digits in grey, ROC curves, pair cosines), without training.
    Figures(FiguresArgs),
    /// Draw a benchmark split's pairs file (10 folds of 300 same-digit and 300 different-digit pairs of its unknown digits) from its seed, as committed in data/openset.
    Pairs(PairsArgs),
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// Output directory: SPLIT/LOSS-dD run directories, openset.csv, openset.md and figures/ [default: runs/openset, which git ignores].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Benchmark splits to train (names or numbers of data/openset/splits.json).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    splits: Vec<String>,
    /// Losses to train.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "original,modified,angular,cosface,arcface")]
    losses: Vec<LossName>,
    /// Embedding size of the benchmark runs (16: chosen on the validation split).
    #[arg(long, default_value_t = DIM)]
    dim: usize,
    /// Embedding sizes of the runs on the first split drawn as pictures (empty: none).
    #[arg(long, value_delimiter = ',', default_value = "2,3")]
    picture_dims: Vec<usize>,
    /// Runs trained at once, each with its own threads (--threads each; default: the cores shared out).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// A finished open-set run (trained with --known).
    #[arg(long)]
    run: PathBuf,
    /// The verification pairs [default: the pairs file of the benchmark split with the run's known digits, data/openset/].
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Evaluate on the validation split from the checkpoint instead: the run's known digits against the other digits of DIGITS, which must hold the known ones and two more (writes openset-validation.json). How settings are chosen without showing a real unknown digit.
    #[arg(long, value_name = "DIGITS")]
    among: Option<KnownDigits>,
    /// Directory with the four MNIST IDX files; default: the copy in data/mnist.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
pub(crate) struct PairsArgs {
    /// The split (a name or number of data/openset/splits.json).
    #[arg(long)]
    split: String,
    /// Where to write it [default: the split's pairs file in data/openset].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory with the four MNIST IDX files; default: the copy in data/mnist.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// One run of the experiment.
struct Job {
    cfg: TrainConfig,
    dir: PathBuf,
}

pub(crate) fn main(cmd: OpenSetCmd) -> Result<(), Error> {
    match cmd {
        OpenSetCmd::Run(a) => run(*a),
        OpenSetCmd::Evaluate(a) => evaluate(a),
        OpenSetCmd::Table(a) => {
            let rows = openset::write_tables(&a.from)?;
            println!("{}", openset::summary_markdown(&rows));
            Ok(())
        }
        OpenSetCmd::Figures(a) => {
            for f in sphereface_core::figures::openset::draw_all(&a.from)? {
                println!("{}", f.display());
            }
            Ok(())
        }
        OpenSetCmd::Pairs(a) => {
            let splits = Splits::load_default()?;
            let split = splits.get(&a.split)?;
            let data = train::load_data(a.data_dir.as_deref())?;
            let pairs = Pairs::generate(&data.test.labels, &split.known.unknown(), openset::pairs::FOLDS, openset::pairs::PER_FOLD, split.pairs_seed)?;
            let out = a.out.unwrap_or_else(|| splits.pairs_path(split));
            sphereface_core::io::write_atomic(&out, pairs.to_text().as_bytes()).map_err(|source| Error::Io { path: out.clone(), source })?;
            println!("{}: {} pairs of the digits {:?} (seed {}) in {}", split.name, pairs.pairs.len(), split.known.unknown(), split.pairs_seed, out.display());
            Ok(())
        }
    }
}

/// Trains and evaluates one run; returns its summary line.
fn train_and_evaluate(job: Job, data: &Mnist, c: &Common, group: Option<&MultiProgress>) -> Result<String, Error> {
    let dir = RunDir { path: job.dir.clone(), force: c.force, resume: !c.force };
    let mut bar = Bar::in_group(&job.cfg.label(), c.quiet, group);
    run_in(job.cfg, data, &dir, c.device, &mut bar)?;
    drop(bar);
    let eval = openset::evaluate_saved(&SavedRun::open(&job.dir)?, None, &data.test.labels)?;
    OpenSetFiles::new(&job.dir).write(&eval)?;
    let r = &eval.report;
    Ok(format!(
        "{}: closed-set accuracy {:.4}, AUROC {:.4} ({}), unseen-pair verification {:.4} ± {:.4}",
        job.dir.display(),
        r.closed_set_acc,
        r.primary_auroc(),
        r.primary.title(),
        r.verification.accuracy.mean,
        r.verification.accuracy.std
    ))
}

fn run(a: RunArgs) -> Result<(), Error> {
    let start = Instant::now();
    let mut common = a.common.clone();
    if common.known.is_some() {
        return Err(Error::Config("openset run takes its known digits from the splits (--splits); --known is for `train`".into()));
    }
    if a.jobs == 0 || a.dim == 0 || a.picture_dims.contains(&0) || a.losses.is_empty() {
        return Err(Error::Config(format!("jobs, dim and picture dims must be >= 1 and losses not empty, got jobs {}, dim {}, picture dims {:?}", a.jobs, a.dim, a.picture_dims)));
    }
    common.protocol.get_or_insert(Protocol::OpenSet);
    let splits = Splits::load_default()?;
    let chosen = a.splits.iter().map(|s| splits.get(s).cloned()).collect::<Result<Vec<_>, _>>()?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join("openset"));
    let mut queue = VecDeque::new();
    for (i, split) in chosen.iter().enumerate() {
        let dims = if i == 0 { std::iter::once(a.dim).chain(a.picture_dims.iter().copied()).collect() } else { vec![a.dim] };
        for dim in dims {
            for &loss in &a.losses {
                let mut cfg = config(loss_kind(loss, true, &common)?, dim, &common)?;
                cfg.known = Some(split.known.clone());
                queue.push_back(Job { dir: out.join(&split.name).join(format!("{}-d{dim}", loss.as_str())), cfg });
            }
        }
    }
    let data = train::load_data(common.data_dir.as_deref())?;
    let threads = jobs::threads_per_job(common.threads, a.jobs)?;
    println!("{} runs into {}, {} at a time with {threads} thread(s) each", queue.len(), out.display(), a.jobs.min(queue.len()));
    jobs::run_queue(queue, a.jobs, threads, common.quiet, |job, group| train_and_evaluate(job, &data, &common, group), |line, group| {
        jobs::println_above(group, &line);
        Ok(())
    })?;
    let rows = openset::write_tables(&out)?;
    println!("\n{}", openset::summary_markdown(&rows));
    let files = sphereface_core::figures::openset::draw_all(&out)?;
    println!("results in {}, {} figure files in {}; {:.0} s in all", out.display(), files.len(), out.join("figures").display(), start.elapsed().as_secs_f64());
    Ok(())
}

fn evaluate(a: EvalArgs) -> Result<(), Error> {
    set_threads(a.threads)?;
    let data = train::load_data(a.data_dir.as_deref())?;
    let run = SavedRun::open(&a.run)?;
    openset::known_of(&run)?;
    let report = match &a.among {
        None => {
            let eval = openset::evaluate_saved(&run, a.pairs.as_deref(), &data.test.labels)?;
            OpenSetFiles::new(&a.run).write(&eval)?;
            eval.report
        }
        Some(among) => {
            if a.pairs.is_some() {
                return Err(Error::Config("--pairs is for the test set; the validation pairs are drawn from the validation images (--among)".into()));
            }
            let mut trainer = train::load_run::<f32, _>(&a.run, dfdx::tensor::Cpu::default())?;
            let report = openset::evaluate_validation(&mut trainer, &data, among)?;
            OpenSetFiles::new(&a.run).write_validation(&report)?;
            report
        }
    };
    println!("{}", serde_json::to_string(&report).map_err(|e| Error::Config(e.to_string()))?);
    Ok(())
}
