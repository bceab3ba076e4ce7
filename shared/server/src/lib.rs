//! What every big-market binary does alike: typed layered config, tracing, connections to
//! Postgres / Redis / NATS with bounded retries, and a gRPC server with health, reflection
//! (v1 and v1alpha) and graceful shutdown.

pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod events;
pub mod infra;
pub mod lifecycle;
pub mod main_support;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod payloads;
pub mod telemetry;
pub mod trace_context;

pub use cli::Command;

/// The largest request message a service decodes (every big-market request is a few
/// hundred bytes); a larger one is refused with OUT_OF_RANGE ("decoded message length too
/// large") before it is parsed.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
pub use config::{
    ConfigError, DatabaseSettings, GrpcSettings, LogFormat, LogSettings, NatsSettings, RedisSettings, ServiceDefaults,
    ShutdownSettings, StatefulSettings, Validate, load,
};
pub use demo::DemoData;
pub use infra::{Backends, StartupError, run_database_command};
pub use lifecycle::{GrpcServer, HealthCheck};
pub use main_support::{ServiceSettings, run_binary};
