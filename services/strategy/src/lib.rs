//! strategy-draw (`bigmarket.strategy.v1.StrategyService`, port 50051): the strategy
//! armory (rate tables), the draw (rule chain blacklist → weight → default, then the
//! award's rule tree lock / stock / luck award) and award stock in Redis.

pub mod domain;
pub mod events;
pub mod fairness;
pub mod grpc;
pub mod storage;
pub mod usecase;
pub mod workers;

use std::{sync::Arc, time::Duration};

use bm_api::strategy::strategy_service_server::StrategyServiceServer;
use bm_server::{
    Backends, Command, ConfigError, DemoData, GrpcServer, ServiceDefaults, StartupError, StatefulSettings,
    run_database_command,
};
use serde::{Deserialize, Serialize};

use crate::{
    events::StockEvents,
    storage::{RedisStrategyCache, StrategyStore},
    usecase::StrategyUseCases,
};

/// The service's migrations (`services/strategy/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The demo data loaded by `strategy seed` (idempotent).
pub const DEMO_DATA: &str = include_str!("../seed/demo.sql");
/// The demo data, what `strategy reset-demo` runs before it, and the Redis keys it deletes.
pub const DEMO: DemoData =
    DemoData { seed: DEMO_DATA, reset: include_str!("../seed/reset.sql"), redis_namespace: Some("strategy:") };

/// What only strategy-draw configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategyOptions {
    /// How often Redis stock counters are copied to `strategy_award.award_count_surplus`.
    pub stock_sync_interval_ms: u64,
    /// Before rebuilding a lost stock counter from the draw records, how long to let draws
    /// in flight record their units (longer than `database.acquire_timeout_ms`).
    pub stock_rebuild_settle_ms: u64,
    /// How often the in-process copies of armoried strategies (awards, rules, trees) are
    /// refreshed from the shared copy in Redis, so a re-armory reaches every replica.
    pub armory_refresh_ms: u64,
    /// The key that seals the seeds of verifiable draws in the database: 64 hex digits.
    /// The default is a public development key (a warning is logged): set your own from a
    /// secret in production (`BM_SERVICE__SEED_KEY`; docs/fairness.md).
    pub seed_key: SeedKey,
    /// The most draw records written in one statement (group commit, docs/BENCHMARKS.md).
    pub record_batch_max: usize,
    /// The most statements writing draw records at once (each holds a pooled connection).
    pub record_batch_in_flight: usize,
}

/// The seed-sealing key; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeedKey(pub String);

/// The development seed key (public: anyone can open seeds sealed with it).
pub const DEV_SEED_KEY: &str = "6465762d6f6e6c792d6269672d6d61726b65742d736565642d6b65792d303031";

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0 == DEV_SEED_KEY { "SeedKey(<development key>)" } else { "SeedKey(<secret>)" })
    }
}

impl SeedKey {
    /// The 32 key bytes, when the text is 64 hex digits.
    pub fn bytes(&self) -> Option<[u8; 32]> {
        fairness::from_hex(self.0.trim())?.try_into().ok()
    }
}

impl Default for StrategyOptions {
    fn default() -> Self {
        Self {
            stock_sync_interval_ms: 2_000,
            stock_rebuild_settle_ms: 5_000,
            armory_refresh_ms: 5_000,
            seed_key: SeedKey(DEV_SEED_KEY.to_owned()),
            record_batch_max: storage::BatchSettings::default().max_batch,
            record_batch_in_flight: storage::BatchSettings::default().in_flight,
        }
    }
}

impl ServiceDefaults for StrategyOptions {
    const PORT: u16 = 50051;
    const DATABASE: &'static str = "bm_strategy";

    fn validate(&self) -> Result<(), ConfigError> {
        if self.stock_sync_interval_ms == 0 {
            return Err(ConfigError::invalid("service.stock_sync_interval_ms", "must be greater than 0"));
        }
        if self.armory_refresh_ms == 0 {
            return Err(ConfigError::invalid("service.armory_refresh_ms", "must be greater than 0"));
        }
        if !(1..=10_000).contains(&self.record_batch_max) {
            return Err(ConfigError::invalid("service.record_batch_max", "must be between 1 and 10000"));
        }
        if !(1..=1_000).contains(&self.record_batch_in_flight) {
            return Err(ConfigError::invalid("service.record_batch_in_flight", "must be between 1 and 1000"));
        }
        if self.seed_key.bytes().is_none() {
            return Err(ConfigError::invalid("service.seed_key", "must be 64 hex digits (32 bytes)"));
        }
        Ok(())
    }
}

/// The whole configuration.
pub type Settings = StatefulSettings<StrategyOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &settings.redis, &MIGRATOR, &DEMO).await? {
        return Ok(());
    }
    if settings.service.record_batch_in_flight >= settings.database.max_connections as usize {
        return Err(ConfigError::invalid(
            "service.record_batch_in_flight",
            "must be below database.max_connections (draws also need connections for other work)",
        )
        .into());
    }
    let backends =
        Backends::connect("strategy", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    let events = StockEvents::new(
        Some(backends.jetstream.clone()),
        settings.nats.subject("strategy", "award_stock_zero"),
        Arc::new(bm_kernel::SystemClock),
    );
    let key = settings.service.seed_key.bytes().ok_or_else(|| {
        StartupError::from(ConfigError::invalid("service.seed_key", "must be 64 hex digits (32 bytes)"))
    })?;
    if settings.service.seed_key.0 == DEV_SEED_KEY {
        tracing::warn!("service.seed_key is the public development key: set BM_SERVICE__SEED_KEY in production");
    }
    let use_cases = StrategyUseCases::new(
        StrategyStore::new(backends.pool.clone()),
        RedisStrategyCache::new(
            backends.redis.clone(),
            &settings.redis.key_prefix,
            Duration::from_millis(settings.service.stock_rebuild_settle_ms),
        ),
        Arc::new(bm_kernel::ThreadRandom),
        events,
        storage::SeedVault::new(&key),
        storage::BatchSettings {
            max_batch: settings.service.record_batch_max,
            in_flight: settings.service.record_batch_in_flight,
        },
    );
    let server = GrpcServer::bind_stateful(
        &settings,
        &backends,
        grpc::SERVICE_NAME,
        Arc::new(bm_server::ops::PublishAgain::new(backends.jetstream.clone(), "strategy")),
    )
    .await?;
    let shutdown = server.shutdown_token();
    server.tracker().spawn(workers::sync_stock(
        use_cases.clone(),
        Duration::from_millis(settings.service.stock_sync_interval_ms),
        shutdown.clone(),
    ));
    server.tracker().spawn(workers::refresh_armory(
        use_cases.clone(),
        Duration::from_millis(settings.service.armory_refresh_ms),
        shutdown.clone(),
    ));
    server.tracker().spawn(workers::consume_stock_zero(
        backends.jetstream.clone(),
        settings.nats.clone(),
        use_cases.clone(),
        shutdown,
    ));
    let routes = tonic::service::Routes::new(
        StrategyServiceServer::new(grpc::StrategyHandler::new(use_cases))
            .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    );
    server.serve(routes).await
}
