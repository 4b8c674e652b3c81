//! Security hardening (issue #17): password-hash floods, bounded search, per-account caps,
//! tokens of deleted accounts, the reset code out of mail subjects, readiness and metrics.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::{
    TestApp, assert_problem, isolated_env,
    process::Proc,
    services::{Kind, Service},
};

/// Resident and peak memory of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// 300 concurrent password changes with a wrong current password: hashes run a few at a
/// time, the rest is refused with 503 and `Retry-After` instead of piling up 19 MiB each;
/// the api's peak memory grows by less than 200 MB.
#[tokio::test]
async fn a_flood_of_password_checks_keeps_memory_bounded() {
    let vars = isolated_env(&[
        ("RATE_LIMIT_AUTH", "100000/60".to_owned()),
        ("RATE_LIMIT_DEFAULT", "100000/60".to_owned()),
    ]);
    let seed = TestApp::spawn_with(vars.clone()).await;
    let user = seed.register().await;
    drop(seed);
    let api = Proc::start("api", vars).await;
    let http = reqwest::Client::new();
    let change = |current: &str| {
        http.post(format!("{}/api/v1/me/password", api.base))
            .bearer_auth(&user.access)
            .json(&json!({ "current_password": current, "new_password": "an entirely new one" }))
            .send()
    };
    // One check first, so the baseline holds the hasher's first allocation.
    assert_eq!(change("wrong password 0").await.unwrap().status(), 400);
    let (baseline, _) = memory_kb(api.pid());

    let answers = join_all((0..300).map(|i| {
        change(if i % 2 == 0 {
            "wrong one"
        } else {
            "other wrong"
        })
    }))
    .await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for answer in answers {
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        if status == 503 {
            assert_eq!(answer.headers()["retry-after"], "1");
        }
        *statuses.entry(status).or_default() += 1;
    }
    let (_, peak) = memory_kb(api.pid());
    eprintln!("answers {statuses:?}; RSS {baseline} kB before, peak {peak} kB");
    assert!(
        statuses.keys().all(|s| [400, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "the bound was reached: {statuses:?}"
    );
    assert!(
        peak.saturating_sub(baseline) < 200 * 1024,
        "peak grew by {} MB",
        peak.saturating_sub(baseline) / 1024
    );
}

/// Changing the password is under the credential limit, per account: guessing the
/// current password is as limited as guessing it at login.
#[tokio::test]
async fn password_changes_are_under_the_credential_limit() {
    let app = TestApp::spawn_with(isolated_env(&[("RATE_LIMIT_AUTH", "3/900".to_owned())])).await;
    let user = app.register().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = app
            .post_as(
                &user.access,
                "/api/v1/me/password",
                &json!({ "current_password": "not it", "new_password": "an entirely new one" }),
            )
            .await;
        statuses.push(resp.status().as_u16());
    }
    // Registering counted once for this IP already.
    assert!(statuses.contains(&429), "{statuses:?}");
    let refused = app
        .post_as(
            &user.access,
            "/api/v1/me/password",
            &json!({ "current_password": user.password, "new_password": "an entirely new one" }),
        )
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429).await;
}

