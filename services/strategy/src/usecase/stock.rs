//! Award stock: one unit per raffle order at most, never below zero.

use std::{collections::HashMap, sync::Mutex};

use super::StrategyError;

/// The outcome of taking a unit of an award's stock for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A unit was taken; `left` units remain.
    Taken {
        /// Units left after this one.
        left: i64,
    },
    /// This order already took a unit, of `award_id`: the order's result is that award.
    AlreadyTaken {
        /// The award whose unit the order holds.
        award_id: i32,
    },
    /// No stock left.
    Empty,
}

/// Award stock counters. `order_id` empty = a debug draw, which looks but never takes.
pub trait AwardStock: Send + Sync {
    /// Takes one unit of `award_id` for `order_id`.
    fn take(
        &self,
        strategy_id: i64,
        award_id: i32,
        order_id: &str,
    ) -> impl Future<Output = Result<Take, StrategyError>> + Send;
}

/// An in-memory stock for benchmarks and pure tests.
#[derive(Debug, Default)]
pub struct MemoryStock {
    counters: Mutex<HashMap<(i64, i32), i64>>,
    orders: Mutex<HashMap<(i64, String), i32>>,
}

impl MemoryStock {
    /// A stock with `units` of every award in `awards`.
    pub fn with(strategy_id: i64, awards: &[i32], units: i64) -> Self {
        let stock = Self::default();
        let mut counters = stock.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for award in awards {
            counters.insert((strategy_id, *award), units);
        }
        drop(counters);
        stock
    }
}

impl AwardStock for MemoryStock {
    async fn take(&self, strategy_id: i64, award_id: i32, order_id: &str) -> Result<Take, StrategyError> {
        let mut orders = self.orders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(award_id) = orders.get(&(strategy_id, order_id.to_owned())) {
            return Ok(Take::AlreadyTaken { award_id: *award_id });
        }
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = counters.entry((strategy_id, award_id)).or_insert(0);
        if *left <= 0 {
            return Ok(Take::Empty);
        }
        if !order_id.is_empty() {
            *left -= 1;
            orders.insert((strategy_id, order_id.to_owned()), award_id);
        }
        Ok(Take::Taken { left: *left })
    }
}

/// A stock that passes every take to `inner` and remembers what it answered, for the
/// draw's receipt (issue #16: the stock outcome is a recorded input of a verifiable draw).
#[derive(Debug)]
pub struct RecordingStock<'a, S> {
    inner: &'a S,
    outcome: Mutex<crate::fairness::StockOutcome>,
}

impl<'a, S: AwardStock> RecordingStock<'a, S> {
    /// Wraps `inner`; nothing asked yet.
    pub fn new(inner: &'a S) -> Self {
        Self { inner, outcome: Mutex::new(crate::fairness::StockOutcome::None) }
    }

    /// What the last take answered (`None` when the tree never reached a stock node).
    pub fn outcome(&self) -> crate::fairness::StockOutcome {
        *self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S: AwardStock> AwardStock for RecordingStock<'_, S> {
    async fn take(&self, strategy_id: i64, award_id: i32, order_id: &str) -> Result<Take, StrategyError> {
        use crate::fairness::StockOutcome;
        let take = self.inner.take(strategy_id, award_id, order_id).await?;
        let outcome = match take {
            Take::Taken { .. } => StockOutcome::Taken,
            Take::AlreadyTaken { .. } => StockOutcome::Held,
            Take::Empty => StockOutcome::Empty,
        };
        *self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = outcome;
        Ok(take)
    }
}
