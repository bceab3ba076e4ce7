//! The `award` service (`bigmarket.award.v1.AwardService`, port 50053).

pub mod grpc;

use bm_api::award::award_service_server::AwardServiceServer;
use bm_server::{Backends, Command, GrpcServer, ServiceDefaults, StartupError, StatefulSettings, run_database_command};
use serde::{Deserialize, Serialize};

/// The service's migrations (`services/award/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The demo data loaded by `award seed` (idempotent).
pub const DEMO_DATA: &str = include_str!("../seed/demo.sql");

/// What only this service configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwardOptions {}

impl ServiceDefaults for AwardOptions {
    const PORT: u16 = 50053;
    const DATABASE: &'static str = "bm_award";
}

/// The whole configuration.
pub type Settings = StatefulSettings<AwardOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &MIGRATOR, DEMO_DATA).await? {
        return Ok(());
    }
    let backends = Backends::connect("award", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    let mut server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME).await?;
    for (name, check) in backends.health_checks() {
        server = server.health_check(name, check);
    }
    let routes = tonic::service::Routes::new(AwardServiceServer::new(grpc::AwardHandler::new()));
    server.serve(routes).await
}
