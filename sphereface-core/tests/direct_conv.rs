//! The direct convolution kernels (AVX-512, AVX2 + FMA), im2col, im2col on the in-image
//! taps only (`taps`), and Winograd's F(4×4, 3×3) for every stride-1 3×3 layer it takes
//! (`winograd`) against the portable route, in f64 and f32: values and the gradients
//! of input, weight and bias, alone and fused with batch norm + ReLU and with PReLU, on
//! shapes that reach every edge of the kernels (one image, 1×1, 2×2 and 4×4 images, borders,
//! stride 2, 'valid', 1×1 and 5×5 kernels, channel counts that are not whole vectors, tiles
//! cut short by the last pixels).

mod common;

use common::*;
use sphereface_core::model::layers::{conv_bn_relu_portable, window_geometry, BatchNorm, Conv2d, PRelu, Padding};
use sphereface_core::model::params::vector;
use sphereface_core::model::{with_conv_kernels, ConvKernels, Isa};
use sphereface_core::prelude::*;

/// (H, W, C_in, C_out, k, stride, padding).
type Case = (usize, usize, usize, usize, usize, usize, Padding);

const CASES: &[Case] = &[
    (28, 28, 1, 32, 3, 1, Padding::Same),   // mnist4's first layer: C_in = 1
    (14, 14, 32, 64, 3, 2, Padding::Same),  // a stride-2 'same' layer (odd pixel bottom/right)
    (7, 7, 16, 48, 3, 1, Padding::Valid),   // 48: a block of 4 vectors and one of 2 (f32, AVX-512: 3 vectors)
    (6, 6, 16, 16, 3, 2, Padding::Valid),   // 'valid' stride 2 that leaves the last row and column unread
    (1, 1, 16, 32, 3, 1, Padding::Same),    // 1×1 image: everything but the centre is border
    (2, 3, 24, 16, 3, 2, Padding::Same),    // border-heavy; C_in = 24 is not whole AVX-512 f32 vectors
    (6, 6, 3, 40, 1, 1, Padding::Same),     // 1×1 kernel, C_in = 3; C_out = 40 not whole f32 vectors
    (9, 9, 8, 8, 3, 1, Padding::Same),      // narrow: one AVX2 f32 vector
    (4, 4, 16, 24, 3, 1, Padding::Same),    // sphere20's third stage in small: nine tap classes
    (5, 4, 8, 16, 5, 2, Padding::Same),     // 5×5 kernel, stride 2, an image not square
];

/// The batch sizes: one image, and enough that the last pixel tile is cut short.
const BATCHES: [usize; 2] = [1, 3];

fn routes() -> Vec<ConvKernels> {
    let mut r = vec![];
    if Isa::Avx512.available() {
        r.push(ConvKernels::Avx512);
    }
    if Isa::Avx2.available() {
        r.push(ConvKernels::Avx2);
    }
    r.push(ConvKernels::Im2col);
    r.push(ConvKernels::Taps);
    r.push(ConvKernels::Winograd);
    r
}

/// On x86-64 machines with the instruction sets (every sandbox of this project), the direct
/// kernels are what `Auto` takes: the tests below then compare them, not a fallback.
#[test]
fn auto_takes_the_widest_direct_kernels_the_cpu_has() {
    let expected = [Isa::Avx512, Isa::Avx2].into_iter().find(Isa::available);
    assert_eq!(ConvKernels::Auto.resolved(), expected);
    assert_eq!(ConvKernels::Im2col.resolved(), None);
    assert_eq!(ConvKernels::Winograd.resolved(), expected);
    for name in ["auto", "avx512", "avx2", "im2col", "taps", "winograd"] {
        assert_eq!(ConvKernels::parse(name).unwrap().name(), name);
    }
    assert!(ConvKernels::parse("avx3").is_err());
    println!("direct kernels on this CPU: AVX-512 {}, AVX2+FMA {}", Isa::Avx512.available(), Isa::Avx2.available());
}

