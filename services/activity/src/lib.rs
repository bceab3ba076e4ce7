//! activity-quota (`bigmarket.activity.v1.ActivityService`, port 50052): activities, skus
//! and their stock, sku recharge orders, the user's total/month/day quota accounts and
//! partake (raffle orders).

pub mod domain;
pub mod events;
pub mod grpc;
pub mod send_rebate;
pub mod storage;
pub mod usecase;
pub mod workers;

use std::{sync::Arc, time::Duration};

use bm_api::activity::activity_service_server::ActivityServiceServer;
use bm_server::{
    Backends, Command, ConfigError, DemoData, GrpcServer, ServiceDefaults, StartupError, StatefulSettings,
    outbox::{Outbox, OutboxStore, RelaySettings},
    run_database_command,
};
use serde::{Deserialize, Serialize};

use crate::{
    events::SkuEvents,
    storage::{ActivityStore, SkuStock},
    usecase::{ActivityUseCases, RebateUseCases},
};

/// The service's migrations (`services/activity/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The demo data loaded by `activity seed` (idempotent).
pub const DEMO_DATA: &str = include_str!("../seed/demo.sql");
/// The demo data, what `activity reset-demo` runs before it, and the Redis keys it deletes.
pub const DEMO: DemoData =
    DemoData { seed: DEMO_DATA, reset: include_str!("../seed/reset.sql"), redis_namespace: Some("activity:") };

/// What only activity-quota configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityOptions {
    /// The time zone of day and month quota (IANA name).
    pub time_zone: String,
    /// How long an activity is cached in process (state and date changes apply within it).
    pub activity_cache_ttl_ms: u64,
    /// How often Redis sku counters are copied to `raffle_activity_sku.stock_count_surplus`.
    pub stock_sync_interval_ms: u64,
    /// Before rebuilding a lost sku counter, time for in-flight recharges to write their order.
    pub stock_rebuild_settle_ms: u64,
    /// The outbox relay (`service.outbox.*`: send_rebate events).
    pub outbox: RelaySettings,
}

impl Default for ActivityOptions {
    fn default() -> Self {
        Self {
            time_zone: "Asia/Shanghai".into(),
            activity_cache_ttl_ms: 5_000,
            stock_sync_interval_ms: 2_000,
            stock_rebuild_settle_ms: 5_000,
            outbox: RelaySettings::default(),
        }
    }
}

impl ActivityOptions {
    /// The parsed time zone.
    pub fn zone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.time_zone.parse().map_err(|_| {
            ConfigError::invalid("service.time_zone", format!("{:?} is not an IANA time zone", self.time_zone))
        })
    }
}

impl ServiceDefaults for ActivityOptions {
    const PORT: u16 = 50052;
    const DATABASE: &'static str = "bm_activity";

    fn validate(&self) -> Result<(), ConfigError> {
        self.zone()?;
        if self.stock_sync_interval_ms == 0 {
            return Err(ConfigError::invalid("service.stock_sync_interval_ms", "must be greater than 0"));
        }
        self.outbox.validate("service.outbox.")?;
        Ok(())
    }
}

/// The whole configuration.
pub type Settings = StatefulSettings<ActivityOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &settings.redis, &MIGRATOR, &DEMO).await? {
        return Ok(());
    }
    let backends =
        Backends::connect("activity", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    let clock: Arc<dyn bm_kernel::Clock> = Arc::new(bm_kernel::SystemClock);
    let options = &settings.service;
    let use_cases = ActivityUseCases::new(
        ActivityStore::new(backends.pool.clone()),
        SkuStock::new(
            backends.redis.clone(),
            &settings.redis.key_prefix,
            Duration::from_millis(options.stock_rebuild_settle_ms),
        ),
        SkuEvents::new(
            Some(backends.jetstream.clone()),
            settings.nats.subject("activity", "sku_stock_zero"),
            clock.clone(),
        ),
        clock.clone(),
        options.zone()?,
        Duration::from_millis(options.activity_cache_ttl_ms),
    );
    let outbox_store = OutboxStore::new(backends.pool.clone());
    let rebates = RebateUseCases::new(
        use_cases.clone(),
        Outbox::new(outbox_store.clone(), backends.jetstream.clone(), clock.clone(), options.outbox.timing()),
        settings.nats.subject("activity", "send_rebate"),
        clock,
        options.zone()?,
    );
    let server = GrpcServer::bind_stateful(
        &settings,
        &backends,
        grpc::SERVICE_NAME,
        Arc::new(bm_server::ops::PublishAgain::new(backends.jetstream.clone(), "activity").with_outbox(outbox_store)),
    )
    .await?;
    let shutdown = server.shutdown_token();
    server.tracker().spawn(workers::sync_stock(
        use_cases.clone(),
        Duration::from_millis(options.stock_sync_interval_ms),
        shutdown.clone(),
    ));
    server.tracker().spawn(workers::consume_stock_zero(
        backends.jetstream.clone(),
        settings.nats.clone(),
        use_cases.clone(),
        shutdown.clone(),
    ));
    server.tracker().spawn(workers::consume_credit_adjust_success(
        backends.jetstream.clone(),
        settings.nats.clone(),
        use_cases.clone(),
        shutdown.clone(),
    ));
    server.tracker().spawn(bm_server::outbox::run_relay(
        rebates.outbox().clone(),
        options.outbox.interval(),
        shutdown.clone(),
    ));
    server.tracker().spawn(send_rebate::consume_send_rebate(
        backends.jetstream.clone(),
        settings.nats.clone(),
        backends.pool.clone(),
        rebates.clone(),
        shutdown,
    ));
    let routes = tonic::service::Routes::new(
        ActivityServiceServer::new(grpc::ActivityHandler::new(use_cases, rebates))
            .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    );
    server.serve(routes).await
}
