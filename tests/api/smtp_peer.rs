//! [`SmtpPeer`]: a real SMTP server (aiosmtpd, `../shared/TEST-PEERS.md` §7) as a child process,
//! one per test, so mail tests are isolated and run in parallel.
//!
//! It exists so that what we send by mail is checked the way a mail server sees it: a real SMTP
//! dialogue (EHLO, STARTTLS, MAIL/RCPT/DATA), and the stored message parsed back from its MIME form
//! (transfer encodings, RFC 2047 headers), not a mock transport that sees only our own structs.
//!
//! Needs Python with `aiosmtpd` (`.ci/run` installs it and sets `VOICEGATE_TEST_SMTP_PYTHON`);
//! [`SmtpPeer::start_tls`] also needs `openssl`. Without them the peer skips the test with a
//! message, except under `CI`, where it panics: a CI run that silently skips the mail tests would
//! prove nothing.

// Not every test uses every helper (a plain-SMTP test never reads `ca_file`, say).
#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long aiosmtpd may take to answer its first `220` (about 0.3 s normally; generous for a
/// loaded CI with the whole suite running in parallel).
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// Interval between readiness (and [`SmtpPeer::wait_for`]) polls.
const POLL: Duration = Duration::from_millis(50);

/// How long one readiness probe waits for the greeting before it counts as "not yet".
const GREETING_LIMIT: Duration = Duration::from_secs(2);

/// Free-port attempts: the port is found by binding port 0 and released before aiosmtpd binds
/// it, so another process can take it in between; aiosmtpd then exits and we try a new port.
const PORT_ATTEMPTS: usize = 3;

/// The Python interpreter that has `aiosmtpd`, or `None` (with a printed reason) outside CI.
pub fn smtp_python() -> Option<String> {
    match std::env::var("VOICEGATE_TEST_SMTP_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must provide aiosmtpd: VOICEGATE_TEST_SMTP_PYTHON is not set")
        }
        _ if python_has_aiosmtpd("python3") => Some("python3".to_owned()),
        _ => {
            eprintln!("SKIPPED (SMTP): aiosmtpd is not installed; `.ci/run` shows how to install it");
            None
        }
    }
}

