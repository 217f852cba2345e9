//! Shared look and small helpers: colours, the embedded font, tick labels, size checks
//! and error conversions.

use std::fmt::Display;
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::PlotError;

/// The embedded font used for every label of the raster output.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Family name under which the embedded font is registered.
pub(super) const FONT: &str = "sans-serif";

/// Smallest accepted figure width in pixels.
pub const MIN_WIDTH: u32 = 320;
/// Smallest accepted figure height in pixels.
pub const MIN_HEIGHT: u32 = 240;
/// Largest accepted figure width or height in pixels.
pub const MAX_SIDE: u32 = 8192;

/// Returns matplotlib's `rainbow` colour map at `x` in [0, 1] as 8-bit RGB.
pub fn rainbow(x: f64) -> (u8, u8, u8) {
    let x = if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let r = (2.0 * x - 0.5).abs();
    let g = (x * std::f64::consts::PI).sin();
    let b = (x * std::f64::consts::PI / 2.0).cos();
    let to8 = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    (to8(r), to8(g), to8(b))
}

/// Returns the colour of digit `label` (0..=9); other labels are grey.
pub fn digit_color(label: u8) -> RGBColor {
    if label > 9 {
        return RGBColor(128, 128, 128);
    }
    // np.linspace(0, 1, 10) looked up in a 256-entry table: index = min(floor(k / 9 * 256), 255).
    let index = ((u32::from(label) * 256) / 9).min(255);
    let (r, g, b) = rainbow(f64::from(index) / 255.0);
    RGBColor(r, g, b)
}

/// Line colours (matplotlib's tab10).
pub(super) const LINE_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(super) fn draw_err<E: Display>(e: E) -> PlotError {
    PlotError::Drawing(e.to_string())
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PlotError + '_ {
    move |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Registers the embedded font once; later calls only report the outcome.
pub(super) fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // "serif" and "monospace" are aliases so that no default style can miss a font.
        [FONT, "serif", "monospace"]
            .iter()
            .all(|family| register_font(family, FontStyle::Normal, FONT_BYTES).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font(
            "the embedded DejaVuSans.ttf could not be parsed".into(),
        ))
    }
}

pub(super) fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    if !(MIN_WIDTH..=MAX_SIDE).contains(&width) || !(MIN_HEIGHT..=MAX_SIDE).contains(&height) {
        return Err(PlotError::Shape(format!(
            "figure size {width}x{height} outside {MIN_WIDTH}..={MAX_SIDE} x {MIN_HEIGHT}..={MAX_SIDE}"
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically ([`crate::io::write_atomic`]).
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::io::write_atomic(path, bytes).map_err(io_err(path))
}

/// Removes trailing zeros of a decimal fraction ("1.500" -> "1.5", "2.0" -> "2").
fn trim_decimal(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Formats a tick value of an axis spanning `span` units compactly, with enough digits
/// to tell neighbouring ticks apart and floating-point noise near zero shown as "0".
pub(super) fn fmt_tick(v: f64, span: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let span = if span > 0.0 && span.is_finite() {
        span
    } else {
        v.abs().max(1.0)
    };
    if v.abs() <= span * 1e-9 {
        return "0".into();
    }
    let a = v.abs();
    let resolution = span / 10.0;
    if (1e-3..1e5).contains(&a) {
        // One digit more than the resolution needs, for ticks at steps of 0.25 or 2.5.
        let decimals = ((-resolution.log10()).ceil() + 1.0).clamp(0.0, 12.0) as usize;
        let s = format!("{v:.decimals$}");
        trim_decimal(&s).to_string()
    } else {
        let significant = ((a / resolution).log10().ceil() + 1.0).clamp(1.0, 15.0) as usize;
        let s = format!("{v:.*e}", significant - 1);
        match s.split_once('e') {
            Some((mantissa, exp)) => format!("{}e{exp}", trim_decimal(mantissa)),
            None => s,
        }
    }
}

/// How many tick labels fit on an axis `pixels` long with about `per_label` pixels each.
pub(super) fn tick_count(pixels: f64, per_label: f64) -> usize {
    let n = (pixels / per_label).floor();
    if n.is_finite() {
        (n as usize).clamp(3, 10)
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_matches_matplotlib_rainbow() {
        // plt.cm.rainbow(np.linspace(0, 1, 10)) endpoints: violet (0.5, 0, 1) and red (1, 0, 0).
        assert_eq!(digit_color(0), RGBColor(128, 0, 255));
        assert_eq!(digit_color(9), RGBColor(255, 0, 0));
        // index 113 / 255: r = |2x - .5|, g = sin(pi x), b = cos(pi x / 2).
        let x = 113.0 / 255.0;
        let expect = rainbow(x);
        assert_eq!(digit_color(4), RGBColor(expect.0, expect.1, expect.2));
        let colors: Vec<_> = (0..10).map(digit_color).collect();
        for i in 0..10 {
            for j in i + 1..10 {
                assert_ne!(colors[i], colors[j]);
            }
        }
        assert_eq!(digit_color(200), RGBColor(128, 128, 128));
    }

    #[test]
    fn tick_format() {
        assert_eq!(fmt_tick(0.0, 2.0), "0");
        assert_eq!(fmt_tick(-2.2e-16, 2.0), "0");
        assert_eq!(fmt_tick(0.5, 2.0), "0.5");
        assert_eq!(fmt_tick(10.0, 30.0), "10");
        assert_eq!(fmt_tick(-2.26, 10.0), "-2.3");
        assert_eq!(fmt_tick(0.25, 2.5), "0.25");
        assert_eq!(fmt_tick(0.1 + 0.2, 2.5), "0.3");
        assert_eq!(fmt_tick(-2.25, 1.0), "-2.25");
        assert_eq!(fmt_tick(1000.2, 1.0), "1000.2");
        assert_eq!(fmt_tick(0.02, 0.02), "0.02");
        assert_eq!(fmt_tick(1e-5, 1e-5), "1e-5");
        assert_eq!(fmt_tick(2.5e-5, 1e-4), "2.5e-5");
        assert_eq!(fmt_tick(3e7, 1e8), "3e7");
        assert_eq!(fmt_tick(f64::NAN, 1.0), "");
        assert_eq!(fmt_tick(5.0, f64::INFINITY), "5");
    }
}
