//! Seed epochs of verifiable draws (issue #16): created from the OS CSPRNG, stored sealed
//! with ChaCha20-Poly1305 (ring), committed by SHA-256, revealed once retired.

use ring::{
    aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};

use super::StrategyStore;
use crate::{
    fairness::{Seed, sha256_hex},
    usecase::StrategyError,
};

/// Seals and opens seeds under the service's seed key.
pub struct SeedVault {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for SeedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedVault(<key>)")
    }
}

fn associated_data(strategy_id: i64, epoch: i32) -> [u8; 12] {
    let mut data = [0; 12];
    data[..8].copy_from_slice(&strategy_id.to_be_bytes());
    data[8..].copy_from_slice(&epoch.to_be_bytes());
    data
}

impl SeedVault {
    /// A vault with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&CHACHA20_POLY1305, key)
            .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 takes a 32-byte key"));
        Self { key: LessSafeKey::new(key), random: SystemRandom::new() }
    }

    /// A fresh seed from the operating system's CSPRNG.
    pub fn new_seed(&self) -> Result<Seed, StrategyError> {
        let mut bytes = [0; 32];
        self.random.fill(&mut bytes).map_err(|_| StrategyError::Corrupt("the OS random source failed".into()))?;
        Ok(Seed::from_bytes(bytes))
    }

    /// `nonce ‖ ciphertext ‖ tag` of the seed, bound to (strategy, epoch).
    pub fn seal(&self, seed: &Seed, strategy_id: i64, epoch: i32) -> Result<Vec<u8>, StrategyError> {
        let mut nonce = [0; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| StrategyError::Corrupt("the OS random source failed".into()))?;
        let mut sealed = seed.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(strategy_id, epoch)),
                &mut sealed,
            )
            .map_err(|_| StrategyError::Corrupt("cannot seal a seed".into()))?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    /// Opens what [`Self::seal`] made; an error when the key, the record or the
    /// (strategy, epoch) binding is not the one it was sealed with.
    pub fn open(&self, sealed: &[u8], strategy_id: i64, epoch: i32) -> Result<Seed, StrategyError> {
        let corrupt = || {
            StrategyError::Corrupt(format!(
                "the seed of strategy {strategy_id} epoch {epoch} does not open (wrong service.seed_key?)"
            ))
        };
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(corrupt)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(associated_data(strategy_id, epoch)), &mut body)
            .map_err(|_| corrupt())?;
        Ok(Seed::from_bytes(plain.try_into().map_err(|_| corrupt())?))
    }
}

/// The active epoch of a strategy, with its secret seed (never leaves the service).
#[derive(Debug, Clone)]
pub struct ActiveEpoch {
    /// The epoch number.
    pub epoch: i32,
    /// The secret seed.
    pub seed: Seed,
    /// SHA-256 of the published sheet.
    pub sheet_sha256: String,
}

