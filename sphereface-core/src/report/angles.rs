//! How far apart the classes are on the unit circle or sphere: the measure of what an
//! angular margin does, computed from a run's test embeddings.
//!
//! ```text
//! u_i = x_i / ||x_i||                          (points with x_i = 0 have no direction: skipped)
//! μ_c = Σ_{i ∈ c} u_i / ||Σ_{i ∈ c} u_i||       the class centre, a direction
//! intra: angle(u_i, μ_{y_i}), its mean and 95th percentile over all test images (degrees)
//! inter: min_{c ≠ c'} angle(μ_c, μ_c')          the two closest centres (degrees)
//! separation = inter / intra mean               higher: tighter classes, further apart
//! ```

use serde::{Deserialize, Serialize};

use crate::train::{EmbeddingSet, SavedRun};
use crate::{Error, Result};

/// The angular separation of one set of embeddings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Separation {
    /// Mean angle between a point and its class centre, degrees.
    pub intra_mean_deg: f64,
    /// 95th percentile of that angle, degrees.
    pub intra_p95_deg: f64,
    /// Smallest angle between two class centres, degrees.
    pub inter_min_deg: f64,
    /// `inter_min_deg / intra_mean_deg`.
    pub separation: f64,
}

/// Angle in degrees between two unit vectors (clamped, so rounding never gives NaN).
fn angle_deg(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>().clamp(-1.0, 1.0).acos().to_degrees()
}

fn unit(v: &[f64]) -> Option<Vec<f64>> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    (n > 0.0 && n.is_finite()).then(|| v.iter().map(|x| x / n).collect())
}

/// The angular separation of `emb` (any dimension ≥ 2, at least two classes with a
/// direction).
///
/// # Errors
/// [`Error::Shape`] when the values do not make `labels.len()` rows of `dim`, or fewer than
/// two classes have points with a direction.
pub fn angular_separation(emb: &EmbeddingSet) -> Result<Separation> {
    let d = emb.dim;
    if d == 0 || emb.values.len() != emb.labels.len() * d {
        return Err(Error::Shape(format!("{} values do not make {} embeddings of dimension {d}", emb.values.len(), emb.labels.len())));
    }
    let points: Vec<(u8, Vec<f64>)> = emb
        .values
        .chunks(d)
        .zip(&emb.labels)
        .filter_map(|(row, &l)| unit(&row.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()).map(|u| (l, u)))
        .collect();
    let classes = points.iter().map(|(l, _)| usize::from(*l)).max().map_or(0, |m| m + 1);
    let mut sums = vec![vec![0.0; d]; classes];
    for (l, u) in &points {
        sums[usize::from(*l)].iter_mut().zip(u).for_each(|(s, x)| *s += x);
    }
    let centres: Vec<Option<Vec<f64>>> = sums.iter().map(|s| unit(s)).collect();
    let present: Vec<&Vec<f64>> = centres.iter().flatten().collect();
    if present.len() < 2 {
        return Err(Error::Shape(format!("angular separation needs two classes with directions, got {}", present.len())));
    }
    let mut intra: Vec<f64> = points.iter().filter_map(|(l, u)| centres[usize::from(*l)].as_ref().map(|c| angle_deg(u, c))).collect();
    intra.sort_by(f64::total_cmp);
    let intra_mean_deg = intra.iter().sum::<f64>() / intra.len() as f64;
    // Nearest-rank percentile: the smallest angle with at least 95 % of the points at or below it.
    let rank = ((0.95 * intra.len() as f64).ceil() as usize).clamp(1, intra.len());
    let intra_p95_deg = intra[rank - 1];
    let mut inter_min_deg = f64::INFINITY;
    for (i, a) in present.iter().enumerate() {
        for b in &present[i + 1..] {
            inter_min_deg = inter_min_deg.min(angle_deg(a, b));
        }
    }
    Ok(Separation { intra_mean_deg, intra_p95_deg, inter_min_deg, separation: inter_min_deg / intra_mean_deg })
}

