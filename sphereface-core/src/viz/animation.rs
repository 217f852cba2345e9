//! Animated GIFs of scatter plots ([`scatter_gif`]), encoded with one global palette.

use std::collections::HashMap;
use std::path::Path;

use plotters::prelude::*;

use super::points::{limits, prepare, Cloud};
use super::scatter::{check_view, ScatterPlan};
use super::style::{
    check_size, draw_err, ensure_font, faded_color, outline_color, write_atomic, Scale,
    DIGIT_COLORS, OTHER_COLOR,
};
use super::{Embeddings, Paint, PlotError, ScatterOptions};

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
    let bytes = encode_gif(&rgb, opts.width, opts.height, delay_ms)?;
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

/// Encodes RGB frames as a GIF that loops forever, `delay_ms` per frame (rounded to
/// 10 ms), all frames with the one global [`gif_palette`].
fn encode_gif(frames: &[Vec<u8>], width: u32, height: u32, delay_ms: u32) -> Result<Vec<u8>, PlotError> {
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
    // Rounded to 1/100 s and stored in 16 bits.
    let delay = u16::try_from((delay_ms.min(655_000) + 5) / 10).unwrap_or(u16::MAX);
    for (i, rgb) in frames.iter().enumerate() {
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
        let frame = gif::Frame {
            width: w,
            height: h,
            delay,
            buffer: indices.into(),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame).map_err(enc)?;
    }
    encoder
        .into_inner()
        .map_err(|e| PlotError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::digit_color;
    use super::super::test_util::{clusters, frames_2d, scratch_dir};
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
        assert!(matches!(encode_gif(&[vec![0; 5]], 2, 2, 10), Err(PlotError::Shape(_))));
        assert!(matches!(encode_gif(&[], 70_000, 2, 10), Err(PlotError::Shape(_))));
    }
}
