//! Application assembly: settings → shared state → router → listener, and the run loop with the
//! drain policy of [`crate::shutdown`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::audio::asset::Prompt;
use crate::audit::AuditLog;
use crate::call::CallDeps;
use crate::call::registry::CallRegistry;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{EhrKind, Settings};
use crate::http;
use crate::metrics::Metrics;
use crate::recording;
use crate::shutdown::Shutdown;
use crate::storage;
use crate::tools::ehr::Ehr;
use crate::tools::ehr::builtin::BuiltinEhr;
use crate::tools::ehr::fhir::FhirEhr;

/// How often recordings parked in the outbox are retried.
const OUTBOX_RETRY: Duration = Duration::from_secs(30);

/// State shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub deps: CallDeps,
    /// One permit per concurrent call.
    pub calls: Arc<Semaphore>,
    pub shutdown: Shutdown,
    /// The browser page with its settings injected.
    pub page: Arc<http::browser::Page>,
    /// Per-address limits on browser token requests and call upgrades.
    pub browser_limiter: Arc<http::rate_limit::RateLimiter>,
}

/// A built, bound server ready to run.
pub struct Application {
    listener: TcpListener,
    /// Native TLS (`server.tls`); None = plain HTTP.
    tls: Option<http::tls::Tls>,
    router: Router,
    state: AppState,
    /// The notification channels the worker sends through.
    senders: crate::notify::channel::Senders,
}

