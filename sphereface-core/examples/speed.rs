use sphereface_core::prelude::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind: NetKind = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(NetKind::Mnist4);
    let b: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(256);
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(0);
    let mut net = Network::<f32, Cpu>::new(kind, 2, &dev, &mut rng).unwrap();
    let head = Head::<f32, Cpu>::new(LossKind::angular(4, LambdaSchedule::caffe()).unwrap(), 2, &dev, &mut rng).unwrap();
    let labels: Vec<usize> = (0..b).map(|i| i % 10).collect();
    for i in 0..4 {
        let x: Tensor<(usize, usize), f32, Cpu> = dev.sample_uniform_like(&(b, 784));
        let t0 = Instant::now();
        let emb = net.forward(x.leaky_traced(), Mode::Train).unwrap();
        let out = head.forward(emb, &labels, 0).unwrap();
        let t1 = Instant::now();
        let _g = out.loss.backward();
        let t2 = Instant::now();
        println!("iter {i}: fwd {:.3}s bwd {:.3}s  -> {:.1} img/s", (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64(), b as f64 / (t2 - t0).as_secs_f64());
    }
}
