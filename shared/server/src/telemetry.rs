//! Tracing set-up: human or JSON lines on stderr, level from `RUST_LOG` or `log.level`, and
//! — when `log.otlp_endpoint` is set — OpenTelemetry spans exported over OTLP/gRPC with the
//! W3C trace-context propagator (issue #11; `trace_context` carries it across services).

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{LogFormat, LogSettings};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn provider(endpoint: &str, service: &'static str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

/// Installs the global subscriber (and, with `log.otlp_endpoint`, the OTLP exporter under
/// `service` as `service.name`). `RUST_LOG` wins over `log.level`. Calling it twice is
/// harmless (the second call keeps the first subscriber). Must run inside the Tokio runtime.
pub fn init(settings: &LogSettings, service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let mut otel_error = None;
    let otel = if settings.otlp_endpoint.is_empty() {
        None
    } else {
        match provider(&settings.otlp_endpoint, service) {
            Ok(provider) => {
                opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
                let tracer = provider.tracer(service);
                opentelemetry::global::set_tracer_provider(provider.clone());
                drop(PROVIDER.set(provider));
                Some(tracing_opentelemetry::layer().with_tracer(tracer))
            }
            Err(error) => {
                otel_error = Some(error);
                None
            }
        }
    };
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Human => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
    drop(result);
    match otel_error {
        Some(error) => {
            let endpoint = &settings.otlp_endpoint;
            tracing::warn!(%endpoint, %error, "OTLP trace export is off: the exporter could not be built");
        }
        None if !settings.otlp_endpoint.is_empty() => {
            tracing::info!(endpoint = %settings.otlp_endpoint, "exporting traces over OTLP");
        }
        None => {}
    }
}

/// Flushes and stops the trace exporter (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.shutdown()
    {
        tracing::warn!(%error, "trace exporter shutdown");
    }
}
