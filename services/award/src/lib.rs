//! award (`bigmarket.award.v1.AwardService`, port 50053): user award records with a
//! transactional outbox, the `send_award` event on NATS JetStream, the outbox relay, the
//! award distributor (random credit in-house, a pluggable step for external awards), and
//! the credit account with its ledger, changed by award credits and credit trades (which
//! announce themselves with `credit_adjust_success`), and the `integral` rebates of
//! activity-quota's `send_rebate` (forward credit trades). Design and runbook: `docs/award.md`.

pub mod delivery;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod ops;
pub mod storage;
pub mod usecase;
pub mod workers;

use std::{sync::Arc, time::Duration};

use bm_api::award::award_service_server::AwardServiceServer;
use bm_server::{
    Backends, Command, ConfigError, DemoData, GrpcServer, ServiceDefaults, StartupError, StatefulSettings,
    outbox::{Outbox, OutboxStore, RelaySettings},
    run_database_command,
};
use serde::{Deserialize, Serialize};

use crate::{
    delivery::NatsExternalDelivery,
    events::Publisher,
    storage::AwardStore,
    usecase::{AwardUseCases, EventSubjects},
    workers::SendAwardConsumer,
};

/// The service's migrations (`services/award/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The demo data loaded by `award seed` (idempotent).
pub const DEMO_DATA: &str = include_str!("../seed/demo.sql");
/// The demo data, what `award reset-demo` runs before it, and the Redis keys it deletes.
pub const DEMO: DemoData =
    DemoData { seed: DEMO_DATA, reset: include_str!("../seed/reset.sql"), redis_namespace: None };

/// What only the award service configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwardOptions {
    /// How often the outbox relay looks for due tasks.
    pub relay_interval_ms: u64,
    /// How long a new task is left to RecordAward's own publish before the relay may send it.
    pub relay_after_ms: u64,
    /// Tasks claimed per relay round.
    pub relay_batch_size: u32,
    /// How long a claimed task belongs to the relay that claimed it (longer than a publish).
    pub relay_lease_ms: u64,
    /// The first retry delay of a task whose publish failed; doubled per failure.
    pub retry_base_ms: u64,
    /// The longest retry delay; a task is retried at this pace for ever, never dropped.
    pub retry_max_ms: u64,
    /// How long a publish waits for JetStream's ack.
    pub publish_timeout_ms: u64,
    /// Deliveries of a send_award or send_rebate message failing transiently (database,
    /// NATS) before it is parked.
    pub max_deliveries: u32,
}

impl Default for AwardOptions {
    fn default() -> Self {
        let relay = RelaySettings::default();
        Self {
            relay_interval_ms: relay.relay_interval_ms,
            relay_after_ms: relay.relay_after_ms,
            relay_batch_size: relay.relay_batch_size,
            relay_lease_ms: relay.relay_lease_ms,
            retry_base_ms: relay.retry_base_ms,
            retry_max_ms: relay.retry_max_ms,
            publish_timeout_ms: relay.publish_timeout_ms,
            max_deliveries: 8,
        }
    }
}

impl ServiceDefaults for AwardOptions {
    const PORT: u16 = 50053;
    const DATABASE: &'static str = "bm_award";

    fn validate(&self) -> Result<(), ConfigError> {
        self.relay().validate("service.")?;
        if self.max_deliveries == 0 {
            return Err(ConfigError::invalid("service.max_deliveries", "must be greater than 0"));
        }
        Ok(())
    }
}

impl AwardOptions {
    /// The outbox relay's settings (kept flat under `service.` for compatibility).
    fn relay(&self) -> RelaySettings {
        RelaySettings {
            relay_interval_ms: self.relay_interval_ms,
            relay_after_ms: self.relay_after_ms,
            relay_batch_size: self.relay_batch_size,
            relay_lease_ms: self.relay_lease_ms,
            retry_base_ms: self.retry_base_ms,
            retry_max_ms: self.retry_max_ms,
            publish_timeout_ms: self.publish_timeout_ms,
        }
    }
}

/// The whole configuration.
pub type Settings = StatefulSettings<AwardOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &settings.redis, &MIGRATOR, &DEMO).await? {
        return Ok(());
    }
    let backends = Backends::connect("award", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    // send_rebate lives on activity-quota's stream. Declaring it here too (the same
    // idempotent declaration activity-quota makes) lets award start first and consume as soon
    // as activity-quota publishes, instead of failing to find the stream until then.
    bm_server::infra::ensure_stream(&backends.nats, &settings.nats, "activity").await?;
    let options = &settings.service;
    let publisher = Publisher::new(backends.jetstream.clone(), Duration::from_millis(options.publish_timeout_ms));
    let delivery = NatsExternalDelivery::new(publisher.clone(), settings.nats.subject("award", "deliver_external"));
    let server = GrpcServer::bind_stateful(
        &settings,
        &backends,
        grpc::SERVICE_NAME,
        Arc::new(ops::AwardOps::new(AwardStore::new(backends.pool.clone()), Arc::new(bm_kernel::SystemClock))),
    )
    .await?;
    let outbox = Outbox::new(
        OutboxStore::new(backends.pool.clone()),
        backends.jetstream.clone(),
        Arc::new(bm_kernel::SystemClock),
        options.relay().timing(),
    );
    let use_cases = AwardUseCases::new(
        AwardStore::new(backends.pool.clone()),
        outbox.clone(),
        Arc::new(delivery),
        Arc::new(bm_kernel::SystemClock),
        Arc::new(bm_kernel::ThreadRandom),
        EventSubjects {
            send_award: settings.nats.subject("award", "send_award"),
            credit_adjust_success: settings.nats.subject("award", "credit_adjust_success"),
        },
        server.tracker().clone(),
    );
    let shutdown = server.shutdown_token();
    server.tracker().spawn(bm_server::outbox::run_relay(outbox, options.relay().interval(), shutdown.clone()));
    server.tracker().spawn(workers::distribute_awards(
        backends.jetstream.clone(),
        SendAwardConsumer {
            stream: settings.nats.stream("award"),
            subject: settings.nats.subject("award", "send_award"),
            durable: format!("{}_award_send_award", settings.nats.stream_prefix),
            max_deliveries: i64::from(options.max_deliveries),
        },
        use_cases.clone(),
        shutdown,
    ));
    server.tracker().spawn(workers::consume_rebates(
        backends.jetstream.clone(),
        settings.nats.clone(),
        backends.pool.clone(),
        use_cases.clone(),
        i64::from(options.max_deliveries),
        server.shutdown_token(),
    ));
    let routes = tonic::service::Routes::new(
        AwardServiceServer::new(grpc::AwardHandler::new(use_cases))
            .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    );
    server.serve(routes).await
}
