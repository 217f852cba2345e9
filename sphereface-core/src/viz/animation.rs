//! Animated GIFs of scatter plots, encoded with one global palette: one plot a frame
//! ([`scatter_gif`]), or several panels side by side under one shared digit legend
//! ([`scatter_panels_gif`]).

use std::collections::HashMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::points::{limits, prepare, Cloud};
use super::scatter::{check_view, draw_legend_row, ScatterPlan, LEGEND_ROW_H};
use super::style::{
    check_size, draw_err, ensure_font, faded_color, fonts_measured, outline_color, write_atomic,
    Scale, DIGIT_COLORS, MAX_SIDE, OTHER_COLOR,
};
use super::{Animation, Embeddings, Paint, PlotError, ScatterOptions};

/// The title of one frame: `main` and `frame` joined by a dash, either alone when the
/// other is empty.
fn frame_title(main: &str, frame: &str) -> String {
    match (main.is_empty(), frame.is_empty()) {
        (_, true) => main.to_string(),
        (true, false) => frame.to_string(),
        (false, false) => format!("{main} — {frame}"),
    }
}

/// Writes an animated GIF of several scatter plots, e.g. the embeddings after each epoch.
///
/// Each frame is drawn as by [`scatter`]; `delay_ms` is the time each frame is shown.
/// The file is written to a temporary file next to `path` and renamed into place.
///
/// All frames share one set of axis limits so that the animation does not jump; each
/// frame's title is `opts.title` and the frame title joined by a dash (either alone when
/// the other is empty). The GIF loops forever; delays are rounded to 10 ms.
///
/// All frames use one global palette of 256 colours (no local palettes), which holds
/// white, black, the digit colours and their outline and faded shades exactly, then a
/// coarse colour cube and a grey ramp; every pixel gets the nearest palette colour. So a
/// digit keeps exactly its colour in every frame, where a palette per frame would let the
/// colours shift from frame to frame.
///
/// # Errors
/// [`PlotError::Empty`] for no frames or a frame without finite points,
/// [`PlotError::Shape`] as for [`scatter`] (also when the frames mix dimensions, or a
/// side exceeds 65535 pixels), [`PlotError::Io`] if the file cannot be written,
/// [`PlotError::Drawing`] or [`PlotError::Font`] if rendering fails and
/// [`PlotError::Encode`] if GIF encoding fails.
///
/// [`scatter`]: fn@super::scatter
pub fn scatter_gif(
    frames: &[(Embeddings<'_>, String)],
    opts: &ScatterOptions,
    delay_ms: u32,
    path: &Path,
) -> Result<(), PlotError> {
    let rgb = render_frames(frames, opts)?;
    let bytes = encode_gif(&rgb, opts.width, opts.height, &vec![delay_ms; rgb.len()], Storage::Whole)?;
    write_atomic(path, &bytes)
}

/// Renders the frames of [`scatter_gif`] as RGB buffers (`width * height * 3` bytes each).
fn render_frames(
    frames: &[(Embeddings<'_>, String)],
    opts: &ScatterOptions,
) -> Result<Vec<Vec<u8>>, PlotError> {
    check_size(opts.width, opts.height)?;
    check_view(opts)?;
    let first = frames
        .first()
        .ok_or_else(|| PlotError::Empty("no frames for the animation".into()))?;
    let dim = first.0.dim;
    let mut clouds = Vec::with_capacity(frames.len());
    for (i, (emb, _)) in frames.iter().enumerate() {
        if emb.dim != dim {
            return Err(PlotError::Shape(format!(
                "frame {i} has dim {} but frame 0 has dim {dim}",
                emb.dim
            )));
        }
        clouds.push(prepare(emb, opts).map_err(|e| match e {
            PlotError::Empty(m) => PlotError::Empty(format!("frame {i}: {m}")),
            PlotError::Shape(m) => PlotError::Shape(format!("frame {i}: {m}")),
            other => other,
        })?);
    }
    let refs: Vec<&Cloud> = clouds.iter().collect();
    let lims = limits(&refs, dim, opts.normalize);
    ensure_font()?;
    let (w, h) = (opts.width, opts.height);
    let mut out = Vec::with_capacity(frames.len());
    for (cloud, (_, title)) in clouds.iter().zip(frames) {
        let plan = ScatterPlan {
            cloud,
            dim,
            title: frame_title(&opts.title, title),
            normalize: opts.normalize,
            yaw: opts.yaw,
            pitch: opts.pitch,
            lims,
            other_label: opts.other_label.clone(),
            text: 1.0,
            legend: true,
        };
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            plan.paint(&root, Scale::ONE)?;
            root.present().map_err(draw_err)?;
        }
        out.push(rgb);
    }
    Ok(out)
}

/// The global palette of the GIFs, 256 distinct colours: white, black, each digit colour
/// (and the "other" grey) with its outline and faded shade, a 5x5x5 colour cube, and
/// greys for the rest (anti-aliased text and grid lines are grey).
fn gif_palette() -> Vec<[u8; 3]> {
    fn push(pal: &mut Vec<[u8; 3]>, c: [u8; 3]) {
        if pal.len() < 256 && !pal.contains(&c) {
            pal.push(c);
        }
    }
    let mut pal: Vec<[u8; 3]> = Vec::with_capacity(256);
    let rgb = |c: RGBColor| [c.0, c.1, c.2];
    push(&mut pal, [255, 255, 255]);
    push(&mut pal, [0, 0, 0]);
    for c in DIGIT_COLORS.iter().chain(std::iter::once(&OTHER_COLOR)) {
        push(&mut pal, rgb(*c));
        push(&mut pal, rgb(outline_color(*c)));
        push(&mut pal, rgb(faded_color(*c)));
    }
    const CUBE: [u8; 5] = [0, 64, 128, 191, 255];
    for r in CUBE {
        for g in CUBE {
            for b in CUBE {
                push(&mut pal, [r, g, b]);
            }
        }
    }
    // An even grey ramp over what is left, then any grey still missing.
    let left = 256 - pal.len().min(256);
    for k in 0..left {
        let v = (k as f64 * 255.0 / (left.max(2) - 1) as f64).round() as u8;
        push(&mut pal, [v, v, v]);
    }
    for v in 0..=255u8 {
        push(&mut pal, [v, v, v]);
    }
    pal
}

/// Maps RGB pixels to the nearest colour of a palette, remembering colours seen before.
struct Quantizer {
    palette: Vec<[u8; 3]>,
    cache: HashMap<[u8; 3], u8>,
}

impl Quantizer {
    /// A quantiser to `palette` (at most 256 colours).
    fn new(palette: Vec<[u8; 3]>) -> Self {
        Self {
            palette,
            cache: HashMap::new(),
        }
    }

    /// Index of the palette colour nearest to `c` (squared RGB distance; first on ties).
    fn index(&mut self, c: [u8; 3]) -> u8 {
        let palette = &self.palette;
        *self.cache.entry(c).or_insert_with(|| {
            let dist = |p: &[u8; 3]| -> i32 {
                (0..3)
                    .map(|i| (i32::from(p[i]) - i32::from(c[i])).pow(2))
                    .sum()
            };
            let best = (0..palette.len()).min_by_key(|&i| dist(&palette[i])).unwrap_or(0);
            u8::try_from(best).unwrap_or(0)
        })
    }
}

/// How the frames after the first are stored in a GIF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// Every frame whole.
    Whole,
    /// Only the rectangle that changed since the frame before, its unchanged pixels
    /// transparent (each frame is drawn over the one before: disposal "keep").
    Changes,
}

/// Encodes RGB frames as a GIF that loops forever, frame `i` shown `delays_ms[i]`
/// milliseconds (rounded to 10 ms), all frames with the one global [`gif_palette`].
///
/// With [`Storage::Changes`] a frame after the first holds only the bounding box of the
/// pixels that differ from the frame before, the others in it set to a transparent index
/// (one of the 256 that no changed pixel of the frame uses; the frame is stored whole in
/// the unlikely case that they all are); a frame without changes is one transparent pixel.
/// What a viewer shows is the same, and the axes, grids and legend that stay put are
/// stored once: the evolution GIF of notebook 4 shrinks to less than half.
fn encode_gif(frames: &[Vec<u8>], width: u32, height: u32, delays_ms: &[u32], storage: Storage) -> Result<Vec<u8>, PlotError> {
    let too_big = || PlotError::Shape(format!("a GIF of {width}x{height} pixels exceeds 65535 pixels a side"));
    let w = u16::try_from(width).map_err(|_| too_big())?;
    let h = u16::try_from(height).map_err(|_| too_big())?;
    let n = usize::from(w) * usize::from(h);
    let enc = |e: gif::EncodingError| PlotError::Encode(e.to_string());
    let palette = gif_palette();
    let flat: Vec<u8> = palette.iter().flatten().copied().collect();
    let mut quantizer = Quantizer::new(palette);
    let mut encoder = gif::Encoder::new(Vec::new(), w, h, &flat).map_err(enc)?;
    encoder.set_repeat(gif::Repeat::Infinite).map_err(enc)?;
    if delays_ms.len() != frames.len() {
        return Err(PlotError::Shape(format!("{} delays for {} frames", delays_ms.len(), frames.len())));
    }
    let mut previous: Option<Vec<u8>> = None;
    for (i, (rgb, &delay_ms)) in frames.iter().zip(delays_ms).enumerate() {
        // Rounded to 1/100 s and stored in 16 bits.
        let delay = u16::try_from((delay_ms.min(655_000) + 5) / 10).unwrap_or(u16::MAX);
        if rgb.len() != n * 3 {
            return Err(PlotError::Shape(format!(
                "frame {i} has {} bytes, not {width}x{height} RGB",
                rgb.len()
            )));
        }
        let indices: Vec<u8> = rgb
            .chunks_exact(3)
            .map(|p| quantizer.index([p[0], p[1], p[2]]))
            .collect();
        let whole = gif::Frame { width: w, height: h, delay, buffer: indices.as_slice().into(), ..gif::Frame::default() };
        let frame = match (&previous, storage) {
            (Some(before), Storage::Changes) => changes(before, &indices, w, h).map_or(whole, |f| gif::Frame { delay, ..f }),
            _ => whole,
        };
        encoder.write_frame(&frame).map_err(enc)?;
        previous = Some(indices);
    }
    encoder
        .into_inner()
        .map_err(|e| PlotError::Encode(e.to_string()))
}

/// The frame that turns the canvas `before` into `after` (palette indices, `w` x `h`)
/// when drawn over it: the bounding box of the changed pixels, the unchanged ones in it
/// transparent; one transparent pixel when nothing changed. `None` when the changed pixels
/// use all 256 indices, leaving none for transparency.
fn changes(before: &[u8], after: &[u8], w: u16, h: u16) -> Option<gif::Frame<'static>> {
    let (wu, hu) = (usize::from(w), usize::from(h));
    let (mut x0, mut x1, mut y0, mut y1) = (wu, 0, hu, 0);
    let mut used = [false; 256];
    for (k, (a, b)) in before.iter().zip(after).enumerate() {
        if a != b {
            let (x, y) = (k % wu, k / wu);
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x + 1), y0.min(y), y1.max(y + 1));
            used[usize::from(*b)] = true;
        }
    }
    let clear = u8::try_from(used.iter().position(|u| !u)?).ok()?;
    if x0 >= x1 {
        return Some(gif::Frame { width: 1, height: 1, transparent: Some(clear), buffer: vec![clear].into(), ..gif::Frame::default() });
    }
    let mut buffer = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        let row = y * wu;
        buffer.extend((x0..x1).map(|x| if before[row + x] == after[row + x] { clear } else { after[row + x] }));
    }
    let side = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
    Some(gif::Frame {
        left: side(x0),
        top: side(y0),
        width: side(x1 - x0),
        height: side(y1 - y0),
        transparent: Some(clear),
        buffer: buffer.into(),
        ..gif::Frame::default()
    })
}

