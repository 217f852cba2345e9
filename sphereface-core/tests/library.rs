//! The heads as a library in someone else's dfdx model: `HeadModule` trained by one dfdx
//! optimizer with the model, the same maths as `Head`, any rank-2 input, and the traps that
//! must fail loudly (a tape that drops the head's gradient, bad batches, non-finite values).

mod common;

use common::assert_all_close;
use dfdx::optim::{Adam, Sgd};
use sphereface_core::model::{ClassWeights, HeadModule};
use sphereface_core::optim::{self, OptimConfig, OptimizerState};
use sphereface_core::prelude::*;
use sphereface_core::{Error, InputError};

// `Optimizer` is dfdx's trait here: the crate's prelude does not shadow it.
fn takes_a_dfdx_optimizer<M, O: Optimizer<M, Cpu, f32>>(_: &O) {}

type Mlp = (Linear<2, 8>, ReLU, Linear<8, 3>);

fn kinds() -> Vec<LossKind> {
    vec![
        LossKind::Original { bias: false },
        LossKind::Modified,
        LossKind::angular(4, LambdaSchedule::caffe()).unwrap(),
        LossKind::cosface(30.0, 0.35).unwrap(),
        LossKind::arcface(30.0, 0.5).unwrap(),
    ]
}

fn batch(dev: &Cpu) -> (Tensor<(usize, Const<2>), f32, Cpu>, Vec<usize>) {
    let x: Tensor<Rank2<6, 2>, f32, Cpu> = dev.sample_normal();
    (x.realize(), vec![0, 1, 2, 3, 0, 1])
}

/// The dfdx pattern with model and head in one tuple: one Adam moves both.
#[test]
fn head_module_trains_with_the_model_under_one_dfdx_optimizer() {
    let dev = Cpu::seed_from_u64(1);
    let mut rng = Rng::seed_from_u64(1);
    for kind in kinds() {
        let head = HeadModule::<3, 4, f32, Cpu>::new(kind, &dev, &mut rng).unwrap();
        let mut both = (dev.build_module::<Mlp, f32>(), head);
        let mut opt = Adam::new(&both, AdamConfig { lr: 1e-2, ..Default::default() });
        takes_a_dfdx_optimizer::<_, _>(&opt);
        let (w0, l0) = (both.1.weight.as_vec(), both.0 .0.weight.as_vec());
        let (x, y) = batch(&dev);
        let out = both.1.forward(both.0.forward(x.traced(both.alloc_grads())), &y, 0).unwrap();
        optim::update(&mut opt, &mut both, &out.loss.backward()).unwrap();
        assert_ne!(both.1.weight.as_vec(), w0, "{kind:?}: head unchanged");
        assert_ne!(both.0 .0.weight.as_vec(), l0, "{kind:?}: model unchanged");
    }
}

