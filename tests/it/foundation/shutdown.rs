use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{isolated_env, process::Proc};

/// SIGTERM while a request is in flight (its body still arriving): the request completes
/// with a real answer, new connections are refused, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_cleanly() {
    let mut api = Proc::start("api", isolated_env(&[])).await;
    let addr = api.base.trim_start_matches("http://").to_owned();

    let body = br#"{"email":"nobody@example.com","password":"wrong-password"}"#;
    let (first, rest) = body.split_at(10);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    api.signal(Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "new connections are still accepted after SIGTERM"
    );

    conn.write_all(rest).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "in-flight request did not complete normally: {response}"
    );

    let status = api.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "api exited with {status}");
}
