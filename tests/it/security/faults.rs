//! Faults injected into real processes: Redis and MongoDB restarted under load, S3 gone
//! during exports, workers killed or stopped mid-job, the api stopped with requests in
//! flight. Each test counts the side effects afterwards: nothing lost, nothing twice.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    jobs::{
        notifications_for, ops_env, probe, probe_body, probe_marks, register_operator,
        wait_finished,
    },
    support::{
        TestApp, assert_problem, isolated_env,
        llm::{FakeLlm, Reply},
        process::Proc,
        services::{Kind, Service},
        wait_until,
    },
};

/// Every job of the caller, by id (walks the job list, 100 per page).
async fn all_jobs(app: &TestApp, token: &str) -> BTreeMap<String, Value> {
    let mut jobs = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/jobs?limit=100&cursor={c}"),
            None => "/api/v1/jobs?limit=100".to_owned(),
        };
        let page = app.get_json(token, &path).await;
        for job in page["items"].as_array().unwrap() {
            jobs.insert(job["id"].as_str().unwrap().to_owned(), job.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return jobs,
        }
    }
}

fn finished(job: &Value) -> bool {
    job["status"] == "succeeded" || job["status"] == "failed"
}

/// Polls until every job in `ids` has finished; returns them by id.
async fn wait_all(
    app: &TestApp,
    token: &str,
    ids: &[String],
    limit: Duration,
) -> BTreeMap<String, Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let jobs = all_jobs(app, token).await;
        let done = ids
            .iter()
            .filter(|id| jobs.get(*id).is_some_and(finished))
            .count();
        if done == ids.len() {
            return jobs
                .into_iter()
                .filter(|(id, _)| ids.contains(id))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done} of {} jobs finished within {limit:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn count_finished(app: &TestApp, token: &str, ids: &[String]) -> usize {
    let jobs = all_jobs(app, token).await;
    ids.iter()
        .filter(|id| jobs.get(*id).is_some_and(|j| j["status"] == "succeeded"))
        .count()
}

/// Redis (AOF on) killed and restarted while 200 jobs are queued and running: the api
/// answers 503 problem+json for new jobs while it is down and recovers without a restart;
/// every job finishes, once.
#[tokio::test]
async fn redis_restarted_mid_run_loses_no_job_and_runs_none_twice() {
    let mut redis = Service::start(Kind::Redis).await;
    let (mut vars, email) = ops_env(200);
    redis.point(&mut vars);
    vars.insert("EMAIL_CONCURRENCY".into(), "16".into());
    vars.insert("RECONCILE_INTERVAL_SECS".into(), "2".into());
    vars.insert("JOB_STUCK_AFTER_SECS".into(), "4".into());
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let _worker = Proc::start("worker", vars).await;

    let mut ids = Vec::new();
    for _ in 0..200 {
        let accepted = probe(&app, &ops.access, probe_body(150, 0), None).await;
        ids.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    wait_until(Duration::from_secs(30), || async {
        count_finished(&app, &ops.access, &ids[..60]).await >= 20
    })
    .await
    .unwrap();

    redis.stop();
    let refused = app
        .http
        .post(app.url("/api/v1/admin/jobs/probe"))
        .bearer_auth(&ops.access)
        .json(&probe_body(10, 0))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 503).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.resume().await;

    wait_until(Duration::from_secs(20), || async {
        app.get("/health/ready").await.status() == 200
    })
    .await
    .expect("the api recovered without a restart");
    let jobs = wait_all(&app, &ops.access, &ids, Duration::from_secs(120)).await;
    for (id, job) in &jobs {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(probe_marks(&app, id).await, 1, "{id}");
    }
    let page = app
        .get_json(&ops.access, "/api/v1/notifications?limit=100")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    let db = app.db().await;
    let notes = db
        .collection::<bson::Document>("notifications")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(notes, 200, "one notification per job");
}

/// MongoDB killed for 6 s and restarted while 200 jobs are queued and running: the
/// worker keeps no broken state — its deliveries' claims (batched), lease renewals and
/// endings fail while it is down and are handed back — and afterwards every job finishes
/// with one notification, and a job started after the restart runs too.
#[tokio::test]
async fn mongodb_restarted_mid_run_loses_no_job_and_the_worker_keeps_working() {
    let mut mongo = Service::start(Kind::Mongo).await;
    let (mut vars, email) = ops_env(200);
    mongo.point(&mut vars);
    vars.insert("EMAIL_CONCURRENCY".into(), "16".into());
    vars.insert("RECONCILE_INTERVAL_SECS".into(), "2".into());
    vars.insert("JOB_STUCK_AFTER_SECS".into(), "4".into());
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let worker = Proc::start("worker", vars).await;
    let worker_ready = || async {
        app.http
            .get(format!("{}/health/ready", worker.base))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };

    let mut ids = Vec::new();
    for _ in 0..200 {
        let accepted = probe(&app, &ops.access, probe_body(500, 0), None).await;
        ids.push(accepted["job_id"].as_str().unwrap().to_owned());
    }
    wait_until(Duration::from_secs(30), || async {
        count_finished(&app, &ops.access, &ids).await >= 20
    })
    .await
    .unwrap();

    mongo.stop();
    let down = tokio::time::Instant::now();
    wait_until(Duration::from_secs(5), || async {
        worker_ready().await == 503
    })
    .await
    .expect("the worker saw the outage");
    tokio::time::sleep_until(down + Duration::from_secs(6)).await;
    mongo.resume().await;
    wait_until(Duration::from_secs(30), || async {
        app.get("/health/ready").await.status() == 200 && worker_ready().await == 200
    })
    .await
    .expect("the api and the worker recovered without a restart");

    let after = probe(&app, &ops.access, probe_body(10, 0), None).await;
    ids.push(after["job_id"].as_str().unwrap().to_owned());
    let jobs = wait_all(&app, &ops.access, &ids, Duration::from_secs(150)).await;
    for (id, job) in &jobs {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(probe_marks(&app, id).await, 1, "{id}");
    }
    // The outage hit running attempts: their endings could not be written, so those jobs
    // ran again under a new attempt.
    let again = jobs
        .values()
        .filter(|j| j["attempt"].as_i64() > Some(1))
        .count();
    eprintln!("jobs that needed a second attempt: {again}");
    let notes = app
        .db()
        .await
        .collection::<bson::Document>("notifications")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(notes, 201, "one notification per job");
}

/// MongoDB killed for 9 s and restarted while writes pour in: 503 problem+json once a
/// write's retry budget is spent, full recovery, and every write that was acknowledged (201) is there afterwards.
#[tokio::test]
async fn mongodb_restarted_under_load_loses_no_acknowledged_write() {
    let mut mongo = Service::start(Kind::Mongo).await;
    let mut vars = isolated_env(&[]);
    mongo.point(&mut vars);
    let app = Arc::new(TestApp::spawn_with(vars).await);
    let user = app.register().await;
    // 8 writers, each filling its own 3 sessions (45 questions each) until told to stop.
    let sessions: Vec<String> = {
        let mut s = Vec::new();
        for i in 0..24 {
            s.push(app.session_id(&user.access, &format!("Load {i}")).await);
        }
        s
    };

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = sessions
        .chunks(3)
        .enumerate()
        .map(|(w, own)| {
            let (app, token, own) = (app.clone(), user.access.clone(), own.to_vec());
            let (acknowledged, statuses, stop) =
                (acknowledged.clone(), statuses.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                let mut last = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 45 * own.len() {
                    let sid = &own[n / 45];
                    let resp = app
                        .post_as(
                            &token,
                            &format!("/api/v1/sessions/{sid}/questions"),
                            &json!({
                                "question": format!("Writer {w} question {n}: is it durable?"),
                                "answer": "Only if it was acknowledged, and then always.",
                            }),
                        )
                        .await;
                    let status = resp.status().as_u16();
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    if status == 201 {
                        let body: Value = resp.json().await.unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_owned());
                        n += 1;
                    } else if status == 409 && last == 503 {
                        // The attempt that answered 503 had committed after all (its commit
                        // result was unknown); the retry finds the question already there.
                        n += 1;
                    } else {
                        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
                        assert_eq!(status, 503, "while MongoDB is down: {status}");
                        assert!(ct.starts_with("application/problem+json"), "{ct}");
                    }
                    last = status;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
        .collect();

    // Down for longer than a write's retry budget (5 s), so writes must fail, as 503.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mongo.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    tokio::time::sleep(Duration::from_secs(6)).await;
    mongo.resume().await;
    wait_until(Duration::from_secs(30), || async {
        app.get("/health/ready").await.status() == 200
    })
    .await
    .expect("the api recovered without a restart");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    let statuses = statuses.lock().unwrap().clone();
    eprintln!("writes by status: {statuses:?}");
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "the outage was seen: {statuses:?}"
    );
    assert!(acknowledged.len() > 50, "{statuses:?}");
    let db = app.db().await;
    let ids: Vec<bson::oid::ObjectId> = acknowledged.iter().map(|id| id.parse().unwrap()).collect();
    let found = db
        .collection::<bson::Document>("questions")
        .count_documents(bson::doc! { "_id": { "$in": &ids } })
        .await
        .unwrap();
    assert_eq!(
        found as usize,
        acknowledged.len(),
        "an acknowledged write was lost"
    );
    let mut total = 0;
    for sid in &sessions {
        total += app
            .get_json(&user.access, &format!("/api/v1/sessions/{sid}"))
            .await["question_count"]
            .as_i64()
            .unwrap();
    }
    // Writes whose commit result was unknown (answered 503, then found by the retry as a
    // duplicate) are there too: the counters agree with what is stored, not with the 201s.
    let stored = db
        .collection::<bson::Document>("questions")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    let landed_late = statuses.get(&409).copied().unwrap_or(0);
    assert_eq!(stored as usize, acknowledged.len() + landed_late);
    assert_eq!(total, stored as i64, "counters agree with the questions");
}

/// S3 unreachable during an export: the attempts back off, the job fails with a clear
/// error, and no object (partial or whole) is left behind.
#[tokio::test]
async fn exports_with_s3_down_retry_with_backoff_then_fail_cleanly() {
    let mut s3 = Service::start(Kind::S3).await;
    let mut vars = isolated_env(&[("JOB_RETRY_BASE_MS", "300".to_owned())]);
    s3.point(&mut vars);
    let app = TestApp::spawn_with(vars).await;
    let _worker = app.spawn_worker().await;
    let user = app.register().await;
    let sid = app.session_id(&user.access, "Exports").await;
    app.add_questions(&user.access, &sid, 0..3).await;

    s3.stop();
    let accepted: Value = app
        .post_as(
            &user.access,
            &format!("/api/v1/sessions/{sid}/exports"),
            &json!({ "format": "xlsx" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = accepted["job_id"].as_str().unwrap();
    let job = wait_finished(&app, &user.access, id, Duration::from_secs(60)).await;
    s3.resume().await;

    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("file store"), "{error}");
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{job}");
    // The pause between an attempt's end and the next one's start doubles (base 300 ms,
    // ±20 %: 240–360 ms, then 480–720 ms).
    let time = |a: &Value, field: &str| -> chrono::DateTime<chrono::Utc> {
        a[field].as_str().unwrap().parse().unwrap()
    };
    let pause1 = time(&attempts[1], "started_at") - time(&attempts[0], "finished_at");
    let pause2 = time(&attempts[2], "started_at") - time(&attempts[1], "finished_at");
    assert!(
        pause1.num_milliseconds() >= 200 && pause2 > pause1,
        "backoff grows: {pause1} then {pause2}"
    );
    let files: Vec<_> = walk(s3.data_dir())
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(files.is_empty(), "objects left behind: {files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// A worker process killed with SIGKILL while two workers run 200 generation jobs: all 200
/// complete, and each added its question exactly once.
#[tokio::test]
async fn sigkill_of_one_of_two_workers_during_200_generation_jobs_loses_and_doubles_nothing() {
    let llm = FakeLlm::start().await;
    llm.set_default(Reply::Slow(
        Duration::from_millis(100),
        Box::new(Reply::Fresh(1)),
    ));
    let mut overrides: Vec<(&str, String)> = llm.vars();
    overrides.extend([
        ("RATE_LIMIT_GENERATE", "1000/3600".to_owned()),
        ("GENERATION_CONCURRENCY", "6".to_owned()),
        ("JOB_RETRY_BASE_MS", "200".to_owned()),
        ("RECONCILE_INTERVAL_SECS", "2".to_owned()),
        ("JOB_STUCK_AFTER_SECS", "4".to_owned()),
    ]);
    let vars = isolated_env(&overrides);
    let app = TestApp::spawn_with(vars.clone()).await;
    let user = app.register().await;
    let first = Proc::start("worker", vars.clone()).await;
    let _second = Proc::start("worker", vars).await;

    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(app.session_id(&user.access, &format!("Batch {i}")).await);
    }
    let mut ids = Vec::new();
    for n in 0..200 {
        let sid = &sessions[n % sessions.len()];
        let resp = app
            .post_as(
                &user.access,
                &format!("/api/v1/sessions/{sid}/generate"),
                &json!({ "count": 1 }),
            )
            .await;
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    wait_until(Duration::from_secs(60), || async {
        count_finished(&app, &user.access, &ids[..40]).await >= 20
    })
    .await
    .unwrap();
    first.signal(Signal::SIGKILL);

    let jobs = wait_all(&app, &user.access, &ids, Duration::from_secs(120)).await;
    let mut added = HashSet::new();
    for job in jobs.values() {
        assert_eq!(job["status"], "succeeded", "{job}");
        for q in job["result"]["question_ids"].as_array().unwrap() {
            assert!(
                added.insert(q.as_str().unwrap().to_owned()),
                "a question reported twice"
            );
        }
    }
    assert_eq!(added.len(), 200);
    let mut total = 0;
    for sid in &sessions {
        let s = app
            .get_json(&user.access, &format!("/api/v1/sessions/{sid}"))
            .await;
        total += s["question_count"].as_i64().unwrap();
    }
    assert_eq!(total, 200, "each job added its question exactly once");
    let db = app.db().await;
    let stored = db
        .collection::<bson::Document>("questions")
        .count_documents(bson::doc! {})
        .await
        .unwrap();
    assert_eq!(stored, 200);
    // One notification per job, including a job whose worker died between ending it and
    // notifying (the reconciler sends that one).
    let notifications = db.collection::<bson::Document>("notifications");
    wait_until(Duration::from_secs(30), || async {
        notifications.count_documents(bson::doc! {}).await.unwrap() == 200
    })
    .await
    .expect("one notification per job");
    // Each run's record is flagged notified after its notification (the flags in batches).
    let jobs = db.collection::<bson::Document>("jobs");
    wait_until(Duration::from_secs(30), || async {
        jobs.count_documents(bson::doc! { "kind": "probe", "notified": { "$ne": true } })
            .await
            .unwrap()
            == 0
    })
    .await
    .expect("every run flagged notified");
}

/// SIGTERM to the api with 50 requests in flight (their bodies still arriving): every one
/// completes with its real answer, then the process exits 0.
#[tokio::test]
async fn sigterm_to_the_api_with_50_requests_in_flight_fails_none() {
    let vars = isolated_env(&[]);
    let seed = TestApp::spawn_with(vars.clone()).await;
    let user = seed.register().await;
    drop(seed);
    let mut api = Proc::start("api", vars).await;
    let addr = api.base.trim_start_matches("http://").to_owned();

    let mut conns = Vec::new();
    for i in 0..50 {
        let body = json!({ "role": format!("In flight {i}"), "experience": "senior" }).to_string();
        let (head_part, rest) = body.split_at(12);
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/sessions HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            user.access,
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(head_part.as_bytes()).await.unwrap();
        conns.push((conn, rest.to_owned()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let answers = join_all(conns.into_iter().map(|(mut conn, rest)| async move {
        conn.write_all(rest.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), conn.read_to_end(&mut response))
            .await
            .expect("response in time")
            .unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }))
    .await;
    for answer in &answers {
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "an in-flight request failed: {answer}"
        );
    }
    let status = api.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "api exited with {status}");

    let check = TestApp::spawn_with(api_vars(&api)).await;
    let page = check
        .get_json(&user.access, "/api/v1/sessions?limit=100")
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
}

fn api_vars(api: &Proc) -> std::collections::HashMap<String, String> {
    api.vars.clone()
}

/// SIGTERM to a worker in the middle of a job: the job is finished (by it, or handed back
/// and finished by another worker), once.
#[tokio::test]
async fn sigterm_to_a_worker_mid_job_still_completes_the_job_once() {
    let (vars, email) = ops_env(200);
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = register_operator(&app, &email).await;
    let mut first = Proc::start("worker", vars.clone()).await;

    let accepted = probe(&app, &ops.access, probe_body(3_000, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    crate::jobs::wait_job(&app, &ops.access, &id, Duration::from_secs(20), |j| {
        j["status"] == "running" && j["progress"].as_i64().unwrap_or(0) >= 20
    })
    .await;
    first.signal(Signal::SIGTERM);
    let _second = Proc::start("worker", vars).await;
    let status = first.wait_exit(Duration::from_secs(40)).await;
    assert!(status.success(), "worker exited with {status}");
    // When it finished the job while stopping, the ending's batched writes (notification,
    // `notified` flag) were done before it exited: nothing is left to the reconciler.
    let record = app
        .db()
        .await
        .collection::<bson::Document>("jobs")
        .find_one(bson::doc! { "_id": &id })
        .await
        .unwrap()
        .unwrap();
    if record.get_str("status") == Ok("succeeded") {
        assert_eq!(record.get_bool("notified"), Ok(true), "{record}");
        assert_eq!(notifications_for(&app, &ops.access, &id).await.len(), 1);
    }

    let job = wait_finished(&app, &ops.access, &id, Duration::from_secs(60)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(probe_marks(&app, &id).await, 1);
    assert_eq!(notifications_for(&app, &ops.access, &id).await.len(), 1);
}