/// dfdx's usual `x.traced(model.alloc_grads())` drops the head's gradient: dfdx's optimizer
/// says so by id, `optim::update` by name; the runtime-sized `Head` refuses the tape in
/// `forward`. Never an `Ok` that leaves the head as it was.
#[test]
fn a_tape_that_drops_the_head_gradient_is_an_error_naming_it() {
    let dev = Cpu::seed_from_u64(2);
    let mut rng = Rng::seed_from_u64(2);
    let kind = LossKind::angular(4, LambdaSchedule::caffe()).unwrap();
    let (x, y) = batch(&dev);

    // HeadModule, dfdx's Adam through optim::update: named.
    let mut both = (dev.build_module::<Mlp, f32>(), HeadModule::<3, 4, f32, Cpu>::new(kind, &dev, &mut rng).unwrap());
    let mut opt = Adam::new(&both, Default::default());
    let grads = both.1.forward(both.0.forward(x.clone().traced(both.0.alloc_grads())), &y, 0).unwrap().loss.backward();
    let err = optim::update(&mut opt, &mut both, &grads).unwrap_err();
    let Error::MissingGradient { names, .. } = &err else { panic!("expected MissingGradient, got {err}") };
    assert_eq!(names, &["1.weight".to_string()]);
    assert!(err.to_string().contains("alloc_grads"), "{err}");
    // ... and dfdx's own update, without the adapter: an error too.
    let mut sgd = Sgd::new(&both, Default::default());
    assert!(matches!(sgd.update(&mut both, &grads), Err(OptimizerUpdateError::UnusedParams(_))));

    // Head (run-time sizes): refused in forward, before anything is computed.
    let mlp = dev.build_module::<Mlp, f32>();
    for (kind, expected) in [(kind, vec!["weight"]), (LossKind::Original { bias: true }, vec!["weight", "bias"])] {
        let head = Head::<f32, Cpu>::new(kind, 3, 4, &dev, &mut rng).unwrap();
        let err = head.forward(mlp.forward(x.clone().traced(mlp.alloc_grads())), &y, 0).unwrap_err();
        let Error::MissingGradient { names, .. } = &err else { panic!("expected MissingGradient, got {err}") };
        assert_eq!(names, &expected);
        assert!(head.logits(mlp.forward(x.clone().traced(mlp.alloc_grads()))).is_err());
        // with a tape that keeps every gradient, the crate's optimizer moves the head
        let mut head = head;
        let mut opt = OptimizerState::new(&head, OptimConfig::default()).unwrap();
        let before = head.weight.as_vec();
        let mut grads = head.forward(mlp.forward(x.clone().leaky_traced()), &y, 0).unwrap().loss.backward();
        opt.step(&mut head, &mut grads, 1e-2).unwrap();
        assert_ne!(head.weight.as_vec(), before);
        // and a tape-less forward (evaluation) is fine
        assert!(head.forward(mlp.forward(x.clone()), &y, 0).is_ok());
    }
}

/// `HeadModule` and `Head` compute the same losses, logits and gradients from the same
/// weights (one implementation), and both take any rank-2 shape.
#[test]
fn head_module_is_head_with_compile_time_sizes() {
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(3);
    let x: Tensor<Rank2<5, 3>, f64, Cpu> = dev.sample_normal();
    let y = [3, 0, 1, 2, 3];
    for kind in kinds() {
        let module = HeadModule::<3, 4, f64, Cpu>::new(kind, &dev, &mut rng).unwrap();
        let head = module.to_head().unwrap();
        let a = module.forward(x.clone().leaky_traced(), &y, 2000).unwrap();
        let b = head.forward(x.clone().realize::<(usize, usize)>().leaky_traced(), &y, 2000).unwrap();
        let loss = b.loss.array();
        assert_eq!(a.loss.array(), loss, "{kind:?}");
        assert_eq!(a.logits.as_vec(), b.logits.as_vec());
        assert_eq!(a.margin_logits.as_vec(), b.margin_logits.as_vec());
        let (ga, gb) = (a.loss.backward(), b.loss.backward());
        assert_all_close(&format!("{kind:?} dW"), &ga.get(&module.weight).as_vec(), &gb.get(&head.weight).as_vec(), 0.0, 1e-15);
        // shapes: (Const, Const), (usize, Const) and (usize, usize) give one answer
        let c = head.forward(x.clone().realize::<(usize, Const<3>)>(), &y, 2000).unwrap();
        let d = head.forward(x.clone(), &y, 2000).unwrap();
        assert_eq!((c.loss.array(), d.loss.array()), (loss, loss));
        assert_eq!(module.logits(x.clone()).unwrap().as_vec(), head.logits(x.clone()).unwrap().as_vec());
    }
    // the original softmax with a bias is Head's alone, said so
    let err = HeadModule::<3, 4, f64, Cpu>::new(LossKind::Original { bias: true }, &dev, &mut rng).unwrap_err();
    assert!(err.to_string().contains("no bias"), "{err}");
    // a wrong width is a shape error with both sizes
    let wide: Tensor<Rank2<5, 4>, f64, Cpu> = dev.zeros();
    let err = HeadModule::<3, 4, f64, Cpu>::new(LossKind::Modified, &dev, &mut rng).unwrap().forward(wide, &y, 0).unwrap_err();
    assert!(matches!(err, Error::Shape(_)) && err.to_string().contains("3-dimensional embeddings, got 4"), "{err}");
}