impl Application {
    /// Build everything from settings (keys generated if allowed, prompts rendered, port bound).
    ///
    /// # Errors
    /// Missing keys, an unreadable prompt, or a port that cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`build`](Self::build), with an injected wall clock (tests).
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub async fn build_with_clock(mut settings: Settings, clock: SharedClock) -> anyhow::Result<Application> {
        settings.ensure_keys().context("preparing keys")?;
        settings.validate().context("validating settings")?;
        if !settings.twilio.validate_signatures {
            tracing::warn!(
                "TWILIO SIGNATURE CHECKS ARE OFF (twilio.validate_signatures=false): anyone who can reach this \
                 port can start calls. Allowed only on loopback, for local work."
            );
        }
        if settings.realtime.api_key.is_none() {
            tracing::warn!(
                "no realtime API key configured (OPENAI_API_KEY); upstream connections will be unauthenticated"
            );
        }
        let disclosure = Prompt::disclosure(&settings.call.disclosure_text, settings.call.disclosure_wav.as_deref())
            .context("rendering the recording disclosure")?;
        let safety = crate::safety::Safety::build(&settings).context("setting up red-flag detection")?;
        let db = storage::open_database(&settings)
            .await
            .context("opening the database")?;
        let audit = Arc::new(
            AuditLog::open(&settings, db.clone(), clock.clone())
                .await
                .context("opening the audit log")?,
        );
        if settings.review.enabled {
            first_admin(&settings, &db, &audit, clock.now_unix_ms()).await;
        }
        let notify = crate::notify::Notifications::new(&settings, db.clone(), clock.clone());
        let ehr = match open_ehr(&settings, &db, &clock).await? {
            Ehr::Builtin(builtin) => Ehr::Builtin(builtin.with_notifications(notify.clone())),
            other => other,
        };
        if matches!(ehr, Ehr::Builtin(_))
            && crate::tools::ehr::builtin::seed_demo(&db)
                .await
                .context("seeding the demo clinic")?
        {
            let now = i64::try_from(clock.now_unix_ms()).unwrap_or(i64::MAX);
            crate::notify::contacts::seed_demo(&db, now)
                .await
                .context("seeding the demo clinic's contacts")?;
            tracing::info!("demo clinic seeded (built-in EHR, fictional patients)");
        }
        let senders =
            crate::notify::channel::Senders::from_settings(&settings).context("setting up notification channels")?;
        let blobs = storage::open_blobs(&settings)
            .await
            .context("opening the recording store")?;
        let local_blobs = storage::open_local_blobs(&settings).context("opening the local encrypted folder")?;
        let stores = recording::recorder::Stores {
            local: local_blobs.clone(),
            store: blobs.clone(),
        };
        // Recordings of calls a crash interrupted are finalised (marked incomplete) and the calls
        // closed (`call.ended` written late, row completed); recordings whose upload failed are
        // retried; each is audited. Only this replica's calls: the spools in its own folder say
        // which those were (other replicas' open rows are live calls).
        let now = clock.now_unix_ms();
        let interrupted = recording::recorder::find_interrupted(&stores)
            .await
            .context("finding interrupted recordings")?;
        for spool in &interrupted {
            close_interrupted(&audit, &db, &stores, spool, now)
                .await
                .context("closing an interrupted call")?;
        }
        // Call rows parked while the database was down, before anything is closed as interrupted.
        if let Err(e) = storage::calls::retry_parked(&db, &local_blobs).await {
            tracing::warn!(error.message = %e, "parked call rows could not be read");
        }
        // Calls this replica marked open whose crash came before their spool existed.
        close_unrecorded(&audit, &db, &local_blobs, &interrupted, now)
            .await
            .context("closing interrupted calls without a recording")?;
        let recovered = recording::recorder::retry_outbox(&stores)
            .await
            .context("retrying the recording outbox")?;
        for stored in &recovered {
            audit_recovered(&audit, &db, stored, now)
                .await
                .context("auditing a recovered recording")?;
        }
        // Records spooled while the database was down (possibly by a previous run) go in first.
        if let Err(e) = audit.drain_spool().await {
            tracing::warn!(error.message = %e, "spooled audit records could not be appended yet; will retry");
        }
        let tls = settings
            .server
            .tls
            .as_ref()
            .map(http::tls::Tls::load)
            .transpose()
            .context("loading the TLS certificate and key (server.tls)")?;
        let addr = SocketAddr::new(settings.server.host, settings.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let prompts = Arc::new(
            crate::audio::prompts::ServicePrompts::load(settings.call.prompts_dir.as_deref())
                .context("rendering the service prompts")?,
        );
        let calls = Arc::new(Semaphore::new(settings.server.max_concurrent_calls));
        let page = Arc::new(http::browser::Page::render(&settings));
        let limits = settings.browser.rate_limit;
        let browser_limiter = Arc::new(http::rate_limit::RateLimiter::new(limits.burst, limits.per_minute));
        let state = AppState {
            page,
            browser_limiter,
            deps: CallDeps {
                settings: Arc::new(settings),
                metrics: Arc::new(Metrics::new()),
                registry: Arc::new(CallRegistry::new(db.clone(), clock.clone())),
                ehr,
                clock,
                disclosure: Arc::new(disclosure),
                prompts,
                safety,
                db,
                notify,
                audit,
                blobs,
                local_blobs,
            },
            calls,
            shutdown: Shutdown::default(),
        };
        let router = router(state.clone());
        Ok(Application {
            listener,
            tls,
            router,
            state,
            senders,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Shared state (tests inspect metrics and the registry).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serve until `stop` resolves, then drain as documented in [`crate::shutdown`].
    ///
    /// # Errors
    /// The listener failing.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            tls,
            router,
            state,
            senders,
        } = self;
        let settings = state.deps.settings.clone();
        let shutdown = state.shutdown.clone();
        let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
        // Recordings whose upload failed are retried in the background until stored.
        let outbox_retry = {
            let deps = state.deps.clone();
            let cancel = shutdown.root.child_token();
            tokio::spawn(async move {
                let stores = recording::recorder::Stores {
                    local: deps.local_blobs.clone(),
                    store: deps.blobs.clone(),
                };
                let mut tick = tokio::time::interval(OUTBOX_RETRY);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = cancel.cancelled() => return,
                    }
                    match recording::recorder::retry_outbox(&stores).await {
                        Ok(stored) => {
                            for s in &stored {
                                let _ = audit_recovered(&deps.audit, &deps.db, s, deps.clock.now_unix_ms()).await;
                            }
                        }
                        Err(e) => tracing::warn!(error.message = %e, "recording outbox could not be read"),
                    }
                }
            })
        };
        // Confirmations and reminders: every replica drains the shared outbox.
        let notify_worker = (!state.deps.notify.channels().is_empty()).then(|| {
            let worker = crate::notify::worker::Worker::new(
                state.deps.notify.clone(),
                senders,
                state.deps.audit.clone(),
                state.deps.metrics.clone(),
                settings.public_base().to_owned(),
            );
            tokio::spawn(worker.run(shutdown.root.child_token()))
        });
        // Appointments changed in a FHIR EHR itself get their messages too.
        let ehr_feed = match &state.deps.ehr {
            Ehr::Fhir(fhir) if !state.deps.notify.channels().is_empty() && settings.notifications.ehr_feed_secs > 0 => {
                Some(tokio::spawn(crate::notify::feed::run(
                    state.deps.notify.clone(),
                    fhir.as_ref().clone(),
                    Duration::from_secs(settings.notifications.ehr_feed_secs),
                    shutdown.root.child_token(),
                )))
            }
            _ => None,
        };
        let retention = tokio::spawn(retention_job(state.deps.clone(), shutdown.root.child_token()));
        let spool_retry = state.deps.audit.clone().spawn_spool_retry(
            Duration::from_secs(settings.audit.spool_retry_secs.max(1)),
            shutdown.root.child_token(),
        );
        // Call rows whose end could not be written while the database was down: retried at the
        // audit spool's cadence (both wait for the same database to come back).
        let rows_retry = {
            let (db, local) = (state.deps.db.clone(), state.deps.local_blobs.clone());
            let cancel = shutdown.root.child_token();
            let every = Duration::from_secs(settings.audit.spool_retry_secs.max(1));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = cancel.cancelled() => return,
                    }
                    if let Err(e) = storage::calls::retry_parked(&db, &local).await {
                        tracing::warn!(error.message = %e, "parked call rows could not be read");
                    }
                }
            })
        };
        let drain = {
            let shutdown = shutdown.clone();
            let registry = state.deps.registry.clone();
            async move {
                stop.await;
                shutdown.start_draining();
                let live = shutdown.tracker.len();
                tracing::info!(live_calls = live, "shutdown requested; draining");
                shutdown.tracker.close();
                let drain = Duration::from_secs(settings.server.drain_deadline_secs);
                if tokio::time::timeout(drain, shutdown.tracker.wait()).await.is_err() {
                    tracing::warn!(
                        live_calls = shutdown.tracker.len(),
                        "drain deadline reached; ending remaining calls"
                    );
                    shutdown.root.cancel();
                }
                let hard = tokio::time::Instant::now() + Duration::from_secs(settings.server.hard_deadline_secs);
                if tokio::time::timeout_at(hard, shutdown.tracker.wait()).await.is_err() {
                    tracing::error!(
                        live_calls = shutdown.tracker.len(),
                        "calls did not finalise before the hard deadline"
                    );
                }
                registry.wait_next_steps_taken(hard).await;
                let _ = http_stop_tx.send(());
            }
        };
        tokio::spawn(drain);
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let stopped = async move {
            let _ = http_stop_rx.await;
        };
        let served = match tls {
            // `tap_io` (a no-op here: the TLS listener sets no-delay itself) is what gives any
            // listener `ConnectInfo<SocketAddr>`.
            Some(tls) => {
                let listener = axum::serve::ListenerExt::tap_io(tls.listener(listener), |_| {});
                axum::serve(listener, app).with_graceful_shutdown(stopped).await
            }
            None => {
                // Audio frames are small and latency-sensitive: no Nagle delay on caller sockets.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app).with_graceful_shutdown(stopped).await
            }
        };
        served.context("HTTP server failed")?;
        shutdown.root.cancel();
        let _ = spool_retry.await;
        let _ = rows_retry.await;
        let _ = outbox_retry.await;
        let _ = retention.await;
        if let Some(worker) = notify_worker {
            let _ = worker.await;
        }
        if let Some(feed) = ehr_feed {
            let _ = feed.await;
        }
        if let Err(e) = state.deps.audit.checkpoint_now().await {
            tracing::warn!(error.message = %e, "final audit checkpoint could not be written");
        }
        state.deps.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.deps.settings.browser.enabled {
        router = router
            .route(http::browser::PAGE_PATH, get(http::browser::page))
            .route("/app.js", get(http::browser::app_js))
            .route("/capture-worklet.js", get(http::browser::capture_js))
            .route("/playback-worklet.js", get(http::browser::playback_js))
            .route(http::browser::TOKEN_PATH, post(http::browser::issue_token))
            .route(http::browser::WS_PATH, get(http::browser::ws));
    }
    if state.deps.settings.review.enabled {
        use http::review as r;
        router = router
            .route(
                "/review",
                get(|| async { axum::response::Redirect::permanent("/review/") }),
            )
            .route("/review/", get(r::page))
            .route("/review/review.js", get(r::script))
            .route("/review/review.css", get(r::style))
            .route("/review/api/openapi.yaml", get(r::openapi))
            .route("/review/api/login", post(r::login))
            .route("/review/api/logout", post(r::logout))
            .route("/review/api/session", get(r::session))
            .route("/review/api/calls", get(r::list_calls))
            .route("/review/api/calls/{call_id}/view", post(r::view_call))
            .route("/review/api/calls/{call_id}/playback", post(r::playback))
            .route("/review/api/calls/{call_id}/legal-hold", post(r::legal_hold))
            .route("/review/api/recordings/{grant}", get(r::recording))
            .route("/review/api/queue", get(r::work_queue))
            .route("/review/api/callbacks/{reference}/complete", post(r::complete_callback))
            .route("/review/api/lockouts/lift", post(r::lift_lockout))
            .route("/review/api/audit/verify", post(r::verify_chain))
            .route("/review/api/audit/export", post(r::export_audit))
            .route("/review/api/staff", get(r::list_staff))
            .merge(r::schedule::routes())
            .merge(r::reports::routes());
    }
    router
        .route("/healthz", get(http::health::healthz))
        .route("/readyz", get(http::health::readyz))
        .route("/metrics", get(http::health::metrics))
        .route(http::twilio_webhook::VOICE_PATH, post(http::twilio_webhook::voice))
        .route(http::twilio_webhook::NEXT_PATH, post(http::twilio_webhook::next))
        .route(http::twilio_webhook::MEDIA_PATH, get(http::twilio_media::media))
        .route(http::twilio_sms::INBOUND_PATH, post(http::twilio_sms::inbound))
        .route(http::twilio_sms::STATUS_PATH, post(http::twilio_sms::status))
        .route(
            http::unsubscribe::PATH,
            get(http::unsubscribe::show).post(http::unsubscribe::confirm),
        )
        .with_state(state)
}

