//! Background work: the batch sync of sku stock counters to the database and the
//! sku_stock_zero consumer. Both stop when the server shuts down.

use std::time::Duration;

use bm_server::{
    demo::begin_stock_sync,
    events::{ConsumerSpec, run_consumer},
};
use tokio_util::sync::CancellationToken;

use crate::{
    events,
    storage::ActivityStore,
    usecase::{ActivityError, ActivityUseCases},
};

/// Every `interval`, copies the Redis counters of the skus armoried here to
/// `raffle_activity_sku.stock_count_surplus` (only downwards).
pub async fn sync_stock(use_cases: ActivityUseCases, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = sync_once(&use_cases).await {
            tracing::warn!(error = %bm_status::ErrorChain(&error), "sku stock sync failed; retrying next round");
        }
    }
}

/// One round of the sku stock sync; returns how many skus changed.
/// The round is one transaction that holds off `reset-demo` (`bm_server::demo::begin_stock_sync`).
pub async fn sync_once(use_cases: &ActivityUseCases) -> Result<usize, ActivityError> {
    let mut tx = begin_stock_sync(use_cases.store.pool()).await?;
    let skus = use_cases.armoried_skus();
    let values = use_cases.stock.values(&skus).await?;
    let mut changed = 0;
    for (sku, left) in skus.into_iter().zip(values) {
        if let Some(left) = left {
            #[expect(clippy::cast_precision_loss, reason = "a stock count, far below 2^52")]
            let value = left as f64;
            metrics::gauge!("bm_sku_stock_remaining", "sku" => sku.to_string()).set(value);
        }
        if let Some(left) = left
            && ActivityStore::sync_sku_surplus(&mut *tx, sku, left).await?
        {
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}

/// Runs the sku_stock_zero consumer until shutdown, restarting it if it fails.
pub async fn consume_stock_zero(
    jetstream: async_nats::jetstream::Context,
    nats: bm_server::NatsSettings,
    use_cases: ActivityUseCases,
    shutdown: CancellationToken,
) {
    let store = &use_cases.store;
    let spec = ConsumerSpec::for_event(&nats, "activity", "sku_stock_zero");
    run_consumer(jetstream, spec, store.pool().clone(), |event| events::on_sku_stock_zero(store, event), shutdown)
        .await;
}

/// Runs activity's consumer of award's credit_adjust_success until shutdown (credit-paid
/// recharge orders are completed by it). Started before award has created its stream, it
/// keeps retrying every 2 s until the stream exists (`run_consumer` restarts it).
pub async fn consume_credit_adjust_success(
    jetstream: async_nats::jetstream::Context,
    nats: bm_server::NatsSettings,
    use_cases: ActivityUseCases,
    shutdown: CancellationToken,
) {
    let spec = ConsumerSpec::for_event_of(&nats, "award", "credit_adjust_success", "activity");
    let pool = use_cases.store.pool().clone();
    run_consumer(
        jetstream,
        spec,
        pool,
        |event| events::credit_adjust_success::on_credit_adjust_success(&use_cases, event),
        shutdown,
    )
    .await;
}
