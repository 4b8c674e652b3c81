//! First claims written for many deliveries at once (`Jobs::claim_first_many`): a job is
//! claimed only where its delivery's own compare-and-set would have claimed it, and the
//! record looks as that claim writes it.

use std::time::Duration;

use bson::{DateTime, oid::ObjectId};
use common::{
    db::jobs::{Claim, Created, Jobs, NewJob},
    domain::job::{JobKind, JobRecord, JobStatus, ProbePayload},
};

use crate::support::TestApp;

const LEASE: Duration = Duration::from_secs(30);

async fn queued(jobs: &Jobs, user_id: ObjectId, max_attempts: i32) -> JobRecord {
    let payload = bson::to_document(&ProbePayload {
        work_ms: 0,
        fail_attempts: 0,
        permanent: false,
    })
    .unwrap();
    let created = jobs
        .create(NewJob {
            user_id,
            kind: JobKind::Probe,
            payload,
            session_id: None,
            max_attempts,
            idempotency_key: None,
        })
        .await
        .unwrap();
    let Created::New(job) = created else {
        panic!("expected a new job");
    };
    job
}

fn delivery(job: &JobRecord) -> (String, String) {
    (job.id.clone(), job.task_id.clone())
}

#[tokio::test]
async fn a_batch_claims_only_what_each_delivery_would_claim_alone() {
    let app = TestApp::spawn().await;
    let jobs = Jobs::new(&app.db().await);
    let user = ObjectId::new();
    let worker = "generation-test-worker";

    let fresh = queued(&jobs, user, 3).await;
    let outdated = queued(&jobs, user, 3).await;
    let running = queued(&jobs, user, 3).await;
    let no_attempts = queued(&jobs, user, 0).await;
    let twin = queued(&jobs, user, 3).await;
    let Claim::Run(elsewhere) = jobs
        .claim(&running.id, &running.task_id, "other-worker/x", LEASE, None)
        .await
        .unwrap()
    else {
        panic!("the other delivery claims it");
    };

    let now = DateTime::now();
    let asked = vec![
        delivery(&fresh),
        (outdated.id.clone(), "a-task-of-an-earlier-run".to_owned()),
        delivery(&running),
        delivery(&no_attempts),
        ("01JNOSUCHJOB000000000000000".to_owned(), "t".to_owned()),
    ];
    let claimed = jobs
        .claim_first_many(worker, &asked, LEASE, now)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        vec![fresh.id.as_str()]
    );

    // The claimed record is what the delivery's own claim writes (its twin, claimed alone).
    let owner = format!("{worker}/{}", fresh.task_id);
    let Claim::Run(alone) = jobs
        .claim(
            &twin.id,
            &twin.task_id,
            &format!("{worker}/{}", twin.task_id),
            LEASE,
            None,
        )
        .await
        .unwrap()
    else {
        panic!("the twin is claimed");
    };
    let got = &claimed[0];
    assert_eq!(got.status, JobStatus::Running);
    assert_eq!((got.attempt, alone.attempt), (1, 1));
    assert_eq!(got.lease_owner.as_deref(), Some(owner.as_str()));
    assert_eq!(got.attempts.len(), alone.attempts.len());
    assert_eq!(got.attempts[0].worker, owner);
    assert_eq!(got.attempts[0].attempt, 1);
    assert_eq!(got.attempts[0].started_at, now);
    assert_eq!(got.started_at, Some(now));
    assert_eq!(
        got.lease_until
            .map(|t| t.timestamp_millis() - now.timestamp_millis()),
        Some(30_000)
    );
    assert_eq!((got.run, got.progress), (alone.run, alone.progress));

    // Nothing else was written.
    let by_id = |id: String| {
        let jobs = jobs.clone();
        async move { jobs.by_id(&id).await.unwrap().expect("the job") }
    };
    assert_eq!(by_id(outdated.id.clone()).await.status, JobStatus::Queued);
    assert_eq!(
        by_id(no_attempts.id.clone()).await.status,
        JobStatus::Queued
    );
    let still = by_id(running.id.clone()).await;
    assert_eq!(still.lease_owner, elsewhere.lease_owner);
    assert_eq!(still.attempts.len(), 1);

    // Asked again (a later batch), the job already claimed is not claimed a second time.
    let later = DateTime::from_millis(now.timestamp_millis() + 1);
    let again = jobs
        .claim_first_many(worker, &[delivery(&fresh)], LEASE, later)
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(by_id(fresh.id.clone()).await.attempts.len(), 1);

    // A batch of one is that delivery's own compare-and-set, with the same result.
    let lone = queued(&jobs, user, 3).await;
    let one = jobs
        .claim_first_many(worker, &[delivery(&lone)], LEASE, later)
        .await
        .unwrap();
    let [got] = &one[..] else {
        panic!("the lone delivery is claimed: {one:?}");
    };
    let owner = format!("{worker}/{}", lone.task_id);
    assert_eq!(
        (got.status, got.attempt, got.lease_owner.as_deref()),
        (JobStatus::Running, 1, Some(owner.as_str()))
    );
    assert_eq!(got.attempts[0].started_at, later);
    assert_eq!(got.attempts[0].worker, owner);
}
