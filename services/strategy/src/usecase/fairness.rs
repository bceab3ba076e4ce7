//! Verifiable draws (issue #16): the active seed epoch of a strategy, rotation and reveal,
//! and draw receipts.

use super::{StrategyError, StrategyUseCases};
use crate::{
    domain::Strategy,
    fairness::{Receipt, sha256_hex, sheet_json},
    storage::{ActiveEpoch, EpochView},
};

impl StrategyUseCases {
    /// The active epoch of `strategy` (cached in process until a record under it is refused),
    /// started when there is none.
    pub async fn active_epoch(&self, strategy: &Strategy) -> Result<ActiveEpoch, StrategyError> {
        if let Some(epoch) =
            self.epochs.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&strategy.strategy_id)
        {
            return Ok(epoch.clone());
        }
        let epoch = if let Some(epoch) = self.store.active_epoch(&self.vault, strategy.strategy_id).await? {
            epoch
        } else {
            self.store.rotate_epoch(&self.vault, strategy.strategy_id, &sheet_json(strategy), false, true).await?;
            self.store.active_epoch(&self.vault, strategy.strategy_id).await?.ok_or_else(|| {
                StrategyError::Corrupt(format!("strategy {} has no active seed epoch", strategy.strategy_id))
            })?
        };
        self.epochs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(strategy.strategy_id, epoch.clone());
        Ok(epoch)
    }

    /// Drops the cached epoch (it was retired by this or another replica).
    pub(crate) fn forget_epoch(&self, strategy_id: i64) {
        self.epochs.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&strategy_id);
    }

    /// After an armory: starts the first epoch, or rotates when the strategy's published
    /// sheet changed (new odds, tiers or trees belong to a new commitment).
    pub(crate) async fn epoch_after_armory(&self, strategy: &Strategy) -> Result<(), StrategyError> {
        self.forget_epoch(strategy.strategy_id);
        let sheet = sheet_json(strategy);
        let epoch = self.active_epoch(strategy).await?;
        if epoch.sheet_sha256 != sha256_hex(sheet.as_bytes()) {
            let retired = self.store.rotate_epoch(&self.vault, strategy.strategy_id, &sheet, true, true).await?;
            tracing::info!(strategy_id = strategy.strategy_id, ?retired, "strategy changed: seed epoch rotated");
            self.forget_epoch(strategy.strategy_id);
        }
        Ok(())
    }

    /// Retires the active epoch, revealing its seed, and (unless `close`) starts a new one.
    /// Returns the retired epoch number (`None` when none was active).
    #[tracing::instrument(name = "strategy.rotate_seed", skip(self))]
    pub async fn rotate_seed(&self, strategy_id: i64, close: bool) -> Result<Option<i32>, StrategyError> {
        let retired = if close {
            // Closing needs no sheet, so no armory: an ended activity's strategy may be cold.
            if !self.store.strategy_exists(strategy_id).await? {
                return Err(StrategyError::StrategyNotFound(strategy_id));
            }
            self.store.rotate_epoch(&self.vault, strategy_id, "", true, false).await?
        } else {
            let strategy = self.armory.get(strategy_id).await?;
            self.store.rotate_epoch(&self.vault, strategy_id, &sheet_json(&strategy), true, true).await?
        };
        self.forget_epoch(strategy_id);
        tracing::info!(?retired, close, "seed epoch retired and revealed");
        Ok(retired)
    }

    /// The epochs of a strategy (every one, or only the active one): commitments, sheets,
    /// and the seeds of retired ones.
    pub async fn epochs(&self, strategy_id: i64, active_only: bool) -> Result<Vec<EpochView>, StrategyError> {
        if !self.store.strategy_exists(strategy_id).await? {
            return Err(StrategyError::StrategyNotFound(strategy_id));
        }
        self.store.epochs(&self.vault, strategy_id, active_only).await
    }

    /// The receipt of the draw of `order_id`; `user_id`, when given, must be its user.
    pub async fn receipt(
        &self,
        strategy_id: i64,
        order_id: &str,
        user_id: Option<&str>,
    ) -> Result<Receipt, StrategyError> {
        let record = self
            .store
            .find_result(strategy_id, order_id)
            .await?
            .filter(|r| user_id.is_none_or(|user| user == r.user_id))
            .ok_or_else(|| StrategyError::DrawNotFound(order_id.to_owned(), strategy_id))?;
        record.receipt().ok_or_else(|| StrategyError::NoReceipt(order_id.to_owned()))
    }
}
