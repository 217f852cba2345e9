//! Scratch: continue a finished run for N more steps with the learning rate going linearly
//! from its last value to 0, then evaluate (nothing is saved).
use std::path::Path;
use sphereface_core::prelude::*;
use sphereface_core::{data, train};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(&args[1]);
    let extra: u64 = args[2].parse().unwrap();
    let cfg = train::read_config(dir).unwrap();
    let dev = Cpu::default();
    let mut t = Trainer::<f32, Cpu>::resume(dir, cfg.clone(), dev).unwrap();
    let data = train::load_data(None).unwrap();
    let (val, trn) = train::splits(&data, &cfg).unwrap();
    let s0 = t.step;
    let lr0 = cfg.lr_at(s0);
    let sampler = Sampler::new(trn.len(), cfg.batch, cfg.seed).unwrap();
    let end = s0 + extra;
    while t.step < end {
        let frac = (end - t.step) as f64 / extra as f64;
        let want = lr0 * frac;
        t.cfg.lr = want / cfg.lr_decay.powf(t.step as f64 / cfg.lr_decay_steps);
        let idx = sampler.indices(t.step);
        let (mut px, labels) = trn.batch(&idx);
        data::affine_images(&mut px, cfg.rotate, cfg.scale, cfg.shift, cfg.seed, t.step);
        let r = t.train_step(&px, &labels).unwrap();
        if t.step % 800 == 0 {
            let ev = t.evaluate(&data.test).unwrap();
            eprintln!("step {} lr {:.2e} loss {:.3} test {}", t.step, r.lr, r.loss, ev.acc);
        }
    }
    let ev = t.evaluate(&data.test).unwrap();
    let va = t.evaluate(&val).unwrap();
    println!("{} +{extra} linear-to-0 from lr {lr0:.2e}: test {} margin {} val {}", dir.display(), ev.acc, ev.margin_acc, va.acc);
}
