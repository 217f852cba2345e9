//! Test data and checks shared by the unit tests of the `viz` modules.

use std::fs;
use std::path::PathBuf;

use super::Figure;

pub(super) const PNG_SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Deterministic pseudo-random numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.next().max(1e-12);
        let u2 = self.next();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Ten elongated clusters radiating from the origin, like softmax features.
pub(super) fn clusters(dim: usize, per_class: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Lcg(seed);
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for i in 0..per_class * 10 {
        let d = (i % 10) as u8;
        let a = f64::from(d) / 10.0 * std::f64::consts::TAU + 0.2;
        let dir = if dim == 2 {
            [a.cos(), a.sin(), 0.0]
        } else {
            let b = (f64::from(d) - 4.5) / 5.0;
            [a.cos() * b.cos(), b.sin() * 1.3, a.sin() * b.cos()]
        };
        let r = 2.0 + 10.0 * rng.next();
        for dv in dir.iter().take(dim) {
            values.push((dv * r + 0.075 * r * rng.normal()) as f32);
        }
        labels.push(d);
    }
    (values, labels)
}

/// GIF frames of 2-D embeddings, one per `(values, labels)`, titled `title(i)`.
pub(super) fn frames_2d(data: &[(Vec<f32>, Vec<u8>)], title: impl Fn(usize) -> String) -> Vec<(super::Embeddings<'_>, String)> {
    data.iter()
        .enumerate()
        .map(|(i, (values, labels))| (super::Embeddings { dim: 2, values, labels, directions: &[] }, title(i)))
        .collect()
}

pub(super) fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], &PNG_SIG);
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("decodable PNG");
    (img.width(), img.height())
}

pub(super) fn check_figure(fig: &Figure, w: u32, h: u32) {
    assert!(fig.svg.contains("<svg"));
    // Legend entries are the left-anchored texts (tick labels are centred or right-aligned).
    let legend: Vec<&str> = fig
        .svg
        .split("<text")
        .filter(|t| t.contains("text-anchor=\"start\""))
        .filter_map(|t| {
            t.split_once('>')
                .and_then(|(_, rest)| rest.split_once("</text>"))
        })
        .map(|(content, _)| content.trim())
        .collect();
    for d in 0..10 {
        assert!(
            legend.contains(&d.to_string().as_str()),
            "legend label {d} missing: {legend:?}"
        );
    }
    assert_eq!(png_size(&fig.png), (w, h));
    assert_eq!((fig.width, fig.height), (w, h));
}

pub(super) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plot-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// The texts of an SVG document (trimmed) with their x coordinates.
pub(super) fn svg_texts(svg: &str) -> Vec<(f64, String)> {
    svg_texts_at(svg).into_iter().map(|(x, _, s)| (x, s)).collect()
}

/// Every text of an SVG with its x and y position.
pub(super) fn svg_texts_at(svg: &str) -> Vec<(f64, f64, String)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let x = t.split_once("x=\"")?.1.split_once('"')?.0.parse().ok()?;
            let y = t.split_once("y=\"")?.1.split_once('"')?.0.parse().ok()?;
            let content = t.split_once('>')?.1.split_once("</text>")?.0.trim();
            Some((x, y, content.to_string()))
        })
        .collect()
}
