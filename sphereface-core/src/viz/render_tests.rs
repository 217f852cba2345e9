//! Tests of [`render`](super::render) across figure kinds: the drawing of fixed inputs is
//! pinned (SVG and 1x PNG pixels), and the 2x PNG is the same picture at twice the size.

use sha2::{Digest, Sha256};

use super::test_util::clusters;
use super::*;

/// A few figures of fixed inputs, one of each kind, with a name.
fn fixed_figures() -> Vec<(&'static str, Figure)> {
    let (v2, l2) = clusters(2, 20, 41);
    let (v3, l3) = clusters(3, 20, 42);
    let e2 = Embeddings { dim: 2, values: &v2, labels: &l2, directions: &[] };
    let e3 = Embeddings { dim: 3, values: &v3, labels: &l3, directions: &[] };
    let titled = |t: &str| ScatterOptions { title: t.into(), width: 480, height: 400, ..Default::default() };
    let sphere = ScatterOptions { normalize: true, ..titled("on the sphere") };
    let series: Vec<Series> = (1..=3)
        .map(|k| Series {
            name: format!("series {k}"),
            xs: (0..40).map(f64::from).collect(),
            ys: (0..40).map(|i| f64::from(k) * (-f64::from(i) / 9.0).exp() + 0.01).collect(),
        })
        .collect();
    let log = LineOptions { title: "loss".into(), x_label: "step".into(), y_label: "loss".into(), log_y: true, ..Default::default() };
    let region = RegionPanel {
        title: "regions".into(),
        extent: 2.0,
        n: 8,
        cells: (0..64).map(|i| [Some(0), Some(1), None][i % 3]).collect(),
        weights: vec![[1.0, 0.5], [-0.5, 1.0]],
    };
    let titles = vec!["left".to_string(), "right".to_string()];
    vec![
        ("scatter 2-D", scatter(&e2, &titled("raw 2-D")).unwrap()),
        ("scatter sphere", scatter(&e3, &sphere).unwrap()),
        ("panels", scatter_panels(&[e2, e2], &titles, 2, &titled("")).unwrap()),
        ("lines", lines(&series, &log).unwrap()),
        ("regions", decision_regions(&[region], 1, 480, 400).unwrap()),
    ]
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// The decoded RGB pixels of a PNG.
fn pixels(png: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png).unwrap().to_rgb8()
}

/// The SVG and the 1x PNG's pixels of fixed inputs are pinned by their SHA-256: a change
/// of the drawing code that should not change the pictures (such as the 2x PNG) must keep
/// them. After an intended change of the pictures, look at them and update the digests
/// (the failure message lists the new ones).
#[test]
fn fixed_inputs_draw_the_same_svg_and_png() {
    let expected: [(&str, &str, &str); 5] = [
        ("scatter 2-D", "a42ab76dfd3cfdec", "cb9cbba3c4c1ae91"),
        ("scatter sphere", "71a02d37a300de9a", "e79e769f53f992e9"),
        ("panels", "2cbbe0861e451c23", "8d78e4da406c0a78"),
        ("lines", "356e49e5085c1b01", "85521f1e20e67c4c"),
        ("regions", "d274b02c4ab7a508", "0be13b5c0fb46398"),
    ];
    let got: Vec<(&str, String, String)> = fixed_figures()
        .into_iter()
        .map(|(name, fig)| (name, hex(fig.svg.as_bytes()), hex(pixels(&fig.png).as_raw())))
        .collect();
    let listing: String = got.iter().map(|(n, s, p)| format!("(\"{n}\", \"{s}\", \"{p}\"),\n")).collect();
    for ((name, svg, png), (n, s, p)) in expected.iter().zip(&got) {
        assert_eq!(name, n);
        assert!(svg == s && png == p, "{name}: the drawing changed; digests now:\n{listing}");
    }
}

/// Mean absolute difference per channel between the 1x pixels averaged over 4x4 blocks
/// and the 2x pixels averaged over 8x8 blocks: small when both show the same picture
/// (rasterisation details average out), large when sizes differ.
fn coarse_difference(one: &image::RgbImage, two: &image::RgbImage) -> f64 {
    let mean = |img: &image::RgbImage, b: u32, x: u32, y: u32, c: usize| -> f64 {
        let mut sum = 0.0;
        for dy in 0..b {
            for dx in 0..b {
                sum += f64::from(img.get_pixel(x * b + dx, y * b + dy).0[c]);
            }
        }
        sum / f64::from(b * b)
    };
    let (w, h) = (one.width() / 4, one.height() / 4);
    let mut sum = 0.0;
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                sum += (mean(one, 4, x, y, c) - mean(two, 8, x, y, c)).abs();
            }
        }
    }
    sum / f64::from(w * h * 3)
}

#[test]
fn png_2x_is_the_same_picture_at_twice_the_size() {
    for (name, fig) in fixed_figures() {
        let (one, two) = (pixels(&fig.png), pixels(&fig.png_2x));
        assert_eq!(one.dimensions(), (fig.width, fig.height), "{name}");
        assert_eq!(two.dimensions(), (2 * fig.width, 2 * fig.height), "{name}");
        let diff = coarse_difference(&one, &two);
        assert!(diff < 5.0, "{name}: the 2x PNG differs from the 1x one by {diff:.2} per channel");
    }
    // The measure sees a drawing twice as large with sizes not doubled.
    let (v, l) = clusters(2, 20, 41);
    let cloud = points::prepare(&Embeddings { dim: 2, values: &v, labels: &l, directions: &[] }, &ScatterOptions::default()).unwrap();
    let plan = scatter::ScatterPlan {
        cloud: &cloud,
        dim: 2,
        title: "raw 2-D".into(),
        normalize: false,
        yaw: 0.0,
        pitch: 0.0,
        lims: points::limits(&[&cloud], 2, false),
        other_label: "other".into(),
        text: 1.0,
        legend: true,
    };
    ensure_font().unwrap();
    let one = pixels(&raster(&plan, 480, 400, Scale::ONE).unwrap());
    let unscaled = pixels(&raster(&plan, 960, 800, Scale::ONE).unwrap());
    let diff = coarse_difference(&one, &unscaled);
    assert!(diff > 8.0, "unscaled 2x drawing only {diff:.2} off");
}

/// The height in pixels of the first band of dark rows from the top of an image (the ink
/// of a title), and the row where it starts.
fn first_text_band(img: &image::RgbImage) -> (u32, u32) {
    let dark = |y: u32| (0..img.width()).any(|x| img.get_pixel(x, y).0.iter().all(|&c| c < 110));
    let top = (0..img.height()).find(|&y| dark(y)).unwrap_or(0);
    let height = (top..img.height()).take_while(|&y| dark(y)).count() as u32;
    (top, height)
}

#[test]
fn text_is_twice_as_tall_in_the_2x_png() {
    let one = vec![Series { name: "a".into(), xs: vec![0.0, 1.0], ys: vec![0.0, 1.0] }];
    let fig = lines(&one, &LineOptions { title: "THE TITLE".into(), ..Default::default() }).unwrap();
    let (top1, h1) = first_text_band(&pixels(&fig.png));
    let (top2, h2) = first_text_band(&pixels(&fig.png_2x));
    assert!((14..=24).contains(&h1), "1x title {h1} pixels tall");
    let ratio = f64::from(h2) / f64::from(h1);
    assert!((1.85..=2.15).contains(&ratio), "title {h1} -> {h2} pixels tall");
    assert!(top2.abs_diff(2 * top1) <= 2, "title starts at {top1} and {top2}");
}

