//! Random and mutated bytes never make the parsers panic.

use proptest::prelude::*;

use super::*;
use crate::data::idx::gunzip;

/// A valid file and a mutation of it: truncation, byte flips or appended bytes.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        0..3u8,
        0..=len,
        prop::collection::vec((0..len.max(1), any::<u8>()), 1..8),
        prop::collection::vec(any::<u8>(), 1..16),
    )
        .prop_map(move |(mode, cut, flips, extra)| {
            let mut v = valid.clone();
            match mode {
                0 => v.truncate(cut),
                1 => {
                    for (i, x) in flips {
                        if let Some(b) = v.get_mut(i) {
                            *b ^= x;
                        }
                    }
                }
                _ => v.extend(extra),
            }
            v
        })
}

proptest! {
    #[test]
    fn parse_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = parse_images(&bytes, &p("r"));
        let _ = parse_labels(&bytes, &p("r"));
        let _ = gunzip(&bytes, &p("r.gz"), 1 << 16);
    }

    #[test]
    fn parse_idx_headers_never_panic(
        magic in prop_oneof![Just(IMAGES_MAGIC), Just(LABELS_MAGIC), any::<u32>()],
        fields in prop::collection::vec(any::<u32>(), 0..4),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut b = magic.to_be_bytes().to_vec();
        for f in fields { b.extend_from_slice(&f.to_be_bytes()); }
        b.extend(tail);
        let _ = parse_images(&b, &p("h"));
        let _ = parse_labels(&b, &p("h"));
    }

    #[test]
    fn mutated_images_never_panic(bytes in mutated(images_file(3))) {
        if let Ok((n, px)) = parse_images(&bytes, &p("m")) {
            prop_assert_eq!(px.len(), n * IMAGE_PIXELS);
        }
    }

    #[test]
    fn mutated_labels_never_panic(bytes in mutated(labels_file(20))) {
        if let Ok(l) = parse_labels(&bytes, &p("m")) {
            prop_assert!(l.iter().all(|&x| x < 10));
        }
    }

    #[test]
    fn mutated_gz_never_panics(
        which in any::<bool>(),
        bytes in mutated(gz(&images_file(2))),
    ) {
        if let Ok(raw) = gunzip(&bytes, &p("m.gz"), 1 << 16) {
            if which {
                let _ = parse_images(&raw, &p("m.gz"));
            } else {
                let _ = parse_labels(&raw, &p("m.gz"));
            }
        }
    }

    #[test]
    fn valid_files_round_trip(k in 0usize..6, labels in prop::collection::vec(0u8..10, 0..50)) {
        let (n, px) = parse_images(&images_file(k), &p("v")).unwrap();
        prop_assert_eq!(n, k);
        prop_assert_eq!(px, expected_split(k, 0).images);
        prop_assert_eq!(parse_labels(&labels_file_from(&labels), &p("v")).unwrap(), labels);
    }
}
