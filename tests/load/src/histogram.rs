//! A log-linear latency histogram in the manner of HdrHistogram: exact below 256 µs, and
//! above it 128 sub-buckets per power of two, so any value is reported within 0.8 % of
//! what was recorded. Recording is one index computation and one increment; histograms of
//! the virtual users are merged at the end (no shared state while measuring).

/// Sub-bucket bits: values below `1 << SUB_BITS` are exact.
const SUB_BITS: u32 = 8;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;
/// Values are clamped here (2^40 µs ≈ 12.7 days): far beyond any call.
const MAX_VALUE: u64 = (1 << 40) - 1;

/// Latencies in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

fn index_of(value: u64) -> usize {
    let value = value.min(MAX_VALUE);
    if value < SUB {
        return usize::try_from(value).unwrap_or(usize::MAX);
    }
    let msb = value.ilog2();
    let shift = msb - SUB_BITS + 1;
    let mantissa = value >> shift; // in [HALF, SUB)
    usize::try_from(SUB + u64::from(shift - 1) * HALF + (mantissa - HALF)).unwrap_or(usize::MAX)
}

/// The highest value that lands in bucket `index`.
fn upper_of(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let k = index - SUB;
    let shift = k / HALF + 1;
    let mantissa = k % HALF + HALF;
    ((mantissa + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value (µs).
    pub fn record(&mut self, micros: u64) {
        let index = index_of(micros);
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += 1;
        if self.count == 0 || micros < self.min {
            self.min = micros;
        }
        self.max = self.max.max(micros);
        self.count += 1;
        self.sum += u128::from(micros);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Self) {
        if other.count == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.min = if self.count == 0 { other.min } else { self.min.min(other.min) };
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (exact); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest value recorded (exact); 0 when empty.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// The mean (exact); 0 when empty.
    #[expect(clippy::cast_precision_loss, reason = "a mean for display")]
    pub fn mean(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 }
    }

    /// The value at quantile `q` in [0, 1]: the smallest recorded value such that at least
    /// `q` of all values are ≤ it (within the bucket precision, never above `max`); 0 when
    /// empty.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank from a quantile in [0, 1]"
    )]
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper_of(index).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last = None;
        for value in (0..5_000).chain((5_000..100_000_000).step_by(997)) {
            let index = index_of(value);
            assert!(upper_of(index) >= value, "value {value} above its bucket's upper bound");
            if index > 0 {
                assert!(upper_of(index - 1) < value, "value {value} belongs to an earlier bucket");
            }
            if let Some(previous) = last {
                assert!(index >= previous, "indices grow with values");
            }
            last = Some(index);
        }
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.95), 95);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1, "q = 0 is the minimum");
        assert_eq!((h.min(), h.max()), (1, 100));
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn large_values_are_within_the_precision() {
        let mut h = Histogram::new();
        // 1 ms .. 1 s in 1 ms steps: the exact p-th value is p * 1000 µs.
        for ms in 1..=1_000u64 {
            h.record(ms * 1_000);
        }
        for (q, exact) in [(0.5, 500_000u64), (0.9, 900_000), (0.99, 990_000), (0.999, 999_000)] {
            let got = h.quantile(q);
            // |got - exact| / exact <= 1/128, in integers.
            assert!(got.abs_diff(exact) * 128 <= exact, "q {q}: {got} vs {exact}");
            assert!(got >= exact, "reported as the bucket's highest value");
        }
        assert_eq!(h.quantile(1.0), 1_000_000, "the maximum is exact");
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in [3, 700, 12_345, 5] {
            a.record(v);
            all.record(v);
        }
        for v in [99_999, 1, 640] {
            b.record(v);
            all.record(v);
        }
        let mut merged = Histogram::new();
        merged.merge(&a);
        merged.merge(&b);
        merged.merge(&Histogram::new());
        assert_eq!(merged, all);
        assert_eq!((merged.min(), merged.max(), merged.count()), (1, 99_999, 7));
    }

    #[test]
    fn empty_and_out_of_range() {
        let h = Histogram::new();
        assert_eq!((h.quantile(0.99), h.max(), h.count()), (0, 0, 0));
        assert!(h.mean().abs() < f64::EPSILON);
        let mut h = Histogram::new();
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.5), u64::MAX, "clamped into the last bucket, reported as the exact max");
        assert_eq!(h.quantile(f64::NAN), u64::MAX);
    }
}
