//! Verification in folds, LFW's protocol as the SphereFace authors evaluate it
//! (`test/code/evaluation.m` in wy1iu/sphereface): pairs of images in ten folds; for each
//! fold, the threshold that maximises the accuracy on the other nine is applied to it.
//!
//! ```text
//! same(a, b)  ⇔  score(a, b) > t,   different  ⇔  score(a, b) < t      (a score equal to t is wrong either way)
//! acc(t)      = (#{same pairs, score > t} + #{different pairs, score < t}) / #pairs
//! t*          = mean{ t ∈ [−1, 1] : acc(t) = max acc }                  on the nine folds
//! fold accuracy = acc(t*) on the tenth fold;  report mean ± std over the ten
//! ```
//!
//! The authors search t on a grid of 20,001 points in [−1, 1] and average the grid points
//! that reach the best accuracy; [`best_threshold`] takes that rule to its limit: acc(t) is
//! constant between consecutive distinct scores, so t* is the length-weighted mean of the
//! midpoints of the maximising intervals (clipped to [−1, 1]).
//!
//! Score: the cosine of the two embeddings ([`cosine`]); [`fold_accuracies`] can first
//! subtract the mean feature of the nine folds' pairs (both images of each pair), as
//! `evaluation.m` does, and then normalise ([`Centring`]).

use crate::{Error, Result};

/// Whether the nine folds' mean feature is subtracted before the cosine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Centring {
    /// The plain cosine of the two embeddings.
    None,
    /// Subtract the mean of the nine folds' features (both images of every pair), then take
    /// the cosine: `evaluation.m`'s `mu = mean([featureLs(:, valFold), featureRs(:, valFold)], 2)`.
    NineFolds,
}

/// The cosine of `a` and `b` (0 when either is the zero vector).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na > 0.0 && nb > 0.0 { (dot / (na * nb)).clamp(-1.0, 1.0) } else { 0.0 }
}

/// The accuracy of threshold `t`: same pairs above it and different pairs below it.
pub fn accuracy_at(scores: &[f64], same: &[bool], t: f64) -> f64 {
    let right = scores.iter().zip(same).filter(|(s, &y)| if y { **s > t } else { **s < t }).count();
    right as f64 / scores.len().max(1) as f64
}

/// The threshold in [−1, 1] that maximises [`accuracy_at`] on (`scores`, `same`): the mean
/// of all maximising t, as the authors' grid search (module docs).
///
/// # Errors
/// [`Error::Shape`] for no scores, different lengths or a NaN score.
pub fn best_threshold(scores: &[f64], same: &[bool]) -> Result<f64> {
    if scores.is_empty() || scores.len() != same.len() {
        return Err(Error::Shape(format!("best_threshold needs as many labels as scores (at least one), got {} and {}", scores.len(), same.len())));
    }
    if scores.iter().any(|s| s.is_nan()) {
        return Err(Error::Shape("best_threshold: a score is NaN".into()));
    }
    let mut sorted: Vec<f64> = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    // The open intervals where acc(t) is constant: (−1, s_0), (s_0, s_1), …, (s_last, 1),
    // clipped to [−1, 1]; a score itself is never better than both of its neighbours.
    let mut edges = vec![-1.0];
    edges.extend(sorted.iter().copied().filter(|s| *s > -1.0 && *s < 1.0));
    edges.push(1.0);
    let intervals: Vec<(f64, f64)> = edges.windows(2).map(|w| (w[0], w[1])).filter(|(a, b)| b > a).collect();
    let accs: Vec<f64> = intervals.iter().map(|(a, b)| accuracy_at(scores, same, (a + b) / 2.0)).collect();
    let best = accs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (mut weighted, mut length) = (0.0, 0.0);
    for ((a, b), acc) in intervals.iter().zip(&accs) {
        if *acc == best {
            weighted += (b - a) * (a + b) / 2.0;
            length += b - a;
        }
    }
    Ok(if length > 0.0 { weighted / length } else { 0.0 })
}

/// The result of verification in folds.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldResult {
    /// Accuracy on each fold with the threshold chosen on the others.
    pub accuracies: Vec<f64>,
    /// The threshold each fold was tested with.
    pub thresholds: Vec<f64>,
}

impl FoldResult {
    /// Mean of the fold accuracies.
    pub fn mean(&self) -> f64 {
        self.accuracies.iter().sum::<f64>() / self.accuracies.len() as f64
    }

