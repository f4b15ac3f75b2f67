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

/// The μ-law byte each harness script is made of: 911 English, 988 English, 911 Spanish, 988
/// Spanish (no real audio is one constant byte, so a match is unambiguous).
pub const SCRIPT_BYTES: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

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
        // Short scripts, each a different constant byte, so a test can tell which one played.
        let script = |byte: u8, text: &str| Prompt {
            text: text.into(),
            mulaw_8k: vec![byte; 1600],
            pcm_24k: vec![i16::from(byte); 4800],
        };
        use crate::safety::red_flag::{Language, Script};
        use crate::safety::script::text;
        let scripts = crate::safety::script::Scripts::from_prompts([
            script(SCRIPT_BYTES[0], text(Script::Emergency911, Language::English)),
            script(SCRIPT_BYTES[1], text(Script::Crisis988, Language::English)),
            script(SCRIPT_BYTES[2], text(Script::Emergency911, Language::Spanish)),
            script(SCRIPT_BYTES[3], text(Script::Crisis988, Language::Spanish)),
        ]);
        let safety = crate::safety::Safety {
            detector: Arc::new(
                crate::safety::red_flag::Detector::new(
                    &settings.safety.red_flag.phrases,
                    &settings.safety.red_flag.benign,
                )
                .map_err(err)?,
            ),
            scripts: Arc::new(scripts),
            classifier: None,
        };
        let notify = crate::notify::Notifications::new(&settings, db.clone(), clock.clone());
        let prompts =
            Arc::new(crate::audio::prompts::ServicePrompts::load(settings.call.prompts_dir.as_deref()).map_err(err)?);
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
            prompts,
            safety,
            notify,
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
