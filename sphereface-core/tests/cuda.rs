//! The CUDA device computes what the CPU computes: one training step of every network and
//! head in f32, from the same initialisation and batch, on the GPU and on the CPU: the loss,
//! every parameter's gradient, and the parameters after Adam's first step. Compiled
//! and run only with `--features cuda` (`benches/gpu-check.sh`); CI type-checks it.
#![cfg(feature = "cuda")]

use dfdx::tensor::Cuda;
use sphereface_core::model::{HasParams, Model, ParamKind};
use sphereface_core::optim::{OptimConfig, OptimizerState};
use sphereface_core::prelude::*;
use sphereface_core::rng::{stream, Stream};

/// One parameter tensor after a step: its name, whether the optimizer trains it, its
/// gradient (trainable ones) and its values after the step.
struct After {
    name: String,
    trainable: bool,
    grad: Vec<f32>,
    value: Vec<f32>,
}

/// The loss and every parameter tensor after one Adam step on `dev`.
fn one_step<D: ConvDevice<f32>>(net: NetKind, kind: LossKind, dev: D, pixels: &[f32], labels: &[usize]) -> (f32, Vec<After>) {
    let mut rng = stream(0, Stream::Init, 0);
    let mut network = Network::<f32, D>::new(net, 2, &dev, &mut rng).unwrap();
    let mut head = Head::<f32, D>::new(kind, 2, 10, &dev, &mut rng).unwrap();
    let mut opt = OptimizerState::new(&Model::new(&mut network, &mut head), OptimConfig::default()).unwrap();
    let x: Tensor<(usize, usize), f32, D> = dev.tensor_from_vec(pixels.to_vec(), (labels.len(), 784));
    let out = head.forward(network.forward(x.leaky_traced(), Mode::Train).unwrap(), labels, 0).unwrap();
    let loss = out.loss.as_vec()[0];
    let mut grads = out.loss.backward();
    let mut model = Model::new(&mut network, &mut head);
    let mut tensors = Vec::new();
    model.visit("", &mut |name, k, t| {
        let trainable = k == ParamKind::Trainable;
        let grad = if trainable {
            grads.try_alloc_for(t).unwrap(); // zeros for a parameter the loss does not reach
            grads.get(t).as_vec()
        } else {
            Vec::new()
        };
        tensors.push(After { name: name.to_string(), trainable, grad, value: Vec::new() });
    });
    opt.step(&mut model, &mut grads, 1e-3).unwrap();
    let mut i = 0;
    model.visit("", &mut |_, _, t| {
        tensors[i].value = t.as_vec();
        i += 1;
    });
    (loss, tensors)
}

/// What differs between the CPU's step (`a`) and the GPU's (`b`) beyond f32 rounding, in words.
fn differences(what: &str, (la, a): &(f32, Vec<After>), (lb, b): &(f32, Vec<After>)) -> Vec<String> {
    let mut out = Vec::new();
    if (la - lb).abs() > 1e-3 * la.abs().max(1.0) {
        out.push(format!("{what}: loss {la} on the CPU, {lb} on the GPU"));
    }
    assert_eq!(a.len(), b.len());
    let largest = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let worst = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    for (ta, tb) in a.iter().zip(b) {
        let name = &ta.name;
        assert_eq!(ta.value.len(), tb.value.len(), "{name}");
        if !ta.trainable {
            // Running statistics: updated from the batch in the forward pass.
            let (d, scale) = (worst(&ta.value, &tb.value), largest(&ta.value));
            if d > 1e-4 * scale.max(1.0) {
                out.push(format!("{what}: {name} differs by up to {d} after one step"));
            }
            continue;
        }
        // Gradients: the difference's norm within 1e-2 of the gradient's (f32 in other
        // summation orders; a ReLU whose input is within rounding of zero may let a
        // different set of terms through on each device).
        let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
        let (diff, size) = (norm(&mut ta.grad.iter().zip(&tb.grad).map(|(p, q)| p - q)), norm(&mut ta.grad.iter().copied()));
        if diff > 1e-2 * size + 1e-7 {
            out.push(format!("{what}: {name}'s gradient differs by {diff:.3e} in norm (its norm {size:.3e})"));
        }
        let scale = largest(&ta.grad);
        // Values after the step: Adam's first step moves each by about lr * g / |g|, so where
        // the gradient is clearly non-zero (1 % of the tensor's largest or more) both devices
        // move it the same way; near zero its sign, and so the step, may differ.
        let apart = ta.grad.iter().zip(ta.value.iter().zip(&tb.value)).filter(|(g, (p, q))| g.abs() >= 1e-2 * scale && (*p - *q).abs() > 1e-5).count();
        if apart > 0 {
            out.push(format!("{what}: {apart} entries of {name} moved apart in the step where the gradient is clearly non-zero"));
        }
    }
    out
}

#[test]
fn one_training_step_matches_the_cpu() {
    let cuda = Cuda::try_build(0, 0).expect("a CUDA device");
    let data = Mnist::load_default().unwrap();
    let idx: Vec<usize> = (0..16).collect();
    let (pixels, labels) = data.test.batch(&idx);
    let heads = [
        LossKind::Original { bias: true },
        LossKind::Modified,
        LossKind::angular(4, LambdaSchedule::none()).unwrap(),
        LossKind::cosface(30.0, 0.35).unwrap(),
        LossKind::arcface(30.0, 0.5).unwrap(),
    ];
    let mut failures = Vec::new();
    for net in [NetKind::Mnist4, NetKind::Sphere20] {
        for kind in heads {
            let cpu = one_step(net, kind, Cpu::default(), &pixels, &labels);
            let gpu = one_step(net, kind, cuda.clone(), &pixels, &labels);
            let found = differences(&format!("{net:?} {kind:?}"), &cpu, &gpu);
            eprintln!("{net:?} {kind:?}: loss {} (CPU) {} (GPU), {} differences", cpu.0, gpu.0, found.len());
            failures.extend(found);
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
