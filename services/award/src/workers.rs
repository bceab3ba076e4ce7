//! Background work: the send_award distributor (the outbox relay is the shared
//! `bm_server::outbox::run_relay`). It stops when the server shuts down.

use std::time::Duration;

use async_nats::jetstream;
use bm_server::events::{ConsumerSpec, Decision, consume_raw, keep_consuming};
use tokio_util::sync::CancellationToken;

use crate::usecase::{Acknowledge, AwardUseCases};

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

/// Runs the send_award distributor until shutdown, restarting it (with a pause) if it fails.
pub async fn distribute_awards(
    jetstream: jetstream::Context,
    consumer: SendAwardConsumer,
    use_cases: AwardUseCases,
    shutdown: CancellationToken,
) {
    let spec = ConsumerSpec {
        stream: consumer.stream.clone(),
        subject: consumer.subject.clone(),
        durable: consumer.durable.clone(),
        max_deliver: consumer.max_deliveries,
        backoff: Duration::from_secs(2),
    };
    let use_cases = &use_cases;
    let max_deliveries = consumer.max_deliveries;
    let durable = spec.durable.as_str();
    keep_consuming("send_award", shutdown.clone(), || {
        consume_raw(
            &jetstream,
            &spec,
            |subject, payload, deliveries| async move {
                match use_cases.handle_send_award(&subject, &payload, deliveries, max_deliveries).await {
                    Acknowledge::Ack => Decision::Ack,
                    Acknowledge::Term => {
                        // Term follows a successful park only.
                        metrics::counter!("bm_events_parked_total", "durable" => durable.to_owned()).increment(1);
                        Decision::Term
                    }
                    Acknowledge::Nak(delay) => {
                        metrics::counter!("bm_events_redelivered_total", "durable" => durable.to_owned()).increment(1);
                        Decision::Nak(delay)
                    }
                }
            },
            &shutdown,
        )
    })
    .await;
}

/// Runs award's durable consumer of activity-quota's `send_rebate`
/// (`<stream_prefix>_award_send_rebate` on `<stream_prefix>_ACTIVITY`) until shutdown:
/// `integral` rebates become forward credit trades (once each), the rest is acknowledged.
/// Failures are redelivered `max_deliveries` times, then parked in `parked_message`.
pub async fn consume_rebates(
    jetstream: jetstream::Context,
    nats: bm_server::NatsSettings,
    pool: sqlx::PgPool,
    use_cases: AwardUseCases,
    max_deliveries: i64,
    shutdown: CancellationToken,
) {
    let spec = ConsumerSpec {
        max_deliver: max_deliveries,
        ..ConsumerSpec::for_event_of(&nats, "activity", "send_rebate", "award")
    };
    let use_cases = &use_cases;
    bm_server::events::run_consumer(jetstream, spec, pool, |event| use_cases.handle_send_rebate(event), shutdown).await;
}
