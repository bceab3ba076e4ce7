//! Any stored rule value: rule_blacklist, rule_weight, rule_luck_award, rule trees (lock
//! counts, line limit values) parse or fail with an error naming the rule — never panic.
#![no_main]

use bm_strategy::domain::{Blacklist, LuckAward, RuleTree, WeightTier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    if let Err(error) = Blacklist::parse(1, value) {
        assert!(error.to_string().contains("rule_blacklist"));
    }
    if let Err(error) = WeightTier::parse_all(1, value) {
        assert!(error.to_string().contains("rule_weight"));
    }
    if let Ok(tiers) = WeightTier::parse_all(1, value) {
        assert!(tiers.windows(2).all(|w| w[0].weight < w[1].weight));
    }
    let _ = LuckAward::parse(1, "rule_luck_award", value);
    // Split near the middle, on a character boundary.
    let middle = (0..=value.len() / 2).rev().find(|i| value.is_char_boundary(*i)).unwrap_or(0);
    let (left, right) = value.split_at(middle);
    let nodes = vec![("rule_lock".to_owned(), Some(left.to_owned())), ("rule_luck_award".to_owned(), Some(right.to_owned()))];
    let lines = vec![("rule_lock".to_owned(), "rule_luck_award".to_owned(), "EQUAL".to_owned(), right.to_owned())];
    let _ = RuleTree::build(1, "fuzz", "rule_lock", &nodes, &lines);
});
