//! `sphereface`: train the three softmax losses on MNIST and reproduce the seed's table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sphereface_core::data::KnownDigits;
use sphereface_core::model::heads::{ARCFACE_MARGIN, COSFACE_MARGIN, DEFAULT_SCALE};
use sphereface_core::model::{LambdaPreset, LossKind, LossName, Mode, NetKind};
use sphereface_core::optim::OptimizerKind;
use sphereface_core::report::{results_markdown, rows_of, write_results, ResultRow};
use sphereface_core::train::{self, Metrics, Progress, Protocol, RunDir, SavedRun, StepRecord, TrainConfig};
use sphereface_core::Error;

mod jobs;
mod openset;

#[derive(Parser)]
#[command(name = "sphereface", version, about = "SphereFace (A-Softmax) on MNIST: train and compare original, modified and angular softmax (and CosFace, ArcFace)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one loss and write config.json, history.csv, metrics.json, embeddings.csv and a checkpoint into --out.
    Train(TrainArgs),
    /// Train the losses (the seed's three by default) in 2-D and 3-D, write the results table (CSV, Markdown) beside the seed's numbers and draw the figures.
    Reproduce(ReproduceArgs),
    /// Draw the figures (embeddings, curves, psi, GIFs) of a results directory into DIR/figures, without training.
    Figures(FiguresArgs),
    /// Write the results table of a results directory (DIR/results.csv and results.md: accuracies and the angular separation of the test embeddings), without training.
    Table(FiguresArgs),
    /// Time training steps (forward, backward, optimizer) on random input; prints one JSON line.
    Bench(BenchArgs),
    /// Evaluate a saved run (its checkpoint) on the test, validation or training images: accuracies and the angular separation of the embeddings, as one JSON line.
    Evaluate(EvaluateArgs),
    /// Open-set recognition: train on some digits, detect the others and verify pairs of them (`openset run` makes results/openset).
    #[command(subcommand)]
    Openset(openset::OpenSetCmd),
}

#[derive(Args)]
struct EvaluateArgs {
    /// A run directory (config.json and checkpoint.bin), e.g. results/seed/original-d2.
    #[arg(long)]
    run: PathBuf,
    /// Images to evaluate on: test (10,000), validation (the run's held-out first training images, 5,000 by default) or train (the rest, 55,000 by default).
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
    /// Evaluate on only the first N images of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// Batch norm with each evaluation batch's own statistics instead of the running ones (a diagnostic).
    #[arg(long)]
    batch_stats: bool,
    /// Directory with the four MNIST IDX files; default: the copy in data/mnist.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Test,
    Validation,
    Train,
}

#[derive(Args)]
struct BenchArgs {
    /// Network.
    #[arg(long, value_enum, default_value = "mnist4")]
    net: NetKind,
    /// Images per step.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Use the portable route (dfdx op composition) instead of the CPU fast path.
    #[arg(long)]
    portable: bool,
    /// Time evaluation (forward without a tape, batch norm on running statistics) instead
    /// of training steps; `--batch` is then the evaluation batch.
    #[arg(long)]
    eval: bool,
}

