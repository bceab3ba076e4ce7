//! `user_credit_account` and its ledger `user_credit_order`.

use rust_decimal::Decimal;

use super::{AwardStore, Completion};
use crate::usecase::AwardError;

/// A user's credit account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditAccount {
    /// Lifetime credit earned.
    pub total_amount: Decimal,
    /// Credit available to spend.
    pub available_amount: Decimal,
}

/// The ledger's trade name of award credits.
const AWARD_TRADE_NAME: &str = "award";

impl AwardStore {
    /// Credits `amount` for an award record, in one transaction: the record moves
    /// `create → completed`, the ledger gets its row (`out_business_no = award:<order>`), and
    /// the account is created or increased. A record already completed (a redelivery)
    /// credits nothing.
    #[tracing::instrument(name = "db.credit.award", skip_all, fields(user_id, order_id, %amount))]
    pub async fn credit_award(
        &self,
        user_id: &str,
        order_id: &str,
        credit_order_id: &str,
        amount: Decimal,
    ) -> Result<Completion, AwardError> {
        let mut tx = self.pool.begin().await?;
        let completion = Self::complete_in(&mut tx, user_id, order_id).await?;
        if completion != Completion::Completed {
            return Ok(completion);
        }
        let booked = sqlx::query(
            "INSERT INTO user_credit_order (user_id, order_id, trade_name, trade_type, trade_amount, out_business_no) \
             VALUES ($1, $2, $3, 'forward', $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(credit_order_id)
        .bind(AWARD_TRADE_NAME)
        .bind(amount)
        .bind(format!("award:{order_id}"))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if booked == 0 {
            // The ledger has this award's credit already (a record reset by an operator):
            // the balance has it too, so only the record moves on.
            tracing::warn!("award credit already in the ledger; completing the record without crediting again");
        } else {
            sqlx::query(
                "INSERT INTO user_credit_account (user_id, total_amount, available_amount) VALUES ($1, $2, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET total_amount = user_credit_account.total_amount + EXCLUDED.total_amount, \
                     available_amount = user_credit_account.available_amount + EXCLUDED.available_amount, updated_at = now()",
            )
            .bind(user_id)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(completion)
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
