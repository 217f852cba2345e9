//! The verification pairs of unseen digits: a file like LFW's `pairs.txt`, drawn once from a
//! fixed seed ([`Pairs::generate`]) and committed (`data/openset/pairs-split*.txt`).
//!
//! ```text
//! 10<TAB>300                         folds, pairs of each kind per fold
//! 7<TAB>1045<TAB>2731                same digit: digit, test image i, test image j
//! ... (300 such lines)
//! 1<TAB>84<TAB>6<TAB>5120            different digits: digit, image i, digit, image j
//! ... (300 such lines), then the next fold
//! ```
//! Images are 0-based indices into the MNIST test file (`t10k-*`), which the file checks
//! itself against: every line names the digit of each image it uses.
//!
//! Drawing (`rand` 0.8's `StdRng`, seeded with the split's number): each unknown digit's
//! test images are shuffled and dealt into the folds in turn, so **no image is in two
//! folds**; in each fold, a same-digit pair picks a digit uniformly, then two different
//! images of it in that fold; a different-digit pair picks two different digits uniformly,
//! then an image of each; a pair drawn before (either order) is drawn again.

use std::collections::HashSet;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng as _, SeedableRng};

use crate::data::KnownDigits;
use crate::{Error, OpenSetError, Result, Rng};

/// Folds of LFW's protocol.
pub const FOLDS: usize = 10;
/// Same-digit (and different-digit) pairs per fold, as LFW's 300.
pub const PER_FOLD: usize = 300;

/// One pair of test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pair {
    /// Index of the first image in the test file, and its digit.
    pub a: (usize, u8),
    /// Index of the second image, and its digit.
    pub b: (usize, u8),
    /// 0-based fold.
    pub fold: usize,
}

impl Pair {
    /// Whether both images show the same digit.
    pub fn same(&self) -> bool {
        self.a.1 == self.b.1
    }
}

/// A pairs file: `folds` folds, each `per_fold` same-digit pairs then `per_fold`
/// different-digit pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    /// Number of folds.
    pub folds: usize,
    /// Pairs of each kind per fold.
    pub per_fold: usize,
    /// The pairs, fold by fold.
    pub pairs: Vec<Pair>,
}

impl Pairs {
    /// Draws `folds × per_fold` same-digit and as many different-digit pairs of the images
    /// (`labels`: one digit per image) of `digits` (for the benchmark: the split's unknown
    /// digits, [`KnownDigits::unknown`]), from `seed` (module docs).
    ///
    /// # Errors
    /// [`Error::Config`] for fewer than two digits or two folds, or when a fold cannot hold
    /// that many distinct pairs (too few images).
    pub fn generate(labels: &[u8], digits: &[u8], folds: usize, per_fold: usize, seed: u64) -> Result<Pairs> {
        let unknown = digits.to_vec();
        if unknown.len() < 2 || folds < 2 || per_fold == 0 {
            return Err(Error::Config(format!("pairs need two or more digits and folds and one pair per fold, got digits {unknown:?}, {folds} folds of {per_fold}")));
        }
        let test_labels = labels;
        let mut rng = Rng::seed_from_u64(seed);
        // by_fold[f][u]: the images of unknown digit u dealt to fold f.
        let mut by_fold = vec![vec![Vec::new(); unknown.len()]; folds];
        for (u, &digit) in unknown.iter().enumerate() {
            let mut images: Vec<usize> = (0..test_labels.len()).filter(|&i| test_labels[i] == digit).collect();
            images.shuffle(&mut rng);
            for (k, i) in images.into_iter().enumerate() {
                by_fold[k % folds][u].push(i);
            }
        }
        let mut seen = HashSet::new();
        let mut pairs = Vec::with_capacity(2 * folds * per_fold);
        for (fold, groups) in by_fold.iter().enumerate() {
            // A generous bound on the draws: running out means the fold is too small.
            let too_small = || Error::Config(format!("fold {fold} has too few images of the unknown digits {unknown:?} for {per_fold} distinct pairs of each kind"));
            for same in [true, false] {
                let mut drawn = 0;
                let mut attempts = 0usize;
                while drawn < per_fold {
                    attempts += 1;
                    if attempts > 1000 * per_fold {
                        return Err(too_small());
                    }
                    let u = rng.gen_range(0..unknown.len());
                    let v = if same {
                        u
                    } else {
                        // Another digit, uniformly among the rest.
                        let v = rng.gen_range(0..unknown.len() - 1);
                        if v >= u { v + 1 } else { v }
                    };
                    let (gu, gv) = (&groups[u], &groups[v]);
                    if gu.is_empty() || gv.is_empty() || (same && gu.len() < 2) {
                        continue;
                    }
                    let i = gu[rng.gen_range(0..gu.len())];
                    let j = gv[rng.gen_range(0..gv.len())];
                    if i == j || !seen.insert((i.min(j), i.max(j))) {
                        continue;
                    }
                    pairs.push(Pair { a: (i, unknown[u]), b: (j, unknown[v]), fold });
                    drawn += 1;
                }
            }
        }
        Ok(Pairs { folds, per_fold, pairs })
    }

