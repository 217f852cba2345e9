//! Layers against plain scalar loops, and their gradients against f64 finite differences.

mod common;

use common::*;
use sphereface_core::model::layers::{conv_bn_relu_portable, patch_indices, window_geometry, Act, BatchNorm, Conv2d, Linear, Mode, PRelu, Padding};
use sphereface_core::model::params::vector;
use sphereface_core::prelude::*;

type M = Tensor<(usize, usize), f64, Cpu>;

/// NHWC image batch as `[B, H·W·C]`.
fn images(dev: &Cpu, v: &[f64], b: usize) -> M {
    dev.tensor_from_vec(v.to_vec(), (b, v.len() / b))
}

/// Plain-loop convolution (NHWC, TF padding): the independent route.
#[allow(clippy::too_many_arguments)]
fn conv_loop(x: &[f64], b: usize, h: usize, w: usize, ci: usize, wt: &[f64], bias: &[f64], co: usize, k: usize, s: usize, pad: Padding) -> (Vec<f64>, usize, usize) {
    let (oh, pt) = window_geometry(h, k, s, pad).unwrap();
    let (ow, pl) = window_geometry(w, k, s, pad).unwrap();
    let mut out = vec![0.0; b * oh * ow * co];
    for n in 0..b {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..co {
                    let mut acc = bias.get(o).copied().unwrap_or(0.0);
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (oy * s + ky) as isize - pt as isize;
                            let xx = (ox * s + kx) as isize - pl as isize;
                            if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                continue;
                            }
                            for c in 0..ci {
                                acc += x[((n * h + y as usize) * w + xx as usize) * ci + c] * wt[((ky * k + kx) * ci + c) * co + o];
                            }
                        }
                    }
                    out[((n * oh + oy) * ow + ox) * co + o] = acc;
                }
            }
        }
    }
    (out, oh, ow)
}

/// Σ out ⊙ R for a fixed random R: a scalar whose gradient reaches every output.
fn project(out: &[f64], seed: u64) -> f64 {
    out.iter().zip(uniform(out.len(), -1.0, 1.0, seed)).map(|(a, b)| a * b).sum()
}

fn projected_loss<T: Tape<f64, Cpu>>(t: Tensor<(usize, usize), f64, Cpu, T>, seed: u64) -> Tensor<(), f64, Cpu, T> {
    let r: M = t.device().tensor_from_vec(uniform(t.shape().0 * t.shape().1, -1.0, 1.0, seed), *t.shape());
    (t * r).sum()
}

/// TF 'same' and 'valid' geometry, including the odd padding at the bottom/right.
#[test]
fn window_geometry_matches_tensorflow() {
    assert_eq!(window_geometry(28, 3, 1, Padding::Same).unwrap(), (28, 1));
    assert_eq!(window_geometry(28, 3, 2, Padding::Same).unwrap(), (14, 0)); // pad 0 top, 1 bottom
    assert_eq!(window_geometry(7, 3, 2, Padding::Same).unwrap(), (4, 1));
    assert_eq!(window_geometry(14, 3, 1, Padding::Valid).unwrap(), (12, 0));
    assert_eq!(window_geometry(12, 3, 2, Padding::Valid).unwrap(), (5, 0));
    assert!(window_geometry(2, 3, 1, Padding::Valid).unwrap_err().to_string().contains("smaller"));
    assert!(window_geometry(5, 0, 1, Padding::Same).is_err());
    let (idx, oh, ow, padded) = patch_indices(3, 3, 3, 1, Padding::Same).unwrap();
    assert_eq!((oh, ow, padded), (3, 3, true));
    assert_eq!(&idx[..9], &[9, 9, 9, 9, 0, 1, 9, 3, 4]); // top-left output: 9 marks padding
}

const CONV_CASES: [(usize, usize, usize, usize, usize, usize, Padding); 6] = [
    // (h, w, c_in, c_out, k, stride, padding)
    (5, 5, 2, 3, 3, 1, Padding::Same),
    (6, 6, 2, 3, 3, 2, Padding::Same),
    (7, 7, 1, 2, 3, 2, Padding::Same),
    (6, 5, 3, 2, 3, 1, Padding::Valid),
    (7, 7, 2, 2, 3, 2, Padding::Valid),
    (6, 6, 2, 2, 2, 2, Padding::Valid),
];

