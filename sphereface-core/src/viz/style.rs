//! Shared look and small helpers: colours, the embedded font, tick labels, size checks
//! and error conversions.

use std::fmt::Display;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use super::PlotError;

/// The embedded font used for every label of the raster output.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Family name under which the embedded font is registered.
pub(super) const FONT: &str = "sans-serif";

thread_local! {
    /// The smallest font size requested through [`font`] since the last [`fonts_measured`]
    /// began (infinity for none).
    static SMALLEST_FONT: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::INFINITY) };
}

/// The figure font at `size` pixels, as plotters takes it (`(family, size)`), noted as drawn:
/// every label of a figure is set through here, so that [`fonts_measured`] knows the
/// smallest text of a figure (how small it ends up on a slide is measured from it).
pub(super) fn font(size: f64) -> (&'static str, f64) {
    SMALLEST_FONT.with(|c| c.set(c.get().min(size)));
    (FONT, size)
}

/// Runs `f` and returns its result with the smallest font size, in pixels, that it asked
/// [`font`] for (infinity when it set no text).
pub(super) fn fonts_measured<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let outer = SMALLEST_FONT.with(|c| c.replace(f64::INFINITY));
    let out = f();
    let inner = SMALLEST_FONT.with(|c| c.replace(outer.min(c.get())));
    (out, inner)
}

/// The smallest a title is set to fit its panel, in pixels at 1x (below it, it runs over).
const MIN_TITLE_PX: f64 = 16.0;

/// Smallest accepted figure width in pixels.
pub const MIN_WIDTH: u32 = 320;
/// Smallest accepted figure height in pixels.
pub const MIN_HEIGHT: u32 = 240;
/// Largest accepted figure width or height in pixels.
pub const MAX_SIDE: u32 = 8192;

/// The colours of the digits 0..=9: the Okabe–Ito palette (orange, sky blue, bluish
/// green, yellow, blue, vermillion, reddish purple, black) extended to ten colours by a
/// grey and the wine of Paul Tol's muted scheme (see the `viz` module for why).
pub(super) const DIGIT_COLORS: [RGBColor; 10] = [
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xF0, 0xE4, 0x42),
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0x99, 0x99, 0x99),
    RGBColor(0x88, 0x22, 0x55),
];

/// The colour of labels above 9 ("other"): a light neutral grey, apart from the grey (153)
/// and the black of the digits.
pub(super) const OTHER_COLOR: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);

/// Returns the colour of digit `label`: 0..=9 are orange, sky blue, bluish green, yellow,
/// blue, vermillion, reddish purple, black, grey and wine (the Okabe–Ito palette extended
/// to ten colours, see the [`viz`](super) module); other labels get a light neutral grey.
pub fn digit_color(label: u8) -> RGBColor {
    DIGIT_COLORS
        .get(usize::from(label))
        .copied()
        .unwrap_or(OTHER_COLOR)
}

/// Blends `c` with `target` by `t` (0: `c`, 1: `target`), rounding each channel.
fn blend(c: RGBColor, target: u8, t: f64) -> RGBColor {
    let mix = |v: u8| {
        let v = f64::from(v);
        (v + (f64::from(target) - v) * t).round().clamp(0.0, 255.0) as u8
    };
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// The outline of a marker filled with `c`: 40 % of the way towards black, so that light
/// colours (yellow, sky blue) keep an edge on white; 20 % for the light grey of "other"
/// labels, so that a dense cloud of them stays light and does not pass for the grey digit.
pub(super) fn outline_color(c: RGBColor) -> RGBColor {
    blend(c, 0, if c == OTHER_COLOR { 0.2 } else { 0.4 })
}

/// `c` faded 65 % of the way towards white, for points on the far side of the sphere.
pub(super) fn faded_color(c: RGBColor) -> RGBColor {
    blend(c, 255, 0.65)
}

/// The pixel scale of a rendering: how many backend pixels one pixel of the 1x figure
/// takes. Every absolute size (fonts, margins, label areas, stroke widths, marker radii,
/// tick lengths) goes through it, so the 2x PNG is the 1x picture at twice the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scale(pub(super) u32);

impl Scale {
    /// The 1x figure (SVG, PNG, GIF frames).
    pub(super) const ONE: Scale = Scale(1);

    /// A size in whole pixels (margins, label areas, stroke widths).
    pub(super) fn u(self, v: u32) -> u32 {
        v.saturating_mul(self.0)
    }

    /// A signed size or offset in pixels (radii, text offsets).
    pub(super) fn i(self, v: i32) -> i32 {
        v.saturating_mul(i32::try_from(self.0).unwrap_or(i32::MAX))
    }

    /// A fractional size in pixels (font sizes, spacing per tick label).
    pub(super) fn f(self, v: f64) -> f64 {
        v * f64::from(self.0)
    }
}

/// Draws `title` centred at the top of `area` in the figure font of `size` pixels and
/// returns the area below it, as plotters' `DrawingArea::titled` does but with its padding
/// (half the text height, at most 5 pixels) scaled by `s`. A title wider than the area
/// (less 4 pixels a side) is set smaller to fit, down to half the size but not below 16
/// pixels at 1x (a title that long runs over), so that titles of
/// panels side by side do not run into each other.
///
/// # Errors
/// [`PlotError::Drawing`] if the text cannot be measured or drawn.
pub(super) fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    size: f64,
    s: Scale,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    let (w, _) = area.dim_in_pixel();
    let mut style = TextStyle::from(font(size).into_font());
    let (text_w, _) = area.estimate_text_size(title, &style).map_err(draw_err)?;
    let room = w.saturating_sub(s.u(8)).max(1);
    if text_w > room {
        let fitted = size * f64::from(room) / f64::from(text_w);
        style = TextStyle::from(font(fitted.max(size / 2.0).max(s.f(MIN_TITLE_PX))).into_font());
    }
    let (_, text_h) = area.estimate_text_size(title, &style).map_err(draw_err)?;
    let pad = (text_h / 2).min(s.u(5));
    let top = i32::try_from(pad * 2 + text_h).unwrap_or(i32::MAX);
    area.draw_text(
        title,
        &style.pos(Pos::new(HPos::Center, VPos::Top)),
        (i32::try_from(w / 2).unwrap_or(0), i32::try_from(pad).unwrap_or(0)),
    )
    .map_err(draw_err)?;
    Ok(area.split_vertically(top).1)
}

/// The tick length of plotters' axes (5 % of the smaller side of the plot area, at most
/// 5 pixels) with the cap scaled by `s`.
pub(super) fn tick_len((w, h): (u32, u32), s: Scale) -> i32 {
    ((0.05 * f64::from(w.min(h))).round() as i32).min(s.i(5))
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
    fn digit_palette_is_okabe_ito_plus_wine() {
        let hex: Vec<String> = (0..10)
            .map(|d| {
                let c = digit_color(d);
                format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
            })
            .collect();
        assert_eq!(
            hex,
            [
                "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                "#000000", "#999999", "#882255"
            ]
        );
        // "other" is a neutral grey different from every digit.
        let other = digit_color(10);
        assert_eq!(other, digit_color(255));
        assert!(other.0 == other.1 && other.1 == other.2);
        assert!((0..10).all(|d| digit_color(d) != other));
        // Outlines are darker, faded colours lighter, black stays black in outline.
        assert_eq!(outline_color(RGBColor(0xF0, 0xE4, 0x42)), RGBColor(144, 137, 40));
        assert_eq!(outline_color(BLACK), BLACK);
        assert_eq!(faded_color(BLACK), RGBColor(166, 166, 166));
        assert_eq!(faded_color(WHITE), WHITE);
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
