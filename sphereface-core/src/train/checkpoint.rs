//! Checkpoints: every parameter, buffer and optimizer state tensor of a run, with a state
//! of the caller's choosing (the trainer's position and configuration), in one file written
//! atomically ([`crate::io::write_atomic`]).
//!
//! Format: `SFCKPT01`, a little-endian u64 header length, a JSON header (state, dtype,
//! tensor names and lengths in order), then the values little-endian in that order. The
//! optimizer's tensors are named `optim.<slot>.<parameter>`.

use dfdx::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::params::e;
use crate::model::{HasParams, Vector};
use crate::optim::OptimizerState;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"SFCKPT01";

#[derive(Serialize, Deserialize)]
struct Header<S> {
    state: S,
    dtype: String,
    tensors: Vec<(String, usize)>,
}

fn dtype_name<E: Dtype>() -> &'static str {
    if std::mem::size_of::<E>() == 8 {
        "f64"
    } else {
        "f32"
    }
}

/// Serialises `state`, the tensors of `model` and the state tensors of `opt`.
///
/// # Errors
/// [`Error::Config`] when `state` cannot be written as JSON.
pub fn encode<S: Serialize, E: Dtype, D: Device<E>>(state: &S, model: &impl HasParams<E, D>, opt: &OptimizerState<E, D>) -> Result<Vec<u8>> {
    let mut tensors = Vec::new();
    let mut values: Vec<E> = Vec::new();
    model.visit("", &mut |name, _, t| {
        let v = t.as_vec();
        tensors.push((name.to_string(), v.len()));
        values.extend(v);
    });
    for (name, slots) in &opt.slots {
        for (which, t) in opt.cfg.optimizer.slot_names().iter().zip(slots) {
            let data = t.as_vec();
            tensors.push((format!("optim.{which}.{name}"), data.len()));
            values.extend(data);
        }
    }
    let header = Header { state, dtype: dtype_name::<E>().into(), tensors };
    let json = serde_json::to_vec(&header).map_err(|err| Error::Config(format!("cannot encode checkpoint header: {err}")))?;
    let mut out = Vec::with_capacity(16 + json.len() + values.len() * std::mem::size_of::<E>());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    let wide = dtype_name::<E>() == "f64";
    for v in values {
        let x = v.to_f64().unwrap_or(f64::NAN);
        if wide {
            out.extend_from_slice(&x.to_le_bytes());
        } else {
            out.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    Ok(out)
}

/// Restores `model` and `opt` from [`encode`]'s bytes and returns the saved state.
///
/// # Errors
/// [`Error::Checkpoint`] (without its path: the caller knows it) naming what does not
/// match: magic, truncation, dtype, tensor names or lengths (a checkpoint of another
/// network, dimension or loss).
pub fn decode<S: DeserializeOwned, E: Dtype, D: Device<E>>(bytes: &[u8], model: &mut impl HasParams<E, D>, opt: &mut OptimizerState<E, D>, dev: &D) -> Result<S> {
    let bad = |m: &str| Error::Checkpoint { path: None, reason: m.to_string() };
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("missing the SFCKPT01 signature"));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad("short header"))?) as usize;
    let body = bytes.get(16..).ok_or_else(|| bad("short header"))?;
    let json = body.get(..hlen).ok_or_else(|| bad("truncated header"))?;
    let header: Header<S> = serde_json::from_slice(json).map_err(|err| bad(&format!("header: {err}")))?;
    if header.dtype != dtype_name::<E>() {
        return Err(bad(&format!("it holds {} values, the run uses {}", header.dtype, dtype_name::<E>())));
    }
    let width = if header.dtype == "f64" { 8 } else { 4 };
    let data = &body[hlen..];
    let total: usize = header.tensors.iter().map(|(_, n)| n).sum();
    if data.len() != total * width {
        return Err(bad(&format!("expected {} value bytes, found {} (truncated or corrupt)", total * width, data.len())));
    }
    let mut expected = Vec::new();
    model.visit("", &mut |name, _, t| expected.push((name.to_string(), t.shape().0)));
    for (name, slots) in &opt.slots {
        for (which, t) in opt.cfg.optimizer.slot_names().iter().zip(slots) {
            expected.push((format!("optim.{which}.{name}"), t.shape().0));
        }
    }
    if expected != header.tensors {
        let first = expected.iter().zip(&header.tensors).find(|(a, b)| a != b);
        let detail = match first {
            Some((want, got)) => format!("the model has {} ({} values) where the checkpoint has {} ({} values)", want.0, want.1, got.0, got.1),
            None => format!("the model has {} tensors, the checkpoint {}", expected.len(), header.tensors.len()),
        };
        return Err(bad(&format!("it belongs to another model: {detail}")));
    }
    let mut offset = 0usize;
    let mut next = |n: usize| -> Vector<E, D> {
        let vals: Vec<E> = data[offset * width..(offset + n) * width]
            .chunks(width)
            .map(|c| {
                let x = if width == 8 { f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) } else { f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64 };
                e::<E>(x)
            })
            .collect();
        offset += n;
        dev.tensor_from_vec(vals, (n,))
    };
    model.visit_mut("", &mut |_, _, t| {
        let n = t.shape().0;
        *t = next(n);
    });
    for (_, slots) in opt.slots.iter_mut() {
        for t in slots.iter_mut() {
            let n = t.shape().0;
            *t = next(n);
        }
    }
    Ok(header.state)
}
