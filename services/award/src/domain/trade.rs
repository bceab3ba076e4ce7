//! Credit trades (spec §7.2, fixing §14 bugs 5–7): the trade types, the amount a caller may
//! trade, and how a trade changes a balance. A reverse trade never takes more than the
//! available balance: the check compares the positive amount with what is available (the
//! original compared a negative amount, so it never fired, bug 7).

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;

use super::{CREDIT_SCALE, MAX_CREDIT};

/// The out_business_no prefix of award credits (`award:<raffle order id>`), kept away from
/// callers so a trade can never claim or pre-empt an award's ledger row.
pub const AWARD_BUSINESS_PREFIX: &str = "award:";

/// Why a caller's out_business_no cannot book a trade.
#[derive(Debug, thiserror::Error)]
pub enum BusinessNoError {
    /// Not a business number (empty, too long, control characters).
    #[error(transparent)]
    Invalid(#[from] bm_kernel::IdError),
    /// Starts with [`AWARD_BUSINESS_PREFIX`].
    #[error("the prefix {AWARD_BUSINESS_PREFIX:?} is reserved for award credits")]
    Reserved,
}

/// A trade's out_business_no as a caller (a CreditTrade request, a rebate) may give it: a
/// valid business number outside the award credits' reserved prefix.
pub fn caller_business_no(value: String) -> Result<bm_kernel::BusinessNo, BusinessNoError> {
    let business_no = bm_kernel::BusinessNo::parse(value)?;
    if business_no.as_str().starts_with(AWARD_BUSINESS_PREFIX) {
        return Err(BusinessNoError::Reserved);
    }
    Ok(business_no)
}

/// Which way a trade moves credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeType {
    /// Adds to the account: lifetime total and available balance.
    Forward,
    /// Takes from the available balance (the lifetime total stays).
    Reverse,
}

impl TradeType {
    /// The stored and wire name: `forward` or `reverse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Reverse => "reverse",
        }
    }

    /// The ledger's signed amount of a trade of `amount`: reverse rows are negative.
    pub fn signed(self, amount: Decimal) -> Decimal {
        match self {
            Self::Forward => amount,
            Self::Reverse => -amount,
        }
    }
}

impl fmt::Display for TradeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trade type that is neither `forward` nor `reverse`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be \"forward\" or \"reverse\", got {0:?}")]
pub struct UnknownTradeType(pub String);

impl FromStr for TradeType {
    type Err = UnknownTradeType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "forward" => Ok(Self::Forward),
            "reverse" => Ok(Self::Reverse),
            other => Err(UnknownTradeType(other.to_owned())),
        }
    }
}

/// Why a trade amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeAmountError {
    /// Not a plain decimal number (`12`, `0.5`).
    #[error("must be a decimal number like 10 or 0.5, got {0:?}")]
    NotADecimal(String),
    /// Zero.
    #[error("must be greater than 0")]
    NotPositive,
    /// More decimals than the columns keep.
    #[error("must have at most {CREDIT_SCALE} decimal places")]
    TooPrecise,
    /// Larger than any single trade may be.
    #[error("must be at most {MAX_CREDIT}")]
    TooLarge,
}

/// Parses a caller's trade amount: digits with an optional fraction (no sign, exponent or
/// spaces), greater than 0, at most 6 decimal places (trailing zeros do not count), at most
/// `MAX_CREDIT`. A negative amount is refused here, never passed on as a "reverse" (bug 7).
pub fn parse_trade_amount(text: &str) -> Result<Decimal, TradeAmountError> {
    let not_decimal = || TradeAmountError::NotADecimal(text.to_owned());
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (text.contains('.') && fraction.is_empty()) {
        return Err(not_decimal());
    }
    // Leading zeros are harmless, but a whole part longer than any allowed value is refused
    // before parsing (Decimal holds 28 digits).
    if whole.trim_start_matches('0').len() > 10 {
        return Err(TradeAmountError::TooLarge);
    }
    let amount = Decimal::from_str(text).map_err(|_| not_decimal())?.normalize();
    if amount.scale() > CREDIT_SCALE {
        return Err(TradeAmountError::TooPrecise);
    }
    if amount.is_zero() {
        return Err(TradeAmountError::NotPositive);
    }
    if amount > MAX_CREDIT {
        return Err(TradeAmountError::TooLarge);
    }
    Ok(amount)
}

/// A credit account's balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditBalance {
    /// Lifetime credit earned (the sum of forward trades).
    pub total_amount: Decimal,
    /// Credit available to spend (the sum of all trades); never negative.
    pub available_amount: Decimal,
}

/// A reverse trade asks for more than is available (`ERR_CREDIT_001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ERR_CREDIT_001: available credit {available} is less than {requested}")]
pub struct InsufficientCredit {
    /// What the account has available.
    pub available: Decimal,
    /// What the trade asked for.
    pub requested: Decimal,
}