/// Retention, on every replica: each period exactly one replica claims the run (in the
/// database) and deletes what is due; the others skip.
async fn retention_job(deps: CallDeps, cancel: tokio_util::sync::CancellationToken) {
    let settings = &deps.settings.retention;
    let Some(days) = settings.recordings_days else {
        return;
    };
    let interval = Duration::from_secs(settings.interval_secs);
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel.cancelled() => return,
        }
        let now = deps.clock.now_unix_ms();
        match crate::review::retention::claim(&deps.db, interval.as_millis() as u64, now).await {
            Ok(true) => match crate::review::retention::run(&deps.db, &deps.blobs, &deps.audit, days, now).await {
                Ok(report) => tracing::info!(
                    deleted = report.deleted.len(),
                    held = report.held.len(),
                    failed = report.failed.len(),
                    "retention run finished"
                ),
                Err(e) => tracing::warn!(error.message = %e, "retention run failed; retried next period"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error.message = %e, "retention could not claim its run"),
        }
    }
}

/// `recording.stored` for a recording finished outside a live call (after a crash or a failed
/// upload).
async fn audit_recovered(
    audit: &AuditLog,
    db: &storage::Db,
    stored: &recording::StoredRecording,
    now: u64,
) -> Result<(), crate::audit::AuditError> {
    if let Some(call_id) = stored.wav_key.rsplit('/').next().and_then(|n| n.strip_suffix(".wav"))
        && let Err(e) = storage::calls::set_recording_location(db, call_id, &stored.wav_key).await
    {
        tracing::warn!(error.message = %e, "call row could not name its recovered recording");
    }
    let event = crate::audit::AuditEvent {
        actor: crate::audit::Actor::System {
            job: "recording-recovery".into(),
        },
        action: "recording.stored".into(),
        call_id: stored
            .wav_key
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".wav"))
            .map(str::to_owned),
        patient: None,
        reason: Some(
            if stored.incomplete {
                "finalised after an interrupted run"
            } else {
                "uploaded from the outbox"
            }
            .into(),
        ),
        outcome: crate::audit::AuditOutcome::Success,
        details: serde_json::json!({
            "object_key": stored.wav_key, "manifest_key": stored.manifest_key, "sha256": stored.wav_sha256,
            "key_id": stored.key_id, "incomplete": stored.incomplete,
        }),
        at_ms: now,
    };
    audit.append_or_spool(&event).await.map(|_| ())
}

