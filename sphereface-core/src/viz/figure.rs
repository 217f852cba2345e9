//! [`Figure`] (SVG and PNG of one drawing) and [`Animation`] (a GIF): saving, and showing
//! them inline in an evcxr notebook.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::style::{io_err, write_atomic};
use super::PlotError;

/// A figure as SVG text and PNG bytes at two resolutions (same drawing).
#[derive(Clone, PartialEq)]
pub struct Figure {
    /// The figure as an SVG document.
    pub svg: String,
    /// The figure as a PNG file of `width` x `height` pixels: small, for showing inline
    /// in a notebook.
    pub png: Vec<u8>,
    /// The same picture as a PNG file of twice the width and height, every font, margin,
    /// stroke and marker twice as large: for slides, projectors and print.
    pub png_2x: Vec<u8>,
    /// Width in pixels (of the SVG and of `png`).
    pub width: u32,
    /// Height in pixels (of the SVG and of `png`).
    pub height: u32,
    /// The smallest text in the figure, in pixels of the 1x picture (`png`, SVG); twice
    /// that in `png_2x`. How large it shows on a slide follows from the size the image is
    /// shown at (notebooks/slides/check-deck.sh measures it).
    pub font_px: f64,
    /// What the figure shows, in words, for readers who cannot see it: the `alt` text of
    /// its image in a notebook and a slide deck. [`Figure::with_alt`] replaces it.
    pub alt: String,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figure")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("svg_bytes", &self.svg.len())
            .field("png_bytes", &self.png.len())
            .field("png_2x_bytes", &self.png_2x.len())
            .field("font_px", &self.font_px)
            .field("alt", &self.alt)
            .finish()
    }
}

impl Figure {
    /// Writes `<stem>.svg` and `<stem>.png` atomically, creating the parent directory.
    /// The PNG file is the 2x one ([`Figure::png_2x`]), sharp on a projector or a slide;
    /// the 1x [`Figure::png`] is what notebooks show inline.
    ///
    /// Each file is written to a temporary file in the same directory and then renamed
    /// over the target, so readers never see a half-written figure.
    ///
    /// The extensions are appended to `stem`, so `out/epoch.10` gives `out/epoch.10.svg`.
    /// Returns the paths of the SVG and the PNG file.
    ///
    /// # Errors
    /// [`PlotError::Shape`] if `stem` has no file name, [`PlotError::Io`] if the directory
    /// cannot be created or a file cannot be written or renamed.
    pub fn save(&self, stem: &Path) -> Result<(PathBuf, PathBuf), PlotError> {
        let svg_path = with_suffix(stem, "svg")?;
        let png_path = with_suffix(stem, "png")?;
        write_atomic(&svg_path, self.svg.as_bytes())?;
        write_atomic(&png_path, &self.png_2x)?;
        Ok((svg_path, png_path))
    }

    /// [`Figure::save`]s the figure and returns it, so a notebook cell can save and show a
    /// figure in one expression: `psi_figure()?.saved_to("figures/psi")?`.
    ///
    /// # Errors
    /// Those of [`Figure::save`].
    pub fn saved_to(self, stem: impl AsRef<Path>) -> Result<Self, PlotError> {
        self.save(stem.as_ref())?;
        Ok(self)
    }

    /// The figure with `alt` as its description ([`Figure::alt`]).
    #[must_use]
    pub fn with_alt(mut self, alt: impl Into<String>) -> Self {
        self.alt = alt.into();
        self
    }

    /// The figure as an HTML image: the 2x PNG as a data URI, shown at the 1x size
    /// (`width`, `height`: sharp on a high-density screen and a projector), with its
    /// description as `alt` and its smallest text, in pixels of the PNG, as `data-font-px`
    /// (the slide check computes from it how large that text is on a slide).
    pub fn html(&self) -> String {
        img_tag("image/png", &self.png_2x, (self.width, self.height), &self.alt, 2.0 * self.font_px)
    }

    /// Returns the text that makes an evcxr (Jupyter Rust kernel) cell show this figure:
    /// [`Figure::html`] as `text/html`. An `image/png` output could carry neither a
    /// description nor a display size, so Jupyter would show the 2x PNG twice too large
    /// and nbconvert would give it no alternative text.
    pub fn evcxr_content(&self) -> String {
        mime_block("text/html", &self.html())
    }

    /// The 1x PNG as an evcxr `image/png` output (no description, no display size).
    pub fn evcxr_png_content(&self) -> String {
        mime_block("image/png", &BASE64.encode(&self.png))
    }

    /// The same as [`Figure::evcxr_content`] with the SVG (`image/svg+xml`) instead.
    pub fn evcxr_svg_content(&self) -> String {
        mime_block("image/svg+xml", self.svg.trim())
    }

