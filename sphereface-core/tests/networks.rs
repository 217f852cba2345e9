//! Whole networks: shapes, parameter counts, gradients of network + head against f64
//! finite differences, and the optimizer.

mod common;

use common::*;
use sphereface_core::model::net::dropout_mask;
use sphereface_core::model::{with_conv_kernels, ConvKernels, HasParams, ParamKind, Vector};
use sphereface_core::optim::OptimConfig;
use sphereface_core::rng::{stream, Stream};
use sphereface_core::prelude::*;

type M = Tensor<(usize, usize), f64, Cpu>;

fn net(kind: NetKind, dim: usize, seed: u64) -> Network<f64, Cpu> {
    Network::new(kind, dim, &Cpu::default(), &mut sphereface_core::Rng::seed_from_u64(seed)).unwrap()
}

fn count(n: &impl HasParams<f64, Cpu>, prefix: &str) -> usize {
    let mut c = 0;
    n.visit("", &mut |name, k, t| {
        if k == ParamKind::Trainable && name.contains(prefix) {
            c += t.shape().0;
        }
    });
    c
}

/// Parameter counts: mnist4 by hand; sphere20's convolutions hold 11,654,272 parameters
/// (seed-analysis §1.1), plus 4,672 per-channel PReLU slopes and the 2048·d + d dense layer.
#[test]
fn parameter_counts() {
    let m = net(NetKind::Mnist4, 2, 0);
    let convs = 9 * 32 + 9 * 32 * 64 + 9 * 64 * 128 + 9 * 128 * 128;
    let bn = 2 * (32 + 64 + 128 + 128);
    assert_eq!(m.num_trainable(), convs + bn + 3200 * 2 + 2);
    let s = net(NetKind::Sphere20, 3, 0);
    assert_eq!(count(&s, "conv"), 11_654_272);
    assert_eq!(count(&s, "prelu"), 4_672);
    assert_eq!(count(&s, "fc"), 2048 * 3 + 3);
    assert_eq!(s.param_names().iter().filter(|n| n.ends_with("conv.weight")).count(), 20);
    // Width 2: every convolution twice as wide, so the dense layer sees 6,400 features.
    let mut w = Network::<f64, Cpu>::with_width(NetKind::Mnist4, 2, 2, &Cpu::default(), &mut sphereface_core::Rng::seed_from_u64(0)).unwrap();
    let convs = 9 * 64 + 9 * 64 * 128 + 9 * 128 * 256 + 9 * 256 * 256;
    let bn = 2 * (64 + 128 + 256 + 256);
    assert_eq!(w.num_trainable(), convs + bn + 6400 * 2 + 2);
    let x: M = Cpu::default().tensor_from_vec(vec![0.5; 3 * 784], (3, 784));
    assert_eq!(w.forward(x, Mode::Eval).unwrap().shape(), &(3, 2));
    let cfg = sphereface_core::train::TrainConfig::new(sphereface_core::train::Protocol::Seed, LossKind::Modified, 2);
    assert_eq!(cfg.label(), "modified-d2");
    assert_eq!(sphereface_core::train::TrainConfig { width: 2, ..cfg }.label(), "modified-d2-w2", "a wider run says so in its label");
    assert!(Network::<f64, Cpu>::with_width(NetKind::Mnist4, 2, 0, &Cpu::default(), &mut sphereface_core::Rng::seed_from_u64(0)).is_err());
}

/// Both networks map `[B, 784]` to `[B, d]` for several d, and reject other input sizes.
#[test]
fn output_shapes_and_input_checks() {
    let dev = Cpu::default();
    for kind in [NetKind::Mnist4, NetKind::Sphere20] {
        for d in [1, 2, 3] {
            let mut n = net(kind, d, 1);
            let x: M = dev.tensor_from_vec(uniform(2 * 784, 0.0, 1.0, 2), (2, 784));
            let y = n.forward(x, Mode::Eval).unwrap();
            assert_eq!(*y.shape(), (2, d), "{kind:?} d={d}");
        }
        let mut n = net(kind, 2, 1);
        let bad: M = dev.zeros_like(&(2, 783));
        assert!(n.forward(bad, Mode::Eval).unwrap_err().to_string().contains("784"));
    }
    assert!(Network::<f32, Cpu>::new(NetKind::Mnist4, 0, &dev, &mut sphereface_core::Rng::seed_from_u64(0)).is_err());
    assert!("resnet".parse::<NetKind>().unwrap_err().to_string().contains("resnet"));
}

