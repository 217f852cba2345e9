//! One run's open-set evaluation: from its embeddings (every image, with its digit), its
//! class weights and a pairs file to the numbers of both protocols ([`OpenSetReport`]) and
//! the per-image and per-pair scores the figures draw.

use serde::{Deserialize, Serialize};

use super::detect::{image_scores, ImageScore, Score};
use super::metrics::{eer, roc_auc, roc_curve, tar_at_far};
use super::pairs::Pairs;
use super::verify::{fold_accuracies, Centring, FoldResult, PairFeatures};
use crate::data::KnownDigits;
use crate::train::{EmbeddingSet, HeadWeights};
use crate::{Error, Result};

/// The false accept rate at which the true accept rate is reported.
pub const FAR: f64 = 1e-3;

/// The AUROC of known against unknown images under each score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aurocs {
    /// Largest cosine to a class weight.
    pub max_cosine: f64,
    /// Largest logit.
    pub max_logit: f64,
    /// Largest softmax probability.
    pub max_probability: f64,
}

impl Aurocs {
    /// The AUROC under `score`.
    pub fn get(&self, score: Score) -> f64 {
        match score {
            Score::MaxCosine => self.max_cosine,
            Score::MaxLogit => self.max_logit,
            Score::MaxProbability => self.max_probability,
        }
    }
}

/// Verification accuracy in folds: mean, sample standard deviation, and per fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FoldSummary {
    /// Mean of the fold accuracies.
    pub mean: f64,
    /// Their sample standard deviation (n − 1).
    pub std: f64,
    /// Accuracy per fold.
    pub accuracies: Vec<f64>,
    /// The threshold each fold was tested with (chosen on the other folds).
    pub thresholds: Vec<f64>,
}

impl From<FoldResult> for FoldSummary {
    fn from(r: FoldResult) -> Self {
        FoldSummary { mean: r.mean(), std: r.std(), accuracies: r.accuracies, thresholds: r.thresholds }
    }
}

/// Verification of pairs of unseen digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The pairs file (or how the pairs were drawn).
    pub pairs: String,
    /// Number of pairs (half of them same-digit).
    pub count: usize,
    /// Folds.
    pub folds: usize,
    /// Accuracy in folds on the plain cosine (the headline number).
    pub accuracy: FoldSummary,
    /// Accuracy in folds with the nine folds' mean feature subtracted first, as the
    /// SphereFace authors' `evaluation.m`.
    pub accuracy_centred: FoldSummary,
    /// ROC AUC of the plain cosine over all pairs (same-digit positive).
    pub auc: f64,
    /// Equal error rate over all pairs.
    pub eer: f64,
    /// True accept rate at false accept rate [`FAR`] over all pairs.
    pub tar_at_far: f64,
}

/// The open-set numbers of one run on one split of its data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenSetReport {
    /// The run's label (`angular-m4-d2-k245983`).
    pub label: String,
    /// `original`, `modified`, …
    pub loss: String,
    /// Embedding dimension.
    pub dim: usize,
    /// The digits the run knows, class order.
    pub known: KnownDigits,
    /// The digits evaluated as unknown.
    pub unknown: Vec<u8>,
    /// `test`, or `validation` for the probes that choose settings.
    pub split: String,
    /// Images of known digits evaluated.
    pub known_images: usize,
    /// Images of unknown digits evaluated.
    pub unknown_images: usize,
    /// Closed-set accuracy on the known digits' images, from the embeddings and weights.
    pub closed_set_acc: f64,
    /// The score the loss is judged by ([`Score::primary`]).
    pub primary: Score,
    /// AUROC of known against unknown images, per score.
    pub auroc: Aurocs,
    /// Verification of pairs of unknown digits.
    pub verification: Verification,
}

impl OpenSetReport {
    /// The AUROC under the loss's own score.
    pub fn primary_auroc(&self) -> f64 {
        self.auroc.get(self.primary)
    }
}

/// The score of one verification pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// 0-based fold.
    pub fold: usize,
    /// Same digit?
    pub same: bool,
    /// Cosine of the two embeddings.
    pub cosine: f64,
}

/// Everything one evaluation produces.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenSetEvaluation {
    /// The numbers.
    pub report: OpenSetReport,
    /// Per image (the rows of the embeddings, in order).
    pub images: Vec<ImageScore>,
    /// Per pair (the pairs' order).
    pub pairs: Vec<PairScore>,
}

