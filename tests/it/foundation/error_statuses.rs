//! Every error status the OpenAPI document lists for an operation is one that operation
//! answers: each is driven here at least once, and every answer met on the way must be
//! listed for its operation. 500 is the one listed status not driven (any panic or
//! unexpected driver error; `foundation::errors` shows a caught panic becomes one).

use std::collections::{BTreeMap, BTreeSet};

use bson::oid::ObjectId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    jobs::register_operator,
    support::{
        Account, TestApp, content_type, isolated_env,
        services::{Kind, Service},
        unique,
    },
};

/// One operation of the document.
#[derive(Debug, Clone)]
struct Op {
    id: String,
    method: Method,
    path: String,
    errors: BTreeSet<u16>,
    secured: bool,
    example: Option<Value>,
    query: bool,
    idempotent: bool,
}

impl Op {
    fn has_path_id(&self) -> bool {
        self.path.contains('{')
    }
}

fn operations() -> Vec<Op> {
    let doc: Value = serde_json::from_str(api::spec::document()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            ops.push(Op {
                id: id.to_owned(),
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                errors: op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter_map(|s| s.parse().ok())
                    .filter(|s| *s >= 400)
                    .collect(),
                secured: op.get("security").is_some(),
                example: op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.values().next())
                    .map(|media| media["example"].clone()),
                query: params.iter().any(|p| p["in"] == "query"),
                idempotent: params.iter().any(|p| p["name"] == "Idempotency-Key"),
            });
        }
    }
    ops
}

/// Real ids to put in paths (random ones where none is given).
#[derive(Debug, Default, Clone)]
struct Ids {
    session: Option<String>,
    question: Option<String>,
}

impl Ids {
    fn fill(&self, template: &str) -> String {
        let random = || ObjectId::new().to_hex();
        template
            .replace("{session_id}", &self.session.clone().unwrap_or_else(random))
            .replace(
                "{question_id}",
                &self.question.clone().unwrap_or_else(random),
            )
            .replace("{attempt_id}", &random())
            .replace("{job_id}", &random())
    }
}

/// A body the handler accepts: the document's example, with what it cannot know.
fn valid_body(op: &Op, ids: &Ids) -> Option<Value> {
    let mut body = op.example.clone()?;
    match op.id.as_str() {
        "questions_bulk" => {
            body = json!({
                "action": "delete",
                "ids": [ids.question.clone().unwrap_or_else(|| ObjectId::new().to_hex())]
            });
        }
        "me_change_password" => body["new_password"] = json!("a different passphrase"),
        "sessions_generate" | "sessions_from_job_description" => body["count"] = json!(1),
        _ => {}
    }
    Some(body)
}

/// Drives requests and keeps account of the (operation, status) pairs answered.
struct Drive {
    ops: Vec<Op>,
    seen: BTreeMap<(String, u16), String>,
}

impl Drive {
    fn op(&self, id: &str) -> Op {
        self.ops
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("no operation {id}"))
            .clone()
    }

    /// Sends `op` and checks the answer is `expected`, listed for `op`, and a problem.
    #[allow(clippy::too_many_arguments)]
    async fn expect(
        &mut self,
        app: &TestApp,
        op: &Op,
        token: Option<&str>,
        path: &str,
        request: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        expected: u16,
        how: &str,
    ) {
        let mut req = app.http.request(op.method.clone(), app.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = request(req).send().await.expect("request");
        let status = resp.status().as_u16();
        let content_type = content_type(&resp);
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, expected,
            "{} {path} ({how}) answered {status}: {text}",
            op.id
        );
        assert!(
            op.errors.contains(&status),
            "{} answered {status} ({how}), which the document does not list: {text}",
            op.id
        );
        assert!(
            content_type.starts_with("application/problem+json"),
            "{} {status}: {content_type}",
            op.id
        );
        self.seen.insert((op.id.clone(), status), how.to_owned());
    }

    /// `op` with a valid body (if it takes one) and the given ids.
    async fn expect_valid(
        &mut self,
        app: &TestApp,
        op: &Op,
        token: Option<&str>,
        ids: &Ids,
        expected: u16,
        how: &str,
    ) {
        let body = valid_body(op, ids);
        let mut path = ids.fill(&op.path);
        if op.id == "questions_search" {
            path.push_str("?q=index");
        }
        self.expect(
            app,
            op,
            token,
            &path,
            |r| match body {
                Some(body) => r.json(&body),
                None => r,
            },
            expected,
            how,
        )
        .await;
    }
}