/// One frame of [`scatter_panels_gif`]: the points of each panel, their titles, and how
/// long the frame is shown.
#[derive(Debug, Clone)]
pub struct PanelFrame<'a> {
    /// The points of each panel, left to right.
    pub panels: Vec<Embeddings<'a>>,
    /// The title of each panel (e.g. the loss and the training step).
    pub titles: Vec<String>,
    /// How long the frame is shown, in milliseconds (rounded to 10 ms).
    pub delay_ms: u32,
}

/// Factor on every font size of [`scatter_panels_gif`]: its smallest text, the tick labels
/// (15 px in a figure), comes out 16 px. A GIF is shown at its own pixel size (it has no 2x
/// version), so its text is set large enough for a slide as it is.
pub const GIF_TEXT: f64 = 16.0 / 15.0;

/// Font size of the shared legend, in pixels.
const LEGEND_ROW_PX: f64 = 18.0;

/// The frames of [`scatter_panels_gif`], checked and prepared for painting.
struct PanelFrames<'t> {
    /// `clouds[frame][panel]`.
    clouds: Vec<Vec<Cloud>>,
    /// The dimension of each panel (the same in every frame).
    dims: Vec<usize>,
    /// `titles[frame][panel]`.
    titles: Vec<&'t [String]>,
    /// Every label drawn in any frame and panel, for the one legend (the same in every frame).
    labels: Vec<u8>,
    /// Axis ranges shared by all frames and panels.
    lims: [(f64, f64); 3],
    /// Panel size and view settings.
    opts: &'t ScatterOptions,
}

