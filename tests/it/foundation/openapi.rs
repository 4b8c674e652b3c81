use std::path::PathBuf;

use crate::support::TestApp;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// The committed document must equal what the code serves; regenerate it with
/// `scripts/update-openapi.sh` after changing an operation.
#[tokio::test]
async fn committed_openapi_document_matches_the_served_one() {
    let app = TestApp::spawn().await;
    let served = app.get("/openapi.json").await.text().await.unwrap();
    assert_eq!(
        served,
        api::openapi_json(),
        "served document differs from the code's"
    );
    let path = snapshot_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json is out of date with the code. Refresh it with:\n\n    scripts/update-openapi.sh\n"
    );
}

/// Client generators show the summary as a one-line title and the description as the doc
/// comment; `uint64` becomes a 32-bit integer in some of them.
#[test]
fn every_operation_is_summarised_described_and_documents_its_headers() {
    let raw = api::openapi_json();
    assert!(!raw.contains("uint64"), "a uint64 format is left");
    let doc: serde_json::Value = serde_json::from_str(&raw).unwrap();
    // No `allOf` only wraps a `$ref` to carry a description (an extra model class in
    // generators); unions keep theirs (the discriminator's value beside the variant).
    let described_refs = raw.matches("\"allOf\"").count();
    let union_parts = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .values()
        .filter(|s| s["allOf"].is_array())
        .count();
    assert_eq!(
        described_refs, union_parts,
        "an allOf wrapper outside the schemas is left"
    );
    assert_eq!(doc["info"]["license"]["name"], "MIT");
    assert!(doc["info"]["version"].as_str().unwrap().contains('+'));
    assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["headers"]["x-request-id"].is_object(),
                    "{method} {path} {status}: x-request-id"
                );
                if path.starts_with("/api/") {
                    assert!(
                        response["headers"]["RateLimit"].is_object(),
                        "{method} {path} {status}: RateLimit"
                    );
                }
            }
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty() && summary.chars().count() <= 80 && !summary.contains('\n'),
                "{method} {path}: summary {summary:?}"
            );
            let description = op["description"].as_str().unwrap_or_default();
            assert!(
                description.len() >= summary.len(),
                "{method} {path}: no description"
            );
        }
    }
}

/// Examples a client developer can read: on every schema, and on every operation's JSON
/// request and responses; each is valid against its own schema.
#[test]
fn every_schema_and_operation_has_a_valid_example() {
    let doc: serde_json::Value = serde_json::from_str(&api::openapi_json()).unwrap();
    let components = doc["components"].clone();
    let check = |what: &str, schema: &serde_json::Value, example: &serde_json::Value| {
        assert!(!example.is_null(), "{what}: no example");
        let root = serde_json::json!({ "allOf": [schema], "components": components });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(example)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: example {example} is invalid: {errors:?}"
        );
    };
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        check(&format!("schema {name}"), schema, &schema["example"]);
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for media in content.values() {
                    check(
                        &format!("{method} {path} request"),
                        &media["schema"],
                        &media["example"],
                    );
                }
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                for (kind, media) in response["content"].as_object().into_iter().flatten() {
                    if kind.contains("json") && media["schema"].is_object() {
                        check(
                            &format!("{method} {path} {status}"),
                            &media["schema"],
                            &media["example"],
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_operation_has_an_id_a_tag_and_documented_errors() {
    let doc: serde_json::Value = serde_json::from_str(&api::openapi_json()).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{id} documents no success response"
            );
            if path.starts_with("/api/") {
                assert!(
                    responses.keys().any(|code| code.starts_with('4')),
                    "{id} documents no error response"
                );
            }
        }
    }
}
