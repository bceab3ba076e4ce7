//! Background work: the batch sync of stock counters to the database and the
//! award_stock_zero consumer. Both stop when the server shuts down.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use bm_server::{
    demo::begin_stock_sync,
    events::{ConsumerSpec, run_consumer},
};

use crate::{events, storage::StrategyStore, usecase::StrategyUseCases};

/// Every `interval`, copies the Redis counters of the strategies armoried here to
/// `strategy_award.award_count_surplus` (only downwards; one UPDATE per changed award).
pub async fn sync_stock(use_cases: StrategyUseCases, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = sync_once(&use_cases).await {
            tracing::warn!(error = %bm_status::ErrorChain(&error), "stock sync failed; retrying next round");
        }
    }
}

/// Every `interval`, replaces the local copies of armoried strategies with the shared ones
/// in Redis, so a re-armory on another replica (after a data change) reaches this one.
pub async fn refresh_armory(use_cases: StrategyUseCases, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = use_cases.armory().refresh().await {
            tracing::warn!(error = %bm_status::ErrorChain(&error), "armory refresh failed; retrying next round");
        }
    }
}

/// One round of the stock sync; returns how many awards changed.
/// The round is one transaction that holds off `reset-demo` (`bm_server::demo::begin_stock_sync`).
pub async fn sync_once(use_cases: &StrategyUseCases) -> Result<usize, crate::usecase::StrategyError> {
    let mut tx = begin_stock_sync(use_cases.store.pool()).await?;
    let mut changed = 0;
    for strategy in use_cases.armory().armoried() {
        let ids: Vec<i32> = strategy.awards.iter().map(|a| a.award_id).collect();
        let counters = use_cases.cache.counters(strategy.strategy_id, &ids).await?;
        for (award_id, left) in ids.into_iter().zip(counters) {
            if let Some(left) = left {
                #[expect(clippy::cast_precision_loss, reason = "a stock count, far below 2^52")]
                let value = left as f64;
                metrics::gauge!("bm_award_stock_remaining", "strategy_id" => strategy.strategy_id.to_string(), "award_id" => award_id.to_string())
                    .set(value);
            }
            if let Some(left) = left
                && StrategyStore::sync_surplus(&mut *tx, strategy.strategy_id, award_id, left).await?
            {
                changed += 1;
            }
        }
    }
    tx.commit().await?;
    if changed > 0 {
        tracing::debug!(changed, "stock synced to the database");
    }
    Ok(changed)
}

/// Runs the award_stock_zero consumer until shutdown, restarting it if it fails.
pub async fn consume_stock_zero(
    jetstream: async_nats::jetstream::Context,
    nats: bm_server::NatsSettings,
    use_cases: StrategyUseCases,
    shutdown: CancellationToken,
) {
    let store = &use_cases.store;
    let spec = ConsumerSpec::for_event(&nats, "strategy", "award_stock_zero");
    run_consumer(jetstream, spec, store.pool().clone(), |event| events::on_award_stock_zero(store, event), shutdown)
        .await;
}