    /// Sample standard deviation of the fold accuracies (n − 1; 0 for one fold). The
    /// authors' `evaluation.m` prints MATLAB's `std`, which is also the n − 1 form.
    pub fn std(&self) -> f64 {
        let n = self.accuracies.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean();
        (self.accuracies.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    }
}

/// Pairs' features for [`fold_accuracies`]: the two embeddings of each pair, whether it is
/// a same-digit pair and its fold (0-based).
#[derive(Clone, Debug, PartialEq)]
pub struct PairFeatures {
    /// Feature of each pair's first image.
    pub left: Vec<Vec<f64>>,
    /// Feature of each pair's second image.
    pub right: Vec<Vec<f64>>,
    /// Same-digit pair?
    pub same: Vec<bool>,
    /// Fold of each pair, `0..folds`.
    pub fold: Vec<usize>,
}

impl PairFeatures {
    /// The pairs' scores with `centre` subtracted from every feature (or not).
    pub fn scores(&self, centre: Option<&[f64]>) -> Vec<f64> {
        let shift = |v: &[f64]| -> Vec<f64> { centre.map_or_else(|| v.to_vec(), |c| v.iter().zip(c).map(|(x, m)| x - m).collect()) };
        self.left.iter().zip(&self.right).map(|(a, b)| cosine(&shift(a), &shift(b))).collect()
    }

