//! The gRPC server every binary runs: its service + `grpc.health.v1.Health` + reflection
//! v1 and v1alpha on one port, health that tells the truth, and graceful shutdown.
//!
//! Shutdown on SIGTERM / SIGINT: health turns NOT_SERVING at once, the server keeps
//! answering for `shutdown.drain_delay_ms` (so probes and balancers see it first), then it
//! stops accepting, in-flight calls and background workers get `shutdown.grace_ms` to
//! finish, and the process exits 0.

use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::{
    ServingStatus,
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};

use crate::{
    config::{GrpcSettings, ShutdownSettings},
    infra::StartupError,
};

/// A dependency check for the health service: `Err(reason)` means NOT_SERVING.
pub type HealthCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How often health checks run.
const HEALTH_INTERVAL: Duration = Duration::from_secs(3);

/// A bound, not yet serving, gRPC server.
pub struct GrpcServer {
    listener: TcpListener,
    address: SocketAddr,
    metrics: Option<SocketAddr>,
    service_name: &'static str,
    more_services: Vec<&'static str>,
    auth: crate::auth::Policy,
    ops: Option<crate::ops::OpsHandler>,
    checks: Vec<(&'static str, HealthCheck)>,
    shutdown_settings: ShutdownSettings,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("address", &self.address)
            .field("service_name", &self.service_name)
            .field("checks", &self.checks.iter().map(|(name, _)| *name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// The server of a stateful service (strategy-draw, activity-quota, award): bound as
    /// [`GrpcServer::bind`], with its metrics, the internal caller token, the ops service
    /// over `ops` and its own database, and health checks of its three connections.
    pub async fn bind_stateful<X>(
        settings: &crate::config::StatefulSettings<X>,
        backends: &crate::infra::Backends,
        service_name: &'static str,
        ops: Arc<dyn crate::ops::ServiceOps>,
    ) -> Result<Self, StartupError> {
        Ok(Self::bind(&settings.grpc, &settings.shutdown, service_name)
            .await?
            .with_metrics(&settings.metrics)?
            .with_auth(settings.auth.internal_policy())
            .with_ops(backends.pool.clone(), ops)
            .health_checks(backends.health_checks()))
    }

    /// Binds `grpc.host:grpc.port` for the service named `service_name` (its full proto
    /// name, e.g. `bigmarket.strategy.v1.StrategyService`).
    pub async fn bind(
        grpc: &GrpcSettings,
        shutdown: &ShutdownSettings,
        service_name: &'static str,
    ) -> Result<Self, StartupError> {
        let address = grpc.address();
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| StartupError::Bind { address: address.clone(), source })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind { address, source })?;
        Ok(Self {
            listener,
            address,
            metrics: None,
            service_name,
            more_services: Vec::new(),
            auth: crate::auth::Policy::Open,
            ops: None,
            checks: Vec::new(),
            shutdown_settings: shutdown.clone(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Cancelled when the server stops accepting calls; background workers watch it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Background workers spawned here are awaited (up to the grace period) at shutdown.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Serves Prometheus metrics as `settings` say (default: gRPC port + 1000) once serving.
    pub fn with_metrics(mut self, settings: &crate::metrics::MetricsSettings) -> Result<Self, StartupError> {
        self.metrics = if settings.enabled { Some(settings.address(self.address)?) } else { None };
        Ok(self)
    }

    /// Adds several dependency checks (e.g. `Backends::health_checks`).
    #[must_use]
    pub fn health_checks(self, checks: impl IntoIterator<Item = (&'static str, HealthCheck)>) -> Self {
        checks.into_iter().fold(self, |server, (name, check)| server.health_check(name, check))
    }

    /// Adds a dependency check; health is SERVING only while every check passes.
    #[must_use]
    pub fn health_check(mut self, name: &'static str, check: HealthCheck) -> Self {
        self.checks.push((name, check));
        self
    }

    /// Enforces `policy` on every call but health and reflection.
    #[must_use]
    pub fn with_auth(mut self, policy: crate::auth::Policy) -> Self {
        if !policy.is_open() {
            tracing::info!(service = self.service_name, "caller authentication on");
        }
        self.auth = policy;
        self
    }

    /// Also serves `bigmarket.ops.v1.OpsService` (parked messages, outbox backlog) over the
    /// service's database `pool`, with the service's specifics `ops`.
    #[must_use]
    pub fn with_ops(mut self, pool: sqlx::PgPool, ops: std::sync::Arc<dyn crate::ops::ServiceOps>) -> Self {
        self.ops = Some(crate::ops::OpsHandler::new(pool, ops));
        self.more_services.push(crate::ops::SERVICE_NAME);
        self
    }

    /// Also lists `service_name` (another service in the routes) in reflection.
    #[must_use]
    pub fn also_serving(mut self, service_name: &'static str) -> Self {
        self.more_services.push(service_name);
        self
    }

    /// Serves `routes` until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn serve(self, routes: Routes) -> Result<(), StartupError> {
        self.serve_until(routes, termination_signal()).await
    }

    /// Serves `routes` until `signal` completes, then shuts down gracefully.
    pub async fn serve_until(self, routes: Routes, signal: impl Future<Output = ()>) -> Result<(), StartupError> {
        let Self {
            listener,
            address,
            metrics,
            service_name,
            more_services,
            auth,
            ops,
            checks,
            shutdown_settings,
            shutdown,
            tracker,
        } = self;
        if let Some(metrics) = metrics {
            crate::metrics::serve(metrics)?;
        }
        let reporter = HealthReporter::new();
        let health = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let reflection = || {
            more_services
                .iter()
                .fold(tonic_reflection::server::Builder::configure(), |builder, name| builder.with_service_name(*name))
                .register_encoded_file_descriptor_set(bm_api::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                // google.rpc.ErrorInfo / BadRequest, so grpcurl can decode error details.
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .with_service_name(service_name)
                .with_service_name("grpc.health.v1.Health")
                .with_service_name("grpc.reflection.v1.ServerReflection")
                .with_service_name("grpc.reflection.v1alpha.ServerReflection")
        };
        let reflection_v1 = reflection().build_v1().map_err(|e| StartupError::Serve(Box::new(e)))?;
        let reflection_v1alpha = reflection().build_v1alpha().map_err(|e| StartupError::Serve(Box::new(e)))?;

        let routes = match ops {
            Some(ops) => routes.add_service(
                bm_api::ops::ops_service_server::OpsServiceServer::new(ops)
                    .max_decoding_message_size(crate::MAX_REQUEST_BYTES),
            ),
            None => routes,
        };
        let stop_accepting = shutdown.clone();
        let mut server = tokio::spawn(
            tonic::transport::Server::builder()
                .layer(crate::metrics::RpcMetricsLayer)
                .layer(crate::trace_context::TraceContextLayer)
                .layer(crate::auth::AuthLayer::new(auth))
                .add_routes(routes)
                .add_service(health)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                // TCP_NODELAY on every accepted connection: with our own listener tonic ignores
                // `Server::tcp_nodelay`, and Nagle then holds small HTTP/2 frames back until
                // the peer's delayed ACK (~40 ms tails under load; docs/BENCHMARKS.md).
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    stop_accepting.cancelled_owned(),
                ),
        );
        tracing::info!(%address, service = service_name, "serving gRPC with health and reflection");

        let stopping = CancellationToken::new();
        let health_loop = tokio::spawn(watch_health(reporter.clone(), service_name, checks, stopping.clone()));

        tokio::select! {
            () = signal => tracing::info!("shutdown requested"),
            result = &mut server => {
                stopping.cancel();
                return match result {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(StartupError::Serve(Box::new(error))),
                    Err(join) => Err(StartupError::Serve(Box::new(join))),
                };
            }
        }

        stopping.cancel();
        drop(health_loop.await);
        set_status(&reporter, service_name, ServingStatus::NotServing).await;
        tracing::info!(drain_delay_ms = shutdown_settings.drain_delay_ms, "health is NOT_SERVING, draining");
        tokio::time::sleep(Duration::from_millis(shutdown_settings.drain_delay_ms)).await;

        shutdown.cancel();
        let grace = Duration::from_millis(shutdown_settings.grace_ms);
        match tokio::time::timeout(grace, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => return Err(StartupError::Serve(Box::new(error))),
            Ok(Err(join)) => return Err(StartupError::Serve(Box::new(join))),
            Err(_) => tracing::warn!(grace_ms = shutdown_settings.grace_ms, "in-flight calls did not finish in time"),
        }
        tracker.close();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(grace_ms = shutdown_settings.grace_ms, "background workers did not finish in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn set_status(reporter: &HealthReporter, service_name: &str, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(service_name, status).await;
}

async fn watch_health(
    reporter: HealthReporter,
    service_name: &'static str,
    checks: Vec<(&'static str, HealthCheck)>,
    stopping: CancellationToken,
) {
    let mut last: Option<ServingStatus> = None;
    loop {
        let mut failure = None;
        for (name, check) in &checks {
            if let Err(reason) = check().await {
                failure = Some((*name, reason));
                break;
            }
        }
        let status = if failure.is_none() { ServingStatus::Serving } else { ServingStatus::NotServing };
        if last != Some(status) {
            if let Some((dependency, reason)) = &failure {
                tracing::warn!(dependency, %reason, "health: NOT_SERVING");
            } else {
                tracing::info!("health: SERVING");
            }
            set_status(&reporter, service_name, status).await;
            last = Some(status);
        }
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
