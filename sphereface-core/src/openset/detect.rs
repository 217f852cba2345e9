//! Detecting the unknown: a score per test image from its embedding and the trained class
//! weights (`head.json`), higher meaning "a digit the run knows".
//!
//! ```text
//! cos θ_j = x·w_j / (‖x‖ ‖w_j‖)               (ε as the heads: ‖v‖ = sqrt(Σv² + 1e-12))
//! max cosine      = max_j cos θ_j              the angular score, any head
//! logit_j         = w_j·x + b_j                original softmax
//!                 = ‖x‖ cos θ_j                modified and angular softmax
//!                 = s cos θ_j                  CosFace, ArcFace
//! max logit       = max_j logit_j
//! max probability = max_j softmax(logit)_j     (the "softmax" baseline of the benchmark)
//! prediction      = argmax_j logit_j  (= argmax_j cos θ_j for the normalised heads)
//! ```

use serde::{Deserialize, Serialize};

use crate::data::KnownDigits;
use crate::model::LossKind;
use crate::train::{EmbeddingSet, HeadWeights};
use crate::{Error, Result};

/// The ε under the square root of a norm, as in the heads.
const NORM_EPS: f64 = 1e-12;

/// Which score detects the unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// The largest cosine to a class weight.
    MaxCosine,
    /// The largest logit.
    MaxLogit,
    /// The largest softmax probability.
    MaxProbability,
}

impl Score {
    /// All three, in table order.
    pub const ALL: [Score; 3] = [Score::MaxCosine, Score::MaxLogit, Score::MaxProbability];

    /// `max cosine`, `max logit`, `max probability`.
    pub fn title(self) -> &'static str {
        match self {
            Score::MaxCosine => "max cosine",
            Score::MaxLogit => "max logit",
            Score::MaxProbability => "max probability",
        }
    }

    /// The score a loss is judged by: the largest cosine for the heads that compare by angle;
    /// for original softmax, whose logits are not angles, the largest softmax probability
    /// (the "softmax" baseline of the open-set benchmark's tables; its largest logit is
    /// reported beside it).
    pub fn primary(kind: &LossKind) -> Score {
        match kind {
            LossKind::Original { .. } => Score::MaxProbability,
            _ => Score::MaxCosine,
        }
    }
}

/// The scores of one test image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageScore {
    /// Its digit.
    pub digit: u8,
    /// The digit the head predicts (one of the known).
    pub predicted: u8,
    /// Largest cosine to a class weight.
    pub max_cosine: f64,
    /// Largest logit.
    pub max_logit: f64,
    /// Largest softmax probability.
    pub max_probability: f64,
}

impl ImageScore {
    /// The value of `score`.
    pub fn get(&self, score: Score) -> f64 {
        match score {
            Score::MaxCosine => self.max_cosine,
            Score::MaxLogit => self.max_logit,
            Score::MaxProbability => self.max_probability,
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() + NORM_EPS).sqrt()
}

/// The scores of every embedding in `emb` under the trained `head`, whose class j is digit
/// `known.digits()[j]`.
///
/// # Errors
/// [`Error::Shape`] when the head and the embeddings disagree in dimension, or the head has
/// not one class per known digit.
pub fn image_scores(head: &HeadWeights, emb: &EmbeddingSet, known: &KnownDigits) -> Result<Vec<ImageScore>> {
    let d = emb.dim;
    if head.dim != d || head.weights.len() != known.len() || head.weights.iter().any(|w| w.len() != d) || emb.values.len() != emb.labels.len() * d {
        return Err(Error::Shape(format!(
            "head of {} classes in {} dimensions, {} known digits, {} values for {} embeddings of dimension {d}",
            head.weights.len(),
            head.dim,
            known.len(),
            emb.values.len(),
            emb.labels.len()
        )));
    }
    let w_norms: Vec<f64> = head.weights.iter().map(|w| norm(w)).collect();
    let scale = head.kind.feature_scale();
    let out = emb
        .values
        .chunks(d)
        .zip(&emb.labels)
        .map(|(row, &digit)| {
            let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            let xn = norm(&x);
            let dots: Vec<f64> = head.weights.iter().map(|w| w.iter().zip(&x).map(|(a, b)| a * b).sum()).collect();
            let cos: Vec<f64> = dots.iter().zip(&w_norms).map(|(dot, wn)| (dot / (xn * wn)).clamp(-1.0, 1.0)).collect();
            let logits: Vec<f64> = match (&head.kind, scale) {
                (LossKind::Original { .. }, _) => dots.iter().enumerate().map(|(j, v)| v + head.bias.as_ref().map_or(0.0, |b| b[j])).collect(),
                (_, Some(s)) => cos.iter().map(|c| s * c).collect(),
                (_, None) => cos.iter().map(|c| xn * c).collect(),
            };
            let (best, max_logit) = logits.iter().copied().enumerate().fold((0, f64::NEG_INFINITY), |acc, (j, v)| if v > acc.1 { (j, v) } else { acc });
            let sum_exp: f64 = logits.iter().map(|v| (v - max_logit).exp()).sum();
            ImageScore {
                digit,
                predicted: known.digits()[best],
                max_cosine: cos.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                max_logit,
                max_probability: 1.0 / sum_exp,
            }
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LambdaSchedule;

    fn head(kind: LossKind, bias: Option<Vec<f64>>) -> HeadWeights {
        HeadWeights { kind, dim: 2, weights: vec![vec![2.0, 0.0], vec![0.0, 1.0]], bias }
    }

    /// x = (3, 4) against w = (2, 0) for digit 7 and (0, 1) for digit 1: cosines 0.6 and
    /// 0.8, so digit 1; logits 6 + b and 4 + b (original), 5·cos (modified, angular),
    /// 30·cos (CosFace).
    #[test]
    fn scores_by_hand() {
        let known: KnownDigits = "7,1".parse().unwrap();
        let emb = EmbeddingSet { dim: 2, values: vec![3.0, 4.0], labels: vec![5] };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        let o = image_scores(&head(LossKind::Original { bias: true }, Some(vec![0.0, 1.0])), &emb, &known).unwrap()[0];
        assert_eq!((o.digit, o.predicted), (5, 7), "logits 6 and 5: class 0, digit 7");
        assert!(close(o.max_cosine, 0.8) && close(o.max_logit, 6.0));
        assert!(close(o.max_probability, 1.0 / (1.0 + (-1.0f64).exp())));
        let a = image_scores(&head(LossKind::angular(4, LambdaSchedule::none()).unwrap(), None), &emb, &known).unwrap()[0];
        assert_eq!(a.predicted, 1);
        assert!(close(a.max_cosine, 0.8) && close(a.max_logit, 4.0));
        assert!(close(a.max_probability, 1.0 / (1.0 + (-1.0f64).exp())), "logits 4 and 3");
        let c = image_scores(&head(LossKind::cosface(30.0, 0.35).unwrap(), None), &emb, &known).unwrap()[0];
        assert!(close(c.max_logit, 24.0) && close(c.max_probability, 1.0 / (1.0 + (-6.0f64).exp())));
        let wrong: KnownDigits = "7,1,2".parse().unwrap();
        assert!(image_scores(&head(LossKind::Modified, None), &emb, &wrong).is_err());
    }
}
