//! The model: layers on stable dfdx (with the CPU fast path behind [`ConvDevice`]), the two
//! networks, the margin maths and the heads, and the parameter plumbing that
//! lets one optimizer and one checkpoint format cover them all.
//!
//! Dependencies point one way: `params` ← `layers` ← `cpu` (the fast path implements the
//! layers' device trait) and `layers` ← `net`; `margin` ← `heads`. Nothing here knows about
//! data, training or figures.

mod cpu;
pub mod head_module;
pub mod heads;
pub mod layers;
pub mod margin;
pub mod net;
pub mod params;

use dfdx::prelude::*;

pub use cpu::{conv_kernels, conv_route_description, fma_peak_gflops, with_conv_kernels, ConvKernels, Isa};
pub use head_module::{ClassWeights, HeadModule};
pub use heads::{count_correct, loss_title, Head, HeadOutput, LossKind, LossName, NORM_EPS};
pub use layers::{Act, ConvDevice, Mode, Padding};
pub use margin::{psi, LambdaPreset, LambdaSchedule};
pub use net::{NetKind, Network};
pub use params::{HasParams, ParamKind, Vector};

/// Network and head as one parameter set (names `net.*`, `head.*`): what the optimizer
/// updates and the checkpoint stores.
pub struct Model<'a, E: Dtype, D: Storage<E>> {
    net: &'a mut Network<E, D>,
    head: &'a mut Head<E, D>,
}

impl<'a, E: Dtype, D: Storage<E>> Model<'a, E, D> {
    /// Network and head as one parameter set.
    pub fn new(net: &'a mut Network<E, D>, head: &'a mut Head<E, D>) -> Self {
        Model { net, head }
    }
}

impl<E: Dtype, D: Storage<E>> HasParams<E, D> for Model<'_, E, D> {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &Vector<E, D>)) {
        self.net.visit(&params::join(prefix, "net"), f);
        self.head.visit(&params::join(prefix, "head"), f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ParamKind, &mut Vector<E, D>)) {
        self.net.visit_mut(&params::join(prefix, "net"), f);
        self.head.visit_mut(&params::join(prefix, "head"), f);
    }
}

/// The convolution route of a run on `device` (`cpu` or `cuda`, as [`device_name`] gives),
/// in words, as `metrics.json`, `reproduce.json` and `sphereface bench` record it: on the CPU
/// [`conv_route_description`]; on CUDA dfdx's own ops (the portable route: gather + matmul).
pub fn conv_route_on(device: &str) -> String {
    if device == "cuda" {
        "dfdx CUDA ops (portable route)".into()
    } else {
        conv_route_description()
    }
}

/// `cpu` or `cuda`, from the device type.
pub fn device_name<E: Dtype, D: Storage<E>>() -> String {
    if std::any::type_name::<D>().contains("Cuda") {
        "cuda".into()
    } else {
        "cpu".into()
    }
}
