//! Per-layer times of the convolution routes (not a test of speed: it asserts nothing and
//! is ignored by default). What docs/PERFORMANCE.md's per-layer table of round 4 comes from,
//! the measurement behind `MAX_DIRECT_WEIGHT_BYTES` (which layers take the direct kernels):
//!
//! ```sh
//! cargo test --release -p sphereface-core --test conv_layer_times -- --ignored --nocapture
//! ```
//! Each line: one `mnist4` or `sphere20` layer shape (batch 256 and 64, sphere20's last two at both; the last three lines are diagnostic shapes), forward and backward
//! (dW, db and, but for the first layer, dX) of conv + bias alone, best of `REPS` (default 20)
//! after one warm-up, with the allocator tuned as the `sphereface` command tunes it, for every route the CPU has, and the route's GFLOP/s
//! (of the plain im2col's multiply-adds, border included, for every route: `taps` skips the
//! border's, so its figure counts work it does not do). `MAX_SIDE=7` keeps the small images.

use std::time::Instant;

use sphereface_core::model::layers::{window_geometry, Conv2d, Padding};
use sphereface_core::model::params::vector;
use sphereface_core::model::{with_conv_kernels, ConvKernels, Isa};
use sphereface_core::prelude::*;

#[test]
#[ignore]
fn conv_layer_times() {
    sphereface_core::tune_allocator(); // as the `sphereface` command does
    let dev = Cpu::default();
    // (side, C_in, C_out, stride, batch, padding, input gradient)
    let same = Padding::Same;
    let cases = [
        (28, 1, 32, 1, 256, same, false),
        (28, 32, 64, 2, 256, same, true),
        (14, 64, 128, 1, 256, Padding::Valid, true),
        (12, 128, 128, 2, 256, Padding::Valid, true),
        (28, 1, 64, 2, 64, same, false),
        (14, 64, 64, 1, 64, same, true),
        (14, 64, 128, 2, 64, same, true),
        (7, 128, 128, 1, 64, same, true),
        (7, 128, 256, 2, 64, same, true),
        (4, 256, 256, 1, 64, same, true),
        (4, 256, 512, 2, 64, same, true),
        (2, 512, 512, 1, 64, same, true),
        (4, 256, 256, 1, 256, same, true),
        (2, 512, 512, 1, 256, same, true),
        // Not layers of the networks: why mnist4's second layer runs slower than its third.
        // The same layer 'valid' on 29x29 (the same windows read in place, no bordered
        // copy), its channels at stride 1, and stride 2 with 64 input channels.
        (29, 32, 64, 2, 256, Padding::Valid, true),
        (28, 32, 64, 1, 64, same, true),
        (28, 64, 64, 2, 256, same, true),
    ];
    let reps: usize = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    // MAX_SIDE (env): only the shapes with images at most this wide.
    let max_side: usize = std::env::var("MAX_SIDE").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let mut routes = vec![ConvKernels::Im2col, ConvKernels::Taps];
    routes.extend([(Isa::Avx512, ConvKernels::Avx512), (Isa::Avx2, ConvKernels::Avx2)].into_iter().filter(|(i, _)| i.available()).map(|(_, k)| k));
    routes.push(ConvKernels::Winograd); // F(4x4, 3x3) on the stride-1 layers, the others as `auto`
    for (h, ci, co, s, b, pad, input_grad) in cases.into_iter().filter(|c| c.0 <= max_side) {
        let conv = Conv2d::<f32, Cpu> { weight: vector(&dev, vec![0.01; 9 * ci * co]), bias: Some(vector(&dev, vec![0.0; co])), c_in: ci, c_out: co, k: 3, stride: s, padding: pad, input_grad, indices: Default::default() };
        let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(vec![0.5; b * h * h * ci], (b, h * h * ci));
        let oh = window_geometry(h, 3, s, pad).unwrap().0;
        let gflop = 2.0 * (b * oh * oh * 9 * ci * co) as f64 / 1e9;
        let mut line = format!("{h:>2}x{h:<2} {ci:>3}->{co:<3} s{s} b{b:<3} W {:>4} KiB:", 9 * ci * co * 4 / 1024);
        for &route in &routes {
            let (mut tf, mut tb) = (f64::MAX, f64::MAX);
            for _ in 0..=reps {
                with_conv_kernels(route, || {
                    let t0 = Instant::now();
                    let y = conv.forward(Act::from_images(x.leaky_trace(), h, h, ci).unwrap()).unwrap();
                    let t1 = Instant::now();
                    let g = y.t.sum().backward();
                    let t2 = Instant::now();
                    std::hint::black_box(g);
                    tf = tf.min((t1 - t0).as_secs_f64());
                    tb = tb.min((t2 - t1).as_secs_f64());
                });
            }
            let back = if input_grad { 2.0 } else { 1.0 };
            line += &format!(" | {} fwd {:.2} ms ({:.0} GFLOP/s) bwd {:.2} ms ({:.0})", route.name(), tf * 1e3, gflop / tf, tb * 1e3, back * gflop / tb);
        }
        println!("{line}");
    }
}