/// Same seed, same network; another seed, another network.
#[test]
fn initialisation_is_seeded() {
    let a = net(NetKind::Mnist4, 2, 7);
    let b = net(NetKind::Mnist4, 2, 7);
    let c = net(NetKind::Mnist4, 2, 8);
    let flat = |n: &Network<f64, Cpu>| {
        let mut v = Vec::new();
        n.visit("", &mut |_, _, t| v.extend(t.as_vec()));
        v
    };
    assert_eq!(flat(&a), flat(&b));
    assert_ne!(flat(&a), flat(&c));
}

/// Loss of network + head as a function of one parameter tensor's values.
fn loss_with(n: &Network<f64, Cpu>, head: &Head<f64, Cpu>, x: &[f64], labels: &[usize], name: &str, values: &[f64]) -> f64 {
    let dev = Cpu::default();
    let mut n = n.clone();
    let mut head = head.clone();
    let set = &mut |p: &str, _: ParamKind, t: &mut Vector<f64, Cpu>| {
        if p == name {
            *t = dev.tensor_from_vec(values.to_vec(), (values.len(),));
        }
    };
    n.visit_mut("net", set);
    head.visit_mut("head", set);
    let xt: M = dev.tensor_from_vec(x.to_vec(), (labels.len(), 784));
    let emb = n.forward(xt, Mode::Train).unwrap();
    head.forward(emb, labels, 3).unwrap().loss.array()
}

/// End-to-end gradients of a whole network with the A-Softmax head, by f64 central
/// differences, on sampled coordinates of every parameter tensor (mnist4: conv, BN and
/// dense; sphere20: stride-2 conv, residual conv, PReLU, dense).
#[test]
fn whole_network_gradients_match_finite_differences() {
    let dev = Cpu::default();
    let labels = [3, 8];
    let x = uniform(2 * 784, 0.0, 1.0, 40);
    for (kind, per_tensor, only) in [(NetKind::Mnist4, 4, None), (NetKind::Sphere20, 2, Some(["stage1.down.conv", "stage3.unit4.2.conv.weight", "stage4.unit1.1.prelu", "fc.weight", "head"]))] {
        let mut n = net(kind, 3, 41);
        let head = Head::<f64, Cpu>::new(LossKind::angular(4, LambdaSchedule::caffe()).unwrap(), 3, 10, &dev, &mut sphereface_core::Rng::seed_from_u64(42)).unwrap();
        let xt: M = dev.tensor_from_vec(x.clone(), (2, 784));
        let emb = n.forward(xt.leaky_trace(), Mode::Train).unwrap();
        let grads = head.forward(emb, &labels, 3).unwrap().loss.backward();
        let base = net(kind, 3, 41); // unchanged running statistics for the re-evaluations
        let mut tensors: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
        let mut collect = |name: &str, k: ParamKind, t: &Vector<f64, Cpu>| {
            if k == ParamKind::Trainable && only.is_none_or(|o| o.iter().any(|p| name.contains(p))) {
                tensors.push((name.to_string(), t.as_vec(), grads.get(t).as_vec()));
            }
        };
        n.visit("net", &mut collect);
        head.visit("head", &mut collect);
        assert!(tensors.len() >= 5, "{kind:?}: too few tensors checked");
        for (i, (name, v, g)) in tensors.iter().enumerate() {
            fd_check_step(&format!("{kind:?} {name}"), v, g, &sample_coords(v.len(), per_tensor, i as u64), FD_STEP_NETWORK, |p| loss_with(&base, &head, &x, &labels, name, p));
        }
    }
}

