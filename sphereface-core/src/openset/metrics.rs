//! Scores against binary labels, one function per metric under the name scikit-learn's
//! `metrics` gives it: [`roc_curve`], [`roc_auc`], [`eer`], [`tar_at_far`]; the protocols
//! around them (which images, which pairs, which folds) live elsewhere.
//!
//! Conventions (stated once, used by all):
//! - a **higher score means positive** (a known digit; a same-digit pair) and
//!   `positive[i]` says which samples are;
//! - a threshold t accepts the scores **≥ t** (scikit-learn's `roc_curve`);
//! - in the AUROC **ties count ½**: AUROC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) over all pairs of a
//!   positive and a negative sample (the Mann-Whitney U statistic over P·N), which equals the
//!   trapezoidal area under [`roc_curve`];
//! - the EER is where the ROC, **linearly interpolated** between its points, crosses
//!   TPR = 1 − FPR (there FPR = FNR); `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`
//!   in the usual Python;
//! - TAR at FAR = f is the **largest TPR among the ROC's points with FPR ≤ f**: the best
//!   operating point a real threshold reaches without more false accepts than f allows (no
//!   interpolation between points).
//!
//! ```text
//! TPR(t) = #{i positive, s_i ≥ t} / P        FPR(t) = #{i negative, s_i ≥ t} / N
//! AUROC  = (R⁺ − P(P+1)/2) / (P·N)           R⁺: sum of the positives' ranks, ties averaged
//! ```

use crate::{Error, Result};

/// A receiver operating characteristic: one point per distinct score, from the strictest
/// threshold (+∞: nothing accepted, the point (0, 0)) down to the lowest score (everything
/// accepted, (1, 1)). Like scikit-learn's `roc_curve(..., drop_intermediate=False)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Roc {
    /// False positive rate at each threshold, non-decreasing from 0 to 1.
    pub fpr: Vec<f64>,
    /// True positive rate at each threshold, non-decreasing from 0 to 1.
    pub tpr: Vec<f64>,
    /// The thresholds, decreasing: +∞, then each distinct score.
    pub thresholds: Vec<f64>,
}

/// Checks the inputs every metric shares and returns (P, N).
fn counts(scores: &[f64], positive: &[bool]) -> Result<(usize, usize)> {
    if scores.len() != positive.len() {
        return Err(Error::Shape(format!("{} scores but {} labels", scores.len(), positive.len())));
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::Shape(format!("score {i} is NaN")));
    }
    let p = positive.iter().filter(|&&b| b).count();
    let n = positive.len() - p;
    if p == 0 || n == 0 {
        return Err(Error::Shape(format!("a ROC needs positive and negative samples, got {p} positive and {n} negative")));
    }
    Ok((p, n))
}

/// The indices of `scores`, highest score first (ties in index order).
fn by_score_desc(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// The ROC of `scores` against `positive` (see [`Roc`]).
///
/// # Errors
/// [`Error::Shape`] when the lengths differ, a score is NaN, or one class is missing.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Result<Roc> {
    let (p, n) = counts(scores, positive)?;
    let order = by_score_desc(scores);
    let (mut fpr, mut tpr, mut thresholds) = (vec![0.0], vec![0.0], vec![f64::INFINITY]);
    let (mut tp, mut fp) = (0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // One point per distinct score: after the last sample holding it.
        let last_of_score = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_score {
            fpr.push(fp as f64 / n as f64);
            tpr.push(tp as f64 / p as f64);
            thresholds.push(scores[i]);
        }
    }
    Ok(Roc { fpr, tpr, thresholds })
}

