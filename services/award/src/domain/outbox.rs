//! Retry timing of the outbox relay.

use std::time::Duration;

/// How long to wait before the next attempt after `attempts` failed ones: `base` doubled per
/// failure, never more than `cap` (tasks are retried at the cap for ever, never dropped).
pub fn retry_delay(attempts: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    base.saturating_mul(1 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_mins(1));
        let delays: Vec<u64> = (0..10).map(|n| retry_delay(n, base, cap).as_secs()).collect();
        assert_eq!(delays, [1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(u32::MAX, base, cap), cap, "no overflow after many attempts");
    }
}