    /// Shows the figure inline in an evcxr (Jupyter Rust kernel) notebook cell by
    /// printing [`Figure::evcxr_content`] to stdout. evcxr keeps one output per MIME type
    /// and cell, so a cell shows the last figure it displays.
    ///
    /// A closed or failing stdout is ignored.
    pub fn evcxr_display(&self) {
        print_block(&self.evcxr_content());
    }
}

/// An animated GIF, e.g. the evolution of the embeddings during training.
#[derive(Clone, PartialEq)]
pub struct Animation {
    /// The GIF file's bytes.
    pub gif: Vec<u8>,
    /// Width of the GIF in pixels (read from its header).
    pub width: u32,
    /// Height of the GIF in pixels.
    pub height: u32,
    /// The smallest text in the frames, in pixels of the GIF; `NaN` when not known (a GIF
    /// read from a file).
    pub font_px: f64,
    /// What the animation shows, in words (the `alt` text of its image).
    pub alt: String,
}

impl std::fmt::Debug for Animation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Animation")
            .field("gif_bytes", &self.gif.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("font_px", &self.font_px)
            .field("alt", &self.alt)
            .finish()
    }
}

impl Animation {
    /// Reads a GIF file.
    ///
    /// # Errors
    /// [`PlotError::Io`] if it cannot be read, [`PlotError::Shape`] if it is not a GIF.
    pub fn from_file(path: &Path) -> Result<Self, PlotError> {
        let gif = fs::read(path).map_err(io_err(path))?;
        Self::from_gif(gif, f64::NAN, "").map_err(|_| PlotError::Shape(format!("{} is not a GIF file", path.display())))
    }

    /// An animation of the GIF file's bytes `gif`, whose smallest text is `font_px` pixels
    /// high, described by `alt`.
    ///
    /// # Errors
    /// [`PlotError::Shape`] if `gif` is not a GIF file.
    pub fn from_gif(gif: Vec<u8>, font_px: f64, alt: &str) -> Result<Self, PlotError> {
        if !gif.starts_with(b"GIF8") || gif.len() < 10 {
            return Err(PlotError::Shape("not a GIF file".into()));
        }
        let width = u32::from(u16::from_le_bytes([gif[6], gif[7]]));
        let height = u32::from(u16::from_le_bytes([gif[8], gif[9]]));
        Ok(Animation { gif, width, height, font_px, alt: alt.into() })
    }

    /// The number of frames in the GIF (0 if it cannot be decoded).
    pub fn frames(&self) -> usize {
        let Ok(mut decoder) = gif::DecodeOptions::new().read_info(self.gif.as_slice()) else { return 0 };
        let mut n = 0;
        while let Ok(Some(_)) = decoder.next_frame_info() {
            n += 1;
        }
        n
    }

    /// The animation with `alt` as its description.
    #[must_use]
    pub fn with_alt(mut self, alt: impl Into<String>) -> Self {
        self.alt = alt.into();
        self
    }

    /// The animation as an HTML `<img>` with the GIF as a data URI, its size, description
    /// and smallest text (`data-font-px`, left out when not known).
    pub fn html(&self) -> String {
        img_tag("image/gif", &self.gif, (self.width, self.height), &self.alt, self.font_px)
    }

    /// The text that makes an evcxr cell show the animation: [`Animation::html`] as
    /// `text/html`. A plain `image/gif` output would show in Jupyter too, but nbconvert's
    /// slides drop it; the HTML image survives into the deck.
    pub fn evcxr_content(&self) -> String {
        mime_block("text/html", &self.html())
    }

    /// Shows the animation inline in an evcxr notebook cell.
    pub fn evcxr_display(&self) {
        print_block(&self.evcxr_content());
    }
}

/// Standard base64 with padding, as evcxr expects.
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// An HTML `<img>` of `bytes` (of type `mime`) as a data URI, shown at `size` (CSS
/// pixels), with `alt` (HTML-escaped) and, when finite, `data-font-px` (the smallest text,
/// in pixels of the image).
fn img_tag(mime: &str, bytes: &[u8], (width, height): (u32, u32), alt: &str, font_px: f64) -> String {
    let alt = alt.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
    let font = if font_px.is_finite() { format!(" data-font-px=\"{font_px}\"") } else { String::new() };
    format!("<img src=\"data:{mime};base64,{}\" width=\"{width}\" height=\"{height}\" alt=\"{alt}\"{font}/>", BASE64.encode(bytes))
}

/// An evcxr output block of `content` with MIME type `mime`.
fn mime_block(mime: &str, content: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT\n")
}

/// Prints `block` to stdout, ignoring a closed or failing stdout.
fn print_block(block: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(block.as_bytes());
    let _ = out.flush();
}

