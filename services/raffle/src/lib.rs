//! The `raffle` orchestrator (`bigmarket.raffle.v1.RaffleService`, port 50050): the
//! user-facing API. It owns no database; it composes strategy-draw, activity-quota and
//! award over gRPC.

pub mod grpc;

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grpc: GrpcSettings::on_port(50050),
            log: LogSettings::default(),
            shutdown: ShutdownSettings::default(),
            downstream: DownstreamSettings::default(),
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
        Ok(())
    }
}

impl ServiceSettings for Settings {
    fn log(&self) -> &LogSettings {
        &self.log
    }
}

/// Runs `command`. The orchestrator has no database: `migrate` and `seed` do nothing.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if command != Command::Serve {
        tracing::info!(?command, "the orchestrator owns no database; nothing to do");
        return Ok(());
    }
    let server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME).await?;
    let routes = tonic::service::Routes::new(RaffleServiceServer::new(grpc::RaffleHandler::new()));
    server.serve(routes).await
}
