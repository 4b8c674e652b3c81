use serde_json::json;

use crate::support::{
    TestApp, assert_problem, isolated_env,
    services::{Kind, Service},
    unique,
};

async fn attempt(app: &TestApp, i: usize) -> reqwest::Response {
    // A different email each time: this exercises the per-IP limit alone.
    app.post(
        "/api/v1/auth/login",
        &json!({ "email": format!("{}-{i}@example.com", unique("rl")), "password": "whatever-123" }),
    )
    .await
}

#[tokio::test]
async fn twelve_rapid_logins_from_one_ip_two_are_refused() {
    let app = TestApp::spawn_with(isolated_env(&[("RATE_LIMIT_AUTH", "10/900".into())])).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let resp = attempt(&app, i).await;
        let status = resp.status().as_u16();
        assert_eq!(resp.headers()["ratelimit-policy"], r#""auth";q=10;w=900"#);
        assert!(resp.headers().contains_key("ratelimit"));
        if status == 429 {
            let retry: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "retry-after {retry}");
            assert_problem(resp, 429).await;
        }
        statuses.push(status);
    }
    assert_eq!(statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429, 429], "{statuses:?}");
}

#[tokio::test]
async fn two_api_instances_share_the_count() {
    let vars = isolated_env(&[("RATE_LIMIT_AUTH", "10/900".into())]);
    let a = TestApp::spawn_with(vars.clone()).await;
    let b = TestApp::spawn_with(vars).await;
    let mut refused = 0;
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        if attempt(app, i).await.status() == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 2);
}

#[tokio::test]
async fn the_default_policy_limits_per_user() {
    let app = TestApp::spawn_with(isolated_env(&[("RATE_LIMIT_DEFAULT", "3/60".into())])).await;
    let account = app.register().await;
    for _ in 0..3 {
        let resp = app.get_as(&account.access, "/api/v1/me").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["ratelimit-policy"], r#""default";q=3;w=60"#);
    }
    assert_problem(app.get_as(&account.access, "/api/v1/me").await, 429).await;
    // Another user has a quota of their own.
    let other = app.register().await;
    assert_eq!(app.get_as(&other.access, "/api/v1/me").await.status(), 200);
}

/// Without Redis, credential routes fail closed (503) and other routes fail open.
#[tokio::test]
async fn redis_down_fails_closed_for_auth_and_open_elsewhere() {
    let mut redis = Service::start(Kind::Redis).await;
    let app = TestApp::spawn_with(isolated_env(&redis.vars())).await;
    let account = app.register().await;
    redis.stop();
    assert_problem(attempt(&app, 0).await, 503).await;
    assert_eq!(
        app.get_as(&account.access, "/api/v1/me").await.status(),
        200
    );
}

/// A caller far from its limit is served from cells an instance leased ahead (one Redis
/// call for several requests); the leases never let it past the limit across instances,
/// and an unused lease is given back, so the caller gets exactly its limit in the end.
#[tokio::test]
async fn leased_cells_count_against_the_limit_and_unused_ones_come_back() {
    // 128 per hour: a cell comes back every 28 s, so the counts below are exact.
    let vars = isolated_env(&[("RATE_LIMIT_DEFAULT", "128/3600".into())]);
    let prefix = vars["REDIS_KEY_PREFIX"].clone();
    let first = TestApp::spawn_with(vars.clone()).await;
    let second = TestApp::spawn_with(vars).await;
    let account = first.register().await;
    let me = first.get_as(&account.access, "/api/v1/me").await;
    assert_eq!(me.status(), 200);
    // Counted as one request, whatever the lease.
    assert_eq!(
        me.headers()["ratelimit"].to_str().unwrap(),
        r#""default";r=127;t=29"#
    );
    let id = me.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Redis holds the whole lease (128 available / 32 = 4 cells of 28.1 s each), not one cell.
    let mut redis = redis::Client::open(std::env::var("REDIS_URL").unwrap())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}rl:default:user:{id}"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        ttl_ms > 3 * 28_125,
        "one script call took 4 cells: {ttl_ms} ms"
    );

    // The other instance serves what is left in Redis and no more: the first instance's
    // 3 unspent cells are not available to it.
    let mut served = 0;
    while second.get_as(&account.access, "/api/v1/me").await.status() == 200 {
        served += 1;
        assert!(served <= 128, "the limit held");
    }
    assert_eq!(served, 124);

    // Once the first instance's lease has expired, its next request gives the 3 cells
    // back: that request and 2 more anywhere succeed, then the limit of 128 is reached.
    tokio::time::sleep(common::ratelimit::LEASE_TTL + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        first.get_as(&account.access, "/api/v1/me").await.status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(
            second.get_as(&account.access, "/api/v1/me").await.status(),
            200
        );
    }
    assert_problem(second.get_as(&account.access, "/api/v1/me").await, 429).await;
    assert_problem(first.get_as(&account.access, "/api/v1/me").await, 429).await;
}
