//! Events on NATS JetStream (ARCHITECTURE.md §5): the envelope every event travels in, a
//! publish that waits for the stream's ack with `Nats-Msg-Id` set (broker de-duplication),
//! and a durable consumer loop with explicit ack, redelivery with backoff and parking.

use std::{future::Future, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
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
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", envelope.id.as_str());
    let published = async {
        jetstream
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(PUBLISH_TIMEOUT, published).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(format!("no ack from JetStream within {PUBLISH_TIMEOUT:?}")),
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
    /// Deliveries before a failing message is parked.
    pub max_deliver: i64,
    /// Redelivery delay of the first retry; doubled per delivery up to 32 times it.
    pub backoff: Duration,
}

/// Runs `handle` for every message of `spec` until `shutdown` (or a consumer error, which is
/// returned so the caller can restart). Acks on success; naks with backoff on
/// `Retry`; on `Park` or the last delivery calls `park(subject, payload, reason,
/// deliveries)` and terminates the message — unless parking fails, then it is left for
/// redelivery. Nothing is dropped silently.
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
    let stream = jetstream.get_stream(&spec.stream).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            &spec.durable,
            pull::Config {
                durable_name: Some(spec.durable.clone()),
                filter_subject: spec.subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_deliver: spec.max_deliver + 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = messages.next() => match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(durable = %spec.durable, %error, "consumer error");
                    continue;
                }
                None => return Err(format!("consumer {} ended", spec.durable)),
            },
        };
        let deliveries = message.info().map_or(1, |info| info.delivered);
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        let result = match serde_json::from_str::<Envelope<T>>(&payload) {
            Ok(envelope) => handle(envelope).await,
            Err(error) => Err(HandleError::Park(format!("malformed event: {error}"))),
        };
        let ack = match result {
            Ok(()) => message.ack().await,
            Err(HandleError::Retry(reason)) if deliveries < spec.max_deliver => {
                let delay = spec.backoff * 2_u32.pow(u32::try_from(deliveries.clamp(1, 6) - 1).unwrap_or(0));
                tracing::warn!(durable = %spec.durable, %reason, deliveries, ?delay, "handling failed; redelivering");
                message.ack_with(AckKind::Nak(Some(delay))).await
            }
            Err(HandleError::Retry(reason) | HandleError::Park(reason)) => {
                tracing::error!(durable = %spec.durable, %reason, deliveries, "message parked");
                if let Err(error) = park(message.subject.to_string(), payload, reason, deliveries).await {
                    tracing::error!(durable = %spec.durable, %error, "cannot park; leaving it for redelivery");
                    continue;
                }
                message.ack_with(AckKind::Term).await
            }
        };
        if let Err(error) = ack {
            tracing::warn!(durable = %spec.durable, %error, "ack failed; the message will be redelivered");
        }
    }
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
