//! Rule trees (spec §4.3): nodes `rule_lock`, `rule_stock`, `rule_luck_award` joined by
//! lines that say which outcome of a node leads where.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{LuckAward, RuleError};

/// The outcome of a node: ALLOW (`0000`, go on) or TAKE_OVER (`0001`, this node decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeOutcome {
    /// The node lets the draw continue.
    Allow,
    /// The node takes the decision over.
    TakeOver,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// Unlocked (ALLOW) when the user's partakes today ≥ the value, else TAKE_OVER.
    Lock(i64),
    /// Takes one unit of the award's stock: TAKE_OVER with the award on success, ALLOW when
    /// the stock is gone. The value (usually NULL) becomes the award config.
    Stock(String),
    /// The fallback award; always TAKE_OVER.
    LuckAward(LuckAward),
}

/// One line: from a node, on `outcome`, go to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The outcome that takes this line.
    pub outcome: TreeOutcome,
    /// The next node.
    pub to: String,
}

/// A rule tree, validated: every line leads to an existing node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTree {
    /// The tree id, e.g. `tree_lock_1`.
    pub tree_id: String,
    /// The root node's rule key.
    pub root: String,
    /// Nodes by rule key.
    pub nodes: BTreeMap<String, NodeKind>,
    /// Lines by their `from` node, in stored order.
    pub lines: BTreeMap<String, Vec<Line>>,
}

/// A stored node row: (rule_key, rule_value).
pub type NodeRow = (String, Option<String>);
/// A stored line row: (from, to, limit_type, limit_value).
pub type LineRow = (String, String, String, String);

