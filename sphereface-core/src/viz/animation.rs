//! Animated GIFs of scatter plots ([`scatter_gif`]).

use std::fs;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::points::{limits, prepare, Cloud};
use super::scatter::{check_view, ScatterPlan};
use super::style::{check_size, draw_err, ensure_font, io_err, write_atomic};
use super::{Embeddings, Paint, PlotError, ScatterOptions};

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
/// # Errors
/// [`PlotError::Empty`] for no frames or a frame without finite points,
/// [`PlotError::Shape`] as for [`scatter`] (also when the frames mix dimensions),
/// [`PlotError::Io`] if the file cannot be written, [`PlotError::Drawing`] or
/// [`PlotError::Font`] if rendering or GIF encoding fails.
///
/// [`scatter`]: fn@super::scatter
pub fn scatter_gif(
    frames: &[(Embeddings<'_>, String)],
    opts: &ScatterOptions,
    delay_ms: u32,
    path: &Path,
) -> Result<(), PlotError> {
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

    // plotters' GIF encoder writes to a path: render into a scratch file beside the target,
    // then put the bytes in place with the crate's one atomic write.
    let name = path.file_name().ok_or_else(|| PlotError::Shape(format!("output path {} has no file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let tmp = dir.join(format!(".{}.frames-{}", name.to_string_lossy(), std::process::id()));
    // plotters rounds to 1/100 s and stores it in 16 bits.
    let delay = delay_ms.min(655_000);
    let result = (|| -> Result<Vec<u8>, PlotError> {
        let backend =
            BitMapBackend::gif(&tmp, (opts.width, opts.height), delay).map_err(draw_err)?;
        let root = backend.into_drawing_area();
        for (cloud, (_, title)) in clouds.iter().zip(frames) {
            let plan = ScatterPlan {
                cloud,
                dim,
                title: frame_title(&opts.title, title),
                normalize: opts.normalize,
                yaw: opts.yaw,
                pitch: opts.pitch,
                lims,
            };
            plan.paint(&root)?;
            root.present().map_err(draw_err)?;
        }
        drop(root);
        fs::read(&tmp).map_err(io_err(&tmp))
    })();
    let _ = fs::remove_file(&tmp);
    write_atomic(path, &result?)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{clusters, scratch_dir};
    use super::*;

    #[test]
    fn gif_has_frames() {
        let dir = scratch_dir("gif");
        let path = dir.join("anim.gif");
        let data: Vec<(Vec<f32>, Vec<u8>)> = (0..3).map(|s| clusters(2, 15, 10 + s)).collect();
        let frames: Vec<(Embeddings, String)> = data
            .iter()
            .enumerate()
            .map(|(i, (v, l))| {
                (
                    Embeddings {
                        dim: 2,
                        values: v,
                        labels: l,
                    },
                    format!("epoch {i}"),
                )
            })
            .collect();
        let opts = ScatterOptions {
            width: 320,
            height: 260,
            title: "features".into(),
            ..Default::default()
        };
        scatter_gif(&frames, &opts, 400, &path).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..6], b"GIF89a");
        let mut decoder = gif::DecodeOptions::new()
            .read_info(bytes.as_slice())
            .unwrap();
        let mut count = 0;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!(frame.delay, 40);
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
}
