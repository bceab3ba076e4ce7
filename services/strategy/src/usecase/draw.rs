//! The draw (spec §4.2–4.4): the rule chain, then the award's rule tree, exactly once per
//! raffle order.
//!
//! Decisions (docs/differences.md): a blacklisted user's consolation award skips the tree
//! (it is the luck award itself, which is never stock-limited); a rule_weight award skips
//! the lock (the user earned the tier) but passes the stock node, so an award whose stock
//! is gone is never handed out (spec §14 bug 3); a debug draw (empty order id) looks at the
//! stock but never takes it.

use bm_kernel::{OrderId, UserId};

use super::{AwardStock, RecordingStock, StrategyError, StrategyUseCases, Take};
use crate::{
    domain::{ChainOutcome, LogicModel, NodeKind, Strategy, TreeOutcome},
    fairness::{DRAW_PURPOSE, DerivedRandom},
    storage::{DrawInputs, DrawRecord, Recorded},
};

/// A validated draw request.
#[derive(Debug, Clone)]
pub struct DrawCommand {
    /// The user.
    pub user_id: UserId,
    /// The strategy.
    pub strategy_id: i64,
    /// The raffle order; `None` = a debug draw.
    pub order_id: Option<OrderId>,
    /// Lifetime partakes including this one (rule_weight).
    pub total_partake_count: i64,
    /// Partakes today including this one (rule_lock).
    pub day_partake_count: i64,
    /// The caller's hint that no earlier attempt of the order exists: skip the lookup of a
    /// recorded result (the insert's conflict handling still keeps the draw exactly-once).
    pub first_attempt: bool,
}

/// The award a draw settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    /// The award.
    pub award_id: i32,
    /// The effective config ('' = the award's default).
    pub award_config: String,
    /// Which rule decided.
    pub model: LogicModel,
    /// The award whose stock unit this draw holds, if any.
    pub stock_award_id: Option<i32>,
}

/// Runs the chain and the tree against `stock`. Pure but for the stock.
pub async fn decide(
    strategy: &Strategy,
    command: &DrawCommand,
    chain: ChainOutcome,
    stock: &impl AwardStock,
) -> Result<Drawn, StrategyError> {
    let order_id = command.order_id.as_ref().map_or("", OrderId::as_str);
    let Some(tree) = strategy.tree_of(chain.award_id) else {
        return Ok(Drawn {
            award_id: chain.award_id,
            award_config: chain.award_config,
            model: chain.model,
            stock_award_id: None,
        });
    };
    let start = match chain.model {
        LogicModel::Blacklist => {
            return Ok(Drawn {
                award_id: chain.award_id,
                award_config: chain.award_config,
                model: chain.model,
                stock_award_id: None,
            });
        }
        LogicModel::Weight => tree.stock_node().unwrap_or(&tree.root),
        _ => &tree.root,
    };
    let mut decided =
        Drawn { award_id: chain.award_id, award_config: chain.award_config, model: chain.model, stock_award_id: None };
    let mut node = Some(start);
    while let Some(key) = node {
        let outcome = match tree.node(key) {
            Some(NodeKind::Lock(needed)) => {
                if command.day_partake_count >= *needed {
                    TreeOutcome::Allow
                } else {
                    TreeOutcome::TakeOver
                }
            }
            Some(NodeKind::Stock(config)) => match stock.take(strategy.strategy_id, chain.award_id, order_id).await? {
                Take::Taken { .. } => {
                    decided = Drawn {
                        award_id: chain.award_id,
                        award_config: config.clone(),
                        model: if chain.model == LogicModel::Weight { LogicModel::Weight } else { LogicModel::Stock },
                        stock_award_id: (!order_id.is_empty()).then_some(chain.award_id),
                    };
                    TreeOutcome::TakeOver
                }
                Take::AlreadyTaken { award_id } => {
                    // An earlier attempt of this order took a unit (maybe of another award
                    // it drew); the order's result is that award.
                    return Ok(Drawn {
                        award_id,
                        award_config: config.clone(),
                        model: LogicModel::Stock,
                        stock_award_id: Some(award_id),
                    });
                }
                Take::Empty => TreeOutcome::Allow,
            },
            Some(NodeKind::LuckAward(luck)) => {
                decided = Drawn {
                    award_id: luck.award_id,
                    award_config: luck.award_config.clone(),
                    model: LogicModel::LuckAward,
                    stock_award_id: None,
                };
                TreeOutcome::TakeOver
            }
            None => break,
        };
        node = tree.next(key, outcome);
    }
    Ok(decided)
}

