//! Verifiable draws (issue #16, docs/fairness.md): commit–reveal seeds, the derivation of a
//! draw's random values from them, receipts, and the check anyone can run afterwards.
//!
//! - **Commit**: each (strategy, epoch) has a secret 32-byte seed from a CSPRNG; its
//!   commitment `SHA-256(seed)` (hex) is published before any draw uses the seed, together
//!   with the SHA-256 of the published strategy sheet (odds, tiers, trees).
//! - **Derive**: the random values of the draw of an order are the big-endian 32-bit words
//!   of the stream `HMAC-SHA256(seed, message ‖ counter)` for counter = 0, 1, … (4-byte
//!   big-endian), where `message = "bigmarket-draw-v1" ‖ strategy_id (8-byte big-endian) ‖
//!   len(order_id) (4-byte big-endian) ‖ order_id ‖ len(user_id) ‖ user_id ‖ len(purpose) ‖
//!   purpose` (the user is bound too, so a receipt cannot be handed to another user). A value below
//!   `n` is taken by rejection sampling (a word `w` is used only when
//!   `w < 2^32 − (2^32 mod n)`, then `w mod n`), so there is no modulo bias.
//! - **Reveal**: when an epoch is retired (the activity ended, or an operator rotated it)
//!   its seed is published; no draw is recorded under a retired epoch.
//! - **Verify**: [`verify`] re-derives a receipt's award from the revealed seed, the sheet
//!   and the receipt's recorded inputs; it needs no database.

use std::{
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
};

use bm_kernel::{OrderId, RandomSource, UserId};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    domain::{LogicModel, Strategy},
    usecase::{AwardStock, DrawCommand, StrategyError, Take, decide},
};

/// The purpose of the random values of the rule chain's table pick.
pub const DRAW_PURPOSE: &str = "draw";
/// The domain separator at the start of every derivation message.
const DOMAIN: &[u8] = b"bigmarket-draw-v1";

/// A 32-byte secret seed. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed([u8; 32]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

impl Seed {
    /// The seed of these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = from_hex(text.trim())?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits (only ever shown once the epoch is revealed).
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// `SHA-256(seed)`, hex.
    pub fn commitment(&self) -> String {
        sha256_hex(&self.0)
    }
}

/// `SHA-256(bytes)` as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Parses hex (either case); `None` on an odd length or a non-hex digit.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// The derivation message of (strategy, order, user, purpose).
pub fn message(strategy_id: i64, order_id: &str, user_id: &str, purpose: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + 20 + order_id.len() + user_id.len() + purpose.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(&strategy_id.to_be_bytes());
    for part in [order_id.as_bytes(), user_id.as_bytes(), purpose.as_bytes()] {
        message.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        message.extend_from_slice(part);
    }
    message
}

#[derive(Debug)]
struct Stream {
    counter: u32,
    block: [u8; 32],
    used: usize,
}

/// The random source of one draw: the HMAC-SHA256 stream of (seed, strategy, order, user,
/// purpose). The same inputs give the same values, in any process, at any time.
pub struct DerivedRandom {
    mac: Hmac<Sha256>,
    message: Vec<u8>,
    stream: Mutex<Stream>,
}

impl fmt::Debug for DerivedRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DerivedRandom").field("message_len", &self.message.len()).finish_non_exhaustive()
    }
}

impl DerivedRandom {
    /// The stream of `seed` for the draw of `order_id` by `user_id` on `strategy_id`.
    pub fn new(seed: &Seed, strategy_id: i64, order_id: &str, user_id: &str, purpose: &str) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(seed.as_bytes()).unwrap_or_else(|_| {
            // HMAC takes keys of any length; this cannot happen.
            unreachable!("HMAC-SHA256 accepts a 32-byte key")
        });
        // `used` = block length: the first word computes block 0.
        let stream = Mutex::new(Stream { counter: 0, block: [0; 32], used: 32 });
        Self { mac, message: message(strategy_id, order_id, user_id, purpose), stream }
    }

    fn block(&self, counter: u32) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&self.message);
        mac.update(&counter.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The next 32-bit word of the stream.
    pub fn next_word(&self) -> u32 {
        let mut stream = self.stream.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if stream.used == stream.block.len() {
            stream.block = self.block(stream.counter);
            stream.counter = stream.counter.wrapping_add(1);
            stream.used = 0;
        }
        let at = stream.used;
        stream.used += 4;
        u32::from_be_bytes([stream.block[at], stream.block[at + 1], stream.block[at + 2], stream.block[at + 3]])
    }
}