/// `stem` with `.ext` appended (not replacing an extension).
///
/// # Errors
/// [`PlotError::Shape`] if `stem` has no file name.
fn with_suffix(stem: &Path, ext: &str) -> Result<PathBuf, PlotError> {
    if stem.file_name().is_none() {
        return Err(PlotError::Shape(format!(
            "figure path stem {} has no file name",
            stem.display()
        )));
    }
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    Ok(PathBuf::from(s))
}

/// Encodes `width` x `height` RGB pixels as an 8-bit palette PNG at the best zlib level.
///
/// A drawing of up to 256 colours is stored exactly. A larger one (anti-aliased edges and
/// text blend colours: a scatter of 10,000 points has about 3,000) keeps its 256 most frequent
/// colours exactly, which cover about 98 % of the pixels, and every other pixel takes the nearest
/// of them ([`palettize`]). Against RGB at the default level this made the figures 3.5 to 7
/// times smaller (notebook 5's five 3-D panels: 716 kB to 106 kB) with no visible change.
///
/// # Errors
/// [`PlotError::Encode`] if the buffer is not `width * height * 3` bytes or the encoder fails.
pub(super) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    let enc_err = |e: png::EncodingError| PlotError::Encode(e.to_string());
    if rgb.len() != width as usize * height as usize * 3 {
        return Err(PlotError::Encode(format!("{} bytes for {width} x {height} RGB pixels", rgb.len())));
    }
    let (palette, indices) = palettize(rgb);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette.concat());
    enc.set_compression(png::Compression::Best);
    // Row filters predict byte values; on palette indices they only cost (PNG spec, 12.8).
    enc.set_filter(png::FilterType::NoFilter);
    let mut w = enc.write_header().map_err(enc_err)?;
    w.write_image_data(&indices).map_err(enc_err)?;
    w.finish().map_err(enc_err)?;
    Ok(out)
}

/// Most colours a PNG palette holds.
const PALETTE_SIZE: usize = 256;