#[derive(Args)]
pub(crate) struct FiguresArgs {
    /// A directory written by `reproduce` (or holding run directories), e.g. results/long.
    #[arg(long)]
    pub(crate) from: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum DeviceArg {
    Cpu,
    Cuda,
}

/// Settings shared by `train`, `reproduce` and `openset run` (each overrides the protocol's value).
#[derive(Args, Clone)]
pub(crate) struct Common {
    /// Training budget [default: quick; openset for `openset run`]: quick (300 steps of 64 on 20,000 images), lecture (1,500 steps of 32 at lr 5e-3, angular λ = 0, snapshots: notebook 2), seed (the seed's 1,600 steps of 256), strong (6,400 steps, learning rate 3e-3, ±2-pixel shifts), long (51,200 steps of 64, lr 3e-3·0.9^(t/2000), shifts, ±10° rotations, ±10 % zoom, angular λ = 0) or openset (long's settings in 2,000 steps, lr 3e-3·0.9^(t/80)).
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// Network.
    #[arg(long, value_enum, default_value = "mnist4")]
    net: NetKind,
    /// Number of training steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Images per step.
    #[arg(long)]
    batch: Option<usize>,
    /// Initial learning rate.
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Learning-rate decay factor per `--lr-decay-steps` steps (lr(t) = lr · decay^(t / steps)).
    #[arg(long, allow_hyphen_values = true)]
    lr_decay: Option<f64>,
    /// Steps over which the learning rate is multiplied by `--lr-decay`.
    #[arg(long, allow_hyphen_values = true)]
    lr_decay_steps: Option<f64>,
    /// Seed of initialisation and batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Angular margin m (integer >= 1).
    #[arg(long, default_value_t = 4)]
    m: u32,
    /// Lambda annealing of the angular loss [default: caffe; none under --protocol long and lecture].
    #[arg(long, value_enum)]
    lambda: Option<LambdaPreset>,
    /// Scale s of the CosFace and ArcFace logits (s > 0) [default: 30].
    #[arg(long, allow_hyphen_values = true, value_name = "S")]
    scale: Option<f64>,
    /// Margin of CosFace (cosine, in [0, 2); default 0.35) or ArcFace (radians, in [0, π/2); default 0.5).
    #[arg(long, allow_hyphen_values = true, value_name = "M")]
    margin: Option<f64>,
    /// Augmentation: move each training image by up to N pixels in x and y (0: none).
    #[arg(long)]
    shift: Option<usize>,
    /// Augmentation: turn each training image by up to ±D degrees (0: none).
    #[arg(long, allow_hyphen_values = true)]
    rotate: Option<f64>,
    /// Augmentation: zoom each training image by a factor in 1 ± Z (0: none; `scale` in config.json).
    #[arg(long, allow_hyphen_values = true, value_name = "Z")]
    zoom: Option<f64>,
    /// Augmentation: elastic distortion of strength ALPHA (Simard et al. 2003; smoothing σ = 4 pixels; 34 is their setting; 0: none).
    #[arg(long, allow_hyphen_values = true, value_name = "ALPHA")]
    elastic: Option<f64>,
    /// Channel multiplier of the network (1: the preset; 2: twice the channels, about 4x the compute).
    #[arg(long)]
    width: Option<usize>,
    /// Decoupled (AdamW) weight decay of the conv, linear and class weights, scaled by the learning rate (0: none).
    #[arg(long, allow_hyphen_values = true)]
    weight_decay: Option<f64>,
    /// Optimizer: SGD with heavy-ball momentum MU instead of Adam (0: plain SGD; the Caffe MNIST recipes use 0.9 with lr 0.01–0.1 and weight decay 5e-4). The learning-rate schedule and decoupled weight decay apply as with Adam.
    #[arg(long, allow_hyphen_values = true, value_name = "MU")]
    momentum: Option<f64>,
    /// Dropout probability on the features before the embedding layer, in training only (0: none).
    #[arg(long, allow_hyphen_values = true)]
    dropout: Option<f64>,
    /// Train on only the first N images of the training split.
    #[arg(long)]
    train_subset: Option<usize>,
    /// Hold out the first N images of the training file for validation [default: 5000, as in the seed; 0: train on all 60,000].
    #[arg(long, value_name = "N")]
    validation: Option<usize>,
    /// Evaluate on only the first N test images.
    #[arg(long)]
    test_subset: Option<usize>,
    /// Open set: train on these digits only (2 to 9 distinct digits, e.g. 2,4,5,9,8,3): the head gets one class per known digit, training and validation keep only their images, the test accuracy is that of their test images, and every test image's embedding is saved for `sphereface openset`.
    #[arg(long, value_name = "DIGITS")]
    known: Option<KnownDigits>,
    /// Directory with the four MNIST IDX files (gz or not); default: the copy in data/mnist.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Replace a run that is already in the output directory.
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run from its checkpoint.
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Device.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// CPU worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar (log lines every 100 steps instead).
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Loss.
    #[arg(long, value_enum)]
    loss: LossName,
    /// Embedding dimension.
    #[arg(long, default_value_t = 2)]
    dim: usize,
    /// Original softmax without the bias b (the seed's code).
    #[arg(long)]
    no_bias: bool,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Output directory (one subdirectory per run, plus results.csv, results.md and figures/) [default: runs/PROTOCOL, which git ignores].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Embedding dimensions to train.
    #[arg(long, value_delimiter = ',', default_value = "2,3")]
    dims: Vec<usize>,
    /// Losses to train, in this order [default: the seed's three, original,modified,angular].
    #[arg(long, value_enum, value_delimiter = ',', default_value = "original,modified,angular")]
    losses: Vec<LossName>,
    /// Runs trained at once, each with its own threads (--threads each; default: the cores shared out). Two runs of one thread each finish sooner than one run of two threads, with the same results (docs/PERFORMANCE.md).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    #[command(flatten)]
    common: Common,
}

impl Common {
    /// The protocol asked for, else `quick`.
    fn protocol(&self) -> Protocol {
        self.protocol.unwrap_or(Protocol::Quick)
    }
}

pub(crate) fn loss_kind(loss: LossName, bias: bool, c: &Common) -> Result<LossKind, Error> {
    if !matches!(loss, LossName::CosFace | LossName::ArcFace)
        && (c.scale.is_some() || c.margin.is_some()) {
            return Err(Error::Config("--scale and --margin set CosFace and ArcFace (--loss cosface|arcface); A-Softmax's margin is --m, the augmentation's scaling is --zoom".into()));
        }
    let s = c.scale.unwrap_or(DEFAULT_SCALE);
    Ok(match loss {
        LossName::Original => LossKind::Original { bias },
        LossName::Modified => LossKind::Modified,
        LossName::Angular => LossKind::angular(c.m, c.lambda.map_or_else(|| c.protocol().default_lambda(), LambdaPreset::schedule))?,
        LossName::CosFace => LossKind::cosface(s, c.margin.unwrap_or(COSFACE_MARGIN))?,
        LossName::ArcFace => LossKind::arcface(s, c.margin.unwrap_or(ARCFACE_MARGIN))?,
    })
}

pub(crate) fn config(loss: LossKind, dim: usize, c: &Common) -> Result<TrainConfig, Error> {
    let mut cfg = TrainConfig::new(c.protocol(), loss, dim);
    cfg.net = c.net;
    cfg.seed = c.seed;
    if let Some(v) = c.steps {
        cfg.steps = v;
    }
    if let Some(v) = c.batch {
        cfg.batch = v;
    }
    if let Some(v) = c.lr {
        cfg.lr = v;
    }
    if let Some(v) = c.lr_decay {
        cfg.lr_decay = v;
    }
    if let Some(v) = c.lr_decay_steps {
        cfg.lr_decay_steps = v;
    }
    if let Some(v) = c.shift {
        cfg.augment.shift = v;
    }
    if let Some(v) = c.rotate {
        cfg.augment.rotate = v;
    }
    if let Some(v) = c.zoom {
        cfg.augment.scale = v;
    }
    if let Some(v) = c.elastic {
        cfg.augment.elastic = v;
    }
    if let Some(v) = c.width {
        cfg.width = v;
    }
    if let Some(v) = c.weight_decay {
        cfg.optim.weight_decay = v;
    }
    if let Some(v) = c.dropout {
        cfg.dropout = v;
    }
    if let Some(momentum) = c.momentum {
        cfg.optim.optimizer = OptimizerKind::Sgd { momentum };
    }
    if c.train_subset.is_some() {
        cfg.train_subset = c.train_subset;
    }
    if c.test_subset.is_some() {
        cfg.test_subset = c.test_subset;
    }
    if let Some(v) = c.validation {
        cfg.validation = v;
    }
    cfg.known = c.known.clone();
    cfg.validate()?;
    Ok(cfg)
}

/// A progress bar with loss, accuracies and λ.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
    label: String,
}

