//! A global rate limiter: GCRA (generic cell rate algorithm) in one Redis Lua script, so
//! every api instance shares the same counts and a check-and-count is atomic.
//!
//! A policy of `limit` requests per `window` lets a burst of `limit` through, then one
//! request every `window / limit`. The script keeps one key per limited subject: its
//! theoretical arrival time (TAT), using Redis' own clock so instances need not agree.

use std::{str::FromStr, sync::PoisonError, time::Duration};

use redis::Script;

use crate::kv::Kv;

/// `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Requests allowed in a full window (also the burst size).
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl FromStr for Policy {
    type Err = String;
    /// Parses `LIMIT/SECONDS`, e.g. `10/900`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (limit, seconds) = s
            .split_once('/')
            .ok_or_else(|| format!("expected LIMIT/SECONDS, got {s:?}"))?;
        let limit: u32 = limit.trim().parse().map_err(|e| format!("limit: {e}"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .map_err(|e| format!("seconds: {e}"))?;
        if limit == 0 || seconds == 0 {
            return Err("limit and seconds must be positive".to_owned());
        }
        Ok(Self {
            limit,
            window: Duration::from_secs(seconds),
        })
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset_secs: u64,
    /// Seconds to wait before a retry can succeed (0 when allowed).
    pub retry_after_secs: u64,
}

// ARGV: interval and window (ms), the most cells to take at once, cells to give back first
// (an unused lease). Returns allowed, then remaining and reset (ms) as if one cell had been
// taken, retry (ms), and the cells taken.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) - refund * interval
if tat < now then tat = now end
local available = math.floor((now + window - tat) / interval)
if available < 1 then
  if refund > 0 then redis.call('SET', KEYS[1], tat, 'PX', tat - now) end
  return {0, 0, tat - now, tat + interval - window - now, 0}
end
local take = math.max(1, math.min(most, math.floor(available / 32)))
local new_tat = tat + take * interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, available - 1, tat + interval - now, 0, take}
";

static SCRIPT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(GCRA));

/// Checks and counts one request of `subject` (e.g. `ip:1.2.3.4`) under `name`'s policy,
/// exactly: one script call per request.
pub async fn check(
    kv: &Kv,
    name: &str,
    subject: &str,
    policy: Policy,
) -> redis::RedisResult<Decision> {
    Ok(call(kv, name, subject, policy, 1, 0).await?.decision(0))
}

/// What one script call answered.
#[derive(Debug, Clone, Copy)]
struct Answer {
    allowed: bool,
    /// Cells left after the first one taken.
    remaining: u32,
    /// Until the quota is whole, had only the first cell been taken.
    reset_ms: u64,
    retry_ms: u64,
    /// Cells taken (0 when refused).
    taken: u32,
    interval_ms: u64,
}

impl Answer {
    /// The decision on the request served by the `spent`-th cell after the first.
    fn decision(&self, spent: u32) -> Decision {
        Decision {
            allowed: self.allowed,
            remaining: self.remaining.saturating_sub(spent),
            reset_secs: (self.reset_ms + u64::from(spent) * self.interval_ms).div_ceil(1000),
            retry_after_secs: self.retry_ms.div_ceil(1000).max(u64::from(!self.allowed)),
        }
    }
}

/// One script call taking up to `most` cells after giving `refund` back.
async fn call(
    kv: &Kv,
    name: &str,
    subject: &str,
    policy: Policy,
    most: u32,
    refund: u32,
) -> redis::RedisResult<Answer> {
    let window_ms = u64::try_from(policy.window.as_millis()).unwrap_or(u64::MAX);
    let interval_ms = (window_ms / u64::from(policy.limit)).max(1);
    let key = kv.key(&format!("rl:{name}:{subject}"));
    let mut invocation = SCRIPT.key(key);
    invocation
        .arg(interval_ms)
        .arg(interval_ms * u64::from(policy.limit))
        .arg(most)
        .arg(refund);
    // Counting a cell twice when a reply was lost is harmless here, so a call that finds
    // the connection dropped is made once more (see `kv::timed_retrying`).
    let (allowed, remaining, reset_ms, retry_ms, taken): (i64, i64, i64, i64, i64) =
        crate::kv::timed_retrying("rate_limit", || {
            let mut conn = kv.conn();
            let invocation = &invocation;
            async move { invocation.invoke_async(&mut conn).await }
        })
        .await?;
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let ms = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Answer {
        allowed: allowed == 1,
        remaining: count(remaining),
        reset_ms: ms(reset_ms),
        retry_ms: ms(retry_ms),
        taken: count(taken),
        interval_ms,
    })
}

/// Cells taken from the shared limiter ahead of time, spent by this process without a
/// Redis call: the small local bucket in front of the shared one.
///
/// A caller far from its limit (at least 64 cells available) gets up to `most` cells per
/// script call — a thirty-second of what it has available, so the closer it comes to the
/// limit the smaller the lease, and the last 63 cells are always counted one by one. The
/// cells are counted in Redis when taken, so no number of instances lets a caller past its
/// limit, and every answer's `RateLimit` header reads as if each request had been counted
/// alone. A lease is spent within [`LEASE_TTL`]; what is left then is given back in the
/// caller's next script call from this instance (lost, at most `most` cells, if it does
/// not come back; GCRA returns those as time passes). `most` = 1 turns leases off.
#[derive(Debug)]
pub struct Leases {
    most: u32,
    held: std::sync::Mutex<std::collections::HashMap<String, Lease>>,
}

/// How long a lease may be spent.
pub const LEASE_TTL: Duration = Duration::from_secs(2);

/// Entries kept before expired ones are dropped.
const LEASES_KEPT: usize = 4096;

#[derive(Debug)]
struct Lease {
    answer: Answer,
    /// Cells spent after the first.
    spent: u32,
    left: u32,
    until: std::time::Instant,
}

impl Leases {
    /// Leases of at most `most` cells (1 = none).
    pub fn new(most: u32) -> Self {
        Self {
            most: most.max(1),
            held: std::sync::Mutex::default(),
        }
    }

    /// Checks and counts one request, from this process' lease when it holds one.
    pub async fn check(
        &self,
        kv: &Kv,
        name: &str,
        subject: &str,
        policy: Policy,
    ) -> redis::RedisResult<Decision> {
        let key = format!("{name}:{subject}");
        let now = std::time::Instant::now();
        let refund = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match held.get_mut(&key) {
                Some(lease) if lease.left > 0 && lease.until > now => {
                    lease.left -= 1;
                    lease.spent += 1;
                    return Ok(lease.answer.decision(lease.spent));
                }
                Some(_) => held.remove(&key).map_or(0, |lease| lease.left),
                None => 0,
            }
        };
        let answer = call(kv, name, subject, policy, self.most, refund).await?;
        if answer.taken > 1 {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            if held.len() >= LEASES_KEPT {
                held.retain(|_, lease| lease.until > now);
            }
            // A concurrent request of the same caller may have taken a lease meanwhile:
            // the two add up.
            let lease = held.entry(key).or_insert(Lease {
                answer,
                spent: 0,
                left: 0,
                until: now,
            });
            lease.left += answer.taken - 1;
            lease.until = now + LEASE_TTL;
        }
        Ok(answer.decision(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies() {
        assert_eq!(
            "10/900".parse::<Policy>().unwrap(),
            Policy {
                limit: 10,
                window: Duration::from_secs(900)
            }
        );
        assert!("10".parse::<Policy>().is_err());
        assert!("0/60".parse::<Policy>().is_err());
        assert!("x/60".parse::<Policy>().is_err());
    }
}
