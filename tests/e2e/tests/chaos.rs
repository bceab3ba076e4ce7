//! The short run of the fault suite (issue #10; the long one is `make chaos`): every fault
//! strikes a draw load once — kill -9 of each service, NATS and Redis restarts, Postgres
//! refusing connections — and afterwards nothing is lost, nothing is duplicated and the
//! invariant checker holds.

use bm_e2e::chaos::{Chaos, Settings, table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_loses_or_duplicates_a_draw() {
    let mut chaos = Chaos::start(Settings::quick()).await;
    let figures = chaos.run().await;
    let failed: Vec<_> = figures.iter().filter(|f| !f.passed()).collect();
    assert!(failed.is_empty(), "{}\n{failed:#?}", table(&figures));
    // The faults did hit: some calls had to be retried during the outages.
    let retried: u64 = figures.iter().flat_map(|f| f.retried.values()).sum();
    assert!(retried > 0, "no call was ever retried: the faults did not strike\n{}", table(&figures));
}