/// The outcome of a call a crash interrupted (the row's `outcome`, the `call.ended` details).
const INTERRUPTED: &str = "interrupted";

/// Close one call a crash interrupted, from the spool it left: `call.ended` (reason
/// `interrupted`, flagged late) unless the call's end is already recorded, then its row if still
/// open, then its recording (incomplete) and `recording.stored`. The spool is removed last, so a
/// crash during this leaves it for the next start, and every step is written at most once.
async fn close_interrupted(
    audit: &AuditLog,
    db: &storage::Db,
    stores: &recording::recorder::Stores,
    spool: &recording::recorder::InterruptedSpool,
    now: u64,
) -> Result<(), crate::audit::AuditError> {
    let call_id = spool.call_id.as_str();
    let row = storage::calls::get(db, call_id).await.unwrap_or_else(|e| {
        tracing::warn!(call_id, error.message = %e, "interrupted call's row could not be read");
        None
    });
    let recorded_ms = spool.duration_ms();
    let started_at_ms = row
        .as_ref()
        .and_then(|r| u64::try_from(r.started_at_ms).ok())
        .unwrap_or_else(|| now.saturating_sub(recorded_ms));
    let transport = row.as_ref().map_or(spool.transport, |r| {
        if r.transport == "browser" { "browser" } else { "twilio" }
    });
    // The end of the recorded audio: the last moment known to be part of the call.
    let mut ended_at_ms = started_at_ms.saturating_add(recorded_ms).min(now.max(started_at_ms));
    let mut outcome = INTERRUPTED.to_owned();
    let mut position = None;
    match audit.call_record(call_id, "call.ended").await? {
        // The call had ended (its record is in, possibly still spooled) and the process died
        // before its recording and row were finished: keep what that record says.
        Some(record) => {
            if let Some(o) = record["details"]["outcome"].as_str() {
                outcome = o.to_owned();
            }
            ended_at_ms = record["at_ms"].as_u64().unwrap_or(ended_at_ms);
        }
        None => {
            let event = crate::audit::AuditEvent {
                actor: crate::audit::Actor::Agent {
                    call_id: call_id.to_owned(),
                },
                action: "call.ended".into(),
                call_id: Some(call_id.to_owned()),
                patient: None,
                reason: Some(INTERRUPTED.into()),
                outcome: crate::audit::AuditOutcome::Success,
                details: serde_json::json!({
                    "outcome": INTERRUPTED,
                    "transport": transport,
                    "duration_ms": ended_at_ms.saturating_sub(started_at_ms),
                    "recorded_ms": recorded_ms,
                    "recovered_at_ms": now,
                }),
                at_ms: ended_at_ms,
            };
            if let crate::audit::AuditDisposition::Appended(r) = audit.append_late_or_spool(&event).await? {
                position = Some(recording::recorder::AuditPosition {
                    index: r.index,
                    hash: crate::config::hex(&r.hash),
                });
            }
            tracing::warn!(call_id, "interrupted call ended (audited late)");
        }
    }
    match storage::calls::close_if_open(db, call_id, ended_at_ms, &outcome).await {
        Ok(true) => tracing::info!(call_id, outcome = %outcome, "interrupted call's row closed"),
        Ok(false) => {}
        Err(e) => tracing::warn!(call_id, error.message = %e, "interrupted call's row could not be closed"),
    }
    let mut manifest = spool.manifest(started_at_ms, ended_at_ms, &outcome);
    manifest.transport = transport.into();
    manifest.audit_position = position;
    match recording::recorder::finalise_interrupted(stores, spool, manifest).await {
        Ok(stored) => audit_recovered(audit, db, &stored, now).await,
        Err(e) => {
            tracing::error!(call_id, error.message = %e, "interrupted recording could not be finalised; retried at the next start");
            Ok(())
        }
    }
}

