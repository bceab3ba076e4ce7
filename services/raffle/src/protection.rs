//! Protection of the draw (spec §7.3): a degrade switch that turns draws off (`0004`,
//! UNAVAILABLE) and a per-user rate limit (`0005`, RESOURCE_EXHAUSTED), both changeable at
//! run time without a rebuild or restart: the orchestrator re-reads `service.switches_file`
//! (YAML) whenever it changes. Without a file the values come from the configuration.
//!
//! The rate limit is a token bucket per user in this process (per replica); a limit shared
//! by all replicas is issue #15.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant, SystemTime},
};

use figment::{
    Figment,
    providers::{Format, Serialized, Yaml},
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The switches an operator flips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Switches {
    /// Draws are off (`0004`).
    pub degrade: bool,
    /// Draws per second per user; 0 = no limit.
    pub rate_limit_per_second: f64,
    /// Draws a user may make in a burst.
    pub rate_limit_burst: u32,
}

impl Default for Switches {
    fn default() -> Self {
        Self { degrade: false, rate_limit_per_second: 0.0, rate_limit_burst: 1 }
    }
}

/// Why a draw is refused before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The degrade switch is on.
    Degraded,
    /// The user is over the rate limit.
    RateLimited,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The live switches and the per-user buckets.
#[derive(Debug, Clone)]
pub struct Protection {
    switches: Arc<RwLock<Switches>>,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Protection {
    /// Protection starting from `switches`.
    pub fn new(switches: Switches) -> Self {
        Self { switches: Arc::new(RwLock::new(switches)), buckets: Arc::default() }
    }

    /// The switches in force.
    pub fn switches(&self) -> Switches {
        *self.switches.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, switches: Switches) {
        let mut current = self.switches.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current != switches {
            tracing::warn!(?switches, previous = ?*current, "protection switches changed");
            *current = switches;
        }
    }

    /// Checks a draw of `user_id` at `now`; takes a token when allowed.
    pub fn admit(&self, user_id: &str, now: Instant) -> Result<(), Refusal> {
        let switches = self.switches();
        if switches.degrade {
            return Err(Refusal::Degraded);
        }
        if switches.rate_limit_per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(switches.rate_limit_burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            // Forget users whose bucket has refilled: they would start full anyway.
            let refill = Duration::from_secs_f64(burst / switches.rate_limit_per_second);
            buckets.retain(|_, bucket| now.duration_since(bucket.at) < refill);
        }
        let bucket = buckets.entry(user_id.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * switches.rate_limit_per_second;
        bucket.tokens = refilled.min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Refusal::RateLimited)
        }
    }

    /// Re-reads `file` every `interval` while it changes, until `shutdown`. A file that does
    /// not parse is logged and the switches stay as they were.
    pub async fn watch(self, file: PathBuf, defaults: Switches, interval: Duration, shutdown: CancellationToken) {
        let mut seen: Option<SystemTime> = None;
        loop {
            let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
            if modified != seen {
                seen = modified;
                match load_switches(&file, defaults) {
                    Ok(switches) => self.set(switches),
                    Err(error) => tracing::error!(file = %file.display(), %error, "switches file ignored"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The switches of `file` over `defaults`; a missing file means the defaults.
pub fn load_switches(file: &std::path::Path, defaults: Switches) -> Result<Switches, String> {
    if !file.exists() {
        return Ok(defaults);
    }
    Figment::from(Serialized::defaults(defaults)).merge(Yaml::file(file)).extract().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrade_refuses_everyone() {
        let protection = Protection::new(Switches { degrade: true, ..Switches::default() });
        assert_eq!(protection.admit("u", Instant::now()), Err(Refusal::Degraded));
    }

    #[test]
    fn token_bucket_per_user_refills_with_time() {
        let protection = Protection::new(Switches { degrade: false, rate_limit_per_second: 1.0, rate_limit_burst: 2 });
        let start = Instant::now();
        assert_eq!(protection.admit("a", start), Ok(()));
        assert_eq!(protection.admit("a", start), Ok(()));
        assert_eq!(protection.admit("a", start), Err(Refusal::RateLimited));
        assert_eq!(protection.admit("b", start), Ok(()), "buckets are per user");
        assert_eq!(protection.admit("a", start + Duration::from_millis(1100)), Ok(()), "one token a second");
        assert_eq!(protection.admit("a", start + Duration::from_millis(1200)), Err(Refusal::RateLimited));
    }

    #[test]
    fn no_limit_by_default() {
        let protection = Protection::new(Switches::default());
        for _ in 0..1000 {
            assert_eq!(protection.admit("u", Instant::now()), Ok(()));
        }
    }

    #[test]
    fn switches_file_overrides_defaults_and_bad_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("bm-switches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("switches.yaml");
        assert_eq!(load_switches(&file, Switches::default()), Ok(Switches::default()), "no file: defaults");
        std::fs::write(&file, "degrade: true\n").unwrap();
        assert!(load_switches(&file, Switches::default()).unwrap().degrade);
        std::fs::write(&file, "degrade: perhaps\n").unwrap();
        assert!(load_switches(&file, Switches::default()).is_err());
        std::fs::write(&file, "degrad: true\n").unwrap();
        assert!(load_switches(&file, Switches::default()).is_err(), "a typo is refused, not ignored");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
