//! CreditTrade (spec §7.2 `ICreditAdjustService.createOrder`, fixing §14 bugs 5–7): a forward
//! or reverse trade on a user's credit account — ledger row, balance change and the
//! credit_adjust_success outbox task in one transaction — then the publish after commit.
//! A failed trade writes and publishes nothing.

use bm_kernel::{BusinessNo, UserId};
use rust_decimal::Decimal;

use super::{AwardError, AwardUseCases};
use crate::{
    domain::TradeType,
    events::{CreditAdjustSuccess, Envelope},
    storage::{Booking, CreditAccount, NewCreditTrade},
};

/// A validated CreditTrade request.
#[derive(Debug, Clone)]
pub struct CreditTradeCommand {
    /// The user.
    pub user_id: UserId,
    /// The idempotency key (never `award:…`, which award credits use).
    pub out_business_no: BusinessNo,
    /// What the trade is for (non-blank, at most 32 characters).
    pub trade_name: String,
    /// The direction.
    pub trade_type: TradeType,
    /// The amount: > 0, at most 6 decimal places, at most `MAX_CREDIT`.
    pub amount: Decimal,
}

/// What CreditTrade did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditTraded {
    /// The credit order id (the ledger row).
    pub order_id: String,
    /// The trade was booked before; nothing was written and this is the first result.
    pub duplicate: bool,
    /// The account right after the trade.
    pub account: CreditAccount,
    /// credit_adjust_success was acknowledged by JetStream now (else the relay sends it).
    pub published: bool,
}

impl AwardUseCases {
    /// Books the trade once per (user, out_business_no). A repeat with the same fields
    /// answers the first result with `duplicate`; with other fields it is `TradeConflict`
    /// (`0003`). A reverse trade above the available balance is `InsufficientCredit`
    /// (`ERR_CREDIT_001`). A publish failure after commit is not an error of the call: the
    /// task is saved and the relay delivers it.
    #[tracing::instrument(name = "award.credit_trade", skip_all, fields(
        user_id = %command.user_id, order_id = tracing::field::Empty, out_business_no = %command.out_business_no,
        trade_type = %command.trade_type, amount = %command.amount))]
    pub async fn credit_trade(&self, command: CreditTradeCommand) -> Result<CreditTraded, AwardError> {
        let now = self.now();
        let trade = NewCreditTrade {
            user_id: command.user_id.into_inner(),
            order_id: uuid::Uuid::new_v4().simple().to_string(),
            trade_name: command.trade_name,
            trade_type: command.trade_type,
            amount: command.amount,
            out_business_no: command.out_business_no.into_inner(),
        };
        let envelope = Envelope {
            id: uuid::Uuid::new_v4().simple().to_string(),
            timestamp: now.timestamp_millis(),
            data: CreditAdjustSuccess {
                user_id: trade.user_id.clone(),
                order_id: trade.order_id.clone(),
                out_business_no: trade.out_business_no.clone(),
                trade_type: trade.trade_type.as_str().to_owned(),
                amount: trade.amount,
            },
        };
        let payload = serde_json::to_string(&envelope)
            .map_err(|e| AwardError::Corrupt(format!("credit_adjust_success payload: {e}")))?;
        let task =
            self.outbox.task(envelope.id, trade.user_id.clone(), self.subjects.credit_adjust_success.clone(), payload);
        match self.store.credit_trade(&trade, &task).await? {
            Booking::New(booked) => {
                tracing::Span::current().record("order_id", booked.order_id.as_str());
                let account = booked.after.ok_or_else(|| AwardError::Corrupt("a new trade without balances".into()))?;
                let published = self.outbox.publish_committed(&task).await;
                tracing::info!(available_amount = %account.available_amount, published, "credit trade booked");
                Ok(CreditTraded { order_id: booked.order_id, duplicate: false, account, published })
            }
            Booking::Existing(booked) => {
                tracing::Span::current().record("order_id", booked.order_id.as_str());
                if !booked.is_same_trade(&trade) {
                    return Err(AwardError::TradeConflict {
                        user_id: trade.user_id,
                        out_business_no: trade.out_business_no,
                        booked: format!("{} {} {}", booked.trade_name, booked.trade_type, booked.amount.normalize()),
                    });
                }
                let account = match booked.after {
                    Some(account) => account,
                    // Only award rows older than migration 0002 lack their balances, and
                    // callers cannot name those; answer the current balance then.
                    None => self.store.credit_account(&trade.user_id).await?.unwrap_or_default(),
                };
                tracing::info!("credit trade booked before; nothing changed");
                Ok(CreditTraded { order_id: booked.order_id, duplicate: true, account, published: false })
            }
        }
    }
}
