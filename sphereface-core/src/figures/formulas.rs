//! The figures of the formulas, drawn from the numbers of `model::margin` and
//! `LossKind::target`: ψ(θ), the target with λ, the λ schedules, the margin family's target
//! curves and the decision regions of two classes.

use std::f64::consts::PI;

use super::plot_err;
use crate::model::{psi, LambdaSchedule, LossKind};
use crate::viz::{decision_regions, lines, Figure, LineOptions, RegionPanel, Series};
use crate::{Error, Result};

/// θ from 0° to 180° in half-degree steps, in radians.
fn thetas() -> Vec<f64> {
    (0..=360).map(|i| i as f64 * PI / 360.0).collect()
}

/// A curve over θ (degrees on the x axis).
fn over_theta(name: String, f: impl Fn(f64) -> f64) -> Series {
    let t = thetas();
    Series { name, xs: t.iter().map(|t| t.to_degrees()).collect(), ys: t.iter().map(|&t| f(t)).collect() }
}

fn target_options(title: &str, y_label: &str) -> LineOptions {
    LineOptions { title: title.into(), x_label: "θ_y (degrees)".into(), y_label: y_label.into(), ..LineOptions::default() }
}

/// ψ(θ) for m = 2, 3, 4 beside cos θ (m = 1), θ from 0° to 180°.
///
/// # Errors
/// Drawing errors.
pub fn psi_figure() -> Result<Figure> {
    let mut series = vec![over_theta("cos θ  (m = 1)".into(), f64::cos)];
    for m in 2..=4 {
        series.push(over_theta(format!("ψ(θ), m = {m}"), |t| psi(m, t.cos())));
    }
    lines(&series, &target_options("ψ(θ) = (−1)^k cos(mθ) − 2k", "target logit / ||x||")).map_err(plot_err)
}

/// The A-Softmax target over ‖x‖, (λ cos θ + ψ(θ))/(1 + λ), for margin `m` at each λ of
/// `lambdas`, beside cos θ: how much of the margin a λ leaves.
///
/// # Errors
/// [`Error::Config`] for m = 0, a negative λ or no λ; drawing errors.
pub fn target_figure(m: u32, lambdas: &[f64]) -> Result<Figure> {
    let kind = LossKind::angular(m, LambdaSchedule::none())?;
    if lambdas.is_empty() || lambdas.iter().any(|l| !(l.is_finite() && *l >= 0.0)) {
        return Err(Error::Config(format!("lambdas must be one or more numbers >= 0, got {lambdas:?}")));
    }
    let mut series = vec![over_theta("cos θ (no margin)".into(), f64::cos)];
    for &l in lambdas {
        series.push(over_theta(format!("λ = {l}"), |t| kind.target(l, t.cos()).unwrap_or(f64::NAN)));
    }
    let title = format!("A-Softmax target, m = {m}: (λ cos θ + ψ(θ)) / (1 + λ)");
    lines(&series, &target_options(&title, "target logit / ||x||")).map_err(plot_err)
}

/// The target logits over their scale of A-Softmax (m = 4, λ = 0), CosFace (m = 0.35) and
/// ArcFace (m = 0.5) beside cos θ.
///
/// # Errors
/// Drawing errors.
pub fn margin_family_figure() -> Result<Figure> {
    let kinds = [
        ("A-Softmax ψ(θ), m = 4", LossKind::angular(4, LambdaSchedule::none())?),
        ("CosFace cos θ − 0.35", LossKind::cosface(30.0, 0.35)?),
        ("ArcFace cos(θ + 0.5)", LossKind::arcface(30.0, 0.5)?),
    ];
    let mut series = vec![over_theta("cos θ (no margin)".into(), f64::cos)];
    for (name, kind) in kinds {
        series.push(over_theta(name.into(), |t| kind.target(0.0, t.cos()).unwrap_or(f64::NAN)));
    }
    let opts = LineOptions { y_range: Some((-3.0, 1.05)), ..target_options("the target logit of three margins", "target logit / scale") };
    lines(&series, &opts).map_err(plot_err)
}

