use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{notifications_for, ops_env, probe, probe_body, probe_marks, register_operator};
use crate::support::{TestApp, process::Proc};

/// A worker process killed with SIGKILL in the middle of a job: another worker process
/// completes the job within 60 s, and its side effect happens once.
#[tokio::test]
async fn a_job_survives_its_worker_being_killed() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let first = Proc::start("worker", vars.clone()).await;

    let accepted = probe(&app, &ops.access, probe_body(6_000, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    super::wait_job(&app, &ops.access, &id, Duration::from_secs(20), |j| {
        j["status"] == "running" && j["progress"].as_i64().unwrap_or(0) >= 20
    })
    .await;
    first.signal(Signal::SIGKILL);
    let killed_at = Instant::now();

    let _second = Proc::start("worker", vars).await;
    let job = super::wait_finished(&app, &ops.access, &id, Duration::from_secs(60)).await;
    let took = killed_at.elapsed();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(took < Duration::from_secs(60), "recovered after {took:?}");
    eprintln!("job recovered {took:?} after its worker was killed");
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{job}");
    assert!(
        attempts[0]["finished_at"].is_null(),
        "the killed attempt never ended"
    );
    assert_eq!(probe_marks(&app, &id).await, 1);
    assert_eq!(notifications_for(&app, &ops.access, &id).await.len(), 1);
}

/// A record whose task never reached the queue (the api died between its two writes) is
/// found by the reconciler and run.
#[tokio::test]
async fn the_reconciler_enqueues_a_job_that_never_reached_the_queue() {
    let (mut vars, email) = ops_env(200);
    vars.insert("JOB_STUCK_AFTER_SECS".into(), "1".into());
    vars.insert("RECONCILE_INTERVAL_SECS".into(), "1".into());
    let app = TestApp::spawn_with(vars).await;
    let ops = register_operator(&app, &email).await;
    let payload = bson::to_document(&common::domain::job::ProbePayload {
        work_ms: 0,
        fail_attempts: 0,
        permanent: false,
    })
    .unwrap();
    let created = common::db::jobs::Jobs::new(&app.db().await)
        .create(common::db::jobs::NewJob {
            user_id: bson::oid::ObjectId::parse_str(&ops.id).unwrap(),
            kind: common::domain::job::JobKind::Probe,
            payload,
            session_id: None,
            max_attempts: 3,
            idempotency_key: None,
        })
        .await
        .unwrap();
    let common::db::jobs::Created::New(job) = created else {
        panic!("expected a new job");
    };
    let _worker = app.spawn_worker().await;
    let done = super::wait_finished(&app, &ops.access, &job.id, Duration::from_secs(30)).await;
    assert_eq!(
        (done["status"].as_str(), done["attempt"].as_i64()),
        (Some("succeeded"), Some(1))
    );
    assert_eq!(probe_marks(&app, &job.id).await, 1);
}

/// The notifications of runs that ended together are stored in one round trip, each once:
/// a run notified before (a reconciler's second try) is reported as such and not stored
/// again, the others are stored, and the order of the answers is the order of the batch.
#[tokio::test]
async fn a_batch_of_notifications_stores_each_run_once() {
    use common::{
        db::notifications::{Notifications, Stored},
        domain::job::{JobKind, JobStatus, Notification},
    };
    let app = TestApp::spawn().await;
    let store = Notifications::new(&app.db().await);
    let user_id = bson::oid::ObjectId::new();
    let note = |job: &str, run: i32| Notification {
        id: bson::oid::ObjectId::new(),
        user_id,
        job_id: job.to_owned(),
        run,
        kind: JobKind::Probe,
        status: JobStatus::Succeeded,
        message: format!("{job} run {run}"),
        read: false,
        created_at: bson::DateTime::now(),
    };
    assert_eq!(
        store.insert_each_once(&[&note("a", 1)]).await.unwrap(),
        [Stored::Now]
    );
    let batch = [note("b", 1), note("a", 1), note("a", 2), note("b", 1)];
    assert_eq!(
        store
            .insert_each_once(&batch.iter().collect::<Vec<_>>())
            .await
            .unwrap(),
        [Stored::Now, Stored::Already, Stored::Now, Stored::Already]
    );
    let page = store.list(user_id, false, None, 10).await.unwrap();
    let mut stored: Vec<&str> = page.items.iter().map(|n| n.message.as_str()).collect();
    stored.sort_unstable();
    assert_eq!(stored, ["a run 1", "a run 2", "b run 1"]);
    assert_eq!(store.insert_each_once(&[]).await.unwrap(), []);
}