impl<'t> PanelFrames<'t> {
    /// Checks and prepares `frames` (see [`scatter_panels_gif`] for the errors).
    fn new(frames: &'t [PanelFrame<'_>], opts: &'t ScatterOptions) -> Result<Self, PlotError> {
        check_size(opts.width, opts.height)?;
        check_view(opts)?;
        let first = frames.first().ok_or_else(|| PlotError::Empty("no frames for the animation".into()))?;
        let n = first.panels.len();
        if n == 0 {
            return Err(PlotError::Empty("frame 0 has no panels".into()));
        }
        let dims: Vec<usize> = first.panels.iter().map(|e| e.dim).collect();
        let mut clouds = Vec::with_capacity(frames.len());
        for (i, frame) in frames.iter().enumerate() {
            if frame.panels.len() != n || frame.titles.len() != n {
                return Err(PlotError::Shape(format!(
                    "frame {i} has {} panels and {} titles, frame 0 {n} panels: every frame needs the same panels, one title each",
                    frame.panels.len(),
                    frame.titles.len()
                )));
            }
            let mut row = Vec::with_capacity(n);
            for (j, emb) in frame.panels.iter().enumerate() {
                if emb.dim != dims[j] {
                    return Err(PlotError::Shape(format!("frame {i}, panel {j} has dim {} but frame 0 has dim {}", emb.dim, dims[j])));
                }
                row.push(prepare(emb, opts).map_err(|e| match e {
                    PlotError::Empty(m) => PlotError::Empty(format!("frame {i}, panel {j}: {m}")),
                    PlotError::Shape(m) => PlotError::Shape(format!("frame {i}, panel {j}: {m}")),
                    other => other,
                })?);
            }
            clouds.push(row);
        }
        let refs: Vec<&Cloud> = clouds.iter().flatten().collect();
        let dim = dims.iter().copied().max().unwrap_or(2);
        let lims = limits(&refs, dim, opts.normalize);
        let mut seen = [false; 256];
        for c in &refs {
            for &l in &c.labels {
                seen[usize::from(l)] = true;
            }
        }
        let labels = (0..=255u8).filter(|&l| seen[usize::from(l)]).collect();
        let titles = frames.iter().map(|f| f.titles.as_slice()).collect();
        Ok(PanelFrames { clouds, dims, titles, labels, lims, opts })
    }

    /// The size of a frame in pixels: the panels side by side over the legend strip.
    ///
    /// # Errors
    /// [`PlotError::Shape`] when it exceeds [`MAX_SIDE`].
    fn size(&self) -> Result<(u32, u32), PlotError> {
        let n = self.dims.len();
        let too_big = || PlotError::Shape(format!("{n} panels of {}x{} pixels exceed {MAX_SIDE} pixels", self.opts.width, self.opts.height));
        let width = u32::try_from(n).ok().and_then(|n| n.checked_mul(self.opts.width)).ok_or_else(too_big)?;
        let height = self.opts.height + LEGEND_ROW_H;
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(too_big());
        }
        Ok((width, height))
    }

    /// Frame `i`, ready to paint.
    fn frame(&self, i: usize) -> FramePlan<'_> {
        let plans = self.clouds[i]
            .iter()
            .zip(&self.dims)
            .zip(self.titles[i])
            .map(|((cloud, &dim), title)| ScatterPlan {
                cloud,
                dim,
                title: title.clone(),
                normalize: self.opts.normalize,
                yaw: self.opts.yaw,
                pitch: self.opts.pitch,
                lims: self.lims,
                other_label: self.opts.other_label.clone(),
                text: GIF_TEXT,
                legend: false,
            })
            .collect();
        FramePlan { plans, labels: &self.labels, other_label: &self.opts.other_label }
    }
}

