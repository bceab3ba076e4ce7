//! The operations of strategy-draw: armory, draw, queries. Each one loads, decides with
//! the pure `domain`, and saves.

mod armory;
mod draw;
mod error;
mod query;
pub mod stock;

use std::sync::Arc;

pub use armory::Armory;
pub use draw::{DrawCommand, Drawn, decide};
pub use error::StrategyError;
pub use query::{AwardView, RuleWeightView};
pub use stock::{AwardStock, Take};

use bm_kernel::RandomSource;

use crate::{
    events::StockEvents,
    storage::{RedisStrategyCache, StrategyStore},
};

/// The strategy service's use cases over their storage.
#[derive(Debug, Clone)]
pub struct StrategyUseCases {
    pub(crate) store: StrategyStore,
    pub(crate) cache: RedisStrategyCache,
    pub(crate) armory: Armory,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) events: StockEvents,
}

impl StrategyUseCases {
    /// Wires the use cases.
    pub fn new(
        store: StrategyStore,
        cache: RedisStrategyCache,
        random: Arc<dyn RandomSource>,
        events: StockEvents,
    ) -> Self {
        let armory = Armory::new(store.clone(), cache.clone());
        Self { store, cache, armory, random, events }
    }

    /// The armory (also used by the stock sync worker).
    pub fn armory(&self) -> &Armory {
        &self.armory
    }
}
