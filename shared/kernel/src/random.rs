//! Chance is injected: production draws use a CSPRNG, tests a seeded generator so that
//! every draw can be replayed.

use std::sync::Mutex;

use rand::{RngExt, SeedableRng, rngs::StdRng};

/// A uniform random source.
pub trait RandomSource: Send + Sync + std::fmt::Debug {
    /// A uniformly distributed integer in `0..upper` (no modulo bias). `upper` must be > 0.
    fn below(&self, upper: u32) -> u32;
}

/// The production source: the thread-local CSPRNG of `rand` (ChaCha12, seeded and
/// periodically reseeded from the operating system).
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadRandom;

impl RandomSource for ThreadRandom {
    #[expect(clippy::disallowed_methods, reason = "the one production adapter of RandomSource")]
    fn below(&self, upper: u32) -> u32 {
        rand::rng().random_range(0..upper)
    }
}

/// A deterministic source for tests and benchmarks (StdRng from a fixed seed).
#[derive(Debug)]
pub struct SeededRandom(Mutex<StdRng>);

impl SeededRandom {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl RandomSource for SeededRandom {
    fn below(&self, upper: u32) -> u32 {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).random_range(0..upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sources_replay() {
        let (a, b) = (SeededRandom::new(7), SeededRandom::new(7));
        let xs: Vec<u32> = (0..100).map(|_| a.below(1000)).collect();
        let ys: Vec<u32> = (0..100).map(|_| b.below(1000)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 1000));
    }

    #[test]
    fn thread_random_stays_in_range_and_covers_it() {
        let mut seen = [false; 4];
        for _ in 0..1000 {
            seen[ThreadRandom.below(4) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
