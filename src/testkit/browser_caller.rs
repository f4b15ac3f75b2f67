//! A browser caller without a browser: a real WebSocket client speaking the page's protocol
//! (`src/transport/browser.rs`), for tests that need exact control of every frame (bad input,
//! pacing, barge-in arithmetic). The page itself is tested in Chromium (`tests/peers/browser`).
//!
//! Its player is instantaneous: audio counts as played when it arrives, so with `auto_echo` on a
//! mark is echoed as soon as it is read and a `clear` is answered at once with `cleared` carrying
//! every sample received so far — the server's playout model must cope with a player that fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// What the caller read from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A JSON control message.
    Control(Value),
    /// Agent audio: PCM16 little-endian at 24 kHz.
    Audio(Vec<u8>),
    /// The server closed (code, reason), or the socket ended without a close frame (None).
    Closed(Option<(u16, String)>),
}

/// One browser call's socket.
pub struct BrowserCaller {
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedReceiver<Received>,
    auto_echo: Arc<AtomicBool>,
    samples_received: Arc<AtomicU64>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// `POST /browser/token` on `base` (http://host:port) with these headers; the token on 200.
///
/// # Errors
/// Connection failures; any other status is returned as `Ok(Err(status))`.
pub async fn fetch_token(base: &str, headers: &[(&str, String)]) -> anyhow::Result<Result<String, u16>> {
    let response = crate::testkit::webhook::request(base, "POST", "/browser/token", headers, "").await?;
    if response.status != 200 {
        return Ok(Err(response.status));
    }
    let body: Value = serde_json::from_str(&response.body).context("token body is JSON")?;
    let token = body["token"].as_str().context("token field")?;
    Ok(Ok(token.to_owned()))
}

impl BrowserCaller {
    /// Open `ws_url` sending `origin` (a browser always sends one).
    ///
    /// # Errors
    /// A refused upgrade reports its HTTP status, e.g. `upgrade refused: HTTP 403`.
    pub async fn connect(ws_url: &str, origin: Option<&str>) -> anyhow::Result<BrowserCaller> {
        let mut request = ws_url.into_client_request().context("ws URL")?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", HeaderValue::from_str(origin).context("origin header")?);
        }
        let ws = match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => ws,
            Err(WsError::Http(response)) => bail!("upgrade refused: HTTP {}", response.status().as_u16()),
            Err(e) => return Err(e).context("connecting"),
        };
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let auto_echo = Arc::new(AtomicBool::new(false));
        let samples_received = Arc::new(AtomicU64::new(0));
        let writer = tokio::spawn(async move {
            while let Some(message) = out_rx.recv().await {
                if sink.send(message).await.is_err() {
                    return;
                }
            }
        });
        let reader = {
            let out = out.clone();
            let auto_echo = auto_echo.clone();
            let samples = samples_received.clone();
            tokio::spawn(async move {
                while let Some(message) = stream.next().await {
                    let received = match message {
                        Ok(Message::Binary(bytes)) => {
                            samples.fetch_add(bytes.len() as u64 / 2, Ordering::SeqCst);
                            Received::Audio(bytes.to_vec())
                        }
                        Ok(Message::Text(text)) => {
                            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                            if auto_echo.load(Ordering::SeqCst) {
                                match value["type"].as_str() {
                                    Some("mark") => {
                                        let _ = out.send(Message::text(
                                            json!({"type": "mark", "name": value["name"]}).to_string(),
                                        ));
                                    }
                                    Some("clear") => {
                                        let played = samples.load(Ordering::SeqCst);
                                        let _ = out.send(Message::text(
                                            json!({"type": "cleared", "played_samples": played}).to_string(),
                                        ));
                                    }
                                    _ => {}
                                }
                            }
                            Received::Control(value)
                        }
                        Ok(Message::Close(frame)) => {
                            let _ = events_tx.send(Received::Closed(
                                frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                            ));
                            return;
                        }
                        Ok(_) => continue,
                        Err(_) => break,
                    };
                    if events_tx.send(received).is_err() {
                        return;
                    }
                }
                let _ = events_tx.send(Received::Closed(None));
            })
        };
        Ok(BrowserCaller {
            out,
            events,
            auto_echo,
            samples_received,
            reader,
            writer,
        })
    }

    /// Echo marks and answer clears as an instantaneous player would.
    pub fn set_auto_echo(&self, on: bool) {
        self.auto_echo.store(on, Ordering::SeqCst);
    }

    /// Agent samples received so far.
    pub fn samples_received(&self) -> u64 {
        self.samples_received.load(Ordering::SeqCst)
    }

    /// Send a JSON control message.
    ///
    /// # Errors
    /// The socket's writer has ended.
    pub fn send_json(&self, value: &Value) -> anyhow::Result<()> {
        self.send_text(value.to_string())
    }

    /// Send a raw text frame.
    ///
    /// # Errors
    /// The socket's writer has ended.
    pub fn send_text(&self, text: String) -> anyhow::Result<()> {
        self.out.send(Message::text(text)).ok().context("socket writer ended")
    }

    /// Send a raw binary frame.
    ///
    /// # Errors
    /// The socket's writer has ended.
    pub fn send_binary(&self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.out
            .send(Message::binary(bytes))
            .ok()
            .context("socket writer ended")
    }

    /// The page's hello.
    ///
    /// # Errors
    /// The socket's writer has ended.
    pub fn hello(&self, sample_rate: u32, token: Option<&str>) -> anyhow::Result<()> {
        let mut hello = json!({"type": "hello", "sample_rate": sample_rate, "format": "pcm16le", "channels": 1,
            "frame_ms": 20, "audio": {"echo_cancellation": true, "noise_suppression": true, "auto_gain_control": true}});
        if let Some(token) = token {
            hello["token"] = json!(token);
        }
        self.send_json(&hello)
    }

    /// One microphone frame: sequence number then the samples.
    ///
    /// # Errors
    /// The socket's writer has ended.
    pub fn frame(&self, seq: u32, samples: &[i16]) -> anyhow::Result<()> {
        let mut bytes = Vec::with_capacity(4 + 2 * samples.len());
        bytes.extend_from_slice(&seq.to_le_bytes());
        for s in samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        self.send_binary(bytes)
    }

    /// The next thing the server sent (None once the feed is over).
    pub async fn next(&mut self) -> Option<Received> {
        self.events.recv().await
    }

    /// Read until a control message of type `ty`; returns it. Audio and other messages read on the
    /// way are returned too, in order.
    ///
    /// # Errors
    /// The socket closed first.
    pub async fn until(&mut self, ty: &str) -> anyhow::Result<(Value, Vec<Received>)> {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(Received::Control(v)) if v["type"] == ty => return Ok((v, seen)),
                Some(Received::Closed(close)) => bail!("closed before `{ty}`: {close:?} after {seen:?}"),
                Some(other) => seen.push(other),
                None => bail!("feed ended before `{ty}`"),
            }
        }
    }

    /// Read until the socket closes; returns the close and everything before it.
    pub async fn until_closed(&mut self) -> (Option<(u16, String)>, Vec<Received>) {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(Received::Closed(close)) => return (close, seen),
                Some(other) => seen.push(other),
                None => return (None, seen),
            }
        }
    }
}

impl Drop for BrowserCaller {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}