/// A search examines at most 2,000 questions per page: past that it answers what it found,
/// says `partial`, and its cursor goes on until every match is found, each once.
#[tokio::test]
async fn search_pages_are_bounded_and_say_when_they_are_partial() {
    let app = TestApp::spawn_with(isolated_env(&[(
        "MAX_QUESTIONS_PER_SESSION",
        "1000".to_owned(),
    )]))
    .await;
    let user = app.register().await;
    let db = app.db().await;
    let user_id: bson::oid::ObjectId = user.id.parse().unwrap();
    let questions = common::db::questions::Questions::new(&db);
    // 3 sessions of 1,000: the 5 oldest questions hold the term.
    for s in 0..3 {
        let sid: bson::oid::ObjectId = app
            .session_id(&user.access, &format!("Search {s}"))
            .await
            .parse()
            .unwrap();
        for chunk in 0..10 {
            let items = (0..100)
                .map(|n| {
                    let i = s * 1000 + chunk * 100 + n;
                    let text = if i < 5 {
                        format!("Question {i} about the needle-term here?")
                    } else {
                        format!("Question {i} about something ordinary?")
                    };
                    crate::support::ai_question(&text)
                })
                .collect();
            questions
                .add(user_id, sid, items, 1000)
                .await
                .unwrap()
                .unwrap();
        }
    }
    let mut found = Vec::new();
    let mut partial_pages = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/questions/search?q=needle-term&limit=100&cursor={c}"),
            None => "/api/v1/questions/search?q=needle-term&limit=100".to_owned(),
        };
        let page: Value = app.get_json(&user.access, &path).await;
        if page["partial"] == true {
            partial_pages += 1;
        }
        for hit in page["items"].as_array().unwrap() {
            found.push(hit["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        partial_pages, 1,
        "3,000 questions: the first page stops at 2,000"
    );
    found.sort();
    found.dedup();
    assert_eq!(found.len(), 5, "every match, once");
}

/// Creating sessions stops at the account's cap (409), and a deleted account's
/// still-valid access token creates nothing (401).
#[tokio::test]
async fn sessions_are_capped_per_account_and_deleted_accounts_create_none() {
    let app = TestApp::spawn_with(isolated_env(&[("MAX_SESSIONS_PER_USER", "3".to_owned())])).await;
    let user = app.register().await;
    for i in 0..3 {
        app.session_id(&user.access, &format!("Capped {i}")).await;
    }
    let body = json!({ "role": "One too many", "experience": "senior" });
    let refused = app.post_as(&user.access, "/api/v1/sessions", &body).await;
    let problem = assert_problem(refused, 409).await;
    assert_eq!(problem["type"], "/problems/too-many-sessions");

    let gone = app.register().await;
    assert_eq!(
        app.delete_as(&gone.access, "/api/v1/me").await.status(),
        204
    );
    let after = app.post_as(&gone.access, "/api/v1/sessions", &body).await;
    assert_problem(after, 401).await;
    let stored = app
        .db()
        .await
        .collection::<bson::Document>("sessions")
        .count_documents(bson::doc! { "user_id": gone.id.parse::<bson::oid::ObjectId>().unwrap() })
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

async fn redis_pings(port: u16) -> u64 {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .and_then(|v| v.split(',').next())
        .map_or(0, |v| v.parse().unwrap())
}

/// 200 concurrent readiness calls probe the dependencies about once, not 200 times.
#[tokio::test]
async fn readiness_probes_are_shared_for_a_second() {
    let redis = Service::start(Kind::Redis).await;
    let mut vars = isolated_env(&[]);
    redis.point(&mut vars);
    let app = TestApp::spawn_with(vars).await;
    let before = redis_pings(redis.port).await;
    let answers = join_all((0..200).map(|_| app.get("/health/ready"))).await;
    assert!(answers.iter().all(|r| r.status() == 200));
    let pings = redis_pings(redis.port).await - before;
    assert!(pings <= 3, "{pings} Redis probes for 200 readiness calls");
}

/// With `METRICS_TOKEN` set, `/metrics` of the api and of the worker answer only its bearer.
#[tokio::test]
async fn metrics_need_the_configured_token() {
    let vars = isolated_env(&[("METRICS_TOKEN", "scrape-secret-token".to_owned())]);
    let app = TestApp::spawn_with(vars.clone()).await;
    let worker = Proc::start("worker", vars).await;
    let http = reqwest::Client::new();
    for base in [app.base.clone(), worker.base.clone()] {
        let url = format!("{base}/metrics");
        let anonymous = http.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{url}");
        let wrong = http.get(&url).bearer_auth("guess").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
        let scraper = http
            .get(&url)
            .bearer_auth("scrape-secret-token")
            .send()
            .await
            .unwrap();
        assert_eq!(scraper.status(), 200, "{url}");
        assert!(scraper.text().await.unwrap().contains("# TYPE"));
    }
}

/// The same refresh token presented twice at once, twenty times over: whenever the reuse is
/// noticed, the family is revoked, including the token the other request was just issued.
#[tokio::test]
async fn a_reused_refresh_token_leaves_no_live_token_in_its_family() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let mut reuses = 0;
    for _ in 0..20 {
        let login: Value = app
            .post(
                "/api/v1/auth/login",
                &json!({ "email": user.email, "password": user.password }),
            )
            .await
            .json()
            .await
            .unwrap();
        let token = login["refresh_token"].as_str().unwrap().to_owned();
        let body = json!({ "refresh_token": token });
        let (a, b) = tokio::join!(
            app.post("/api/v1/auth/refresh", &body),
            app.post("/api/v1/auth/refresh", &body)
        );
        let mut issued = Vec::new();
        let mut refused = 0;
        for resp in [a, b] {
            if resp.status() == 200 {
                let tokens: Value = resp.json().await.unwrap();
                issued.push(tokens["refresh_token"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(resp.status(), 401);
                refused += 1;
            }
        }
        if refused > 0 {
            reuses += 1;
            for next in issued {
                let again = app
                    .post("/api/v1/auth/refresh", &json!({ "refresh_token": next }))
                    .await;
                assert_eq!(
                    again.status(),
                    401,
                    "a token of a revoked family still works"
                );
            }
        }
    }
    assert!(reuses > 0, "the reuse was noticed at least once");
}

/// Deleting the account while one of its jobs runs stops that job within a lease renewal
/// (its record is gone) and leaves nothing behind: no side effect, no record.
#[tokio::test]
async fn deleting_an_account_stops_its_running_jobs() {
    let (vars, email) = crate::jobs::ops_env(200);
    let app = TestApp::spawn_with(vars.clone()).await;
    let ops = crate::jobs::register_operator(&app, &email).await;
    let worker = Proc::start("worker", vars).await;
    let accepted =
        crate::jobs::probe(&app, &ops.access, crate::jobs::probe_body(10_000, 0), None).await;
    let id = accepted["job_id"].as_str().unwrap().to_owned();
    crate::jobs::wait_job(
        &app,
        &ops.access,
        &id,
        std::time::Duration::from_secs(20),
        |j| j["status"] == "running",
    )
    .await;
    assert_eq!(app.delete_as(&ops.access, "/api/v1/me").await.status(), 204);

    let metrics = format!("{}/metrics", worker.base);
    crate::support::wait_until(std::time::Duration::from_secs(8), || async {
        reqwest::get(&metrics)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("job_leases_lost_total{kind=\"probe\"} 1")
    })
    .await
    .expect("the running attempt was cancelled");
    // Past the probe's end: it wrote no mark and no record came back.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    assert_eq!(crate::jobs::probe_marks(&app, &id).await, 0);
    let records = app
        .db()
        .await
        .collection::<bson::Document>("jobs")
        .count_documents(bson::doc! { "_id": &id })
        .await
        .unwrap();
    assert_eq!(records, 0);
}
