//! strategy-draw (`bigmarket.strategy.v1.StrategyService`, port 50051): the strategy
//! armory (rate tables), the draw (rule chain blacklist → weight → default, then the
//! award's rule tree lock / stock / luck award) and award stock in Redis.

pub mod domain;
pub mod events;
pub mod grpc;
pub mod storage;
pub mod usecase;
pub mod workers;

use std::{sync::Arc, time::Duration};

use bm_api::strategy::strategy_service_server::StrategyServiceServer;
use bm_server::{
    Backends, Command, ConfigError, GrpcServer, ServiceDefaults, StartupError, StatefulSettings, run_database_command,
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

/// What only strategy-draw configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategyOptions {
    /// How often Redis stock counters are copied to `strategy_award.award_count_surplus`.
    pub stock_sync_interval_ms: u64,
    /// Before rebuilding a lost stock counter from the draw records, how long to let draws
    /// in flight record their units (longer than `database.acquire_timeout_ms`).
    pub stock_rebuild_settle_ms: u64,
}

impl Default for StrategyOptions {
    fn default() -> Self {
        Self { stock_sync_interval_ms: 2_000, stock_rebuild_settle_ms: 5_000 }
    }
}

impl ServiceDefaults for StrategyOptions {
    const PORT: u16 = 50051;
    const DATABASE: &'static str = "bm_strategy";

    fn validate(&self) -> Result<(), ConfigError> {
        if self.stock_sync_interval_ms == 0 {
            return Err(ConfigError::invalid("service.stock_sync_interval_ms", "must be greater than 0"));
        }
        Ok(())
    }
}

/// The whole configuration.
pub type Settings = StatefulSettings<StrategyOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &MIGRATOR, DEMO_DATA).await? {
        return Ok(());
    }
    let backends =
        Backends::connect("strategy", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    let events = StockEvents::new(
        Some(backends.jetstream.clone()),
        settings.nats.subject("strategy", "award_stock_zero"),
        Arc::new(bm_kernel::SystemClock),
    );
    let use_cases = StrategyUseCases::new(
        StrategyStore::new(backends.pool.clone()),
        RedisStrategyCache::new(
            backends.redis.clone(),
            &settings.redis.key_prefix,
            Duration::from_millis(settings.service.stock_rebuild_settle_ms),
        ),
        Arc::new(bm_kernel::ThreadRandom),
        events,
    );
    let server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME)
        .await?
        .with_metrics(&settings.metrics)?
        .health_checks(backends.health_checks());
    let shutdown = server.shutdown_token();
    server.tracker().spawn(workers::sync_stock(
        use_cases.clone(),
        Duration::from_millis(settings.service.stock_sync_interval_ms),
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