    /// The mean feature of the pairs in folds other than `fold` (both images of each pair).
    fn mean_except(&self, fold: usize) -> Vec<f64> {
        let d = self.left.first().map_or(0, Vec::len);
        let mut sum = vec![0.0; d];
        let mut n = 0usize;
        for (k, f) in self.fold.iter().enumerate() {
            if *f != fold {
                for v in [&self.left[k], &self.right[k]] {
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                }
                n += 2;
            }
        }
        sum.iter().map(|s| s / n.max(1) as f64).collect()
    }
}

/// Fold `f`'s threshold (the [`best_threshold`] of the other folds' scores) and its accuracy
/// on fold `f`.
fn one_fold(scores: &[f64], same: &[bool], fold: &[usize], f: usize, folds: usize) -> Result<(f64, f64)> {
    let pick = |test: bool| -> (Vec<f64>, Vec<bool>) { (0..scores.len()).filter(|&k| (fold[k] == f) == test).map(|k| (scores[k], same[k])).unzip() };
    let (train_s, train_y) = pick(false);
    let (test_s, test_y) = pick(true);
    if test_s.is_empty() || train_s.is_empty() {
        return Err(Error::Shape(format!("fold {f} of {folds} has {} pairs and the others {}: each needs some", test_s.len(), train_s.len())));
    }
    let t = best_threshold(&train_s, &train_y)?;
    Ok((t, accuracy_at(&test_s, &test_y, t)))
}

/// Verification in `folds` folds of given pair scores: for each fold, the
/// [`best_threshold`] of the other folds applied to it (what [`fold_accuracies`] does with
/// [`Centring::None`], from the scores alone).
///
/// # Errors
/// [`Error::Shape`] for fewer than two folds, lengths that differ, a fold without pairs.
pub fn fold_accuracies_of_scores(scores: &[f64], same: &[bool], fold: &[usize], folds: usize) -> Result<FoldResult> {
    if folds < 2 || same.len() != scores.len() || fold.len() != scores.len() {
        return Err(Error::Shape(format!("verification needs two or more folds and one label and fold per score; got {folds} folds, {} scores, {} labels, {} folds", scores.len(), same.len(), fold.len())));
    }
    let mut result = FoldResult { accuracies: Vec::with_capacity(folds), thresholds: Vec::with_capacity(folds) };
    for f in 0..folds {
        let (t, acc) = one_fold(scores, same, fold, f, folds)?;
        result.thresholds.push(t);
        result.accuracies.push(acc);
    }
    Ok(result)
}

/// Verification in `folds` folds: for each fold, the [`best_threshold`] of the other folds'
/// scores applied to it (the scores centred on the other folds' mean feature first when
/// `centring` is [`Centring::NineFolds`]).
///
/// # Errors
/// [`Error::Shape`] for fewer than two folds, a fold outside `0..folds` or with no pairs,
/// features of different lengths.
pub fn fold_accuracies(pairs: &PairFeatures, folds: usize, centring: Centring) -> Result<FoldResult> {
    let n = pairs.same.len();
    if folds < 2 || [pairs.left.len(), pairs.right.len(), pairs.fold.len()].iter().any(|&l| l != n) {
        return Err(Error::Shape(format!("verification needs two or more folds and one feature pair, label and fold per pair; got {folds} folds, {} + {} features, {n} labels, {} folds", pairs.left.len(), pairs.right.len(), pairs.fold.len())));
    }
    let d = pairs.left.first().map_or(0, Vec::len);
    if pairs.left.iter().chain(&pairs.right).any(|v| v.len() != d) {
        return Err(Error::Shape("pair features of different lengths".into()));
    }
    if centring == Centring::None {
        return fold_accuracies_of_scores(&pairs.scores(None), &pairs.same, &pairs.fold, folds);
    }
    let mut result = FoldResult { accuracies: Vec::with_capacity(folds), thresholds: Vec::with_capacity(folds) };
    for f in 0..folds {
        let scores = pairs.scores(Some(&pairs.mean_except(f)));
        let (t, acc) = one_fold(&scores, &pairs.same, &pairs.fold, f, folds)?;
        result.thresholds.push(t);
        result.accuracies.push(acc);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores −0.5 (different), 0.1 (different), 0.2 (same), 0.6 (same), 0.65 (different):
    /// accuracy on the intervals between them (−1, −0.5) 2/5, (−0.5, 0.1) 3/5, (0.1, 0.2)
    /// 4/5, (0.2, 0.6) 3/5, (0.6, 0.65) 2/5, (0.65, 1) 3/5: t* = 0.15, the one maximum.
    #[test]
    fn threshold_by_hand() {
        let s = [-0.5, 0.1, 0.2, 0.6, 0.65];
        let y = [false, false, true, true, false];
        assert_eq!(accuracy_at(&s, &y, 0.15), 0.8);
        assert_eq!(accuracy_at(&s, &y, 0.2), 0.6, "a score equal to t is wrong");
        assert_eq!(accuracy_at(&s, &y, 0.1), 0.6, "either way");
        assert!((best_threshold(&s, &y).unwrap() - 0.15).abs() < 1e-15);
        // Two maximising intervals, (−0.2, 0) and (0.4, 0.8) of lengths 0.2 and 0.4: t* is
        // their length-weighted mean (0.2·(−0.1) + 0.4·0.6) / 0.6 = 0.22/0.6.
        let s = [-0.2, 0.0, 0.4, 0.8];
        let y = [false, true, false, true];
        assert!((best_threshold(&s, &y).unwrap() - 0.22 / 0.6).abs() < 1e-15);
        // Perfectly separated at 0.5 with nothing between 0.3 and 0.7: t* = 0.5.
        assert!((best_threshold(&[0.3, 0.7], &[false, true]).unwrap() - 0.5).abs() < 1e-15);
    }

    /// Three folds of two pairs; fold 0's threshold comes from folds 1 and 2.
    #[test]
    fn folds_by_hand() {
        let v = |x: f64, y: f64| vec![x, y];
        // Pair scores (cosines): fold 0: 0.9 same, 0.1 different; fold 1: 0.8 same, 0.2
        // different; fold 2: 0.3 same (hard), 0.25 different.
        let angle = |c: f64| (c.acos().cos(), c.acos().sin());
        let mut p = PairFeatures { left: vec![], right: vec![], same: vec![], fold: vec![] };
        for (f, c, same) in [(0, 0.9, true), (0, 0.1, false), (1, 0.8, true), (1, 0.2, false), (2, 0.3, true), (2, 0.25, false)] {
            let (x, y) = angle(c);
            p.left.push(v(1.0, 0.0));
            p.right.push(v(x, y));
            p.same.push(same);
            p.fold.push(f);
        }
        let r = fold_accuracies(&p, 3, Centring::None).unwrap();
        // Fold 0 from {0.8 s, 0.2 d, 0.3 s, 0.25 d}: best interval (0.25, 0.3) → 0.275; fold 0
        // scores 0.9 > 0.275 (right), 0.1 < 0.275 (right): 1.
        assert!((r.thresholds[0] - 0.275).abs() < 1e-12, "{:?}", r.thresholds);
        assert_eq!(r.accuracies[0], 1.0);
        // Fold 2 from {0.9 s, 0.1 d, 0.8 s, 0.2 d}: (0.2, 0.8) → 0.5; 0.3 same is below: 1/2.
        assert!((r.thresholds[2] - 0.5).abs() < 1e-12);
        assert_eq!(r.accuracies[2], 0.5);
        assert!((r.mean() - 2.5 / 3.0).abs() < 1e-12);
        assert!((r.std() - (1.0f64 / 12.0).sqrt()).abs() < 1e-12, "std of (1, 1, 0.5) with n − 1");
    }

    /// Centring subtracts the other folds' mean feature (both sides of each pair).
    #[test]
    fn centring_uses_the_other_folds() {
        let p = PairFeatures {
            left: vec![vec![3.0, 1.0], vec![3.0, -1.0], vec![1.0, 5.0]],
            right: vec![vec![5.0, 1.0], vec![5.0, -1.0], vec![7.0, 5.0]],
            same: vec![true, false, true],
            fold: vec![0, 1, 2],
        };
        // Without fold 2: mean of (3,1), (5,1), (3,−1), (5,−1) = (4, 0).
        assert_eq!(p.mean_except(2), [4.0, 0.0]);
        // Fold 2's pair centred: (−3, 5) and (3, 5): cosine (−9 + 25) / 34.
        let s = p.scores(Some(&[4.0, 0.0]));
        assert!((s[2] - 16.0 / 34.0).abs() < 1e-15);
        assert!(fold_accuracies(&p, 3, Centring::NineFolds).is_ok());
        assert!(fold_accuracies(&p, 1, Centring::None).is_err());
    }
}
