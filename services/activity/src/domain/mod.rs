//! The activity-quota rules of spec §5 and seed chapter ch.18, pure: no I/O, no clock of
//! their own (the caller passes `now`), no randomness.

pub mod activity;
pub mod quota;
pub mod rebate;
pub mod stage;

pub use activity::{Activity, ActivityRuleError, ActivityState};
pub use quota::{Account, PartakePlan, Period, QuotaError, RowPlan, SubAccount, plan_partake};
pub use stage::{Stage, StageKey, StageState};
