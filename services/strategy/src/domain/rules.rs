//! The rule values of spec §4.2 and §4.3, parsed once at armory time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::RuleError;

/// The award config a blacklisted user gets (spec §4.2: hard-coded credit range).
pub const BLACKLIST_AWARD_CONFIG: &str = "0.01,1";

/// `rule_blacklist`: `"{award_id}:{user},{user},…"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blacklist {
    /// The award a blacklisted user gets.
    pub award_id: i32,
    /// The users.
    pub users: BTreeSet<String>,
}

impl Blacklist {
    /// Parses the rule value.
    pub fn parse(strategy_id: i64, value: &str) -> Result<Self, RuleError> {
        let bad = |reason: &str| RuleError::malformed(strategy_id, "rule_blacklist", value, reason);
        let (award, users) = value.split_once(':').ok_or_else(|| bad("expected {award_id}:{user},{user}"))?;
        let award_id = award.trim().parse().map_err(|_| bad("the award id is not a number"))?;
        let users: BTreeSet<String> =
            users.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        if users.is_empty() {
            return Err(bad("no users listed"));
        }
        Ok(Self { award_id, users })
    }

    /// Whether `user_id` is blacklisted.
    pub fn contains(&self, user_id: &str) -> bool {
        self.users.contains(user_id)
    }
}

/// One `rule_weight` tier: at exactly `weight` lifetime draws the award comes from `award_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightTier {
    /// The lifetime partake count the tier matches (exactly, spec §4.2 since 2024-07-06).
    pub weight: i64,
    /// The whole group text, e.g. `10:102,103` (the table key suffix).
    pub group: String,
    /// The awards of the tier.
    pub award_ids: Vec<i32>,
}

impl WeightTier {
    /// Parses `"{w}:{ids} {w}:{ids} …"`, sorted by weight. Weights must be positive and distinct.
    pub fn parse_all(strategy_id: i64, value: &str) -> Result<Vec<Self>, RuleError> {
        let bad = |reason: String| RuleError::malformed(strategy_id, "rule_weight", value, reason);
        let mut tiers = Vec::new();
        for group in value.split_whitespace() {
            let (weight, ids) =
                group.split_once(':').ok_or_else(|| bad(format!("group {group:?} is not {{weight}}:{{ids}}")))?;
            let weight: i64 = weight.parse().map_err(|_| bad(format!("weight {weight:?} is not a number")))?;
            if weight <= 0 {
                return Err(bad(format!("weight {weight} must be positive")));
            }
            let award_ids = ids
                .split(',')
                .map(|id| id.parse::<i32>().map_err(|_| bad(format!("award id {id:?} is not a number"))))
                .collect::<Result<Vec<_>, _>>()?;
            tiers.push(Self { weight, group: group.to_owned(), award_ids });
        }
        if tiers.is_empty() {
            return Err(bad("no tiers".into()));
        }
        tiers.sort_by_key(|t| t.weight);
        if tiers.windows(2).any(|w| w[0].weight == w[1].weight) {
            return Err(bad("two tiers have the same weight".into()));
        }
        Ok(tiers)
    }
}

/// `rule_luck_award`: `"{award_id}:{award_config}"` (config may be absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LuckAward {
    /// The fallback award.
    pub award_id: i32,
    /// Its config, e.g. `1,100`; empty = the award's default.
    pub award_config: String,
}

impl LuckAward {
    /// Parses the node value; `rule` names the node for errors.
    pub fn parse(strategy_id: i64, rule: &str, value: &str) -> Result<Self, RuleError> {
        let (award, config) = value.split_once(':').unwrap_or((value, ""));
        let award_id = award
            .trim()
            .parse()
            .map_err(|_| RuleError::malformed(strategy_id, rule, value, "expected {award_id}:{award_config}"))?;
        Ok(Self { award_id, award_config: config.trim().to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blacklist_of_the_demo() {
        let list = Blacklist::parse(100_006, "101:user001,user002,user003").unwrap();
        assert_eq!(list.award_id, 101);
        assert!(list.contains("user002"));
        assert!(!list.contains("xiaofuge"));
        for bad in ["", "101", "x:user001", "101:", "101: , "] {
            let err = Blacklist::parse(100_006, bad).unwrap_err().to_string();
            assert!(err.contains("rule_blacklist"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn weight_tiers_of_the_demo() {
        let tiers = WeightTier::parse_all(100_006, "10:102,103 70:106,107 1000:104,105").unwrap();
        assert_eq!(tiers.iter().map(|t| t.weight).collect::<Vec<_>>(), vec![10, 70, 1000]);
        assert_eq!(tiers[0].group, "10:102,103");
        assert_eq!(tiers[2].award_ids, vec![104, 105]);
        let unsorted = WeightTier::parse_all(1, "70:1 10:2").unwrap();
        assert_eq!(unsorted[0].weight, 10);
        for bad in ["", "10", "10:", "ten:101", "10:1x", "0:101", "10:1 10:2", "-5:101"] {
            let err = WeightTier::parse_all(100_006, bad).unwrap_err().to_string();
            assert!(err.contains("rule_weight"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn luck_award_values() {
        assert_eq!(
            LuckAward::parse(1, "rule_luck_award", "101:1,100").unwrap(),
            LuckAward { award_id: 101, award_config: "1,100".into() }
        );
        assert_eq!(LuckAward::parse(1, "rule_luck_award", "101").unwrap().award_config, "");
        assert!(LuckAward::parse(1, "rule_luck_award", "abc:1,2").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::domain::RuleTree;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

            /// Any stored text is either a rule or a clear error naming the rule; never a panic.
            #[test]
            fn any_rule_value_parses_or_is_refused_by_name(value in "\\PC{0,80}|[0-9:, ]{0,40}") {
                if let Err(e) = Blacklist::parse(1, &value) { prop_assert!(e.to_string().contains("rule_blacklist")); }
                if let Err(e) = WeightTier::parse_all(1, &value) { prop_assert!(e.to_string().contains("rule_weight")); }
                if let Err(e) = LuckAward::parse(1, "rule_luck_award of t", &value) { prop_assert!(e.to_string().contains("rule_luck_award")); }
                let nodes = vec![("rule_lock".to_owned(), Some(value.clone())), ("rule_luck_award".to_owned(), Some(value.clone()))];
                let lines = vec![("rule_lock".to_owned(), "rule_luck_award".to_owned(), "EQUAL".to_owned(), value.clone())];
                if let Err(e) = RuleTree::build(1, "t", "rule_lock", &nodes, &lines) { prop_assert!(e.to_string().contains('t')); }
            }

            /// Well-formed weight rules round-trip: every tier keeps its weight and awards.
            #[test]
            fn weight_rules_round_trip(tiers in prop::collection::btree_map(1_i64..100_000, prop::collection::vec(1_i32..10_000, 1..6), 1..6)) {
                let text: Vec<String> = tiers
                    .iter()
                    .map(|(w, ids)| format!("{w}:{}", ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")))
                    .collect();
                let parsed = WeightTier::parse_all(1, &text.join(" ")).unwrap();
                prop_assert_eq!(parsed.len(), tiers.len());
                for (tier, (weight, ids)) in parsed.iter().zip(&tiers) {
                    prop_assert_eq!(tier.weight, *weight);
                    prop_assert_eq!(&tier.award_ids, ids);
                }
            }
        }
    }
}
