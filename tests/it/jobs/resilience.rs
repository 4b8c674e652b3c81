//! The pipeline keeps running (issue #15): consumers come back after Redis restarts, stalls
//! and killed connections; a backlog of any size drains; heartbeats are not starved by long
//! jobs; a lost lease stops its attempt; live-event streams cannot exhaust Redis
//! connections. Faults are injected into Redis servers the tests own; nothing the tests
//! start is restarted by them.

use std::{collections::HashMap, time::Duration};

use bson::doc;
use common::{
    config::RedisConfig,
    domain::job::ProbePayload,
    events::LiveEvent,
    jobs::{Probe, StartJob},
    kv::Kv,
};
use futures::future::join_all;
use serde_json::Value;

use super::{
    events::{Stream, request},
    ops_env, probe, probe_body, probe_marks, register_operator, wait_finished, wait_job,
};
use crate::support::{
    TestApp, assert_problem, isolated_env,
    process::Proc,
    services::{Kind, Service},
    wait_until,
};

/// The value of one series on a process' `/metrics` (0 when absent).
async fn metric(proc: &Proc, series: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", proc.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn redis_conn(port: u16) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// A Redis handle on the deployment of `vars` (its key prefix).
async fn kv_of(vars: &HashMap<String, String>) -> Kv {
    Kv::connect(&RedisConfig {
        url: vars["REDIS_URL"].clone().into(),
        key_prefix: vars["REDIS_KEY_PREFIX"].clone(),
    })
    .await
    .unwrap()
}

/// A probe started after `fault` finishes within 30 s, and its owner's event stream, opened
/// before it started, carries its progress, its ending and its notification: the worker's
/// batched writers of events and notifications kept working through the fault too.
async fn probe_after(app: &TestApp, token: &str, fault: &str) {
    // Like an SSE client, reconnect while the api's Redis connection is coming back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        let resp = request(app, token, None).await;
        if resp.status() == 200 || tokio::time::Instant::now() > deadline {
            break Stream::from_response(resp);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let accepted = probe(app, token, probe_body(200, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap();
    let job = wait_job(app, token, id, Duration::from_secs(30), |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    })
    .await;
    assert_eq!(job["status"], "succeeded", "after {fault}: {job}");
    let events = stream
        .until(|e| e.event == "notification" && e.data["job_id"] == id)
        .await;
    let ours = |status: &str| {
        events
            .iter()
            .any(|e| e.event == "job" && e.data["job_id"] == id && e.data["status"] == status)
    };
    assert!(
        ours("running") && ours("succeeded"),
        "after {fault}: {events:?}"
    );
}

/// Redis restarted with its data, restarted empty, stalled for 6 s and with every client
/// connection killed: after each, a job started afterwards finishes within 30 s, with no
/// process restarted by the test; the worker stays live and counts its consumer restarts.
#[tokio::test]
async fn consumers_come_back_after_redis_restarts_stalls_and_killed_connections() {
    let mut redis = Service::start(Kind::Redis).await;
    let (mut vars, email) = ops_env(200);
    redis.point(&mut vars);
    vars.insert("RECONCILE_INTERVAL_SECS".into(), "2".into());
    vars.insert("JOB_STUCK_AFTER_SECS".into(), "4".into());
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let worker = Proc::start("worker", vars).await;
    probe_after(&app, &ops.access, "start").await;

    redis.stop();
    redis.resume().await;
    probe_after(&app, &ops.access, "a restart with its data").await;

    redis.stop_and_wipe();
    redis.resume().await;
    probe_after(&app, &ops.access, "a restart without its data").await;

    let mut conn = redis_conn(redis.port).await;
    redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg(6)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    probe_after(&app, &ops.access, "a 6 s stall").await;

    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(killed >= 2, "api and worker connections killed: {killed}");
    probe_after(&app, &ops.access, "killed connections").await;

    let restarts = metric(
        &worker,
        "queue_consumer_restarts_total{queue=\"question-generation\"}",
    )
    .await;
    assert!(restarts >= 1.0, "the consumer really failed and came back");
    let live = reqwest::get(format!("{}/health/live", worker.base))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    wait_until(Duration::from_secs(10), || async {
        reqwest::get(format!("{}/health/ready", worker.base))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await
    .expect("the worker is ready again");
    assert_eq!(
        metric(&worker, "queue_consumer_up{queue=\"email\"}").await,
        1.0
    );
}

/// 20,000 jobs queued while no worker runs (past the ~8,000 at which an unpatched
/// apalis-redis fails every fetch), then one worker: every job succeeds with one attempt
/// and leaves its side effect once, and the queue is empty afterwards.
#[tokio::test]
async fn a_backlog_of_20000_jobs_drains_with_each_job_run_once() {
    const JOBS: usize = 20_000;
    let (mut vars, email) = ops_env(200);
    vars.insert("GENERATION_CONCURRENCY".into(), "16".into());
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let db = app.db().await;
    let kv = kv_of(&vars).await;
    let user: bson::oid::ObjectId = ops.id.parse().unwrap();
    let probe = StartJob::<Probe> {
        user_id: user,
        payload: ProbePayload::default(),
        session_id: None,
        max_attempts: 3,
        idempotency_key: None,
    };
    let started = std::time::Instant::now();
    let queued = common::jobs::start_many(&db, &kv, std::iter::repeat_n(probe, JOBS), 64)
        .await
        .unwrap();
    assert_eq!(queued, JOBS);
    eprintln!("{JOBS} jobs queued in {:?}", started.elapsed());

    let drain = std::time::Instant::now();
    let _worker = Proc::start("worker", vars).await;
    let jobs = db.collection::<bson::Document>("jobs");
    wait_until(Duration::from_secs(600), || async {
        jobs.count_documents(doc! { "kind": "probe", "status": "succeeded" })
            .await
            .unwrap()
            == JOBS as u64
    })
    .await
    .expect("every job of the backlog finished");
    eprintln!("{JOBS} jobs drained in {:?}", drain.elapsed());

    let more_than_once = jobs
        .count_documents(doc! { "kind": "probe", "attempt": { "$ne": 1 } })
        .await
        .unwrap();
    assert_eq!(more_than_once, 0, "a job ran more than one attempt");
    let marks = db
        .collection::<bson::Document>(worker::jobs::PROBE_MARKS)
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(marks, JOBS as u64, "one side effect per job");
    let storage = common::jobs::storage::<common::jobs::JobMessage>(
        &kv,
        common::jobs::queues::QUESTION_GENERATION,
    );
    let config = storage.get_config();
    let mut conn = kv.conn();
    let (waiting, scheduled): (u64, u64) = redis::pipe()
        .cmd("LLEN")
        .arg(config.active_jobs_list())
        .cmd("ZCARD")
        .arg(config.scheduled_jobs_set())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((waiting, scheduled), (0, 0), "the queue is empty");
}

/// Two workers running two generation jobs each, twelve 30-second jobs: no consumer dies
/// (its heartbeat is not held up behind running jobs), no task is taken from a live worker,
/// and every job runs once.
#[tokio::test]
async fn long_jobs_do_not_starve_heartbeats() {
    let (mut vars, email) = ops_env(200);
    vars.insert("GENERATION_CONCURRENCY".into(), "2".into());
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let workers = [
        Proc::start("worker", vars.clone()).await,
        Proc::start("worker", vars).await,
    ];
    let mut ids = Vec::new();
    for _ in 0..12 {
        let accepted = probe(&app, &ops.access, probe_body(30_000, 0), None).await;
        ids.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    let jobs = join_all(
        ids.iter()
            .map(|id| wait_finished(&app, &ops.access, id, Duration::from_secs(240))),
    )
    .await;
    for (id, job) in ids.iter().zip(&jobs) {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["attempt"], 1, "{job}");
        assert_eq!(probe_marks(&app, id).await, 1, "{id}");
    }
    for worker in &workers {
        let restarts = metric(
            worker,
            "queue_consumer_restarts_total{queue=\"question-generation\"}",
        )
        .await;
        assert_eq!(restarts, 0.0, "a consumer died");
        let stolen = metric(worker, "job_deliveries_while_running_total").await;
        assert_eq!(stolen, 0.0, "a running job was delivered to another worker");
        let log = std::fs::read_to_string(&worker.log).unwrap();
        assert!(!log.contains("not registered"), "a heartbeat was refused");
    }
}

/// Another delivery takes the lease of a running attempt: the attempt is cancelled within
/// one renewal period (5 s) and leaves no side effect or outcome.
#[tokio::test]
async fn an_attempt_whose_lease_is_taken_stops() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let worker = Proc::start("worker", vars).await;
    let accepted = probe(&app, &ops.access, probe_body(12_000, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    wait_job(&app, &ops.access, &id, Duration::from_secs(20), |j| {
        j["status"] == "running"
    })
    .await;

    let db = app.db().await;
    let later = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + 600_000);
    let stolen = db
        .collection::<bson::Document>("jobs")
        .update_one(
            doc! { "_id": &id },
            doc! { "$set": { "lease_owner": "another-delivery", "lease_until": later } },
        )
        .await
        .unwrap();
    assert_eq!(stolen.matched_count, 1);
    let taken = tokio::time::Instant::now();
    wait_until(Duration::from_secs(7), || async {
        metric(&worker, "job_leases_lost_total{kind=\"probe\"}").await == 1.0
    })
    .await
    .expect("the attempt noticed within one renewal period");
    eprintln!(
        "attempt cancelled {:?} after its lease was taken",
        taken.elapsed()
    );

    // Past the moment the probe would have finished: no mark, and the record still belongs
    // to the other delivery (the cancelled attempt recorded nothing).
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(probe_marks(&app, &id).await, 0);
    let job: Value = app
        .get_json(&ops.access, &format!("/api/v1/jobs/{id}"))
        .await;
    assert_eq!(job["status"], "running", "{job}");
    assert_eq!(job["attempt"], 1, "{job}");
}

async fn connected_clients(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One user opening 50 event streams gets 5 and 45 refusals (429 problem+json with
/// Retry-After); the open streams share the instance's one reading connection, so Redis
/// sees no new client; every open stream gets the user's events; closing one frees a place.
#[tokio::test]
async fn event_streams_are_capped_per_user_and_share_one_redis_connection() {
    let redis = Service::start(Kind::Redis).await;
    let mut vars = isolated_env(&[]);
    redis.point(&mut vars);
    let app = TestApp::spawn_with(vars.clone()).await;
    let user = app.register().await;
    let mut conn = redis_conn(redis.port).await;
    let before = connected_clients(&mut conn).await;

    let responses = join_all((0..50).map(|_| request(&app, &user.access, None))).await;
    let mut open = Vec::new();
    let mut refused = 0;
    for resp in responses {
        if resp.status() == 200 {
            open.push(Stream::from_response(resp));
        } else {
            assert!(resp.headers().contains_key("retry-after"));
            let body = assert_problem(resp, 429).await;
            assert!(
                body["detail"].as_str().unwrap().contains("event streams"),
                "{body}"
            );
            refused += 1;
        }
    }
    assert_eq!((open.len(), refused), (5, 45));
    let during = connected_clients(&mut conn).await;
    assert!(
        during <= before + 1,
        "Redis clients grew from {before} to {during} with 5 streams open"
    );

    let kv = kv_of(&vars).await;
    let event = LiveEvent::Notification {
        id: "n1".into(),
        job_id: "j1".into(),
        status: common::domain::job::JobStatus::Succeeded,
        message: "Done.".into(),
    };
    common::events::publish(&kv, user.id.parse().unwrap(), &event)
        .await
        .unwrap();
    for stream in &mut open {
        let got = stream.next(Duration::from_secs(10)).await;
        assert_eq!(got.data["job_id"], "j1");
    }

    // The server notices a closed connection when a write fails, within two keep-alives
    // (10 s, the Retry-After of the refusals).
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = request(&app, &user.access, None).await;
        if resp.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed stream did not free its place"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stream ends when its access token expires; reconnecting with a new token and
/// `Last-Event-ID` delivers what was published in between.
#[tokio::test]
async fn an_event_stream_ends_with_its_token_and_resumes_without_loss() {
    let vars = isolated_env(&[("ACCESS_TOKEN_TTL_SECS", "3".to_owned())]);
    let app = TestApp::spawn_with(vars.clone()).await;
    let user = app.register().await;
    let kv = kv_of(&vars).await;
    let user_id = user.id.parse().unwrap();
    let note = |job: &str| LiveEvent::Notification {
        id: format!("n-{job}"),
        job_id: job.to_owned(),
        status: common::domain::job::JobStatus::Succeeded,
        message: "Done.".into(),
    };
    let mut stream = Stream::open(&app, &user.access, None).await;
    common::events::publish(&kv, user_id, &note("first"))
        .await
        .unwrap();
    let first = stream.next(Duration::from_secs(10)).await;
    assert_eq!(first.data["job_id"], "first");
    assert!(
        stream.ends_within(Duration::from_secs(10)).await,
        "the stream outlived its token"
    );
    common::events::publish(&kv, user_id, &note("second"))
        .await
        .unwrap();

    let refreshed: Value = app
        .post(
            "/api/v1/auth/refresh",
            &serde_json::json!({ "refresh_token": user.refresh }),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = refreshed["access_token"].as_str().unwrap();
    let mut resumed = Stream::open(&app, token, Some(&first.id)).await;
    let second = resumed.next(Duration::from_secs(10)).await;
    assert_eq!(second.data["job_id"], "second");
}
