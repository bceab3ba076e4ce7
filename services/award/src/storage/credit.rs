//! `user_credit_account` and its ledger `user_credit_order`. Every change of a balance locks
//! the account row and writes one ledger row with the balances after it: credit trades
//! through `book_in` (which also enforces the rule for reverse trades), award credits —
//! forward only, on the send_award consumer's hot path — in one statement (`credit_award`).

use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::{AwardStore, Completion, NewTask};
use crate::{
    domain::{AWARD_BUSINESS_PREFIX, InsufficientCredit, TradeType},
    usecase::AwardError,
};

/// A user's credit account (the domain's balance pair).
pub use crate::domain::CreditBalance as CreditAccount;

/// The ledger's trade name of award credits.
const AWARD_TRADE_NAME: &str = "award";
/// The CHECK of migration 0001 that keeps a balance from going negative.
const AVAILABLE_NOT_NEGATIVE: &str = "user_credit_account_available_amount_check";

/// A trade to book: one ledger row and its balance change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreditTrade {
    /// The user.
    pub user_id: String,
    /// The credit order id the ledger row gets when the trade is new.
    pub order_id: String,
    /// What the trade is for (`award`, `rebate`, …).
    pub trade_name: String,
    /// The direction.
    pub trade_type: TradeType,
    /// The amount, not negative (the ledger stores it signed).
    pub amount: Decimal,
    /// The idempotency key, unique per user.
    pub out_business_no: String,
}

/// A trade as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedTrade {
    /// The credit order id.
    pub order_id: String,
    /// What the trade is for.
    pub trade_name: String,
    /// The direction.
    pub trade_type: TradeType,
    /// The amount, not negative.
    pub amount: Decimal,
    /// The account right after the trade; `None` on award rows older than migration 0002.
    pub after: Option<CreditAccount>,
}

impl BookedTrade {
    /// Whether `trade` asks for exactly this booked trade (a true repeat).
    pub fn is_same_trade(&self, trade: &NewCreditTrade) -> bool {
        self.trade_name == trade.trade_name && self.trade_type == trade.trade_type && self.amount == trade.amount
    }
}

/// What booking a trade found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Booking {
    /// Booked now.
    New(BookedTrade),
    /// The user's ledger has a trade with this out_business_no already; nothing changed.
    Existing(BookedTrade),
}

#[derive(sqlx::FromRow)]
struct BookedRow {
    order_id: String,
    trade_name: String,
    trade_type: String,
    trade_amount: Decimal,
    total_after: Option<Decimal>,
    available_after: Option<Decimal>,
}

impl TryFrom<BookedRow> for BookedTrade {
    type Error = AwardError;

    fn try_from(row: BookedRow) -> Result<Self, AwardError> {
        let trade_type =
            row.trade_type.parse().map_err(|e| AwardError::Corrupt(format!("credit order {}: {e}", row.order_id)))?;
        let after = match (row.total_after, row.available_after) {
            (Some(total_amount), Some(available_amount)) => Some(CreditAccount { total_amount, available_amount }),
            _ => None,
        };
        Ok(Self {
            order_id: row.order_id,
            trade_name: row.trade_name,
            trade_type,
            amount: row.trade_amount.abs(),
            after,
        })
    }
}

