//! Axes of the line charts: drawable and padded ranges, clipping of lines to the plot
//! window, and the ticks of a log axis.

/// Largest magnitude an axis reaches (and smallest positive one on a log axis); lines
/// beyond it are clipped. Keeps plotters' tick search on ranges it can handle.
const AXIS_LIMIT: f64 = 1e100;

/// Whether `(lo, hi)` is a range plotters can draw: finite, inside [`AXIS_LIMIT`], and
/// wide enough relative to its magnitude for distinct ticks.
pub(super) fn drawable_range(lo: f64, hi: f64, log: bool) -> bool {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return false;
    }
    if log {
        lo >= 1.0 / AXIS_LIMIT && hi <= AXIS_LIMIT && hi / lo >= 1.0 + 1e-6
    } else {
        let mag = lo.abs().max(hi.abs());
        mag <= AXIS_LIMIT && hi - lo >= mag * 1e-6 && hi - lo >= 1e-100
    }
}

/// Widens the data range `[lo, hi]` by `frac` of its width on both sides, into a
/// drawable range (see [`drawable_range`]); degenerate ranges get a fixed padding.
pub(super) fn pad_range(lo: f64, hi: f64, log: bool, frac: f64) -> (f64, f64) {
    if log {
        let l = lo.clamp(1.0 / AXIS_LIMIT, AXIS_LIMIT).log10();
        let h = hi.clamp(1.0 / AXIS_LIMIT, AXIS_LIMIT).log10();
        let pad = if h - l > 1e-5 { (h - l) * frac } else { 0.3 };
        let (l, h) = ((l - pad).max(-100.0), (h + pad).min(100.0));
        (10f64.powf(l), 10f64.powf(h))
    } else {
        let lo = lo.clamp(-AXIS_LIMIT, AXIS_LIMIT);
        let hi = hi.clamp(-AXIS_LIMIT, AXIS_LIMIT);
        let (lo, hi) = if drawable_range(lo, hi, false) {
            let pad = (hi - lo) * frac;
            (lo - pad, hi + pad)
        } else {
            let pad = (lo.abs().max(hi.abs()) * 0.1).max(0.5);
            (lo - pad, hi + pad)
        };
        (lo.max(-AXIS_LIMIT), hi.min(AXIS_LIMIT))
    }
}

/// Clips segment `a`-`b` to the rectangle `[x0, x1] x [y0, y1]` (Liang-Barsky); the ends
/// that need no clipping are returned unchanged, bit for bit.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    let start = if t0 == 0.0 { a } else { at(t0) };
    let end = if t1 == 1.0 { b } else { at(t1) };
    Some((start, end))
}

/// Clips polylines to the plot window (in log10 space for a log axis), splitting them
/// where they leave it.
pub(super) fn clip_runs(
    runs: &[Vec<(f64, f64)>],
    x: (f64, f64),
    y: (f64, f64),
    log: bool,
) -> Vec<Vec<(f64, f64)>> {
    let to_axis = |v: f64| if log { v.log10() } else { v };
    let from_axis = |v: f64| if log { 10f64.powf(v) } else { v };
    let ya = (to_axis(y.0), to_axis(y.1));
    let inside = |p: (f64, f64)| p.0 >= x.0 && p.0 <= x.1 && p.1 >= ya.0 && p.1 <= ya.1;
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for run in runs {
        // Clamped so that differences of coordinates stay finite.
        let pts: Vec<(f64, f64)> = run
            .iter()
            .map(|&(px, py)| (px.clamp(-1e300, 1e300), to_axis(py).clamp(-1e300, 1e300)))
            .collect();
        if pts.len() == 1 {
            if inside(pts[0]) {
                out.push(pts);
            }
            continue;
        }
        let mut cur: Vec<(f64, f64)> = Vec::new();
        for seg in pts.windows(2) {
            match clip_segment(seg[0], seg[1], x, ya) {
                Some((a, b)) => {
                    if cur.last() != Some(&a) {
                        if !cur.is_empty() {
                            out.push(std::mem::take(&mut cur));
                        }
                        cur.push(a);
                    }
                    cur.push(b);
                }
                None => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    for run in &mut out {
        for p in run.iter_mut() {
            p.1 = from_axis(p.1);
        }
    }
    out
}

/// Ticks of a log axis over `[lo, hi]`: (labelled values, unlabelled grid values).
pub(super) fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let (a, b) = (lo.log10(), hi.log10());
    let decades = b - a;
    let e0 = (a.floor() as i32).clamp(-330, 330);
    let e1 = (b.ceil() as i32).clamp(-330, 330);
    let label_mults: &[f64] = if decades >= 3.0 {
        &[1.0]
    } else if decades >= 0.6 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    let decade_step = ((decades / 8.0).ceil() as i32).max(1);
    let inside = |v: f64| v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9);
    let mut labelled = Vec::new();
    let mut minor = Vec::new();
    for e in e0..=e1 {
        let p = 10f64.powi(e);
        for m in 1..10 {
            let v = f64::from(m) * p;
            if !inside(v) {
                continue;
            }
            let is_label =
                label_mults.contains(&f64::from(m)) && (m != 1 || e.rem_euclid(decade_step) == 0);
            if is_label {
                labelled.push(v);
            } else if decades <= 6.0 || m == 1 {
                minor.push(v);
            }
        }
    }
    if labelled.len() < 2 {
        // A range narrower than one step: evenly spaced round values.
        let step = nice_step((hi - lo) / 4.0);
        labelled.clear();
        let mut k = (lo / step).ceil();
        while k * step <= hi && labelled.len() < 12 {
            labelled.push(k * step);
            k += 1.0;
        }
        minor.clear();
    }
    (labelled, minor)
}

/// Rounds `raw` up to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    if !(raw > 0.0 && raw.is_finite()) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * p
}

