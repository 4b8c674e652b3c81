use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{client, isolated_env, process::Proc};

/// Two worker processes on the same queues run side by side (apalis refuses duplicate
/// worker names), each serving health and metrics, and each stops cleanly on SIGTERM.
#[tokio::test]
async fn workers_serve_health_and_metrics_and_stop_on_sigterm() {
    let vars = isolated_env(&[]);
    let mut first = Proc::start("worker", vars.clone()).await;
    let mut second = Proc::start("worker", vars).await;
    let http = client();
    for worker in [&first, &second] {
        let ready = http
            .get(format!("{}/health/ready", worker.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let metrics = http
            .get(format!("{}/metrics", worker.base))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.text().await.unwrap().contains("dependency_up"));
    }
    for worker in [&mut first, &mut second] {
        worker.signal(Signal::SIGTERM);
        let status = worker.wait_exit(Duration::from_secs(30)).await;
        assert!(status.success(), "worker exited with {status}");
    }
}

/// `--help` works on a machine with no configuration at all, and lists the commands.
#[test]
fn both_binaries_explain_themselves_without_any_environment() {
    for (name, command) in [("api", "create-indexes"), ("worker", "consume every queue")] {
        let out = std::process::Command::new(crate::support::binary(name))
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{name} --help: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage:") && text.contains(command), "{text}");
        assert!(text.contains(".env.example"), "{text}");
        let version = std::process::Command::new(crate::support::binary(name))
            .arg("--version")
            .env_clear()
            .output()
            .unwrap();
        assert!(String::from_utf8(version.stdout).unwrap().starts_with(name));
    }
}
