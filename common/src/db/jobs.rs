//! The `jobs` collection: the authoritative record of every background job, and the
//! `idempotency_keys` collection that maps a client's `Idempotency-Key` to its job.
//!
//! The queue only delivers; what a job is, how far it got and how it ended lives here. A
//! delivery must *claim* an attempt (compare-and-set on the record) before it works, and
//! holds a short lease that it renews while it runs; a delivery whose lease is gone cannot
//! finish the job. Attempts are counted here, so the configured limit is the limit however
//! often the queue delivers.

use std::time::Duration;

use bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::{Collection, Database, error::Error, options::ReturnDocument};
use sha2::{Digest, Sha256};

use super::{Timed, is_duplicate_key};
use crate::{
    domain::job::{JobKind, JobRecord, JobStatus, TokenUsage},
    pagination::{KeyCursor, KeyPage},
};

/// Collection name.
pub const COLLECTION: &str = "jobs";
/// Collection of idempotency keys (expired by a TTL index).
pub const KEYS_COLLECTION: &str = "idempotency_keys";
/// How long an `Idempotency-Key` returns the same job.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Owner.
    pub user_id: ObjectId,
    /// What it does.
    pub kind: JobKind,
    /// Kind-specific parameters.
    pub payload: Document,
    /// The session it concerns.
    pub session_id: Option<ObjectId>,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
}

/// What [`Jobs::create`] did.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new job, to be enqueued.
    New(JobRecord),
    /// The job this idempotency key already started (not enqueued again).
    Existing(JobRecord),
}

/// Why a job could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The key was used for a different request within 24 hours.
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] Error),
}

/// The outcome of trying to claim an attempt.
#[derive(Debug, Clone)]
pub enum Claim {
    /// This delivery runs attempt `record.attempt`.
    Run(Box<JobRecord>),
    /// The job has finished; nothing to do.
    Finished,
    /// Another task is responsible for the job now (this delivery is outdated).
    Stale,
    /// Another delivery holds a live lease until `until`.
    Busy {
        /// When that lease runs out unless renewed.
        until: DateTime,
    },
    /// Every attempt of the run has been used (a worker died during the last one).
    Exhausted(Box<JobRecord>),
    /// No such job (deleted with its owner or session).
    Missing,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Success, with the kind's result.
    Succeeded(Document),
    /// Failure; `dead` when the run's attempts are exhausted (listed for operators).
    Failed {
        /// Why.
        error: String,
        /// Whether the job exhausted its attempts.
        dead: bool,
    },
    /// A retryable failure: back to `queued` for the next attempt.
    Retry {
        /// Why.
        error: String,
    },
}

/// Job storage.
#[derive(Debug, Clone)]
pub struct Jobs {
    col: Collection<JobRecord>,
    keys: Collection<Document>,
}

/// Payload fields the server picks itself: an export's random key part, a practice
/// attempt's id.
const SERVER_PICKED: [&str; 2] = ["token", "attempt_id"];