/// dfdx sees the head's tensors like a layer's: counted, reset (Glorot bound), converted to
/// another dtype as `ClassWeights`, and back into a head with the kind named again.
#[test]
fn dfdx_sees_the_head_module_as_a_module() {
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(4);
    let kind = LossKind::cosface(30.0, 0.35).unwrap();
    let mut head = HeadModule::<3, 4, f32, Cpu>::new(kind, &dev, &mut rng).unwrap();
    assert_eq!(head.num_trainable_params(), 12);
    head.reset_params();
    let bound = (6.0f32 / 7.0).sqrt();
    assert!(head.weight.as_vec().iter().all(|w| w.abs() <= bound));
    let wide: ClassWeights<3, 4, f64, Cpu> = head.to_dtype::<f64>();
    let back = HeadModule::with_weights(kind, wide).unwrap();
    assert_eq!(back.kind, kind);
    assert_eq!(back.weight.as_vec(), head.weight.as_vec().iter().map(|&w| w as f64).collect::<Vec<_>>());
}

/// A bad batch is an input error that says what is wrong; a non-finite embedding or loss is
/// reported, not turned into a NaN step.
#[test]
fn bad_batches_are_input_errors() {
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(5);
    let head = Head::<f32, Cpu>::new(LossKind::Modified, 2, 4, &dev, &mut rng).unwrap();
    let x = |v: Vec<f32>| dev.tensor_from_vec(v.clone(), (v.len() / 2, 2));
    let input = |r: sphereface_core::Result<HeadOutput<f32, Cpu, NoneTape>>| match r {
        Err(Error::Input(e)) => e,
        Err(e) => panic!("expected an input error, got {e}"),
        Ok(_) => panic!("expected an input error, got Ok"),
    };
    assert_eq!(input(head.forward(x(vec![]), &[], 0)), InputError::EmptyBatch);
    assert_eq!(input(head.forward(x(vec![1.0, 0.0]), &[0, 1], 0)), InputError::LabelCount { labels: 2, batch: 1 });
    let e = input(head.forward(x(vec![1.0, 0.0, 0.0, 1.0]), &[0, 4], 0));
    assert_eq!(e, InputError::LabelOutOfRange { row: 1, label: 4, classes: 4 });
    assert!(e.to_string().contains("labels 0..4"), "{e}");
    let e = input(head.forward(x(vec![1.0, 0.0, f32::NAN, 1.0]), &[0, 1], 0));
    assert!(matches!(e, InputError::NonFiniteEmbedding { row: 1, col: 0, .. }), "{e}");
    // finite embeddings whose logits overflow f32: the loss is not finite, and it is said
    let head = Head::<f32, Cpu>::new(LossKind::Original { bias: false }, 2, 4, &dev, &mut rng).unwrap();
    let err = head.forward(x(vec![3e38, -3e38, 3e38, 3e38]), &[0, 1], 7).unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { step: 7, .. }), "{err}");
}