/// Case `i` of [`CONV_CASES`] for `b` images: input, weights, bias (uniform in [−1, 1), seeded
/// by the case) and the convolution holding those weights.
#[allow(clippy::type_complexity)]
fn scalar_case(dev: &Cpu, i: usize, b: usize, (h, w, ci, co, k, s, pad): (usize, usize, usize, usize, usize, usize, Padding)) -> (Vec<f64>, Vec<f64>, Vec<f64>, Conv2d<f64, Cpu>) {
    let x = uniform(b * h * w * ci, -1.0, 1.0, i as u64);
    let wt = uniform(k * k * ci * co, -1.0, 1.0, 100 + i as u64);
    let bias = uniform(co, -1.0, 1.0, 200 + i as u64);
    let conv = Conv2d { weight: vector(dev, wt.clone()), bias: Some(vector(dev, bias.clone())), c_in: ci, c_out: co, k, stride: s, padding: pad, input_grad: true, indices: Default::default() };
    (x, wt, bias, conv)
}

/// Convolution equals the scalar loop for strides 1/2, 'same'/'valid', odd and even sizes.
#[test]
fn conv_matches_scalar_loop() {
    let dev = Cpu::default();
    for (i, &(h, w, ci, co, k, s, pad)) in CONV_CASES.iter().enumerate() {
        let b = 2;
        let (x, wt, bias, conv) = scalar_case(&dev, i, b, (h, w, ci, co, k, s, pad));
        let out = conv.forward(Act::from_images(images(&dev, &x, b), h, w, ci).unwrap()).unwrap();
        let (want, oh, ow) = conv_loop(&x, b, h, w, ci, &wt, &bias, co, k, s, pad);
        assert_eq!((out.h, out.w), (oh, ow), "case {i}");
        assert_all_close(&format!("conv case {i}"), &out.t.as_vec(), &want, 1e-12, 1e-12);
    }
}

/// Convolution gradients (input, weight, bias) by central differences.
#[test]
fn conv_gradients_match_finite_differences() {
    let dev = Cpu::default();
    for (i, &(h, w, ci, co, k, s, pad)) in CONV_CASES.iter().enumerate() {
        let b = 2;
        let (x, wt, bias, conv) = scalar_case(&dev, i, b, (h, w, ci, co, k, s, pad));
        let f = |x: &[f64], wt: &[f64], bias: &[f64]| project(&conv_loop(x, b, h, w, ci, wt, bias, co, k, s, pad).0, 7);
        let xt = images(&dev, &x, b);
        let out = conv.forward(Act::from_images(xt.leaky_trace(), h, w, ci).unwrap()).unwrap();
        let grads = projected_loss(out.t, 7).backward();
        let name = format!("conv case {i}");
        fd_check(&format!("{name} x"), &x, &grads.get(&xt).as_vec(), &sample_coords(x.len(), 60, 1), |v| f(v, &wt, &bias));
        fd_check(&format!("{name} W"), &wt, &grads.get(&conv.weight).as_vec(), &sample_coords(wt.len(), 60, 2), |v| f(&x, v, &bias));
        fd_check(&format!("{name} b"), &bias, &grads.get(conv.bias.as_ref().unwrap()).as_vec(), &sample_coords(co, 60, 3), |v| f(&x, &wt, v));
    }
}

/// Plain-loop batch norm with batch statistics (biased variance, as in the forward pass).
fn bn_loop(x: &[f64], c: usize, gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let n = x.len() / c;
    let mut out = vec![0.0; x.len()];
    for ch in 0..c {
        let mean = (0..n).map(|r| x[r * c + ch]).sum::<f64>() / n as f64;
        let var = (0..n).map(|r| (x[r * c + ch] - mean).powi(2)).sum::<f64>() / n as f64;
        for r in 0..n {
            out[r * c + ch] = gamma[ch] * (x[r * c + ch] - mean) / (var + eps).sqrt() + beta[ch];
        }
    }
    out
}