impl AwardStore {
    /// Credits `amount` for an award record, in one statement (one round trip, its own
    /// transaction): the record moves `create → completed`, and, when the ledger has no
    /// credit for this award yet (`out_business_no = award:<order>`), the account is created
    /// or increased and the ledger row written with the balances the account's upsert
    /// returns — under the row lock the upsert takes, so they are the balances right after
    /// this credit. A record already completed (a redelivery) credits nothing; a record an
    /// operator reset to `create` completes without crediting twice.
    ///
    /// The ledger check reads the statement's snapshot. The one case it cannot see — the
    /// credit committed by a statement this one waited for on the record's row lock, and the
    /// record reset to `create` meanwhile — ends on the ledger's unique key: the statement
    /// fails as a whole (nothing credited) and the delivery's retry completes the record
    /// without a credit (`services/award/tests/storage.rs`).
    #[tracing::instrument(name = "db.credit.award", skip_all, fields(user_id = %user_id, order_id = %order_id, %amount))]
    pub async fn credit_award(
        &self,
        user_id: &str,
        order_id: &str,
        credit_order_id: &str,
        amount: Decimal,
    ) -> Result<Completion, AwardError> {
        let (moved, booked): (i64, i64) = sqlx::query_as(
            "WITH completed AS (\
               UPDATE user_award_record SET award_state = 'completed', updated_at = now() \
               WHERE user_id = $1 AND order_id = $2 AND award_state = 'create' RETURNING 1), \
             fresh AS (\
               SELECT 1 FROM completed WHERE NOT EXISTS (\
                 SELECT 1 FROM user_credit_order WHERE user_id = $1 AND out_business_no = $3)), \
             credited AS (\
               INSERT INTO user_credit_account (user_id, total_amount, available_amount) SELECT $1, $4, $4 FROM fresh \
               ON CONFLICT (user_id) DO UPDATE SET \
                 total_amount = user_credit_account.total_amount + EXCLUDED.total_amount, \
                 available_amount = user_credit_account.available_amount + EXCLUDED.available_amount, \
                 updated_at = now() \
               RETURNING total_amount, available_amount), \
             booked AS (\
               INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, \
                                              out_business_no, total_after, available_after) \
               SELECT $1, $5, $6, 'forward', $4, $3, total_amount, available_amount FROM credited RETURNING 1) \
             SELECT (SELECT count(*) FROM completed), (SELECT count(*) FROM booked)",
        )
        .bind(user_id)
        .bind(order_id)
        .bind(format!("{AWARD_BUSINESS_PREFIX}{order_id}"))
        .bind(amount)
        .bind(credit_order_id)
        .bind(AWARD_TRADE_NAME)
        .fetch_one(&self.pool)
        .await?;
        if moved == 0 {
            let mut connection = self.pool.acquire().await?;
            return Self::unmoved(&mut connection, user_id, order_id).await;
        }
        if booked == 0 {
            // The ledger has this award's credit already (a record reset by an operator):
            // the balance has it too, so only the record moved on.
            tracing::warn!("award credit already in the ledger; completed the record without crediting again");
        }
        Ok(Completion::Completed)
    }

