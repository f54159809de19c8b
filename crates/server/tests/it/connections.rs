//! Slow and greedy clients: connections that never finish their headers are capped per
//! address and closed by the header-read timeout, kept-alive connections that go quiet are
//! closed, and `/healthz` is answered throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cashless_server::listen::Limits;
use cashless_testkit::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::{Setup, TestApp};

fn address(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from another loopback address (Linux routes all of 127/8 to the loopback
/// interface), so the attacker's per-address cap is not the prober's.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Whether the server closed the connection within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn healthz(app: &TestApp) -> u16 {
    // A fresh connection each time: a pooled one may be the one the idle timeout is closing
    // at that very moment, and a request on it fails for that reason alone.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_or(0, |response| response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_finished_connections_do_not_take_the_server_down() {
    let setup = Setup {
        limits: Limits {
            // Long enough that sorting the 200 attackers below ends well within it, however
            // slow the machine.
            header_read: Duration::from_secs(5),
            idle: Duration::from_secs(3),
            connections_max: 1_000,
            connections_per_address_max: 40,
        },
        ..Setup::default()
    };
    let app = TestApp::spawn_with(TestDb::sqlite(), setup).await;
    let to = address(&app);

    // 200 connections from one address that start a request and never finish its headers.
    let mut attackers = Vec::new();
    for _ in 0..200 {
        let mut stream = connect_from([127, 0, 0, 2], to).await;
        // The server may already have closed a refused one.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: cashless\r\nx-slow: ")
            .await;
        attackers.push(stream);
    }
    assert_eq!(
        healthz(&app).await,
        200,
        "healthz answered under the attack"
    );

    // Past the per-address cap, connections were closed at once, unread. (All looked at
    // together: one after another, the last would be looked at after the header timeout.)
    let looks: Vec<_> = attackers
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let closed = closed_within(&mut stream, Duration::from_millis(300)).await;
                (!closed).then_some(stream)
            })
        })
        .collect();
    let mut held = Vec::new();
    for look in looks {
        held.extend(look.await.unwrap());
    }
    assert!(
        held.len() <= 40,
        "{} half-finished connections held from one address",
        held.len()
    );
    assert!(!held.is_empty(), "the first ones are served as any client");
    // The header-read timeout closes the rest.
    for stream in &mut held {
        assert!(closed_within(stream, Duration::from_secs(8)).await);
    }
    assert_eq!(healthz(&app).await, 200);

    // A kept-alive connection that goes quiet after its answer is closed too.
    let mut quiet = connect_from([127, 0, 0, 3], to).await;
    quiet
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: cashless\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let read = quiet.read(&mut answer).await.unwrap();
    assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    assert!(closed_within(&mut quiet, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A body trickled in slower than the idle timeout is cut off.
    let mut trickle = connect_from([127, 0, 0, 4], to).await;
    trickle
        .write_all(
            b"POST /v1/auth/sms-codes HTTP/1.1\r\nhost: cashless\r\n\
              content-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    assert!(closed_within(&mut trickle, Duration::from_secs(6)).await);
    app.stop().await;
}

/// The idle timeout is for a client that goes quiet, never for a handler that takes its time
/// (here a sign-in code whose SMS gateway answers after 2.5 s, with a 1 s idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_is_answered_past_the_idle_timeout() {
    let setup = Setup {
        limits: Limits {
            // Long enough that sorting the 200 attackers below ends well within it, however
            // slow the machine.
            header_read: Duration::from_secs(5),
            idle: Duration::from_secs(1),
            ..Limits::default()
        },
        sms_latency: Duration::from_millis(2_500),
        ..Setup::default()
    };
    let app = TestApp::spawn_with(TestDb::sqlite(), setup).await;
    let started = Instant::now();
    let (status, body) = app
        .post(
            "/v1/auth/sms-codes",
            &serde_json::json!({ "phone": "+8613700001111" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the gateway's latency was waited for"
    );
    app.stop().await;
}
