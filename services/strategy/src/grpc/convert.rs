//! Domain → proto.

use bm_api::strategy as pb;

use crate::{
    domain::Strategy,
    fairness::Receipt,
    storage::EpochView,
    usecase::{AwardView, Drawn, RuleWeightView},
};

fn clamp(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(super) fn draw_response(drawn: &Drawn, strategy: &Strategy) -> pb::DrawResponse {
    let award = strategy.award(drawn.award_id);
    pb::DrawResponse {
        award_id: drawn.award_id,
        award_key: award.map(|a| a.award_key.clone()).unwrap_or_default(),
        award_title: award.map(|a| a.award_title.clone()).unwrap_or_default(),
        // The effective config: what a rule set, else the award's default (ARCHITECTURE.md §8.6),
        // so award distribution never needs the award catalogue.
        award_config: if drawn.award_config.is_empty() {
            award.map(|a| a.award_config.clone()).unwrap_or_default()
        } else {
            drawn.award_config.clone()
        },
        sort: award.map_or(0, |a| a.sort),
        rule_model: drawn.model.as_str().to_owned(),
    }
}

impl From<AwardView> for pb::StrategyAward {
    fn from(view: AwardView) -> Self {
        Self {
            award_id: view.award_id,
            award_title: view.award_title,
            award_subtitle: view.award_subtitle,
            sort: view.sort,
            award_rule_lock_count: view.lock_count.map(clamp),
            is_award_unlock: view.is_unlocked,
            wait_unlock_count: clamp(view.wait_unlock_count),
        }
    }
}

pub(super) fn rule_weight(tier: RuleWeightView, total_partake_count: i64) -> pb::RuleWeight {
    pb::RuleWeight {
        rule_weight_count: clamp(tier.weight),
        user_activity_account_total_use_count: clamp(total_partake_count),
        awards: tier
            .awards
            .into_iter()
            .map(|(award_id, award_title)| pb::RuleWeightAward { award_id, award_title })
            .collect(),
    }
}

impl From<EpochView> for pb::SeedEpoch {
    fn from(view: EpochView) -> Self {
        Self {
            epoch: view.epoch,
            commitment: view.commitment,
            state: if view.retired_at.is_some() { "revealed" } else { "active" }.to_owned(),
            seed: view.seed.unwrap_or_default(),
            sheet: view.sheet,
            sheet_sha256: view.sheet_sha256,
            created_at: view.created_at,
            retired_at: view.retired_at.unwrap_or(0),
        }
    }
}

impl From<Receipt> for pb::GetDrawReceiptResponse {
    fn from(receipt: Receipt) -> Self {
        Self {
            strategy_id: receipt.strategy_id,
            order_id: receipt.order_id,
            user_id: receipt.user_id,
            epoch: receipt.epoch,
            user_total_partake_count: receipt.total_partake_count,
            user_day_partake_count: receipt.day_partake_count,
            chain_model: receipt.chain_model,
            chain_award_id: receipt.chain_award_id,
            stock_outcome: receipt.stock_outcome.as_str().to_owned(),
            award_id: receipt.award_id,
            award_config: receipt.award_config,
            rule_model: receipt.rule_model,
        }
    }
}
