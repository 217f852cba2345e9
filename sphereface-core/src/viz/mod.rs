//! Figures for the SphereFace experiments: embedding scatters, training curves and animations.
//!
//! Every figure is drawn three times from the same drawing code: into an SVG string, into
//! an RGB buffer encoded as PNG, and into one of twice the width and height with every
//! absolute size (fonts, margins, strokes, markers) doubled, encoded as the 2x PNG for
//! projectors, slides and print. So all files of a [`Figure`] show the same picture. Text
//! in the PNGs is rasterised from an embedded DejaVu Sans font (`assets/DejaVuSans.ttf`,
//! Bitstream Vera licence in `assets/DejaVuSans.LICENSE`), so no system font library is
//! needed.
//!
//! The digits 0..=9 of the scatter plots are coloured with the palette of Okabe and Ito
//! ("Color Universal Design", 2008; orange, sky blue, bluish green, yellow, blue,
//! vermillion, reddish purple, black), extended to ten colours by a grey (#999999) and the
//! wine (#882255) of Paul Tol's muted scheme. These colours stay distinct for readers
//! with any of the common colour-vision deficiencies and on a washed-out projector, which
//! the matplotlib `rainbow` map used before did not (3/4/5, 8/9 and 0/1 looked alike).
//! Markers get a thin rim in a darker shade of their own colour (40 % towards black) so
//! that the light colours (yellow, sky blue) stay visible on white; on the unit sphere,
//! points on the far side are faded (65 % towards white). Labels above 9 are a light
//! neutral grey ("other"). Line charts use matplotlib's `tab10` colours.

mod animation;
mod axes;
mod figure;
mod lines;
mod panels;
mod points;
mod regions;
#[cfg(test)]
mod render_tests;
mod scatter;
mod scatter3d;
mod style;
#[cfg(test)]
mod test_util;

use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use animation::{scatter_gif, scatter_panels_gif, PanelFrame, GIF_TEXT};
#[cfg(test)]
pub(crate) use animation::shown_frames;
pub use figure::{Animation, Figure};
pub use lines::{line_panels, lines, LineOptions, Series};
pub use points::NORMALIZED_LIMIT;
pub use regions::{decision_regions, RegionPanel};
pub use panels::scatter_panels;
pub use scatter::{scatter, Embeddings, ScatterOptions};
pub use style::{digit_color, MAX_SIDE, MIN_HEIGHT, MIN_WIDTH};

use figure::encode_png;
use style::{check_size, draw_err, ensure_font, Scale};

/// Everything that can go wrong while building or saving a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// There is nothing to draw: no points, no series, or no finite values at all.
    #[error("nothing to plot: {0}")]
    Empty(String),
    /// The inputs have inconsistent shapes or unsupported sizes or options.
    #[error("invalid input: {0}")]
    Shape(String),
    /// The drawing library reported an error.
    #[error("drawing failed: {0}")]
    Drawing(String),
    /// The embedded font could not be registered.
    #[error("font error: {0}")]
    Font(String),
    /// The raster image could not be encoded.
    #[error("image encoding failed: {0}")]
    Encode(String),
    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory that could not be written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Something that can paint itself on any plotters backend.
trait Paint {
    /// Paints on `root`, which is `s` times the figure's size, with every absolute size
    /// (fonts, margins, strokes, markers...) multiplied by `s`.
    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: Scale,
    ) -> Result<(), PlotError>;
}

/// Paints `p` three times: into an SVG string and a PNG image of `width` x `height`
/// pixels, and into a PNG of twice that size with every absolute size doubled.
fn render<P: Paint>(p: &P, width: u32, height: u32) -> Result<Figure, PlotError> {
    check_size(width, height)?;
    ensure_font()?;
    let mut svg = String::new();
    let (painted, font_px) = style::fonts_measured(|| -> Result<(), PlotError> {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        p.paint(&root, Scale::ONE)?;
        root.present().map_err(draw_err)
    });
    painted?;
    Ok(Figure {
        svg,
        png: raster(p, width, height, Scale::ONE)?,
        png_2x: raster(p, width * 2, height * 2, Scale(2))?,
        width,
        height,
        font_px,
        alt: String::new(),
    })
}

