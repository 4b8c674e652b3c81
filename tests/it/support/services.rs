//! Private service instances for tests that stop and restart a dependency (the shared stack
//! must stay up for every other test). Binaries come from the stack script's env file.

use std::{
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tempfile::TempDir;

use super::{free_port, stack_var, wait_until};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// secantusd-rs (MongoDB wire protocol).
    Mongo,
    /// redis-server.
    Redis,
    /// s3s-fs.
    S3,
}

/// A server process this test owns, restartable on the same port with the same data.
#[derive(Debug)]
pub struct Service {
    kind: Kind,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

/// Credentials of private S3 servers.
pub const S3_KEY: &str = "test-access-key";
/// Secret of private S3 servers.
pub const S3_SECRET: &str = "test-secret-key";

impl Service {
    /// Starts a fresh server of `kind`.
    pub async fn start(kind: Kind) -> Self {
        let mut service = Self {
            kind,
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        if kind == Kind::S3 {
            std::fs::create_dir_all(service.dir.path().join("exports")).expect("bucket dir");
        }
        service.resume().await;
        service
    }

    fn command(&self) -> Command {
        let dir = self.dir.path();
        let port = self.port.to_string();
        match self.kind {
            Kind::Mongo => {
                let mut c = Command::new(stack_var("SECANTUSD_BIN"));
                c.args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port,
                    "--cache-size",
                    "64M",
                ])
                // Honour the api's `j: true` write concern: fsync the log at each commit.
                .arg("--sync-on-commit")
                .args([
                    "--log-file-max",
                    "16MB",
                    "--log-level",
                    "ERROR",
                    "--storage-path",
                ])
                .arg(dir.join("mongo"));
                c
            }
            Kind::Redis => {
                let mut c = Command::new(stack_var("REDIS_SERVER_BIN"));
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                ])
                .args(["yes", "--maxmemory-policy", "noeviction"])
                // Fault tests stall the server with DEBUG SLEEP.
                .args(["--enable-debug-command", "local", "--dir"])
                .arg(dir);
                c
            }
            Kind::S3 => {
                let mut c = Command::new(stack_var("S3S_FS_BIN"));
                c.args(["--host", "127.0.0.1", "--port", &port])
                    .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
                    .arg(dir);
                c
            }
        }
    }

    /// (Re)starts the process on the same port and data directory, and waits for it.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = self
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", self.kind));
        self.child = Some(child);
        let port = self.port;
        wait_until(Duration::from_secs(30), || async move {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await
        .unwrap_or_else(|e| panic!("{:?} did not start: {e}", self.kind));
    }

    /// Kills the process and deletes its data (a failover to an empty replica, a restart
    /// without persistence); [`Service::resume`] then starts it empty.
    pub fn stop_and_wipe(&mut self) {
        self.stop();
        for entry in std::fs::read_dir(self.dir.path())
            .expect("data dir")
            .flatten()
        {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }

    /// Where it keeps its data.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Kills the process (SIGKILL: as abrupt as a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Points a deployment's `vars` at this server instead of the shared stack's.
    pub fn point(&self, vars: &mut std::collections::HashMap<String, String>) {
        vars.extend(self.vars().into_iter().map(|(k, v)| (k.to_owned(), v)));
    }

    /// Environment variables pointing a deployment at this server.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        match self.kind {
            Kind::Mongo => vec![(
                "MONGODB_URI",
                format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port),
            )],
            Kind::Redis => vec![("REDIS_URL", format!("redis://127.0.0.1:{}", self.port))],
            Kind::S3 => vec![
                ("S3_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
                ("S3_ACCESS_KEY_ID", S3_KEY.to_owned()),
                ("S3_SECRET_ACCESS_KEY", S3_SECRET.to_owned()),
                ("S3_BUCKET", "exports".to_owned()),
            ],
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}
