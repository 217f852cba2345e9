//! The points of a scatter plot: validation, filtering, projection onto the unit
//! circle/sphere, subsampling, and the axis limits.

use super::{Embeddings, PlotError, ScatterOptions};

/// Axis half-range used for normalised (unit circle / sphere) embeddings.
pub const NORMALIZED_LIMIT: f64 = 1.15;

/// Returns `p` scaled to unit length, or `None` when it has no direction (zero or non-finite).
pub(crate) fn unit_project(p: [f64; 3]) -> Option<[f64; 3]> {
    let norm = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    if !norm.is_finite() || norm <= 0.0 {
        return None;
    }
    Some([p[0] / norm, p[1] / norm, p[2] / norm])
}

/// Points of one embedding set after validation, filtering and subsampling.
#[derive(Debug, Clone)]
pub(super) struct Cloud {
    /// Coordinates (third one 0 in 2-D).
    pub(super) pts: Vec<[f64; 3]>,
    pub(super) labels: Vec<u8>,
    /// The class directions to draw (2-D only).
    pub(super) directions: Vec<[f64; 2]>,
}

/// Validates, filters (non-finite rows; zero rows when normalising) and subsamples.
pub(super) fn prepare(emb: &Embeddings<'_>, opts: &ScatterOptions) -> Result<Cloud, PlotError> {
    let dim = emb.dim;
    if dim != 2 && dim != 3 {
        return Err(PlotError::Shape(format!(
            "can only draw 2-D or 3-D embeddings, got dim {dim}"
        )));
    }
    if Some(emb.values.len()) != emb.labels.len().checked_mul(dim) {
        return Err(PlotError::Shape(format!(
            "{} values do not make {} rows of dim {dim}",
            emb.values.len(),
            emb.labels.len()
        )));
    }
    if emb.labels.is_empty() {
        return Err(PlotError::Empty("the embedding set has no points".into()));
    }
    let mut pts = Vec::with_capacity(emb.labels.len());
    let mut labels = Vec::with_capacity(emb.labels.len());
    for (row, &label) in emb.values.chunks_exact(dim).zip(emb.labels) {
        if !row.iter().all(|v| v.is_finite()) {
            continue;
        }
        let mut p = [0.0f64; 3];
        for (dst, &v) in p.iter_mut().zip(row) {
            *dst = f64::from(v);
        }
        let p = if opts.normalize {
            match unit_project(p) {
                Some(u) => u,
                None => continue,
            }
        } else {
            p
        };
        pts.push(p);
        labels.push(label);
    }
    if pts.is_empty() {
        return Err(PlotError::Empty(if opts.normalize {
            "no finite, non-zero points to normalise".into()
        } else {
            "no finite points".into()
        }));
    }
    if opts.max_points > 0 && pts.len() > opts.max_points {
        let k = pts.len().div_ceil(opts.max_points);
        pts = pts.into_iter().step_by(k).collect();
        labels = labels.into_iter().step_by(k).collect();
    }
    let directions = if dim == 2 { emb.directions.to_vec() } else { Vec::new() };
    Ok(Cloud { pts, labels, directions })
}

/// Axis limits `[(lo, hi); 3]` with one common scale for all axes.
pub(super) fn limits(clouds: &[&Cloud], dim: usize, normalize: bool) -> [(f64, f64); 3] {
    if normalize {
        return [(-NORMALIZED_LIMIT, NORMALIZED_LIMIT); 3];
    }
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for cloud in clouds {
        for p in &cloud.pts {
            for a in 0..dim {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    let mut radius = 0.0f64;
    let mut span = 0.0f64;
    for a in 0..dim {
        if lo[a] > hi[a] {
            // No points at all; callers never get here, but stay sane.
            lo[a] = 0.0;
            hi[a] = 0.0;
        }
        radius = radius.max(lo[a].abs()).max(hi[a].abs());
        span = span.max(hi[a] - lo[a]);
    }
    let mut out = [(-1.0, 1.0); 3];
    if radius < 1e-30 {
        // All points at (or indistinguishably near) the origin.
        return out;
    }
    if radius <= 3.0 * span {
        // The origin is close to the data: centre on it (features radiate from the origin).
        let r = radius * 1.08;
        for o in out.iter_mut().take(dim) {
            *o = (-r, r);
        }
    } else {
        // A compact cloud far from the origin: its bounding box, same scale on all axes.
        let half = if span > 0.0 {
            span * 0.54
        } else {
            radius * 0.1
        };
        // Keep ticks distinguishable in f64 however tight the cloud.
        let half = half.max(radius * 1e-6);
        for a in 0..dim {
            let c = lo[a] / 2.0 + hi[a] / 2.0;
            out[a] = (c - half, c + half);
        }
    }
    out
}

/// Widens the x or y range so that one unit has the same length on both axes.
pub(super) fn equal_aspect(x: (f64, f64), y: (f64, f64), px_w: f64, px_h: f64) -> ((f64, f64), (f64, f64)) {
    if px_w <= 1.0 || px_h <= 1.0 {
        return (x, y);
    }
    let (wx, wy) = (x.1 - x.0, y.1 - y.0);
    if !(wx > 0.0 && wy > 0.0) {
        return (x, y);
    }
    let ratio = px_w / px_h;
    if wx / wy < ratio {
        let cx = x.0 / 2.0 + x.1 / 2.0;
        let half = wy * ratio / 2.0;
        ((cx - half, cx + half), y)
    } else {
        let cy = y.0 / 2.0 + y.1 / 2.0;
        let half = wx / ratio / 2.0;
        (x, (cy - half, cy + half))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::clusters;
    use super::*;

    #[test]
    fn projection_helper_and_normalized_cloud() {
        assert!(unit_project([0.0, 0.0, 0.0]).is_none());
        let u = unit_project([3.0, 4.0, 0.0]).unwrap();
        assert!((u[0] - 0.6).abs() < 1e-12 && (u[1] - 0.8).abs() < 1e-12);
        let u = unit_project([f64::from(f32::MAX), f64::from(f32::MAX), 1.0]).unwrap();
        assert!(((u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt() - 1.0).abs() < 1e-9);

        for dim in [2, 3] {
            let (v, l) = clusters(dim, 30, 3);
            let emb = Embeddings {
                dim,
                values: &v,
                labels: &l,
                directions: &[],
            };
            let opts = ScatterOptions {
                normalize: true,
                ..Default::default()
            };
            let cloud = prepare(&emb, &opts).unwrap();
            assert_eq!(cloud.pts.len(), 300);
            for p in &cloud.pts {
                let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                assert!((r - 1.0).abs() < 1e-6, "radius {r}");
            }
            assert_eq!(
                limits(&[&cloud], dim, true)[0],
                (-NORMALIZED_LIMIT, NORMALIZED_LIMIT)
            );
        }
    }

    #[test]
    fn subsampling_is_every_kth() {
        let (v, l) = clusters(2, 100, 4);
        let emb = Embeddings {
            dim: 2,
            values: &v,
            labels: &l,
            directions: &[],
        };
        let cloud = prepare(
            &emb,
            &ScatterOptions {
                max_points: 300,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cloud.pts.len(), 250); // k = ceil(1000 / 300) = 4
        assert_eq!(cloud.labels[1], l[4]);
        let all = prepare(
            &emb,
            &ScatterOptions {
                max_points: 0,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(all.pts.len(), 1000);
    }
}
