use std::time::Duration;

use bson::doc;
use serde_json::{Value, json};

use super::{download, export, seeded_session, start_export};
use crate::support::{
    TestApp, assert_problem, isolated_env,
    services::{Kind, Service},
};

async fn export_count(app: &TestApp) -> u64 {
    app.db()
        .await
        .collection::<bson::Document>("exports")
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test]
async fn links_expire_resist_tampering_and_belong_to_their_owner() {
    let app = TestApp::spawn_with(isolated_env(&[("EXPORT_URL_TTL_SECS", "2".to_owned())])).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let other = app.register().await;
    let (sid, _) = seeded_session(&app, &me.access).await;
    let job = export(&app, &me.access, &sid, "csv").await;
    let url = job["result"]["download_url"].as_str().unwrap().to_owned();
    assert_eq!(download(&url).await.status(), 200);

    // A new link on every read.
    let again = app
        .get_json(
            &me.access,
            &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
        )
        .await;
    assert!(again["result"]["download_url"].is_string());

    // Tampering with the key or the signature is refused.
    let tampered_key = url.replacen(".csv?", ".pdf?", 1);
    assert!(download(&tampered_key).await.status().is_client_error());
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered_sig = url.clone();
    let flipped = if &url[sig_at..=sig_at] == "a" {
        "b"
    } else {
        "a"
    };
    tampered_sig.replace_range(sig_at..=sig_at, flipped);
    assert!(download(&tampered_sig).await.status().is_client_error());

    // Another user cannot see the job; after the TTL the link is refused.
    let id = job["id"].as_str().unwrap();
    assert_problem(
        app.get_as(&other.access, &format!("/api/v1/jobs/{id}"))
            .await,
        404,
    )
    .await;
    assert_problem(
        app.post_as(
            &other.access,
            &format!("/api/v1/sessions/{sid}/exports"),
            &json!({ "format": "csv" }),
        )
        .await,
        404,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(download(&url).await.status(), 403);
}

#[tokio::test]
async fn with_s3_down_an_export_retries_then_fails_clearly_and_leaves_nothing() {
    let mut s3 = Service::start(Kind::S3).await;
    let mut overrides: Vec<(&str, String)> = s3.vars();
    overrides.push(("JOB_RETRY_BASE_MS", "300".to_owned()));
    let app = TestApp::spawn_with(isolated_env(&overrides)).await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, _) = seeded_session(&app, &me.access).await;

    s3.stop();
    let job = export(&app, &me.access, &sid, "xlsx").await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("failed"), Some(3)),
        "{job}"
    );
    assert_eq!(job["error"], "the file store did not accept the export");
    let attempts = job["attempts"].as_array().unwrap();
    let at = |i: usize, k: &str| {
        bson::DateTime::parse_rfc3339_str(attempts[i][k].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert!(
        at(1, "started_at") - at(0, "finished_at") >= 200,
        "backed off"
    );
    assert!(job["result"].is_null());
    assert_eq!(export_count(&app).await, 0);

    // Nothing was stored; with S3 back, the next export works.
    s3.resume().await;
    let storage = common::storage::Storage::new(
        &common::config::CommonConfig::from_env(&common::config::Env::from_map(app.vars.clone()))
            .unwrap()
            .s3,
    );
    let listed = storage
        .client()
        .list_objects_v2()
        .bucket(storage.bucket())
        .prefix("exports/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "no partial object");
    let job = export(&app, &me.access, &sid, "xlsx").await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

#[tokio::test]
async fn expiry_and_deletions_remove_objects_and_records() {
    let app = TestApp::spawn_with(isolated_env(&[
        ("RECONCILE_INTERVAL_SECS", "1".to_owned()),
        ("RATE_LIMIT_EXPORT", "3/600".to_owned()),
    ]))
    .await;
    let _worker = app.spawn_worker().await;
    let me = app.register().await;
    let (sid, _) = seeded_session(&app, &me.access).await;

    // Expiry: an export past its time loses its object and record.
    let old = export(&app, &me.access, &sid, "csv").await;
    let old_url = old["result"]["download_url"].as_str().unwrap().to_owned();
    app.db()
        .await
        .collection::<bson::Document>("exports")
        .update_one(
            doc! { "job_id": old["id"].as_str().unwrap() },
            doc! { "$set": { "expires_at": bson::DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    let path = format!("/api/v1/jobs/{}", old["id"].as_str().unwrap());
    crate::support::wait_until(Duration::from_secs(15), || async {
        app.get_json(&me.access, &path).await["result"]["expired"] == true
    })
    .await
    .unwrap();
    let view = app.get_json(&me.access, &path).await;
    assert!(view["result"]["download_url"].is_null());
    assert_eq!(download(&old_url).await.status(), 404, "the object is gone");
    assert_eq!(export_count(&app).await, 0);

    // Deleting the session deletes its exports.
    let kept = export(&app, &me.access, &sid, "docx").await;
    let kept_url = kept["result"]["download_url"].as_str().unwrap().to_owned();
    assert_eq!(export_count(&app).await, 1);
    assert_eq!(
        app.delete_as(&me.access, &format!("/api/v1/sessions/{sid}"))
            .await
            .status(),
        204
    );
    assert_eq!(export_count(&app).await, 0);
    assert_eq!(download(&kept_url).await.status(), 404);

    // The export limit: 3 per 10 minutes here, the fourth is refused.
    let (sid, _) = seeded_session(&app, &me.access).await;
    start_export(&app, &me.access, &sid, "csv").await;
    let resp = app
        .post_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/exports"),
            &json!({ "format": "csv" }),
        )
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_problem(resp, 429).await;
    let bad: Value = assert_problem(
        app.post_as(
            &me.access,
            &format!("/api/v1/sessions/{sid}/exports"),
            &json!({ "format": "odt" }),
        )
        .await,
        400,
    )
    .await;
    assert!(bad["errors"].is_array());
}
