//! Writes that many jobs make and none waits for, done in batches by one task.
//!
//! Items handed over while a batch is being written wait for the next one, so a quiet
//! worker writes each at once and a busy one shares a write (or a Redis round trip) among
//! up to `max` items. Items are written in the order they were handed over.

use std::future::Future;

use tokio::sync::mpsc;

/// Where items are handed to [`write_batches`] (cheap to clone).
#[derive(Debug)]
pub struct Batched<T> {
    tx: mpsc::UnboundedSender<T>,
}

impl<T> Clone for Batched<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T> Batched<T> {
    /// The hand-over and its receiving end.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Hands `item` over, to be written soon. Dropped only once the worker has stopped
    /// writing (it is shutting down); every user of this says what covers that case.
    pub fn send(&self, item: T) {
        let _ = self.tx.send(item);
    }
}

/// Writes the items handed over, in batches of at most `max`, until `stopped` resolves (or
/// every sender is gone), then the ones already handed over.
pub async fn write_batches<T, W, F>(
    mut rx: mpsc::UnboundedReceiver<T>,
    max: usize,
    stopped: impl Future<Output = ()>,
    mut write: W,
) where
    W: FnMut(Vec<T>) -> F,
    F: Future<Output = ()>,
{
    tokio::pin!(stopped);
    loop {
        let mut batch = Vec::with_capacity(max.min(64));
        let open = tokio::select! {
            received = rx.recv_many(&mut batch, max) => received > 0,
            () = &mut stopped => false,
        };
        if open {
            write(batch).await;
            continue;
        }
        while let Ok(item) = rx.try_recv() {
            batch.push(item);
            if batch.len() == max {
                write(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            write(batch).await;
        }
        return;
    }
}