/// Batch norm in training: values, gradients, and the running statistics it records;
/// in evaluation: the running statistics are used and nothing changes.
#[test]
fn batch_norm_train_and_eval() {
    let dev = Cpu::default();
    let (b, h, w, c) = (3, 2, 2, 3);
    let x = uniform(b * h * w * c, -2.0, 3.0, 11);
    let gamma = uniform(c, 0.5, 1.5, 12);
    let beta = uniform(c, -0.5, 0.5, 13);
    let mut bn = BatchNorm::<f64, Cpu>::new(&dev, c);
    bn.gamma = vector(&dev, gamma.clone());
    bn.beta = vector(&dev, beta.clone());
    let eps = bn.eps;
    let xt = images(&dev, &x, b);
    let out = bn.forward_portable(Act::from_images(xt.leaky_trace(), h, w, c).unwrap(), Mode::Train).unwrap();
    assert_all_close("bn train", &out.t.retaped::<NoneTape>().as_vec(), &bn_loop(&x, c, &gamma, &beta, eps), 1e-12, 1e-10);
    let grads = projected_loss(out.t, 5).backward();
    let f = |x: &[f64], g: &[f64], bt: &[f64]| project(&bn_loop(x, c, g, bt, eps), 5);
    fd_check("bn x", &x, &grads.get(&xt).as_vec(), &sample_coords(x.len(), 36, 1), |v| f(v, &gamma, &beta));
    fd_check("bn gamma", &gamma, &grads.get(&bn.gamma).as_vec(), &[0, 1, 2], |v| f(&x, v, &beta));
    fd_check("bn beta", &beta, &grads.get(&bn.beta).as_vec(), &[0, 1, 2], |v| f(&x, &gamma, v));

    // running = 0.9·(0, 1) + 0.1·(batch mean, unbiased batch variance)
    let n = b * h * w;
    let rm = bn.running_mean.as_vec();
    let rv = bn.running_var.as_vec();
    for ch in 0..c {
        let col: Vec<f64> = (0..n).map(|r| x[r * c + ch]).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        assert_close("running mean", rm[ch], 0.1 * mean, 1e-12, 1e-12);
        assert_close("running var", rv[ch], 0.9 + 0.1 * var, 1e-12, 1e-12);
    }

    // Evaluation: (x − running mean)/sqrt(running var + ε)·γ + β, statistics frozen.
    let out = bn.forward_portable(Act::from_images(images(&dev, &x, b), h, w, c).unwrap(), Mode::Eval).unwrap().t.as_vec();
    for (i, v) in out.iter().enumerate() {
        let ch = i % c;
        assert_close("bn eval", *v, gamma[ch] * (x[i] - rm[ch]) / (rv[ch] + eps).sqrt() + beta[ch], 1e-12, 1e-12);
    }
    assert_eq!(bn.running_mean.as_vec(), rm, "evaluation must not change the running mean");
    let one: M = dev.zeros_like(&(1, c));
    assert!(bn.forward_portable(Act::from_images(one, 1, 1, c).unwrap(), Mode::Train).is_err(), "one value per channel cannot be normalised");
}