fn conv_of<E: Dtype>(dev: &Cpu, c: &Case, seed: u64, bias: bool) -> Conv2d<E, Cpu>
where
    Cpu: Device<E>,
{
    let &(_, _, ci, co, k, s, pad) = c;
    Conv2d {
        weight: vector(dev, uniform(k * k * ci * co, -1.0, 1.0, seed)),
        bias: bias.then(|| vector(dev, uniform(co, -1.0, 1.0, seed + 1))),
        c_in: ci,
        c_out: co,
        k,
        stride: s,
        padding: pad,
        input_grad: true,
        indices: Default::default(),
    }
}

/// Which op of the fast path a comparison runs.
#[derive(Clone, Copy, Debug)]
enum Op {
    Conv,
    ConvBnRelu,
    ConvPrelu,
}

/// Values and gradients (y, dx, then every parameter's) of `op` on `route` (`None`: the
/// portable route), as f64, for the loss Σ y·r with fixed random r.
fn run<E: Dtype + num_traits::Float>(op: Op, c: &Case, b: usize, seed: u64, route: Option<ConvKernels>) -> Vec<Vec<f64>> where
    Cpu: ConvDevice<E>,
{
    let dev = Cpu::default();
    let &(h, w, ci, co, ..) = c;
    let cast = |v: Vec<f64>| v.into_iter().map(|x| E::from_f64(x).unwrap()).collect::<Vec<E>>();
    let back = |v: Vec<E>| v.into_iter().map(|x| x.to_f64().unwrap()).collect::<Vec<f64>>();
    let conv = conv_of::<E>(&dev, c, seed, !matches!(op, Op::ConvBnRelu));
    let mut bn = BatchNorm::<E, Cpu>::new(&dev, co);
    let mut prelu = PRelu::<E, Cpu>::new(&dev, co);
    prelu.alpha = vector(&dev, uniform(co, 0.05, 0.5, seed + 2));
    let xt: Tensor<(usize, usize), E, Cpu> = dev.tensor_from_vec(cast(uniform(b * h * w * ci, -1.0, 1.0, seed + 3)), (b, h * w * ci));
    let mut go = || {
        let a = Act::from_images(xt.leaky_trace(), h, w, ci).unwrap();
        let portable = route.is_none();
        let out = match op {
            Op::Conv if portable => conv.forward_portable(a),
            Op::Conv => conv.forward(a),
            Op::ConvBnRelu if portable => conv_bn_relu_portable(&conv, &mut bn, a, Mode::Train),
            Op::ConvBnRelu => Cpu::conv_bn_relu(&conv, &mut bn, a, Mode::Train),
            Op::ConvPrelu if portable => conv.forward_portable(a).and_then(|z| prelu.forward(z)),
            Op::ConvPrelu => Cpu::conv_prelu(&conv, &prelu, a),
        }
        .unwrap();
        let n = out.t.shape().0 * out.t.shape().1;
        let r: Tensor<(usize, usize), E, Cpu> = dev.tensor_from_vec(cast(uniform(n, -1.0, 1.0, seed + 4)), *out.t.shape());
        let y = back(out.t.retaped::<NoneTape>().as_vec());
        let grads = (out.t * r).sum().backward();
        let mut v = vec![y, back(grads.get(&xt).as_vec()), back(grads.get(&conv.weight).as_vec())];
        if let Some(bias) = &conv.bias {
            v.push(back(grads.get(bias).as_vec()));
        }
        match op {
            Op::ConvBnRelu => v.extend([back(grads.get(&bn.gamma).as_vec()), back(grads.get(&bn.beta).as_vec())]),
            Op::ConvPrelu => v.push(back(grads.get(&prelu.alpha).as_vec())),
            Op::Conv => {}
        }
        v
    };
    match route {
        Some(k) => with_conv_kernels(k, go),
        None => go(),
    }
}