impl CreditBalance {
    /// The balance after a trade of `amount` (not negative): forward adds to both, reverse
    /// takes from the available balance and fails when that would go below zero (the
    /// original's guard `available_amount > 0` let it go negative, bug 6).
    pub fn apply(self, trade_type: TradeType, amount: Decimal) -> Result<Self, InsufficientCredit> {
        match trade_type {
            TradeType::Forward => {
                Ok(Self { total_amount: self.total_amount + amount, available_amount: self.available_amount + amount })
            }
            TradeType::Reverse if amount > self.available_amount => {
                Err(InsufficientCredit { available: self.available_amount, requested: amount })
            }
            TradeType::Reverse => Ok(Self { available_amount: self.available_amount - amount, ..self }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn parses_positive_amounts_with_up_to_six_decimals() {
        for (text, expected) in [("10", "10"), ("0.5", "0.5"), ("1.123456", "1.123456"), ("007", "7"), ("2.50", "2.5")]
        {
            assert_eq!(parse_trade_amount(text), Ok(dec(expected)), "{text}");
        }
        assert_eq!(parse_trade_amount("1000000000"), Ok(MAX_CREDIT));
        assert_eq!(parse_trade_amount("1.1234560"), Ok(dec("1.123456")), "trailing zeros do not count");
    }

    #[test]
    fn refuses_bad_amounts() {
        let cases = [
            ("0", TradeAmountError::NotPositive),
            ("0.000", TradeAmountError::NotPositive),
            ("1.1234567", TradeAmountError::TooPrecise),
            ("0.0000001", TradeAmountError::TooPrecise),
            ("1000000000.000001", TradeAmountError::TooLarge),
            ("99999999999999999999999999999999", TradeAmountError::TooLarge),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_trade_amount(text), Err(expected), "{text}");
        }
        for text in ["", "-1", "+1", "abc", "1e3", " 1", "1 ", ".5", "5.", "1.2.3", "١", "NaN", "1,5"] {
            assert_eq!(parse_trade_amount(text), Err(TradeAmountError::NotADecimal(text.to_owned())), "{text:?}");
        }
    }

    #[test]
    fn trade_types_round_trip_and_sign_the_ledger() {
        for trade_type in [TradeType::Forward, TradeType::Reverse] {
            assert_eq!(trade_type.as_str().parse(), Ok(trade_type));
        }
        assert!("Forward".parse::<TradeType>().is_err());
        assert_eq!(TradeType::Reverse.signed(dec("5")), dec("-5"));
        assert_eq!(TradeType::Forward.signed(dec("5")), dec("5"));
    }

    #[test]
    fn a_reverse_trade_never_overdraws() {
        let balance = CreditBalance { total_amount: dec("50"), available_amount: dec("30") };
        assert_eq!(
            balance.apply(TradeType::Reverse, dec("30")),
            Ok(CreditBalance { total_amount: dec("50"), available_amount: dec("0") })
        );
        assert_eq!(
            balance.apply(TradeType::Reverse, dec("30.000001")),
            Err(InsufficientCredit { available: dec("30"), requested: dec("30.000001") })
        );
        assert!(CreditBalance::default().apply(TradeType::Reverse, dec("0.000001")).is_err());
        assert_eq!(
            balance.apply(TradeType::Forward, dec("2.5")),
            Ok(CreditBalance { total_amount: dec("52.5"), available_amount: dec("32.5") })
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

            /// Any sequence of trades keeps available ≥ 0, total ≥ available, and
            /// available = Σ signed amounts of the trades that were applied.
            #[test]
            fn no_sequence_of_trades_overdraws(trades in proptest::collection::vec((any::<bool>(), 1u32..5_000_000), 0..60)) {
                let mut balance = CreditBalance::default();
                let mut ledger = Decimal::ZERO;
                for (forward, micros) in trades {
                    let trade_type = if forward { TradeType::Forward } else { TradeType::Reverse };
                    let amount = Decimal::new(i64::from(micros), 3);
                    if let Ok(next) = balance.apply(trade_type, amount) {
                        balance = next;
                        ledger += trade_type.signed(amount);
                    }
                    prop_assert!(balance.available_amount >= Decimal::ZERO);
                    prop_assert!(balance.total_amount >= balance.available_amount);
                    prop_assert_eq!(balance.available_amount, ledger);
                }
            }

            /// Any text is a valid amount or refused; never a panic, never ≤ 0.
            #[test]
            fn any_text_is_an_amount_or_refused(text in "\\PC{0,40}|-?[0-9]{0,14}(\\.[0-9]{0,9})?") {
                if let Ok(amount) = parse_trade_amount(&text) {
                    prop_assert!(amount > Decimal::ZERO && amount <= MAX_CREDIT && amount.scale() <= CREDIT_SCALE);
                }
            }
        }
    }
}
