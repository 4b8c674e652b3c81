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
