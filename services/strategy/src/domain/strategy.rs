//! An armoried strategy: its awards, rules, trees and rate tables, and the rule chain
//! (spec §4.2: blacklist → weight → default, in configured order).

use std::collections::BTreeMap;

use bm_kernel::RandomSource;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Blacklist, RateTable, RuleError, RuleTree, WeightTier, rules::BLACKLIST_AWARD_CONFIG};

/// Which rule decided an award.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogicModel {
    /// A blacklisted user's consolation award.
    Blacklist,
    /// A rule_weight tier matched.
    Weight,
    /// The default table.
    Default,
    /// The rule tree took the award's stock.
    Stock,
    /// The rule tree fell back to the luck award.
    LuckAward,
}

impl LogicModel {
    /// The original's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blacklist => "rule_blacklist",
            Self::Weight => "rule_weight",
            Self::Default => "rule_default",
            Self::Stock => "rule_stock",
            Self::LuckAward => "rule_luck_award",
        }
    }
}

/// One award of a strategy (strategy_award joined with award).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardEntry {
    /// The award id.
    pub award_id: i32,
    /// The distribution key (`user_credit_random`, …).
    pub award_key: String,
    /// The award's default config.
    pub award_config: String,
    /// The title in this strategy.
    pub award_title: String,
    /// The subtitle.
    pub award_subtitle: String,
    /// The rate (odds weight).
    pub award_rate: Decimal,
    /// The rule tree id (strategy_award.rule_models), if any.
    pub tree_id: Option<String>,
    /// Display sort.
    pub sort: i32,
}

/// The chain's decision, before the award's rule tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainOutcome {
    /// The award.
    pub award_id: i32,
    /// The config the rule set (blacklist) or empty.
    pub award_config: String,
    /// Which rule decided.
    pub model: LogicModel,
}

/// A rule of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum ChainRule {
    Blacklist(Blacklist),
    Weight(Vec<WeightTier>),
}

/// Everything a draw needs, built once per armory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    /// The strategy id.
    pub strategy_id: i64,
    /// Awards in sort order.
    pub awards: Vec<AwardEntry>,
    chain: Vec<ChainRule>,
    /// Trees by id.
    pub trees: BTreeMap<String, RuleTree>,
    /// The default pool's table.
    pub default_table: RateTable,
    /// One table per weight tier, by group text (`10:102,103`).
    pub weight_tables: BTreeMap<String, RateTable>,
}

