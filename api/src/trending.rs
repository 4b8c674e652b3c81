//! The trending-topics snapshot: every api instance recomputes it in the background and
//! serves it from memory (readers never wait, and a failed refresh keeps the last one).

use std::sync::Arc;

use bson::DateTime;
use common::db::analytics::{self, TopicCount};

use crate::state::AppState;

/// Topics kept in the snapshot (the most a request may ask for).
pub const SNAPSHOT_TOPICS: usize = 50;

/// The trending-topics snapshot.
#[derive(Debug, Clone, Default)]
pub struct Trending {
    /// Top topics, most used first.
    pub topics: Vec<TopicCount>,
    /// When it was computed.
    pub refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Refreshes the snapshot every `trending_refresh` until shutdown.
pub async fn refresh(state: AppState) {
    let mut stopping = state.stopping.clone();
    let every = state.config.analytics.trending_refresh;
    loop {
        let started = std::time::Instant::now();
        match analytics::trending(
            &state.db,
            DateTime::now(),
            state.config.analytics.trending_days,
            SNAPSHOT_TOPICS,
            &state.config.analytics.read_preference,
        )
        .await
        {
            Ok(topics) => {
                state.trending.store(Arc::new(Trending {
                    topics,
                    refreshed_at: Some(chrono::Utc::now()),
                }));
                metrics::histogram!("trending_refresh_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            // The last snapshot keeps being served.
            Err(e) => tracing::warn!(error = %e, "trending topics not refreshed"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}
