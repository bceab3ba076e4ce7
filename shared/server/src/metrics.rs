//! Prometheus metrics (ARCHITECTURE.md §8.11): every binary serves
//! `http://<metrics.host>:<metrics.port>/metrics` (default: gRPC port + 1000), with per-RPC
//! request counts by gRPC code and big-market code and latency histograms
//! (`bm_grpc_requests_total`, `bm_grpc_request_duration_seconds`); services add their
//! business figures with the `metrics` macros.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::{Deserialize, Serialize};
use tonic::codegen::http;

use crate::{config::ConfigError, infra::StartupError};

/// Where metrics are served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Interface to bind; empty = the gRPC host.
    pub host: String,
    /// Port; 0 = gRPC port + 1000 (or any free port when the gRPC port is 0).
    pub port: u16,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, host: String::new(), port: 0 }
    }
}

impl MetricsSettings {
    /// The address to serve on, given the gRPC address actually bound.
    pub fn address(&self, grpc: SocketAddr) -> Result<SocketAddr, ConfigError> {
        let host = if self.host.is_empty() { grpc.ip().to_string() } else { self.host.clone() };
        let port = match (self.port, grpc.port()) {
            (0, grpc_port) if grpc_port <= u16::MAX - 1000 => grpc_port + 1000,
            (0, _) => 0,
            (port, _) => port,
        };
        format!("{host}:{port}")
            .parse()
            .map_err(|e| ConfigError::invalid("metrics.host", format!("{host:?} is not an IP address: {e}")))
    }
}

/// Latency buckets in seconds: sub-millisecond to seconds.
const BUCKETS: [f64; 14] =
    [0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 4.096];

/// Installs the global recorder and serves `/metrics` on `address`.
pub fn serve(address: SocketAddr) -> Result<(), StartupError> {
    PrometheusBuilder::new()
        .with_http_listener(address)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
        .and_then(PrometheusBuilder::install)
        .map_err(|e| StartupError::Serve(format!("metrics.port: cannot serve /metrics on {address}: {e}").into()))?;
    tracing::info!(%address, "serving Prometheus metrics at /metrics");
    Ok(())
}

/// A tower layer recording every RPC: count by method, gRPC code and big-market code, and
/// latency by method.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// The service of [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            if !method.starts_with("/grpc.") {
                // Errors are trailers-only responses: grpc-status and bm-code are headers.
                // A success carries grpc-status 0 in the trailers, so no header means OK.
                let (code, bm_code) = match &response {
                    Ok(response) => (
                        header(response.headers(), "grpc-status").unwrap_or_else(|| "0".to_owned()),
                        header(response.headers(), bm_status::BM_CODE_KEY).unwrap_or_default(),
                    ),
                    Err(_) => ("transport".to_owned(), String::new()),
                };
                metrics::counter!("bm_grpc_requests_total", "method" => method.clone(), "code" => code, "bm_code" => bm_code)
                    .increment(1);
                metrics::histogram!("bm_grpc_request_duration_seconds", "method" => method)
                    .record(started.elapsed().as_secs_f64());
            }
            response
        })
    }
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_port_follows_the_grpc_port() {
        let settings = MetricsSettings::default();
        assert_eq!(settings.address("127.0.0.1:50051".parse().unwrap()).unwrap(), "127.0.0.1:51051".parse().unwrap());
        assert_eq!(
            settings.address("0.0.0.0:65000".parse().unwrap()).unwrap().port(),
            0,
            "no room above: any free port"
        );
        let explicit = MetricsSettings { enabled: true, host: "0.0.0.0".into(), port: 9100 };
        assert_eq!(explicit.address("127.0.0.1:50051".parse().unwrap()).unwrap(), "0.0.0.0:9100".parse().unwrap());
        let bad = MetricsSettings { enabled: true, host: "metrics.local".into(), port: 9100 };
        assert!(bad.address("127.0.0.1:1".parse().unwrap()).unwrap_err().to_string().contains("metrics.host"));
    }
}
