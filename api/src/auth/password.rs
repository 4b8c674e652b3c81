//! Password hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum), PHC strings.
//! Hashing runs on the blocking pool: it takes tens of milliseconds of CPU by design.
//!
//! Each hash holds 19 MiB while it runs, so a flood of logins or wrong passwords must not
//! run them all at once: at most [`slots`] hashes run in a process (about its core count),
//! a request waits at most [`SLOT_WAIT`] for one, and is refused (503 with `Retry-After`)
//! after that. Memory stays bounded, and nothing queues without end.

use std::{
    sync::{Arc, LazyLock, OnceLock},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use rand::{RngCore, TryRngCore, rngs::OsRng};

/// Memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

/// How long a request may wait for a hashing slot before it is refused.
pub const SLOT_WAIT: Duration = Duration::from_millis(250);

/// Hashes that may run at once in this process.
pub fn slots() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

static SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(slots())));

/// Why a password was not hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed busy for [`SLOT_WAIT`]: retry in a moment.
    #[error("every password-hashing slot is busy")]
    Busy,
    /// The hasher failed (a bug).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// A hashing slot, held until the blocking work that got it is done (also when the
/// request that asked has gone away meanwhile).
async fn slot() -> Result<OwnedSemaphorePermit, HashError> {
    match tokio::time::timeout(SLOT_WAIT, SLOTS.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            metrics::counter!("password_hash_refusals_total").increment(1);
            Err(HashError::Busy)
        }
    }
}

/// Runs `work` on the blocking pool while holding a hashing slot.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let permit = slot().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| HashError::Failed(e.into()))
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST, T_COST, P_COST, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    OsRng.unwrap_err().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

/// Hashes `password` with the current parameters.
pub async fn hash(password: String) -> Result<String, HashError> {
    Ok(bounded(move || hash_blocking(&password)).await??)
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matches.
    pub ok: bool,
    /// The stored hash uses weaker parameters or another algorithm: rehash it.
    pub needs_rehash: bool,
}

fn needs_rehash(hash: &PasswordHash<'_>) -> bool {
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => p.m_cost() < M_COST || p.t_cost() < T_COST || p.p_cost() < P_COST,
        Err(_) => true,
    }
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    // The verifier uses the parameters recorded in the hash; comparison is constant-time.
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Verified {
        ok,
        needs_rehash: ok && needs_rehash(&parsed),
    }
}

/// Checks `password` against `stored`.
pub async fn verify(password: String, stored: String) -> Result<Verified, HashError> {
    bounded(move || verify_blocking(&password, &stored)).await
}

/// Spends the same time as a real check, for logins of unknown emails (no timing oracle).
pub async fn verify_dummy(password: String) -> Result<(), HashError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    bounded(move || {
        let stored = DUMMY.get_or_init(|| {
            hash_blocking("dummy password for unknown accounts").expect("hashing a constant")
        });
        verify_blocking(&password, stored);
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_minimum_parameters() {
        let stored = hash_blocking("correct horse").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            verify_blocking("correct horse", &stored),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!verify_blocking("wrong horse", &stored).ok);
    }

    #[test]
    fn weaker_hashes_verify_and_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let stored = weak
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            verify_blocking("correct horse", &stored),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        assert_eq!(
            verify_blocking("garbage", "not a phc string"),
            Verified {
                ok: false,
                needs_rehash: false
            }
        );
    }
}
