//! The `raffle` orchestrator (`bigmarket.raffle.v1.RaffleService`, port 50050): the
//! user-facing API. It owns no database; it composes strategy-draw, activity-quota and
//! award over gRPC.

pub mod admin;
pub mod downstream;
pub mod grpc;
pub mod protection;
pub mod rebate_apps;
pub mod stage;
pub mod switches;

use bm_api::{admin::admin_service_server::AdminServiceServer, raffle::raffle_service_server::RaffleServiceServer};
use bm_server::{
    Command, ConfigError, GrpcServer, GrpcSettings, LogSettings, NatsSettings, RedisSettings, ServiceSettings,
    ShutdownSettings, StartupError, Validate,
};
use serde::{Deserialize, Serialize};

/// Where the downstream services are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DownstreamSettings {
    /// strategy-draw, e.g. `http://127.0.0.1:50051`.
    pub strategy_url: String,
    /// activity-quota.
    pub activity_url: String,
    /// award.
    pub award_url: String,
    /// Deadline of one downstream call, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for DownstreamSettings {
    fn default() -> Self {
        Self {
            strategy_url: "http://127.0.0.1:50051".into(),
            activity_url: "http://127.0.0.1:50052".into(),
            award_url: "http://127.0.0.1:50053".into(),
            timeout_ms: 3_000,
        }
    }
}

/// The external apps that may call `RaffleService/Rebate` (`BM_REBATE__…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RebateSettings {
    /// A YAML file listing the apps (`apps: [{app_id, token_sha256, behaviors}]`;
    /// docs/security.md). Empty = no app: every Rebate is `PERMISSION_DENIED` `0008`.
    pub apps_file: String,
}

/// The orchestrator's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC listener.
    pub grpc: GrpcSettings,
    /// Logging.
    pub log: LogSettings,
    /// Shutdown timing.
    pub shutdown: ShutdownSettings,
    /// The downstream services.
    pub downstream: DownstreamSettings,
    /// Prometheus metrics.
    pub metrics: bm_server::metrics::MetricsSettings,
    /// Redis: the per-user rate limit's buckets.
    pub redis: RedisSettings,
    /// NATS: the run-time switches (stream `<stream_prefix>_CONTROL`).
    pub nats: NatsSettings,
    /// Draw protection defaults (`BM_SERVICE__…`).
    pub service: RaffleOptions,
    /// Caller authentication and the internal token sent downstream (`BM_AUTH__…`).
    pub auth: bm_server::auth::AuthSettings,
    /// The apps allowed to call Rebate (`BM_REBATE__…`).
    pub rebate: RebateSettings,
}

/// The switches' defaults: the values of the run-time switches nobody has set yet
/// (AdminService SetSwitch overrides them for every replica; docs/operations.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RaffleOptions {
    /// `degrade` (`0004` for every draw while on).
    pub degrade: bool,
    /// `rate_limit_per_second`: draws per second per user (0 = no limit).
    pub rate_limit_per_second: f64,
    /// `rate_limit_burst`.
    pub rate_limit_burst: u32,
    /// `rate_limit_block_after` (0 = never block).
    pub rate_limit_block_after: u32,
    /// `rate_limit_block_seconds`.
    pub rate_limit_block_seconds: u32,
}

impl Default for RaffleOptions {
    fn default() -> Self {
        let defaults = switches::Switches::default();
        Self {
            degrade: defaults.degrade,
            rate_limit_per_second: defaults.rate_limit_per_second,
            rate_limit_burst: defaults.rate_limit_burst,
            rate_limit_block_after: defaults.rate_limit_block_after,
            rate_limit_block_seconds: defaults.rate_limit_block_seconds,
        }
    }
}

