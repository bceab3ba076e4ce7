//! Postgres, the award service's only store: award records, the outbox, credit accounts and
//! their ledger (award credits and credit trades), parked messages. Each method that writes more than one row is one
//! transaction; dropping it before `commit` rolls it back.

mod credit;
mod outbox;
mod records;

use sqlx::PgPool;

pub use credit::{BookedTrade, Booking, CreditAccount, NewCreditTrade};
pub use outbox::{ClaimedTask, NewTask};
pub use records::{AwardRecordView, Completion, NewAwardRecord, Recorded};

/// Repository of the award database.
#[derive(Debug, Clone)]
pub struct AwardStore {
    pool: PgPool,
}

impl AwardStore {
    /// A store over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool (for health checks and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Clamps a delivery count into an INTEGER column.
fn int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