impl RuleTree {
    /// Builds and validates a tree from its stored rows.
    pub fn build(
        strategy_id: i64,
        tree_id: &str,
        root: &str,
        node_rows: &[NodeRow],
        line_rows: &[LineRow],
    ) -> Result<Self, RuleError> {
        let mut nodes = BTreeMap::new();
        for (key, value) in node_rows {
            let value = value.as_deref().unwrap_or("");
            let rule = format!("{key} of {tree_id}");
            let kind = match key.as_str() {
                "rule_lock" => NodeKind::Lock(
                    value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n: &i64| *n >= 0)
                        .ok_or_else(|| RuleError::malformed(strategy_id, &rule, value, "expected a count >= 0"))?,
                ),
                "rule_stock" => NodeKind::Stock(value.to_owned()),
                "rule_luck_award" => NodeKind::LuckAward(LuckAward::parse(strategy_id, &rule, value)?),
                other => {
                    return Err(RuleError::malformed(strategy_id, &rule, value, format!("unknown node kind {other}")));
                }
            };
            nodes.insert(key.clone(), kind);
        }
        let tree_rule = format!("rule tree {tree_id}");
        if !nodes.contains_key(root) {
            return Err(RuleError::malformed(strategy_id, &tree_rule, root, "the root node does not exist"));
        }
        let mut lines: BTreeMap<String, Vec<Line>> = BTreeMap::new();
        for (from, to, limit_type, limit_value) in line_rows {
            let line_text = format!("{from}->{to} {limit_type} {limit_value}");
            let bad = |reason: &str| RuleError::malformed(strategy_id, &tree_rule, &line_text, reason);
            if !nodes.contains_key(from) || !nodes.contains_key(to) {
                return Err(bad("the line joins a node that does not exist"));
            }
            // The original stored GT/LT/GE/LE/ENUM but only ever matched EQUAL; refuse the
            // others at armory time instead of silently never taking the line.
            if limit_type != "EQUAL" {
                return Err(bad("only EQUAL lines are supported"));
            }
            let outcome = match limit_value.as_str() {
                "ALLOW" => TreeOutcome::Allow,
                "TAKE_OVER" => TreeOutcome::TakeOver,
                _ => return Err(bad("the limit value must be ALLOW or TAKE_OVER")),
            };
            lines.entry(from.clone()).or_default().push(Line { outcome, to: to.clone() });
        }
        Ok(Self { tree_id: tree_id.to_owned(), root: root.to_owned(), nodes, lines })
    }

    /// The node after `from` for `outcome`: the first matching line, as the original.
    pub fn next(&self, from: &str, outcome: TreeOutcome) -> Option<&str> {
        self.lines.get(from)?.iter().find(|line| line.outcome == outcome).map(|line| line.to.as_str())
    }

    /// The node's kind.
    pub fn node(&self, key: &str) -> Option<&NodeKind> {
        self.nodes.get(key)
    }

    /// The rule_lock count of the tree, if it has a lock node.
    pub fn lock_count(&self) -> Option<i64> {
        self.nodes.values().find_map(|kind| match kind {
            NodeKind::Lock(n) => Some(*n),
            _ => None,
        })
    }

    /// The rule_stock node's key, if the tree has one.
    pub fn stock_node(&self) -> Option<&str> {
        self.nodes.iter().find(|(_, kind)| matches!(kind, NodeKind::Stock(_))).map(|(key, _)| key.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn rows(nodes: &[(&str, Option<&str>)]) -> Vec<NodeRow> {
        nodes.iter().map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned))).collect()
    }

    fn lines(list: &[(&str, &str, &str)]) -> Vec<LineRow> {
        list.iter().map(|(f, t, v)| ((*f).to_owned(), (*t).to_owned(), "EQUAL".to_owned(), (*v).to_owned())).collect()
    }

    /// tree_lock_N of the demo (N = 1, 2); tree_lock_3 differs (spec §2).
    pub(crate) fn tree_lock(n: i64) -> RuleTree {
        let lock = n.to_string();
        RuleTree::build(
            100_006,
            &format!("tree_lock_{n}"),
            "rule_lock",
            &rows(&[("rule_lock", Some(&lock)), ("rule_stock", None), ("rule_luck_award", Some("101:1,100"))]),
            &lines(&[
                ("rule_lock", "rule_stock", "ALLOW"),
                ("rule_lock", "rule_luck_award", "TAKE_OVER"),
                ("rule_stock", "rule_luck_award", "ALLOW"),
            ]),
        )
        .unwrap()
    }

    pub(crate) fn tree_lock_3() -> RuleTree {
        RuleTree::build(
            100_006,
            "tree_lock_3",
            "rule_lock",
            &rows(&[("rule_lock", Some("3")), ("rule_stock", None), ("rule_luck_award", Some("101:1,100"))]),
            &lines(&[
                ("rule_lock", "rule_luck_award", "ALLOW"),
                ("rule_lock", "rule_luck_award", "TAKE_OVER"),
                ("rule_stock", "rule_luck_award", "ALLOW"),
            ]),
        )
        .unwrap()
    }

    pub(crate) fn tree_luck_award() -> RuleTree {
        RuleTree::build(
            100_006,
            "tree_luck_award",
            "rule_stock",
            &rows(&[("rule_stock", None), ("rule_luck_award", Some("101:1,100"))]),
            &lines(&[("rule_stock", "rule_luck_award", "ALLOW")]),
        )
        .unwrap()
    }

    #[test]
    fn demo_trees_route_as_the_spec_says() {
        let tree = tree_lock(1);
        assert_eq!(tree.next("rule_lock", TreeOutcome::Allow), Some("rule_stock"));
        assert_eq!(tree.next("rule_lock", TreeOutcome::TakeOver), Some("rule_luck_award"));
        assert_eq!(tree.next("rule_stock", TreeOutcome::Allow), Some("rule_luck_award"));
        assert_eq!(tree.next("rule_stock", TreeOutcome::TakeOver), None);
        assert_eq!(tree.lock_count(), Some(1));
        assert_eq!(tree_lock_3().next("rule_lock", TreeOutcome::Allow), Some("rule_luck_award"));
        assert_eq!(tree_luck_award().lock_count(), None);
        assert_eq!(tree_luck_award().stock_node(), Some("rule_stock"));
    }

    #[test]
    fn malformed_trees_are_refused_naming_the_tree() {
        let nodes = rows(&[("rule_lock", Some("x")), ("rule_luck_award", Some("101:1,100"))]);
        let err = RuleTree::build(1, "t1", "rule_lock", &nodes, &[]).unwrap_err().to_string();
        assert!(err.contains("rule_lock of t1"), "{err}");
        let nodes = rows(&[("rule_lock", Some("1")), ("rule_luck_award", Some("101:1,100"))]);
        let gt = vec![("rule_lock".into(), "rule_luck_award".into(), "GT".into(), "ALLOW".into())];
        let err = RuleTree::build(1, "t1", "rule_lock", &nodes, &gt).unwrap_err().to_string();
        assert!(err.contains("EQUAL"), "{err}");
        let dangling = lines(&[("rule_lock", "rule_stock", "ALLOW")]);
        assert!(RuleTree::build(1, "t1", "rule_lock", &nodes, &dangling).is_err());
        assert!(RuleTree::build(1, "t1", "rule_stock", &nodes, &[]).is_err(), "missing root");
        let odd = rows(&[("rule_magic", None)]);
        assert!(RuleTree::build(1, "t1", "rule_magic", &odd, &[]).is_err());
    }
}
