//! The award rules of spec §6 and the credit trades of §7.2, pure: no I/O, no clock, no
//! randomness of its own.

pub mod award;
pub mod credit;
pub mod trade;

pub use award::{AwardState, Delivery};
pub use credit::{CREDIT_SCALE, CreditRange, MAX_CREDIT, round_significant};
pub use trade::{
    AWARD_BUSINESS_PREFIX, BusinessNoError, CreditBalance, InsufficientCredit, TradeAmountError, TradeType,
    UnknownTradeType, caller_business_no, parse_trade_amount,
};

/// An award config that cannot be used (`ERR_CONFIG_001`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ERR_CONFIG_001: award_config {config:?} is not a range like 1,100: {reason}")]
pub struct AwardConfigError {
    /// The config as received.
    pub config: String,
    /// What is wrong with it.
    pub reason: String,
}

impl AwardConfigError {
    pub(crate) fn new(config: &str, reason: impl Into<String>) -> Self {
        Self { config: config.to_owned(), reason: reason.into() }
    }
}
