//! Queries (spec §4.6, §8 #17 and #19).

use super::{StrategyError, StrategyUseCases};
use crate::domain::Strategy;

/// An award as shown to a user, with its unlock state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardView {
    /// The award id.
    pub award_id: i32,
    /// Title.
    pub award_title: String,
    /// Subtitle.
    pub award_subtitle: String,
    /// Sort.
    pub sort: i32,
    /// rule_lock count of the award's tree.
    pub lock_count: Option<i64>,
    /// Unlocked today.
    pub is_unlocked: bool,
    /// Draws left today to unlock.
    pub wait_unlock_count: i64,
}

/// A rule_weight tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWeightView {
    /// The tier's lifetime count.
    pub weight: i64,
    /// The awards (id, title).
    pub awards: Vec<(i32, String)>,
}

/// The award list of a strategy for a user with `day_partake_count` draws today.
pub fn award_views(strategy: &Strategy, day_partake_count: i64) -> Vec<AwardView> {
    strategy
        .awards
        .iter()
        .map(|award| {
            let lock_count = strategy.tree_of(award.award_id).and_then(crate::domain::RuleTree::lock_count);
            let wait = lock_count.map_or(0, |lock| (lock - day_partake_count).max(0));
            AwardView {
                award_id: award.award_id,
                award_title: award.award_title.clone(),
                award_subtitle: award.award_subtitle.clone(),
                sort: award.sort,
                lock_count,
                is_unlocked: wait == 0,
                wait_unlock_count: wait,
            }
        })
        .collect()
}

/// The rule_weight tiers of a strategy, by weight.
pub fn rule_weight_views(strategy: &Strategy) -> Vec<RuleWeightView> {
    strategy
        .weight_tiers()
        .iter()
        .map(|tier| RuleWeightView {
            weight: tier.weight,
            awards: tier
                .award_ids
                .iter()
                .map(|id| (*id, strategy.award(*id).map(|a| a.award_title.clone()).unwrap_or_default()))
                .collect(),
        })
        .collect()
}

impl StrategyUseCases {
    /// Awards by sort with unlock state (the strategy need not be armoried).
    pub async fn query_award_list(
        &self,
        strategy_id: i64,
        day_partake_count: i64,
    ) -> Result<Vec<AwardView>, StrategyError> {
        Ok(award_views(self.strategy_for_query(strategy_id).await?.as_ref(), day_partake_count))
    }

    /// The rule_weight tiers (the strategy need not be armoried).
    pub async fn query_rule_weight(&self, strategy_id: i64) -> Result<Vec<RuleWeightView>, StrategyError> {
        Ok(rule_weight_views(self.strategy_for_query(strategy_id).await?.as_ref()))
    }

    async fn strategy_for_query(&self, strategy_id: i64) -> Result<std::sync::Arc<Strategy>, StrategyError> {
        match self.armory.get(strategy_id).await {
            Err(StrategyError::NotArmoried(_)) => Ok(std::sync::Arc::new(
                self.store.load_strategy(strategy_id).await?.ok_or(StrategyError::StrategyNotFound(strategy_id))?,
            )),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::strategy::tests::strategy_100006;

    #[test]
    fn award_list_unlock_state_follows_spec_8_17() {
        let views = award_views(&strategy_100006(), 1);
        let by_id = |id: i32| views.iter().find(|v| v.award_id == id).unwrap();
        assert_eq!((by_id(101).lock_count, by_id(101).is_unlocked, by_id(101).wait_unlock_count), (None, true, 0));
        assert_eq!((by_id(107).lock_count, by_id(107).is_unlocked, by_id(107).wait_unlock_count), (Some(1), true, 0));
        assert_eq!((by_id(106).lock_count, by_id(106).is_unlocked, by_id(106).wait_unlock_count), (Some(2), false, 1));
        assert_eq!((by_id(105).lock_count, by_id(105).is_unlocked, by_id(105).wait_unlock_count), (Some(3), false, 2));
        assert_eq!(views.iter().map(|v| v.sort).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn rule_weight_tiers_carry_titles() {
        let tiers = rule_weight_views(&strategy_100006());
        assert_eq!(tiers.iter().map(|t| t.weight).collect::<Vec<_>>(), vec![10, 70, 1000]);
        assert_eq!(tiers[0].awards, vec![(102, "OpenAI会员卡".to_owned()), (103, "支付优惠券".to_owned())]);
    }
}