/// PReLU and Linear: values and gradients (inputs kept away from PReLU's kink at 0).
#[test]
fn prelu_and_linear_gradients() {
    let dev = Cpu::default();
    let (b, c) = (4, 3);
    let x: Vec<f64> = uniform(b * c, 0.05, 2.0, 21).iter().zip(uniform(b * c, -1.0, 1.0, 22)).map(|(m, s)| m * s.signum()).collect();
    let alpha = uniform(c, 0.0, 0.5, 23);
    let prelu_loop = |x: &[f64], a: &[f64]| x.iter().enumerate().map(|(i, &v)| if v > 0.0 { v } else { a[i % c] * v }).collect::<Vec<_>>();
    let mut p = PRelu::<f64, Cpu>::new(&dev, c);
    p.alpha = vector(&dev, alpha.clone());
    let xt = images(&dev, &x, b);
    let out = p.forward(Act::from_images(xt.leaky_trace(), 1, 1, c).unwrap()).unwrap();
    assert_all_close("prelu", &out.t.retaped::<NoneTape>().as_vec(), &prelu_loop(&x, &alpha), 1e-15, 0.0);
    let grads = projected_loss(out.t, 3).backward();
    fd_check("prelu x", &x, &grads.get(&xt).as_vec(), &sample_coords(x.len(), 12, 0), |v| project(&prelu_loop(v, &alpha), 3));
    fd_check("prelu alpha", &alpha, &grads.get(&p.alpha).as_vec(), &[0, 1, 2], |v| project(&prelu_loop(&x, v), 3));

    let (n_in, n_out) = (3, 2);
    let w = uniform(n_in * n_out, -1.0, 1.0, 24);
    let bias = uniform(n_out, -1.0, 1.0, 25);
    let lin_loop = |x: &[f64], w: &[f64], bias: &[f64]| {
        (0..b * n_out).map(|i| bias[i % n_out] + (0..n_in).map(|k| x[(i / n_out) * n_in + k] * w[k * n_out + i % n_out]).sum::<f64>()).collect::<Vec<_>>()
    };
    let lin = Linear { weight: vector(&dev, w.clone()), bias: Some(vector(&dev, bias.clone())), n_in, n_out };
    let out = lin.forward(xt.leaky_trace()).unwrap();
    assert_all_close("linear", &out.retaped::<NoneTape>().as_vec(), &lin_loop(&x, &w, &bias), 1e-15, 1e-15);
    let grads = projected_loss(out, 4).backward();
    let f = |x: &[f64], w: &[f64], bias: &[f64]| project(&lin_loop(x, w, bias), 4);
    fd_check("linear x", &x, &grads.get(&xt).as_vec(), &sample_coords(x.len(), 12, 0), |v| f(v, &w, &bias));
    fd_check("linear W", &w, &grads.get(&lin.weight).as_vec(), &sample_coords(w.len(), 6, 0), |v| f(&x, v, &bias));
    fd_check("linear b", &bias, &grads.get(lin.bias.as_ref().unwrap()).as_vec(), &[0, 1], |v| f(&x, &w, v));
    let wrong: M = dev.zeros_like(&(2, 5));
    assert!(lin.forward(wrong).unwrap_err().to_string().contains("expects 3 inputs"));
}

/// Using one tensor twice (the residual shortcut) accumulates both gradients:
/// the dfdx `slice` bug (overwrite) must not reappear in our ops.
#[test]
fn reused_activation_accumulates_gradient() {
    let dev = Cpu::default();
    let x = uniform(2 * 3 * 3 * 2, -1.0, 1.0, 31);
    let wt = uniform(9 * 2 * 2, -1.0, 1.0, 32);
    let conv = Conv2d { weight: vector(&dev, wt.clone()), bias: None, c_in: 2, c_out: 2, k: 3, stride: 1, padding: Padding::Same, input_grad: true, indices: Default::default() };
    let xt = images(&dev, &x, 2);
    let a = Act::from_images(xt.leaky_trace(), 3, 3, 2).unwrap();
    let shortcut = a.t.retaped::<OwnedTape<f64, Cpu>>();
    let y = conv.forward(a).unwrap();
    let sum = y.t + shortcut;
    let grads = projected_loss(sum, 8).backward();
    let f = |v: &[f64]| {
        let (c, _, _) = conv_loop(v, 2, 3, 3, 2, &wt, &[], 2, 3, 1, Padding::Same);
        project(&c.iter().zip(v).map(|(a, b)| a + b).collect::<Vec<_>>(), 8)
    };
    fd_check("conv + shortcut", &x, &grads.get(&xt).as_vec(), &(0..x.len()).collect::<Vec<_>>(), f);
}

/// Values and gradients of one route, for the fast-vs-portable comparison.
fn conv_route(conv: &Conv2d<f64, Cpu>, x: &[f64], b: usize, h: usize, w: usize, portable: bool) -> Vec<Vec<f64>> {
    let dev = Cpu::default();
    let xt = images(&dev, x, b);
    let a = Act::from_images(xt.leaky_trace(), h, w, conv.c_in).unwrap();
    let out = if portable { conv.forward_portable(a) } else { conv.forward(a) }.unwrap();
    let y = out.t.retaped::<NoneTape>().as_vec();
    let grads = projected_loss(out.t, 17).backward();
    let dx = if conv.input_grad { grads.get(&xt).as_vec() } else { Vec::new() };
    vec![y, dx, grads.get(&conv.weight).as_vec(), grads.get(conv.bias.as_ref().unwrap()).as_vec()]
}

