//! Quota accounts (spec §5.4, ch.18): the total account with its day/month "image" (镜像)
//! and the lazily created day and month sub-accounts; what a partake changes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The day and month a moment falls in, in the activity's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `yyyy-MM-dd`.
    pub day: String,
    /// `yyyy-MM`.
    pub month: String,
}

impl Period {
    /// The period of `now` in `zone`.
    pub fn at(now: DateTime<Utc>, zone: Tz) -> Self {
        let local = now.with_timezone(&zone);
        Self { day: local.format("%Y-%m-%d").to_string(), month: local.format("%Y-%m").to_string() }
    }
}

/// `raffle_activity_account`: lifetime quota plus the allowances and images of day/month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Lifetime quota granted.
    pub total_count: i32,
    /// Lifetime quota left.
    pub total_count_surplus: i32,
    /// Day allowance (sum of the recharges' day counts).
    pub day_count: i32,
    /// Image of today's surplus.
    pub day_count_surplus: i32,
    /// Month allowance.
    pub month_count: i32,
    /// Image of this month's surplus.
    pub month_count_surplus: i32,
}

/// A day or month sub-account row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAccount {
    /// The allowance of the period.
    pub count: i32,
    /// What is left of it.
    pub surplus: i32,
}

/// What a partake does to one sub-account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPlan {
    /// Decrement the existing row (which has surplus > 0).
    Decrement,
    /// Create the row with this allowance and one unit already used.
    Create {
        /// The allowance copied from the account.
        count: i32,
    },
}

impl RowPlan {
    /// The row's surplus after the partake.
    pub fn surplus_after(self, existing: Option<SubAccount>) -> i32 {
        match (self, existing) {
            (Self::Create { count }, _) => count - 1,
            (Self::Decrement, Some(row)) => row.surplus - 1,
            (Self::Decrement, None) => 0,
        }
    }

    /// The allowance a created row starts from; 0 for a decrement (not written).
    pub fn allowance(self) -> i32 {
        match self {
            Self::Create { count } => count,
            Self::Decrement => 0,
        }
    }
}

/// Why a partake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// ERR_BIZ_006: no account or no lifetime quota left.
    #[error("no total quota left")]
    Total,
    /// ERR_BIZ_007: no quota left this month.
    #[error("no quota left this month")]
    Month,
    /// ERR_BIZ_008: no quota left today.
    #[error("no quota left today")]
    Day,
}

impl QuotaError {
    /// Which quota ran out: `total`, `month` or `day`.
    pub fn period(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Month => "month",
            Self::Day => "day",
        }
    }
}

/// The changes of one partake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartakePlan {
    /// The month row.
    pub month: RowPlan,
    /// The day row.
    pub day: RowPlan,
    /// The account's month image after the partake.
    pub month_image: i32,
    /// The account's day image after the partake.
    pub day_image: i32,
}

/// Decides a partake (spec §5.5 doFilterAccount + §5.4): lifetime, month and day quota in
/// that order; missing sub-accounts are created from the account's allowance with one unit
/// used, and the account's images mirror the sub-accounts' new surplus (fix of 2025-03-05).
pub fn plan_partake(
    account: Option<Account>,
    month: Option<SubAccount>,
    day: Option<SubAccount>,
) -> Result<PartakePlan, QuotaError> {
    let account = account.ok_or(QuotaError::Total)?;
    if account.total_count_surplus <= 0 {
        return Err(QuotaError::Total);
    }
    let month_plan = match month {
        Some(row) if row.surplus <= 0 => return Err(QuotaError::Month),
        Some(_) => RowPlan::Decrement,
        None if account.month_count <= 0 => return Err(QuotaError::Month),
        None => RowPlan::Create { count: account.month_count },
    };
    let day_plan = match day {
        Some(row) if row.surplus <= 0 => return Err(QuotaError::Day),
        Some(_) => RowPlan::Decrement,
        None if account.day_count <= 0 => return Err(QuotaError::Day),
        None => RowPlan::Create { count: account.day_count },
    };
    Ok(PartakePlan {
        month: month_plan,
        day: day_plan,
        month_image: month_plan.surplus_after(month),
        day_image: day_plan.surplus_after(day),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(total_surplus: i32, day: i32, month: i32) -> Account {
        Account {
            total_count: 150,
            total_count_surplus: total_surplus,
            day_count: day,
            day_count_surplus: day,
            month_count: month,
            month_count_surplus: month,
        }
    }

    #[expect(clippy::unnecessary_wraps, reason = "reads as the Option the planner takes")]
    fn row(count: i32, surplus: i32) -> Option<SubAccount> {
        Some(SubAccount { count, surplus })
    }

    #[test]
    fn the_first_partake_of_a_day_creates_the_rows_from_the_allowance() {
        let plan = plan_partake(Some(account(150, 150, 150)), None, None).unwrap();
        assert_eq!(plan.day, RowPlan::Create { count: 150 });
        assert_eq!(plan.month, RowPlan::Create { count: 150 });
        assert_eq!((plan.day_image, plan.month_image), (149, 149), "images mirror the new rows");
    }

    #[test]
    fn later_partakes_decrement_existing_rows() {
        let plan = plan_partake(Some(account(100, 150, 150)), row(150, 120), row(10, 3)).unwrap();
        assert_eq!((plan.month, plan.day), (RowPlan::Decrement, RowPlan::Decrement));
        assert_eq!((plan.month_image, plan.day_image), (119, 2));
    }

    #[test]
    fn refusals_in_order_total_month_day() {
        assert_eq!(plan_partake(None, None, None), Err(QuotaError::Total));
        assert_eq!(plan_partake(Some(account(0, 5, 5)), row(5, 0), row(5, 0)), Err(QuotaError::Total));
        assert_eq!(plan_partake(Some(account(3, 5, 5)), row(5, 0), row(5, 0)), Err(QuotaError::Month));
        assert_eq!(plan_partake(Some(account(3, 5, 5)), row(5, 2), row(5, 0)), Err(QuotaError::Day));
        assert_eq!(plan_partake(Some(account(3, 0, 5)), None, None), Err(QuotaError::Day), "no day allowance");
        assert_eq!(plan_partake(Some(account(3, 5, 0)), None, None), Err(QuotaError::Month), "no month allowance");
    }

    #[test]
    fn periods_follow_the_activity_time_zone_across_midnight_and_month_end() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        // 2024-03-31 15:59:59 UTC is 23:59:59 in Shanghai; one second later is April.
        assert_eq!(
            Period::at(utc("2024-03-31T15:59:59Z"), shanghai),
            Period { day: "2024-03-31".into(), month: "2024-03".into() }
        );
        assert_eq!(
            Period::at(utc("2024-03-31T16:00:00Z"), shanghai),
            Period { day: "2024-04-01".into(), month: "2024-04".into() }
        );
        assert_eq!(Period::at(utc("2024-12-31T16:00:00Z"), shanghai).month, "2025-01");
        assert_eq!(Period::at(utc("2024-03-31T16:00:00Z"), chrono_tz::UTC).day, "2024-03-31");
    }
}
