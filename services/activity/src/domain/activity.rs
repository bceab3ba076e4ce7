//! An activity and the checks every partake and recharge passes (spec §5.1 base action,
//! §5.5 step 1).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `raffle_activity.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityState {
    /// Configured, not open yet.
    Create,
    /// Open for partakes and recharges.
    Open,
    /// Closed.
    Close,
}

impl ActivityState {
    /// Parses the stored value; unknown values count as closed.
    pub fn parse(value: &str) -> Self {
        match value {
            "open" => Self::Open,
            "create" => Self::Create,
            _ => Self::Close,
        }
    }

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Open => "open",
            Self::Close => "close",
        }
    }
}

/// A raffle activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// The id.
    pub activity_id: i64,
    /// Name.
    pub activity_name: String,
    /// Description.
    pub activity_desc: String,
    /// Opens at.
    pub begin_time: DateTime<Utc>,
    /// Ends at.
    pub end_time: DateTime<Utc>,
    /// Its strategy.
    pub strategy_id: i64,
    /// State.
    pub state: ActivityState,
}

/// Why an activity refuses a partake or a recharge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivityRuleError {
    /// ERR_BIZ_003.
    #[error("activity {activity_id} is not open (state {state})")]
    NotOpen {
        /// The activity.
        activity_id: i64,
        /// Its state.
        state: &'static str,
    },
    /// ERR_BIZ_004.
    #[error("activity {activity_id} runs from {begin} to {end}, not now")]
    OutOfDate {
        /// The activity.
        activity_id: i64,
        /// Begin.
        begin: DateTime<Utc>,
        /// End.
        end: DateTime<Utc>,
    },
}

impl Activity {
    /// The state and date checks: open, and `begin <= now <= end`.
    pub fn check_open(&self, now: DateTime<Utc>) -> Result<(), ActivityRuleError> {
        if self.state != ActivityState::Open {
            return Err(ActivityRuleError::NotOpen { activity_id: self.activity_id, state: self.state.as_str() });
        }
        if now < self.begin_time || now > self.end_time {
            return Err(ActivityRuleError::OutOfDate {
                activity_id: self.activity_id,
                begin: self.begin_time,
                end: self.end_time,
            });
        }
        Ok(())
    }

    /// Whether the activity may go on a stage (spec §8 #23, with the checks the original
    /// skipped): open (ERR_BIZ_003) and not ended (ERR_BIZ_004). One that has not begun
    /// may be staged ahead of its start; draws wait for `begin_time` as usual.
    pub fn check_stageable(&self, now: DateTime<Utc>) -> Result<(), ActivityRuleError> {
        if self.state != ActivityState::Open {
            return Err(ActivityRuleError::NotOpen { activity_id: self.activity_id, state: self.state.as_str() });
        }
        if now > self.end_time {
            return Err(ActivityRuleError::OutOfDate {
                activity_id: self.activity_id,
                begin: self.begin_time,
                end: self.end_time,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn activity(state: ActivityState) -> Activity {
        Activity {
            activity_id: 100_301,
            activity_name: "测试活动".into(),
            activity_desc: String::new(),
            begin_time: at("2024-03-09T10:15:10+08:00"),
            end_time: at("2034-03-09T10:15:10+08:00"),
            strategy_id: 100_006,
            state,
        }
    }

    #[test]
    fn open_and_in_date() {
        assert_eq!(activity(ActivityState::Open).check_open(at("2026-11-30T00:00:00Z")), Ok(()));
        assert_eq!(
            activity(ActivityState::Open).check_open(at("2024-03-09T10:15:10+08:00")),
            Ok(()),
            "begin is inclusive"
        );
        assert_eq!(
            activity(ActivityState::Open).check_open(at("2034-03-09T10:15:10+08:00")),
            Ok(()),
            "end is inclusive"
        );
    }

    #[test]
    fn state_then_dates() {
        assert!(matches!(
            activity(ActivityState::Create).check_open(at("2026-01-01T00:00:00Z")),
            Err(ActivityRuleError::NotOpen { .. })
        ));
        assert!(matches!(
            activity(ActivityState::Close).check_open(at("2026-01-01T00:00:00Z")),
            Err(ActivityRuleError::NotOpen { .. })
        ));
        assert!(matches!(
            activity(ActivityState::Open).check_open(at("2024-03-09T10:15:09+08:00")),
            Err(ActivityRuleError::OutOfDate { .. })
        ));
        assert!(matches!(
            activity(ActivityState::Open).check_open(at("2034-03-09T10:15:11+08:00")),
            Err(ActivityRuleError::OutOfDate { .. })
        ));
        assert_eq!(ActivityState::parse("weird"), ActivityState::Close);
    }

    #[test]
    fn stageable_when_open_and_not_ended() {
        let open = activity(ActivityState::Open);
        assert_eq!(open.check_stageable(at("2024-01-01T00:00:00Z")), Ok(()), "before its begin: may be staged");
        assert_eq!(open.check_stageable(at("2034-03-09T10:15:10+08:00")), Ok(()), "end is inclusive");
        assert!(matches!(
            open.check_stageable(at("2034-03-09T10:15:11+08:00")),
            Err(ActivityRuleError::OutOfDate { .. })
        ));
        for state in [ActivityState::Create, ActivityState::Close] {
            assert!(matches!(
                activity(state).check_stageable(at("2026-01-01T00:00:00Z")),
                Err(ActivityRuleError::NotOpen { .. })
            ));
        }
    }
}
