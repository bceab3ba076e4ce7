//! `user_credit_random` (spec §6.2): a credit drawn uniformly from the award config's range
//! `min,max`, rounded to 3 significant digits (Java `MathContext(3)`, HALF_UP).

use bm_kernel::RandomSource;
use rust_decimal::{Decimal, RoundingStrategy};

use super::AwardConfigError;

/// Decimal places credit amounts keep (the scale of the NUMERIC columns).
pub const CREDIT_SCALE: u32 = 6;
/// The largest bound a config may name (keeps sums far inside NUMERIC(24, 6)).
pub const MAX_CREDIT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// Significant digits of a random credit (spec §6.2).
const SIGNIFICANT_DIGITS: u32 = 3;
/// Resolution of the uniform draw in [0, 1).
const STEPS: u32 = 1_000_000_000;

/// A validated credit range `min,max` with `0 <= min <= max <= MAX_CREDIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditRange {
    min: Decimal,
    max: Decimal,
}

impl CreditRange {
    /// Parses `min,max` (spaces around either number are allowed).
    pub fn parse(config: &str) -> Result<Self, AwardConfigError> {
        if config.trim().is_empty() {
            return Err(AwardConfigError::new(config, "it is empty (strategy sends the effective config)"));
        }
        let parts: Vec<&str> = config.split(',').map(str::trim).collect();
        let [min, max] = parts.as_slice() else {
            return Err(AwardConfigError::new(config, "expected two numbers min,max"));
        };
        let number = |text: &str, name: &str| {
            let value: Decimal =
                text.parse().map_err(|_| AwardConfigError::new(config, format!("{name} {text:?} is not a number")))?;
            if value.is_sign_negative() && !value.is_zero() {
                return Err(AwardConfigError::new(config, format!("{name} must not be negative")));
            }
            if value > MAX_CREDIT {
                return Err(AwardConfigError::new(config, format!("{name} must be at most {MAX_CREDIT}")));
            }
            if value.normalize().scale() > CREDIT_SCALE {
                return Err(AwardConfigError::new(config, format!("{name} has more than {CREDIT_SCALE} decimals")));
            }
            Ok(value.normalize())
        };
        let (min, max) = (number(min, "min")?, number(max, "max")?);
        if min > max {
            return Err(AwardConfigError::new(config, "min is greater than max"));
        }
        Ok(Self { min, max })
    }

    /// The lower bound.
    pub fn min(&self) -> Decimal {
        self.min
    }

    /// The upper bound.
    pub fn max(&self) -> Decimal {
        self.max
    }

    /// A random amount in `[min, max]` with 3 significant digits (min == max → min). The
    /// rounded value is clamped back into the range, so a bound with more digits (e.g.
    /// max 0.9996) is never exceeded.
    pub fn draw(&self, random: &dyn RandomSource) -> Decimal {
        if self.min == self.max {
            return self.min;
        }
        let fraction = Decimal::from(random.below(STEPS)) / Decimal::from(STEPS);
        let amount = self.min + (self.max - self.min) * fraction;
        round_significant(amount, SIGNIFICANT_DIGITS)
            .round_dp_with_strategy(CREDIT_SCALE, RoundingStrategy::MidpointAwayFromZero)
            .clamp(self.min, self.max)
            .normalize()
    }
}

/// `value` rounded HALF_UP to `digits` significant digits (Java `new MathContext(digits)`).
pub fn round_significant(value: Decimal, digits: u32) -> Decimal {
    value.round_sf_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use bm_kernel::SeededRandom;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn rounds_to_three_significant_digits_half_up() {
        let cases = [
            ("12.3456", "12.3"),
            ("99.95", "100"),
            ("0.052349", "0.0523"),
            ("0.01235", "0.0124"),
            ("1.005", "1.01"),
            ("7", "7"),
            ("123456", "123000"),
        ];
        for (input, expected) in cases {
            assert_eq!(round_significant(dec(input), 3).normalize(), dec(expected), "{input}");
        }
    }

    #[test]
    fn parses_ranges() {
        assert_eq!(CreditRange::parse("1,100").map(|r| (r.min(), r.max())), Ok((dec("1"), dec("100"))));
        assert_eq!(CreditRange::parse(" 0.01 , 1 ").map(|r| (r.min(), r.max())), Ok((dec("0.01"), dec("1"))));
        assert_eq!(CreditRange::parse("5,5").map(|r| (r.min(), r.max())), Ok((dec("5"), dec("5"))));
    }

    #[test]
    fn refuses_malformed_configs_with_err_config_001() {
        for bad in ["", "5", "1,2,3", "a,b", "1,", ",1", "100,1", "-1,5", "1,x2", "0.0000001,1", "1,10000000000"] {
            let error = CreditRange::parse(bad).unwrap_err();
            assert!(error.to_string().starts_with("ERR_CONFIG_001"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn equal_bounds_give_the_bound() {
        let range = CreditRange::parse("0.0523,0.0523").unwrap();
        assert_eq!(range.draw(&SeededRandom::new(1)), dec("0.0523"));
    }

    #[test]
    fn amounts_stay_in_range_with_three_significant_digits() {
        let random = SeededRandom::new(42);
        for config in ["1,100", "0.01,1", "0.9991,0.9996", "0.01254,0.01256", "0,0.5", "100,100000"] {
            let range = CreditRange::parse(config).unwrap();
            let mut distinct = std::collections::BTreeSet::new();
            for _ in 0..2_000 {
                let amount = range.draw(&random);
                assert!(amount >= range.min() && amount <= range.max(), "{config}: {amount}");
                let rounded = round_significant(amount, 3) == amount;
                let is_bound = amount == range.min() || amount == range.max();
                assert!(rounded || is_bound, "{config}: {amount} has more than 3 significant digits");
                assert!(amount.scale() <= CREDIT_SCALE, "{config}: {amount}");
                distinct.insert(amount);
            }
            assert!(distinct.len() > 1, "{config}: the draw varies");
        }
    }

    #[test]
    fn the_blacklist_range_keeps_small_amounts() {
        let range = CreditRange::parse("0.01,1").unwrap();
        let random = SeededRandom::new(7);
        let amounts: Vec<Decimal> = (0..5_000).map(|_| range.draw(&random)).collect();
        assert!(amounts.iter().any(|a| *a < dec("0.1")), "amounts below 0.1 keep 3 significant digits");
        assert!(amounts.iter().all(|a| round_significant(*a, 3) == *a));
    }

    mod properties {
        use bm_kernel::SeededRandom;
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

            /// Any config text is a range or ERR_CONFIG_001; a range's draws stay inside it
            /// with at most 3 significant digits. Never a panic.
            #[test]
            fn any_award_config_is_a_range_or_refused(config in "\\PC{0,40}|-?[0-9]{0,12}(\\.[0-9]{0,8})? ?, ?-?[0-9]{0,12}(\\.[0-9]{0,8})?", seed in any::<u64>()) {
                if let Ok(range) = CreditRange::parse(&config) {
                    let amount = range.draw(&SeededRandom::new(seed));
                    prop_assert!(range.min() <= amount && amount <= range.max(), "{config}: {amount}");
                    let digits = amount.normalize().mantissa().unsigned_abs().to_string().trim_end_matches('0').len();
                    prop_assert!(digits <= 3 || amount == range.min() || amount == range.max(), "{config}: {amount}");
                }
            }
        }
    }
}