/// The CPU fast path (fused im2col + GEMM) equals the portable dfdx composition in values
/// and in the gradients of input, weight and bias, in f64.
#[test]
fn conv_fast_path_matches_portable_path() {
    let dev = Cpu::default();
    for (i, &(h, w, ci, co, k, s, pad)) in CONV_CASES.iter().chain(&[(28, 28, 1, 4, 3, 2, Padding::Same), (12, 12, 3, 5, 3, 2, Padding::Valid)]).enumerate() {
        let b = 3;
        let x = uniform(b * h * w * ci, -1.0, 1.0, 50 + i as u64);
        let conv = Conv2d {
            weight: vector(&dev, uniform(k * k * ci * co, -1.0, 1.0, 60 + i as u64)),
            bias: Some(vector(&dev, uniform(co, -1.0, 1.0, 70 + i as u64))),
            c_in: ci,
            c_out: co,
            k,
            stride: s,
            padding: pad,
            input_grad: true,
            indices: Default::default(),
        };
        let fast = conv_route(&conv, &x, b, h, w, false);
        let portable = conv_route(&conv, &x, b, h, w, true);
        for (what, (f, p)) in ["y", "dx", "dW", "db"].iter().zip(fast.iter().zip(&portable)) {
            assert_all_close(&format!("conv case {i} {what}"), f, p, 1e-12, 1e-12);
        }
        // Without the input gradient (a first layer): the same values and weight gradients.
        let first = Conv2d { input_grad: false, ..conv.clone() };
        let fast = conv_route(&first, &x, b, h, w, false);
        for (what, (f, p)) in ["y", "dx", "dW", "db"].iter().zip(fast.iter().zip(&portable)) {
            if *what != "dx" {
                assert_all_close(&format!("conv case {i} without input gradient: {what}"), f, p, 1e-12, 1e-12);
            }
        }
    }
}

/// The portable route keeps its gather indices between calls: alternating batch sizes,
/// image sizes, strides and paddings through one convolution gives what a fresh copy (an
/// empty cache) gives.
#[test]
fn portable_route_rebuilds_kept_indices_when_the_shape_changes() {
    let mut conv = conv3x3(&Cpu::default(), (2, 3, 2, Padding::Same), true, true, 5);
    let cases = [(3, 8, 8, 2, Padding::Same), (3, 8, 8, 2, Padding::Same), (2, 8, 8, 2, Padding::Same), (2, 6, 10, 2, Padding::Same), (3, 8, 8, 2, Padding::Same), (3, 8, 8, 1, Padding::Same), (3, 8, 8, 1, Padding::Valid), (3, 8, 8, 2, Padding::Valid)];
    for (b, h, w, stride, padding) in cases {
        (conv.stride, conv.padding) = (stride, padding);
        let x = uniform(b * h * w * 2, -1.0, 1.0, (b * h * w) as u64);
        let kept = conv_route(&conv, &x, b, h, w, true);
        let fresh = conv_route(&conv.clone(), &x, b, h, w, true);
        for (what, (k, f)) in ["y", "dx", "dW", "db"].iter().zip(kept.iter().zip(&fresh)) {
            assert_eq!(k, f, "{what} for {b} images of {h}x{w}, stride {stride}, {padding:?}");
        }
    }
}

/// A 3×3 convolution `(C_in, C_out, stride, padding)` with weights in [−1, 1) from `seed`
/// and, if `bias`, a bias in [−0.5, 0.5).
fn conv3x3(dev: &Cpu, (ci, co, stride, padding): (usize, usize, usize, Padding), bias: bool, input_grad: bool, seed: u64) -> Conv2d<f64, Cpu> {
    Conv2d {
        weight: vector(dev, uniform(9 * ci * co, -1.0, 1.0, seed)),
        bias: bias.then(|| vector(dev, uniform(co, -0.5, 0.5, seed + 100))),
        c_in: ci,
        c_out: co,
        k: 3,
        stride,
        padding,
        input_grad,
        indices: Default::default(),
    }
}