impl RandomSource for DerivedRandom {
    fn below(&self, upper: u32) -> u32 {
        let upper = upper.max(1);
        // Accept only words below the largest multiple of `upper` that fits in 2^32.
        let limit = (1_u64 << 32) - ((1_u64 << 32) % u64::from(upper));
        loop {
            let word = u64::from(self.next_word());
            if word < limit {
                return u32::try_from(word % u64::from(upper)).unwrap_or(0);
            }
        }
    }
}

/// What the stock node of the award's rule tree did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockOutcome {
    /// The draw never reached a stock node.
    None,
    /// A unit was taken.
    Taken,
    /// No unit was left.
    Empty,
    /// The order already held a unit of this award (a concurrent attempt of it took it).
    Held,
}

impl StockOutcome {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Taken => "taken",
            Self::Empty => "empty",
            Self::Held => "held",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::None, Self::Taken, Self::Empty, Self::Held].into_iter().find(|o| o.as_str() == text)
    }
}

/// Everything needed to check one recorded draw, besides the seed and the sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The strategy.
    pub strategy_id: i64,
    /// The raffle order.
    pub order_id: String,
    /// The user.
    pub user_id: String,
    /// The seed epoch the draw used.
    pub epoch: i32,
    /// Input: lifetime partakes including this one (rule_weight).
    pub total_partake_count: i64,
    /// Input: partakes today including this one (rule_lock).
    pub day_partake_count: i64,
    /// The chain's decision: `rule_blacklist`, `rule_weight` or `rule_default`.
    pub chain_model: String,
    /// The award the chain picked.
    pub chain_award_id: i32,
    /// Input: what the stock node did.
    pub stock_outcome: StockOutcome,
    /// The award of the draw.
    pub award_id: i32,
    /// Its effective config.
    pub award_config: String,
    /// The rule that decided it.
    pub rule_model: String,
}

/// A revealed epoch as published: what a receipt is checked against.
#[derive(Debug, Clone, Copy)]
pub struct RevealedEpoch<'a> {
    /// The epoch number.
    pub epoch: i32,
    /// The revealed seed.
    pub seed: &'a Seed,
    /// The commitment published at the epoch's start (hex SHA-256 of the seed).
    pub commitment: &'a str,
    /// The published sheet (JSON).
    pub sheet: &'a str,
    /// The SHA-256 of the sheet published with the commitment (hex).
    pub sheet_sha256: &'a str,
}

/// Why a receipt does not follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejection {}

/// The sheet published with an epoch: the strategy as draws use it, blacklisted users left
/// out (membership is a recorded input; see docs/fairness.md). JSON; its SHA-256 is
/// published with the commitment.
pub fn sheet_json(strategy: &Strategy) -> String {
    serde_json::to_string(&strategy.published()).unwrap_or_default()
}

/// A stock that replays a receipt's recorded outcome and notes whether the tree asked.
#[derive(Debug)]
struct RecordedStock {
    outcome: StockOutcome,
    asked: AtomicBool,
}

impl AwardStock for RecordedStock {
    async fn take(&self, _strategy_id: i64, award_id: i32, _order_id: &str) -> Result<Take, StrategyError> {
        self.asked.store(true, Ordering::Relaxed);
        Ok(match self.outcome {
            StockOutcome::Taken => Take::Taken { left: 0 },
            StockOutcome::Held => Take::AlreadyTaken { award_id },
            StockOutcome::Empty | StockOutcome::None => Take::Empty,
        })
    }
}

