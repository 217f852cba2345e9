//! The order of the training images: a seeded permutation per pass, batch `step` a pure
//! function of (n, batch, seed, step), so a resumed run sees exactly the same batches.

use std::sync::Mutex;

use rand::seq::SliceRandom;

use super::DataError;
use crate::rng::{stream, Stream};

/// Deterministic, resumable batch order: every pass over n items is a fresh seeded permutation; each pass gives floor(n / batch) full batches (the tail is dropped); batch number `step` (0-based, counting across passes) is a pure function of (n, batch, seed, step), so a resumed run sees exactly the same batches.
///
/// Pass `p` is the Fisher-Yates shuffle ([`SliceRandom::shuffle`]) of `0..n` driven by
/// [`stream`]`(seed, `[`Stream::Batches`]`, p)`; batch `step` is slice
/// `step % batches_per_pass` of pass `step / batches_per_pass`. (`StdRng` is stable within
/// rand 0.8, so the order is reproducible as long as that dependency is.) The permutation of
/// the most recent pass is cached, so consecutive steps cost O(batch).
#[derive(Debug)]
pub struct Sampler {
    /// Number of items.
    n: usize,
    /// Batch size, `1..=n`.
    batch: usize,
    /// Base seed.
    seed: u64,
    /// The last pass computed and its permutation.
    cache: Mutex<Option<(u64, Vec<usize>)>>,
}

impl Clone for Sampler {
    fn clone(&self) -> Sampler {
        Sampler {
            n: self.n,
            batch: self.batch,
            seed: self.seed,
            cache: Mutex::new(None),
        }
    }
}

impl Sampler {
    /// Creates a sampler over items `0..n` with batches of `batch` items.
    ///
    /// # Errors
    ///
    /// [`DataError::BadSampler`] if `batch == 0` or `batch > n`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Result<Sampler, DataError> {
        if batch == 0 || batch > n {
            return Err(DataError::BadSampler { n, batch });
        }
        Ok(Sampler {
            n,
            batch,
            seed,
            cache: Mutex::new(None),
        })
    }

    /// Number of full batches in one pass, `floor(n / batch)` (at least 1).
    pub fn batches_per_pass(&self) -> usize {
        self.n / self.batch
    }

    /// The permutation of `0..n` used for pass `pass`.
    pub fn permutation(&self, pass: u64) -> Vec<usize> {
        let mut rng = stream(self.seed, Stream::Batches, pass);
        let mut perm: Vec<usize> = (0..self.n).collect();
        perm.shuffle(&mut rng);
        perm
    }

    /// The item indices of batch number `step` (0-based, counting across passes).
    pub fn indices(&self, step: u64) -> Vec<usize> {
        // batches_per_pass() >= 1 because 1 <= batch <= n.
        let per_pass = self.batches_per_pass().max(1) as u64;
        let pass = step / per_pass;
        // k < per_pass, which came from a usize.
        let k = (step % per_pass) as usize;
        let start = k * self.batch;
        let end = start + self.batch;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.as_ref() {
            Some((p, _)) if *p == pass => {}
            _ => *cache = Some((pass, self.permutation(pass))),
        }
        cache
            .as_ref()
            .and_then(|(_, perm)| perm.get(start..end))
            .map(<[usize]>::to_vec)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::data::tests::assert_mentions;

    #[test]
    fn sampler_passes_are_permutations() {
        let s = Sampler::new(10, 3, 42).unwrap();
        assert_eq!(s.batches_per_pass(), 3);
        let mut passes = Vec::new();
        for pass in 0..4u64 {
            let mut seen = Vec::new();
            for k in 0..3 {
                let b = s.indices(pass * 3 + k);
                assert_eq!(b.len(), 3);
                seen.extend(b);
            }
            let set: HashSet<usize> = seen.iter().copied().collect();
            assert_eq!(set.len(), 9, "no repeats within a pass");
            assert!(seen.iter().all(|&i| i < 10));
            let perm = s.permutation(pass);
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            assert_eq!(seen, perm[..9]);
            passes.push(perm);
        }
        assert!(
            passes.windows(2).any(|w| w[0] != w[1]),
            "passes are reshuffled"
        );
    }

    #[test]
    fn sampler_deterministic_and_seeded() {
        let a = Sampler::new(1000, 32, 7).unwrap();
        let b = Sampler::new(1000, 32, 7).unwrap();
        let c = Sampler::new(1000, 32, 8).unwrap();
        let steps: Vec<u64> = (0..70).collect();
        let xa: Vec<_> = steps.iter().map(|&t| a.indices(t)).collect();
        let xb: Vec<_> = steps.iter().map(|&t| b.indices(t)).collect();
        let xc: Vec<_> = steps.iter().map(|&t| c.indices(t)).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa[0], xa[31], "pass 0 and pass 1 start differently");
    }

    #[test]
    fn sampler_resume() {
        let warm = Sampler::new(50, 8, 3).unwrap();
        let all: Vec<_> = (0..40u64).map(|t| warm.indices(t)).collect();
        for t in [0u64, 5, 6, 7, 13, 39] {
            let fresh = Sampler::new(50, 8, 3).unwrap();
            assert_eq!(fresh.indices(t), all[t as usize], "step {t}");
            assert_eq!(fresh.clone().indices(t), all[t as usize]);
        }
        // Out-of-order access gives the same batches too.
        assert_eq!(warm.indices(2), all[2]);
        assert_eq!(warm.indices(30), all[30]);
        assert_eq!(warm.indices(1), all[1]);
        // Huge step numbers work.
        assert_eq!(warm.indices(u64::MAX).len(), 8);
    }

    #[test]
    fn sampler_errors() {
        for (n, batch) in [(5, 6), (5, 0), (0, 1), (0, 0)] {
            let e = Sampler::new(n, batch, 1).unwrap_err();
            assert!(matches!(e, DataError::BadSampler { .. }), "{e:?}");
            assert_mentions(
                &e.to_string(),
                &[&format!("batch size {batch}"), &format!("items ({n})")],
            );
        }
        let s = Sampler::new(5, 5, 1).unwrap();
        assert_eq!(s.batches_per_pass(), 1);
    }

    proptest! {
        #[test]
        fn sampler_batches_in_range(n in 1usize..200, batch in 1usize..50, seed: u64, step in 0u64..1000) {
            prop_assume!(batch <= n);
            let s = Sampler::new(n, batch, seed).unwrap();
            let b = s.indices(step);
            prop_assert_eq!(b.len(), batch);
            prop_assert!(b.iter().all(|&i| i < n));
            let set: HashSet<usize> = b.iter().copied().collect();
            prop_assert_eq!(set.len(), batch);
        }
    }
}
