//! Waiting for background work in tests.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// How long background work (a relay, a consumer, a batch sync) may take to happen at all:
/// a bound against hanging, never a performance assertion.
const WITHIN: Duration = Duration::from_secs(30);

/// Polls `check` every 100 ms until it is true; panics naming `what` after 30 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < WITHIN {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within {WITHIN:?}");
}
