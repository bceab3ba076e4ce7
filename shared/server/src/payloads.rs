//! The payloads (`data`) of the events one service publishes and another consumes
//! (docs/architecture.md, "Events"): each defined once, here, so the producer and its
//! consumers cannot drift apart.

use serde::{Deserialize, Serialize};

/// `<subject_prefix>.activity.send_rebate` on `<stream_prefix>_ACTIVITY`: one rebate order of
/// a user's behaviour (spec §7.1). activity-quota grants the `sku` ones (a no-pay recharge),
/// award credits the `integral` ones (a forward credit trade); each ignores the other kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRebate {
    /// The user.
    pub user_id: String,
    /// The rebate order id.
    pub order_id: String,
    /// The behaviour rebated (`sign`, `openai_pay`).
    pub behavior_type: String,
    /// `sku` or `integral`.
    pub rebate_type: String,
    /// A sku id (`sku`) or a credit amount (`integral`).
    pub rebate_config: String,
    /// The rebate's description.
    #[serde(default)]
    pub rebate_desc: String,
    /// `<user_id>_<rebate_type>_<out_business_no>`: the business number of the recharge or
    /// credit trade the rebate becomes, so a redelivery grants it once.
    pub biz_id: String,
    /// The behaviour's business number.
    #[serde(default)]
    pub out_business_no: String,
}

/// `<subject_prefix>.award.credit_adjust_success` on `<stream_prefix>_AWARD`: a credit trade
/// was booked (spec §7.2) — published only for trades that committed (spec §14 bug 5), once
/// per trade. activity-quota completes the credit-paid recharge order a reverse trade paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAdjustSuccess {
    /// The user.
    pub user_id: String,
    /// The credit order id (award's ledger row).
    pub order_id: String,
    /// The caller's idempotency key of the trade: a credit-paid recharge order's business
    /// number for an exchange.
    pub out_business_no: String,
    /// `forward` or `reverse`.
    pub trade_type: String,
    /// The traded amount, positive, as a decimal string (the direction is `trade_type`).
    pub amount: rust_decimal::Decimal,
}