    /// Books a credit trade and, when it is new, its outbox task, in one transaction. A
    /// repeat (same user and out_business_no) writes nothing and returns the booked trade;
    /// a reverse trade above the available balance fails with `InsufficientCredit` and
    /// writes nothing.
    #[tracing::instrument(name = "db.credit.trade", skip_all,
        fields(user_id = %trade.user_id, order_id = %trade.order_id, out_business_no = %trade.out_business_no))]
    pub async fn credit_trade(&self, trade: &NewCreditTrade, task: &NewTask) -> Result<Booking, AwardError> {
        let mut tx = self.pool.begin().await?;
        let booking = Self::book_in(&mut tx, trade).await?;
        if let Booking::New(_) = booking {
            bm_server::outbox::OutboxStore::enqueue_in(&mut tx, task).await?;
            tx.commit().await?;
        }
        // Existing: the transaction is dropped, so even the lock's touch is rolled back.
        Ok(booking)
    }

    /// Books `trade` inside `tx`. The account row is locked first (`FOR UPDATE`, or the
    /// upsert that creates it for a forward trade), so all trades of one user serialise:
    /// the repeat check, the balance check and the write see one state, and concurrent
    /// reverse trades can never overdraw. A repeat is found by the ledger's unique key
    /// (`ON CONFLICT (user_id, out_business_no) DO NOTHING`) before the balance moves; a
    /// refused debit first looks for a repeat, so a retried debit that succeeded before is a
    /// duplicate, not `InsufficientCredit`. A reverse trade on a user without an account is
    /// `InsufficientCredit` (nothing is available). The CHECK `available_amount >= 0` stays
    /// as the last line of defence.
    pub(super) async fn book_in(tx: &mut PgConnection, trade: &NewCreditTrade) -> Result<Booking, AwardError> {
        let balance = Self::lock_account(tx, &trade.user_id, trade.trade_type).await?;
        let expected = match balance.unwrap_or_default().apply(trade.trade_type, trade.amount) {
            Ok(expected) => expected,
            Err(shortfall) => {
                return match Self::trade_by_business_no(tx, &trade.user_id, &trade.out_business_no).await? {
                    Some(existing) => Ok(Booking::Existing(existing)),
                    None => Err(AwardError::InsufficientCredit { user_id: trade.user_id.clone(), shortfall }),
                };
            }
        };
        let total_delta = if trade.trade_type == TradeType::Forward { trade.amount } else { Decimal::ZERO };
        // The ledger row and the balance move in one statement: the balance moves only when
        // the row is new (`booked` is empty on a repeat), and under the lock taken above.
        let (booked, total_after, available_after): (i64, Option<Decimal>, Option<Decimal>) = sqlx::query_as(
            "WITH booked AS (\
               INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, out_business_no, \
                                              total_after, available_after) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, out_business_no) DO NOTHING RETURNING 1), \
             moved AS (\
               UPDATE user_credit_account SET total_amount = total_amount + $9, \
                   available_amount = available_amount + $5, updated_at = now() \
               WHERE user_id = $1 AND EXISTS (SELECT 1 FROM booked) RETURNING total_amount, available_amount) \
             SELECT (SELECT count(*) FROM booked), moved.total_amount, moved.available_amount \
             FROM (SELECT 1) AS one LEFT JOIN moved ON true",
        )
        .bind(&trade.user_id)
        .bind(&trade.order_id)
        .bind(&trade.trade_name)
        .bind(trade.trade_type.as_str())
        .bind(trade.trade_type.signed(trade.amount))
        .bind(&trade.out_business_no)
        .bind(expected.total_amount)
        .bind(expected.available_amount)
        .bind(total_delta)
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db) if db.constraint() == Some(AVAILABLE_NOT_NEGATIVE) => {
                AwardError::InsufficientCredit {
                    user_id: trade.user_id.clone(),
                    shortfall: InsufficientCredit { available: expected.available_amount, requested: trade.amount },
                }
            }
            _ => AwardError::Database(error),
        })?;
        if booked == 0 {
            let existing = Self::trade_by_business_no(tx, &trade.user_id, &trade.out_business_no).await?;
            return existing.map(Booking::Existing).ok_or_else(|| {
                AwardError::Corrupt(format!(
                    "out_business_no {} of {} conflicted but is absent",
                    trade.out_business_no, trade.user_id
                ))
            });
        }
        let (Some(total_amount), Some(available_amount)) = (total_after, available_after) else {
            return Err(AwardError::Corrupt(format!("account of {} vanished under its lock", trade.user_id)));
        };
        let after = CreditAccount { total_amount, available_amount };
        if after != expected {
            // The ledger row says `expected`; never commit a different balance.
            return Err(AwardError::Corrupt(format!(
                "account of {} moved to {after:?} instead of {expected:?} under its lock",
                trade.user_id
            )));
        }
        Ok(Booking::New(BookedTrade {
            order_id: trade.order_id.clone(),
            trade_name: trade.trade_name.clone(),
            trade_type: trade.trade_type,
            amount: trade.amount,
            after: Some(after),
        }))
    }

    /// Locks the user's account row and returns its balances. A forward trade creates the
    /// account when absent (the upsert locks the row it finds or inserts); a reverse trade
    /// only locks an existing one (`None` without an account).
    async fn lock_account(
        tx: &mut PgConnection,
        user_id: &str,
        trade_type: TradeType,
    ) -> Result<Option<CreditAccount>, AwardError> {
        let sql = match trade_type {
            TradeType::Forward => {
                "INSERT INTO user_credit_account (user_id) VALUES ($1) \
                 ON CONFLICT (user_id) DO UPDATE SET updated_at = user_credit_account.updated_at \
                 RETURNING total_amount, available_amount"
            }
            TradeType::Reverse => {
                "SELECT total_amount, available_amount FROM user_credit_account WHERE user_id = $1 FOR UPDATE"
            }
        };
        let row: Option<(Decimal, Decimal)> = sqlx::query_as(sql).bind(user_id).fetch_optional(&mut *tx).await?;
        Ok(row.map(|(total_amount, available_amount)| CreditAccount { total_amount, available_amount }))
    }

    async fn trade_by_business_no(
        tx: &mut PgConnection,
        user_id: &str,
        out_business_no: &str,
    ) -> Result<Option<BookedTrade>, AwardError> {
        let row: Option<BookedRow> = sqlx::query_as(
            "SELECT order_id, trade_name, trade_type, trade_amount, total_after, available_after \
             FROM user_credit_order WHERE user_id = $1 AND out_business_no = $2",
        )
        .bind(user_id)
        .bind(out_business_no)
        .fetch_optional(&mut *tx)
        .await?;
        row.map(BookedTrade::try_from).transpose()
    }

    /// A user's credit account; `None` when the user has none.
    pub async fn credit_account(&self, user_id: &str) -> Result<Option<CreditAccount>, AwardError> {
        let row: Option<(Decimal, Decimal)> =
            sqlx::query_as("SELECT total_amount, available_amount FROM user_credit_account WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(total_amount, available_amount)| CreditAccount { total_amount, available_amount }))
    }
}
