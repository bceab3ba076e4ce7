//! Run-time switches shared by every orchestrator replica (spec §7.3; docs/operations.md).
//!
//! A change is one JSON message on `<subject_prefix>.control.switch.<name>` in the
//! JetStream stream `<stream_prefix>_CONTROL`, which keeps the last 100 changes of each
//! switch for ever (the audit trail). Every replica reads the last change of each switch
//! before it serves, then follows new ones as they come (an ordered consumer: within
//! milliseconds while NATS is up; while it is down a replica keeps its last values and
//! catches up when it is back). The configured values are the defaults of switches
//! nobody has set yet.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use async_nats::jetstream::{self, consumer::DeliverPolicy};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Changes kept per switch.
const HISTORY_PER_SWITCH: i64 = 100;
/// How long a publish or a read of the stream may take.
const NATS_TIMEOUT: Duration = Duration::from_secs(3);

/// The switches' values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Switches {
    /// Draws are off (`0004`).
    pub degrade: bool,
    /// Draws per second per user, shared by all replicas; 0 = no limit.
    pub rate_limit_per_second: f64,
    /// Draws a user may make in a burst.
    pub rate_limit_burst: u32,
    /// Refusals within `rate_limit_block_seconds` after which the user is blocked for
    /// `rate_limit_block_seconds` (the original's 24 h block); 0 = never block.
    pub rate_limit_block_after: u32,
    /// How long a block lasts (and the window in which refusals count), in seconds.
    pub rate_limit_block_seconds: u32,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            degrade: false,
            rate_limit_per_second: 0.0,
            rate_limit_burst: 1,
            rate_limit_block_after: 0,
            rate_limit_block_seconds: 86_400,
        }
    }
}

/// One switch: its name and what it does.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// The name (also the last subject token).
    pub name: &'static str,
    /// What it does and which values it takes.
    pub description: &'static str,
}

/// Every switch, in name order.
pub const DEFINITIONS: [Definition; 5] = [
    Definition { name: "degrade", description: "true = every Draw is refused with 0004 / UNAVAILABLE; false = normal" },
    Definition {
        name: "rate_limit_block_after",
        description: "whole number >= 0: refusals (within rate_limit_block_seconds) after which a user is blocked for rate_limit_block_seconds; 0 = never block",
    },
    Definition {
        name: "rate_limit_block_seconds",
        description: "whole number 1-604800: how long a block lasts, and the window in which refusals are counted",
    },
    Definition {
        name: "rate_limit_burst",
        description: "whole number 1-10000: draws a user may make at once before the per-second rate applies",
    },
    Definition {
        name: "rate_limit_per_second",
        description: "number 0-10000: draws per second per user across all replicas (0.01 = one per 100 s); 0 = no limit",
    },
];

impl Switches {
    /// Sets `name` from its text `value`; an unknown name or a bad value changes nothing.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let value = value.trim();
        let whole = |min: u32, max: u32| {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("{name} takes a whole number from {min} to {max}, not {value:?}"))
        };
        match name {
            "degrade" => {
                self.degrade = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("degrade takes true or false, not {value:?}")),
                };
            }
            "rate_limit_per_second" => {
                self.rate_limit_per_second =
                    value.parse::<f64>().ok().filter(|n| n.is_finite() && (0.0..=10_000.0).contains(n)).ok_or_else(
                        || format!("rate_limit_per_second takes a number from 0 to 10000, not {value:?}"),
                    )?;
            }
            "rate_limit_burst" => self.rate_limit_burst = whole(1, 10_000)?,
            "rate_limit_block_after" => self.rate_limit_block_after = whole(0, 1_000_000)?,
            "rate_limit_block_seconds" => self.rate_limit_block_seconds = whole(1, 604_800)?,
            _ => {
                let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
                return Err(format!("unknown switch {name:?}; the switches are {}", names.join(", ")));
            }
        }
        Ok(())
    }

    /// The text value of `name` (a known name).
    pub fn get(&self, name: &str) -> String {
        match name {
            "degrade" => self.degrade.to_string(),
            "rate_limit_per_second" => self.rate_limit_per_second.to_string(),
            "rate_limit_burst" => self.rate_limit_burst.to_string(),
            "rate_limit_block_after" => self.rate_limit_block_after.to_string(),
            "rate_limit_block_seconds" => self.rate_limit_block_seconds.to_string(),
            _ => String::new(),
        }
    }
}

/// A recorded change (the message body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The switch.
    pub name: String,
    /// Its new value, as text (validated before it was published).
    pub value: String,
    /// Who made the change (the authenticated caller, or `anonymous`).
    pub by: String,
    /// When, in epoch milliseconds.
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Default)]
struct State {
    switches: Switches,
    /// The last change applied per switch, with its stream sequence.
    changes: BTreeMap<String, (u64, Change)>,
}

/// The switches this replica obeys.
#[derive(Debug, Clone)]
pub struct Board {
    state: Arc<RwLock<State>>,
    /// The highest stream sequence applied (SetSwitch waits for its own).
    applied: watch::Sender<u64>,
}

