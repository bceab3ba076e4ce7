//! The `raffle` orchestrator (`bigmarket.raffle.v1.RaffleService`, port 50050): the
//! user-facing API. It owns no database; it composes strategy-draw, activity-quota and
//! award over gRPC.

pub mod downstream;
pub mod grpc;
pub mod protection;

use bm_api::raffle::raffle_service_server::RaffleServiceServer;
use bm_server::{
    Command, ConfigError, GrpcServer, GrpcSettings, LogSettings, ServiceSettings, ShutdownSettings, StartupError,
    Validate,
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
    /// Draw protection (`BM_SERVICE__…`).
    pub service: RaffleOptions,
}

/// Draw protection settings: the switches' starting values, and the file that changes them
/// at run time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RaffleOptions {
    /// Degrade switch at start (`0004` for every draw while on).
    pub degrade: bool,
    /// Draws per second per user (0 = no limit).
    pub rate_limit_per_second: f64,
    /// Burst of the per-user limit.
    pub rate_limit_burst: u32,
    /// A YAML file with `degrade`, `rate_limit_per_second`, `rate_limit_burst`, re-read
    /// whenever it changes (empty = none).
    pub switches_file: String,
    /// How often the switches file is checked for changes.
    pub switches_poll_ms: u64,
}

impl Default for RaffleOptions {
    fn default() -> Self {
        Self {
            degrade: false,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 1,
            switches_file: String::new(),
            switches_poll_ms: 1_000,
        }
    }
}

impl RaffleOptions {
    /// The switches these settings start with.
    pub fn switches(&self) -> protection::Switches {
        protection::Switches {
            degrade: self.degrade,
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
        }
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
            service: RaffleOptions::default(),
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
        if !self.service.rate_limit_per_second.is_finite() || self.service.rate_limit_per_second < 0.0 {
            return Err(ConfigError::invalid("service.rate_limit_per_second", "must be a number >= 0"));
        }
        if self.service.switches_poll_ms == 0 {
            return Err(ConfigError::invalid("service.switches_poll_ms", "must be greater than 0"));
        }
        if !self.service.switches_file.is_empty() {
            protection::load_switches(std::path::Path::new(&self.service.switches_file), self.service.switches())
                .map_err(|e| ConfigError::invalid("service.switches_file", e))?;
        }
        Ok(())
    }
}

impl ServiceSettings for Settings {
    fn log(&self) -> &LogSettings {
        &self.log
    }
}

/// Runs `command`. The orchestrator has no database: `migrate`, `seed` and `reset-demo` do
/// nothing.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if command != Command::Serve {
        tracing::info!(?command, "the orchestrator owns no database; nothing to do");
        return Ok(());
    }
    let downstream = downstream::Downstream::new(&settings.downstream)
        .map_err(|e| StartupError::Config(ConfigError::invalid("downstream", e.to_string())))?;
    let protection = protection::Protection::new(settings.service.switches());
    let server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME)
        .await?
        .with_metrics(&settings.metrics)?;
    if !settings.service.switches_file.is_empty() {
        server.tracker().spawn(protection.clone().watch(
            settings.service.switches_file.clone().into(),
            settings.service.switches(),
            std::time::Duration::from_millis(settings.service.switches_poll_ms),
            server.shutdown_token(),
        ));
    }
    let routes = tonic::service::Routes::new(
        RaffleServiceServer::new(grpc::RaffleHandler::new(downstream, protection))
            .max_decoding_message_size(bm_server::MAX_REQUEST_BYTES),
    );
    server.serve(routes).await
}
