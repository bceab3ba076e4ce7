//! Background work: the outbox relay and the send_award distributor. Both stop when the
//! server shuts down.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::usecase::{Acknowledge, AwardUseCases};

/// Every `interval` (at once again while a round fills its batch), relays due outbox tasks.
pub async fn relay_outbox(use_cases: AwardUseCases, interval: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let busy = match use_cases.relay_once().await {
            Ok(round) => round.claimed > 0 && round.published == round.claimed,
            Err(error) => {
                tracing::warn!(error = %bm_status::ErrorChain(&error), "outbox relay round failed; retrying next round");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Where the distributor reads.
#[derive(Debug, Clone)]
pub struct SendAwardConsumer {
    /// The stream (`<stream_prefix>_AWARD`).
    pub stream: String,
    /// The subject (`<subject_prefix>.award.send_award`).
    pub subject: String,
    /// The durable consumer (`<stream_prefix>_award_send_award`).
    pub durable: String,
    /// Deliveries of a failing message before it is parked.
    pub max_deliveries: i64,
}

/// Runs the send_award distributor, restarting it (with a pause) if it fails.
pub async fn distribute_awards(
    jetstream: jetstream::Context,
    consumer: SendAwardConsumer,
    use_cases: AwardUseCases,
    shutdown: CancellationToken,
) {
    loop {
        match consume(&jetstream, &consumer, &use_cases, &shutdown).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "send_award consumer stopped; restarting in 2 s"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// The durable pull consumer: explicit ack, no delivery limit on the server (the handler
/// parks a message itself, so a message is never dropped without a parked row).
async fn consume(
    jetstream: &jetstream::Context,
    config: &SendAwardConsumer,
    use_cases: &AwardUseCases,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let stream = jetstream.get_stream(&config.stream).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            &config.durable,
            pull::Config {
                durable_name: Some(config.durable.clone()),
                filter_subject: config.subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
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
                    tracing::warn!(%error, "send_award consumer error");
                    continue;
                }
                None => return Err("send_award consumer ended".into()),
            },
        };
        let deliveries = message.info().map_or(1, |info| info.delivered);
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        let decision =
            use_cases.handle_send_award(message.subject.as_str(), &payload, deliveries, config.max_deliveries).await;
        let acked = match decision {
            Acknowledge::Ack => message.ack().await,
            Acknowledge::Term => message.ack_with(AckKind::Term).await,
            Acknowledge::Nak(delay) => message.ack_with(AckKind::Nak(Some(delay))).await,
        };
        if let Err(error) = acked {
            tracing::warn!(%error, "ack failed; the message will be redelivered (handling is idempotent)");
        }
    }
}
