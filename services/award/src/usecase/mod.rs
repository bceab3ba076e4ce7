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

use std::sync::Arc;

use bm_kernel::{Clock, RandomSource};
use bm_server::outbox::Outbox;
use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;

pub use credit_trade::{CreditTradeCommand, CreditTraded};
pub use distribute::{Acknowledge, Distributed};
pub use error::AwardError;
pub use rebate::{INTEGRAL, REBATE_TRADE_NAME, RebateHandled};
pub use record_award::{RecordAwardCommand, RecordedAward};

use crate::{delivery::ExternalDelivery, storage::AwardStore};

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
    pub(crate) outbox: Outbox,
    pub(crate) delivery: Arc<dyn ExternalDelivery>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) subjects: EventSubjects,
    /// Where work after the answer runs (the server's tracker: shutdown waits for it).
    pub(crate) background: TaskTracker,
}

impl AwardUseCases {
    /// Wires the use cases; `subjects` say where records and trades are announced, through
    /// `outbox` (the shared transactional outbox over the award database); the publishes
    /// after commit run on `background`.
    pub fn new(
        store: AwardStore,
        outbox: Outbox,
        delivery: Arc<dyn ExternalDelivery>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        subjects: EventSubjects,
        background: TaskTracker,
    ) -> Self {
        Self { store, outbox, delivery, clock, random, subjects, background }
    }

    /// The outbox (for the relay worker).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The store (for the workers).
    pub fn store(&self) -> &AwardStore {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