impl Bar {
    pub(crate) fn new(label: &str, quiet: bool) -> Self {
        Bar::in_group(label, quiet, None)
    }
    /// A bar among others (`openset run` trains two runs at once), or log lines when `quiet`.
    pub(crate) fn in_group(label: &str, quiet: bool, group: Option<&MultiProgress>) -> Self {
        let mut me = Bar { bar: None, label: label.into() };
        if !quiet {
            let style = ProgressStyle::with_template("{prefix:>16} [{elapsed_precise}] {bar:30} {pos}/{len} eta {eta} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::new(0).with_style(style).with_prefix(me.label.clone());
            me.bar = Some(match group {
                Some(g) => g.add(bar),
                None => bar,
            });
        }
        me
    }
}

/// Set by the first Ctrl-C: the run saves a checkpoint after the current step and stops.
pub(crate) static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; a second Ctrl-C then ends the process at once.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
}

fn catch_ctrl_c() {
    // SAFETY: installs a handler that only stores to an atomic and calls signal().
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}

impl Progress for Bar {
    fn should_stop(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }

    fn step(&mut self, r: &StepRecord, total: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(r.step + 1);
                bar.set_message(format!("loss {:.3} acc {:.3} margin {:.3} λ {:.1}", r.loss, r.acc, r.margin_acc, r.lambda));
            }
            None if (r.step + 1).is_multiple_of(100) || r.step + 1 == total => {
                eprintln!("{} step {}/{total} loss {:.4} acc {:.3} margin acc {:.3} lambda {:.2} lr {:.2e}", self.label, r.step + 1, r.loss, r.acc, r.margin_acc, r.lambda, r.lr);
            }
            None => {}
        }
    }
    fn message(&mut self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("{}: {msg}", self.label)),
            None => eprintln!("{}: {msg}", self.label),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn run_one(cfg: TrainConfig, data: &sphereface_core::data::Mnist, out: PathBuf, c: &Common) -> Result<Metrics, Error> {
    let dir = RunDir { path: out, force: c.force, resume: c.resume };
    let mut bar = Bar::new(&cfg.label(), c.quiet);
    run_in(cfg, data, &dir, c.device, &mut bar)
}