/// Adam's first two steps against the formula computed by hand, and a third without gradients.
#[test]
fn adam_matches_hand_computation() {
    let dev = Cpu::default();
    let mut head = Head::<f64, Cpu>::from_weights(LossKind::Original { bias: true }, 1, 2, vec![0.5, -0.5], Some(vec![0.0, 0.0]), &dev).unwrap();
    let mut opt = OptimizerState::new(&head, OptimConfig::default()).unwrap();
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.01);
    let mut w = vec![0.5, -0.5];
    let (mut m, mut v) = (vec![0.0; 2], vec![0.0; 2]);
    for t in 1..=2 {
        let x: M = dev.tensor_from_vec(vec![2.0], (1, 1));
        let out = head.forward(x.leaky_trace(), &[0], 0).unwrap();
        let mut grads = out.loss.backward();
        let (g, before) = (grads.get(&head.weight).as_vec(), head.weight.clone());
        opt.step(&mut head, &mut grads, lr).unwrap();
        assert_eq!(grads.get(&before).as_vec(), g, "the step reads the gradients without changing them");
        for i in 0..2 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            w[i] -= lr * (m[i] / (1.0 - b1.powi(t))) / ((v[i] / (1.0 - b2.powi(t))).sqrt() + eps);
        }
        assert_all_close(&format!("adam step {t}"), &head.weight.as_vec(), &w, 1e-15, 1e-12);
    }
    assert!(opt.step(&mut head, &mut Gradients::leaky(), f64::NAN).unwrap_err().to_string().contains("NaN"));
    // No gradients at all (a loss that did not reach the head): zero gradients, so Adam
    // moves the weights by its first moment alone, as the formula says.
    opt.step(&mut head, &mut Gradients::leaky(), lr).unwrap();
    for i in 0..2 {
        m[i] *= b1;
        v[i] *= b2;
        w[i] -= lr * (m[i] / (1.0 - b1.powi(3))) / ((v[i] / (1.0 - b2.powi(3))).sqrt() + eps);
    }
    assert_all_close("adam step without gradients", &head.weight.as_vec(), &w, 1e-15, 1e-12);
    let bad = OptimConfig { optimizer: OptimizerKind::Adam { beta1: 1.0, beta2: 0.999, eps: 1e-8 }, weight_decay: 0.0 };
    assert!(OptimizerState::<f64, Cpu>::new(&head, bad).is_err());
}

/// One optimizer step of a 1-D original-softmax head with a bias on x = 2, label 0; returns
/// the gradient it stepped with (weights, then biases).
fn step_with_bias(head: &mut Head<f64, Cpu>, opt: &mut OptimizerState<f64, Cpu>, lr: f64) -> Vec<f64> {
    let x: M = Cpu::default().tensor_from_vec(vec![2.0], (1, 1));
    let out = head.forward(x.leaky_trace(), &[0], 0).unwrap();
    let mut grads = out.loss.backward();
    let g = grads.get(&head.weight).as_vec().into_iter().chain(grads.get(head.bias.as_ref().unwrap()).as_vec()).collect();
    opt.step(head, &mut grads, lr).unwrap();
    g
}

/// Decoupled weight decay (AdamW) shrinks the weight by (1 − lr·λ) before the Adam step and
/// leaves the bias alone.
#[test]
fn adamw_decays_weights_not_biases() {
    let dev = Cpu::default();
    let mut head = Head::<f64, Cpu>::from_weights(LossKind::Original { bias: true }, 1, 2, vec![0.5, -0.5], Some(vec![0.25, -0.25]), &dev).unwrap();
    let mut opt = OptimizerState::new(&head, OptimConfig { weight_decay: 0.1, ..OptimConfig::default() }).unwrap();
    let (b1, b2, eps, lr, wd) = (0.9f64, 0.999f64, 1e-8, 0.01, 0.1);
    let (mut w, mut b) = (vec![0.5, -0.5], vec![0.25, -0.25]);
    let (mut m, mut v) = (vec![0.0; 4], vec![0.0; 4]);
    for t in 1..=2 {
        let g = step_with_bias(&mut head, &mut opt, lr);
        for i in 0..4 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let upd = lr * (m[i] / (1.0 - b1.powi(t))) / ((v[i] / (1.0 - b2.powi(t))).sqrt() + eps);
            if i < 2 {
                w[i] = w[i] * (1.0 - lr * wd) - upd;
            } else {
                b[i - 2] -= upd;
            }
        }
        assert_all_close(&format!("adamw weight step {t}"), &head.weight.as_vec(), &w, 1e-15, 1e-12);
        assert_all_close(&format!("adamw bias step {t}"), &head.bias.as_ref().unwrap().as_vec(), &b, 1e-15, 1e-12);
    }
}

