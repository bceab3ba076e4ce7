//! Protection of the draw (spec §7.3): the degrade switch turns draws off (`0004`,
//! UNAVAILABLE) and a per-user rate limit refuses a user who draws too fast (`0005`,
//! RESOURCE_EXHAUSTED). Both follow the run-time switches ([`crate::switches`]).
//!
//! The rate limit is one token bucket per user in Redis, shared by every replica: a Lua
//! script refills and takes atomically, on Redis's own clock (replicas' clocks never
//! matter). With `rate_limit_block_after` > 0, a user refused that many times within
//! `rate_limit_block_seconds` is blocked for `rate_limit_block_seconds` (the original's 24 h
//! blacklist). If Redis cannot be reached the limit fails open (the draw goes on, the
//! failure is logged and counted): availability of draws over strictness of the limit.

use deadpool_redis::{Pool, redis};

use crate::switches::{Board, Switches};

/// Why a draw is refused before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The degrade switch is on.
    Degraded,
    /// The user is over the rate limit.
    RateLimited,
    /// The user was refused too often and is blocked for a while.
    Blocked,
}

/// KEYS: bucket, strikes, block. ARGV: rate per second, burst, block after, block ms.
/// Returns 1 = admitted, 0 = refused, -1 = blocked.
const ADMIT: &str = r"
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
local admitted = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if admitted == 0 and tonumber(ARGV[3]) > 0 then
  local strikes = redis.call('INCR', KEYS[2])
  if strikes == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
  if strikes >= tonumber(ARGV[3]) then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
    redis.call('DEL', KEYS[2])
    return -1
  end
end
return admitted
";

/// The switches in force and the shared per-user buckets.
#[derive(Clone)]
pub struct Protection {
    board: Board,
    redis: Pool,
    prefix: String,
    admit: redis::Script,
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection").field("switches", &self.board.switches()).finish_non_exhaustive()
    }
}

impl Protection {
    /// Protection following `board`, with buckets in `redis` under `key_prefix`.
    pub fn new(board: Board, redis: Pool, key_prefix: &str) -> Self {
        Self { board, redis, prefix: format!("{key_prefix}ratelimit:"), admit: redis::Script::new(ADMIT) }
    }

    /// Checks a draw of `user_id`; takes a token when allowed.
    pub async fn admit(&self, user_id: &str) -> Result<(), Refusal> {
        let switches = self.board.switches();
        if switches.degrade {
            return Err(Refusal::Degraded);
        }
        if switches.rate_limit_per_second <= 0.0 {
            return Ok(());
        }
        match self.take(user_id, &switches).await {
            Ok(1) => Ok(()),
            Ok(0) => Err(Refusal::RateLimited),
            Ok(_) => Err(Refusal::Blocked),
            Err(error) => {
                tracing::warn!(%error, "rate limit unavailable (Redis); the draw goes on");
                metrics::counter!("bm_rate_limit_errors_total").increment(1);
                Ok(())
            }
        }
    }

    async fn take(&self, user_id: &str, switches: &Switches) -> Result<i64, String> {
        // One hash tag per user: the three keys live in one Redis Cluster slot.
        let key = |kind: &str| format!("{}{{{user_id}}}:{kind}", self.prefix);
        let mut connection = self.redis.get().await.map_err(|e| e.to_string())?;
        self.admit
            .key(key("bucket"))
            .key(key("strikes"))
            .key(key("block"))
            .arg(switches.rate_limit_per_second)
            .arg(switches.rate_limit_burst.max(1))
            .arg(switches.rate_limit_block_after)
            .arg(u64::from(switches.rate_limit_block_seconds) * 1000)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| e.to_string())
    }
}