/// One frame of [`scatter_panels_gif`]: the panels in a row, the legend strip under them.
struct FramePlan<'c> {
    plans: Vec<ScatterPlan<'c>>,
    labels: &'c [u8],
    other_label: &'c str,
}

impl Paint for FramePlan<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, s: Scale) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(draw_err)?;
        let (_, h) = root.dim_in_pixel();
        let (body, legend) = root.split_vertically(h.saturating_sub(s.u(LEGEND_ROW_H)));
        for (plan, area) in self.plans.iter().zip(body.split_evenly((1, self.plans.len()))) {
            plan.paint(&area, s)?;
        }
        draw_legend_row(&legend, &[self.labels], self.other_label, None, LEGEND_ROW_PX, s)
    }
}

/// Writes an animated GIF of several scatter plots side by side, e.g. the embeddings of
/// two runs at the same training step, and returns it as an [`Animation`] (no description
/// yet: [`Animation::with_alt`]).
///
/// Each frame shows its panels left to right, each `opts.width` x `opts.height` pixels and
/// drawn as by [`scatter`] with its own title (`opts.title` is not used) but without a
/// legend: one digit legend for the whole frame lies in a strip of 40 pixels under the
/// panels, listing every label drawn in any frame (so it does not change from frame to
/// frame). So the GIF is `panels * opts.width` x `opts.height + 40` pixels. Every text is
/// [`GIF_TEXT`] times the size it has in a figure, so that the smallest (the tick labels)
/// is 16 px: the GIF is shown at its own pixel size. [`Animation::font_px`] holds the
/// smallest text size set in the frames (a title too wide for its panel is set smaller).
///
/// All frames and panels share one set of axis limits, so that nothing jumps; frame `i`
/// is shown `frames[i].delay_ms`. The palette, the looping and the atomic write are as for
/// [`scatter_gif`]; a frame after the first stores only what changed since the frame
/// before (the rectangle around it, unchanged pixels transparent), so the axes, grids and
/// legend are stored once.
///
/// # Errors
/// [`PlotError::Empty`] for no frames, a frame without panels or a panel without finite
/// points; [`PlotError::Shape`] as for [`scatter`] (naming frame and panel), when frames
/// differ in their number of panels or a panel's dimension, a frame's titles do not match
/// its panels, or the GIF exceeds [`MAX_SIDE`] pixels; [`PlotError::Io`],
/// [`PlotError::Drawing`], [`PlotError::Font`] and [`PlotError::Encode`] as for
/// [`scatter_gif`].
///
/// [`scatter`]: fn@super::scatter
/// [`MAX_SIDE`]: super::MAX_SIDE
pub fn scatter_panels_gif(frames: &[PanelFrame<'_>], opts: &ScatterOptions, path: &Path) -> Result<Animation, PlotError> {
    let (rgb, (width, height), font_px) = render_panel_frames(frames, opts)?;
    let delays: Vec<u32> = frames.iter().map(|f| f.delay_ms).collect();
    let bytes = encode_gif(&rgb, width, height, &delays, Storage::Changes)?;
    write_atomic(path, &bytes)?;
    Animation::from_gif(bytes, font_px, "")
}

/// Frames as RGB buffers, their width and height, and the smallest font size set in them.
type Rendered = (Vec<Vec<u8>>, (u32, u32), f64);

/// The frames of [`scatter_panels_gif`] as RGB buffers, their size, and the smallest font
/// size set in them.
fn render_panel_frames(frames: &[PanelFrame<'_>], opts: &ScatterOptions) -> Result<Rendered, PlotError> {
    let prepared = PanelFrames::new(frames, opts)?;
    let (w, h) = prepared.size()?;
    ensure_font()?;
    let (rgb, font_px) = fonts_measured(|| {
        (0..frames.len())
            .map(|i| -> Result<Vec<u8>, PlotError> {
                let mut rgb = vec![0u8; w as usize * h as usize * 3];
                {
                    let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                    prepared.frame(i).paint(&root, Scale::ONE)?;
                    root.present().map_err(draw_err)?;
                }
                Ok(rgb)
            })
            .collect::<Result<Vec<_>, _>>()
    });
    Ok((rgb?, (w, h), font_px))
}

/// The pictures a viewer shows for a GIF, frame by frame: each frame drawn over the
/// picture before (disposal "keep", transparent pixels left as they are), as RGB, with the
/// frame's delay in 1/100 s. For tests.
#[cfg(test)]
pub(crate) fn shown_frames(bytes: &[u8]) -> (u16, u16, Vec<(Vec<u8>, u16)>) {
    let mut decoder = gif::DecodeOptions::new().read_info(bytes).unwrap();
    let (w, h) = (decoder.width(), decoder.height());
    let palette = decoder.global_palette().unwrap().to_vec();
    let mut canvas = vec![255u8; usize::from(w) * usize::from(h) * 3];
    let mut out = Vec::new();
    while let Some(f) = decoder.read_next_frame().unwrap() {
        assert_eq!(f.dispose, gif::DisposalMethod::Keep);
        for (k, &i) in f.buffer.iter().enumerate() {
            if Some(i) == f.transparent {
                continue;
            }
            let (x, y) = (usize::from(f.left) + k % usize::from(f.width), usize::from(f.top) + k / usize::from(f.width));
            let at = (y * usize::from(w) + x) * 3;
            canvas[at..at + 3].copy_from_slice(&palette[usize::from(i) * 3..usize::from(i) * 3 + 3]);
        }
        out.push((canvas.clone(), f.delay));
    }
    (w, h, out)
}

#[cfg(test)]
mod tests {
    use super::super::digit_color;
    use super::super::test_util::{clusters, frames_2d, scratch_dir, svg_texts};
    use super::*;
    use std::fs;

    #[test]
    fn gif_has_frames() {
        let dir = scratch_dir("gif");
        let path = dir.join("anim.gif");
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..3).map(|s| clusters(2, 15, 10 + s)).collect();
        let frames = frames_2d(&data, |i| format!("epoch {i}"));
        let opts = ScatterOptions {
            width: 320,
            height: 260,
            title: "features".into(),
            ..Default::default()
        };
        scatter_gif(&frames, &opts, 400, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a");
        // Loops forever: the NETSCAPE2.0 extension with a loop count of 0.
        let at = bytes.windows(11).position(|w| w == b"NETSCAPE2.0").expect("loop extension");
        assert_eq!(&bytes[at + 11..at + 15], &[3, 1, 0, 0]);
        let mut decoder = gif::DecodeOptions::new()
            .read_info(bytes.as_slice())
            .unwrap();
        let global: Vec<[u8; 3]> = decoder
            .global_palette()
            .expect("a global palette")
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        assert_eq!(global.len(), 256);
        for d in 0..10 {
            for c in [digit_color(d), outline_color(digit_color(d)), faded_color(digit_color(d))] {
                assert!(global.contains(&[c.0, c.1, c.2]), "digit {d}: {c:?} not in the palette");
            }
        }
        // The frames as drawn, before quantisation.
        let rgb = render_frames(&frames, &opts).unwrap();
        let mut count = 0;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!(frame.delay, 40);
            assert!(frame.palette.is_none(), "frame {count} has a local palette");
            assert_eq!((frame.width, frame.height), (320, 260));
            // Every pixel drawn in a palette colour (white, digits, outlines...) keeps it
            // exactly; the digits of the frame are all there.
            let mut seen = [0usize; 10];
            for (p, &i) in rgb[count].chunks_exact(3).zip(frame.buffer.iter()) {
                let drawn = [p[0], p[1], p[2]];
                if global.contains(&drawn) {
                    assert_eq!(global[usize::from(i)], drawn, "frame {count}");
                }
                if let Some(d) = (0..10).find(|&d| digit_color(d) == RGBColor(p[0], p[1], p[2])) {
                    seen[usize::from(d)] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k > 0), "frame {count}: digit pixels {seen:?}");
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

        assert!(matches!(
            scatter_gif(&[], &opts, 100, &path),
            Err(PlotError::Empty(_))
        ));
        let mixed = vec![
            frames[0].clone(),
            (
                Embeddings {
                    dim: 3,
                    values: &[1.0, 2.0, 3.0],
                    labels: &[1],
                    directions: &[],
                },
                String::new(),
            ),
        ];
        assert!(matches!(
            scatter_gif(&mixed, &opts, 100, &path),
            Err(PlotError::Shape(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gif_palette_is_full_and_distinct() {
        let pal = gif_palette();
        assert_eq!(pal.len(), 256);
        for (i, c) in pal.iter().enumerate() {
            assert!(!pal[..i].contains(c), "{c:?} twice");
        }
        assert_eq!(&pal[..2], &[[255, 255, 255], [0, 0, 0]]);
        let mut q = Quantizer::new(pal.clone());
        for (i, &c) in pal.iter().enumerate() {
            assert_eq!(usize::from(q.index(c)), i);
        }
        // Off-palette colours go to a near one.
        let i = q.index([250, 251, 249]);
        let c = pal[usize::from(i)];
        assert!(c.iter().zip([250, 251, 249]).all(|(&a, b)| a.abs_diff(b) <= 3), "{c:?}");
        assert!(matches!(encode_gif(&[vec![0; 5]], 2, 2, &[10], Storage::Whole), Err(PlotError::Shape(_))));
        assert!(matches!(encode_gif(&[], 70_000, 2, &[], Storage::Whole), Err(PlotError::Shape(_))));
        assert!(matches!(encode_gif(&[vec![0; 12]], 2, 2, &[10, 10], Storage::Whole), Err(PlotError::Shape(m)) if m.contains("2 delays for 1 frames")));
    }

    /// Three frames of two 3-D panels on the sphere, the last the same as the first.
    fn three_frames<'a>(data: &'a [(Vec<f32>, Vec<u8>)]) -> Vec<PanelFrame<'a>> {
        let emb = |k: usize| Embeddings { dim: 3, values: &data[k].0, labels: &data[k].1, directions: &[] };
        let frame = |a: usize, b: usize, when: &str, delay_ms: u32| PanelFrame {
            panels: vec![emb(a), emb(b)],
            titles: vec![format!("left — {when}"), format!("right — {when}")],
            delay_ms,
        };
        vec![frame(2, 3, "step 9 (end)", 1000), frame(0, 1, "step 0", 250), frame(2, 3, "step 9 (end)", 2500)]
    }

    #[test]
    fn panel_gif_shows_frames_as_drawn_with_their_delays() {
        let dir = scratch_dir("panel-gif");
        let path = dir.join("panels.gif");
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..4).map(|s| clusters(3, 12, 50 + s)).collect();
        let frames = three_frames(&data);
        let opts = ScatterOptions { width: 400, height: 360, normalize: true, ..Default::default() };
        let anim = scatter_panels_gif(&frames, &opts, &path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), anim.gif);
        assert_eq!((anim.width, anim.height), (800, 400), "two panels over the legend strip");
        assert_eq!(anim.frames(), 3);
        // Every text is set at 16 px or more (tick labels 15 px x GIF_TEXT); nothing smaller.
        assert!(anim.font_px.is_finite() && (anim.font_px - 16.0).abs() < 1e-9, "{}", anim.font_px);
        assert!(anim.alt.is_empty(), "the caller describes it");

        // What a viewer shows is what was drawn, at the given delays.
        let (rgb, size, font_px) = render_panel_frames(&frames, &opts).unwrap();
        assert_eq!((size, font_px), ((800, 400), anim.font_px));
        let (w, h, shown) = shown_frames(&anim.gif);
        assert_eq!((w, h, shown.len()), (800, 400, 3));
        assert_eq!(shown.iter().map(|(_, d)| *d).collect::<Vec<_>>(), [100, 25, 250]);
        let palette = gif_palette();
        for (k, ((canvas, _), drawn)) in shown.iter().zip(&rgb).enumerate() {
            let exact = canvas.chunks_exact(3).zip(drawn.chunks_exact(3)).filter(|(a, b)| a == b).count();
            // Pixels of a palette colour come out exactly (anti-aliased ones: the nearest).
            let in_palette = drawn.chunks_exact(3).filter(|p| palette.contains(&[p[0], p[1], p[2]])).count();
            assert!(exact >= in_palette && exact * 10 > 9 * 800 * 400, "frame {k}: {exact} exact pixels");
        }
        assert_eq!(shown[0].0, shown[2].0, "the first frame shows the last");
        assert_ne!(shown[0].0, shown[1].0);
        // Frames after the first store only what changed: never the legend strip.
        let mut decoder = gif::DecodeOptions::new().read_info(anim.gif.as_slice()).unwrap();
        let mut stored = Vec::new();
        while let Some(f) = decoder.read_next_frame().unwrap() {
            stored.push((f.top, f.height, f.transparent));
        }
        assert_eq!(stored[0], (0, 400, None));
        for &(top, height, transparent) in &stored[1..] {
            assert!(transparent.is_some() && top + height <= 400 - 40 + 1, "{stored:?}");
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn panels_of_a_gif_share_one_legend() {
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..4).map(|s| clusters(3, 12, 60 + s)).collect();
        let frames = three_frames(&data);
        let opts = ScatterOptions { width: 400, height: 360, normalize: true, ..Default::default() };
        let prepared = PanelFrames::new(&frames, &opts).unwrap();
        let mut svg = String::new();
        ensure_font().unwrap();
        {
            let root = SVGBackend::with_string(&mut svg, (800, 400)).into_drawing_area();
            prepared.frame(0).paint(&root, Scale::ONE).unwrap();
            root.present().unwrap();
        }
        let texts = svg_texts(&svg);
        let count = |t: &str| texts.iter().filter(|(_, s)| s == t).count();
        // Tick labels are -1..1; the digits 2..9 are legend entries only, each drawn once.
        for d in 2..10 {
            assert_eq!(count(&d.to_string()), 1, "digit {d}: {texts:?}");
        }
        assert_eq!((count("left — step 9 (end)"), count("right — step 9 (end)")), (1, 1));
        // The legend lies in the strip under the panels.
        let y_of = |t: &str| -> f64 {
            let at = svg.find(&format!(">{t}<")).or_else(|| svg.find(&format!(">\n{t}"))).unwrap();
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            tag.split_once("y=\"").unwrap().1.split_once('"').unwrap().0.parse().unwrap()
        };
        assert!(y_of("9") > 360.0, "{}", y_of("9"));
    }

    #[test]
    fn panel_gif_refuses_mismatched_frames() {
        let dir = scratch_dir("panel-gif-errors");
        let path = dir.join("bad.gif");
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..4).map(|s| clusters(3, 5, 70 + s)).collect();
        let (v2, l2) = clusters(2, 5, 80);
        let opts = ScatterOptions { width: 400, height: 360, ..Default::default() };
        let good = three_frames(&data);
        let err = |frames: &[PanelFrame<'_>]| scatter_panels_gif(frames, &opts, &path).unwrap_err();
        assert!(matches!(err(&[]), PlotError::Empty(_)));
        let mut fewer = good.clone();
        fewer[1].panels.pop();
        assert!(matches!(err(&fewer), PlotError::Shape(m) if m.contains("frame 1 has 1 panels")));
        let mut untitled = good.clone();
        untitled[2].titles.pop();
        assert!(matches!(err(&untitled), PlotError::Shape(m) if m.contains("frame 2")));
        let mut flat = good.clone();
        flat[1].panels[1] = Embeddings { dim: 2, values: &v2, labels: &l2, directions: &[] };
        assert!(matches!(err(&flat), PlotError::Shape(m) if m.contains("frame 1, panel 1 has dim 2")));
        let mut none = good.clone();
        for f in &mut none {
            f.panels.clear();
            f.titles.clear();
        }
        assert!(matches!(err(&none), PlotError::Empty(_)));
        let wide = ScatterOptions { width: 5000, ..opts.clone() };
        assert!(matches!(scatter_panels_gif(&good, &wide, &path), Err(PlotError::Shape(_))));
        assert!(!path.exists());
    }

    #[test]
    fn unchanged_frames_store_one_transparent_pixel() {
        let a: Vec<u8> = vec![255; 4 * 3 * 3];
        let mut b = a.clone();
        b[(4 + 2) * 3..(4 + 2) * 3 + 3].copy_from_slice(&[0, 0, 0]);
        let bytes = encode_gif(&[a.clone(), a.clone(), b, a], 4, 3, &[10, 20, 30, 40], Storage::Changes).unwrap();
        let mut decoder = gif::DecodeOptions::new().read_info(bytes.as_slice()).unwrap();
        let mut stored = Vec::new();
        while let Some(f) = decoder.read_next_frame().unwrap() {
            stored.push((f.left, f.top, f.width, f.height, f.transparent.is_some()));
        }
        assert_eq!(stored, [(0, 0, 4, 3, false), (0, 0, 1, 1, true), (2, 1, 1, 1, true), (2, 1, 1, 1, true)]);
        let (_, _, shown) = shown_frames(&bytes);
        let black = |c: &[u8]| c.chunks_exact(3).filter(|p| p == &[0, 0, 0]).count();
        assert_eq!(shown.iter().map(|(c, _)| black(c)).collect::<Vec<_>>(), [0, 0, 1, 0]);
    }
}
