//! The digits an open-set run trains on ([`KnownDigits`]) and the splits cut to them
//! ([`Split::known_only`]).
//!
//! ```text
//! known = [k_0, …, k_{K−1}]     2 ≤ K ≤ 9 distinct digits, in the order given
//! class(k_j) = j                 the head has K classes; class j is digit k_j
//! unknown = {0..9} \ known       never trained on, never used to choose a setting
//! ```
//! The order is kept as given, as the open-set benchmark's code does (`known.index(label)`
//! in the ARPL and Vaze et al. repositories), so `--known 2,4,5,9,8,3` gives digit 2 class 0.

use serde::{Deserialize, Serialize};

use super::Split;
use crate::{OpenSetError, NUM_CLASSES};

/// The digits a run trains on: 2 to 9 distinct digits (at least one left unknown), in the
/// order given; class `j` of the head is digit `digits()[j]`. Saved in `config.json` as a
/// list (`"known": [2, 4, 5, 9, 8, 3]`) and checked again when read back.
///
/// # Examples
/// ```
/// use sphereface_core::data::KnownDigits;
/// let known: KnownDigits = "2,4,5,9,8,3".parse()?;
/// assert_eq!(known.class_of(9), Some(3));
/// assert_eq!(known.unknown(), vec![0, 1, 6, 7]);
/// assert!("2,2".parse::<KnownDigits>().is_err());
/// # Ok::<(), sphereface_core::OpenSetError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<i64>", into = "Vec<u8>")]
pub struct KnownDigits(Vec<u8>);

impl KnownDigits {
    /// The known digits after checking them.
    ///
    /// # Errors
    /// [`OpenSetError::KnownOutOfRange`] for a value outside 0–9,
    /// [`OpenSetError::KnownRepeated`] for a digit given twice, [`OpenSetError::KnownTooFew`]
    /// for fewer than two, [`OpenSetError::KnownAll`] for all ten.
    pub fn new(digits: &[i64]) -> Result<Self, OpenSetError> {
        let mut seen = [false; NUM_CLASSES];
        let mut out = Vec::with_capacity(digits.len());
        for &d in digits {
            let digit = u8::try_from(d).ok().filter(|&v| usize::from(v) < NUM_CLASSES).ok_or(OpenSetError::KnownOutOfRange { digit: d })?;
            if std::mem::replace(&mut seen[usize::from(digit)], true) {
                return Err(OpenSetError::KnownRepeated { digit });
            }
            out.push(digit);
        }
        if out.len() < 2 {
            return Err(OpenSetError::KnownTooFew { count: out.len() });
        }
        if out.len() == NUM_CLASSES {
            return Err(OpenSetError::KnownAll);
        }
        Ok(KnownDigits(out))
    }

    /// The known digits, class order.
    pub fn digits(&self) -> &[u8] {
        &self.0
    }

    /// Number of known digits K (the head's classes).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (at least two digits are known); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The class of `digit`, `None` for an unknown one.
    pub fn class_of(&self, digit: u8) -> Option<usize> {
        self.0.iter().position(|&d| d == digit)
    }

    /// Whether `digit` is known.
    pub fn contains(&self, digit: u8) -> bool {
        self.0.contains(&digit)
    }

    /// The digits left out, ascending.
    pub fn unknown(&self) -> Vec<u8> {
        (0..NUM_CLASSES as u8).filter(|d| !self.contains(*d)).collect()
    }

    /// `2,4,5,9,8,3`: the form `--known` takes.
    pub fn to_arg(&self) -> String {
        self.0.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
    }
}

impl std::str::FromStr for KnownDigits {
    type Err = OpenSetError;

    /// Parses `2,4,5,9,8,3` (spaces around the commas allowed).
    fn from_str(s: &str) -> Result<Self, OpenSetError> {
        let not_digits = || OpenSetError::KnownNotDigits { text: s.to_string() };
        let values: Vec<i64> = s.split(',').map(|t| t.trim().parse::<i64>().map_err(|_| not_digits())).collect::<Result<_, _>>()?;
        KnownDigits::new(&values)
    }
}

impl TryFrom<Vec<i64>> for KnownDigits {
    type Error = OpenSetError;
    fn try_from(v: Vec<i64>) -> Result<Self, OpenSetError> {
        KnownDigits::new(&v)
    }
}

impl From<KnownDigits> for Vec<u8> {
    fn from(k: KnownDigits) -> Vec<u8> {
        k.0
    }
}

impl std::fmt::Display for KnownDigits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_arg())
    }
}

impl Split {
    /// The images of known digits, in their order, labelled by class
    /// ([`KnownDigits::class_of`]): what an open-set run trains, validates and is
    /// closed-set tested on.
    pub fn known_only(&self, known: &KnownDigits) -> Split {
        let idx: Vec<usize> = (0..self.len()).filter(|&i| known.contains(self.labels[i])).collect();
        let mut s = self.subset(&idx);
        for l in &mut s.labels {
            // Every label here is known, so class_of finds it.
            *l = known.class_of(*l).map_or(*l, |c| c as u8);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_list_is_its_own_error() {
        let parse = |s: &str| s.parse::<KnownDigits>();
        assert_eq!(parse("2,4,2"), Err(OpenSetError::KnownRepeated { digit: 2 }));
        assert_eq!(parse("2,10"), Err(OpenSetError::KnownOutOfRange { digit: 10 }));
        assert_eq!(parse("-1,3"), Err(OpenSetError::KnownOutOfRange { digit: -1 }));
        assert_eq!(parse("7"), Err(OpenSetError::KnownTooFew { count: 1 }));
        assert_eq!(parse("0,1,2,3,4,5,6,7,8,9"), Err(OpenSetError::KnownAll));
        assert!(matches!(parse("2;4"), Err(OpenSetError::KnownNotDigits { .. })));
        assert!(matches!(parse(""), Err(OpenSetError::KnownNotDigits { .. })));
        let k = parse(" 2, 4,5,9,8,3").unwrap();
        assert_eq!(k.digits(), [2, 4, 5, 9, 8, 3]);
        assert_eq!(k.to_string(), "2,4,5,9,8,3");
        assert_eq!(parse("0,1,2,3,4,5,6,7,8").unwrap().unknown(), [9]);
    }

    #[test]
    fn json_round_trip_checks_again() {
        let k: KnownDigits = "3,2,6,9,4,0".parse().unwrap();
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(text, "[3,2,6,9,4,0]");
        assert_eq!(serde_json::from_str::<KnownDigits>(&text).unwrap(), k);
        let err = serde_json::from_str::<KnownDigits>("[3,3]").unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    /// Only known digits remain, in their order, relabelled by class.
    #[test]
    fn known_only_keeps_order_and_relabels() {
        let labels = vec![0u8, 9, 4, 2, 9, 7];
        let images: Vec<u8> = labels.iter().enumerate().flat_map(|(i, _)| std::iter::repeat_n(i as u8, crate::IMAGE_PIXELS)).collect();
        let split = Split::new(images, labels).unwrap();
        let k: KnownDigits = "2,4,9".parse().unwrap();
        let s = split.known_only(&k);
        assert_eq!(s.labels, [2, 1, 0, 2], "9 -> class 2, 4 -> 1, 2 -> 0");
        let firsts: Vec<u8> = (0..s.len()).map(|i| s.image(i)[0]).collect();
        assert_eq!(firsts, [1, 2, 3, 4], "images 1..4 of the original, in order");
    }
}