#[cfg(test)]
mod tests {
    use super::super::test_util::PNG_SIG;
    use super::super::{lines, LineOptions, Series};
    use super::*;

    #[test]
    fn clipping_to_fixed_range() {
        let runs = vec![vec![(0.0, 0.5), (1.0, 1.5), (2.0, 0.5), (3.0, 0.25)]];
        let out = clip_runs(&runs, (0.0, 3.0), (0.0, 1.0), false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], vec![(0.0, 0.5), (0.5, 1.0)]);
        assert_eq!(out[1], vec![(1.5, 1.0), (2.0, 0.5), (3.0, 0.25)]);
        let log = clip_runs(
            &[vec![(0.0, 0.01), (1.0, 100.0)]],
            (0.0, 1.0),
            (0.1, 10.0),
            true,
        );
        assert_eq!(log.len(), 1);
        assert!((log[0][0].0 - 0.25).abs() < 1e-12 && (log[0][0].1 - 0.1).abs() < 1e-12);
        assert!((log[0][1].0 - 0.75).abs() < 1e-12 && (log[0][1].1 - 10.0).abs() < 1e-9);
        assert!(clip_runs(&[vec![(0.0, 5.0)]], (0.0, 1.0), (0.0, 1.0), false).is_empty());

        // Far-out values with a fixed range draw without trouble.
        let wild = vec![
            Series {
                name: "wild".into(),
                xs: vec![0.0, 1.0, 2.0, 3.0],
                ys: vec![0.5, 1e300, -1e300, 0.4],
            },
            Series {
                name: "outside".into(),
                xs: vec![0.0, 1.0],
                ys: vec![5.0, 6.0],
            },
        ];
        let fig = lines(
            &wild,
            &LineOptions {
                y_range: Some((0.0, 1.0)),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(fig.svg.contains("outside"));
        let fig = lines(&wild, &LineOptions::default()).unwrap();
        assert_eq!(&fig.png[..8], &PNG_SIG);
        let log = LineOptions {
            y_range: Some((0.1, 1.0)),
            log_y: true,
            ..Default::default()
        };
        assert!(lines(&wild, &log).is_ok());
        let extreme = vec![Series {
            name: "extreme".into(),
            xs: vec![-f64::MAX, 0.0, f64::MAX],
            ys: vec![f64::MAX, -f64::MAX, 1.0],
        }];
        for opts in [
            LineOptions::default(),
            LineOptions {
                log_y: true,
                ..Default::default()
            },
        ] {
            let fig = lines(&extreme, &opts).unwrap();
            assert_eq!(&fig.png[..8], &PNG_SIG);
        }
        let tiny = vec![Series {
            name: "tiny".into(),
            xs: vec![0.0, 1e-300],
            ys: vec![1e-300, 2e-300],
        }];
        assert!(lines(
            &tiny,
            &LineOptions {
                log_y: true,
                ..Default::default()
            }
        )
        .is_ok());
        assert!(lines(&tiny, &LineOptions::default()).is_ok());
    }

    #[test]
    fn log_tick_choice() {
        let (l, m) = log_ticks(0.0005, 1.2);
        assert_eq!(l, vec![0.001, 0.01, 0.1, 1.0]);
        assert!(m.contains(&0.0005) && m.contains(&0.2));
        let (l, _) = log_ticks(0.005, 1.2);
        assert_eq!(l, vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]);
        let (l, _) = log_ticks(0.3, 0.9);
        assert_eq!(l.len(), 7); // 0.3 .. 0.9
        let (l, _) = log_ticks(0.31, 0.33);
        assert!(l.len() >= 2 && l.iter().all(|v| (0.31..=0.33).contains(v)));
        let (l, _) = log_ticks(1e-30, 1e30);
        assert!(l.len() >= 2 && l.len() <= 10);
        assert_eq!(log_ticks(0.0, 1.0), (vec![], vec![]));
    }
}