/// What [`evaluate`] is given: the run's embeddings of every image of `split` (known and
/// unknown digits, labelled by digit), its class weights and known digits, and the pairs
/// (whose indices are rows of `embeddings`).
pub struct OpenSetInput<'a> {
    /// The run's label.
    pub label: &'a str,
    /// Every image's embedding, labelled by digit.
    pub embeddings: &'a EmbeddingSet,
    /// The trained class weights.
    pub head: &'a HeadWeights,
    /// The digits the run knows.
    pub known: &'a KnownDigits,
    /// The verification pairs.
    pub pairs: &'a Pairs,
    /// How the pairs are named in the report (a file name).
    pub pairs_name: &'a str,
    /// `test` or `validation`.
    pub split: &'a str,
}

/// AUROCs of known (positive) against unknown images, closed-set accuracy.
fn detection(images: &[ImageScore], known: &KnownDigits) -> Result<(Aurocs, f64, usize)> {
    let positive: Vec<bool> = images.iter().map(|s| known.contains(s.digit)).collect();
    let auroc = |score: Score| roc_auc(&images.iter().map(|s| s.get(score)).collect::<Vec<_>>(), &positive);
    let aurocs = Aurocs { max_cosine: auroc(Score::MaxCosine)?, max_logit: auroc(Score::MaxLogit)?, max_probability: auroc(Score::MaxProbability)? };
    let known_images = positive.iter().filter(|&&p| p).count();
    let correct = images.iter().filter(|s| known.contains(s.digit) && s.predicted == s.digit).count();
    Ok((aurocs, correct as f64 / known_images as f64, known_images))
}

/// The verification numbers of pair scores and, for the centred variant, pair features.
fn verification(features: &PairFeatures, pairs: &Pairs, name: &str) -> Result<(Verification, Vec<PairScore>)> {
    let cosines = features.scores(None);
    let roc = roc_curve(&cosines, &features.same)?;
    let v = Verification {
        pairs: name.to_string(),
        count: cosines.len(),
        folds: pairs.folds,
        accuracy: fold_accuracies(features, pairs.folds, Centring::None)?.into(),
        accuracy_centred: fold_accuracies(features, pairs.folds, Centring::NineFolds)?.into(),
        auc: roc_auc(&cosines, &features.same)?,
        eer: eer(&roc),
        tar_at_far: tar_at_far(&roc, FAR),
    };
    let scores = cosines.iter().zip(&pairs.pairs).map(|(&cosine, p)| PairScore { fold: p.fold, same: p.same(), cosine }).collect();
    Ok((v, scores))
}

/// Both protocols on one run ([`OpenSetInput`]).
///
/// # Errors
/// [`Error::Shape`] when the head does not fit the embeddings or the known digits, a pair
/// names a row past the embeddings, or no image of a known or an unknown digit is there.
pub fn evaluate(input: &OpenSetInput<'_>) -> Result<OpenSetEvaluation> {
    let emb = input.embeddings;
    let images = image_scores(input.head, emb, input.known)?;
    let (auroc, closed_set_acc, known_images) = detection(&images, input.known)?;
    let row = |i: usize| -> Result<Vec<f64>> {
        emb.values.get(i * emb.dim..(i + 1) * emb.dim).map(|r| r.iter().map(|&v| f64::from(v)).collect()).ok_or_else(|| Error::Shape(format!("a pair names image {i}, but there are {} embeddings", emb.labels.len())))
    };
    let mut features = PairFeatures { left: vec![], right: vec![], same: vec![], fold: vec![] };
    for p in &input.pairs.pairs {
        features.left.push(row(p.a.0)?);
        features.right.push(row(p.b.0)?);
        features.same.push(p.same());
        features.fold.push(p.fold);
    }
    let (verification, pair_scores) = verification(&features, input.pairs, input.pairs_name)?;
    let mut unknown: Vec<u8> = images.iter().map(|s| s.digit).filter(|d| !input.known.contains(*d)).collect();
    unknown.sort_unstable();
    unknown.dedup();
    let report = OpenSetReport {
        label: input.label.to_string(),
        loss: input.head.kind.name().to_string(),
        dim: emb.dim,
        known: input.known.clone(),
        unknown,
        split: input.split.to_string(),
        known_images,
        unknown_images: images.len() - known_images,
        closed_set_acc,
        primary: Score::primary(&input.head.kind),
        auroc,
        verification,
    };
    Ok(OpenSetEvaluation { report, images, pairs: pair_scores })
}
