//! Events on NATS JetStream (ARCHITECTURE.md §5): the envelope every event travels in, a
//! publish that waits for the stream's ack with `Nats-Msg-Id` set (broker de-duplication),
//! and a durable consumer loop with explicit ack, redelivery with backoff and parking.

use std::{future::Future, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::{StreamExt, stream::FuturesUnordered};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio_util::sync::CancellationToken;

/// `{id, timestamp, data}`: the envelope of every big-market event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Message id; also the `Nats-Msg-Id` header.
    pub id: String,
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The payload.
    pub data: T,
}

/// How long a publish may wait for the stream's ack.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);

/// Publishes `envelope` on `subject` and waits for JetStream's ack.
pub async fn publish<T: Serialize>(
    jetstream: &jetstream::Context,
    subject: &str,
    envelope: &Envelope<T>,
) -> Result<(), String> {
    let payload = serde_json::to_vec(envelope).map_err(|e| format!("cannot encode event: {e}"))?;
    publish_raw(jetstream, subject, &envelope.id, payload).await
}

/// Publishes `payload` as it is on `subject` with `Nats-Msg-Id = message_id` (and the current
/// trace context) and waits for JetStream's ack.
pub async fn publish_raw(
    jetstream: &jetstream::Context,
    subject: &str,
    message_id: &str,
    payload: Vec<u8>,
) -> Result<(), String> {
    publish_raw_within(jetstream, subject, message_id, payload, PUBLISH_TIMEOUT).await
}

/// [`publish_raw`] waiting at most `timeout` for the ack.
pub async fn publish_raw_within(
    jetstream: &jetstream::Context,
    subject: &str,
    message_id: &str,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", message_id);
    crate::trace_context::inject_nats(&mut headers);
    let published = async {
        jetstream
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, published).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(format!("no ack from JetStream within {} ms", timeout.as_millis())),
    }
}

/// Why a message could not be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandleError {
    /// Worth another try (a dependency is down): redelivered with backoff, parked after
    /// the last delivery.
    Retry(String),
    /// Will never succeed (malformed payload, bad configuration): parked at once.
    Park(String),
}

/// A durable pull consumer of one subject.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The stream.
    pub stream: String,
    /// The subject filter.
    pub subject: String,
    /// The durable name.
    pub durable: String,
    /// Deliveries of a failing message before it is parked (counted by the handler; the
    /// server itself never drops a message).
    pub max_deliver: i64,
    /// Redelivery delay of the first retry; doubled per delivery up to 32 times it.
    pub backoff: Duration,
}

impl ConsumerSpec {
    /// The durable consumer `<stream_prefix>_<service>_<event>` of
    /// `<subject_prefix>.<service>.<event>` on the service's stream; 5 deliveries, 1 s
    /// first backoff.
    pub fn for_event(nats: &crate::NatsSettings, service: &str, event: &str) -> Self {
        Self {
            stream: nats.stream(service),
            subject: nats.subject(service, event),
            durable: format!("{}_{service}_{event}", nats.stream_prefix),
            max_deliver: 5,
            backoff: Duration::from_secs(1),
        }
    }

    /// `consumer`'s durable consumer of another service's event: `<stream_prefix>_<consumer>_<event>`
    /// on the owner's stream, so every consuming service has its own consumer (and its own
    /// copy of each message). Otherwise as [`ConsumerSpec::for_event`].
    pub fn for_event_of(nats: &crate::NatsSettings, owner: &str, event: &str, consumer: &str) -> Self {
        Self { durable: format!("{}_{consumer}_{event}", nats.stream_prefix), ..Self::for_event(nats, owner, event) }
    }
}

/// Keeps a message that failed every delivery in the service's `parked_message` table
/// (each service's migrations create it), where operators list and re-drive it.
pub async fn park_message(
    pool: &sqlx::PgPool,
    subject: &str,
    payload: &str,
    error: &str,
    deliveries: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO parked_message (subject, payload, error, deliveries) VALUES ($1, $2, $3, $4)")
        .bind(subject)
        .bind(payload)
        .bind(error)
        .bind(i32::try_from(deliveries).unwrap_or(i32::MAX))
        .execute(pool)
        .await
        .map(drop)
}

/// Runs the durable consumer `spec` with `handle` until `shutdown`, restarting it if it
/// fails, parking what can never be handled in `pool`'s `parked_message` table.
pub async fn run_consumer<T, H, HF>(
    jetstream: jetstream::Context,
    spec: ConsumerSpec,
    pool: sqlx::PgPool,
    handle: H,
    shutdown: CancellationToken,
) where
    T: DeserializeOwned,
    H: Fn(Envelope<T>) -> HF,
    HF: Future<Output = Result<(), HandleError>>,
{
    let name = spec.durable.clone();
    keep_consuming(&name, shutdown.clone(), || {
        consume(
            &jetstream,
            &spec,
            &handle,
            |subject, payload, reason, deliveries| {
                let pool = pool.clone();
                async move { park_message(&pool, &subject, &payload, &reason, deliveries).await.map_err(|e| e.to_string()) }
            },
            &shutdown,
        )
    })
    .await;
}

/// What to tell JetStream about a handled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Done (or a harmless replay).
    Ack,
    /// Never deliver again (it was parked).
    Term,
    /// Deliver again after the delay.
    Nak(Duration),
}

