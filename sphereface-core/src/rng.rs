//! Every random number of a run comes from a stream named by its purpose and derived from
//! the run's seed and an index (the step, or the pass over the data), here and nowhere else.
//! A stream is a pure function of (seed, purpose, index), so a resumed run draws exactly what
//! an uninterrupted one would, and two purposes never share draws by accident.
//!
//! ```text
//! stream(seed, purpose, index) = StdRng::seed_from_u64(seed ^ salt(purpose) ^ index · mul(purpose))
//! ```
//! The salts and multipliers are the ones the committed results were made with: changing one
//! changes every run that uses the purpose.

use rand::SeedableRng;

/// Random number generator used for every initialisation, shuffle and augmentation (seeded,
/// portable: `StdRng` is stable within rand 0.8).
pub type Rng = rand::rngs::StdRng;

/// What a random stream is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The initial weights of network and head (index 0).
    Init,
    /// The order of the training images: index = pass over the training split. (Pass 0
    /// starts from the same state as [`Stream::Init`]; the committed runs were made so.)
    Batches,
    /// The augmentation's angle, scale and offset draws: index = step.
    Affine,
    /// The augmentation's elastic displacement fields: index = step.
    Elastic,
    /// The dropout masks: index = step.
    Dropout,
}

/// 2⁶⁴ divided by the golden ratio: consecutive indices land far apart.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Stream {
    /// (salt, multiplier) of the purpose.
    const fn constants(self) -> (u64, u64) {
        match self {
            Stream::Init => (0, 0),
            Stream::Batches => (0, GOLDEN),
            Stream::Affine => (0x3C6E_F372_FE94_F82B, GOLDEN),
            Stream::Elastic => (0x510E_527F_ADE6_82D1, 0xBF58_476D_1CE4_E5B9),
            Stream::Dropout => (0x5EED_D0D0_0000_0001, GOLDEN),
        }
    }
}

/// The generator of `purpose` at `index` for a run seeded with `seed`.
pub fn stream(seed: u64, purpose: Stream, index: u64) -> Rng {
    let (salt, mul) = purpose.constants();
    Rng::seed_from_u64(seed ^ salt ^ index.wrapping_mul(mul))
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;

    use super::{stream, Stream};

    fn first(seed: u64, purpose: Stream, index: u64) -> u64 {
        stream(seed, purpose, index).gen()
    }

    #[test]
    fn streams_are_pure_and_distinct() {
        let all = [Stream::Init, Stream::Batches, Stream::Affine, Stream::Elastic, Stream::Dropout];
        for p in all {
            assert_eq!(first(7, p, 3), first(7, p, 3), "{p:?} is a function of its inputs");
            assert_ne!(first(7, p, 3), first(8, p, 3), "{p:?} depends on the seed");
        }
        for p in &all[1..] {
            assert_ne!(first(7, *p, 3), first(7, *p, 4), "{p:?} depends on the index");
        }
        let draws: std::collections::HashSet<u64> = all[1..].iter().map(|p| first(7, *p, 3)).collect();
        assert_eq!(draws.len(), 4, "the purposes draw different numbers at the same step");
    }
}
