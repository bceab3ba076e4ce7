//! Behaviour rebates (spec §7.1): the behaviours, the rebate types, the business key of a
//! rebate and the sign-in day, pure.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The longest business number a rebate becomes (the recharge's or credit trade's
/// `out_business_no`, 64 characters).
pub const MAX_BIZ_ID_LEN: usize = bm_kernel::id::MAX_TEXT_ID_LEN;

/// The separators and the longest rebate type a biz_id adds to the user id and the
/// behaviour's business number (`_integral_`).
const BIZ_ID_OVERHEAD: usize = "_integral_".len();

/// A behaviour that earns rebates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BehaviorType {
    /// The daily sign-in.
    Sign,
    /// A payment in the external OpenAI shop.
    OpenaiPay,
}

impl BehaviorType {
    /// Parses `sign` / `openai_pay`, in any case (the original's enum names are upper case).
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "sign" => Some(Self::Sign),
            "openai_pay" => Some(Self::OpenaiPay),
            _ => None,
        }
    }

    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::OpenaiPay => "openai_pay",
        }
    }
}

/// What a rebate grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebateType {
    /// The quota of a sku (rebate_config is the sku), as a no-pay recharge.
    Sku,
    /// Credit (rebate_config is the amount), as a forward credit trade (award service).
    Integral,
}

impl RebateType {
    /// Parses the stored code.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sku" => Some(Self::Sku),
            "integral" => Some(Self::Integral),
            _ => None,
        }
    }
}

/// The business key of one rebate: `<user_id>_<rebate_type>_<out_business_no>` (spec §7.1),
/// unique, and the `out_business_no` of the recharge or credit trade it becomes.
pub fn biz_id(user_id: &str, rebate_type: &str, out_business_no: &str) -> String {
    format!("{user_id}_{rebate_type}_{out_business_no}")
}

/// Whether every biz_id of (user, out_business_no) fits [`MAX_BIZ_ID_LEN`], whatever the
/// rebate type.
pub fn biz_id_fits(user_id: &str, out_business_no: &str) -> bool {
    user_id.chars().count() + out_business_no.chars().count() + BIZ_ID_OVERHEAD <= MAX_BIZ_ID_LEN
}

/// The longest `user_id` + `out_business_no` (in characters) a rebate accepts.
pub const MAX_REBATE_KEY_LEN: usize = MAX_BIZ_ID_LEN - BIZ_ID_OVERHEAD;

/// The sign-in day of `now` in `zone`: `yyyyMMdd` (the sign rebate's out_business_no).
pub fn sign_date(now: DateTime<Utc>, zone: Tz) -> String {
    now.with_timezone(&zone).format("%Y%m%d").to_string()
}

/// The sku of a `sku` rebate's config: a positive integer.
pub fn rebate_sku(config: &str) -> Option<i64> {
    config.trim().parse::<i64>().ok().filter(|sku| *sku > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(value: &str) -> DateTime<Utc> {
        value.parse().unwrap_or_default()
    }

    #[test]
    fn behaviours_parse_in_any_case_and_nothing_else() {
        assert_eq!(BehaviorType::parse("sign"), Some(BehaviorType::Sign));
        assert_eq!(BehaviorType::parse("SIGN"), Some(BehaviorType::Sign));
        assert_eq!(BehaviorType::parse("OpenAI_Pay"), Some(BehaviorType::OpenaiPay));
        assert_eq!(BehaviorType::OpenaiPay.as_str(), "openai_pay");
        for bad in ["", "signin", " sign", "openai-pay", "integral"] {
            assert_eq!(BehaviorType::parse(bad), None, "{bad:?}");
        }
        assert_eq!(RebateType::parse("sku"), Some(RebateType::Sku));
        assert_eq!(RebateType::parse("integral"), Some(RebateType::Integral));
        assert_eq!(RebateType::parse("SKU"), None, "stored codes are lower case");
    }

    #[test]
    fn biz_id_joins_user_type_and_business_no_and_must_fit_64_characters() {
        assert_eq!(biz_id("xiaofuge", "sku", "20240503"), "xiaofuge_sku_20240503");
        assert_eq!(biz_id("u1", "integral", "pay-1"), "u1_integral_pay-1");
        let user = "u".repeat(46);
        assert!(biz_id_fits(&user, "20240503"));
        assert_eq!(biz_id(&user, "integral", "20240503").chars().count(), 64);
        assert!(!biz_id_fits(&format!("{user}x"), "20240503"));
        assert!(biz_id_fits("用户", &"9".repeat(52)), "characters, not bytes");
        assert_eq!(MAX_REBATE_KEY_LEN, 54);
    }

    #[test]
    fn the_sign_date_is_the_day_in_the_zone_across_midnight() {
        let shanghai = chrono_tz::Asia::Shanghai;
        assert_eq!(sign_date(utc("2026-11-30T15:59:59Z"), shanghai), "20261130");
        assert_eq!(sign_date(utc("2026-11-30T16:00:00Z"), shanghai), "20261201", "midnight in Shanghai");
        assert_eq!(sign_date(utc("2026-12-31T16:00:00Z"), shanghai), "20270101", "a new year");
        assert_eq!(sign_date(utc("2026-11-30T16:00:00Z"), chrono_tz::UTC), "20261130");
    }

    #[test]
    fn a_sku_config_is_a_positive_integer() {
        assert_eq!(rebate_sku("9901"), Some(9901));
        assert_eq!(rebate_sku(" 9901 "), Some(9901));
        for bad in ["", "0", "-1", "99.5", "sku", "10,20"] {
            assert_eq!(rebate_sku(bad), None, "{bad:?}");
        }
    }
}