fn token_for<'a>(op: &Op, user: &'a Account, operator: &'a Account) -> &'a str {
    if op.id.starts_with("admin_") {
        &operator.access
    } else {
        &user.access
    }
}

/// The shapes of request every operation of a kind can get wrong: a body the schema
/// refuses, too big or not JSON, a bad query value or key, no token, an unknown id.
async fn malformed_requests(drive: &mut Drive) {
    let operator_email = format!("{}@example.com", unique("ops-"));
    let app = TestApp::spawn_with(isolated_env(&[("ADMIN_EMAILS", operator_email.clone())])).await;
    let user = app.register().await;
    let operator = register_operator(&app, &operator_email).await;
    let session = app.session_id(&user.access, "Backend Engineer").await;
    let question = app.add_questions(&user.access, &session, 0..1).await[0].clone();
    let real = Ids {
        session: Some(session),
        question: Some(question),
    };
    let ops = drive.ops.clone();
    for op in ops.iter().filter(|o| o.path.starts_with("/api/")) {
        let token = token_for(op, &user, &operator);
        if op.example.is_some() {
            let path = real.fill(&op.path);
            drive
                .expect(
                    &app,
                    op,
                    Some(token),
                    &path,
                    |r| r.json(&json!({ "no_such_field": true })),
                    400,
                    "a body the schema refuses",
                )
                .await;
            drive
                .expect(
                    &app,
                    op,
                    Some(token),
                    &path,
                    |r| {
                        r.header("content-type", "application/json")
                            .body(vec![b' '; 1024 * 1024 + 1])
                    },
                    413,
                    "a body over 1 MiB",
                )
                .await;
            drive
                .expect(
                    &app,
                    op,
                    Some(token),
                    &path,
                    |r| r.header("content-type", "text/plain").body("hello"),
                    415,
                    "a body that is not JSON",
                )
                .await;
        }
        if op.query {
            drive
                .expect(
                    &app,
                    op,
                    Some(token),
                    &format!("{}?limit=many", real.fill(&op.path)),
                    |r| r,
                    400,
                    "a limit that is not a number",
                )
                .await;
        }
        if op.idempotent && op.example.is_none() {
            let path = real.fill(&op.path);
            drive
                .expect(
                    &app,
                    op,
                    Some(token),
                    &path,
                    |r| r.header("Idempotency-Key", "k".repeat(300)),
                    400,
                    "an Idempotency-Key over 255 characters",
                )
                .await;
        }
        if op.secured {
            drive
                .expect_valid(&app, op, None, &real, 401, "no access token")
                .await;
        }
        if op.has_path_id() {
            drive
                .expect_valid(&app, op, Some(token), &Ids::default(), 404, "an unknown id")
                .await;
        }
    }
    // Whose answers depend on state.
    let login = drive.op("auth_login");
    drive
        .expect(
            &app,
            &login,
            None,
            &login.path,
            |r| r.json(&json!({ "email": user.email, "password": "not the password" })),
            401,
            "a wrong password",
        )
        .await;
    let refresh = drive.op("auth_refresh");
    drive
        .expect(
            &app,
            &refresh,
            None,
            &refresh.path,
            |r| r.json(&json!({ "refresh_token": "x".repeat(43) })),
            401,
            "an unknown refresh token",
        )
        .await;
    let register = drive.op("auth_register");
    drive
        .expect(
            &app,
            &register,
            None,
            &register.path,
            |r| {
                r.json(&json!({
                    "fullname": "Ada Lovelace", "email": user.email, "password": "another passphrase"
                }))
            },
            409,
            "an email address in use",
        )
        .await;
    for id in ["admin_dead_jobs", "admin_retry_job", "admin_probe"] {
        let op = drive.op(id);
        drive
            .expect_valid(&app, &op, Some(&user.access), &real, 403, "not an operator")
            .await;
    }
    let resend = drive.op("auth_verify_email_resend");
    drive
        .expect_valid(
            &app,
            &resend,
            Some(&operator.access),
            &real,
            409,
            "verified",
        )
        .await;
    // A second question, then the first one's text for it.
    let second = app
        .add_questions(&user.access, real.session.as_deref().unwrap(), 1..2)
        .await;
    let update = drive.op("questions_update");
    drive
        .expect(
            &app,
            &update,
            Some(&user.access),
            &format!("/api/v1/questions/{}", second[0]),
            |r| r.json(&json!({ "question": "Question number 0: what does it do?" })),
            409,
            "another question's text",
        )
        .await;
    let add = drive.op("questions_add");
    drive
        .expect(
            &app,
            &add,
            Some(&user.access),
            &real.fill(&add.path),
            |r| {
                r.json(&json!({
                    "question": "QUESTION number 0 — what does it do",
                    "answer": "The same question, spelled differently."
                }))
            },
            409,
            "a question the session has",
        )
        .await;
    // Same key, different request; the first request of each pair is accepted.
    let other = Ids {
        session: Some(app.session_id(&user.access, "Data Engineer").await),
        question: Some(second[0].clone()),
    };
    for op in ops.iter().filter(|o| o.idempotent) {
        let token = token_for(op, &user, &operator);
        let key = unique("key-");
        let first = valid_body(op, &real);
        let mut resp = app.http.post(app.url(&real.fill(&op.path)));
        resp = resp.bearer_auth(token).header("Idempotency-Key", &key);
        if let Some(body) = &first {
            resp = resp.json(body);
        }
        let resp = resp.send().await.unwrap();
        assert_eq!(resp.status(), 202, "{} first request", op.id);
        let mut second = valid_body(op, &other);
        if !op.has_path_id() {
            let body = second
                .as_mut()
                .expect("a job start without a path has a body");
            match op.id.as_str() {
                "sessions_from_job_description" => body["count"] = json!(2),
                "admin_probe" => body["work_ms"] = json!(5),
                other => panic!("how does {other} differ?"),
            }
        }
        let key2 = key.clone();
        drive
            .expect(
                &app,
                op,
                Some(token),
                &other.fill(&op.path),
                move |r| {
                    let r = r.header("Idempotency-Key", key2);
                    match second {
                        Some(body) => r.json(&body),
                        None => r,
                    }
                },
                422,
                "a key used for another request",
            )
            .await;
    }
    // A queued (not failed) job cannot be retried.
    let resp = app
        .post_as(
            &user.access,
            &real.fill("/api/v1/sessions/{session_id}/exports"),
            &json!({ "format": "csv" }),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let retry = drive.op("admin_retry_job");
    drive
        .expect(
            &app,
            &retry,
            Some(&operator.access),
            &format!(
                "/api/v1/admin/jobs/{}/retry",
                job["job_id"].as_str().unwrap()
            ),
            |r| r,
            409,
            "a job that has not failed",
        )
        .await;
    // An account deleted while its access token lives on.
    let gone = app.register().await;
    assert_eq!(
        app.delete_as(&gone.access, "/api/v1/me").await.status(),
        204
    );
    let ops_of_account = drive
        .ops
        .iter()
        .filter(|o| o.errors.contains(&404) && !o.has_path_id() && o.id != "reviews_due")
        .cloned()
        .collect::<Vec<_>>();
    for op in ops_of_account {
        drive
            .expect_valid(
                &app,
                &op,
                Some(&gone.access),
                &real,
                404,
                "a deleted account",
            )
            .await;
    }
    let due = drive.op("reviews_due");
    drive
        .expect(
            &app,
            &due,
            Some(&user.access),
            &format!("/api/v1/reviews/due?session_id={}", ObjectId::new()),
            |r| r,
            404,
            "someone else's or no session",
        )
        .await;
}

/// Caps: one session per account, one question per session.
async fn caps(drive: &mut Drive) {
    let app = TestApp::spawn_with(isolated_env(&[
        ("MAX_SESSIONS_PER_USER", "1".into()),
        ("MAX_QUESTIONS_PER_SESSION", "1".into()),
    ]))
    .await;
    let user = app.register().await;
    let session = app.session_id(&user.access, "Backend Engineer").await;
    app.add_questions(&user.access, &session, 0..1).await;
    let ids = Ids {
        session: Some(session),
        question: None,
    };
    for id in [
        "sessions_create",
        "sessions_from_job_description",
        "sessions_generate",
        "questions_add",
    ] {
        let op = drive.op(id);
        drive
            .expect_valid(&app, &op, Some(&user.access), &ids, 409, "at the cap")
            .await;
    }
}

/// A limit of one request an hour: every operation's second request is refused.
async fn rate_limits(drive: &mut Drive) {
    let app = TestApp::spawn_with(isolated_env(&[
        ("RATE_LIMIT_AUTH", "1/3600".into()),
        ("RATE_LIMIT_DEFAULT", "1/3600".into()),
    ]))
    .await;
    let user = app.register().await;
    // Spend the caller's and the address's one request.
    app.get_as(&user.access, "/api/v1/me").await;
    app.get("/api/v1/analytics/trending-topics").await;
    let ops = drive.ops.clone();
    for op in ops.iter().filter(|o| o.errors.contains(&429)) {
        let token = op.secured.then_some(user.access.as_str());
        drive
            .expect_valid(&app, op, token, &Ids::default(), 429, "over the limit")
            .await;
    }
}

/// MongoDB and Redis stopped under a running api.
async fn dependencies_down(drive: &mut Drive) {
    let mut mongo = Service::start(Kind::Mongo).await;
    let mut redis = Service::start(Kind::Redis).await;
    let mut vars = isolated_env(&[("MONGODB_SERVER_SELECTION_TIMEOUT_MS", "300".into())]);
    mongo.point(&mut vars);
    redis.point(&mut vars);
    let app = TestApp::spawn_with(vars).await;
    let user = app.register().await;
    mongo.stop();
    redis.stop();
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503, "readiness with MongoDB and Redis down");
    drive.seen.insert(
        ("health_ready".to_owned(), 503),
        "MongoDB and Redis down".to_owned(),
    );
    let ops = drive.ops.clone();
    for op in ops
        .iter()
        .filter(|o| o.errors.contains(&503) && o.id != "health_ready")
    {
        let token = op.secured.then_some(user.access.as_str());
        drive
            .expect_valid(
                &app,
                op,
                token,
                &Ids::default(),
                503,
                "MongoDB and Redis down",
            )
            .await;
    }
}

#[tokio::test]
async fn every_listed_error_status_is_answered_and_every_answer_is_listed() {
    let mut drive = Drive {
        ops: operations(),
        seen: BTreeMap::new(),
    };
    malformed_requests(&mut drive).await;
    caps(&mut drive).await;
    rate_limits(&mut drive).await;
    dependencies_down(&mut drive).await;
    let missing: Vec<String> = drive
        .ops
        .iter()
        .flat_map(|op| op.errors.iter().map(move |s| (op.id.clone(), *s)))
        .filter(|(_, status)| *status != 500)
        .filter(|pair| !drive.seen.contains_key(pair))
        .map(|(id, status)| format!("{id} {status}"))
        .collect();
    assert!(missing.is_empty(), "listed but never answered: {missing:?}");
    // Every operation lists only some of the error statuses, not the whole set.
    let whole: BTreeSet<u16> = [400, 401, 403, 404, 409, 422, 429, 500, 503].into();
    assert!(drive.ops.iter().all(|op| op.errors != whole));
}