/// Paints `p` at scale `s` into an RGB buffer of `width` x `height` and encodes it as PNG.
fn raster<P: Paint>(p: &P, width: u32, height: u32, s: Scale) -> Result<Vec<u8>, PlotError> {
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        p.paint(&root, s)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&rgb, width, height)
}

#[cfg(test)]
mod tests {
    use super::test_util::{clusters, frames_2d};
    use super::*;
    use std::fs;
    use std::path::Path;

    /// Renders the example figures into `target/plot-examples/` for a visual check (not
    /// into the source tree).
    #[test]
    fn example_figures() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plot-examples");
        let (v2, l2) = clusters(2, 300, 21);
        let (v3, l3) = clusters(3, 300, 22);
        let cases = [
            (2, &v2, &l2, "modified softmax, 2-D features", false, "scatter2d"),
            (2, &v2, &l2, "2-D features, normalised", true, "scatter2d_norm"),
            (3, &v3, &l3, "angular softmax, 3-D features", false, "scatter3d"),
            (3, &v3, &l3, "3-D features on the unit sphere", true, "scatter3d_norm"),
        ];
        for (dim, values, labels, title, normalize, name) in cases {
            let e = Embeddings { dim, values, labels, directions: &[] };
            let opts = ScatterOptions { title: title.into(), normalize, ..Default::default() };
            scatter(&e, &opts).unwrap().save(&out.join(name)).unwrap();
        }
        let frames: Vec<(Vec<f32>, Vec<u8>)> = (0..4)
            .map(|k| {
                let (v, l) = clusters(2, 60, 30);
                let s = 0.3 + 0.25 * k as f32;
                (v.iter().map(|x| x * s).collect(), l)
            })
            .collect();
        let frames = frames_2d(&frames, |i| format!("epoch {}", i + 1));
        scatter_gif(
            &frames,
            &ScatterOptions {
                title: "2-D features".into(),
                ..Default::default()
            },
            500,
            &out.join("anim.gif"),
        )
        .unwrap();
        // The last GIF frame as PNG, to look at.
        let bytes = fs::read(out.join("anim.gif")).unwrap();
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = opts.read_info(bytes.as_slice()).unwrap();
        let mut last = None;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            last = Some((frame.width, frame.height, frame.buffer.to_vec()));
        }
        let (w, h, rgba) = last.unwrap();
        image::save_buffer(
            out.join("anim_last_frame.png"),
            &rgba,
            w.into(),
            h.into(),
            image::ColorType::Rgba8,
        )
        .unwrap();
        let e3 = Embeddings { dim: 3, values: &v3, labels: &l3, directions: &[] };
        scatter(
            &e3,
            &ScatterOptions {
                title: "other view".into(),
                yaw: -2.0,
                pitch: 1.1,
                width: 480,
                height: 420,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("scatter3d_view"))
        .unwrap();
        // Degenerate input: one point plus a label outside 0..=9.
        scatter(
            &Embeddings {
                dim: 2,
                values: &[3.0, 4.0, 3.0, 4.0],
                labels: &[5, 11],
                directions: &[],
            },
            &ScatterOptions {
                title: "one point".into(),
                width: MIN_WIDTH,
                height: MIN_HEIGHT,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("degenerate"))
        .unwrap();
        let curve = |name: &str, rate: f64, floor: f64, n: usize| Series {
            name: name.into(),
            xs: (1..=n).map(|i| i as f64).collect(),
            ys: (1..=n)
                .map(|i| floor + (1.0 - floor) * (-(i as f64) * rate).exp())
                .collect(),
        };
        let series = vec![
            curve("original softmax (test acc 0.9871)", 0.30, 0.02, 30),
            curve("modified softmax (test acc 0.9885)", 0.25, 0.015, 30),
            curve("angular softmax (test acc 0.9902)", 0.18, 0.008, 24),
        ];
        lines(
            &series,
            &LineOptions {
                title: "training loss".into(),
                x_label: "epoch".into(),
                y_label: "loss".into(),
                log_y: true,
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("lines"))
        .unwrap();
        let acc: Vec<Series> = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                xs: s.xs.clone(),
                ys: s.ys.iter().map(|y| 1.0 - y * 0.5).collect(),
            })
            .collect();
        lines(
            &acc,
            &LineOptions {
                title: "test accuracy".into(),
                x_label: "epoch".into(),
                y_label: "accuracy".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .save(&out.join("lines_acc"))
        .unwrap();
    }
}