/// Every route against the portable route in f64 (to 1e-11) and in f32 (against the f64
/// portable values, to what f32 sums of a few hundred terms keep).
fn check(op: Op) {
    for route in routes() {
        for (i, c) in CASES.iter().enumerate() {
            for b in BATCHES {
                let (oh, _) = window_geometry(c.0, c.4, c.5, c.6).unwrap();
                let (ow, _) = window_geometry(c.1, c.4, c.5, c.6).unwrap();
                if matches!(op, Op::ConvBnRelu) && b * oh * ow < 2 {
                    continue; // batch norm needs two values per channel
                }
                let seed = 100 + 10 * i as u64;
                let reference = run::<f64>(op, c, b, seed, None);
                let got = run::<f64>(op, c, b, seed, Some(route));
                let got32 = run::<f32>(op, c, b, seed, Some(route));
                let names = ["y", "dx", "dW", "db or first extra", "second extra", "third extra"];
                for (j, (r, (g, g32))) in reference.iter().zip(got.iter().zip(&got32)).enumerate() {
                    let what = format!("{op:?} {} case {i} {c:?} batch {b}: {}", route.name(), names[j]);
                    assert_all_close(&format!("{what} (f64)"), g, r, 1e-11, 1e-11);
                    // f32: inputs rounded to f32, sums of up to k·k·C_in·B·H·W terms.
                    let scale = r.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                    assert_all_close(&format!("{what} (f32)"), g32, r, 2e-4 * scale, 1e-3);
                }
            }
        }
    }
}

#[test]
fn direct_conv_matches_portable_route() {
    check(Op::Conv);
}

#[test]
fn direct_conv_bn_relu_matches_portable_route() {
    check(Op::ConvBnRelu);
}

#[test]
fn direct_conv_prelu_matches_portable_route() {
    check(Op::ConvPrelu);
}

/// A residual unit's input receives gradient from two consumers: the direct route adds its
/// dx to what is there instead of overwriting it, with a zero border ('same') or without
/// ('valid').
#[test]
fn direct_dx_adds_to_an_existing_gradient() {
    for (route, padding) in routes().into_iter().flat_map(|r| [(r, Padding::Same), (r, Padding::Valid)]) {
        let c: Case = (6, 6, 16, 16, 3, 1, padding);
        let dev = Cpu::default();
        let conv = conv_of::<f64>(&dev, &c, 7, true);
        let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(uniform(2 * 36 * 16, -1.0, 1.0, 8), (2, 36 * 16));
        let grad_of = |shortcut: bool| {
            with_conv_kernels(route, || {
                let a = Act::from_images(xt.leaky_trace(), 6, 6, 16).unwrap();
                let y = conv.forward(a).unwrap().t.sum();
                // the second consumer's backward runs first (recorded last): dx is 1 there
                let loss = if shortcut { y + xt.leaky_trace().sum() } else { y };
                loss.backward().get(&xt).as_vec()
            })
        };
        let (with, without) = (grad_of(true), grad_of(false));
        let expected: Vec<f64> = without.iter().map(|g| g + 1.0).collect();
        assert_all_close(&format!("{} {padding:?} dx with a shortcut", route.name()), &with, &expected, 1e-12, 1e-12);
    }
}

/// Every route gives the same bits whatever the number of threads: the tasks split the
/// pixels differently, but each sum keeps one order (dW over fixed chunks of the batch,
/// batch norm over fixed blocks of rows). `reproduce --jobs 2` (one thread per run) then
/// trains what `--jobs 1` (all threads) does. Shapes: dW in several chunks, the small-dW
/// path (W of 4.5 KiB), stride 2.
#[test]
fn every_route_gives_the_same_bits_on_one_two_and_three_threads() {
    let cases: [Case; 3] = [(14, 14, 32, 64, 3, 2, Padding::Same), (12, 12, 16, 32, 3, 1, Padding::Valid), (10, 10, 8, 16, 3, 1, Padding::Same)];
    for route in routes() {
        for op in [Op::Conv, Op::ConvBnRelu, Op::ConvPrelu] {
            for (i, c) in cases.iter().enumerate() {
                let on = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| run::<f32>(op, c, 16, 300 + i as u64, Some(route)))
                };
                let one = on(1);
                for threads in [2, 3] {
                    let many = on(threads);
                    for (j, (a, b)) in one.iter().zip(&many).enumerate() {
                        let differ = a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
                        assert_eq!(differ, 0, "{op:?} {} case {c:?}: output {j} differs in {differ} of {} values between 1 and {threads} threads", route.name(), a.len());
                    }
                }
            }
        }
    }
}
