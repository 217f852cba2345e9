//! Your own dfdx model with this crate's heads: a two-layer MLP embeds 2-D points from four
//! Gaussian blobs, an A-Softmax head (then an ArcFace head) classifies the embeddings, and
//! one dfdx Adam trains model and head together.
//!
//! ```sh
//! cargo run -p sphereface-core --example own_model --no-default-features
//! ```
//!
//! The blobs have centres (±2, ±2) and standard deviation 1, so the best any classifier can
//! do is Φ(2)² = 0.955 (each coordinate on the right side of its axis).

use rand::Rng as _;
use rand_distr::{Distribution, Normal};
use sphereface_core::dfdx::optim::Adam;
use sphereface_core::model::{count_correct, HeadModule};
use sphereface_core::prelude::*;

/// Your model: 2-D points to 2-D embeddings.
type Mlp = (Linear<2, 32>, ReLU, Linear<32, 32>, ReLU, Linear<32, 2>);

const CLASSES: usize = 4;
const BATCH: usize = 64;
const STEPS: u64 = 400;

/// `n` points of the four blobs and their labels.
fn blobs(n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<usize>) {
    let noise = Normal::new(0.0, 1.0).expect("a valid normal");
    let (mut x, mut y) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    for _ in 0..n {
        let label = rng.gen_range(0..CLASSES);
        let centre = [if label % 2 == 0 { 2.0 } else { -2.0 }, if label < 2 { 2.0 } else { -2.0 }];
        x.extend(centre.iter().map(|c| c + noise.sample(rng) as f32));
        y.push(label);
    }
    (x, y)
}

/// Trains the MLP with a head of loss `kind`; returns (first loss, last loss, test accuracy).
fn train(kind: LossKind, seed: u64) -> Result<(f32, f32, f64), sphereface_core::Error> {
    let dev = Cpu::seed_from_u64(seed);
    let mut rng = Rng::seed_from_u64(seed);
    let mlp = dev.build_module::<Mlp, f32>();
    let head = HeadModule::<2, CLASSES, f32, Cpu>::new(kind, &dev, &mut rng)?;
    // model and head in one tuple: one optimizer, one set of gradients
    let mut both = (mlp, head);
    let mut opt = Adam::new(&both, AdamConfig { lr: 1e-2, ..Default::default() });
    let (mut first, mut last) = (f32::NAN, f32::NAN);
    for step in 0..STEPS {
        let (x, y) = blobs(BATCH, &mut rng);
        let x: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x, (BATCH, Const));
        // the gradients are allocated for model *and* head, so backward() keeps both
        let emb = both.0.forward(x.traced(both.alloc_grads()));
        let out = both.1.forward(emb, &y, step)?;
        let loss = out.loss.array();
        if step == 0 {
            first = loss;
        }
        last = loss;
        if step % 100 == 0 || step == STEPS - 1 {
            println!("  step {step:>3}: loss {loss:.4} (lambda {:.1})", out.lambda);
        }
        let grads = out.loss.backward();
        sphereface_core::optim::update(&mut opt, &mut both, &grads)?;
    }
    // accuracy on 10,000 new points, from the head's logits without the margin
    let (x, y) = blobs(10_000, &mut rng);
    let x: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x, (y.len(), Const));
    let logits = both.1.logits(both.0.forward(x))?;
    let accuracy = count_correct(&logits.as_vec(), CLASSES, &y) as f64 / y.len() as f64;
    Ok((first, last, accuracy))
}

fn main() -> Result<(), sphereface_core::Error> {
    for (name, kind) in [("A-Softmax (m = 4)", LossKind::angular(4, LambdaSchedule::caffe())?), ("ArcFace (s = 30, m = 0.5)", LossKind::arcface(30.0, 0.5)?)] {
        println!("{name}: your MLP + HeadModule<2, {CLASSES}>, one Adam, {STEPS} steps of {BATCH}");
        let (first, last, accuracy) = train(kind, 7)?;
        println!("  loss {first:.3} -> {last:.3}; test accuracy {accuracy:.4} (best possible 0.955)");
        assert!(last < first, "{name}: the loss did not fall ({first} -> {last})");
    }
    Ok(())
}