/// Trains `cfg` into `dir` on `device`.
pub(crate) fn run_in(cfg: TrainConfig, data: &sphereface_core::data::Mnist, dir: &RunDir, device: DeviceArg, bar: &mut Bar) -> Result<Metrics, Error> {
    match device {
        DeviceArg::Cpu => train::run::<f32, _>(cfg, data, dir, dfdx::tensor::Cpu::default(), bar),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda => {
            let dev = dfdx::tensor::Cuda::try_build(0, cfg.seed).map_err(|e| Error::Device(format!("cannot open CUDA device 0: {e:?}")))?;
            train::run::<f32, _>(cfg, data, dir, dev, bar)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceArg::Cuda => Err(Error::Config("this binary was built without the cuda feature; rebuild with `--features cuda`".into())),
    }
}

/// `evaluate` on a device: reloads the run's checkpoint there and prints one JSON line.
fn evaluate<D: sphereface_core::model::ConvDevice<f32>>(a: &EvaluateArgs, data: &sphereface_core::data::Mnist, dev: D) -> Result<(), Error> {
    let mut trainer = train::load_run::<f32, _>(&a.run, dev)?;
    let (val, tr) = data.train_validation_sized(trainer.cfg.validation)?;
    // An open-set run is evaluated on its known digits, as it was trained.
    let (test, val, tr) = match &trainer.cfg.known {
        Some(k) => (data.test.known_only(k), val.known_only(k), tr.known_only(k)),
        None => (data.test.clone(), val, tr),
    };
    let (name, split) = match a.split {
        SplitArg::Test => ("test", test),
        SplitArg::Validation if val.is_empty() => {
            return Err(Error::Config(format!("{} was trained with no validation split (validation 0: all training images were trained on); evaluate it on --split test or train", a.run.display())));
        }
        SplitArg::Validation => ("validation", val),
        SplitArg::Train => ("train", tr),
    };
    let split = match a.limit {
        Some(n) if n < split.len() => split.split_at(n)?.0,
        _ => split,
    };
    let mode = if a.batch_stats { Mode::Train } else { Mode::Eval };
    let ev = trainer.evaluate_with(&split, mode)?;
    // The angles need two classes with points; a tiny --limit may not have them.
    let angles = sphereface_core::report::angular_separation(&ev.embeddings).ok();
    let json = serde_json::json!({
        "run": a.run.display().to_string(), "label": trainer.cfg.label(), "steps": trainer.step,
        "split": name, "images": split.len(), "batch_norm": if a.batch_stats { "batch statistics" } else { "running statistics" },
        "acc": ev.acc, "acc_margin": ev.margin_acc, "loss": ev.loss, "angles": angles,
    });
    println!("{json}");
    Ok(())
}

pub(crate) fn set_threads(threads: Option<usize>) -> Result<(), Error> {
    if let Some(t) = threads {
        if t == 0 {
            return Err(Error::Config("threads must be >= 1, got 0".into()));
        }
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().map_err(|e| Error::Config(format!("cannot start {t} threads: {e}")))?;
    }
    Ok(())
}

fn setup(c: &Common) -> Result<sphereface_core::data::Mnist, Error> {
    set_threads(c.threads)?;
    train::load_data(c.data_dir.as_deref())
}

pub(crate) fn metrics_line(m: &Metrics) -> String {
    format!("{}: test accuracy {:.4} (margin {:.4}), {} steps in {:.0} s, {:.0} images/s", m.label, m.test_acc, m.test_acc_margin, m.steps, m.train_seconds, m.images_per_second)
}

/// `reproduce`: trains every loss × dimension (`--jobs` at a time), writes the table after
/// each run (an interrupted reproduction keeps its table), draws the figures and records the
/// wall time of the whole in `reproduce.json`.
fn reproduce(a: ReproduceArgs) -> Result<(), Error> {
    let start = std::time::Instant::now();
    if a.dims.is_empty() || a.dims.contains(&0) {
        return Err(Error::Config(format!("dims must be a list of dimensions >= 1, got {:?}", a.dims)));
    }
    let c = &a.common;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(c.protocol().name()));
    let mut queue = std::collections::VecDeque::new();
    for &dim in &a.dims {
        for &loss in &a.losses {
            queue.push_back((queue.len(), config(loss_kind(loss, true, c)?, dim, c)?));
        }
    }
    let threads = jobs::threads_per_job(c.threads, a.jobs)?;
    let data = train::load_data(c.data_dir.as_deref())?;
    let n = queue.len();
    if a.jobs > 1 {
        println!("{n} runs into {}, {} at a time with {threads} thread(s) each", out.display(), a.jobs.min(n));
    }
    let rows: std::sync::Mutex<Vec<Option<ResultRow>>> = std::sync::Mutex::new(vec![None; n]);
    let train_one = |(i, cfg): (usize, TrainConfig), group: Option<&MultiProgress>| {
        let dir = out.join(format!("{}-d{}", cfg.head.name(), cfg.dim));
        let mut bar = Bar::in_group(&cfg.label(), c.quiet, group);
        let m = run_in(cfg, &data, &RunDir { path: dir.clone(), force: c.force, resume: c.resume }, c.device, &mut bar)?;
        drop(bar);
        Ok((i, m, ResultRow::from_run(&SavedRun::open(&dir)?)?))
    };
    jobs::run_queue(queue, a.jobs, threads, c.quiet, train_one, |(i, m, row), group| {
        jobs::println_above(group, &metrics_line(&m));
        let mut rows = rows.lock().unwrap_or_else(|p| p.into_inner());
        rows[i] = Some(row);
        write_results(&out, &rows.iter().flatten().cloned().collect::<Vec<_>>())
    })?;
    let rows: Vec<ResultRow> = rows.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect();
    println!("\n{}", results_markdown(&rows));
    let files = sphereface_core::figures::draw_all(&out)?;
    let wall = start.elapsed().as_secs_f64();
    let record = serde_json::json!({
        "command": std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        "protocol": c.protocol().name(), "runs": n, "jobs": a.jobs.min(n), "threads_per_job": threads,
        "wall_seconds": wall, "finished_utc": train::utc_now(), "peak_rss_mb": train::bench::peak_resident_mb(),
        "cpu": train::cpu_description(), "conv": sphereface_core::model::conv_route_on(if matches!(c.device, DeviceArg::Cuda) { "cuda" } else { "cpu" }),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let path = out.join("reproduce.json");
    sphereface_core::io::write_atomic(&path, format!("{record:#}\n").as_bytes()).map_err(|source| Error::Io { path: path.clone(), source })?;
    println!("results in {}, {} figure files in {}; {wall:.0} s in all ({})", out.display(), files.len(), out.join("figures").display(), path.display());
    Ok(())
}

fn main_inner(cli: Cli) -> Result<(), Error> {
    match cli.cmd {
        Cmd::Train(a) => {
            let kind = loss_kind(a.loss, !a.no_bias, &a.common)?;
            let cfg = config(kind, a.dim, &a.common)?;
            let data = setup(&a.common)?;
            let m = run_one(cfg, &data, a.out.clone(), &a.common)?;
            println!("{}", metrics_line(&m));
            println!("results in {}", a.out.display());
        }
        Cmd::Reproduce(a) => reproduce(a)?,
        Cmd::Bench(a) => {
            set_threads(a.threads)?;
            let net = a.net;
            use sphereface_core::train::bench::{bench, bench_eval};
            let r = match a.device {
                DeviceArg::Cpu if a.eval => bench_eval::<f32, _>(net, a.batch, a.steps, a.warmup, a.portable, dfdx::tensor::Cpu::default())?,
                DeviceArg::Cpu => bench::<f32, _>(net, a.batch, a.steps, a.warmup, a.portable, dfdx::tensor::Cpu::default())?,
                #[cfg(feature = "cuda")]
                DeviceArg::Cuda => {
                    let dev = dfdx::tensor::Cuda::try_build(0, 0).map_err(|e| Error::Device(format!("cannot open CUDA device 0: {e:?}")))?;
                    if a.eval {
                        bench_eval::<f32, _>(net, a.batch, a.steps, a.warmup, a.portable, dev)?
                    } else {
                        bench::<f32, _>(net, a.batch, a.steps, a.warmup, a.portable, dev)?
                    }
                }
                #[cfg(not(feature = "cuda"))]
                DeviceArg::Cuda => return Err(Error::Config("this binary was built without the cuda feature; rebuild with `--features cuda`".into())),
            };
            let mut json = serde_json::to_value(&r).unwrap_or_default();
            json["route"] = if a.portable { "portable" } else { "fast" }.into();
            json["malloc"] = if std::env::var_os("SPHEREFACE_MALLOC_DEFAULT").is_some() { "glibc default" } else { "tuned" }.into();
            json["conv"] = sphereface_core::model::conv_route_on(&r.device).into();
            json["cpu"] = sphereface_core::train::cpu_description().into();
            json["peak_rss_mb"] = sphereface_core::train::bench::peak_resident_mb().into();
            // The FMA peak of the threads the bench ran on, measured after it (about 0.2 s);
            // not for a GPU's step, which those threads only feed.
            if let Some((peak, isa)) = sphereface_core::model::fma_peak_gflops(r.threads).filter(|_| r.device == "cpu") {
                json["fma_peak_gflops"] = peak.into();
                json["fma_peak_how"] = format!("measured: {} threads x 12 independent {isa:?} f32 FMA chains", r.threads).into();
                json["peak_fraction"] = (r.gflops / peak).into();
                json["peak_fraction_in_image"] = (r.gflops_in_image / peak).into();
            }
            println!("{json}");
        }
        Cmd::Evaluate(a) => {
            set_threads(a.threads)?;
            if a.limit == Some(0) {
                return Err(Error::Config("limit must be >= 1, got 0".into()));
            }
            let data = train::load_data(a.data_dir.as_deref())?;
            match a.device {
                DeviceArg::Cpu => evaluate(&a, &data, dfdx::tensor::Cpu::default())?,
                #[cfg(feature = "cuda")]
                DeviceArg::Cuda => evaluate(&a, &data, dfdx::tensor::Cuda::try_build(0, 0).map_err(|e| Error::Device(format!("cannot open CUDA device 0: {e:?}")))?)?,
                #[cfg(not(feature = "cuda"))]
                DeviceArg::Cuda => return Err(Error::Config("this binary was built without the cuda feature; rebuild with `--features cuda`".into())),
            }
        }
        Cmd::Table(a) => {
            let rows = rows_of(&a.from)?;
            if rows.is_empty() {
                return Err(Error::Config(format!("{} holds no finished runs (directories with config.json and metrics.json)", a.from.display())));
            }
            write_results(&a.from, &rows)?;
            println!("{}", results_markdown(&rows));
        }
        Cmd::Openset(cmd) => openset::main(cmd)?,
        Cmd::Figures(a) => {
            let files = sphereface_core::figures::draw_all(&a.from)?;
            for f in &files {
                println!("{}", f.display());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    sphereface_core::tune_allocator();
    catch_ctrl_c();
    let cli = Cli::parse();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                Error::Config(_) => 2,
                Error::Interrupted { .. } => 130,
                _ => 1,
            })
        }
    }
}
