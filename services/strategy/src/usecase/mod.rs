//! The operations of strategy-draw: armory, draw, queries. Each one loads, decides with
//! the pure `domain`, and saves.

mod armory;
mod draw;
mod error;
mod fairness;
mod query;
pub mod stock;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

pub use armory::Armory;
pub use draw::{DrawCommand, Drawn, decide};
pub use error::StrategyError;
pub use query::{AwardView, RuleWeightView};
pub use stock::{AwardStock, RecordingStock, Take};

use bm_kernel::RandomSource;

use crate::{
    events::StockEvents,
    storage::{ActiveEpoch, BatchSettings, RedisStrategyCache, ResultWriter, SeedVault, StrategyStore},
};

/// The strategy service's use cases over their storage.
#[derive(Debug, Clone)]
pub struct StrategyUseCases {
    pub(crate) store: StrategyStore,
    pub(crate) writer: ResultWriter,
    pub(crate) cache: RedisStrategyCache,
    pub(crate) armory: Armory,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) events: StockEvents,
    pub(crate) vault: Arc<SeedVault>,
    epochs: Arc<RwLock<HashMap<i64, ActiveEpoch>>>,
}

impl StrategyUseCases {
    /// Wires the use cases. `random` serves debug draws (no order id) only: recorded draws
    /// derive their randomness from the strategy's seed epoch, sealed by `vault`. Draw
    /// records are written in batches (`batch`) by a task started here.
    pub fn new(
        store: StrategyStore,
        cache: RedisStrategyCache,
        random: Arc<dyn RandomSource>,
        events: StockEvents,
        vault: SeedVault,
        batch: BatchSettings,
    ) -> Self {
        let armory = Armory::new(store.clone(), cache.clone());
        let writer = ResultWriter::start(store.clone(), batch);
        Self { store, writer, cache, armory, random, events, vault: Arc::new(vault), epochs: Arc::default() }
    }

    /// The armory (also used by the stock sync worker).
    pub fn armory(&self) -> &Armory {
        &self.armory
    }
}
