//! The operations of the award service: record an award (with its outbox task), book a
//! credit trade (with its outbox task), relay the outbox, distribute an award, and the
//! queries. Each loads, decides with the pure
//! `domain`, and saves.

mod credit_trade;
mod distribute;
mod error;
mod query;
mod rebate;
mod record_award;
mod relay;

use std::{sync::Arc, time::Duration};

use bm_kernel::{Clock, RandomSource};
use chrono::{DateTime, Utc};

pub use credit_trade::{CreditTradeCommand, CreditTraded};
pub use distribute::{Acknowledge, Distributed};
pub use error::AwardError;
pub use rebate::{INTEGRAL, REBATE_TRADE_NAME, RebateHandled};
pub use record_award::{RecordAwardCommand, RecordedAward};
pub use relay::RelayRound;

use crate::{delivery::ExternalDelivery, events::Publisher, storage::AwardStore};

/// When the outbox is (re)tried.
#[derive(Debug, Clone, Copy)]
pub struct OutboxTiming {
    /// How long a new task is left to the RPC's own publish before the relay may take it.
    pub relay_after: Duration,
    /// How long a claimed task stays with the relay that claimed it.
    pub lease: Duration,
    /// The first retry delay; doubled per failure.
    pub retry_base: Duration,
    /// The longest retry delay (tasks are retried at this pace for ever).
    pub retry_max: Duration,
    /// Tasks claimed per relay round.
    pub batch: i64,
}

/// Where the award service's events are published (`<subject_prefix>.award.<event>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubjects {
    /// An award record was saved (consumed by the distributor).
    pub send_award: String,
    /// A credit trade was booked.
    pub credit_adjust_success: String,
}

/// The award service's use cases over their storage and messaging.
#[derive(Debug, Clone)]
pub struct AwardUseCases {
    pub(crate) store: AwardStore,
    pub(crate) publisher: Publisher,
    pub(crate) delivery: Arc<dyn ExternalDelivery>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) subjects: EventSubjects,
    pub(crate) timing: OutboxTiming,
}

impl AwardUseCases {
    /// Wires the use cases; `subjects` say where records and trades are announced.
    pub fn new(
        store: AwardStore,
        publisher: Publisher,
        delivery: Arc<dyn ExternalDelivery>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        subjects: EventSubjects,
        timing: OutboxTiming,
    ) -> Self {
        Self { store, publisher, delivery, clock, random, subjects, timing }
    }

    /// The store (for the workers).
    pub fn store(&self) -> &AwardStore {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn after(&self, delay: Duration) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }
}
