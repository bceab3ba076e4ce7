//! W3C trace context across services (issue #11): the server side takes `traceparent` from
//! the request headers and runs the call in a span whose parent it is; the raffle
//! orchestrator's downstream calls and every NATS publish carry the current span's context;
//! consumers continue it. Without an OTLP endpoint (`log.otlp_endpoint`) nothing is
//! exported and no context is sent, but the request spans still group the log lines.

use std::task::{Context, Poll};

use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TraceContextExt as _,
};
use tonic::{
    codegen::http,
    metadata::{MetadataKey, MetadataMap, MetadataValue},
};
use tracing::{Span, instrument::Instrumented};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(&value)) {
            self.0.insert(key, value);
        }
    }
}

struct NatsInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(async_nats::HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Records the span's trace id as its `trace_id` field (so log lines carry it), when the
/// span belongs to a trace.
fn record_trace_id(span: &Span) {
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// `message` as a request carrying the current span's trace context (`traceparent`).
pub fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let context = Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
    });
    request
}

/// Adds the current span's trace context to NATS message headers.
pub fn inject_nats(headers: &mut async_nats::HeaderMap) {
    let context = Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut NatsInjector(headers)));
}

/// A span for handling a NATS message, continuing the trace its headers carry.
pub fn consume_span(subject: &str, headers: Option<&async_nats::HeaderMap>) -> Span {
    let span = tracing::info_span!("event.consume", otel.name = %subject, otel.kind = "consumer", subject = %subject, trace_id = tracing::field::Empty);
    if let Some(headers) = headers {
        let parent = global::get_text_map_propagator(|propagator| propagator.extract(&NatsExtractor(headers)));
        drop(span.set_parent(parent));
    }
    record_trace_id(&span);
    span
}

/// Tower layer of the gRPC servers: one span per call (`grpc.request`, the method as its
/// OpenTelemetry name) continuing the caller's trace. Health and reflection are not traced.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextLayer;

impl<S> tower::Layer<S> for TraceContextLayer {
    type Service = TraceContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceContextService { inner }
    }
}

/// The service of [`TraceContextLayer`].
#[derive(Debug, Clone)]
pub struct TraceContextService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for TraceContextService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        use tracing::Instrument as _;
        let path = request.uri().path();
        if path.starts_with("/grpc.") {
            return self.inner.call(request).instrument(Span::none());
        }
        let span = tracing::info_span!("grpc.request", otel.name = %path, otel.kind = "server", rpc.method = %path, trace_id = tracing::field::Empty, caller = tracing::field::Empty);
        let parent =
            global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(request.headers())));
        drop(span.set_parent(parent));
        record_trace_id(&span);
        // Entered while the inner layers build their future, so they can record on it.
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}