impl Strategy {
    /// Validates and assembles a strategy: `rule_models` is strategy.rule_models,
    /// `rules` the strategy_rule rows (rule_model, rule_value), `trees` every tree its
    /// awards name.
    pub fn assemble(
        strategy_id: i64,
        rule_models: Option<&str>,
        mut awards: Vec<AwardEntry>,
        rules: &BTreeMap<String, String>,
        trees: BTreeMap<String, RuleTree>,
    ) -> Result<Self, RuleError> {
        awards.sort_by_key(|a| (a.sort, a.award_id));
        let mut chain = Vec::new();
        for model in rule_models.unwrap_or("").split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let value = rules.get(model);
            chain.push(match (model, value) {
                ("rule_blacklist", Some(value)) => ChainRule::Blacklist(Blacklist::parse(strategy_id, value)?),
                ("rule_weight", Some(value)) => ChainRule::Weight(WeightTier::parse_all(strategy_id, value)?),
                ("rule_weight", None) => return Err(RuleError::RuleWeightMissing(strategy_id)),
                ("rule_blacklist", None) => {
                    return Err(RuleError::malformed(
                        strategy_id,
                        "rule_blacklist",
                        "",
                        "in rule_models but no strategy_rule row",
                    ));
                }
                (other, _) => {
                    return Err(RuleError::malformed(strategy_id, "rule_models", other, "unknown chain rule"));
                }
            });
        }
        for award in &awards {
            if let Some(tree_id) = &award.tree_id
                && !trees.contains_key(tree_id)
            {
                let reason = format!("award {} names rule tree {tree_id}, which does not exist", award.award_id);
                return Err(RuleError::malformed(strategy_id, "strategy_award.rule_models", tree_id, reason));
            }
        }
        let pool = |ids: Option<&[i32]>| -> Vec<(i32, Decimal)> {
            awards
                .iter()
                .filter(|a| ids.is_none_or(|ids| ids.contains(&a.award_id)))
                .map(|a| (a.award_id, a.award_rate))
                .collect()
        };
        let default_table = RateTable::build(&pool(None))
            .ok_or_else(|| RuleError::EmptyTable { strategy_id, table: strategy_id.to_string() })?;
        let mut weight_tables = BTreeMap::new();
        for rule in &chain {
            if let ChainRule::Weight(tiers) = rule {
                for tier in tiers {
                    let table = RateTable::build(&pool(Some(&tier.award_ids)))
                        .filter(|t| t.award_ids.len() == tier.award_ids.len())
                        .ok_or_else(|| {
                            RuleError::malformed(
                                strategy_id,
                                "rule_weight",
                                &tier.group,
                                "every award of a tier must be an award of the strategy with a positive rate",
                            )
                        })?;
                    weight_tables.insert(tier.group.clone(), table);
                }
            }
        }
        Ok(Self { strategy_id, awards, chain, trees, default_table, weight_tables })
    }

    /// The award by id.
    pub fn award(&self, award_id: i32) -> Option<&AwardEntry> {
        self.awards.iter().find(|a| a.award_id == award_id)
    }

    /// The rule tree of an award, if it has one.
    pub fn tree_of(&self, award_id: i32) -> Option<&RuleTree> {
        self.award(award_id)?.tree_id.as_ref().and_then(|id| self.trees.get(id))
    }

    /// The weight tiers (empty without rule_weight).
    pub fn weight_tiers(&self) -> &[WeightTier] {
        self.chain
            .iter()
            .find_map(|rule| match rule {
                ChainRule::Weight(tiers) => Some(tiers.as_slice()),
                ChainRule::Blacklist(_) => None,
            })
            .unwrap_or(&[])
    }

    /// The strategy as published for verifiable draws: everything but the blacklisted users.
    #[must_use]
    pub fn published(&self) -> Self {
        let mut published = self.clone();
        for rule in &mut published.chain {
            if let ChainRule::Blacklist(list) = rule {
                list.users.clear();
            }
        }
        published
    }

    /// What the chain gives a blacklisted user, when the strategy has a blacklist.
    pub fn blacklist_outcome(&self) -> Option<ChainOutcome> {
        self.chain.iter().find_map(|rule| match rule {
            ChainRule::Blacklist(list) => Some(ChainOutcome {
                award_id: list.award_id,
                award_config: BLACKLIST_AWARD_CONFIG.to_owned(),
                model: LogicModel::Blacklist,
            }),
            ChainRule::Weight(_) => None,
        })
    }

    /// Runs the chain for a user with `total_partake_count` lifetime partakes (including
    /// this one).
    pub fn run_chain(&self, user_id: &str, total_partake_count: i64, random: &dyn RandomSource) -> ChainOutcome {
        for rule in &self.chain {
            match rule {
                ChainRule::Blacklist(list) if list.contains(user_id) => {
                    return ChainOutcome {
                        award_id: list.award_id,
                        award_config: BLACKLIST_AWARD_CONFIG.to_owned(),
                        model: LogicModel::Blacklist,
                    };
                }
                ChainRule::Weight(tiers) => {
                    if let Some(tier) = tiers.iter().find(|t| t.weight == total_partake_count) {
                        let table = &self.weight_tables[&tier.group];
                        return ChainOutcome {
                            award_id: table.pick(random),
                            award_config: String::new(),
                            model: LogicModel::Weight,
                        };
                    }
                }
                ChainRule::Blacklist(_) => {}
            }
        }
        ChainOutcome {
            award_id: self.default_table.pick(random),
            award_config: String::new(),
            model: LogicModel::Default,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::str::FromStr;

    use bm_kernel::SeededRandom;

    use super::*;
    use crate::domain::rule_tree::tests::{tree_lock, tree_lock_3, tree_luck_award};

    /// Strategy 100006 of the demo (spec §2).
    pub(crate) fn strategy_100006() -> Strategy {
        let award = |id: i32, title: &str, rate: &str, tree: &str, sort: i32| AwardEntry {
            award_id: id,
            award_key: if id == 101 { "user_credit_random".into() } else { "openai_use_count".into() },
            award_config: if id == 101 { "1,100".into() } else { "5".into() },
            award_title: title.into(),
            award_subtitle: String::new(),
            award_rate: Decimal::from_str(rate).unwrap(),
            tree_id: Some(tree.into()),
            sort,
        };
        let awards = vec![
            award(108, "暴走玩偶", "0.0003", "tree_luck_award", 8),
            award(101, "随机积分", "0.7900", "tree_luck_award", 1),
            award(102, "OpenAI会员卡", "0.0300", "tree_luck_award", 2),
            award(103, "支付优惠券", "0.0300", "tree_luck_award", 3),
            award(104, "小米台灯", "0.0300", "tree_luck_award", 4),
            award(105, "小米su7周体验", "0.0300", "tree_lock_3", 5),
            award(106, "轻奢办公椅", "0.0300", "tree_lock_2", 6),
            award(107, "小霸王游戏机", "0.0300", "tree_lock_1", 7),
        ];
        let rules = BTreeMap::from([
            ("rule_weight".to_owned(), "10:102,103 70:106,107 1000:104,105".to_owned()),
            ("rule_blacklist".to_owned(), "101:user001,user002,user003".to_owned()),
        ]);
        let trees = BTreeMap::from([
            ("tree_lock_1".to_owned(), tree_lock(1)),
            ("tree_lock_2".to_owned(), tree_lock(2)),
            ("tree_lock_3".to_owned(), tree_lock_3()),
            ("tree_luck_award".to_owned(), tree_luck_award()),
        ]);
        Strategy::assemble(100_006, Some("rule_blacklist,rule_weight"), awards, &rules, trees).unwrap()
    }

    #[test]
    fn awards_are_in_sort_order_with_tables_for_every_tier() {
        let strategy = strategy_100006();
        assert_eq!(strategy.awards.iter().map(|a| a.award_id).collect::<Vec<_>>(), (101..=108).collect::<Vec<_>>());
        assert_eq!(strategy.default_table.total, 9703);
        assert_eq!(strategy.weight_tables.keys().collect::<Vec<_>>(), vec!["1000:104,105", "10:102,103", "70:106,107"]);
        assert_eq!(strategy.tree_of(107).unwrap().tree_id, "tree_lock_1");
    }

    #[test]
    fn blacklisted_users_get_the_consolation_credit() {
        let outcome = strategy_100006().run_chain("user001", 10, &SeededRandom::new(1));
        assert_eq!(
            outcome,
            ChainOutcome { award_id: 101, award_config: "0.01,1".into(), model: LogicModel::Blacklist },
            "blacklist runs before weight"
        );
    }

    #[test]
    fn weight_matches_the_lifetime_count_exactly() {
        let strategy = strategy_100006();
        let random = SeededRandom::new(3);
        for _ in 0..200 {
            let tenth = strategy.run_chain("xiaofuge", 10, &random);
            assert_eq!(tenth.model, LogicModel::Weight);
            assert!([102, 103].contains(&tenth.award_id));
            let seventieth = strategy.run_chain("xiaofuge", 70, &random);
            assert!([106, 107].contains(&seventieth.award_id));
            assert_eq!(strategy.run_chain("xiaofuge", 11, &random).model, LogicModel::Default, "11 ≠ 10");
        }
    }

    #[test]
    fn missing_weight_rule_is_err_biz_001_and_unknown_models_are_refused() {
        let base = strategy_100006();
        let err = Strategy::assemble(1, Some("rule_weight"), base.awards.clone(), &BTreeMap::new(), base.trees.clone());
        assert_eq!(err.unwrap_err(), RuleError::RuleWeightMissing(1));
        let err = Strategy::assemble(1, Some("rule_magic"), base.awards.clone(), &BTreeMap::new(), base.trees.clone());
        assert!(err.unwrap_err().to_string().contains("rule_magic"));
        let rules = BTreeMap::from([("rule_weight".to_owned(), "10:999".to_owned())]);
        let err = Strategy::assemble(1, Some("rule_weight"), base.awards.clone(), &rules, base.trees.clone());
        assert!(err.unwrap_err().to_string().contains("10:999"));
        let err = Strategy::assemble(1, None, base.awards.clone(), &BTreeMap::new(), BTreeMap::new());
        assert!(err.unwrap_err().to_string().contains("tree_luck_award"), "a missing tree is named");
    }
}
