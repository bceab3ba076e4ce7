//! The `activity` service (`bigmarket.activity.v1.ActivityService`, port 50052).

pub mod grpc;

use bm_api::activity::activity_service_server::ActivityServiceServer;
use bm_server::{Backends, Command, GrpcServer, ServiceDefaults, StartupError, StatefulSettings, run_database_command};
use serde::{Deserialize, Serialize};

/// The service's migrations (`services/activity/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
/// The demo data loaded by `activity seed` (idempotent).
pub const DEMO_DATA: &str = include_str!("../seed/demo.sql");

/// What only this service configures (`BM_SERVICE__…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityOptions {}

impl ServiceDefaults for ActivityOptions {
    const PORT: u16 = 50052;
    const DATABASE: &'static str = "bm_activity";
}

/// The whole configuration.
pub type Settings = StatefulSettings<ActivityOptions>;

/// Runs `command`.
pub async fn run(command: Command, settings: Settings) -> Result<(), StartupError> {
    if run_database_command(command, &settings.database, &MIGRATOR, DEMO_DATA).await? {
        return Ok(());
    }
    let backends =
        Backends::connect("activity", &settings.database, &settings.redis, &settings.nats, &MIGRATOR).await?;
    let mut server = GrpcServer::bind(&settings.grpc, &settings.shutdown, grpc::SERVICE_NAME).await?;
    for (name, check) in backends.health_checks() {
        server = server.health_check(name, check);
    }
    let routes = tonic::service::Routes::new(ActivityServiceServer::new(grpc::ActivityHandler::new()));
    server.serve(routes).await
}
