//! `vg-probe`: the container's health check and `preStop` hook, for an image with no shell and no
//! curl (distroless). Standard library only; built in the image's build stage with the pinned
//! toolchain (`rustc -O --edition 2024 deploy/probe/vg-probe.rs`), and by `tests/deploy.rs` with the
//! same command.
//!
//! ```text
//! vg-probe health [URL]                  GET URL (default http://127.0.0.1:$PORT/healthz); exit 0 on 200
//! vg-probe drain [--pid N] [--wait-secs S] [URL]
//!                                        SIGTERM to N (default 1, the server in its container),
//!                                        then wait up to S seconds (default 10) until URL (default
//!                                        http://127.0.0.1:$PORT/readyz) answers 503 or the server
//!                                        is gone; exit 0 once drain has started
//! ```
//! `$PORT` is `VOICEGATE__SERVER__PORT` when set (the container's own environment), else 8080.
//! Plain HTTP only: with native TLS (`server.tls`) use the orchestrator's HTTPS probes instead.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One request's budget: a probe that hangs is a failed probe.
const TIMEOUT: Duration = Duration::from_secs(2);
/// SIGTERM on Linux.
const SIGTERM: i32 = 15;

unsafe extern "C" {
    /// libc's kill(2); std links libc already.
    fn kill(pid: i32, sig: i32) -> i32;
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = std::env::var("VOICEGATE__SERVER__PORT").unwrap_or_else(|_| "8080".into());
    match args.first().map(String::as_str) {
        Some("health") => {
            let url = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| format!("http://127.0.0.1:{port}/healthz"));
            match status(&url) {
                Ok(200) => ExitCode::SUCCESS,
                Ok(code) => {
                    eprintln!("vg-probe: {url} answered {code}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("vg-probe: {url}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("drain") => {
            let mut pid = 1;
            let mut wait = Duration::from_secs(10);
            let mut url = format!("http://127.0.0.1:{port}/readyz");
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                match (arg.as_str(), rest.clone().next()) {
                    ("--pid", Some(v)) => {
                        pid = v.parse().unwrap_or(1);
                        rest.next();
                    }
                    ("--wait-secs", Some(v)) => {
                        wait = Duration::from_secs(v.parse().unwrap_or(10));
                        rest.next();
                    }
                    (other, _) => url = other.to_owned(),
                }
            }
            drain(pid, wait, &url)
        }
        _ => {
            eprintln!("usage: vg-probe health [URL] | vg-probe drain [--pid N] [--wait-secs S] [URL]");
            ExitCode::from(2)
        }
    }
}

/// Start the server's drain (the same SIGTERM the orchestrator sends; a second one is ignored),
/// then wait until readiness says so, so that the load balancer has seen it before the hook ends.
fn drain(pid: i32, wait: Duration, url: &str) -> ExitCode {
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { kill(pid, SIGTERM) } != 0 {
        eprintln!("vg-probe: SIGTERM to {pid}: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    let until = Instant::now() + wait;
    while Instant::now() < until {
        match status(url) {
            // Draining, or already gone: either way no new call will be taken.
            Ok(503) | Err(_) => return ExitCode::SUCCESS,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    eprintln!("vg-probe: {url} still ready after {} s", wait.as_secs());
    ExitCode::FAILURE
}

/// The status code of `GET url` (http:// only).
fn status(url: &str) -> std::io::Result<u16> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(|| bad("only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| bad("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: vg-probe\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("not an HTTP response"))
}