/// SGD with momentum μ: b ← μ b + g, p ← p·(1 − lr·λ_wd) − lr·b for weights, without the
/// decay for biases; its state is one velocity per parameter.
#[test]
fn sgd_momentum_matches_hand_computation() {
    let dev = Cpu::default();
    let mut head = Head::<f64, Cpu>::from_weights(LossKind::Original { bias: true }, 1, 2, vec![0.5, -0.5], Some(vec![0.25, -0.25]), &dev).unwrap();
    let cfg = OptimConfig { optimizer: OptimizerKind::Sgd { momentum: 0.9 }, weight_decay: 0.1 };
    let mut opt = OptimizerState::new(&head, cfg).unwrap();
    assert!(opt.slots.iter().all(|(_, s)| s.len() == 1), "one velocity per parameter");
    let (mu, wd) = (0.9f64, 0.1);
    let mut p = vec![0.5, -0.5, 0.25, -0.25];
    let mut b = [0.0; 4];
    for (t, lr) in [(1, 0.05), (2, 0.04), (3, 0.03)] {
        let g = step_with_bias(&mut head, &mut opt, lr);
        for i in 0..4 {
            b[i] = mu * b[i] + g[i];
            let keep = if i < 2 { 1.0 - lr * wd } else { 1.0 };
            p[i] = p[i] * keep - lr * b[i];
        }
        let got: Vec<f64> = head.weight.as_vec().into_iter().chain(head.bias.as_ref().unwrap().as_vec()).collect();
        assert_all_close(&format!("sgd step {t}"), &got, &p, 1e-15, 1e-12);
    }
    // No gradients at all: zero gradients, so the velocity and the decay alone move p.
    let lr = 0.02;
    opt.step(&mut head, &mut Gradients::leaky(), lr).unwrap();
    for i in 0..4 {
        b[i] *= mu;
        let keep = if i < 2 { 1.0 - lr * wd } else { 1.0 };
        p[i] = p[i] * keep - lr * b[i];
    }
    let got: Vec<f64> = head.weight.as_vec().into_iter().chain(head.bias.as_ref().unwrap().as_vec()).collect();
    assert_all_close("sgd step without gradients", &got, &p, 1e-15, 1e-12);
    for bad in [1.0, -0.1, f64::NAN] {
        let err = OptimizerState::<f64, Cpu>::new(&head, OptimConfig { optimizer: OptimizerKind::Sgd { momentum: bad }, weight_decay: 0.0 }).unwrap_err().to_string();
        assert!(err.contains("momentum must be in [0, 1)"), "{err}");
    }
}

/// Dropout before the embedding layer: masks are 0 or 1/(1 − p), a pure function of their
/// stream; p = 0 (or `None`) is the plain forward; the average over many masks is the plain
/// forward (the last layer is linear, so inverted dropout keeps the expectation).
#[test]
fn dropout_masks_and_forward() {
    let rng = |step| stream(0, Stream::Dropout, step);
    let mask = dropout_mask(100_000, 0.3, &mut rng(5));
    assert!(mask.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-15));
    let zeros = mask.iter().filter(|&&v| v == 0.0).count() as f64 / 1e5;
    assert!((zeros - 0.3).abs() < 0.01, "zero fraction {zeros}");
    assert_eq!(mask, dropout_mask(100_000, 0.3, &mut rng(5)));
    assert_ne!(mask, dropout_mask(100_000, 0.3, &mut rng(6)));

    let dev = Cpu::default();
    let mut n = net(NetKind::Mnist4, 2, 3);
    let x: M = dev.tensor_from_vec(uniform(2 * 784, 0.0, 1.0, 4), (2, 784));
    let plain = n.forward(x.clone(), Mode::Eval).unwrap().as_vec();
    assert_eq!(n.forward_with_dropout(x.clone(), Mode::Eval, Some((0.0, &mut rng(9)))).unwrap().as_vec(), plain);
    let a = n.forward_with_dropout(x.clone(), Mode::Eval, Some((0.5, &mut rng(7)))).unwrap().as_vec();
    assert_eq!(a, n.forward_with_dropout(x.clone(), Mode::Eval, Some((0.5, &mut rng(7)))).unwrap().as_vec());
    assert_ne!(a, n.forward_with_dropout(x.clone(), Mode::Eval, Some((0.5, &mut rng(8)))).unwrap().as_vec());
    assert_ne!(a, plain);
    let k = 400;
    let mut mean = vec![0.0; plain.len()];
    for s in 0..k {
        for (m, v) in mean.iter_mut().zip(n.forward_with_dropout(x.clone(), Mode::Eval, Some((0.2, &mut rng(s)))).unwrap().as_vec()) {
            *m += v / k as f64;
        }
    }
    let scale = plain.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for (m, p) in mean.iter().zip(&plain) {
        assert!((m - p).abs() < 0.05 * scale, "mean over masks {mean:?} vs plain {plain:?}");
    }
    assert!(n.forward_with_dropout(x, Mode::Eval, Some((1.0, &mut rng(0)))).unwrap_err().to_string().contains("dropout must be in [0, 1)"));
}