/// An epoch as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochView {
    /// The strategy.
    pub strategy_id: i64,
    /// The epoch number.
    pub epoch: i32,
    /// SHA-256(seed), hex.
    pub commitment: String,
    /// The published strategy sheet (JSON).
    pub sheet: String,
    /// Its SHA-256, hex.
    pub sheet_sha256: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` while active.
    pub retired_at: Option<i64>,
    /// The seed, hex, once retired.
    pub seed: Option<String>,
}

type EpochRow = (i32, Vec<u8>, String, String, String, i64, Option<i64>);

const EPOCH_COLUMNS: &str = "epoch, sealed_seed, commitment, sheet, sheet_sha256, \
     extract(epoch FROM created_at)::BIGINT, extract(epoch FROM retired_at)::BIGINT";

impl StrategyStore {
    /// The active epoch of a strategy, if any.
    pub async fn active_epoch(
        &self,
        vault: &SeedVault,
        strategy_id: i64,
    ) -> Result<Option<ActiveEpoch>, StrategyError> {
        let row: Option<(i32, Vec<u8>, String)> = sqlx::query_as(
            "SELECT epoch, sealed_seed, sheet_sha256 FROM strategy_seed WHERE strategy_id = $1 AND retired_at IS NULL",
        )
        .bind(strategy_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|(epoch, sealed, sheet_sha256)| {
            Ok(ActiveEpoch { epoch, seed: vault.open(&sealed, strategy_id, epoch)?, sheet_sha256 })
        })
        .transpose()
    }

    /// Retires the active epoch (when `retire`) and starts a new one with `sheet` (when
    /// `start`), in one transaction. Starting when another epoch is active (a concurrent
    /// start) keeps that one. Returns the retired epoch number.
    pub async fn rotate_epoch(
        &self,
        vault: &SeedVault,
        strategy_id: i64,
        sheet: &str,
        retire: bool,
        start: bool,
    ) -> Result<Option<i32>, StrategyError> {
        let mut tx = self.pool().begin().await?;
        // One rotation per strategy at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('strategy_seed', $1))")
            .bind(strategy_id)
            .execute(&mut *tx)
            .await?;
        let retired: Option<(i32,)> = if retire {
            sqlx::query_as(
                "UPDATE strategy_seed SET retired_at = now() WHERE strategy_id = $1 AND retired_at IS NULL RETURNING epoch",
            )
            .bind(strategy_id)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        };
        if start {
            let (next,): (i32,) =
                sqlx::query_as("SELECT COALESCE(max(epoch), 0) + 1 FROM strategy_seed WHERE strategy_id = $1")
                    .bind(strategy_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let seed = vault.new_seed()?;
            sqlx::query(
                "INSERT INTO strategy_seed (strategy_id, epoch, sealed_seed, commitment, sheet, sheet_sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (strategy_id) WHERE retired_at IS NULL DO NOTHING",
            )
            .bind(strategy_id)
            .bind(next)
            .bind(vault.seal(&seed, strategy_id, next)?)
            .bind(seed.commitment())
            .bind(sheet)
            .bind(sha256_hex(sheet.as_bytes()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(retired.map(|(epoch,)| epoch))
    }

    /// The epochs of a strategy, oldest first (only the active one with `active_only`);
    /// seeds of retired epochs opened.
    pub async fn epochs(
        &self,
        vault: &SeedVault,
        strategy_id: i64,
        active_only: bool,
    ) -> Result<Vec<EpochView>, StrategyError> {
        let rows: Vec<EpochRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EPOCH_COLUMNS} FROM strategy_seed \
             WHERE strategy_id = $1 AND (NOT $2 OR retired_at IS NULL) ORDER BY epoch"
        )))
        .bind(strategy_id)
        .bind(active_only)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(epoch, sealed, commitment, sheet, sheet_sha256, created_at, retired_at)| {
                let seed = match retired_at {
                    Some(_) => Some(vault.open(&sealed, strategy_id, epoch)?.to_hex()),
                    None => None,
                };
                Ok(EpochView { strategy_id, epoch, commitment, sheet, sheet_sha256, created_at, retired_at, seed })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_seed_opens_only_with_its_key_and_binding() {
        let vault = SeedVault::new(&[1; 32]);
        let seed = vault.new_seed().unwrap();
        let sealed = vault.seal(&seed, 100_006, 1).unwrap();
        assert!(!sealed.windows(32).any(|w| w == seed.as_bytes()), "the seed is not stored in the clear");
        assert_eq!(vault.open(&sealed, 100_006, 1).unwrap(), seed);
        assert!(vault.open(&sealed, 100_006, 2).is_err(), "bound to its epoch");
        assert!(vault.open(&sealed, 100_007, 1).is_err(), "bound to its strategy");
        assert!(SeedVault::new(&[2; 32]).open(&sealed, 100_006, 1).is_err(), "another key cannot open it");
        assert!(vault.open(&sealed[..10], 100_006, 1).is_err());
        assert_ne!(vault.new_seed().unwrap(), seed, "fresh seeds differ");
    }
}
