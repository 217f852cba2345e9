//! Training-step timing on fixed random input: forward, backward and optimizer separately,
//! after warm-up steps. Used by `sphereface bench`; numbers go to docs/PERFORMANCE.md.

use std::time::Instant;

use dfdx::prelude::*;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::model::params::e;
use crate::model::{device_name, ConvDevice, Head, LambdaSchedule, LossKind, Mode, Model, NetKind, Network};
use crate::optim::{OptimConfig, OptimizerState};
use crate::rng::{stream, Stream};
use crate::{Error, Result, NUM_CLASSES};

/// What `sphereface bench` prints (one JSON line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// `train` (forward, backward, Adam) or `eval` (forward of network and head without a
    /// tape, batch norm on its running statistics: what evaluation and snapshots run).
    pub mode: String,
    /// Network name.
    pub net: String,
    /// Images per step.
    pub batch: usize,
    /// CPU worker threads.
    pub threads: usize,
    /// Device name.
    pub device: String,
    /// Timed steps (after warm-up).
    pub steps: usize,
    /// Mean wall-clock seconds per training step (per evaluated batch in `eval` mode).
    pub seconds_per_step: f64,
    /// batch / seconds_per_step.
    pub images_per_second: f64,
    /// Mean seconds in the forward pass (network and A-Softmax head).
    pub forward_seconds: f64,
    /// Mean seconds in the backward pass (0 in `eval` mode).
    pub backward_seconds: f64,
    /// Mean seconds in the Adam update (0 in `eval` mode).
    pub optimizer_seconds: f64,
    /// Convolution GFLOP/s: [`Network::conv_flops_per_image`] (the training step's, or the
    /// forward pass's in `eval` mode) × images per second.
    #[serde(default)]
    pub gflops: f64,
    /// As `gflops`, counting only the multiply-adds with in-image inputs
    /// ([`Network::conv_flops_per_image_in_image`]): the work done where a layer skips its
    /// zero border (`sphere20`'s last stages), a lower bound elsewhere.
    #[serde(default)]
    pub gflops_in_image: f64,
    /// Resident memory (MiB) just before the first step, network, head, optimizer and
    /// input built (Linux; 0 elsewhere). The process's peak minus this is what the steps
    /// add.
    #[serde(default)]
    pub rss_before_steps_mb: f64,
}

/// Resident memory of this process in MiB, from `/proc/self/statm` (Linux; 0 elsewhere or
/// where unreadable).
pub fn resident_mb() -> f64 {
    #[cfg(target_os = "linux")]
    {
        let pages = std::fs::read_to_string("/proc/self/statm").ok().and_then(|t| t.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok())).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as f64;
        pages * page / (1024.0 * 1024.0)
    }
    #[cfg(not(target_os = "linux"))]
    0.0
}

/// The process's peak resident memory in MiB (`getrusage`, whose unit is KiB on Linux; 0
/// elsewhere).
pub fn peak_resident_mb() -> f64 {
    #[cfg(target_os = "linux")]
    // SAFETY: getrusage writes into the zeroed struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0 {
            return u.ru_maxrss as f64 / 1024.0;
        }
    }
    0.0
}

