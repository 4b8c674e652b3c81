//! Keeps the queues' Redis memory bounded: apalis-redis leaves every finished task's data,
//! its metadata hash and its id in the `done` (or `dead`) set behind, and the Key Value
//! instance is `noeviction`, so memory that only grows ends with every write failing.
//!
//! A pass walks the finished sets with `SSCAN` (a bounded step per call, resumed where the
//! previous pass stopped) and removes tasks finished longer than the retention ago. The job
//! record in MongoDB is the history; the queue only delivers. Several workers may vacuum at
//! once: removing a removed task does nothing.

use std::{sync::LazyLock, time::Duration};

use common::{
    jobs::{self, JobMessage, queues},
    kv::Kv,
};

/// Task ids looked at per `SSCAN` step.
const STEP: usize = 1000;
/// Most ids looked at per set and pass, so one pass stays short however much is finished.
const PASS_LIMIT: usize = 50_000;

/// Removes the given finished tasks of one set when they finished at or before the cutoff
/// (or have no metadata left).
static REMOVE_FINISHED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
-- KEYS[1]: the finished set (done or dead)   KEYS[2]: the task data hash
-- ARGV[1]: the task metadata prefix   ARGV[2]: cutoff (unix seconds)   ARGV[3..]: task ids
local removed = 0
local cutoff = tonumber(ARGV[2])
for i = 3, #ARGV do
  local id = ARGV[i]
  local meta = ARGV[1] .. ":" .. id
  local done_at = redis.call("HGET", meta, "done_at")
  if not done_at or tonumber(done_at) <= cutoff then
    redis.call("HDEL", KEYS[2], id)
    redis.call("DEL", meta)
    redis.call("SREM", KEYS[1], id)
    removed = removed + 1
  end
end
return removed
"#,
    )
});

/// Where one set's scan stands, across passes.
#[derive(Debug, Default, Clone)]
pub struct Cursors(std::collections::HashMap<String, u64>);

/// Removes, from every queue, finished tasks older than `retention`; returns how many.
pub async fn pass(kv: &Kv, retention: Duration, cursors: &mut Cursors) -> redis::RedisResult<u64> {
    pass_over(kv, &queues::ALL, retention, cursors).await
}

/// [`pass`] over the given queues.
pub async fn pass_over(
    kv: &Kv,
    queues: &[&str],
    retention: Duration,
    cursors: &mut Cursors,
) -> redis::RedisResult<u64> {
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let cutoff = now.saturating_sub(retention.as_secs());
    let mut removed = 0;
    for &queue in queues {
        let storage = jobs::storage::<JobMessage>(kv, queue);
        let config = storage.get_config();
        for set in [config.done_jobs_set(), config.dead_jobs_set()] {
            removed += sweep(
                kv,
                &set,
                &config.job_data_hash(),
                &config.job_meta_hash(),
                cutoff,
                cursors,
            )
            .await?;
        }
    }
    if removed > 0 {
        metrics::counter!("queue_tasks_vacuumed_total").increment(removed);
        tracing::debug!(removed, "finished tasks removed from the queues");
    }
    Ok(removed)
}

async fn sweep(
    kv: &Kv,
    set: &str,
    data: &str,
    meta: &str,
    cutoff: u64,
    cursors: &mut Cursors,
) -> redis::RedisResult<u64> {
    let mut conn = kv.conn();
    let mut cursor = cursors.0.get(set).copied().unwrap_or(0);
    let (mut seen, mut removed) = (0, 0);
    loop {
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(set)
            .arg(cursor)
            .arg("COUNT")
            .arg(STEP)
            .query_async(&mut conn)
            .await?;
        seen += ids.len();
        if !ids.is_empty() {
            let mut call = REMOVE_FINISHED.prepare_invoke();
            call.key(set).key(data).arg(meta).arg(cutoff);
            for id in &ids {
                call.arg(id);
            }
            removed += call.invoke_async::<u64>(&mut conn).await?;
        }
        cursor = next;
        if cursor == 0 || seen >= PASS_LIMIT {
            break;
        }
    }
    cursors.0.insert(set.to_owned(), cursor);
    Ok(removed)
}