impl Board {
    /// A board starting from the configured `defaults`.
    pub fn new(defaults: Switches) -> Self {
        let state = State { switches: defaults, changes: BTreeMap::new() };
        Self { state: Arc::new(RwLock::new(state)), applied: watch::Sender::new(0) }
    }

    /// The values in force.
    pub fn switches(&self) -> Switches {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).switches
    }

    /// Every switch with its last change, in name order.
    pub fn list(&self) -> Vec<(Definition, String, Option<Change>)> {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        DEFINITIONS
            .iter()
            .map(|d| (*d, state.switches.get(d.name), state.changes.get(d.name).map(|(_, c)| c.clone())))
            .collect()
    }

    /// Applies `change` (stream sequence `sequence`) unless a newer change of the same
    /// switch is already in force. A change that does not parse is logged and skipped.
    pub fn apply(&self, sequence: u64, change: Change) {
        {
            let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.changes.get(&change.name).is_some_and(|(seen, _)| *seen >= sequence) {
                return;
            }
            let mut switches = state.switches;
            if let Err(error) = switches.set(&change.name, &change.value) {
                tracing::error!(sequence, %error, "switch change skipped: it does not parse");
                return;
            }
            if switches != state.switches {
                tracing::warn!(
                    switch = %change.name, value = %change.value, by = %change.by, reason = %change.reason,
                    "switch changed"
                );
            }
            state.switches = switches;
            state.changes.insert(change.name.clone(), (sequence, change));
        }
        self.applied.send_if_modified(|applied| {
            let newer = sequence > *applied;
            if newer {
                *applied = sequence;
            }
            newer
        });
    }

    /// Waits (up to `limit`) until the change with stream sequence `sequence` is applied.
    pub async fn wait_applied(&self, sequence: u64, limit: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(limit, applied.wait_for(|seen| *seen >= sequence)).await.is_ok_and(|r| r.is_ok())
    }
}

/// Why the switch store failed.
#[derive(Debug, thiserror::Error)]
#[error("switch store (NATS): {0}")]
pub struct StoreError(String);

