//! One full flow against real api and worker processes, then their `/metrics`, the alert
//! rules and the logs are checked.

use std::{collections::BTreeSet, time::Duration};

use serde_json::{Value, json};

use crate::support::{
    client, isolated_env,
    llm::{FakeLlm, Reply},
    newest_mail_to,
    process::Proc,
};

/// Checks Prometheus text exposition; returns the metric family names.
fn parse_prometheus(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            assert!(
                matches!(parts.first(), Some(&"HELP" | &"TYPE")),
                "bad comment: {line}"
            );
            if parts[0] == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&parts[2]),
                    "{line}"
                );
                names.insert(parts[1].to_owned());
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name in {line}"
        );
        let rest = &line[name_end..];
        let value_part = if rest.starts_with('{') {
            // Label values are quoted and may hold escaped quotes and braces.
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = None;
            for (i, c) in rest.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_quotes = !in_quotes,
                    '}' if !in_quotes => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            &rest[end.unwrap_or_else(|| panic!("unclosed labels: {line}")) + 1..]
        } else {
            rest
        };
        let value = value_part.split_whitespace().next().unwrap_or_default();
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad value in {line}"
        );
    }
    names
}

/// Metric names used by a PromQL expression (functions, labels, keywords and numbers
/// removed).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 8] = [
        "by", "without", "on", "ignoring", "and", "or", "unless", "bool",
    ];
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    let mut cleaned = String::new();
    let (mut depth, mut quoted) = (0, false);
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            _ if quoted || depth > 0 => {}
            _ => cleaned.push(c),
        }
    }
    let mut names = BTreeSet::new();
    let chars: Vec<char> = cleaned.chars().collect();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if AGGREGATIONS.contains(&word.as_str()) {
                // an aggregation operator, with its grouping before or after its argument
            } else if KEYWORDS.contains(&word.as_str()) {
                after_grouping = matches!(word.as_str(), "by" | "without" | "on" | "ignoring");
            } else if next == Some(&'(') {
                // a function
            } else if !after_grouping {
                names.insert(word);
            }
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            // numbers, including exponents like 1e-9
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ".-".contains(chars[i])) {
                i += 1;
            }
            continue;
        }
        if c == ')' {
            after_grouping = false;
        }
        i += 1;
    }
    names
}