impl RaffleOptions {
    /// The switches these settings start with, validated as SetSwitch validates them.
    pub fn switches(&self) -> Result<switches::Switches, ConfigError> {
        let mut out = switches::Switches::default();
        for (name, value) in [
            ("degrade", self.degrade.to_string()),
            ("rate_limit_per_second", self.rate_limit_per_second.to_string()),
            ("rate_limit_burst", self.rate_limit_burst.to_string()),
            ("rate_limit_block_after", self.rate_limit_block_after.to_string()),
            ("rate_limit_block_seconds", self.rate_limit_block_seconds.to_string()),
        ] {
            out.set(name, &value).map_err(|e| ConfigError::invalid(format!("service.{name}"), e))?;
        }
        Ok(out)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grpc: GrpcSettings::on_port(50050),
            log: LogSettings::default(),
            shutdown: ShutdownSettings::default(),
            downstream: DownstreamSettings::default(),
            metrics: bm_server::metrics::MetricsSettings::default(),
            redis: RedisSettings::default(),
            nats: NatsSettings::default(),
            service: RaffleOptions::default(),
            auth: bm_server::auth::AuthSettings::default(),
            rebate: RebateSettings::default(),
        }
    }
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.grpc.validate()?;
        for (key, url) in [
            ("downstream.strategy_url", &self.downstream.strategy_url),
            ("downstream.activity_url", &self.downstream.activity_url),
            ("downstream.award_url", &self.downstream.award_url),
        ] {
            if url.parse::<tonic::transport::Uri>().is_err()
                || !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::invalid(key, format!("{url:?} is not an http:// URL")));
            }
        }
        if self.downstream.timeout_ms == 0 {
            return Err(ConfigError::invalid("downstream.timeout_ms", "must be greater than 0"));
        }
        self.redis.validate()?;
        self.nats.validate()?;
        self.service.switches()?;
        self.auth.caller_policy(&SERVED)?;
        rebate_apps::RebateApps::load(&self.rebate.apps_file)?;
        Ok(())
    }
}

impl ServiceSettings for Settings {
    fn log(&self) -> &LogSettings {
        &self.log
    }
}

/// The services on the orchestrator's port (what a caller's `methods` may name).
pub const SERVED: [&str; 2] = [grpc::SERVICE_NAME, admin::SERVICE_NAME];

/// Runs `command`. The orchestrator has no database: `migrate`, `seed` and `reset-demo` do
/// nothing.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if command != Command::Serve {
        tracing::info!(?command, "the orchestrator owns no database; nothing to do");
        return Ok(());
    }
    let policy = settings.auth.caller_policy(&SERVED)?;
    let apps = rebate_apps::RebateApps::load(&settings.rebate.apps_file)?;
    tracing::info!(apps = apps.len(), "rebate apps loaded");
    let internal_token = if settings.auth.internal_token.is_empty() {
        None
    } else {
        Some(bm_server::auth::bearer(&settings.auth.internal_token)?)
    };
    let downstream = downstream::Downstream::new(&settings.downstream, internal_token)
        .map_err(|e| StartupError::Config(ConfigError::invalid("downstream", e.to_string())))?;
    let redis = bm_server::infra::connect_redis(&settings.redis).await?;
    let nats = bm_server::infra::connect_nats(&settings.nats).await?;
    let nats_error = |what: &str, e: switches::StoreError| StartupError::Nats {
        what: what.to_owned(),
        url: bm_server::config::redact_url(&settings.nats.url),
        reason: e.to_string(),
    };
    let store = switches::SwitchStore::open(&nats, &settings.nats)
        .await
        .map_err(|e| nats_error("cannot open the switches' stream", e))?;
    let board = switches::Board::new(settings.service.switches()?);
    // Serve only with the switches in force: a new replica must not draw while degraded.
    store.load(&board).await.map_err(|e| nats_error("cannot read the switches", e))?;
    let protection = protection::Protection::new(board.clone(), redis, &settings.redis.key_prefix);
    let server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME)
        .await?
        .also_serving(admin::SERVICE_NAME)
        .with_metrics(&settings.metrics)?
        .with_auth(policy);
    server.tracker().spawn(store.clone().follow(board.clone(), server.shutdown_token()));
    let clock: std::sync::Arc<dyn bm_kernel::Clock> = std::sync::Arc::new(bm_kernel::SystemClock);
    let routes = tonic::service::Routes::new(
        RaffleServiceServer::new(
            grpc::RaffleHandler::new(downstream.clone(), protection).with_rebate_apps(std::sync::Arc::new(apps)),
        )
        .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    )
    .add_service(
        AdminServiceServer::new(admin::AdminHandler::new(board, store, downstream, clock))
            .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    );
    server.serve(routes).await
}