/// Freezing names a tensor that exists; a frozen tensor stays as it is.
#[test]
fn freezing_is_explicit() {
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(6);
    let mut head = Head::<f64, Cpu>::new(LossKind::Original { bias: true }, 2, 3, &dev, &mut rng).unwrap();
    let mut opt = OptimizerState::new(&head, OptimConfig::default()).unwrap();
    let err = opt.freeze("head.weight").unwrap_err();
    assert!(err.to_string().contains("there are: weight, bias"), "{err}");
    opt.freeze("bias").unwrap();
    let (w, b) = (head.weight.as_vec(), head.bias.as_ref().unwrap().as_vec());
    let x: Tensor<Rank2<3, 2>, f64, Cpu> = dev.sample_normal();
    let mut grads = head.forward(x.leaky_traced(), &[0, 1, 2], 0).unwrap().loss.backward();
    opt.step(&mut head, &mut grads, 0.1).unwrap();
    assert_ne!(head.weight.as_vec(), w);
    assert_eq!(head.bias.as_ref().unwrap().as_vec(), b);
}

/// A state used on a model it was not made for is refused by name, and the refused step
/// changes nothing: not the tensors it could have matched, not the step count.
#[test]
fn a_state_for_another_model_changes_nothing() {
    let dev = Cpu::default();
    let mut rng = Rng::seed_from_u64(7);
    let mut with_bias = Head::<f64, Cpu>::new(LossKind::Original { bias: true }, 2, 3, &dev, &mut rng).unwrap();
    let mut no_bias = Head::<f64, Cpu>::new(LossKind::Modified, 2, 3, &dev, &mut rng).unwrap();
    let x: Tensor<Rank2<3, 2>, f64, Cpu> = dev.sample_normal();
    // a state for `weight` alone, on a model with `weight` and `bias`
    let mut opt = OptimizerState::new(&no_bias, OptimConfig::default()).unwrap();
    let w = with_bias.weight.as_vec();
    let mut grads = with_bias.forward(x.clone().leaky_traced(), &[0, 1, 2], 0).unwrap().loss.backward();
    let err = opt.step(&mut with_bias, &mut grads, 0.1).unwrap_err();
    assert!(err.to_string().contains("parameter bias is not known to the optimizer"), "{err}");
    assert_eq!(with_bias.weight.as_vec(), w, "the weight it knew must not move in a refused step");
    assert_eq!(opt.t, 0);
    // a state for `weight` and `bias`, on a model with `weight` alone
    let mut opt = OptimizerState::new(&with_bias, OptimConfig::default()).unwrap();
    let w = no_bias.weight.as_vec();
    let mut grads = no_bias.forward(x.clone().leaky_traced(), &[0, 1, 2], 0).unwrap().loss.backward();
    let err = opt.step(&mut no_bias, &mut grads, 0.1).unwrap_err();
    assert!(err.to_string().contains("the model has 1 trainable tensors, the optimizer 2"), "{err}");
    assert_eq!(no_bias.weight.as_vec(), w);
    // a state whose bias moments have the wrong length (weight first, so it would be
    // updated before the bias were found wrong): an error, and neither moves
    let mut opt = OptimizerState::new(&with_bias, OptimConfig::default()).unwrap();
    opt.slots[1].1 = vec![dev.zeros_like(&(5,)); 2];
    let wb = (with_bias.weight.as_vec(), with_bias.bias.as_ref().unwrap().as_vec());
    let mut bias_grads = with_bias.forward(x.clone().leaky_traced(), &[0, 1, 2], 0).unwrap().loss.backward();
    let err = opt.step(&mut with_bias, &mut bias_grads, 0.1).unwrap_err();
    assert!(err.to_string().contains("optimizer state of bias holds 5 values, the parameter 3"), "{err}");
    assert_eq!((with_bias.weight.as_vec(), with_bias.bias.as_ref().unwrap().as_vec()), wb);
    assert!(opt.slots[0].1.iter().all(|m| m.as_vec().iter().all(|&v| v == 0.0)), "the weight's moments must stay zero");
    assert_eq!(opt.t, 0);
    // and the state that fits moves the weight
    let mut opt = OptimizerState::new(&no_bias, OptimConfig::default()).unwrap();
    opt.step(&mut no_bias, &mut grads, 0.1).unwrap();
    assert_ne!(no_bias.weight.as_vec(), w);
    assert_eq!(opt.t, 1);
}
