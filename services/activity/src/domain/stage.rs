//! The activity stage (活动展台, spec §5 `raffle_activity_stage`): a channel and source show
//! one activity at a time.

use bm_kernel::StageCode;
use chrono::{DateTime, Utc};

/// `raffle_activity_stage.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    /// Recorded, not shown (the column default; PutActivityOnStage activates at once).
    Create,
    /// Shown: what GetStageActivity answers. At most one per channel and source.
    Active,
    /// Replaced by a later activity on the same channel and source.
    Expire,
}

impl StageState {
    /// Every state, in lifecycle order.
    pub const ALL: [Self; 3] = [Self::Create, Self::Active, Self::Expire];

    /// Parses a stored or requested value.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == value)
    }

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Active => "active",
            Self::Expire => "expire",
        }
    }
}

/// Where an activity is shown: a channel and a source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StageKey {
    /// The channel, e.g. `c01`.
    pub channel: StageCode,
    /// The source, e.g. `s01`.
    pub source: StageCode,
}

impl std::fmt::Display for StageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.channel, self.source)
    }
}

/// One row of the stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The row id.
    pub id: i64,
    /// The channel.
    pub channel: String,
    /// The source.
    pub source: String,
    /// The activity shown.
    pub activity_id: i64,
    /// Its state.
    pub state: StageState,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_nothing_else_parses() {
        for state in StageState::ALL {
            assert_eq!(StageState::parse(state.as_str()), Some(state));
        }
        for bad in ["", "ACTIVE", "expired", "open"] {
            assert_eq!(StageState::parse(bad), None, "{bad:?}");
        }
    }
}