/// Close the calls whose open-call marker ([`crate::call::OPEN_CALL_PREFIX`]) outlived a crash.
/// Those with a spool were closed by [`close_interrupted`]; the rest died before any audio was
/// spooled: each gets a late `call.ended` (reason `interrupted`, no recording) unless its end is
/// already recorded, and its row closed if still open. The marker goes last.
async fn close_unrecorded(
    audit: &AuditLog,
    db: &storage::Db,
    local: &storage::blob::Blobs,
    spooled: &[recording::recorder::InterruptedSpool],
    now: u64,
) -> Result<(), crate::audit::AuditError> {
    let markers = match local.list(crate::call::OPEN_CALL_PREFIX).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error.message = %e, "open-call markers could not be listed");
            return Ok(());
        }
    };
    for key in markers {
        let Some(call_id) = key.strip_prefix(crate::call::OPEN_CALL_PREFIX) else {
            continue;
        };
        let ended = audit.call_record(call_id, "call.ended").await?;
        if let Some(record) = &ended
            && !spooled.iter().any(|s| s.call_id == call_id)
        {
            // The end was recorded but the row never completed (a crash in between): close it
            // from the record.
            let at = record["at_ms"].as_u64().unwrap_or(now);
            let outcome = record["details"]["outcome"].as_str().unwrap_or(INTERRUPTED).to_owned();
            if let Err(e) = storage::calls::close_if_open(db, call_id, at, &outcome).await {
                tracing::warn!(call_id, error.message = %e, "ended call's row could not be closed");
            }
        }
        if !spooled.iter().any(|s| s.call_id == call_id) && ended.is_none() {
            let row = storage::calls::get(db, call_id).await.ok().flatten();
            let started_at_ms = row
                .as_ref()
                .and_then(|r| u64::try_from(r.started_at_ms).ok())
                .unwrap_or(now);
            let event = crate::audit::AuditEvent {
                actor: crate::audit::Actor::Agent {
                    call_id: call_id.to_owned(),
                },
                action: "call.ended".into(),
                call_id: Some(call_id.to_owned()),
                patient: None,
                reason: Some(INTERRUPTED.into()),
                outcome: crate::audit::AuditOutcome::Success,
                details: serde_json::json!({
                    "outcome": INTERRUPTED,
                    "transport": row.as_ref().map_or("twilio", |r| if r.transport == "browser" { "browser" } else { "twilio" }),
                    "duration_ms": 0,
                    "recorded_ms": 0,
                    "recording": "none",
                    "recovered_at_ms": now,
                }),
                at_ms: started_at_ms,
            };
            audit.append_late_or_spool(&event).await?;
            tracing::warn!(
                call_id,
                "call interrupted before its recording started; ended (audited late)"
            );
            if let Err(e) = storage::calls::close_if_open(db, call_id, started_at_ms, INTERRUPTED).await {
                tracing::warn!(call_id, error.message = %e, "interrupted call's row could not be closed");
            }
        }
        if let Err(e) = local.delete(&key).await {
            tracing::warn!(key = %key, error.message = %e, "open-call marker could not be removed");
        }
    }
    Ok(())
}

