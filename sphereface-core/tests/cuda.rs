//! The CUDA device computes what the CPU computes: one training step of every network and
//! head in f32, from the same initialisation and batch, on the GPU and on the CPU. Compiled
//! and run only with `--features cuda` (`benches/gpu-check.sh`); CI type-checks it.
#![cfg(feature = "cuda")]

use dfdx::tensor::Cuda;
use sphereface_core::model::{HasParams, Model};
use sphereface_core::optim::{OptimConfig, OptimizerState};
use sphereface_core::prelude::*;
use sphereface_core::rng::{stream, Stream};

/// Loss and parameters after one step on `dev`.
fn one_step<D: ConvDevice<f32>>(net: NetKind, kind: LossKind, dev: D, pixels: &[f32], labels: &[usize]) -> (f32, Vec<f32>) {
    let mut rng = stream(0, Stream::Init, 0);
    let mut network = Network::<f32, D>::new(net, 2, &dev, &mut rng).unwrap();
    let mut head = Head::<f32, D>::new(kind, 2, 10, &dev, &mut rng).unwrap();
    let mut opt = OptimizerState::new(&Model::new(&mut network, &mut head), OptimConfig::default()).unwrap();
    let x: Tensor<(usize, usize), f32, D> = dev.tensor_from_vec(pixels.to_vec(), (labels.len(), 784));
    let out = head.forward(network.forward(x.leaky_traced(), Mode::Train).unwrap(), labels, 0).unwrap();
    let loss = out.loss.as_vec()[0];
    let mut grads = out.loss.backward();
    let mut model = Model::new(&mut network, &mut head);
    opt.step(&mut model, &mut grads, 1e-3).unwrap();
    let mut params = Vec::new();
    model.visit("", &mut |_, _, t| params.extend(t.as_vec()));
    (loss, params)
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
    for net in [NetKind::Mnist4, NetKind::Sphere20] {
        for kind in heads {
            let (l_cpu, p_cpu) = one_step(net, kind, Cpu::default(), &pixels, &labels);
            let (l_gpu, p_gpu) = one_step(net, kind, cuda.clone(), &pixels, &labels);
            assert!((l_cpu - l_gpu).abs() <= 1e-3 * l_cpu.abs().max(1.0), "{net:?} {kind:?}: loss {l_cpu} on the CPU, {l_gpu} on the GPU");
            assert_eq!(p_cpu.len(), p_gpu.len());
            let worst = p_cpu.iter().zip(&p_gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-4, "{net:?} {kind:?}: parameters differ by up to {worst} after one step");
        }
    }
}
