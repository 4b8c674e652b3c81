//! A global rate limiter: GCRA (generic cell rate algorithm) in one Redis Lua script, so
//! every api instance shares the same counts and a check-and-count is atomic.
//!
//! A policy of `limit` requests per `window` lets a burst of `limit` through, then one
//! request every `window / limit`. The script keeps one key per limited subject: its
//! theoretical arrival time (TAT), using Redis' own clock so instances need not agree.

use std::{str::FromStr, time::Duration};

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

const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if allow_at > now then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((window - (new_tat - now)) / interval), new_tat - now, 0}
";

/// Checks and counts one request of `subject` (e.g. `ip:1.2.3.4`) under `name`'s policy.
pub async fn check(
    kv: &Kv,
    name: &str,
    subject: &str,
    policy: Policy,
) -> redis::RedisResult<Decision> {
    let window_ms = u64::try_from(policy.window.as_millis()).unwrap_or(u64::MAX);
    let interval_ms = (window_ms / u64::from(policy.limit)).max(1);
    let key = kv.key(&format!("rl:{name}:{subject}"));
    let script = Script::new(GCRA);
    let mut invocation = script.key(key);
    invocation
        .arg(interval_ms)
        .arg(interval_ms * u64::from(policy.limit));
    let mut conn = kv.conn();
    let (allowed, remaining, reset_ms, retry_ms): (i64, i64, i64, i64) =
        crate::kv::timed("rate_limit", invocation.invoke_async(&mut conn)).await?;
    let secs = |ms: i64| u64::try_from(ms).unwrap_or(0).div_ceil(1000);
    Ok(Decision {
        allowed: allowed == 1,
        remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
        reset_secs: secs(reset_ms),
        retry_after_secs: secs(retry_ms).max(u64::from(allowed != 1)),
    })
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