/// The fused conv → batch norm → ReLU op of the CPU fast path (the `mnist4` block) equals
/// the portable composition: values, gradients (x, W, b, γ, β) and running statistics, in
/// training and evaluation, with and without the input gradient. (This is also the test of
/// the fast batch norm's closed-form backward: it exists only inside this op.)
#[test]
fn conv_bn_relu_fast_path_matches_portable_path() {
    let dev = Cpu::default();
    let (b, h, w, ci, co) = (3, 7, 6, 2, 4);
    let x = uniform(b * h * w * ci, -1.0, 1.0, 90);
    for (case, (stride, pad, bias, input_grad)) in [(1, Padding::Same, false, true), (2, Padding::Valid, true, true), (2, Padding::Same, false, false)].into_iter().enumerate() {
        let conv = conv3x3(&dev, (ci, co, stride, pad), bias, input_grad, 91 + case as u64);
        let mut fast = BatchNorm::<f64, Cpu>::new(&dev, co);
        fast.gamma = vector(&dev, uniform(co, 0.5, 1.5, 96));
        fast.beta = vector(&dev, uniform(co, -0.5, 0.5, 97));
        let mut portable = fast.clone();
        for mode in [Mode::Train, Mode::Train, Mode::Eval] {
            let mut results = Vec::new();
            for (use_fast, bn) in [(true, &mut fast), (false, &mut portable)] {
                let xt = images(&dev, &x, b);
                let a = Act::from_images(xt.leaky_trace(), h, w, ci).unwrap();
                let out = if use_fast { Cpu::conv_bn_relu(&conv, bn, a, mode) } else { conv_bn_relu_portable(&conv, bn, a, mode) }.unwrap();
                let y = out.t.retaped::<NoneTape>().as_vec();
                let grads = projected_loss(out.t, 23).backward();
                let dx = if input_grad { grads.get(&xt).as_vec() } else { Vec::new() };
                let db = conv.bias.as_ref().map(|v| grads.get(v).as_vec()).unwrap_or_default();
                results.push(vec![y, dx, grads.get(&conv.weight).as_vec(), db, grads.get(&bn.gamma).as_vec(), grads.get(&bn.beta).as_vec(), bn.running_mean.as_vec(), bn.running_var.as_vec()]);
            }
            assert!(results[0][0].contains(&0.0) && results[0][0].iter().any(|&v| v > 0.0), "the ReLU must cut some values and pass others");
            for (what, (f, p)) in ["y", "dx", "dW", "db", "dgamma", "dbeta", "running mean", "running var"].iter().zip(results[0].iter().zip(&results[1])) {
                assert_all_close(&format!("conv-bn-relu case {case} {mode:?} {what}"), f, p, 1e-12, 1e-10);
            }
        }
    }
}

/// conv → PReLU (the `sphere20` block) as one op on the CPU against the portable route
/// (conv of dfdx ops, PReLU as relu(z) − α·relu(−z)): values and every gradient, f64.
#[test]
fn conv_prelu_fast_path_matches_portable_path() {
    let dev = Cpu::default();
    let (b, h, w, ci, co) = (3, 7, 6, 2, 4);
    let x = uniform(b * h * w * ci, -1.0, 1.0, 70);
    for (case, (stride, pad, bias, input_grad)) in [(1, Padding::Same, true, true), (2, Padding::Same, true, false), (2, Padding::Valid, false, true)].into_iter().enumerate() {
        let conv = conv3x3(&dev, (ci, co, stride, pad), bias, input_grad, 71 + case as u64);
        let act = PRelu { alpha: vector(&dev, uniform(co, 0.05, 0.6, 76)) };
        let mut results = Vec::new();
        for use_fast in [true, false] {
            let xt = images(&dev, &x, b);
            let a = Act::from_images(xt.leaky_trace(), h, w, ci).unwrap();
            let out = if use_fast { Cpu::conv_prelu(&conv, &act, a) } else { act.forward(conv.forward_portable(a).unwrap()) }.unwrap();
            let y = out.t.retaped::<NoneTape>().as_vec();
            let grads = projected_loss(out.t, 29).backward();
            let dx = if input_grad { grads.get(&xt).as_vec() } else { Vec::new() };
            let db = conv.bias.as_ref().map(|v| grads.get(v).as_vec()).unwrap_or_default();
            results.push(vec![y, dx, grads.get(&conv.weight).as_vec(), db, grads.get(&act.alpha).as_vec()]);
        }
        assert!(results[0][0].iter().any(|&v| v < 0.0) && results[0][0].iter().any(|&v| v > 0.0), "both sides of the PReLU are used");
        assert!(results[0][4].iter().all(|&v| v != 0.0), "every slope gets a gradient");
        for (what, (f, p)) in ["y", "dx", "dW", "db", "dalpha"].iter().zip(results[0].iter().zip(&results[1])) {
            assert_all_close(&format!("conv-prelu case {case} {what}"), f, p, 1e-12, 1e-10);
        }
    }
}