/// The angular separation at each of a run's snapshots (the embeddings of its first test
/// images, saved every `snapshot_every` steps), by step: how the classes close up during
/// training. Snapshots whose classes cannot be measured yet (at step 0 all points may sit at
/// one spot) are skipped.
///
/// # Errors
/// [`Error::Config`] when the run saved no snapshots; reading errors.
pub fn angle_history(run: &SavedRun) -> Result<Vec<(u64, Separation)>> {
    let snaps = run.files.read_snapshots()?;
    if snaps.is_empty() {
        return Err(Error::Config(format!("{} has no snapshots (train with snapshot_every set, e.g. the quick or lecture protocol)", run.dir().display())));
    }
    Ok(snaps.iter().filter_map(|(step, e)| angular_separation(e).ok().map(|s| (*step, s))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(dim: usize, points: &[(&[f32], u8)]) -> EmbeddingSet {
        EmbeddingSet { dim, values: points.iter().flat_map(|(p, _)| p.to_vec()).collect(), labels: points.iter().map(|(_, l)| *l).collect() }
    }

    /// Two classes at ±10° around 0° and 90°: intra 10°, inter 90°, separation 9; lengths and
    /// a zero point do not matter.
    #[test]
    fn hand_checkable_2d() {
        let (s, c) = (10f32.to_radians().sin(), 10f32.to_radians().cos());
        let e = set(2, &[(&[c, s], 0), (&[3.0 * c, -3.0 * s], 0), (&[-s, c], 1), (&[s * 0.5, c * 0.5], 1), (&[0.0, 0.0], 1)]);
        let sep = angular_separation(&e).unwrap();
        for (got, want) in [(sep.intra_mean_deg, 10.0), (sep.intra_p95_deg, 10.0), (sep.inter_min_deg, 90.0), (sep.separation, 9.0)] {
            assert!((got - want).abs() < 1e-4, "{sep:?}");
        }
    }

    /// The 95th percentile is a nearest-rank percentile; the minimum over every pair of
    /// centres. Class 0: 19 points on the x axis and one 30° off, so its centre sits
    /// δ = atan(sin 30° / (19 + cos 30°)) off the axis.
    #[test]
    fn percentile_and_closest_pair_in_3d() {
        let mut pts: Vec<(Vec<f32>, u8)> = (0..19).map(|_| (vec![1.0, 0.0, 0.0], 0)).collect();
        let off = 30f64.to_radians();
        pts.push((vec![off.cos() as f32, off.sin() as f32, 0.0], 0));
        pts.push((vec![0.0, 0.0, 1.0], 1));
        pts.push((vec![0.0, -1.0, 0.0], 2));
        let refs: Vec<(&[f32], u8)> = pts.iter().map(|(p, l)| (&p[..], *l)).collect();
        let sep = angular_separation(&set(3, &refs)).unwrap();
        let delta = off.sin().atan2(19.0 + off.cos()).to_degrees();
        // sorted: 0, 0 (classes 1 and 2), δ × 19, 30° − δ; rank ⌈0.95 · 22⌉ = 21 is δ
        assert!((sep.intra_p95_deg - delta).abs() < 1e-4, "{sep:?} δ = {delta}");
        assert!((sep.intra_mean_deg - (18.0 * delta + 30.0) / 22.0).abs() < 1e-4, "{sep:?}");
        assert!((sep.inter_min_deg - 90.0).abs() < 1e-4, "{sep:?}");
    }

    /// The committed lecture run's snapshots (every 30 steps): at initialisation every point
    /// sits in one bundle (class centres a few degrees apart); training spreads the centres
    /// far apart and the separation grows many times over.
    #[test]
    fn angle_history_of_a_committed_run() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/lecture/angular-d3");
        let h = angle_history(&SavedRun::open(&dir).unwrap()).unwrap();
        let steps: Vec<u64> = h.iter().map(|(s, _)| *s).collect();
        assert_eq!(steps, (0..=50).map(|i| i * 30).collect::<Vec<_>>());
        let (first, last) = (h[0].1, h[50].1);
        assert!(first.inter_min_deg < 5.0 && last.inter_min_deg > 30.0, "{first:?} -> {last:?}");
        assert!(last.separation > 5.0 * first.separation, "{first:?} -> {last:?}");
        let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/seed/angular-d3");
        assert!(angle_history(&SavedRun::open(&seed).unwrap()).unwrap_err().to_string().contains("no snapshots"));
    }

    #[test]
    fn refuses_what_it_cannot_measure() {
        assert!(angular_separation(&set(2, &[(&[1.0, 0.0], 0), (&[2.0, 0.0], 0)])).unwrap_err().to_string().contains("two classes"));
        let bad = EmbeddingSet { dim: 2, values: vec![1.0, 2.0, 3.0], labels: vec![0, 1] };
        assert!(angular_separation(&bad).unwrap_err().to_string().contains("do not make"));
    }
}