/// The EHR configuration picks. A FHIR server that does not answer at start is logged, not fatal:
/// calls still run, and the tools tell callers honestly and take callbacks until it is back.
/// A fresh single node gets its first review admin (see [`crate::review::bootstrap`]); audited,
/// and the password file's path (never the password) logged.
async fn first_admin(settings: &Settings, db: &crate::storage::Db, audit: &AuditLog, now_ms: u64) {
    match crate::review::bootstrap::first_admin(settings, db, now_ms).await {
        Ok(Some(path)) => {
            tracing::warn!(
                username = crate::review::bootstrap::USERNAME,
                password_file = %path.display(),
                "created the first review admin for this single node; sign in at /review/ with the password in that file"
            );
            let event = crate::audit::AuditEvent {
                actor: crate::audit::Actor::System {
                    job: "bootstrap".into(),
                },
                action: "staff.added".into(),
                call_id: None,
                patient: None,
                reason: Some("first start of a single node".into()),
                outcome: crate::audit::AuditOutcome::Success,
                details: serde_json::json!({"username": crate::review::bootstrap::USERNAME, "role": "admin"}),
                at_ms: now_ms,
            };
            if let Err(e) = audit.append_or_spool(&event).await {
                tracing::error!(error.message = %e, "first admin's audit record could not be written or spooled");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error.message = %e, "no first review admin created; add one with `voicegate staff add`")
        }
    }
}

async fn open_ehr(settings: &Settings, db: &crate::storage::Db, clock: &SharedClock) -> anyhow::Result<Ehr> {
    match (settings.ehr.kind, &settings.ehr.fhir) {
        (EhrKind::Fhir, Some(fhir)) => {
            let clock = clock.clone();
            let ehr = FhirEhr::connect(fhir)
                .context("configuring the FHIR client")?
                .with_clock(move || {
                    jiff::Timestamp::from_millisecond(i64::try_from(clock.now_unix_ms()).unwrap_or(i64::MAX))
                        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                });
            if let Err(e) = ehr.check().await {
                tracing::warn!(error.message = %e, "the FHIR server did not answer its capability check");
            }
            Ok(Ehr::Fhir(Box::new(ehr)))
        }
        _ => Ok(Ehr::Builtin(BuiltinEhr::new(db.clone(), clock.clone()))),
    }
}