fn python_has_aiosmtpd(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A running aiosmtpd that stores every mail it accepts in a maildir. Killed on drop.
pub struct SmtpPeer {
    /// On 127.0.0.1.
    pub port: u16,
    /// Holds `maildir/` (aiosmtpd's Mailbox handler), the server's log and, for TLS, the
    /// certificates; removed on drop.
    maildir: tempfile::TempDir,
    child: Child,
    /// For [`SmtpPeer::start_tls`]: the PEM (a test CA) that a client must trust. The server's
    /// certificate is for `localhost` and `127.0.0.1`.
    pub ca_file: Option<PathBuf>,
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One stored mail, parsed back.
#[derive(Debug, Clone)]
pub struct Mail {
    /// In order, values decoded per RFC 2047 (aiosmtpd adds `X-Peer`, `X-MailFrom`, `X-RcptTo`).
    pub headers: Vec<(String, String)>,
    /// The decoded `text/plain` part (or the whole body if not multipart), CRLF normalised to `\n`.
    pub body: String,
    /// The decoded `text/html` part, if any, CRLF normalised to `\n`.
    pub html: Option<String>,
}

impl Mail {
    /// The first header of that name (case-insensitive), decoded per RFC 2047.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl SmtpPeer {
    /// Plain SMTP (no TLS) on a free port of 127.0.0.1, ready (it has sent its `220` greeting).
    /// `None` (with a printed reason) when aiosmtpd is not installed, outside CI.
    pub async fn start() -> Option<SmtpPeer> {
        let python = smtp_python()?;
        let dir = tempfile::tempdir().expect("a temporary folder for the SMTP peer");
        Some(Self::launch(&python, dir, &[], None).await)
    }

    /// SMTP with STARTTLS, required before AUTH or MAIL (aiosmtpd's default once it has a
    /// certificate; `--no-requiretls` would turn that off). The server's certificate is for
    /// `localhost` and `127.0.0.1`, issued by a throwaway CA whose PEM is [`SmtpPeer::ca_file`].
    /// `None` (with a printed reason) when aiosmtpd or `openssl` is missing, outside CI.
    pub async fn start_tls() -> Option<SmtpPeer> {
        let python = smtp_python()?;
        if !openssl_available() {
            if std::env::var_os("CI").is_some() {
                panic!("CI must provide `openssl` for the STARTTLS SMTP peer");
            }
            eprintln!("SKIPPED (SMTP): `openssl` is not installed; the STARTTLS peer needs it");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder for the SMTP peer");
        let (ca, cert, key) = make_certificates(dir.path());
        let args = [
            "--tlscert".to_owned(),
            cert.display().to_string(),
            "--tlskey".to_owned(),
            key.display().to_string(),
        ];
        Some(Self::launch(&python, dir, &args, Some(ca)).await)
    }

    async fn launch(python: &str, dir: tempfile::TempDir, extra: &[String], ca_file: Option<PathBuf>) -> SmtpPeer {
        // Mailbox creates new/, cur/ and tmp/ only when it creates the folder itself.
        let maildir = dir.path().join("maildir");
        let log_path = dir.path().join("aiosmtpd.log");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let log = File::create(&log_path).expect("create the SMTP peer's log");
            let mut child = Command::new(python)
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
                .args(extra)
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run `{python} -m aiosmtpd`: {e}"));
            match wait_ready(&mut child, port).await {
                Ok(()) => {
                    return SmtpPeer {
                        port,
                        maildir: dir,
                        child,
                        ca_file,
                    };
                }
                Err(Exited(status)) => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    if attempt < PORT_ATTEMPTS && log.contains("Address already in use") {
                        continue;
                    }
                    panic!("aiosmtpd exited ({status}) before it was ready on port {port}:\n{log}");
                }
                Err(TimedOut) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("aiosmtpd did not greet with 220 on port {port} within {STARTUP_LIMIT:?}:\n{log}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Every stored mail (`maildir/new/` and `cur/`), sorted by its `Date` header, then file name.
    pub fn messages(&self) -> Vec<Mail> {
        let maildir = self.maildir.path().join("maildir");
        let mut files: Vec<(Option<i64>, String, Mail)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                continue;
            };
            for entry in entries {
                let entry = entry.expect("list the maildir");
                let raw = std::fs::read(entry.path()).expect("read a stored mail");
                let parsed = mailparse::parse_mail(&raw)
                    .unwrap_or_else(|e| panic!("stored mail {:?} is not MIME: {e}", entry.path()));
                let date = parsed
                    .headers
                    .iter()
                    .find(|h| h.get_key_ref().eq_ignore_ascii_case("Date"))
                    .and_then(|h| mailparse::dateparse(&h.get_value()).ok());
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((date, name, to_mail(&parsed)));
            }
        }
        files.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        files.into_iter().map(|(_, _, mail)| mail).collect()
    }

    /// Polls [`SmtpPeer::messages`] until at least `n` are stored or `deadline` has passed, then
    /// returns what there is (the test asserts).
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Mail> {
        let end = Instant::now() + deadline;
        loop {
            let mails = self.messages();
            if mails.len() >= n || Instant::now() >= end {
                return mails;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn to_mail(parsed: &mailparse::ParsedMail<'_>) -> Mail {
    let headers = parsed.headers.iter().map(|h| (h.get_key(), h.get_value())).collect();
    let text = find_part(parsed, "text/plain");
    let html = find_part(parsed, "text/html");
    let body = match text {
        Some(text) => text,
        None if parsed.subparts.is_empty() && html.is_some() => html.clone().unwrap_or_default(),
        None => parsed.get_body().expect("decode the mail body"),
    };
    Mail {
        headers,
        body: body.replace("\r\n", "\n"),
        html: html.map(|h| h.replace("\r\n", "\n")),
    }
}

/// The decoded body of the first non-attachment part of that MIME type, depth first.
fn find_part(part: &mailparse::ParsedMail<'_>, mimetype: &str) -> Option<String> {
    if part.subparts.is_empty() {
        let attachment = part.get_content_disposition().disposition == mailparse::DispositionType::Attachment;
        return (part.ctype.mimetype.eq_ignore_ascii_case(mimetype) && !attachment)
            .then(|| part.get_body().expect("decode a MIME part"));
    }
    part.subparts.iter().find_map(|sub| find_part(sub, mimetype))
}

enum NotReady {
    Exited(std::process::ExitStatus),
    TimedOut,
}
use NotReady::{Exited, TimedOut};

/// Polls until the peer accepts a connection and greets with `220`, or exits, or time runs out.
async fn wait_ready(child: &mut Child, port: u16) -> Result<(), NotReady> {
    let end = Instant::now() + STARTUP_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("poll the aiosmtpd process") {
            return Err(Exited(status));
        }
        if greets(port).await {
            // The greeting could come from someone else's server that took the port first; ours
            // would then have failed to bind and exited.
            if let Some(status) = child.try_wait().expect("poll the aiosmtpd process") {
                return Err(Exited(status));
            }
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(TimedOut);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether something on the port sends a `220` greeting line; says QUIT politely afterwards.
async fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await else {
        return false;
    };
    let greeting = tokio::time::timeout(GREETING_LIMIT, async {
        let mut line = Vec::new();
        let mut buf = [0u8; 512];
        while !line.ends_with(b"\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&buf[..n]),
            }
        }
        line
    })
    .await
    .unwrap_or_default();
    let ok = greeting.starts_with(b"220 ") || greeting.starts_with(b"220-");
    if ok {
        let _ = stream.write_all(b"QUIT\r\n").await;
        let mut rest = [0u8; 256];
        let _ = tokio::time::timeout(GREETING_LIMIT, stream.read(&mut rest)).await;
    }
    ok
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free loopback port");
    listener.local_addr().expect("the bound address").port()
}

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A throwaway CA and a server certificate for `localhost` / `127.0.0.1` signed by it, in `dir`:
/// `(ca.pem, server.pem, server.key)`. Not one self-signed certificate: `openssl req -x509` marks
/// it `CA:TRUE`, and webpki (rustls) refuses a CA certificate as the server's end-entity
/// certificate (`CaUsedAsEndEntity`).
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr) = (dir.join("server.pem"), dir.join("server.key"), dir.join("server.csr"));
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write the certificate extensions");
    let p = |path: &PathBuf| path.display().to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=voicegate test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    (ca, cert, key)
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