fn scan(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn a_full_flow_leaves_complete_metrics_valid_alerts_and_clean_logs() {
    let llm = FakeLlm::start().await;
    let mut overrides = llm.vars();
    overrides.push(("RATE_LIMIT_GENERATE", "2/3600".to_owned()));
    overrides.push(("JOB_RETRY_BASE_MS", "200".to_owned()));
    let vars = isolated_env(&overrides);
    let api = Proc::start("api", vars.clone()).await;
    let worker = Proc::start("worker", vars).await;
    let http = client();
    let url = |p: &str| format!("{}{p}", api.base);

    // Accounts: register, login, refresh, password reset by emailed code.
    let email = format!("{}@example.com", crate::support::unique("flow-"));
    let password = "first secret password";
    let reg: Value = http
        .post(url("/api/v1/auth/register"))
        .json(&json!({ "fullname": "Flow Tester", "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed: Value = http
        .post(url("/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": reg["refresh_token"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = refreshed["access_token"].as_str().unwrap().to_owned();
    let resp = http
        .post(url("/api/v1/auth/password/forgot"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body = newest_mail_to(&email, "Your password reset code", 0).await;
    let code: String = body
        .split_whitespace()
        .find(|w| {
            w.trim_end_matches('.').len() == 6
                && w.trim_end_matches('.').chars().all(|c| c.is_ascii_digit())
        })
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    let new_password = "second secret password";
    let resp = http
        .post(url("/api/v1/auth/password/reset"))
        .json(&json!({ "email": email, "code": code, "new_password": new_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let login: Value = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": new_password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token2 = login["access_token"].as_str().unwrap().to_owned();
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth(&token2);

    // A session, generation (one garbage reply, so one retry), an export, a refused request.
    let session: Value = auth(http.post(url("/api/v1/sessions")))
        .json(&json!({ "role": "Backend Developer", "experience": "senior", "topics": ["Rust"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = session["id"].as_str().unwrap();
    llm.script([Reply::Content("not json".to_owned()), Reply::Fresh(5)]);
    let wait_job = |id: String| {
        let http = http.clone();
        let url = url(&format!("/api/v1/jobs/{id}"));
        let token = token2.clone();
        async move {
            for _ in 0..300 {
                let job: Value = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if job["status"] == "succeeded" || job["status"] == "failed" {
                    return job;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("job {id} did not finish");
        }
    };
    let started: Value = auth(http.post(url(&format!("/api/v1/sessions/{sid}/generate"))))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = wait_job(started["job_id"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("succeeded"), Some(2)),
        "{job}"
    );
    let started: Value = auth(http.post(url(&format!("/api/v1/sessions/{sid}/exports"))))
        .json(&json!({ "format": "csv" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export = wait_job(started["job_id"].as_str().unwrap().to_owned()).await;
    let download = export["result"]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(http.get(&download).send().await.unwrap().status(), 200);
    for _ in 0..2 {
        auth(http.post(url(&format!("/api/v1/sessions/{sid}/generate"))))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
    }

    // Both processes' metrics parse and hold the promised series.
    let api_text = http
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // one reconciler pass for gauges
    let worker_text = http
        .get(format!("{}/metrics", worker.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut exported = parse_prometheus(&api_text);
    exported.extend(parse_prometheus(&worker_text));
    for series in [
        "http_requests_total{route=\"sessions_create\",method=\"POST\",status=\"201\"}",
        "http_request_duration_seconds_bucket{route=\"jobs_get\"",
        "rate_limit_refusals_total{policy=\"generate\"}",
        "mongodb_operation_duration_seconds_bucket{operation=\"sessions.insert\"",
        "redis_command_duration_seconds_bucket{op=\"rate_limit\"",
        "s3_request_duration_seconds_bucket{op=\"put\"",
    ] {
        assert!(
            api_text.contains(series) || worker_text.contains(series),
            "{series} missing"
        );
    }
    for series in [
        "queue_depth{queue=\"export\",state=\"waiting\"}",
        "jobs_finished_total{kind=\"generate_questions\",outcome=\"succeeded\"}",
        "job_duration_seconds_bucket{kind=\"export_session\"",
        "job_retries_total{kind=\"generate_questions\"}",
        "ai_tokens_total{kind=\"prompt\"}",
        "ai_cache_total{outcome=\"miss\"}",
        "s3_request_duration_seconds_bucket{op=\"put\"",
        "mongodb_operation_duration_seconds_bucket{operation=\"jobs.claim\"",
    ] {
        assert!(worker_text.contains(series), "worker: {series} missing");
    }

    // Every alert expression uses metrics these processes export.
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/prometheus/alerts.yml"
    ))
    .unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&rules).expect("alerts.yml is YAML");
    let groups = docs[0]["groups"].as_vec().expect("groups");
    let runbook =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RUNBOOK.md"))
            .unwrap();
    let mut alerts = 0;
    for group in groups {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name");
            let expr = rule["expr"].as_str().expect("expr");
            assert!(
                runbook.contains(&format!("## {name}")),
                "no runbook section for {name}"
            );
            let used = metric_names(expr);
            assert!(!used.is_empty(), "{name}: no metric in {expr}");
            for metric in used {
                let base = metric.trim_end_matches("_bucket");
                assert!(
                    exported.contains(base),
                    "{name} uses {metric}, which is not exported"
                );
            }
            alerts += 1;
        }
    }
    assert!(alerts >= 5);

    // Every query of the Grafana dashboard uses metrics these processes export.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/grafana/interview-prep.json"
        ))
        .unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let used = metric_names(expr);
            assert!(!used.is_empty(), "{}: no metric in {expr}", panel["title"]);
            for metric in used {
                let base = metric.trim_end_matches("_bucket");
                assert!(
                    exported.contains(base),
                    "panel {} uses {metric}, which is not exported",
                    panel["title"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries >= 15, "{queries} queries");

    // Logs: one line per request with its fields, one per job attempt; no secret anywhere.
    let (api_log, worker_log) = (api.log.clone(), worker.log.clone());
    for mut process in [api, worker] {
        process.signal(nix::sys::signal::Signal::SIGTERM);
        process.wait_exit(Duration::from_secs(30)).await;
    }
    let logs = format!("{}\n{}", scan(&api_log), scan(&worker_log));
    let signature = download
        .split("X-Amz-Signature=")
        .nth(1)
        .unwrap()
        .to_owned();
    let secrets = [
        password.to_owned(),
        new_password.to_owned(),
        reg["access_token"].as_str().unwrap().to_owned(),
        reg["refresh_token"].as_str().unwrap().to_owned(),
        refreshed["refresh_token"].as_str().unwrap().to_owned(),
        token,
        token2.clone(),
        code,
        signature,
    ];
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
    }
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.len() >= 10, "{} request lines", requests.len());
    let text = |v: &Value| v.to_string();
    for line in &requests {
        let s = text(line);
        for field in [
            "\"route\"",
            "\"status\"",
            "\"duration_ms\"",
            "\"request_id\"",
            "\"method\"",
        ] {
            assert!(s.contains(field), "{field} missing from {s}");
        }
    }
    let create = requests
        .iter()
        .find(|l| l["route"] == "sessions_create")
        .expect("a line for sessions_create");
    let create_text = text(create);
    assert!(create["span"]["user_id"].is_string(), "{create_text}");
    assert!(
        lines
            .iter()
            .filter(|l| l["message"] == "attempt started")
            .count()
            >= 3,
        "one line per job attempt"
    );
}
