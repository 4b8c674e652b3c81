//! The real `api` and `worker` binaries as child processes (for signals and crashes).

use std::{
    collections::HashMap,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};

use super::{binary, client, free_port, wait_until};

/// A child process running one of the workspace binaries.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// `http://127.0.0.1:port` of its HTTP server (the api, or the worker's health server).
    pub base: String,
    /// Its standard output (the JSON log lines).
    pub log: std::path::PathBuf,
    /// The variables it was started with.
    pub vars: HashMap<String, String>,
}

impl Proc {
    /// Starts `name` (`api` or `worker`) with `vars` and waits until it is live.
    pub async fn start(name: &str, mut vars: HashMap<String, String>) -> Self {
        let port = free_port();
        let port_var = if name == "api" {
            "PORT"
        } else {
            "WORKER_HEALTH_PORT"
        };
        vars.insert(port_var.into(), port.to_string());
        vars.insert("HOST".into(), "127.0.0.1".into());
        vars.insert("WORKER_HEALTH_HOST".into(), "127.0.0.1".into());
        let log = std::env::temp_dir().join(format!("{name}-{port}.log"));
        let child = Command::new(binary(name))
            .env_clear()
            .envs(&vars)
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log file")))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let proc = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.clone(),
            vars,
        };
        let http = client();
        let url = format!("{}/health/live", proc.base);
        wait_until(Duration::from_secs(30), || {
            let http = http.clone();
            let url = url.clone();
            async move { matches!(http.get(&url).send().await, Ok(r) if r.status() == 200) }
        })
        .await
        .unwrap_or_else(|e| panic!("{name} did not become live: {e} (log: {})", log.display()));
        proc
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: signal::Signal) {
        let pid = i32::try_from(self.pid()).expect("pid fits");
        signal::kill(Pid::from_raw(pid), sig).expect("kill");
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
