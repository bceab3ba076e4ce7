//! Hot paths of strategy-draw, each next to its same-run baseline (docs/BENCHMARKS.md):
//!
//! - `table_pick/strategy_100006` vs `table_pick/baseline_rng`: one pick from the real
//!   table against drawing the same uniform number alone (the floor of any table pick).
//! - `draw/in_process` vs `draw/baseline_chain_only`: chain + rule tree with stock in an
//!   in-memory counter, against the chain alone.
//!
//! Run: `make bench-strategy` (prints the ratios) or `cargo bench -p bm-strategy --bench draw`.

#![expect(clippy::expect_used, reason = "benchmark fixtures: a bad fixture should stop the run")]

use std::{collections::BTreeMap, hint::black_box, str::FromStr};

use bm_kernel::{OrderId, RandomSource, SeededRandom, UserId};
use bm_strategy::{
    domain::{AwardEntry, RuleTree, Strategy},
    usecase::{DrawCommand, decide, stock::MemoryStock},
};
use criterion::{Criterion, criterion_group, criterion_main};
use rust_decimal::Decimal;

fn tree(id: &str, lock: Option<&str>) -> RuleTree {
    let mut nodes = vec![("rule_stock".to_owned(), None), ("rule_luck_award".to_owned(), Some("101:1,100".to_owned()))];
    let mut lines = vec![("rule_stock".into(), "rule_luck_award".into(), "EQUAL".into(), "ALLOW".into())];
    let root = if let Some(lock) = lock {
        nodes.push(("rule_lock".to_owned(), Some(lock.to_owned())));
        lines.push(("rule_lock".into(), "rule_stock".into(), "EQUAL".into(), "ALLOW".into()));
        lines.push(("rule_lock".into(), "rule_luck_award".into(), "EQUAL".into(), "TAKE_OVER".into()));
        "rule_lock"
    } else {
        "rule_stock"
    };
    RuleTree::build(100_006, id, root, &nodes, &lines).expect("tree")
}

/// Strategy 100006 of the demo (spec §2).
fn strategy_100006() -> Strategy {
    let awards = [
        (101, "0.7900", "tree_luck_award"),
        (102, "0.0300", "tree_luck_award"),
        (103, "0.0300", "tree_luck_award"),
        (104, "0.0300", "tree_luck_award"),
        (105, "0.0300", "tree_lock_3"),
        (106, "0.0300", "tree_lock_2"),
        (107, "0.0300", "tree_lock_1"),
        (108, "0.0003", "tree_luck_award"),
    ]
    .into_iter()
    .zip(1..)
    .map(|((award_id, rate, tree), sort)| AwardEntry {
        award_id,
        award_key: "user_credit_random".into(),
        award_config: "1,100".into(),
        award_title: format!("award {award_id}"),
        award_subtitle: String::new(),
        award_rate: Decimal::from_str(rate).expect("rate"),
        tree_id: Some(tree.into()),
        sort,
    })
    .collect();
    let rules = BTreeMap::from([
        ("rule_weight".to_owned(), "10:102,103 70:106,107 1000:104,105".to_owned()),
        ("rule_blacklist".to_owned(), "101:user001,user002,user003".to_owned()),
    ]);
    let trees = BTreeMap::from([
        ("tree_lock_1".to_owned(), tree("tree_lock_1", Some("1"))),
        ("tree_lock_2".to_owned(), tree("tree_lock_2", Some("2"))),
        ("tree_lock_3".to_owned(), tree("tree_lock_3", Some("3"))),
        ("tree_luck_award".to_owned(), tree("tree_luck_award", None)),
    ]);
    Strategy::assemble(100_006, Some("rule_blacklist,rule_weight"), awards, &rules, trees).expect("strategy")
}

fn table_pick(c: &mut Criterion) {
    let strategy = strategy_100006();
    let table = &strategy.default_table;
    let random = SeededRandom::new(1);
    let total = u32::try_from(table.total).expect("small table");
    let mut group = c.benchmark_group("table_pick");
    group.bench_function("baseline_rng", |b| b.iter(|| black_box(random.below(black_box(total)))));
    group.bench_function("strategy_100006", |b| b.iter(|| black_box(table.pick(black_box(&random)))));
    group.finish();
}

fn draw(c: &mut Criterion) {
    let strategy = strategy_100006();
    let random = SeededRandom::new(2);
    let awards: Vec<i32> = strategy.awards.iter().map(|a| a.award_id).collect();
    // Plenty of stock, and debug draws (no order id) so the counters never run out.
    let stock = MemoryStock::with(100_006, &awards, i64::MAX);
    let command = DrawCommand {
        user_id: UserId::parse("xiaofuge").expect("user"),
        strategy_id: 100_006,
        order_id: None::<OrderId>,
        total_partake_count: 5,
        day_partake_count: 2,
        first_attempt: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut group = c.benchmark_group("draw");
    group.bench_function("baseline_chain_only", |b| {
        b.iter(|| black_box(strategy.run_chain(black_box("xiaofuge"), 5, &random)));
    });
    group.bench_function("in_process", |b| {
        b.to_async(&runtime).iter(|| async {
            let chain = strategy.run_chain(command.user_id.as_str(), command.total_partake_count, &random);
            black_box(decide(&strategy, &command, chain, &stock).await.expect("draw"))
        });
    });
    group.finish();
}

criterion_group!(benches, table_pick, draw);
criterion_main!(benches);