/// λ(t) of the `caffe` and `pytorch` presets over `steps` steps (log scale): the weight of
/// the plain cos θ in the A-Softmax target, falling to its floor of 5.
///
/// # Errors
/// Drawing errors.
pub fn lambda_figure(steps: u64) -> Result<Figure> {
    let xs: Vec<f64> = (0..=steps).map(|t| t as f64).collect();
    let series = [("caffe", LambdaSchedule::caffe()), ("pytorch", LambdaSchedule::pytorch())]
        .map(|(name, l)| Series { name: format!("{name}: max({}, {}·(1 + {}t)^-{})", l.min, l.base, l.gamma, l.power), xs: xs.clone(), ys: xs.iter().map(|&t| l.at(t as u64)).collect() });
    let opts = LineOptions { title: "λ(t), the annealing of the A-Softmax target".into(), x_label: "step t".into(), y_label: "λ".into(), log_y: true, ..LineOptions::default() };
    lines(&series, &opts).map_err(plot_err)
}

/// The class that wins at `x` for a head with class weights `w` (and biases `b`, used by
/// original softmax only) at λ: the largest w·x + b for original softmax; for the angular
/// heads class j where its target, [`LossKind::target`]`(λ, cos θ_j)`, beats cos θ_k of every
/// other class, and `None` where no class does (the margin zone).
pub fn winning_class(kind: &LossKind, lambda: f64, w: &[[f64; 2]], b: &[f64], x: [f64; 2]) -> Option<u8> {
    let nx = x[0].hypot(x[1]);
    let dot = |j: usize| w[j][0] * x[0] + w[j][1] * x[1];
    let cos = |j: usize| (dot(j) / (nx * w[j][0].hypot(w[j][1]))).clamp(-1.0, 1.0);
    if let LossKind::Original { .. } = kind {
        return (0..w.len()).max_by(|&i, &j| (dot(i) + b.get(i).unwrap_or(&0.0)).total_cmp(&(dot(j) + b.get(j).unwrap_or(&0.0)))).map(|j| j as u8);
    }
    if nx == 0.0 {
        return None;
    }
    (0..w.len()).find(|&j| (0..w.len()).all(|k| k == j || kind.target(lambda, cos(j)).is_some_and(|t| t > cos(k)))).map(|j| j as u8)
}

/// A short title for a decision-region panel.
fn panel_title(kind: &LossKind, lambda: f64) -> String {
    match *kind {
        LossKind::Original { .. } => "original softmax".into(),
        LossKind::Modified => "modified softmax".into(),
        LossKind::Angular { m: 1, .. } => format!("m = 1 (modified), λ = {lambda}"),
        LossKind::Angular { m, .. } => format!("A-Softmax m = {m}, λ = {lambda}"),
        LossKind::CosFace { m, .. } => format!("CosFace m = {m}"),
        LossKind::ArcFace { m, .. } => format!("ArcFace m = {m}"),
    }
}