/// How many times a draw is redone when its seed epoch is retired under it.
const EPOCH_ATTEMPTS: usize = 3;

impl StrategyUseCases {
    /// Armories the strategy and makes sure it has an active seed epoch committed to its
    /// current sheet (issue #16).
    pub async fn armory_strategy(&self, strategy_id: i64) -> Result<std::sync::Arc<Strategy>, StrategyError> {
        let strategy = self.armory.armory(strategy_id).await?;
        self.epoch_after_armory(&strategy).await?;
        Ok(strategy)
    }

    /// Draws for `command`; with an order id, exactly once per order, its randomness
    /// derived from the strategy's seed epoch and its inputs recorded (a verifiable draw).
    #[tracing::instrument(name = "strategy.draw", skip_all, fields(
        user_id = %command.user_id,
        strategy_id = command.strategy_id,
        order_id = command.order_id.as_ref().map_or("", OrderId::as_str),
    ))]
    pub async fn draw(&self, command: DrawCommand) -> Result<(Drawn, std::sync::Arc<Strategy>), StrategyError> {
        let strategy = self.armory.get(command.strategy_id).await?;
        let stock = self.cache.stock_for(&self.store, &self.events);
        let Some(order_id) = &command.order_id else {
            // A debug draw: not recorded, never takes stock, not verifiable.
            let chain = strategy.run_chain(command.user_id.as_str(), command.total_partake_count, self.random.as_ref());
            return Ok((decide(&strategy, &command, chain, &stock).await?, strategy));
        };
        if !command.first_attempt
            && let Some(record) = self.store.find_result(command.strategy_id, order_id.as_str()).await?
        {
            return Ok((record.into(), strategy));
        }
        for _ in 0..EPOCH_ATTEMPTS {
            let epoch = self.active_epoch(&strategy).await?;
            let random = DerivedRandom::new(
                &epoch.seed,
                command.strategy_id,
                order_id.as_str(),
                command.user_id.as_str(),
                DRAW_PURPOSE,
            );
            let chain = strategy.run_chain(command.user_id.as_str(), command.total_partake_count, &random);
            let recording = RecordingStock::new(&stock);
            let drawn = decide(&strategy, &command, chain.clone(), &recording).await?;
            let inputs = DrawInputs {
                epoch: epoch.epoch,
                total_partake_count: command.total_partake_count,
                day_partake_count: command.day_partake_count,
                chain,
                stock_outcome: recording.outcome(),
            };
            let record =
                DrawRecord::new(command.strategy_id, order_id.as_str(), command.user_id.as_str(), &drawn, &inputs);
            let stored = match self.writer.record(record.clone()).await? {
                Recorded::Stored(stored) => *stored,
                Recorded::EpochRetired => {
                    // Rotated meanwhile: give back the unit, draw again under the new epoch.
                    if let Some(award_id) = drawn.stock_award_id {
                        self.cache.release(command.strategy_id, award_id, order_id.as_str()).await?;
                    }
                    self.forget_epoch(command.strategy_id);
                    continue;
                }
            };
            if stored != record {
                // A concurrent attempt of the same order recorded first: give back a unit this
                // attempt took for an award the order does not hold.
                if let Some(award_id) = drawn.stock_award_id.filter(|id| stored.stock_award_id != Some(*id)) {
                    self.cache.release(command.strategy_id, award_id, order_id.as_str()).await?;
                }
            }
            tracing::info!(award_id = stored.award_id, rule_model = %stored.rule_model, epoch = epoch.epoch, "drawn");
            metrics::counter!(
                "bm_draws_total",
                "strategy_id" => command.strategy_id.to_string(),
                "award_id" => stored.award_id.to_string(),
                "rule_model" => stored.rule_model.clone()
            )
            .increment(1);
            return Ok((stored.into(), strategy));
        }
        Err(StrategyError::Corrupt(format!(
            "the seed epoch of strategy {} changed {EPOCH_ATTEMPTS} times during one draw",
            command.strategy_id
        )))
    }
}

#[cfg(test)]
mod tests {
    use bm_kernel::SeededRandom;

    use super::*;
    use crate::{domain::strategy::tests::strategy_100006, usecase::stock::MemoryStock};

