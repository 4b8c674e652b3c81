//! Deployment files: `render.yaml` against Render's published Blueprint schema and against the
//! variables the binaries really read, and the Dockerfile through hadolint.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use common::config::Env;
use serde_json::{Map, Value, json};
use yaml_rust2::{Yaml, YamlLoader};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// YAML as JSON, the way Render reads a Blueprint (all keys are strings).
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(r) => json!(r.parse::<f64>().expect("a YAML real is a number")),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = k.as_str().expect("Blueprint keys are strings").to_owned();
                    (key, to_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Yaml::Null => Value::Null,
        other => panic!("unexpected YAML node {other:?}"),
    }
}

fn blueprint() -> Value {
    let docs = YamlLoader::load_from_str(&read("render.yaml")).expect("render.yaml is YAML");
    assert_eq!(docs.len(), 1, "render.yaml holds one document");
    to_json(&docs[0])
}

fn blueprint_errors(blueprint: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(&read("tests/data/render-blueprint.schema.json"))
        .expect("the vendored schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(blueprint)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn render_blueprint_is_valid_against_renders_schema() {
    let doc = blueprint();
    let errors = blueprint_errors(&doc);
    assert!(errors.is_empty(), "render.yaml: {errors:#?}");

    // The validator is not vacuous: a misspelt field and a wrong type are caught.
    let mut broken = doc.clone();
    broken["services"][0]["autoscaling"] = json!({"min": 2});
    broken["services"][0]["maxShutdownDelaySeconds"] = json!(900);
    assert!(
        !blueprint_errors(&broken).is_empty(),
        "the schema should reject an unknown field and an out-of-range delay"
    );
}

fn service<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["type"] == kind)
        .unwrap_or_else(|| panic!("render.yaml has no {kind} service"))
}

fn env_var<'a>(service: &'a Value, key: &str) -> &'a Value {
    service["envVars"]
        .as_array()
        .expect("envVars")
        .iter()
        .find(|v| v["key"] == key)
        .unwrap_or_else(|| panic!("{} does not declare {key}", service["name"]))
}

#[test]
fn render_blueprint_scales_and_protects_the_queues() {
    let doc = blueprint();
    let api = service(&doc, "web");
    assert_eq!(api["healthCheckPath"], "/health/live");
    assert_eq!(
        api["scaling"],
        json!({"minInstances": 2, "maxInstances": 10, "targetCPUPercent": 70, "targetMemoryPercent": 80})
    );
    assert_eq!(api["preDeployCommand"], "/app/api create-indexes");

    // A private service: no public traffic, but its /metrics can be scraped on the
    // private network (a background worker accepts no inbound connection).
    let worker = service(&doc, "pserv");
    assert!(worker.get("healthCheckPath").is_none());
    assert!(worker["numInstances"].as_u64().unwrap_or(0) >= 3 || worker.get("scaling").is_some());

    let kv = service(&doc, "keyvalue");
    assert_eq!(
        kv["maxmemoryPolicy"], "noeviction",
        "queues must never be evicted"
    );
    assert!(kv["ipAllowList"].is_array());

    for svc in [api, worker] {
        let redis = env_var(svc, "REDIS_URL");
        assert_eq!(redis["fromService"]["type"], "keyvalue");
        assert_eq!(redis["fromService"]["name"], kv["name"]);
        assert_eq!(redis["fromService"]["property"], "connectionString");
        // Secrets are asked for when the Blueprint is applied, never written in it.
        for secret in ["MONGODB_URI", "S3_SECRET_ACCESS_KEY"] {
            let var = env_var(svc, secret);
            assert_eq!(var["sync"], false, "{secret} must be sync: false");
            assert!(var.get("value").is_none(), "{secret} must have no value");
        }
    }
    assert_eq!(env_var(api, "JWT_SECRET")["generateValue"], true);
    for secret in ["SMTP_PASSWORD", "AI_API_KEY"] {
        assert_eq!(env_var(worker, secret)["sync"], false);
    }
}