/// How many messages one consumer handles at once. Handlers are idempotent and order-free
/// (ARCHITECTURE.md §5), so a consumer need not wait for one database round trip before
/// starting the next: one at a time capped award delivery at roughly one transaction
/// latency per message (docs/BENCHMARKS.md, award delivery latency).
pub const CONSUMER_CONCURRENCY: usize = 16;

/// Runs `handle(subject, payload, deliveries)` for every message of `spec` until
/// `shutdown` (or a consumer error, which is returned so the caller can restart) and
/// acknowledges as it decides; up to [`CONSUMER_CONCURRENCY`] messages at once, and on
/// shutdown the ones in hand are finished first. The server sets no delivery limit: only the handler ends a
/// message (Ack or Term), so nothing is dropped without the handler knowing.
pub async fn consume_raw<H, HF>(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    handle: H,
    shutdown: &CancellationToken,
) -> Result<(), String>
where
    H: Fn(String, String, i64) -> HF,
    HF: Future<Output = Decision>,
{
    let stream = jetstream.get_stream(&spec.stream).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            &spec.durable,
            pull::Config {
                durable_name: Some(spec.durable.clone()),
                filter_subject: spec.subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    let handle = &handle;
    let mut in_flight = FuturesUnordered::new();
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
            next = messages.next(), if in_flight.len() < CONSUMER_CONCURRENCY => match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(durable = %spec.durable, %error, "consumer error");
                    continue;
                }
                None => {
                    while in_flight.next().await.is_some() {}
                    return Err(format!("consumer {} ended", spec.durable));
                }
            },
        };
        let span = crate::trace_context::consume_span(&message.subject, message.headers.as_ref());
        in_flight.push(tracing::Instrument::instrument(
            async move {
                let deliveries = message.info().map_or(1, |info| info.delivered);
                let payload = String::from_utf8_lossy(&message.payload).into_owned();
                let acked = match handle(message.subject.to_string(), payload, deliveries).await {
                    Decision::Ack => message.ack().await,
                    Decision::Term => message.ack_with(AckKind::Term).await,
                    Decision::Nak(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
                };
                if let Err(error) = acked {
                    tracing::warn!(durable = %spec.durable, %error, "ack failed; the message will be redelivered");
                }
            },
            span,
        ));
    }
    // Shutting down: let the messages being handled finish and be acknowledged.
    while in_flight.next().await.is_some() {}
    Ok(())
}

/// The redelivery delay after `deliveries` failed deliveries: `backoff` doubled per
/// delivery, at most 32 times it.
pub fn backoff_delay(backoff: Duration, deliveries: i64) -> Duration {
    backoff * 2_u32.pow(u32::try_from(deliveries.clamp(1, 6) - 1).unwrap_or(0))
}

/// Runs `handle` for every event of `spec` until `shutdown`: acks on success; naks with
/// backoff on `Retry`; on `Park` or after `max_deliver` deliveries calls `park(subject,
/// payload, reason, deliveries)` and terminates the message — unless parking fails, then it
/// is redelivered. Nothing is dropped silently.
pub async fn consume<T, H, HF, P, PF>(
    jetstream: &jetstream::Context,
    spec: &ConsumerSpec,
    handle: H,
    park: P,
    shutdown: &CancellationToken,
) -> Result<(), String>
where
    T: DeserializeOwned,
    H: Fn(Envelope<T>) -> HF,
    HF: Future<Output = Result<(), HandleError>>,
    P: Fn(String, String, String, i64) -> PF,
    PF: Future<Output = Result<(), String>>,
{
    let handle = &handle;
    let park = &park;
    consume_raw(
        jetstream,
        spec,
        |subject, payload, deliveries| async move {
            let result = match serde_json::from_str::<Envelope<T>>(&payload) {
                Ok(envelope) => handle(envelope).await,
                Err(error) => Err(HandleError::Park(format!("malformed event: {error}"))),
            };
            match result {
                Ok(()) => Decision::Ack,
                Err(HandleError::Retry(reason)) if deliveries < spec.max_deliver => {
                    let delay = backoff_delay(spec.backoff, deliveries);
                    tracing::warn!(durable = %spec.durable, %reason, deliveries, ?delay, "handling failed; redelivering");
                    metrics::counter!("bm_events_redelivered_total", "durable" => spec.durable.clone()).increment(1);
                    Decision::Nak(delay)
                }
                Err(HandleError::Retry(reason) | HandleError::Park(reason)) => {
                    tracing::error!(durable = %spec.durable, %reason, deliveries, "message parked");
                    match park(subject, payload, reason, deliveries).await {
                        Ok(()) => {
                            metrics::counter!("bm_events_parked_total", "durable" => spec.durable.clone()).increment(1);
                            Decision::Term
                        }
                        Err(error) => {
                            tracing::error!(durable = %spec.durable, %error, "cannot park; redelivering");
                            Decision::Nak(backoff_delay(spec.backoff, deliveries))
                        }
                    }
                }
            }
        },
        shutdown,
    )
    .await
}

/// Runs `consume` again (after a pause) whenever it stops with an error, until `shutdown`.
pub async fn keep_consuming<F, Fut>(name: &str, shutdown: CancellationToken, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        match run().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(consumer = name, %error, "consumer stopped; restarting in 2 s"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