fn store_error(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

/// The switches' stream.
#[derive(Debug, Clone)]
pub struct SwitchStore {
    jetstream: jetstream::Context,
    stream: String,
    subject_prefix: String,
}

impl SwitchStore {
    /// Creates (or finds) the control stream: `<stream_prefix>_CONTROL` on
    /// `<subject_prefix>.control.>`, the last [`HISTORY_PER_SWITCH`] changes of each switch,
    /// no age limit.
    pub async fn open(client: &async_nats::Client, nats: &bm_server::NatsSettings) -> Result<Self, StoreError> {
        let jetstream = jetstream::new(client.clone());
        let stream = nats.stream("control");
        let config = jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{}.control.>", nats.subject_prefix)],
            storage: jetstream::stream::StorageType::File,
            max_messages_per_subject: HISTORY_PER_SWITCH,
            duplicate_window: Duration::from_mins(2),
            ..Default::default()
        };
        jetstream.get_or_create_stream(config).await.map_err(store_error)?;
        Ok(Self { jetstream, stream, subject_prefix: format!("{}.control.switch", nats.subject_prefix) })
    }

    fn subject(&self, name: &str) -> String {
        format!("{}.{name}", self.subject_prefix)
    }

    /// Records `change`; returns its stream sequence.
    pub async fn publish(&self, change: &Change) -> Result<u64, StoreError> {
        let payload = serde_json::to_vec(change).map_err(store_error)?;
        let published = async {
            self.jetstream
                .publish(self.subject(&change.name), payload.into())
                .await
                .map_err(store_error)?
                .await
                .map_err(store_error)
        };
        let ack = tokio::time::timeout(NATS_TIMEOUT, published)
            .await
            .map_err(|_| StoreError(format!("no ack from JetStream within {NATS_TIMEOUT:?}")))??;
        Ok(ack.sequence)
    }

    /// The recorded changes matching `filter` from `policy`, oldest first, with their
    /// stream sequences.
    async fn read(&self, policy: DeliverPolicy, filter: String) -> Result<Vec<(u64, Change)>, StoreError> {
        let read = async {
            let stream = self.jetstream.get_stream(&self.stream).await.map_err(store_error)?;
            let mut consumer = stream
                .create_consumer(jetstream::consumer::pull::Config {
                    deliver_policy: policy,
                    filter_subject: filter,
                    ack_policy: jetstream::consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .map_err(store_error)?;
            let pending =
                usize::try_from(consumer.info().await.map_err(store_error)?.num_pending).unwrap_or(usize::MAX);
            let mut changes = Vec::with_capacity(pending);
            if pending > 0 {
                let mut batch = consumer
                    .fetch()
                    .max_messages(pending)
                    .expires(Duration::from_secs(2))
                    .messages()
                    .await
                    .map_err(store_error)?;
                while let Some(message) = batch.next().await {
                    let message = message.map_err(store_error)?;
                    let sequence = message.info().map_err(store_error)?.stream_sequence;
                    match serde_json::from_slice::<Change>(&message.payload) {
                        Ok(change) => changes.push((sequence, change)),
                        Err(error) => tracing::error!(sequence, %error, "unreadable switch change skipped"),
                    }
                }
            }
            Ok(changes)
        };
        tokio::time::timeout(NATS_TIMEOUT, read)
            .await
            .map_err(|_| StoreError(format!("reading the switches took longer than {NATS_TIMEOUT:?}")))?
    }

    /// The changes of `name` (all switches when `None`), newest first, at most `limit`.
    pub async fn history(&self, name: Option<&str>, limit: usize) -> Result<Vec<Change>, StoreError> {
        let filter = self.subject(name.unwrap_or("*"));
        let mut changes = self.read(DeliverPolicy::All, filter).await?;
        changes.reverse();
        changes.truncate(limit);
        Ok(changes.into_iter().map(|(_, change)| change).collect())
    }

    /// Applies the last change of every switch to `board` (before serving).
    pub async fn load(&self, board: &Board) -> Result<(), StoreError> {
        for (sequence, change) in self.read(DeliverPolicy::LastPerSubject, self.subject("*")).await? {
            board.apply(sequence, change);
        }
        Ok(())
    }

    /// Follows the changes into `board` until `shutdown`, reconnecting after errors.
    pub async fn follow(self, board: Board, shutdown: CancellationToken) {
        loop {
            let run = async {
                let stream = self.jetstream.get_stream(&self.stream).await.map_err(store_error)?;
                let consumer = stream
                    .create_consumer(jetstream::consumer::pull::OrderedConfig {
                        filter_subject: self.subject("*"),
                        deliver_policy: DeliverPolicy::LastPerSubject,
                        ..Default::default()
                    })
                    .await
                    .map_err(store_error)?;
                let mut messages = consumer.messages().await.map_err(store_error)?;
                metrics::gauge!("bm_switches_following").set(1.0);
                while let Some(message) = messages.next().await {
                    let message = message.map_err(store_error)?;
                    let sequence = message.info().map_err(store_error)?.stream_sequence;
                    match serde_json::from_slice::<Change>(&message.payload) {
                        Ok(change) => board.apply(sequence, change),
                        Err(error) => tracing::error!(sequence, %error, "unreadable switch change skipped"),
                    }
                }
                Err::<(), _>(StoreError("the switch consumer ended".into()))
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = run => {
                    metrics::gauge!("bm_switches_following").set(0.0);
                    if let Err(error) = result {
                        tracing::warn!(%error, "following the switches stopped; retrying (the last values stay in force)");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_and_nothing_is_half_set() {
        let mut switches = Switches::default();
        switches.set("degrade", "true").unwrap();
        switches.set("rate_limit_per_second", "0.5").unwrap();
        switches.set("rate_limit_burst", "3").unwrap();
        assert!(switches.degrade);
        assert_eq!(switches.get("rate_limit_per_second"), "0.5");
        let before = switches;
        for (name, value, expected) in [
            ("degrade", "yes", "true or false"),
            ("rate_limit_per_second", "-1", "0 to 10000"),
            ("rate_limit_per_second", "NaN", "0 to 10000"),
            ("rate_limit_burst", "0", "1 to 10000"),
            ("rate_limit_burst", "2.5", "whole number"),
            ("rate_limit_block_seconds", "0", "1 to 604800"),
            ("degrad", "true", "unknown switch"),
        ] {
            let error = switches.set(name, value).unwrap_err();
            assert!(error.contains(expected), "{name}={value}: {error}");
        }
        assert_eq!(switches, before);
    }

    #[test]
    fn definitions_are_in_name_order_and_each_one_is_settable() {
        let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in names {
            let mut switches = Switches::default();
            let value = switches.get(name);
            assert!(!value.is_empty(), "{name}");
            switches.set(name, &value).unwrap();
        }
    }

    #[test]
    fn the_board_applies_changes_in_sequence_order_only() {
        let board = Board::new(Switches::default());
        let change = |value: &str| Change {
            name: "degrade".into(),
            value: value.into(),
            by: "ops".into(),
            at_ms: 1,
            reason: "test".into(),
        };
        board.apply(5, change("true"));
        assert!(board.switches().degrade);
        board.apply(3, change("false"));
        assert!(board.switches().degrade, "an older change does not win");
        board.apply(6, change("maybe"));
        assert!(board.switches().degrade, "a change that does not parse is skipped");
        board.apply(7, change("false"));
        assert!(!board.switches().degrade);
        let listed = board.list();
        let degrade = listed.iter().find(|(d, _, _)| d.name == "degrade").unwrap();
        assert_eq!((degrade.1.as_str(), degrade.2.as_ref().unwrap().by.as_str()), ("false", "ops"));
    }
}