/// The area under the ROC: the probability that a positive sample scores above a negative
/// one, ties counting ½.
///
/// # Errors
/// As [`roc_curve`].
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Result<f64> {
    let (p, n) = counts(scores, positive)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the positives' ranks (1-based, ascending), tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += mean_rank * order[start..end].iter().filter(|&&i| positive[i]).count() as f64;
        start = end;
    }
    let (p, n) = (p as f64, n as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// The equal error rate of `roc`: the FPR (= FNR) where the linear interpolation of its
/// points crosses TPR = 1 − FPR.
pub fn eer(roc: &Roc) -> f64 {
    // g = TPR + FPR − 1 rises from −1 at (0, 0) to +1 at (1, 1) along the curve.
    let g = |k: usize| roc.tpr[k] + roc.fpr[k] - 1.0;
    for k in 1..roc.fpr.len() {
        let (g0, g1) = (g(k - 1), g(k));
        if g1 >= 0.0 && g0 < 0.0 {
            let t = -g0 / (g1 - g0); // g0 + t (g1 − g0) = 0
            return roc.fpr[k - 1] + t * (roc.fpr[k] - roc.fpr[k - 1]);
        }
    }
    // Unreachable for a curve from (0, 0) to (1, 1); the midpoint of the square otherwise.
    0.5
}

/// The true accept rate at false accept rate `far`: the largest TPR among `roc`'s points
/// with FPR ≤ `far` (0 when even the strictest threshold accepts too many negatives, which a
/// curve starting at (0, 0) never does).
pub fn tar_at_far(roc: &Roc, far: f64) -> f64 {
    roc.fpr.iter().zip(&roc.tpr).filter(|(f, _)| **f <= far).map(|(_, t)| *t).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-worked: scores 0.9 (+), 0.8 (−), 0.7 (+), 0.7 (−), 0.2 (+), 0.1 (−).
    /// Positive-negative pairs (9): 0.9 beats all three; 0.7⁺ beats 0.1, ties 0.7⁻ (½), loses
    /// to 0.8; 0.2 beats 0.1 only: (3 + 1.5 + 1) / 9 = 5.5 / 9.
    #[test]
    fn hand_worked_example() {
        let s = [0.9, 0.8, 0.7, 0.7, 0.2, 0.1];
        let y = [true, false, true, false, true, false];
        assert!((roc_auc(&s, &y).unwrap() - 5.5 / 9.0).abs() < 1e-15);
        let roc = roc_curve(&s, &y).unwrap();
        let third = 1.0 / 3.0;
        assert_eq!(roc.thresholds, [f64::INFINITY, 0.9, 0.8, 0.7, 0.2, 0.1]);
        assert_eq!(roc.tpr, [0.0, third, third, 2.0 * third, 1.0, 1.0]);
        assert_eq!(roc.fpr, [0.0, 0.0, third, 2.0 * third, 2.0 * third, 1.0]);
        // Trapezoids: 0 + third·third + third·(1.5 third) + 0 + third·1 = 5.5/9.
        let area: f64 = (1..roc.fpr.len()).map(|k| (roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1]) / 2.0).sum();
        assert!((area - 5.5 / 9.0).abs() < 1e-15);
        // g = tpr + fpr − 1: −1/3 at (1/3, 1/3), +1/3 at (2/3, 2/3): crossing halfway, EER = 1/2.
        assert!((eer(&roc) - 0.5).abs() < 1e-15);
        assert_eq!(tar_at_far(&roc, 0.0), third);
        assert_eq!(tar_at_far(&roc, 0.5), third);
        assert_eq!(tar_at_far(&roc, 2.0 * third), 1.0);
    }

    #[test]
    fn perfect_reversed_and_tied_scores() {
        let y = [true, true, false, false];
        assert_eq!(roc_auc(&[4.0, 3.0, 2.0, 1.0], &y).unwrap(), 1.0);
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0, 4.0], &y).unwrap(), 0.0);
        assert_eq!(roc_auc(&[5.0; 4], &y).unwrap(), 0.5, "all tied: ½");
        let perfect = roc_curve(&[4.0, 3.0, 2.0, 1.0], &y).unwrap();
        assert_eq!(eer(&perfect), 0.0);
        assert_eq!(tar_at_far(&perfect, 0.0), 1.0);
        let tied = roc_curve(&[5.0; 4], &y).unwrap();
        assert_eq!(tied.fpr, [0.0, 1.0]);
        assert_eq!(eer(&tied), 0.5, "the diagonal");
        assert_eq!(tar_at_far(&tied, 0.5), 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(roc_auc(&[1.0], &[true, false]).unwrap_err().to_string().contains("1 scores but 2 labels"));
        assert!(roc_curve(&[1.0, 2.0], &[true, true]).unwrap_err().to_string().contains("0 negative"));
        assert!(roc_auc(&[f64::NAN, 2.0], &[true, false]).unwrap_err().to_string().contains("NaN"));
    }
}
