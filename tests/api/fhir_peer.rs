//! [`FhirPeer`]: a real in-memory FHIR R4 server (Medplum's fhir-router under
//! `tests/peers/fhir/server.mjs`) as a child process, one per test.
//!
//! Needs Node 20+ and `npm ci --prefix tests/peers/fhir --no-audit --no-fund` (`.ci/run` does it).
//! Without `node_modules`, [`FhirPeer::start`] skips the test with a message, except under `CI`,
//! where it panics: a CI run that silently skips the FHIR suite would prove nothing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use url::Url;

/// How long the peer may take to print `ready` (about 0.75 s normally; generous for a loaded CI).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// The install command, also printed in skip and panic messages.
pub const INSTALL: &str = "npm ci --prefix tests/peers/fhir --no-audit --no-fund";

/// A running FHIR peer. Killed on drop (and it exits by itself when its stdin closes, so a
/// crashed test process leaves no orphan).
pub struct FhirPeer {
    /// Held for `kill_on_drop`.
    _child: Child,
    /// Held open: the peer exits when it closes.
    _stdin: ChildStdin,
    base_url: Url,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl FhirPeer {
    /// Starts a fresh, empty peer on a free port and waits for its `ready <port>` line.
    /// `None` (with a printed reason) when the peer is not installed outside CI.
    pub async fn start() -> Option<FhirPeer> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fhir");
        if !dir.join("node_modules/@medplum/fhir-router").is_dir() {
            if std::env::var_os("CI").is_some() {
                panic!("the FHIR test peer is not installed: run `{INSTALL}` (needs Node 20+) before the tests");
            }
            eprintln!("skipped: FHIR test peer not installed; run `{INSTALL}` to include the FHIR tests");
            return None;
        }
        let mut child = match Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: cannot run `node` for the FHIR test peer ({e})");
                return None;
            }
            Err(e) => panic!("cannot run `node` for the FHIR test peer: {e}"),
        };
        let stdin = child.stdin.take().expect("stdin was piped above");
        let stdout = child.stdout.take().expect("stdout was piped above");
        let mut lines = BufReader::new(stdout).lines();
        let port: u16 = tokio::time::timeout(STARTUP_LIMIT, async {
            while let Some(line) = lines.next_line().await.expect("read the FHIR peer's stdout") {
                if let Some(port) = line.strip_prefix("ready ") {
                    return port.trim().parse().expect("the peer prints a port number");
                }
            }
            panic!("the FHIR peer exited before it was ready (see its stderr above)");
        })
        .await
        .expect("the FHIR peer did not become ready in time");
        // Keep draining stdout so the peer never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base_url = Url::parse(&format!("http://127.0.0.1:{port}/fhir/R4")).expect("a valid URL");
        Some(FhirPeer {
            _child: child,
            _stdin: stdin,
            base_url,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// `http://127.0.0.1:<port>/fhir/R4` (no trailing slash, as an operator would write it).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// One request; the status and the JSON body (`Null` when empty).
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let uri = format!("{}/{path}", self.base_url);
        let mut builder = Request::builder().method(method).uri(uri);
        let payload = match body {
            Some(b) => {
                builder = builder.header("content-type", "application/fhir+json");
                Bytes::from(serde_json::to_vec(b).expect("serialise JSON"))
            }
            None => Bytes::new(),
        };
        let response = self
            .client
            .request(builder.body(Full::new(payload)).expect("a valid request"))
            .await
            .expect("the FHIR peer answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("read the body").to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("the FHIR peer answers JSON")
        };
        (status, json)
    }

    /// POSTs a resource (`resourceType` inside) and returns its id.
    pub async fn create(&self, resource: Value) -> String {
        let ty = resource["resourceType"].as_str().expect("resourceType").to_owned();
        let (status, body) = self.request(Method::POST, &ty, Some(&resource)).await;
        assert_eq!(status, StatusCode::CREATED, "seeding {ty} failed: {body}");
        body["id"].as_str().expect("created id").to_owned()
    }

    /// Reads `<type>/<id>`; panics unless it exists.
    pub async fn read(&self, ty: &str, id: &str) -> Value {
        let (status, body) = self.request(Method::GET, &format!("{ty}/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "reading {ty}/{id}: {body}");
        body
    }

    /// A search (`query` already encoded); the matched resources.
    pub async fn search(&self, ty: &str, query: &str) -> Vec<Value> {
        let (status, body) = self.request(Method::GET, &format!("{ty}?{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "searching {ty}: {body}");
        body["entry"]
            .as_array()
            .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
            .unwrap_or_default()
    }
}