/// The variables a binary reads: its config asked for, with every variable of
/// `.env.example` present (so no branch skips a read). `RUST_LOG` is read by the log filter.
fn variables_read(load: impl Fn(&Env)) -> BTreeSet<String> {
    let mut map: HashMap<String, String> = read(".env.example")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    map.insert("JWT_SECRET".into(), "x".repeat(48));
    let env = Env::from_map(map);
    load(&env);
    let mut names: BTreeSet<String> = env.names_asked().into_iter().collect();
    names.insert("RUST_LOG".into());
    // Render sets these itself.
    names.retain(|n| !n.starts_with("RENDER_"));
    names
}

fn declared(doc: &Value, svc: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for var in svc["envVars"].as_array().expect("envVars") {
        if let Some(key) = var["key"].as_str() {
            keys.insert(key.to_owned());
        }
        if let Some(group) = var["fromGroup"].as_str() {
            let group = doc["envVarGroups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["name"] == group))
                .unwrap_or_else(|| panic!("envVarGroup {group} is not defined"));
            for v in group["envVars"].as_array().expect("group envVars") {
                keys.insert(v["key"].as_str().expect("key").to_owned());
            }
        }
    }
    keys
}

#[test]
fn render_blueprint_and_env_example_declare_every_variable_the_binaries_read() {
    let api_reads = variables_read(|env| {
        api::config::ApiConfig::from_env(env).expect("api config from .env.example");
    });
    let worker_reads = variables_read(|env| {
        worker::config::WorkerConfig::from_env(env).expect("worker config from .env.example");
    });
    assert!(api_reads.contains("JWT_SECRET") && worker_reads.contains("AI_API_KEY"));

    let doc = blueprint();
    for (svc, reads) in [
        (service(&doc, "web"), &api_reads),
        (service(&doc, "pserv"), &worker_reads),
    ] {
        let keys = declared(&doc, svc);
        let missing: Vec<_> = reads.difference(&keys).collect();
        let unknown: Vec<_> = keys.difference(reads).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{}: read but not declared {missing:?}; declared but never read {unknown:?}",
            svc["name"]
        );
    }

    let example: BTreeSet<String> = read(".env.example")
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let missing: Vec<_> = api_reads
        .union(&worker_reads)
        .filter(|n| !example.contains(*n))
        .collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
}

#[test]
fn dockerfile_passes_hadolint_and_runs_unprivileged() {
    let hadolint =
        std::env::var("HADOLINT_BIN").expect("HADOLINT_BIN is set by scripts/stack.sh (stack.env)");
    let out = std::process::Command::new(&hadolint)
        .arg("--no-color")
        .arg(repo_file("Dockerfile"))
        .output()
        .unwrap_or_else(|e| panic!("running {hadolint}: {e}"));
    assert!(
        out.status.success(),
        "hadolint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "a multi-stage build");
    let last_stage = instructions
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("FROM");
    let runtime = &instructions[last_stage..];
    assert!(runtime[0].contains("-slim"), "a slim runtime image");
    let user = runtime
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("the runtime stage sets USER");
    assert!(
        !matches!(
            user.trim_start_matches("USER ").split(':').next(),
            Some("root" | "0")
        ),
        "the runtime user is not root"
    );
    assert!(runtime.iter().any(|l| l.starts_with("HEALTHCHECK ")));
    assert!(runtime.iter().any(|l| l.starts_with("COPY --from=build")));
    // Every binary the blueprint starts exists in the image.
    let doc = blueprint();
    for kind in ["web", "pserv"] {
        let cmd = service(&doc, kind)["dockerCommand"]
            .as_str()
            .expect("dockerCommand");
        let binary = cmd.split_whitespace().next().expect("command");
        let name = binary.trim_start_matches("/app/");
        assert!(
            runtime
                .iter()
                .any(|l| l.starts_with("COPY --from=build") && l.contains(&format!("/{name}"))),
            "the image does not contain {binary}"
        );
    }
}
