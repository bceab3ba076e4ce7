//! The activity stage (活动展台, spec §5, §8 #1, #23, #24): operators put an activity on a
//! channel and source; callers ask which activity is shown there.

use super::{ActivityError, ActivityUseCases};
use crate::{
    domain::{Stage, StageKey, StageState},
    storage::StagePut,
};

/// The most stages one ListActivityStages returns.
pub const MAX_STAGE_LIST: u32 = 1000;

impl ActivityUseCases {
    /// Puts `activity_id` on the stage `key` (the original's update_stage_activity_2_active,
    /// which only flipped a row it never validated). The activity must exist (NOT_FOUND), be
    /// open (ERR_BIZ_003) and not have ended (ERR_BIZ_004), read fresh, not from the cache.
    /// Its sku stock is armoried first, as the original did, so recharges work at once; then
    /// the active stage there is expired and the new one inserted, in one transaction. A
    /// repeat with the activity already shown there changes nothing.
    #[tracing::instrument(name = "activity.put_on_stage", skip_all, fields(stage = %key, activity_id, stage_id = tracing::field::Empty))]
    pub async fn put_on_stage(&self, key: &StageKey, activity_id: i64) -> Result<(StagePut, i64), ActivityError> {
        self.forget_activity(activity_id);
        let activity = self.activity(activity_id).await?;
        activity.check_stageable(self.clock.now())?;
        self.warm_skus(activity_id).await?;
        let put = self.store.put_on_stage(key, activity_id).await?;
        tracing::Span::current().record("stage_id", put.stage.id);
        if put.changed {
            tracing::info!(replaced_activity_id = put.replaced.as_ref().map(|r| r.activity_id), "activity on stage");
        }
        Ok((put, activity.strategy_id))
    }

    /// The activity shown on the stage `key` (the original's query_stage_activity_id).
    pub async fn stage_activity(&self, key: &StageKey) -> Result<i64, ActivityError> {
        self.store.stage_activity(key).await?.ok_or_else(|| ActivityError::StageNotFound(key.to_string()))
    }

    /// Stages, newest first, optionally in one state; at most `limit` (1..=1000).
    pub async fn list_stages(&self, state: Option<StageState>, limit: u32) -> Result<Vec<Stage>, ActivityError> {
        self.store.list_stages(state, limit.clamp(1, MAX_STAGE_LIST)).await
    }
}
