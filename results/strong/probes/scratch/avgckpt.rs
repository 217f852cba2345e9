//! Scratch: average the tensors of several checkpoints of one run and evaluate on test.
use std::path::Path;
use sphereface_core::prelude::*;
use sphereface_core::{checkpoint, train};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = train::read_config(Path::new(&args[1])).unwrap();
    let dev = Cpu::default();
    let data = train::load_data(None).unwrap();
    let mut sum: Option<Vec<Vec<f64>>> = None;
    let n = args.len() - 2;
    for c in &args[2..] {
        let mut t = Trainer::<f32, Cpu>::new(cfg.clone(), dev.clone()).unwrap();
        let bytes = std::fs::read(c).unwrap();
        let st = checkpoint::decode(&bytes, &mut sphereface_core::train::Model::new(&mut t.net, &mut t.head), &mut t.opt, &dev).unwrap();
        t.step = st.step;
        if args.len() <= 6 {
            let ev = t.evaluate(&data.test).unwrap();
            println!("{c} step {} acc {}", st.step, ev.acc);
        }
        let mut vals = Vec::new();
        t.model().visit("", &mut |_, _, p| vals.push(p.as_vec().iter().map(|&x| x as f64).collect::<Vec<f64>>()));
        sum = Some(match sum {
            None => vals,
            Some(mut s) => { for (a, b) in s.iter_mut().zip(vals) { for (x, y) in a.iter_mut().zip(b) { *x += y; } } s }
        });
    }
    let s = sum.unwrap();
    let mut t = Trainer::<f32, Cpu>::new(cfg.clone(), dev.clone()).unwrap();
    let bytes = std::fs::read(&args[args.len() - 1]).unwrap();
    let st = checkpoint::decode(&bytes, &mut sphereface_core::train::Model::new(&mut t.net, &mut t.head), &mut t.opt, &dev).unwrap();
    t.step = st.step;
    let mut i = 0;
    t.model().visit_mut("", &mut |_, _, p| {
        let v: Vec<f32> = s[i].iter().map(|x| (x / n as f64) as f32).collect();
        *p = dev.tensor_from_vec(v, (s[i].len(),));
        i += 1;
    });
    let ev = t.evaluate(&data.test).unwrap();
    let va = t.evaluate(&train::splits(&data, &cfg).unwrap().0).unwrap();
    println!("average of {n}: test acc {} margin {} val {}", ev.acc, ev.margin_acc, va.acc);
}