/// Runs a future that never waits (the verifier's stock answers at once).
fn run_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn check<T: PartialEq + fmt::Debug + ?Sized>(what: &str, expected: &T, recorded: &T) -> Result<(), Rejection> {
    if expected == recorded {
        Ok(())
    } else {
        Err(Rejection(format!("{what}: the seed and sheet give {expected:?}, the receipt says {recorded:?}")))
    }
}

/// Checks that `receipt` follows from the revealed `seed` of `epoch`, its `commitment`, and
/// the epoch's published `sheet` (with `sheet_sha256`, the hash published with the
/// commitment). `Ok` means: the seed is the committed one, the sheet is the published one,
/// and the chain's pick, the tree's path and the award are what they must be given the
/// recorded inputs.
pub fn verify(epoch: &RevealedEpoch<'_>, receipt: &Receipt) -> Result<(), Rejection> {
    let RevealedEpoch { epoch, seed, commitment, sheet, sheet_sha256 } = *epoch;
    check("epoch", &epoch, &receipt.epoch)?;
    if !seed.commitment().eq_ignore_ascii_case(commitment.trim()) {
        return Err(Rejection("the revealed seed does not match the commitment".into()));
    }
    if !sha256_hex(sheet.as_bytes()).eq_ignore_ascii_case(sheet_sha256.trim()) {
        return Err(Rejection("the sheet is not the one published with the commitment".into()));
    }
    let strategy: Strategy =
        serde_json::from_str(sheet).map_err(|e| Rejection(format!("the sheet is not a strategy: {e}")))?;
    check("strategy", &strategy.strategy_id, &receipt.strategy_id)?;
    let user_id = UserId::parse(receipt.user_id.clone()).map_err(|e| Rejection(format!("user_id: {e}")))?;
    let order_id = OrderId::parse(receipt.order_id.clone()).map_err(|e| Rejection(format!("order_id: {e}")))?;
    let chain = if receipt.chain_model == LogicModel::Blacklist.as_str() {
        // Membership is the operator's recorded input; the award it leads to is not.
        strategy.blacklist_outcome().ok_or_else(|| Rejection("the sheet has no blacklist rule".into()))?
    } else {
        let random = DerivedRandom::new(seed, receipt.strategy_id, &receipt.order_id, &receipt.user_id, DRAW_PURPOSE);
        strategy.run_chain(user_id.as_str(), receipt.total_partake_count, &random)
    };
    check("chain rule", chain.model.as_str(), receipt.chain_model.as_str())?;
    check("chain award", &chain.award_id, &receipt.chain_award_id)?;
    let command = DrawCommand {
        user_id,
        strategy_id: receipt.strategy_id,
        order_id: Some(order_id),
        total_partake_count: receipt.total_partake_count,
        day_partake_count: receipt.day_partake_count,
        first_attempt: false,
    };
    let stock = RecordedStock { outcome: receipt.stock_outcome, asked: AtomicBool::new(false) };
    let drawn = run_ready(decide(&strategy, &command, chain, &stock))
        .ok_or_else(|| Rejection("the rule tree did not finish".into()))?
        .map_err(|e| Rejection(format!("the rule tree failed: {e}")))?;
    let asked = stock.asked.load(Ordering::Relaxed);
    check("stock node reached", &asked, &(receipt.stock_outcome != StockOutcome::None))?;
    check("award", &drawn.award_id, &receipt.award_id)?;
    check("award config", drawn.award_config.as_str(), receipt.award_config.as_str())?;
    check("rule", drawn.model.as_str(), receipt.rule_model.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{domain::strategy::tests::strategy_100006, usecase::stock::MemoryStock};

    fn seed(n: u8) -> Seed {
        Seed::from_bytes([n; 32])
    }

    #[test]
    fn hex_round_trips_and_commitment_is_sha256() {
        let seed = seed(7);
        assert_eq!(Seed::from_hex(&seed.to_hex()), Some(seed.clone()));
        assert_eq!(Seed::from_hex(&seed.to_hex().to_uppercase()), Some(seed.clone()));
        assert_eq!(Seed::from_hex("abc"), None);
        assert_eq!(Seed::from_hex(&"zz".repeat(32)), None);
        // SHA-256 of the empty string, a known vector.
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(seed.commitment(), sha256_hex(&[7; 32]));
        assert_eq!(format!("{seed:?}"), "Seed(<secret>)");
    }

    #[test]
    fn the_stream_is_hmac_sha256_of_the_message_and_counter() {
        // the_hmac_reference_vector_holds checks the HMAC itself; here the framing: the first word is
        // the first 4 bytes of HMAC(seed, message ‖ 0u32).
        let seed = seed(1);
        let random = DerivedRandom::new(&seed, 100_006, "order-1", "u1", DRAW_PURPOSE);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).unwrap();
        mac.update(&message(100_006, "order-1", "u1", DRAW_PURPOSE));
        mac.update(&0_u32.to_be_bytes());
        let block = mac.finalize().into_bytes();
        assert_eq!(random.next_word(), u32::from_be_bytes([block[0], block[1], block[2], block[3]]));
        let again = DerivedRandom::new(&seed, 100_006, "order-1", "u1", DRAW_PURPOSE);
        let other = DerivedRandom::new(&seed, 100_006, "order-2", "u1", DRAW_PURPOSE);
        let (a, b): (Vec<u32>, Vec<u32>) = (0..20).map(|_| (again.below(9703), other.below(9703))).unzip();
        assert_ne!(a, b, "another order, other values");
        assert!(a.iter().chain(&b).all(|v| *v < 9703));
    }

    #[test]
    fn message_framing_is_unambiguous() {
        assert_ne!(message(1, "ab", "c", "d"), message(1, "a", "bc", "d"));
        assert_ne!(message(1, "a", "b", "c"), message(1, "a", "bc", ""));
        assert_ne!(message(1, "a", "b", "c"), message(2, "a", "b", "c"));
    }

    #[test]
    fn the_hmac_reference_vector_holds() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Draws `n` orders through the real chain and tree against a memory stock and returns
    /// their receipts.
    fn receipts(seed: &Seed, n: usize) -> Vec<Receipt> {
        let strategy = strategy_100006();
        let stock = MemoryStock::with(100_006, &[102, 103, 104, 105, 106, 107, 108], 40);
        (0..n)
            .map(|i| {
                let user = if i % 97 == 0 { "user001".to_owned() } else { format!("u{}", i % 50) };
                let order = format!("order-{i}");
                let (total, day) = (i64::try_from(i % 80).unwrap() + 1, i64::try_from(i % 5).unwrap() + 1);
                let command = DrawCommand {
                    user_id: UserId::parse(user.clone()).unwrap(),
                    strategy_id: 100_006,
                    order_id: Some(OrderId::parse(order.clone()).unwrap()),
                    total_partake_count: total,
                    day_partake_count: day,
                    first_attempt: false,
                };
                let random = DerivedRandom::new(seed, 100_006, &order, &user, DRAW_PURPOSE);
                let chain = strategy.run_chain(&user, total, &random);
                let recording = crate::usecase::RecordingStock::new(&stock);
                let drawn = run_ready(decide(&strategy, &command, chain.clone(), &recording)).unwrap().unwrap();
                Receipt {
                    strategy_id: 100_006,
                    order_id: order,
                    user_id: user,
                    epoch: 1,
                    total_partake_count: total,
                    day_partake_count: day,
                    chain_model: chain.model.as_str().to_owned(),
                    chain_award_id: chain.award_id,
                    stock_outcome: recording.outcome(),
                    award_id: drawn.award_id,
                    award_config: drawn.award_config,
                    rule_model: drawn.model.as_str().to_owned(),
                }
            })
            .collect()
    }

    #[test]
    fn every_receipt_of_ten_thousand_draws_verifies_and_any_changed_field_is_rejected() {
        let seed = seed(42);
        let sheet = sheet_json(&strategy_100006());
        let hash = sha256_hex(sheet.as_bytes());
        let commitment = seed.commitment();
        let epoch =
            RevealedEpoch { epoch: 1, seed: &seed, commitment: &commitment, sheet: &sheet, sheet_sha256: &hash };
        let all = receipts(&seed, 10_000);
        let outcomes: HashMap<&str, usize> = all.iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(r.rule_model.as_str()).or_default() += 1;
            m
        });
        assert!(outcomes.len() >= 4, "the run covers blacklist, weight, stock and luck paths: {outcomes:?}");
        for receipt in &all {
            verify(&epoch, receipt).unwrap_or_else(|e| panic!("{receipt:?}: {e}"));
        }
        let receipt = all.iter().find(|r| r.rule_model == "rule_stock").unwrap().clone();
        let changed: Vec<(&str, Receipt)> = vec![
            ("order", Receipt { order_id: "order-x".into(), ..receipt.clone() }),
            ("user", Receipt { user_id: "someone".into(), ..receipt.clone() }),
            ("strategy", Receipt { strategy_id: 1, ..receipt.clone() }),
            ("epoch", Receipt { epoch: 2, ..receipt.clone() }),
            ("total", Receipt { total_partake_count: 10, ..receipt.clone() }),
            ("day", Receipt { day_partake_count: 0, ..receipt.clone() }),
            ("chain model", Receipt { chain_model: "rule_weight".into(), ..receipt.clone() }),
            ("chain award", Receipt { chain_award_id: 101, ..receipt.clone() }),
            ("stock", Receipt { stock_outcome: StockOutcome::Empty, ..receipt.clone() }),
            ("award", Receipt { award_id: 108, ..receipt.clone() }),
            ("config", Receipt { award_config: "1,1000".into(), ..receipt.clone() }),
            ("rule", Receipt { rule_model: "rule_luck_award".into(), ..receipt.clone() }),
        ];
        for (what, bad) in changed {
            assert!(verify(&epoch, &bad).is_err(), "{what} changed but accepted");
        }
        let wrong_seed = Seed::from_bytes([43; 32]);
        let err = verify(&RevealedEpoch { seed: &wrong_seed, ..epoch }, &receipt).unwrap_err();
        assert!(err.0.contains("commitment"), "{err}");
        let other_sheet = sheet.replace("7900", "7901");
        assert_ne!(other_sheet, sheet);
        let err = verify(&RevealedEpoch { sheet: &other_sheet, ..epoch }, &receipt).unwrap_err();
        assert!(err.0.contains("sheet"), "{err}");
    }

    #[test]
    fn the_derived_stream_keeps_the_demo_odds() {
        // Chi-square over 10^6 derived values of the demo default table (8 awards, 7
        // degrees of freedom): p > 0.001 ⇔ χ² < 24.322.
        let strategy = strategy_100006();
        let table = &strategy.default_table;
        let seed = seed(9);
        let mut counts: HashMap<i32, u64> = HashMap::new();
        let draws = 1_000_000_u32;
        for i in 0..draws {
            let random = DerivedRandom::new(&seed, 100_006, &format!("o{i}"), "u", DRAW_PURPOSE);
            *counts.entry(table.pick(&random)).or_default() += 1;
        }
        let chi_square: f64 = table
            .award_ids
            .iter()
            .zip(&table.weights)
            .map(|(id, weight)| {
                let expected = f64::from(draws) * f64::from(u32::try_from(*weight).unwrap())
                    / f64::from(u32::try_from(table.total).unwrap());
                let observed = f64::from(u32::try_from(counts.get(id).copied().unwrap_or(0)).unwrap());
                (observed - expected).powi(2) / expected
            })
            .sum();
        assert!(chi_square < 24.322, "χ² = {chi_square:.2} over {counts:?}");
    }
}