    fn command(user: &str, order: &str, total: i64, day: i64) -> DrawCommand {
        DrawCommand {
            user_id: UserId::parse(user).unwrap(),
            strategy_id: 100_006,
            order_id: (!order.is_empty()).then(|| OrderId::parse(order).unwrap()),
            total_partake_count: total,
            day_partake_count: day,
            first_attempt: false,
        }
    }

    fn chain(award_id: i32, model: LogicModel) -> ChainOutcome {
        ChainOutcome { award_id, award_config: String::new(), model }
    }

    async fn run(award: i32, model: LogicModel, day: i64, stock: &MemoryStock) -> Drawn {
        decide(&strategy_100006(), &command("xiaofuge", "o1", 1, day), chain(award, model), stock).await.unwrap()
    }

    #[tokio::test]
    async fn luck_award_tree_takes_stock_then_falls_back() {
        let stock = MemoryStock::with(100_006, &[102], 1);
        let first = run(102, LogicModel::Default, 1, &stock).await;
        assert_eq!((first.award_id, first.model, first.stock_award_id), (102, LogicModel::Stock, Some(102)));
        let empty = MemoryStock::with(100_006, &[102], 0);
        let fallback = run(102, LogicModel::Default, 1, &empty).await;
        assert_eq!(
            (fallback.award_id, fallback.award_config.as_str(), fallback.model),
            (101, "1,100", LogicModel::LuckAward)
        );
    }

    #[tokio::test]
    async fn lock_trees_open_with_todays_count() {
        let stock = MemoryStock::with(100_006, &[106, 107], 10);
        assert_eq!(run(107, LogicModel::Default, 1, &stock).await.award_id, 107, "tree_lock_1 opens at 1");
        assert_eq!(run(106, LogicModel::Default, 1, &stock).await.award_id, 101, "tree_lock_2 is locked at 1");
        let stock = MemoryStock::with(100_006, &[106], 10);
        assert_eq!(run(106, LogicModel::Default, 2, &stock).await.award_id, 106, "and open at 2");
    }

    #[tokio::test]
    async fn tree_lock_3_always_ends_at_the_luck_award() {
        let stock = MemoryStock::with(100_006, &[105], 10);
        for day in [1, 3, 100] {
            let drawn = run(105, LogicModel::Default, day, &stock).await;
            assert_eq!((drawn.award_id, drawn.model), (101, LogicModel::LuckAward), "day {day}");
        }
    }

    #[tokio::test]
    async fn weight_awards_skip_the_lock_but_not_the_stock() {
        let stock = MemoryStock::with(100_006, &[106], 1);
        let drawn = run(106, LogicModel::Weight, 0, &stock).await;
        assert_eq!((drawn.award_id, drawn.model, drawn.stock_award_id), (106, LogicModel::Weight, Some(106)));
        let again = decide(&strategy_100006(), &command("u", "o2", 70, 0), chain(106, LogicModel::Weight), &stock)
            .await
            .unwrap();
        assert_eq!(again.award_id, 101, "no stock left: the luck award, never an award without stock");
    }

    #[tokio::test]
    async fn blacklist_skips_tree_and_stock() {
        let stock = MemoryStock::with(100_006, &[101], 0);
        let outcome = strategy_100006().run_chain("user001", 1, &SeededRandom::new(1));
        let drawn = decide(&strategy_100006(), &command("user001", "o1", 1, 1), outcome, &stock).await.unwrap();
        assert_eq!((drawn.award_id, drawn.award_config.as_str(), drawn.stock_award_id), (101, "0.01,1", None));
    }

    #[tokio::test]
    async fn a_repeated_order_holds_the_award_it_took() {
        let stock = MemoryStock::with(100_006, &[102, 103], 5);
        let first = run(102, LogicModel::Default, 1, &stock).await;
        let second = run(103, LogicModel::Default, 1, &stock).await;
        assert_eq!(first.award_id, 102);
        assert_eq!(second.award_id, 102, "the order already holds a unit of 102");
    }

    #[tokio::test]
    async fn debug_draws_never_take_stock() {
        let stock = MemoryStock::with(100_006, &[102], 1);
        let strategy = strategy_100006();
        for _ in 0..3 {
            let drawn =
                decide(&strategy, &command("u", "", 1, 1), chain(102, LogicModel::Default), &stock).await.unwrap();
            assert_eq!((drawn.award_id, drawn.stock_award_id), (102, None));
        }
    }
}
