//! The benchmark's five splits of known digits, as data: `data/openset/splits.json`, read
//! by [`Splits::load`], each split with the pairs file of its unknown digits.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::KnownDigits;
use crate::{Error, Result};

/// One split: the six known digits, and the pairs file of the four unknown ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkSplit {
    /// `split1` … `split5`.
    pub name: String,
    /// The known digits, class order.
    pub known: KnownDigits,
    /// The pairs file, relative to the splits file's directory.
    pub pairs: String,
    /// The seed the pairs file was drawn from ([`super::Pairs::generate`]).
    pub pairs_seed: u64,
}

/// The splits file: where the splits come from, and the splits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits {
    /// Where the splits come from.
    pub source: String,
    /// The splits, in the benchmark's order.
    pub splits: Vec<BenchmarkSplit>,
    /// The directory the file was read from (not in the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The splits file's name.
pub const SPLITS_FILE: &str = "splits.json";

impl Splits {
    /// `<CARGO_MANIFEST_DIR>/../data/openset`, the copy committed in the repository.
    pub fn default_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join("openset")
    }

    /// Reads `dir/splits.json`.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read, [`Error::Config`] if it is not a splits file
    /// (bad known digits included) or names a split twice.
    pub fn load(dir: &Path) -> Result<Splits> {
        let path = dir.join(SPLITS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let mut splits: Splits = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        for (i, s) in splits.splits.iter().enumerate() {
            if splits.splits[..i].iter().any(|t| t.name == s.name) {
                return Err(Error::Config(format!("{}: split {:?} is listed twice", path.display(), s.name)));
            }
        }
        splits.dir = dir.to_path_buf();
        Ok(splits)
    }

    /// The committed splits ([`Splits::default_dir`]).
    ///
    /// # Errors
    /// As [`Splits::load`].
    pub fn load_default() -> Result<Splits> {
        Splits::load(&Splits::default_dir())
    }

    /// The split named `name` (`split1`, or just `1`).
    ///
    /// # Errors
    /// [`Error::Config`] listing the names there are.
    pub fn get(&self, name: &str) -> Result<&BenchmarkSplit> {
        let want = if name.chars().all(|c| c.is_ascii_digit()) { format!("split{name}") } else { name.to_string() };
        self.splits.iter().find(|s| s.name == want).ok_or_else(|| {
            let names: Vec<&str> = self.splits.iter().map(|s| s.name.as_str()).collect();
            Error::Config(format!("no split {name:?} in {} (there are {})", self.dir.join(SPLITS_FILE).display(), names.join(", ")))
        })
    }

    /// The split whose known digits are `known` as a set (any order), if any.
    pub fn find(&self, known: &KnownDigits) -> Option<&BenchmarkSplit> {
        let mut want = known.digits().to_vec();
        want.sort_unstable();
        self.splits.iter().find(|s| {
            let mut have = s.known.digits().to_vec();
            have.sort_unstable();
            have == want
        })
    }

    /// The pairs file of `split`.
    pub fn pairs_path(&self, split: &BenchmarkSplit) -> PathBuf {
        self.dir.join(&split.pairs)
    }
}