/// What identifies a request for idempotency: kind, session and payload, without the
/// values the server picks itself ([`SERVER_PICKED`]).
fn fingerprint(kind: JobKind, payload: &Document, session_id: Option<ObjectId>) -> String {
    let mut request = payload.clone();
    for field in SERVER_PICKED {
        request.remove(field);
    }
    let text = format!(
        "{}|{}|{}",
        kind.as_str(),
        session_id.map(|s| s.to_hex()).unwrap_or_default(),
        Bson::Document(request).into_relaxed_extjson()
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How long after claiming a key a request has to write its job before another request
/// with the same key takes the key over (it died in between).
const KEY_WRITE_GRACE: Duration = Duration::from_secs(5);

/// Whether the idempotency key `held` was claimed more than `age` before `now` (its expiry
/// is its claim time plus [`IDEMPOTENCY_TTL`]).
fn key_older_than(held: &Document, now: DateTime, age: Duration) -> bool {
    held.get_datetime("expires_at").map_or(true, |expires| {
        let claimed = expires.timestamp_millis()
            - i64::try_from(IDEMPOTENCY_TTL.as_millis()).unwrap_or(i64::MAX);
        now.timestamp_millis() - claimed > i64::try_from(age.as_millis()).unwrap_or(i64::MAX)
    })
}

fn later(now: DateTime, by: Duration) -> DateTime {
    let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(now.timestamp_millis().saturating_add(ms))
}

impl Jobs {
    /// The repository on `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            col: db.collection(COLLECTION),
            keys: db.collection(KEYS_COLLECTION),
        }
    }

    /// Creates a `queued` job whose id (a new ULID) is also its first task id; with an
    /// idempotency key, returns the job that key already started instead.
    ///
    /// The key is claimed first (unique `_id`), the record written second: a crash in
    /// between leaves a key pointing at no job, which the next request with that key
    /// replaces.
    pub async fn create(&self, new: NewJob) -> Result<Created, CreateError> {
        let now = DateTime::now();
        let id = ulid::Ulid::generate().to_string();
        if let Some(key) = &new.idempotency_key {
            let print = fingerprint(new.kind, &new.payload, new.session_id);
            if let Some(existing) = self.claim_key(new.user_id, key, &id, &print, now).await? {
                return Ok(Created::Existing(existing));
            }
        }
        let record = JobRecord {
            id: id.clone(),
            user_id: new.user_id,
            kind: new.kind,
            status: JobStatus::Queued,
            attempt: 0,
            max_attempts: new.max_attempts,
            run: 1,
            progress: 0,
            payload: new.payload,
            result: None,
            error: None,
            attempts: Vec::new(),
            session_id: new.session_id,
            task_id: id,
            lease_owner: None,
            lease_until: None,
            idempotency_key: new.idempotency_key,
            tokens: TokenUsage::default(),
            dead_at: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            notified: false,
        };
        self.col.insert_one(&record).timed("jobs.create").await?;
        Ok(Created::New(record))
    }

    /// Claims `key` for job `id`; returns the job it already belongs to, if live.
    async fn claim_key(
        &self,
        user_id: ObjectId,
        key: &str,
        id: &str,
        print: &str,
        now: DateTime,
    ) -> Result<Option<JobRecord>, CreateError> {
        let key_id = format!("{}:{}", user_id.to_hex(), key);
        let fresh = doc! {
            "_id": &key_id, "job_id": id, "fingerprint": print,
            "expires_at": later(now, IDEMPOTENCY_TTL),
        };
        let give_up = std::time::Instant::now() + KEY_WRITE_GRACE + Duration::from_secs(1);
        while std::time::Instant::now() < give_up {
            match self
                .keys
                .insert_one(&fresh)
                .timed("jobs.claim_key.insert_one")
                .await
            {
                Ok(_) => return Ok(None),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(held) = self
                .keys
                .find_one(doc! { "_id": &key_id })
                .timed("jobs.claim_key.find_one")
                .await?
            else {
                continue; // expired and removed meanwhile: try again
            };
            let job_id = held.get_str("job_id").unwrap_or_default();
            let expired = held
                .get_datetime("expires_at")
                .map_or(true, |at| *at <= now);
            let job = if expired {
                None
            } else {
                self.col
                    .find_one(doc! { "_id": job_id })
                    .timed("jobs.claim_key.find_one")
                    .await?
            };
            match job {
                Some(_) if held.get_str("fingerprint").unwrap_or_default() != print => {
                    return Err(CreateError::KeyReused);
                }
                Some(job) => return Ok(Some(job)),
                None if !expired && !key_older_than(&held, DateTime::now(), KEY_WRITE_GRACE) => {
                    // The request that claimed the key a moment ago is still writing its
                    // job: wait for it rather than start a second one.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => {
                    // Expired (the TTL monitor is lazy) or its job never got written (its
                    // request died in between): take the key over, unless someone else
                    // just did.
                    let replaced = self
                        .keys
                        .replace_one(doc! { "_id": &key_id, "job_id": job_id }, &fresh)
                        .timed("jobs.claim_key.replace_one")
                        .await?;
                    if replaced.modified_count == 1 {
                        return Ok(None);
                    }
                }
            }
        }
        Err(Error::custom("idempotency key contention did not settle").into())
    }

    /// Forgets `key` for `user_id` (its job could not be queued; a retry may start anew).
    pub async fn release_key(&self, user_id: ObjectId, key: &str) -> Result<(), Error> {
        let key_id = format!("{}:{}", user_id.to_hex(), key);
        self.keys
            .delete_one(doc! { "_id": key_id })
            .timed("jobs.release_key")
            .await
            .map(drop)
    }

    /// The user's job with this id.
    pub async fn get(&self, user_id: ObjectId, id: &str) -> Result<Option<JobRecord>, Error> {
        self.col
            .find_one(doc! { "_id": id, "user_id": user_id })
            .timed("jobs.get")
            .await
    }

    /// Any job by id (workers, operators).
    pub async fn by_id(&self, id: &str) -> Result<Option<JobRecord>, Error> {
        self.col
            .find_one(doc! { "_id": id })
            .timed("jobs.by_id")
            .await
    }

    /// The user's jobs, newest first (ULIDs sort by creation time).
    pub async fn list(
        &self,
        user_id: ObjectId,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<KeyPage<JobRecord>, Error> {
        let mut filter = doc! { "user_id": user_id, "kind": { "$ne": JobKind::Email.as_str() } };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$lt": &after.0 });
        }
        self.page(filter, limit).await
    }

    /// Jobs that exhausted their attempts, most recent first (operators).
    pub async fn dead(
        &self,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> Result<KeyPage<JobRecord>, Error> {
        let mut filter = doc! { "dead_at": { "$exists": true } };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$lt": &after.0 });
        }
        self.page(filter, limit).await
    }

    async fn page(&self, filter: Document, limit: u32) -> Result<KeyPage<JobRecord>, Error> {
        let items: Vec<JobRecord> = self
            .col
            .find(filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit) + 1)
            .timed("jobs.page")
            .await?
            .try_collect()
            .await?;
        Ok(KeyPage::from_overfetch_keyed(items, limit, |j| {
            j.id.clone()
        }))
    }

    /// Tries to start the next attempt for delivery `owner` of task `task_id`.
    ///
    /// `seen` is the record as the caller last saw it (after a retry), or `None` for a first
    /// delivery, which presumes a job still queued at attempt 0. That state is claimed in one
    /// compare-and-set without reading the record first; only when the record is in
    /// another state is it read and looked at.
    pub async fn claim(
        &self,
        id: &str,
        task_id: &str,
        owner: &str,
        lease: Duration,
        seen: Option<&JobRecord>,
    ) -> Result<Claim, Error> {
        let presumed = seen.map_or((JobStatus::Queued, 0, None), |job| {
            (job.status, job.attempt, job.started_at)
        });
        if presumed.0 == JobStatus::Queued
            && let Some(job) = self
                .try_claim(id, task_id, owner, lease, presumed, DateTime::now())
                .await?
        {
            return Ok(Claim::Run(Box::new(job)));
        }
        self.claim_as_found(id, task_id, owner, lease).await
    }

    /// [`Self::claim`] past its first compare-and-set: reads the record and claims from the
    /// state it is in (for a delivery whose presumed claim did not take, e.g. in
    /// [`Self::claim_first_many`]).
    pub async fn claim_as_found(
        &self,
        id: &str,
        task_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, Error> {
        for _ in 0..3 {
            let Some(job) = self.by_id(id).await? else {
                return Ok(Claim::Missing);
            };
            let now = DateTime::now();
            if job.status.is_terminal() {
                return Ok(Claim::Finished);
            }
            if job.task_id != task_id {
                return Ok(Claim::Stale);
            }
            if job.status == JobStatus::Running
                && let Some(until) = job.lease_until.filter(|until| *until > now)
            {
                return Ok(Claim::Busy { until });
            }
            if job.attempt >= job.max_attempts {
                return Ok(Claim::Exhausted(Box::new(job)));
            }
            let state = (job.status, job.attempt, job.started_at);
            if let Some(job) = self
                .try_claim(id, task_id, owner, lease, state, DateTime::now())
                .await?
            {
                return Ok(Claim::Run(Box::new(job)));
            }
            // Someone changed the record between our read and our write: look again.
        }
        Ok(Claim::Busy {
            until: DateTime::now(),
        })
    }

    /// The first claim of many first deliveries in one write: each job still queued at
    /// attempt 0 for its delivery's task id gets its first attempt, owned by
    /// `"{worker}/{task_id}"`, exactly as [`Self::claim`]'s first compare-and-set would
    /// write it. `deliveries` are `(job id, task id)` pairs of distinct jobs; `now` must
    /// differ from every earlier call's for the same `worker` (it tells this call's claims
    /// from earlier ones). Returns the records claimed; a delivery whose job is not among
    /// them goes on with [`Self::claim_as_found`]. Many deliveries cost one `update_many`
    /// and one `find`; a single one its own `findAndModify`.
    ///
    /// Task ids belong to one job each, so `_id ∈ ids ∧ task_id ∈ task ids` holds exactly
    /// for the pairs asked for; the owner is built from the record's own task id, so a
    /// claim can only be attributed to the delivery of that task.
    pub async fn claim_first_many(
        &self,
        worker: &str,
        deliveries: &[(String, String)],
        lease: Duration,
        now: DateTime,
    ) -> Result<Vec<JobRecord>, Error> {
        if let [(id, task_id)] = deliveries {
            // One delivery: its own compare-and-set, one round trip.
            let owner = format!("{worker}/{task_id}");
            let presumed = (JobStatus::Queued, 0, None);
            let claimed = self
                .try_claim(id, task_id, &owner, lease, presumed, now)
                .await?;
            return Ok(claimed.into_iter().collect());
        }
        let ids: Vec<&str> = deliveries.iter().map(|(id, _)| id.as_str()).collect();
        let tasks: Vec<&str> = deliveries.iter().map(|(_, task)| task.as_str()).collect();
        let owner = doc! { "$concat": [format!("{worker}/"), "$task_id"] };
        let entry = doc! { "attempt": 1, "worker": owner.clone(), "started_at": now };
        self.col
            .update_many(
                doc! {
                    "_id": { "$in": &ids }, "task_id": { "$in": &tasks },
                    "status": JobStatus::Queued.as_str(), "attempt": 0,
                    "max_attempts": { "$gt": 0 },
                },
                vec![doc! { "$set": {
                    "status": JobStatus::Running.as_str(),
                    "lease_owner": owner,
                    "lease_until": later(now, lease),
                    "started_at": now,
                    "updated_at": now,
                    "attempt": 1,
                    "attempts": { "$concatArrays": [
                        { "$ifNull": ["$attempts", []] }, [entry],
                    ] },
                } }],
            )
            .timed("jobs.claim_first_many")
            .await?;
        let found: Vec<JobRecord> = self
            .col
            .find(doc! { "_id": { "$in": &ids } })
            .timed("jobs.claim_first_many.read")
            .await?
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .filter(|job| {
                let owner = format!("{worker}/{}", job.task_id);
                job.status == JobStatus::Running
                    && job.attempt == 1
                    && job.lease_owner.as_deref() == Some(owner.as_str())
                    && job
                        .attempts
                        .last()
                        .is_some_and(|a| a.started_at == now && a.worker == owner)
                    // Implied by the filter while task ids name one job each; kept so
                    // that a claim is never handed to a delivery that did not ask for it.
                    && deliveries
                        .iter()
                        .any(|(id, task)| *id == job.id && *task == job.task_id)
            })
            .collect())
    }

    /// Starts the next attempt if the record is still in `state` (status, attempt, start)
    /// for `task_id` with an attempt left; the claimed record, or `None` when it was not.
    async fn try_claim(
        &self,
        id: &str,
        task_id: &str,
        owner: &str,
        lease: Duration,
        (status, attempt, started_at): (JobStatus, i32, Option<DateTime>),
        now: DateTime,
    ) -> Result<Option<JobRecord>, Error> {
        let entry = doc! { "attempt": attempt + 1, "worker": owner, "started_at": now };
        self.col
            .find_one_and_update(
                doc! {
                    "_id": id, "task_id": task_id, "status": status.as_str(),
                    "attempt": attempt, "max_attempts": { "$gt": attempt },
                },
                doc! {
                    "$set": {
                        "status": JobStatus::Running.as_str(),
                        "lease_owner": owner,
                        "lease_until": later(now, lease),
                        "started_at": started_at.unwrap_or(now),
                        "updated_at": now,
                    },
                    "$inc": { "attempt": 1 },
                    "$push": { "attempts": entry },
                },
            )
            .return_document(ReturnDocument::After)
            .timed("jobs.claim")
            .await
    }

    /// Extends `owner`'s lease, recording `progress` (0–100) too when given; `false` when it
    /// no longer holds the job.
    pub async fn renew(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
        progress: Option<i32>,
    ) -> Result<bool, Error> {
        let now = DateTime::now();
        let mut set = doc! { "lease_until": later(now, lease), "updated_at": now };
        if let Some(progress) = progress {
            set.insert("progress", progress.clamp(0, 100));
        }
        let r = self
            .col
            .update_one(
                doc! { "_id": id, "lease_owner": owner, "status": JobStatus::Running.as_str() },
                doc! { "$set": set },
            )
            .timed("jobs.renew")
            .await?;
        Ok(r.matched_count == 1)
    }

    /// Adds tokens used by an attempt.
    pub async fn add_tokens(&self, id: &str, usage: TokenUsage) -> Result<(), Error> {
        self.col
            .update_one(
                doc! { "_id": id },
                doc! { "$inc": { "tokens.prompt": usage.prompt, "tokens.completion": usage.completion } },
            )
            .timed("jobs.add_tokens")
            .await
            .map(drop)
    }

    /// Ties a job to the session it created (so that deleting the session removes it).
    pub async fn set_session(&self, id: &str, session_id: ObjectId) -> Result<(), Error> {
        self.col
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "session_id": session_id } },
            )
            .timed("jobs.set_session")
            .await
            .map(drop)
    }

    /// Ends attempt `attempt` of the lease holder with `outcome`. Returns the updated
    /// record, or `None` when `owner` lost the job meanwhile (then nothing is written).
    pub async fn finish_attempt(
        &self,
        id: &str,
        owner: &str,
        attempt: i32,
        outcome: Outcome,
    ) -> Result<Option<JobRecord>, Error> {
        let now = DateTime::now();
        let slot = format!("attempts.{}", (attempt - 1).max(0));
        let mut set = doc! {
            "updated_at": now,
            format!("{slot}.finished_at"): now,
        };
        let mut unset = doc! { "lease_owner": "", "lease_until": "" };
        match &outcome {
            Outcome::Succeeded(result) => {
                set.insert("status", JobStatus::Succeeded.as_str());
                set.insert("progress", 100);
                set.insert("result", result.clone());
                set.insert("finished_at", now);
                unset.insert("error", "");
            }
            Outcome::Failed { error, dead } => {
                set.insert("status", JobStatus::Failed.as_str());
                set.insert("error", error.as_str());
                set.insert(format!("{slot}.error"), error.as_str());
                set.insert("finished_at", now);
                if *dead {
                    set.insert("dead_at", now);
                }
            }
            Outcome::Retry { error } => {
                set.insert("status", JobStatus::Queued.as_str());
                set.insert("error", error.as_str());
                set.insert(format!("{slot}.error"), error.as_str());
            }
        }
        self.col
            .find_one_and_update(
                doc! {
                    "_id": id, "lease_owner": owner,
                    "status": JobStatus::Running.as_str(), "attempt": attempt,
                },
                doc! { "$set": set, "$unset": unset },
            )
            .return_document(ReturnDocument::After)
            .timed("jobs.finish_attempt")
            .await
    }

    /// Fails a job whose attempts ran out without an ending (its worker died during the
    /// last one). `None` when it changed meanwhile.
    pub async fn fail_exhausted(&self, job: &JobRecord) -> Result<Option<JobRecord>, Error> {
        let now = DateTime::now();
        let error = "the worker stopped during the last attempt";
        self.col
            .find_one_and_update(
                doc! {
                    "_id": &job.id, "attempt": job.attempt,
                    "status": job.status.as_str(), "task_id": &job.task_id,
                },
                doc! {
                    "$set": {
                        "status": JobStatus::Failed.as_str(), "error": error,
                        "finished_at": now, "dead_at": now, "updated_at": now,
                    },
                    "$unset": { "lease_owner": "", "lease_until": "" },
                },
            )
            .return_document(ReturnDocument::After)
            .timed("jobs.fail_exhausted")
            .await
    }

    /// Marks a job that never reached the queue as failed (nothing ran), so no record is
    /// left waiting for a delivery that will not come.
    pub async fn fail_unqueued(&self, id: &str, reason: &str) -> Result<(), Error> {
        let now = DateTime::now();
        self.col
            .update_one(
                doc! { "_id": id, "status": JobStatus::Queued.as_str(), "attempt": 0 },
                // The caller was answered 503 at once: nobody is waiting for a notification.
                doc! { "$set": {
                    "status": JobStatus::Failed.as_str(), "error": reason,
                    "finished_at": now, "updated_at": now, "notified": true,
                } },
            )
            .timed("jobs.fail_unqueued")
            .await
            .map(drop)
    }

    /// Removes a record that was never queued (its start was refused by a quota).
    pub async fn discard_unqueued(&self, id: &str) -> Result<(), Error> {
        self.col
            .delete_one(doc! { "_id": id, "status": JobStatus::Queued.as_str(), "attempt": 0 })
            .timed("jobs.discard_unqueued")
            .await
            .map(drop)
    }

    /// Starts a new run of a failed job under a new task id (operators). `None` when the
    /// job does not exist or has not failed.
    pub async fn restart(&self, id: &str, task_id: &str) -> Result<Option<JobRecord>, Error> {
        let now = DateTime::now();
        self.col
            .find_one_and_update(
                doc! { "_id": id, "status": JobStatus::Failed.as_str() },
                doc! {
                    "$set": {
                        "status": JobStatus::Queued.as_str(), "attempt": 0, "progress": 0,
                        "attempts": [], "task_id": task_id, "updated_at": now,
                        "notified": false,
                    },
                    "$unset": {
                        "error": "", "result": "", "dead_at": "", "started_at": "",
                        "finished_at": "", "lease_owner": "", "lease_until": "",
                    },
                    "$inc": { "run": 1 },
                },
            )
            .return_document(ReturnDocument::After)
            .timed("jobs.restart")
            .await
    }

    /// Jobs that may have lost their delivery: queued and untouched since `before`, or
    /// running with a lease that ran out before `before`.
    pub async fn stuck(&self, before: DateTime, limit: i64) -> Result<Vec<JobRecord>, Error> {
        self.col
            .find(doc! { "$or": [
                { "status": JobStatus::Queued.as_str(), "updated_at": { "$lt": before } },
                { "status": JobStatus::Running.as_str(), "lease_until": { "$lt": before } },
            ] })
            .limit(limit)
            .timed("jobs.stuck")
            .await?
            .try_collect()
            .await
    }

    /// Ended jobs whose owner was not notified, ended before `before`.
    pub async fn unnotified(&self, before: DateTime, limit: i64) -> Result<Vec<JobRecord>, Error> {
        self.col
            .find(doc! {
                "status": { "$in": [JobStatus::Succeeded.as_str(), JobStatus::Failed.as_str()] },
                "notified": { "$ne": true },
                "finished_at": { "$lt": before },
            })
            .limit(limit)
            .timed("jobs.unnotified")
            .await?
            .try_collect()
            .await
    }

    /// Records that the owners of these jobs were notified of run `run`'s ending.
    pub async fn mark_notified(&self, ids: &[&str], run: i32) -> Result<(), Error> {
        self.col
            .update_many(
                doc! { "_id": { "$in": ids }, "run": run },
                doc! { "$set": { "notified": true } },
            )
            .timed("jobs.mark_notified")
            .await
            .map(drop)
    }

    /// Hands the job to a new task, if `old` is still responsible for it.
    pub async fn replace_task(&self, id: &str, old: &str, new: &str) -> Result<bool, Error> {
        let r = self
            .col
            .update_one(
                doc! { "_id": id, "task_id": old },
                doc! { "$set": { "task_id": new, "updated_at": DateTime::now() } },
            )
            .timed("jobs.replace_task")
            .await?;
        Ok(r.modified_count == 1)
    }

    /// Touches a queued job (the reconciler saw its task waiting), so it is not looked at
    /// again for a while.
    pub async fn touch(&self, id: &str) -> Result<(), Error> {
        self.col
            .update_one(
                doc! { "_id": id, "status": JobStatus::Queued.as_str() },
                doc! { "$set": { "updated_at": DateTime::now() } },
            )
            .timed("jobs.touch")
            .await
            .map(drop)
    }

    /// Deletes every job (and idempotency key) of the user.
    pub async fn delete_user(&self, user_id: ObjectId) -> Result<(), Error> {
        self.col
            .delete_many(doc! { "user_id": user_id })
            .timed("jobs.delete_user.delete_many")
            .await?;
        let prefix = format!("^{}:", user_id.to_hex());
        self.keys
            .delete_many(doc! { "_id": { "$regex": prefix } })
            .timed("jobs.delete_user.delete_many")
            .await
            .map(drop)
    }
}