/// Times `steps` training steps of `net` (2-D embeddings, A-Softmax m = 4) at `batch`,
/// after `warmup` untimed steps; `portable` times the dfdx op compositions instead of the
/// device's fast path.
///
/// # Errors
/// [`Error::Config`] for zero sizes, or device errors.
pub fn bench<E: Dtype, D: ConvDevice<E>>(net: NetKind, batch: usize, steps: usize, warmup: usize, portable: bool, dev: D) -> Result<BenchResult> {
    if batch < 2 || steps == 0 {
        return Err(Error::Config(format!("bench needs batch >= 2 and steps >= 1, got batch {batch}, steps {steps}")));
    }
    let mut rng = stream(0, Stream::Init, 0);
    let mut network = Network::<E, D>::new(net, 2, &dev, &mut rng)?;
    network.portable = portable;
    let mut head = Head::<E, D>::new(LossKind::angular(4, LambdaSchedule::caffe())?, 2, NUM_CLASSES, &dev, &mut rng)?;
    let mut opt = OptimizerState::new(&Model::new(&mut network, &mut head), OptimConfig::default())?;
    let pixels: Vec<E> = (0..batch * 784).map(|_| e::<E>(rng.gen_range(0.0..1.0))).collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let (mut fwd, mut bwd, mut upd) = (0.0, 0.0, 0.0);
    let rss_before_steps_mb = resident_mb();
    for i in 0..warmup + steps {
        let x: Tensor<(usize, usize), E, D> = dev.tensor_from_vec(pixels.clone(), (batch, 784));
        let t0 = Instant::now();
        let emb = network.forward(x.leaky_traced(), Mode::Train)?;
        let out = head.forward(emb, &labels, i as u64)?;
        let _ = out.loss.as_vec(); // wait for the device
        let t1 = Instant::now();
        let mut grads = out.loss.backward();
        let t2 = Instant::now();
        opt.step(&mut Model::new(&mut network, &mut head), &mut grads, 1e-3)?;
        let _ = head.weight.as_vec(); // wait for the device
        let t3 = Instant::now();
        if i >= warmup {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
            upd += (t3 - t2).as_secs_f64();
        }
    }
    let n = steps as f64;
    let per_step = (fwd + bwd + upd) / n;
    Ok(BenchResult {
        mode: "train".into(),
        net: net.name().into(),
        batch,
        threads: rayon::current_num_threads(),
        device: device_name::<E, D>(),
        steps,
        seconds_per_step: per_step,
        images_per_second: batch as f64 / per_step,
        forward_seconds: fwd / n,
        backward_seconds: bwd / n,
        optimizer_seconds: upd / n,
        gflops: network.conv_flops_per_image().1 * batch as f64 / per_step / 1e9,
        gflops_in_image: network.conv_flops_per_image_in_image().1 * batch as f64 / per_step / 1e9,
        rss_before_steps_mb,
    })
}

/// Times `steps` evaluation batches of `net` at `batch` (2-D embeddings, A-Softmax head):
/// the network in [`Mode::Eval`] without a tape and the head's logits, as
/// [`crate::train::Trainer::evaluate`] runs them, after `warmup` untimed batches.
///
/// # Errors
/// [`Error::Config`] for zero sizes, or device errors.
pub fn bench_eval<E: Dtype, D: ConvDevice<E>>(net: NetKind, batch: usize, steps: usize, warmup: usize, portable: bool, dev: D) -> Result<BenchResult> {
    if batch == 0 || steps == 0 {
        return Err(Error::Config(format!("bench --eval needs batch >= 1 and steps >= 1, got batch {batch}, steps {steps}")));
    }
    let mut rng = stream(0, Stream::Init, 0);
    let mut network = Network::<E, D>::new(net, 2, &dev, &mut rng)?;
    network.portable = portable;
    let head = Head::<E, D>::new(LossKind::angular(4, LambdaSchedule::caffe())?, 2, NUM_CLASSES, &dev, &mut rng)?;
    let pixels: Vec<E> = (0..batch * 784).map(|_| e::<E>(rng.gen_range(0.0..1.0))).collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let mut total = 0.0;
    let rss_before_steps_mb = resident_mb();
    for i in 0..warmup + steps {
        let x: Tensor<(usize, usize), E, D> = dev.tensor_from_vec(pixels.clone(), (batch, 784));
        let t0 = Instant::now();
        let emb = network.forward(x, Mode::Eval)?;
        let out = head.forward(emb, &labels, i as u64)?;
        let _ = out.logits.as_vec(); // wait for the device
        if i >= warmup {
            total += t0.elapsed().as_secs_f64();
        }
    }
    let per_batch = total / steps as f64;
    Ok(BenchResult {
        mode: "eval".into(),
        net: net.name().into(),
        batch,
        threads: rayon::current_num_threads(),
        device: device_name::<E, D>(),
        steps,
        seconds_per_step: per_batch,
        images_per_second: batch as f64 / per_batch,
        forward_seconds: per_batch,
        backward_seconds: 0.0,
        optimizer_seconds: 0.0,
        gflops: network.conv_flops_per_image().0 * batch as f64 / per_batch / 1e9,
        gflops_in_image: network.conv_flops_per_image_in_image().0 * batch as f64 / per_batch / 1e9,
        rss_before_steps_mb,
    })
}