/// Decision regions of two classes in the plane, one panel per (head, λ), `cols` panels per
/// row: two unit class weights 70° apart, each point coloured by the class that wins there
/// ([`winning_class`]), grey where neither wins by its margin; a legend under the panels.
///
/// # Errors
/// [`Error::Config`] for no panels or `cols` 0; drawing errors.
pub fn decision_figure(panels: &[(LossKind, f64)], cols: usize) -> Result<Figure> {
    if panels.is_empty() || cols == 0 {
        return Err(Error::Config(format!("decision regions need panels and columns, got {} and {cols}", panels.len())));
    }
    let a = 70f64.to_radians();
    let unit = |t: f64| [t.cos(), t.sin()];
    let w = [unit(0.5 * PI - a / 2.0), unit(0.5 * PI + a / 2.0)];
    let (n, e) = (160usize, 1.5);
    let step = 2.0 * e / n as f64;
    let regions: Vec<RegionPanel> = panels
        .iter()
        .map(|(kind, lambda)| {
            let cells = (0..n * n).map(|i| winning_class(kind, *lambda, &w, &[0.0, 0.0], [-e + (i % n) as f64 * step + step / 2.0, -e + (i / n) as f64 * step + step / 2.0])).collect();
            RegionPanel { title: panel_title(kind, *lambda), extent: e, n, cells, weights: w.to_vec() }
        })
        .collect();
    let cols = cols.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    decision_regions(&regions, cols, 400 * cols as u32, 400 * rows as u32 + 36).map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_figures_draw() {
        let fig = psi_figure().unwrap();
        assert!(fig.svg.contains("<svg") && fig.svg.contains("m = 4"));
        assert!(fig.png.starts_with(&[0x89, b'P', b'N', b'G']));
        let fig = target_figure(4, &[0.0, 5.0, 27.0, 1000.0]).unwrap();
        assert!(fig.svg.contains("λ = 27") && fig.svg.contains("λ = 1000"));
        assert!(target_figure(0, &[0.0]).is_err() && target_figure(4, &[-1.0]).is_err() && target_figure(4, &[]).is_err());
        let fig = margin_family_figure().unwrap();
        assert!(fig.svg.contains("CosFace") && fig.svg.contains("ArcFace") && fig.svg.contains("A-Softmax"));
        let fig = lambda_figure(1600).unwrap();
        assert!(fig.svg.contains("caffe") && fig.svg.contains("pytorch"));
    }

    #[test]
    fn winning_class_follows_each_rule() {
        let (w, b) = ([[1.0, 0.0], [0.0, 1.0]], [0.0, 3.0]);
        let original = LossKind::Original { bias: true };
        let a4 = LossKind::angular(4, LambdaSchedule::none()).unwrap();
        let a1 = LossKind::angular(1, LambdaSchedule::none()).unwrap();
        // on the bisector the plain rules tie; just off it they pick the nearer weight
        assert_eq!(winning_class(&LossKind::Modified, 0.0, &w, &b, [1.0, 0.9]), Some(0));
        assert_eq!(winning_class(&original, 0.0, &w, &[0.0, 0.0], [1.0, 0.9]), Some(0));
        // the bias moves the original boundary, not the modified one
        assert_eq!(winning_class(&original, 0.0, &w, &b, [2.0, 0.0]), Some(1));
        // A-Softmax: nobody wins near the bisector, class 0 wins near w1 (θ1 = 5°: ψ = cos 20°)
        assert_eq!(winning_class(&a4, 0.0, &w, &b, [1.0, 0.9]), None);
        let near = [5f64.to_radians().cos(), 5f64.to_radians().sin()];
        assert_eq!(winning_class(&a4, 0.0, &w, &b, near), Some(0));
        // a large λ gives the margin back to the plain rule; m = 1 is modified softmax
        assert_eq!(winning_class(&a4, 1000.0, &w, &b, [1.0, 0.9]), Some(0));
        assert_eq!(winning_class(&a1, 0.0, &w, &b, [1.0, 0.9]), Some(0));
        assert_eq!(winning_class(&a4, 0.0, &w, &b, [0.0, 0.0]), None);
        // CosFace at 40° from w1 (50° from w2): cos 40° − 0.35 = 0.416 < cos 50° = 0.643
        let x = [40f64.to_radians().cos(), 40f64.to_radians().sin()];
        assert_eq!(winning_class(&LossKind::cosface(30.0, 0.35).unwrap(), 0.0, &w, &b, x), None);
        assert_eq!(winning_class(&LossKind::cosface(30.0, 0.1).unwrap(), 0.0, &w, &b, x), Some(0));
    }

    #[test]
    fn decision_figure_has_a_panel_per_case_and_a_legend() {
        let cases = [(LossKind::angular(2, LambdaSchedule::none()).unwrap(), 0.0), (LossKind::angular(4, LambdaSchedule::none()).unwrap(), 5.0), (LossKind::arcface(30.0, 0.5).unwrap(), 0.0)];
        let fig = decision_figure(&cases, 2).unwrap();
        assert_eq!((fig.width, fig.height), (800, 836));
        assert!(fig.alt.contains("neither wins") && fig.alt.contains("A-Softmax m = 4, λ = 5"), "{}", fig.alt);
        for t in ["A-Softmax m = 2, λ = 0", "A-Softmax m = 4, λ = 5", "ArcFace m = 0.5", "neither wins"] {
            assert!(fig.svg.contains(t), "{t}");
        }
        assert!(decision_figure(&[], 2).is_err() && decision_figure(&cases, 0).is_err());
    }
}