/// Evaluation without a tape takes the CPU's own route for `mnist4` (batch norm folded into
/// the convolutions, the batch cut into chunks): it must give the embeddings of the
/// block-by-block fast path (taped) and of the portable route, with batch statistics that
/// moved away from their initial values, for a batch that does not fill the last chunk;
/// on each convolution route (`Auto`: the direct kernels and Winograd's F(4×4, 3×3) where
/// the CPU has them; `Im2col`: im2col + GEMM and F(2×2, 3×3); `Avx2`).
#[test]
fn folded_evaluation_matches_block_by_block_routes() {
    for route in [ConvKernels::Auto, ConvKernels::Im2col, ConvKernels::Avx2] {
        with_conv_kernels(route, folded_evaluation_matches);
    }
}

fn folded_evaluation_matches() {
    let dev = Cpu::default();
    let mut n = net(NetKind::Mnist4, 3, 4);
    for seed in 0..3 {
        let x: M = dev.tensor_from_vec(uniform(4 * 784, 0.0, 1.0, 10 + seed), (4, 784));
        n.forward(x, Mode::Train).unwrap();
    }
    let b = 5;
    let pixels = uniform(b * 784, 0.0, 1.0, 20);
    let x = || -> M { dev.tensor_from_vec(pixels.clone(), (b, 784)) };
    let folded = n.forward(x(), Mode::Eval).unwrap().as_vec();
    let taped = n.forward(x().leaky_traced(), Mode::Eval).unwrap().retaped::<NoneTape>().as_vec();
    let mut portable = n.clone();
    portable.portable = true;
    let reference = portable.forward(x(), Mode::Eval).unwrap().as_vec();
    assert_eq!(folded.len(), b * 3);
    assert!(folded.iter().any(|v| v.abs() > 1e-3), "embeddings are not trivially zero");
    assert_all_close("folded vs taped fast path", &folded, &taped, 1e-11, 1e-9);
    assert_all_close("folded vs portable route", &folded, &reference, 1e-11, 1e-9);
    // Evaluating changes nothing: the same input gives the same embeddings again.
    assert_eq!(n.forward(x(), Mode::Eval).unwrap().as_vec(), folded);
}

/// The FLOP count behind `sphereface bench`'s GFLOP/s: two per multiply-add of every
/// convolution, from each layer's output size (TF padding) and shape; training adds dW for
/// every layer and dX for all but the first. The in-image count keeps, per output row (and
/// column), only the kernel rows that fall inside the input: e.g. a 'same' 3×3 on 4 pixels
/// has 2 + 3 + 3 + 2 = 10 of 12.
#[test]
fn conv_flops_per_image_counts_every_layer() {
    let dev = Cpu::default();
    // (output side, in-image kernel offsets summed over one side's outputs, C_in, C_out) of
    // each 3×3 convolution, by hand from net.rs's layout.
    let mnist4 = [(28, 82, 1, 32), (14, 41, 32, 64), (12, 36, 64, 128), (5, 15, 128, 128)];
    let mut sphere20 = vec![(14, 41, 1, 64), (14, 40, 64, 64), (14, 40, 64, 64), (7, 20, 64, 128)];
    sphere20.extend([(7, 19, 128, 128); 4]);
    sphere20.push((4, 10, 128, 256));
    sphere20.extend([(4, 10, 256, 256); 8]);
    sphere20.push((2, 5, 256, 512));
    sphere20.extend([(2, 4, 512, 512); 2]);
    for (kind, layers) in [(NetKind::Mnist4, mnist4.to_vec()), (NetKind::Sphere20, sphere20)] {
        let net = Network::<f32, Cpu>::new(kind, 2, &dev, &mut Rng::seed_from_u64(0)).unwrap();
        let count = |f: &dyn Fn(usize, usize) -> usize| {
            let f: Vec<f64> = layers.iter().map(|&(o, t, ci, co)| 2.0 * (f(o, t) * ci * co) as f64).collect();
            let fwd: f64 = f.iter().sum();
            (fwd, 3.0 * fwd - f[0])
        };
        assert_eq!(net.conv_flops_per_image(), count(&|o, _| o * o * 9), "{kind:?}");
        assert_eq!(net.conv_flops_per_image_in_image(), count(&|_, t| t * t), "{kind:?} in-image");
    }
}
