use std::time::Duration;

use serde_json::Value;

use crate::support::{
    TestApp, assert_problem, isolated_env,
    services::{Kind, Service},
    wait_until,
};

#[tokio::test]
async fn ready_when_every_dependency_answers() {
    let app = TestApp::spawn().await;
    let resp = app.get("/health/ready").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mongodb", "redis", "s3"]);
    assert!(
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true)
    );
}

/// Stops one dependency of an api that owns private instances of all three: ready turns
/// 503 naming it while live stays 200, and recovers once it is back, without a restart.
async fn outage_and_recovery(kind: Kind, name: &str) {
    let mut mongo = Service::start(Kind::Mongo).await;
    let mut redis = Service::start(Kind::Redis).await;
    let mut s3 = Service::start(Kind::S3).await;
    let mut overrides = mongo.vars();
    overrides.extend(redis.vars());
    overrides.extend(s3.vars());
    let app = TestApp::spawn_with(isolated_env(&overrides)).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    let target = match kind {
        Kind::Mongo => &mut mongo,
        Kind::Redis => &mut redis,
        Kind::S3 => &mut s3,
    };
    target.stop();

    // Probe results are reused for up to a second (readiness is public): wait them out.
    wait_until(Duration::from_secs(5), || async {
        app.get("/health/ready").await.status() == 503
    })
    .await
    .unwrap_or_else(|e| panic!("ready did not notice {name} was gone: {e}"));
    let body = assert_problem(app.get("/health/ready").await, 503).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(name),
        "detail {detail:?} does not name {name}"
    );
    let failing: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failing, [name]);
    assert_eq!(app.get("/health/live").await.status(), 200);

    target.resume().await;
    wait_until(Duration::from_secs(30), || async {
        app.get("/health/ready").await.status() == 200
    })
    .await
    .unwrap_or_else(|e| panic!("ready did not recover after {name} returned: {e}"));
}

#[tokio::test]
async fn redis_outage_turns_ready_503_and_recovers() {
    outage_and_recovery(Kind::Redis, "redis").await;
}

#[tokio::test]
async fn mongodb_outage_turns_ready_503_and_recovers() {
    outage_and_recovery(Kind::Mongo, "mongodb").await;
}

#[tokio::test]
async fn s3_outage_turns_ready_503_and_recovers() {
    outage_and_recovery(Kind::S3, "s3").await;
}