/// RGB pixels as a palette and one index per pixel: the [`PALETTE_SIZE`] most frequent colours
/// (ties by colour value, so the result is deterministic), each other colour mapped to the
/// palette colour nearest in squared RGB distance.
fn palettize(rgb: &[u8]) -> (Vec<[u8; 3]>, Vec<u8>) {
    let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
    for px in rgb.chunks_exact(3) {
        *counts.entry([px[0], px[1], px[2]]).or_default() += 1;
    }
    let mut by_count: Vec<([u8; 3], usize)> = counts.into_iter().collect();
    by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_count.iter().take(PALETTE_SIZE).map(|&(c, _)| c).collect();
    let dist = |a: [u8; 3], b: [u8; 3]| -> i32 { (0..3).map(|k| (i32::from(a[k]) - i32::from(b[k])).pow(2)).sum() };
    let index: HashMap<[u8; 3], u8> = by_count
        .iter()
        .map(|&(c, _)| {
            let nearest = (0..palette.len()).min_by_key(|&i| dist(c, palette[i])).unwrap_or(0);
            (c, nearest as u8)
        })
        .collect();
    let indices = rgb.chunks_exact(3).map(|px| index[&[px[0], px[1], px[2]]]).collect();
    (palette, indices)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{clusters, scratch_dir};
    use super::super::{scatter, Embeddings, ScatterOptions};
    use super::*;

    #[test]
    fn save_writes_both_files_atomically() {
        let (v, l) = clusters(2, 10, 5);
        let fig = scatter(
            &Embeddings {
                dim: 2,
                values: &v,
                labels: &l,
                directions: &[],
            },
            &ScatterOptions::default(),
        )
        .unwrap();
        let dir = scratch_dir("save");
        let (svg, png) = fig.save(&dir.join("nested/epoch.3")).unwrap();
        assert_eq!(svg, dir.join("nested/epoch.3.svg"));
        assert_eq!(png, dir.join("nested/epoch.3.png"));
        assert_eq!(fs::read_to_string(&svg).unwrap(), fig.svg);
        assert_eq!(fs::read(&png).unwrap(), fig.png_2x);
        // Overwriting works too.
        fig.save(&dir.join("nested/epoch.3")).unwrap();
        let names: Vec<String> = fs::read_dir(dir.join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "leftover files: {names:?}");
        assert!(names.iter().all(|n| !n.contains("tmp")));
        assert!(matches!(fig.save(Path::new("")), Err(PlotError::Shape(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Decodes a PNG to RGB bytes (palette expanded).
    fn decode_rgb(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).unwrap().to_rgb8();
        (img.width(), img.height(), img.into_raw())
    }

    #[test]
    fn few_colours_are_stored_exactly() {
        // 3 x 2 pixels, 4 colours, one repeated: a palette PNG that decodes to the same bytes.
        let rgb: Vec<u8> = [[255, 255, 255], [0, 0, 0], [230, 159, 0], [255, 255, 255], [86, 180, 233], [0, 0, 0]].concat();
        let png = encode_png(&rgb, 3, 2).unwrap();
        assert_eq!(decode_rgb(&png), (3, 2, rgb.clone()));
        assert!(matches!(encode_png(&rgb, 4, 2), Err(PlotError::Encode(m)) if m.contains("18 bytes for 4 x 2")));
        // A real figure has few colours but many pixels: far smaller than 3 bytes a pixel.
        let (v, l) = clusters(2, 200, 10);
        let fig = scatter(&Embeddings { dim: 2, values: &v, labels: &l, directions: &[] }, &ScatterOptions::default()).unwrap();
        let (w, h, px) = decode_rgb(&fig.png_2x);
        assert_eq!((w, h), (fig.width * 2, fig.height * 2));
        assert!(fig.png_2x.len() * 20 < px.len(), "{} bytes for {} pixels", fig.png_2x.len(), px.len() / 3);
    }

    #[test]
    fn beyond_256_colours_the_rare_ones_take_the_nearest_frequent_one() {
        // 256 frequent colours (each 3 pixels, on a coarse grid) and 300 rare ones (1 pixel).
        let frequent: Vec<[u8; 3]> = (0..256u32).map(|i| [(i % 16 * 17) as u8, (i / 16 * 17) as u8, 100]).collect();
        let rare: Vec<[u8; 3]> = (0..300u32).map(|i| [(i % 20 * 13 + 3) as u8, (i / 20 * 17 + 5) as u8, 104]).collect();
        let mut pixels: Vec<[u8; 3]> = frequent.iter().flat_map(|&c| [c; 3]).collect();
        pixels.extend(&rare);
        pixels.resize(1600, [0, 0, 100]); // 40 x 40; [0, 0, 100] is frequent colour 0
        let (palette, idx) = palettize(&pixels.concat());
        assert_eq!(palette.len(), 256);
        let mut sorted = palette.clone();
        sorted.sort_unstable();
        let mut want = frequent.clone();
        want.sort_unstable();
        assert_eq!(sorted, want, "the palette is the frequent colours");
        let d = |a: [u8; 3], b: [u8; 3]| (0..3).map(|k| (i32::from(a[k]) - i32::from(b[k])).pow(2)).sum::<i32>();
        for (px, &i) in pixels.iter().zip(&idx) {
            let best = frequent.iter().map(|&c| d(*px, c)).min().unwrap();
            assert_eq!(d(*px, palette[usize::from(i)]), best, "pixel {px:?} got {:?}", palette[usize::from(i)]);
        }
        let (_, _, back) = decode_rgb(&encode_png(&pixels.concat(), 40, 40).unwrap());
        for (k, px) in pixels.iter().enumerate() {
            if frequent.contains(px) {
                assert_eq!(&back[3 * k..3 * k + 3], px, "frequent colours stay exact");
            }
        }
    }

    #[test]
    fn evcxr_format() {
        let fig = Figure {
            svg: "<svg>x</svg>\n".into(),
            png: b"PNG!".to_vec(),
            png_2x: b"PNG 2x".to_vec(),
            width: 1,
            height: 1,
            font_px: 14.0,
            alt: "a \"quoted\" <figure>".into(),
        };
        assert_eq!(
            fig.evcxr_png_content(),
            "EVCXR_BEGIN_CONTENT image/png\nUE5HIQ==\nEVCXR_END_CONTENT\n"
        );
        assert_eq!(
            fig.evcxr_content(),
            "EVCXR_BEGIN_CONTENT text/html\n<img src=\"data:image/png;base64,UE5HIDJ4\" width=\"1\" height=\"1\" alt=\"a &quot;quoted&quot; &lt;figure&gt;\" data-font-px=\"28\"/>\nEVCXR_END_CONTENT\n"
        );
        assert_eq!(
            fig.evcxr_svg_content(),
            "EVCXR_BEGIN_CONTENT image/svg+xml\n<svg>x</svg>\nEVCXR_END_CONTENT\n"
        );
        let anim = Animation::from_gif(b"GIF89a\x02\x01\x03\x00".to_vec(), f64::NAN, "moving dots").unwrap();
        assert_eq!((anim.width, anim.height), (258, 3));
        assert_eq!(anim.evcxr_content(), "EVCXR_BEGIN_CONTENT text/html\n<img src=\"data:image/gif;base64,R0lGODlhAgEDAA==\" width=\"258\" height=\"3\" alt=\"moving dots\"/>\nEVCXR_END_CONTENT\n");
        assert!(Animation::from_gif(b"PNG".to_vec(), 1.0, "").is_err());
    }
}