    /// The file's text (module docs), `\n` line ends.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\t{}\n", self.folds, self.per_fold);
        for p in &self.pairs {
            if p.same() {
                s += &format!("{}\t{}\t{}\n", p.a.1, p.a.0, p.b.0);
            } else {
                s += &format!("{}\t{}\t{}\t{}\n", p.a.1, p.a.0, p.b.1, p.b.0);
            }
        }
        s
    }

    /// Parses a pairs file's text and checks it against the test labels: every index in
    /// range and showing the digit the line names, each fold's same-digit lines before its
    /// different-digit lines, exactly the announced number of pairs. `path` names the file
    /// in errors.
    ///
    /// # Errors
    /// [`OpenSetError::PairsTruncated`] when lines are missing,
    /// [`OpenSetError::PairsMalformed`] for a line that cannot be read or is of the wrong
    /// kind, [`OpenSetError::PairsMismatch`] for an image that shows another digit or an
    /// index past the test file, or lines beyond the announced pairs.
    pub fn parse(text: &str, test_labels: &[u8], path: &Path) -> Result<Pairs, OpenSetError> {
        let p = path.display().to_string();
        let malformed = |line: usize, reason: String| OpenSetError::PairsMalformed { path: p.clone(), line, reason };
        let mismatch = |line: usize, reason: String| OpenSetError::PairsMismatch { path: p.clone(), line, reason };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or_else(|| malformed(1, "empty file: expected a first line `folds<TAB>pairs per fold`, as LFW's `10\t300`".into()))?;
        let numbers: Vec<usize> = header.split_whitespace().filter_map(|t| t.parse().ok()).collect();
        let [folds, per_fold] = numbers[..] else {
            return Err(malformed(1, format!("first line {header:?} is not `folds<TAB>pairs per fold`")));
        };
        if folds < 2 || per_fold == 0 || header.split_whitespace().count() != 2 {
            return Err(malformed(1, format!("first line {header:?}: needs two or more folds and one or more pairs per fold")));
        }
        let expected = 2 * folds * per_fold;
        let mut pairs = Vec::with_capacity(expected);
        for (line, text) in lines {
            let k = pairs.len();
            if k == expected {
                return Err(mismatch(line, format!("more pairs than the {expected} the first line announces ({folds} folds of {per_fold})")));
            }
            let (fold, same) = (k / (2 * per_fold), k % (2 * per_fold) < per_fold);
            let fields: Vec<&str> = text.split_whitespace().collect();
            let want = if same { 3 } else { 4 };
            if fields.len() != want {
                let kind = if same { "a same-digit pair `digit i j`" } else { "a different-digit pair `digit i digit j`" };
                return Err(malformed(line, format!("expected {kind} (pair {} of fold {}), found {} fields", k % per_fold + 1, fold + 1, fields.len())));
            }
            let num = |t: &str| t.parse::<usize>().map_err(|_| malformed(line, format!("{t:?} is not a number")));
            let image = |digit: &str, index: &str| -> Result<(usize, u8), OpenSetError> {
                let (d, i) = (num(digit)?, num(index)?);
                match test_labels.get(i) {
                    None => Err(mismatch(line, format!("image {i} is past the test file's {} images", test_labels.len()))),
                    Some(&l) if usize::from(l) != d => Err(mismatch(line, format!("test image {i} is a {l}, the file says {d}"))),
                    Some(&l) => Ok((i, l)),
                }
            };
            let (a, b) = if same { (image(fields[0], fields[1])?, image(fields[0], fields[2])?) } else { (image(fields[0], fields[1])?, image(fields[2], fields[3])?) };
            if same && a.0 == b.0 {
                return Err(mismatch(line, format!("a same-digit pair of image {} with itself", a.0)));
            }
            if !same && a.1 == b.1 {
                return Err(mismatch(line, format!("a different-digit pair of two {}s", a.1)));
            }
            pairs.push(Pair { a, b, fold });
        }
        if pairs.len() < expected {
            return Err(OpenSetError::PairsTruncated { path: p, expected, folds, per_fold, found: pairs.len() });
        }
        Ok(Pairs { folds, per_fold, pairs })
    }

    /// Reads and checks a pairs file ([`Pairs::parse`]).
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; those of [`Pairs::parse`].
    pub fn read(path: &Path, test_labels: &[u8]) -> Result<Pairs> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(Pairs::parse(&text, test_labels, path)?)
    }

    /// Checks that no pair uses a digit `known` holds (the pairs must be of digits the run
    /// never saw).
    ///
    /// # Errors
    /// [`OpenSetError::PairsMismatch`] naming the first such pair (line numbers count the
    /// first line).
    pub fn check_unknown_to(&self, known: &KnownDigits, path: &Path) -> Result<(), OpenSetError> {
        match self.pairs.iter().position(|p| known.contains(p.a.1) || known.contains(p.b.1)) {
            None => Ok(()),
            Some(k) => {
                let p = self.pairs[k];
                let digit = if known.contains(p.a.1) { p.a.1 } else { p.b.1 };
                Err(OpenSetError::PairsMismatch {
                    path: path.display().to_string(),
                    line: k + 2,
                    reason: format!("digit {digit} is known to the run (trained on {known}); the pairs must be of its unknown digits {:?}", known.unknown()),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u8> {
        (0..400).map(|i| (i % 10) as u8).collect()
    }

    /// Drawn pairs are of unknown digits, distinct, image-disjoint across folds, and the
    /// text reads back to the same pairs.
    #[test]
    fn generate_and_read_back() {
        let known: KnownDigits = "2,4,5,9,8,3".parse().unwrap();
        let labels = labels();
        let pairs = Pairs::generate(&labels, &known.unknown(), 4, 10, 1).unwrap();
        assert_eq!(pairs.pairs.len(), 80);
        let mut fold_of = std::collections::HashMap::new();
        for p in &pairs.pairs {
            for (i, d) in [p.a, p.b] {
                assert_eq!(labels[i], d);
                assert!(!known.contains(d));
                assert_eq!(*fold_of.entry(i).or_insert(p.fold), p.fold, "image {i} in two folds");
            }
        }
        assert_eq!(pairs.pairs.iter().filter(|p| p.same()).count(), 40);
        let back = Pairs::parse(&pairs.to_text(), &labels, Path::new("p.txt")).unwrap();
        assert_eq!(back, pairs);
        assert!(back.check_unknown_to(&known, Path::new("p.txt")).is_ok());
        let other: KnownDigits = "0,1".parse().unwrap();
        let err = back.check_unknown_to(&other, Path::new("p.txt")).unwrap_err().to_string();
        assert!(err.contains("is known to the run"), "{err}");
        assert_eq!(Pairs::generate(&labels, &known.unknown(), 4, 10, 1).unwrap(), pairs, "a function of the seed");
        assert_ne!(Pairs::generate(&labels, &known.unknown(), 4, 10, 2).unwrap(), pairs);
        assert!(Pairs::generate(&labels, &[3], 4, 10, 1).is_err(), "one digit makes no different-digit pair");
        assert!(Pairs::generate(&labels, &[0, 1], 4, 100, 1).unwrap_err().to_string().contains("too few images"));
    }

    #[test]
    fn bad_files_are_named_errors() {
        let known: KnownDigits = "2,4,5,9,8,3".parse().unwrap();
        let labels = labels();
        let text = Pairs::generate(&labels, &known.unknown(), 2, 3, 1).unwrap().to_text();
        let path = Path::new("pairs.txt");
        let parse = |t: &str| Pairs::parse(t, &labels, path);
        let lines: Vec<&str> = text.lines().collect();
        let cut = lines[..9].join("\n");
        assert_eq!(parse(&cut), Err(OpenSetError::PairsTruncated { path: "pairs.txt".into(), expected: 12, folds: 2, per_fold: 3, found: 8 }));
        assert!(matches!(parse(""), Err(OpenSetError::PairsMalformed { line: 1, .. })));
        assert!(matches!(parse("10 x\n"), Err(OpenSetError::PairsMalformed { line: 1, .. })));
        let extra = format!("{text}1\t1\t7\t7\n");
        assert!(matches!(parse(&extra), Err(OpenSetError::PairsMismatch { line: 14, .. })));
        // A same-digit line where a different-digit one belongs, and a wrong digit.
        let mut swapped = lines.clone();
        swapped[4] = lines[1];
        assert!(matches!(parse(&swapped.join("\n")), Err(OpenSetError::PairsMalformed { line: 5, .. })));
        let first: Vec<&str> = lines[1].split('\t').collect();
        let wrong = format!("{}\n{}\t{}\t{}\n{}", lines[0], (first[0].parse::<u8>().unwrap() + 1) % 10, first[1], first[2], lines[2..].join("\n"));
        let err = parse(&wrong).unwrap_err();
        assert!(matches!(err, OpenSetError::PairsMismatch { line: 2, .. }) && err.to_string().contains("the file says"), "{err}");
        let past = text.replacen(&format!("\t{}\t", first[1]), "\t4000\t", 1);
        assert!(parse(&past).unwrap_err().to_string().contains("past the test file"));
    }
}
