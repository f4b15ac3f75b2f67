//! One call [`Session`] with every real dependency (database, audit log, recorder, encrypted blob
//! folder) but channels in place of its two sockets: the caller's reader and writer, and an
//! in-memory upstream. Session tests drive timers with tokio's paused clock through it, and the
//! per-frame benchmark measures the session's whole path without socket costs.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::audio::asset::Prompt;
use crate::audit::AuditLog;
use crate::call::registry::CallRegistry;
use crate::call::session::{CallSummary, CallerInput, DISCLOSURE_MARK, Session};
use crate::call::{CallDeps, CallId};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::realtime::client::{InMemoryUpstream, UpstreamHandle};
use crate::realtime::events::AudioFormat;
use crate::transport::{CallerCommand, CallerEvent};

/// The caller's and upstream's ends of one running session.
#[derive(Debug)]
pub struct SessionHarness {
    /// What the transport reader would send the session.
    pub caller: mpsc::Sender<CallerInput>,
    /// What the session asks the transport writer to send the caller.
    pub to_caller: mpsc::Receiver<CallerCommand>,
    /// The upstream's end: client events the session sent, server events to deliver.
    pub upstream: InMemoryUpstream,
    pub session: JoinHandle<CallSummary>,
    _data: tempfile::TempDir,
}

/// Harness failures (setting up the database, keys or blob folder).
#[derive(Debug, thiserror::Error)]
#[error("session harness: {0}")]
pub struct HarnessError(String);

fn err(e: impl std::fmt::Display) -> HarnessError {
    HarnessError(e.to_string())
}

impl SessionHarness {
    /// Start a Twilio-format session (μ-law 8 kHz) on embedded settings in a fresh data folder,
    /// with no greeting, after `tweak`. `before_session` runs once the real I/O is set up, just
    /// before the session is made: session tests pause tokio's clock there, so timers fire exactly
    /// and without waiting (benchmarks pass a no-op and run on the wall clock).
    ///
    /// # Errors
    /// The data folder, keys, database or blob store could not be set up.
    pub async fn start(
        tweak: impl FnOnce(&mut Settings),
        before_session: impl FnOnce(),
    ) -> Result<SessionHarness, HarnessError> {
        let data = tempfile::tempdir().map_err(err)?;
        let mut settings = Settings::embedded().map_err(err)?;
        settings.server.data_dir = data.path().to_path_buf();
        settings.realtime.greeting = String::new();
        tweak(&mut settings);
        settings.ensure_keys().map_err(err)?;
        let db = crate::storage::open_database(&settings).await.map_err(err)?;
        let blobs = crate::storage::open_blobs(&settings).await.map_err(err)?;
        let spool = crate::audit::spool::Spool::open(data.path().join("spool")).map_err(err)?;
        let clock: SharedClock = Arc::new(SystemClock);
        let key = settings
            .secrets
            .audit_checkpoint_key
            .clone()
            .ok_or_else(|| HarnessError("no audit checkpoint key".into()))?;
        let audit = Arc::new(AuditLog::new(
            db.clone(),
            spool,
            blobs.clone(),
            key,
            1000,
            clock.clone(),
        ));
        let disclosure = Prompt {
            text: "recorded".into(),
            mulaw_8k: vec![0x55; 800],
            pcm_24k: vec![0; 2400],
        };
        let deps = CallDeps {
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::new()),
            registry: Arc::new(CallRegistry::new(db.clone(), clock.clone())),
            ehr: crate::tools::ehr::Ehr::Builtin(crate::tools::ehr::builtin::BuiltinEhr::new(
                db.clone(),
                clock.clone(),
            )),
            clock,
            disclosure: Arc::new(disclosure),
            db,
            audit,
            local_blobs: blobs.clone(),
            blobs,
        };
        before_session();
        let (caller, caller_rx) = mpsc::channel(crate::call::twilio::CALLER_IN_QUEUE);
        let (caller_tx, mut writer_rx) = mpsc::channel(crate::call::twilio::CALLER_OUT_QUEUE);
        let (to_caller_tx, to_caller) = mpsc::channel(crate::call::twilio::CALLER_OUT_QUEUE);
        // Stands in for the transport writer task the session waits for at the end.
        let writer = tokio::spawn(async move {
            while let Some(c) = writer_rx.recv().await {
                if to_caller_tx.send(c).await.is_err() {
                    return;
                }
            }
        });
        let (handle, events_rx, upstream) = UpstreamHandle::in_memory(1);
        let connecting = tokio::spawn(async move { Ok((handle, events_rx)) });
        let session = Session::new(
            CallId::new(),
            Some("CA00000000000000000000000000000001".into()),
            0,
            deps,
            AudioFormat::Pcmu,
            caller_rx,
            caller_tx,
            writer,
            connecting,
            CancellationToken::new(),
        );
        Ok(SessionHarness {
            caller,
            to_caller,
            upstream,
            session: tokio::spawn(session.run()),
            _data: data,
        })
    }

    /// Wait for the disclosure's mark and answer it as the caller's player would once played.
    ///
    /// # Errors
    /// The session ended first.
    pub async fn hear_disclosure(&mut self) -> Result<(), HarnessError> {
        loop {
            match self.to_caller.recv().await {
                Some(CallerCommand::Mark(name)) if name == DISCLOSURE_MARK => break,
                Some(_) => continue,
                None => return Err(HarnessError("session ended before its disclosure".into())),
            }
        }
        self.caller
            .send(CallerInput::Event(CallerEvent::MarkPlayed(DISCLOSURE_MARK.into())))
            .await
            .map_err(|_| HarnessError("session ended".into()))
    }

    /// The next client event the session sent upstream, parsed.
    ///
    /// # Errors
    /// The upstream was closed or the event is not JSON.
    pub async fn next_upstream(&mut self) -> Result<serde_json::Value, HarnessError> {
        let text = self
            .upstream
            .sent
            .recv()
            .await
            .ok_or_else(|| HarnessError("upstream closed".into()))?;
        serde_json::from_str(&text).map_err(err)
    }
}
