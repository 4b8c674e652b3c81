//! One-time codes in Redis, for password reset and e-mail verification (separate codes and
//! quotas: one never unlocks the other).
//!
//! A code is 6 digits from the OS's cryptographic generator, valid 10 minutes, stored only
//! as a salted SHA-256. Every check — from any endpoint — goes through one Lua script that
//! compares, counts a wrong guess and burns the code after the fifth, atomically.

use rand::{Rng, RngCore, TryRngCore, rngs::OsRng};
use redis::Script;
use sha2::{Digest, Sha256};

use crate::kv::Kv;

/// How long a code stays valid.
pub const CODE_TTL_SECS: u64 = 600;
/// Wrong guesses a code survives; the next wrong guess burns it.
pub const MAX_GUESSES: u32 = 5;
/// Codes issued per email address per hour.
pub const MAX_CODES_PER_HOUR: u32 = 3;

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Setting a new password without the old one.
    PasswordReset,
    /// Proving the account holder reads mail sent to the address.
    EmailVerification,
}

impl Purpose {
    /// Key segments of the code and of the issue quota.
    fn kinds(self) -> (&'static str, &'static str) {
        match self {
            Self::PasswordReset => ("code", "issued"),
            Self::EmailVerification => ("verify-code", "verify-issued"),
        }
    }
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matches (and was consumed, if asked to).
    Valid,
    /// Wrong code; the guess was counted.
    Wrong,
    /// No live code for this address (never issued, expired, used or burned).
    Missing,
}

fn email_key(kv: &Kv, kind: &str, email: &str) -> String {
    // Hash the address so that keys do not expose it.
    let digest = hex::encode(Sha256::digest(email.as_bytes()));
    kv.key(&format!("otp:{kind}:{digest}"))
}

fn hash_code(salt: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}:{code}").as_bytes()))
}

/// Counts a code request for `email`; `false` when the hourly quota is spent.
pub async fn take_issue_quota(kv: &Kv, purpose: Purpose, email: &str) -> redis::RedisResult<bool> {
    let key = email_key(kv, purpose.kinds().1, email);
    let script = Script::new(
        r"local n = redis.call('INCR', KEYS[1])
          if n == 1 then redis.call('EXPIRE', KEYS[1], 3600) end
          return n",
    );
    let count: u32 = script.key(key).invoke_async(&mut kv.conn()).await?;
    Ok(count <= MAX_CODES_PER_HOUR)
}

/// Creates a fresh code for `email` (replacing any earlier one) and returns it in clear,
/// for the email only.
pub async fn issue(kv: &Kv, purpose: Purpose, email: &str) -> redis::RedisResult<String> {
    let mut rng = OsRng.unwrap_err();
    let code = format!("{:06}", rng.random_range(0..1_000_000u32));
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let salt = hex::encode(salt);
    let key = email_key(kv, purpose.kinds().0, email);
    redis::pipe()
        .atomic()
        .del(&key)
        .hset_multiple(
            &key,
            &[("salt", salt.as_str()), ("hash", &hash_code(&salt, &code))],
        )
        .hset(&key, "wrong", 0)
        .expire(&key, CODE_TTL_SECS as i64)
        .query_async::<()>(&mut kv.conn())
        .await?;
    Ok(code)
}

/// Checks `code` for `email`. A wrong code counts one guess; the fifth wrong guess burns
/// the code. With `consume`, a valid code is deleted (it cannot be used twice).
pub async fn check(
    kv: &Kv,
    purpose: Purpose,
    email: &str,
    code: &str,
    consume: bool,
) -> redis::RedisResult<CodeCheck> {
    let key = email_key(kv, purpose.kinds().0, email);
    // The salt is needed to hash the guess; read it first, then compare-and-count in one
    // script that also verifies the salt did not change in between.
    let salt: Option<String> = redis::cmd("HGET")
        .arg(&key)
        .arg("salt")
        .query_async(&mut kv.conn())
        .await?;
    let Some(salt) = salt else {
        return Ok(CodeCheck::Missing);
    };
    let guess = hash_code(&salt, code);
    let script = Script::new(
        r"local salt = redis.call('HGET', KEYS[1], 'salt')
          if (not salt) or salt ~= ARGV[1] then return 0 end
          if redis.call('HGET', KEYS[1], 'hash') == ARGV[2] then
            if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
            return 1
          end
          local wrong = redis.call('HINCRBY', KEYS[1], 'wrong', 1)
          if wrong >= tonumber(ARGV[4]) then redis.call('DEL', KEYS[1]) end
          return 2",
    );
    let outcome: i64 = script
        .key(key)
        .arg(salt)
        .arg(guess)
        .arg(if consume { "1" } else { "0" })
        .arg(MAX_GUESSES)
        .invoke_async(&mut kv.conn())
        .await?;
    Ok(match outcome {
        1 => CodeCheck::Valid,
        2 => CodeCheck::Wrong,
        _ => CodeCheck::Missing,
    })
}
