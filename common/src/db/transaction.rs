//! Transactions with a bounded retry budget.
//!
//! The driver's convenient API (`and_run`) retries transient errors for up to 120 seconds,
//! so while MongoDB is unreachable a request would hang for two minutes and connections
//! would pile up. Here a transaction is retried (transient errors, unknown commit results)
//! only while the budget lasts; after that the error goes to the caller, which answers 503.

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use mongodb::{
    Client, ClientSession,
    error::{Result, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT},
};

use super::Timed;

/// How long one logical write may keep retrying: long enough to ride out a primary
/// election or a dropped connection, short enough to fail fast in an outage.
pub const RETRY_BUDGET: Duration = Duration::from_secs(5);

/// Runs `callback` in a transaction and commits it, retrying transient failures while
/// [`RETRY_BUDGET`] lasts. `callback` must return every error it meets (the driver's rule).
pub async fn run<R, C, F>(client: &Client, mut context: C, mut callback: F) -> Result<R>
where
    F: for<'b> FnMut(&'b mut ClientSession, &'b mut C) -> BoxFuture<'b, Result<R>>,
{
    let started = Instant::now();
    let within_budget = || started.elapsed() < RETRY_BUDGET;
    let mut session = client.start_session().await?;
    let mut backoff = Duration::from_millis(20);
    'transaction: loop {
        session
            .start_transaction()
            .timed("transaction.start")
            .await?;
        let value = match callback(&mut session, &mut context).await {
            Ok(value) => value,
            Err(e) => {
                // Fails harmlessly when the server already aborted it.
                let _ = session.abort_transaction().timed("transaction.abort").await;
                if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && within_budget() {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                    continue 'transaction;
                }
                return Err(e);
            }
        };
        loop {
            match session
                .commit_transaction()
                .timed("transaction.commit")
                .await
            {
                Ok(()) => return Ok(value),
                Err(e)
                    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && within_budget() =>
                {
                    continue;
                }
                Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && within_budget() => {
                    continue 'transaction;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
