//! Compliance review: staff sign in, read and hear calls, and every look is audited.

use serde_json::{Value, json};
use tokio::time::timeout;
use voicegate::review::Role;
use voicegate::testkit::webhook::{self, HttpResponse};

use crate::helpers::*;
use crate::tools::{audit_trail, call_tool, connected};

pub const PASSWORD: &str = "correct horse battery staple";

/// A staff account straight in the store (the CLI path is tested in `cli.rs`).
pub async fn add_staff(app: &TestApp, username: &str, role: Role) {
    voicegate::review::staff::add(
        &app.state.deps.db,
        username,
        PASSWORD,
        role,
        app.state.deps.clock.now_unix_ms(),
    )
    .await
    .expect("staff added");
}

/// A finished Twilio call with caller audio, a transcript line, a callback request, agent audio
/// and a stored recording. Returns its call id.
pub async fn finished_call(app: &TestApp, n: u32) -> String {
    let (mut caller, mut fake) = connected(app, n).await;
    caller.send_audio_fast(&pattern(1, 50), 0).await.unwrap();
    fake.user_transcript("I would like to book a checkup").await.unwrap();
    let callback = call_tool(&mut fake, "request_callback", json!({"topic": "billing question"})).await;
    assert_eq!(callback["ok"], true, "{callback}");
    fake.respond_audio(&pattern(2, 25), 800, "I can help with that.")
        .await
        .unwrap();
    caller.wait_for_mark_echo("a4").await.unwrap();
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    timeout(GUARD, async {
        loop {
            let rows = voicegate::storage::calls::find_by_call_sid(&app.state.deps.db, &call_sid(n))
                .await
                .unwrap();
            if let Some(row) = rows
                .into_iter()
                .find(|r| r.outcome.is_some() && r.recording_location.is_some())
            {
                return row.call_id;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the call finalised with a recording")
}

/// A signed-in staff member's HTTP client (cookie and CSRF token kept).
pub struct Staff {
    base: String,
    origin: String,
    cookie: String,
    pub csrf: String,
}

fn cookie_of(r: &HttpResponse) -> Option<String> {
    let set = r.header("set-cookie")?;
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/review"),
        "{set}"
    );
    set.split(';').next().map(str::to_owned)
}

pub async fn login_response(app: &TestApp, username: &str, password: &str) -> HttpResponse {
    let body = json!({"username": username, "password": password}).to_string();
    webhook::request(
        &app.base,
        "POST",
        "/review/api/login",
        &[("Content-Type", "application/json".into()), ("Origin", app.origin())],
        &body,
    )
    .await
    .unwrap()
}

impl Staff {
    pub async fn login(app: &TestApp, username: &str) -> Staff {
        let r = login_response(app, username, PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        Staff {
            base: app.base.clone(),
            origin: app.origin(),
            cookie: cookie_of(&r).expect("session cookie"),
            csrf: body["csrf"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        webhook::request(&self.base, "GET", path, &[("Cookie", self.cookie.clone())], "")
            .await
            .unwrap()
    }

    pub async fn get_with(&self, path: &str, extra: &[(&str, String)]) -> HttpResponse {
        let mut headers = vec![("Cookie", self.cookie.clone())];
        headers.extend(extra.iter().cloned());
        webhook::request(&self.base, "GET", path, &headers, "").await.unwrap()
    }

    /// A POST as the page sends it (cookie, CSRF token, same origin).
    pub async fn post(&self, path: &str, body: Value) -> HttpResponse {
        self.post_raw(path, body, Some(&self.csrf), &self.origin).await
    }

    pub async fn post_raw(&self, path: &str, body: Value, csrf: Option<&str>, origin: &str) -> HttpResponse {
        let mut headers = vec![
            ("Cookie", self.cookie.clone()),
            ("Content-Type", "application/json".to_owned()),
            ("Origin", origin.to_owned()),
        ];
        if let Some(csrf) = csrf {
            headers.push(("X-CSRF-Token", csrf.to_owned()));
        }
        webhook::request(&self.base, "POST", path, &headers, &body.to_string())
            .await
            .unwrap()
    }
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("JSON body expected: {} {}", r.status, r.body))
}

#[tokio::test]
async fn each_role_sees_exactly_what_it_may() {
    let app = spawn_app().await;
    let call_id = finished_call(&app, 1).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    add_staff(&app, "otto.auditor", Role::Auditor).await;
    add_staff(&app, "ada.admin", Role::Admin).await;
    let reason = json!({"reason": "complaint 42"});
    let view = format!("/review/api/calls/{call_id}/view");
    let play = format!("/review/api/calls/{call_id}/playback");
    let hold = format!("/review/api/calls/{call_id}/legal-hold");
    let export = json!({"call_id": call_id, "reason": "annual audit"});

    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let list = reviewer.get("/review/api/calls").await;
    assert_eq!(list.status, 200);
    let rows = json_of(&list);
    assert_eq!(rows["calls"][0]["call_id"], call_id);
    assert_eq!(rows["calls"][0]["transport"], "twilio");
    assert_eq!(rows["calls"][0]["has_recording"], true);
    assert_eq!(reviewer.post(&view, reason.clone()).await.status, 200);
    assert_eq!(reviewer.post(&play, reason.clone()).await.status, 200);
    assert_eq!(reviewer.get("/review/api/queue").await.status, 200);
    assert_eq!(reviewer.post("/review/api/audit/verify", json!({})).await.status, 403);
    assert_eq!(
        reviewer.post("/review/api/audit/export", export.clone()).await.status,
        403
    );
    assert_eq!(
        reviewer.get("/review/api/staff").await.status,
        403,
        "a reviewer cannot manage staff"
    );
    assert_eq!(
        reviewer
            .post(&hold, json!({"hold": true, "reason": "litigation"}))
            .await
            .status,
        403
    );

    let auditor = Staff::login(&app, "otto.auditor").await;
    let verified = auditor.post("/review/api/audit/verify", json!({})).await;
    assert_eq!(verified.status, 200);
    assert_eq!(json_of(&verified)["ok"], true);
    let exported = auditor.post("/review/api/audit/export", export.clone()).await;
    assert_eq!(exported.status, 200);
    let records = json_of(&exported)["records"].as_array().unwrap().clone();
    assert!(records.iter().any(|r| r["record"]["action"] == "call.started"));
    assert_eq!(auditor.get("/review/api/staff").await.status, 403);
    assert_eq!(
        auditor
            .post(&hold, json!({"hold": true, "reason": "litigation"}))
            .await
            .status,
        403
    );

    let admin = Staff::login(&app, "ada.admin").await;
    let staff = json_of(&admin.get("/review/api/staff").await);
    let names: Vec<&str> = staff["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect();
    // `admin` is the single node's first account (review::bootstrap).
    assert_eq!(names, ["ada.admin", "admin", "otto.auditor", "rita.reviewer"]);
    assert!(
        !staff.to_string().contains("argon2"),
        "no password hashes leave the server"
    );
    assert_eq!(
        admin
            .post(&hold, json!({"hold": true, "reason": "litigation"}))
            .await
            .status,
        204
    );
    let rows = json_of(&admin.get("/review/api/calls").await);
    assert_eq!(rows["calls"][0]["legal_hold"], true);
}

#[tokio::test]
async fn every_view_and_playback_is_audited_with_its_reason_first() {
    let app = spawn_app().await;
    let call_id = finished_call(&app, 2).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let view = format!("/review/api/calls/{call_id}/view");

    // No reason, no disclosure, no record.
    let before = audit_trail(&app).await.len();
    for body in [json!({}), json!({"reason": "  "}), json!({"reason": "x"})] {
        let r = reviewer.post(&view, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(!r.body.contains("checkup"), "nothing disclosed without a reason");
    }
    assert_eq!(audit_trail(&app).await.len(), before);

    let detail = json_of(
        &reviewer
            .post(&view, json!({"reason": "complaint 42: caller says she was cut off"}))
            .await,
    );
    let lines: Vec<&str> = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(lines.contains(&"I would like to book a checkup"), "{lines:?}");
    assert!(lines.contains(&"I can help with that."), "{lines:?}");
    assert!(
        detail["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "request_callback")
    );
    assert_eq!(detail["recording"]["available"], true);
    assert_eq!(detail["recording"]["sample_rate"], 8000);
    assert_eq!(detail["chain"]["ok"], true);
    let actions: Vec<&str> = detail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["record"]["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"call.started") && actions.contains(&"callback.requested"),
        "{actions:?}"
    );

    let play = json_of(
        &reviewer
            .post(
                &format!("/review/api/calls/{call_id}/playback"),
                json!({"reason": "hear the cut-off"}),
            )
            .await,
    );
    let url = play["url"].as_str().unwrap();
    assert!(url.starts_with("/review/api/recordings/g1."), "{url}");

    let trail = audit_trail(&app).await;
    let viewed = trail
        .iter()
        .find(|r| r["action"] == "review.call.viewed")
        .expect("view audited");
    assert_eq!(viewed["reason"], "complaint 42: caller says she was cut off");
    assert_eq!(viewed["call_id"], call_id);
    assert_eq!(viewed["actor"]["kind"], "staff");
    assert!(viewed["actor"]["user_id"].as_str().unwrap().starts_with("stf_"));
    let played = trail
        .iter()
        .find(|r| r["action"] == "review.recording.played")
        .expect("playback audited");
    assert_eq!(played["reason"], "hear the cut-off");
    let login = trail
        .iter()
        .find(|r| r["action"] == "review.login")
        .expect("login audited");
    assert_eq!(login["outcome"], "success");
}

#[tokio::test]
async fn recordings_stream_decrypted_with_ranges_only_to_the_session_that_was_granted() {
    let app = spawn_app().await;
    let call_id = finished_call(&app, 3).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let play = json_of(
        &reviewer
            .post(
                &format!("/review/api/calls/{call_id}/playback"),
                json!({"reason": "quality check"}),
            )
            .await,
    );
    let url = play["url"].as_str().unwrap();

    let row = voicegate::storage::calls::get(&app.state.deps.db, &call_id)
        .await
        .unwrap()
        .unwrap();
    let wav = app
        .state
        .deps
        .blobs
        .get(&row.recording_location.unwrap())
        .await
        .unwrap();
    let whole = reviewer.get(url).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("audio/wav"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert!(whole.body.starts_with("RIFF"), "decrypted on the fly");
    let head = reviewer.get_with(url, &[("Range", "bytes=0-43".into())]).await;
    assert_eq!(head.status, 206);
    assert_eq!(
        head.header("content-range"),
        Some(format!("bytes 0-43/{}", wav.len()).as_str())
    );
    assert_eq!(head.header("content-length"), Some("44"));
    assert_eq!(
        head.body,
        String::from_utf8_lossy(&wav[..44]),
        "the WAV header, decrypted"
    );
    let past = reviewer
        .get_with(url, &[("Range", format!("bytes={}-", wav.len()))])
        .await;
    assert_eq!(past.status, 416);

    // The grant is bound to the session that asked for it.
    let other = Staff::login(&app, "rita.reviewer").await;
    assert_eq!(other.get(url).await.status, 403);
    let anonymous = webhook::request(&app.base, "GET", url, &[], "").await.unwrap();
    assert_eq!(anonymous.status, 401);
    let forged = url.replacen("g1.", "g1.x", 1);
    assert_eq!(reviewer.get(&forged).await.status, 403);
}

#[tokio::test]
async fn csrf_less_and_cross_origin_posts_are_refused() {
    // A site allowed to embed the browser call page is still a foreign origin for review.
    let app = spawn_app_with(Options::default(), |s| {
        s.browser.allowed_origins = vec!["https://www.clinic.example".into()];
    })
    .await;
    let call_id = finished_call(&app, 4).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let reviewer = Staff::login(&app, "rita.reviewer").await;
    let view = format!("/review/api/calls/{call_id}/view");
    let body = json!({"reason": "complaint 42"});
    let origin = app.origin();
    assert_eq!(reviewer.post_raw(&view, body.clone(), None, &origin).await.status, 403);
    assert_eq!(
        reviewer
            .post_raw(&view, body.clone(), Some("guess"), &origin)
            .await
            .status,
        403
    );
    let other = Staff::login(&app, "rita.reviewer").await;
    assert_eq!(
        reviewer
            .post_raw(&view, body.clone(), Some(&other.csrf), &origin)
            .await
            .status,
        403,
        "another session's token"
    );
    for foreign in ["https://evil.example", "https://www.clinic.example"] {
        assert_eq!(
            reviewer
                .post_raw(&view, body.clone(), Some(&reviewer.csrf), foreign)
                .await
                .status,
            403,
            "{foreign}"
        );
    }
    assert_eq!(reviewer.post(&view, body).await.status, 200);
    assert!(
        !audit_trail(&app)
            .await
            .iter()
            .any(|r| r["action"] == "review.call.viewed" && r["actor"]["session_id"] == json!(null))
    );
}

#[tokio::test]
async fn sessions_end_when_idle_at_the_absolute_limit_on_logout_and_when_disabled() {
    let clock = voicegate::clock::ManualClock::at_unix(1_900_000_000);
    let app = spawn_app_with(
        Options {
            clock: clock.clone(),
            ..Options::default()
        },
        |s| {
            s.review.idle_timeout_secs = 900;
            s.review.absolute_timeout_secs = 1800;
        },
    )
    .await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let forged = webhook::request(
        &app.base,
        "GET",
        "/review/api/session",
        &[("Cookie", "vg_review=forged".into())],
        "",
    )
    .await
    .unwrap();
    assert_eq!(forged.status, 401);

    let idle = Staff::login(&app, "rita.reviewer").await;
    clock.advance(std::time::Duration::from_secs(901));
    assert_eq!(idle.get("/review/api/session").await.status, 401, "idle timeout");

    let busy = Staff::login(&app, "rita.reviewer").await;
    for _ in 0..2 {
        clock.advance(std::time::Duration::from_secs(800));
        assert_eq!(busy.get("/review/api/session").await.status, 200);
    }
    clock.advance(std::time::Duration::from_secs(201));
    assert_eq!(
        busy.get("/review/api/session").await.status,
        401,
        "absolute timeout despite activity"
    );

    let leaving = Staff::login(&app, "rita.reviewer").await;
    assert_eq!(leaving.post("/review/api/logout", json!({})).await.status, 204);
    assert_eq!(leaving.get("/review/api/session").await.status, 401);

    let disabled = Staff::login(&app, "rita.reviewer").await;
    voicegate::review::staff::disable(&app.state.deps.db, "rita.reviewer", app.state.deps.clock.now_unix_ms())
        .await
        .unwrap();
    assert_eq!(disabled.get("/review/api/session").await.status, 401);
    assert_eq!(
        login_response(&app, "rita.reviewer", PASSWORD).await.status,
        401,
        "disabled accounts cannot sign in"
    );
    let logout = audit_trail(&app).await;
    assert!(logout.iter().any(|r| r["action"] == "review.logout"));
}

#[tokio::test]
async fn sign_in_is_throttled_and_every_attempt_is_audited() {
    let app = spawn_app().await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    for _ in 0..4 {
        let r = login_response(&app, "rita.reviewer", "wrong password!!").await;
        assert_eq!(r.status, 401);
        assert_eq!(json_of(&r)["error"], "invalid credentials");
    }
    let unknown = login_response(&app, "nobody.here", "wrong password!!").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        json_of(&unknown)["error"],
        "invalid credentials",
        "unknown users get the same answer"
    );
    // Five failures from this address: it is locked, whatever the username or password.
    let locked = login_response(&app, "rita.reviewer", PASSWORD).await;
    assert_eq!(locked.status, 429, "even the right password while locked");
    assert_eq!(login_response(&app, "someone.else", PASSWORD).await.status, 429);
    let trail = audit_trail(&app).await;
    let failures = trail
        .iter()
        .filter(|r| r["action"] == "review.login" && r["outcome"] == "failure")
        .count();
    assert_eq!(failures, 5);
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "review.login" && r["outcome"] == "denied")
    );
    assert!(
        !trail.iter().any(|r| r.to_string().contains("wrong password")),
        "passwords are never recorded"
    );
}

#[tokio::test]
async fn the_work_queue_shows_callbacks_and_lockouts_and_closing_them_needs_a_reason() {
    let app = spawn_app().await;
    let _call = finished_call(&app, 5).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    app.state
        .deps
        .db
        .exec(
            "INSERT INTO lockouts (patient_ref, locked_at_ms) VALUES ('phi:k:0123', 1)",
            &[],
        )
        .await
        .unwrap();
    let staff = Staff::login(&app, "rita.reviewer").await;
    let queue = json_of(&staff.get("/review/api/queue").await);
    let callback = &queue["callbacks"][0];
    assert_eq!(callback["topic"], "billing question", "{queue}");
    let reference = callback["reference"].as_str().unwrap().to_owned();
    assert_eq!(queue["lockouts"][0]["patient_ref"], "phi:k:0123");

    let complete = format!("/review/api/callbacks/{reference}/complete");
    assert_eq!(staff.post(&complete, json!({})).await.status, 400);
    assert_eq!(
        staff
            .post("/review/api/lockouts/lift", json!({"patient_ref": "phi:k:0123"}))
            .await
            .status,
        400,
        "lifting a lockout without a reason is refused"
    );
    assert_eq!(
        staff
            .post(&complete, json!({"reason": "called back, booked"}))
            .await
            .status,
        204
    );
    assert_eq!(staff.post(&complete, json!({"reason": "again"})).await.status, 404);
    assert_eq!(
        staff
            .post(
                "/review/api/lockouts/lift",
                json!({"patient_ref": "phi:k:0123", "reason": "verified by photo ID at the desk"})
            )
            .await
            .status,
        204
    );
    let queue = json_of(&staff.get("/review/api/queue").await);
    assert_eq!(queue, json!({"callbacks": [], "lockouts": []}));
    let trail = audit_trail(&app).await;
    let done = trail.iter().find(|r| r["action"] == "callback.completed").unwrap();
    assert_eq!(done["reason"], "called back, booked");
    let lifted = trail.iter().find(|r| r["action"] == "lockout.lifted").unwrap();
    assert_eq!(lifted["reason"], "verified by photo ID at the desk");
}

#[tokio::test]
async fn retention_deletes_expired_recordings_skips_legal_holds_and_audits_both() {
    let app = spawn_app().await;
    let expired = finished_call(&app, 6).await;
    let held = finished_call(&app, 7).await;
    add_staff(&app, "ada.admin", Role::Admin).await;
    let admin = Staff::login(&app, "ada.admin").await;
    let hold = admin
        .post(
            &format!("/review/api/calls/{held}/legal-hold"),
            json!({"hold": true, "reason": "litigation 2026-17"}),
        )
        .await;
    assert_eq!(hold.status, 204);
    let deps = &app.state.deps;
    let key = |id: &str| {
        let id = id.to_owned();
        async move {
            voicegate::storage::calls::get(&deps.db, &id)
                .await
                .unwrap()
                .unwrap()
                .recording_location
                .unwrap()
        }
    };
    let (expired_key, held_key) = (key(&expired).await, key(&held).await);

    // Not yet due: nothing happens.
    let now = deps.clock.now_unix_ms();
    let report = voicegate::review::retention::run(&deps.db, &deps.blobs, &deps.audit, 30, now)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    // 31 days later both are due; the held one stays.
    let later = now + 31 * 86_400_000;
    let report = voicegate::review::retention::run(&deps.db, &deps.blobs, &deps.audit, 30, later)
        .await
        .unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&expired));
    assert_eq!(report.held, std::slice::from_ref(&held));
    assert!(deps.blobs.get(&expired_key).await.is_err(), "recording deleted");
    assert!(
        deps.blobs
            .get(&expired_key.replace(".wav", ".manifest.json"))
            .await
            .is_err(),
        "manifest deleted"
    );
    assert!(deps.blobs.get(&held_key).await.is_ok(), "held recording kept");

    let trail = audit_trail(&app).await;
    let deleted: Vec<&Value> = trail
        .iter()
        .filter(|r| r["action"] == "recording.deleted" && r["call_id"] == expired)
        .collect();
    assert_eq!(
        deleted
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["attempted", "success"]
    );
    assert_eq!(deleted[1]["actor"], json!({"kind": "system", "job": "retention"}));
    let skipped = trail
        .iter()
        .find(|r| r["action"] == "recording.retention_skipped")
        .unwrap();
    assert_eq!(skipped["call_id"], held);
    assert_eq!(skipped["reason"], "legal hold");

    // The row stays in the index; its detail says the recording is gone; playback is refused.
    let rows = json_of(&admin.get("/review/api/calls").await);
    let row = rows["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == expired)
        .unwrap()
        .clone();
    assert_eq!(row["has_recording"], false);
    let detail = json_of(
        &admin
            .post(
                &format!("/review/api/calls/{expired}/view"),
                json!({"reason": "after retention"}),
            )
            .await,
    );
    assert_eq!(detail["recording"]["deleted"], true);
    assert_eq!(
        admin
            .post(
                &format!("/review/api/calls/{expired}/playback"),
                json!({"reason": "try"})
            )
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_list_filters_and_pages_without_phi() {
    let app = spawn_app().await;
    let first = finished_call(&app, 8).await;
    let second = finished_call(&app, 9).await;
    add_staff(&app, "rita.reviewer", Role::Reviewer).await;
    let staff = Staff::login(&app, "rita.reviewer").await;
    let page = json_of(&staff.get("/review/api/calls?limit=1").await);
    assert_eq!(page["calls"][0]["call_id"], second, "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = json_of(&staff.get(&format!("/review/api/calls?limit=1&before={cursor}")).await);
    assert_eq!(next["calls"][0]["call_id"], first);
    assert_eq!(next["next_cursor"], Value::Null);
    for (query, n) in [
        ("transport=twilio", 2),
        ("transport=browser", 0),
        ("verified=true", 0),
        ("verified=false", 2),
        ("emergency=true", 0),
        ("outcome=hung_up", 2),
    ] {
        let r = json_of(&staff.get(&format!("/review/api/calls?{query}")).await);
        assert_eq!(r["calls"].as_array().unwrap().len(), n, "{query}");
    }
    assert_eq!(staff.get("/review/api/calls?transport=fax").await.status, 400);
    assert_eq!(staff.get("/review/api/calls?before=garbage").await.status, 400);
}

/// The review store's SQL on both backends (PostgreSQL with the runtime role's grants): sign-in
/// and its throttle, the list with every filter, a view, playback, the queue, a legal hold and a
/// retention run, checked through the auditor's export.
async fn review_store_on(kind: BackendKind) {
    let Some(app) = spawn_app_on(kind).await else {
        return;
    };
    let call_id = finished_call(&app, 20).await;
    add_staff(&app, "ada.admin", Role::Admin).await;
    assert_eq!(login_response(&app, "ada.admin", "not the password").await.status, 401);
    let admin = Staff::login(&app, "ada.admin").await;
    let query = "/review/api/calls?transport=twilio&outcome=hung_up&verified=false&emergency=false&from_ms=0&to_ms=99999999999999&patient_ref=&limit=5";
    let rows = json_of(&admin.get(query).await);
    assert_eq!(rows["calls"][0]["call_id"], call_id, "{rows}");
    assert_eq!(rows["calls"][0]["disclosure_played"], true);
    let detail = json_of(
        &admin
            .post(
                &format!("/review/api/calls/{call_id}/view"),
                json!({"reason": "backend check"}),
            )
            .await,
    );
    assert_eq!(detail["chain"]["ok"], true, "{detail}");
    assert_eq!(
        admin
            .post(
                &format!("/review/api/calls/{call_id}/playback"),
                json!({"reason": "listen"})
            )
            .await
            .status,
        200
    );
    let queue = json_of(&admin.get("/review/api/queue").await);
    let reference = queue["callbacks"][0]["reference"].as_str().unwrap().to_owned();
    assert_eq!(
        admin
            .post(
                &format!("/review/api/callbacks/{reference}/complete"),
                json!({"reason": "done"})
            )
            .await
            .status,
        204
    );
    assert_eq!(
        admin
            .post(
                &format!("/review/api/calls/{call_id}/legal-hold"),
                json!({"hold": true, "reason": "hold"})
            )
            .await
            .status,
        204
    );
    let deps = &app.state.deps;
    let later = deps.clock.now_unix_ms() + 400 * 86_400_000;
    let report = voicegate::review::retention::run(&deps.db, &deps.blobs, &deps.audit, 1, later)
        .await
        .unwrap();
    assert_eq!(report.held, std::slice::from_ref(&call_id));
    let exported = json_of(
        &admin
            .post(
                "/review/api/audit/export",
                json!({"call_id": call_id, "reason": "check"}),
            )
            .await,
    );
    let actions: Vec<&str> = exported["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["action"].as_str().unwrap())
        .collect();
    for expected in [
        "review.call.viewed",
        "review.recording.played",
        "callback.completed",
        "legal_hold.placed",
        "recording.retention_skipped",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
}
crate::on_both_backends!(review_store, review_store_on);

/// A newcomer's first start: an `admin` whose password is in a 0600 file under data/keys (never
/// in the log), audited; a restart does not make another; a configured deployment gets none.
#[tokio::test]
async fn a_fresh_single_node_seeds_one_admin_whose_password_is_only_in_a_file() {
    let app = spawn_app().await;
    let path = voicegate::review::bootstrap::password_path(&app.state.deps.settings);
    let password = std::fs::read_to_string(&path).expect("password file").trim().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let r = login_response(&app, "admin", &password).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!app.logs.contents().contains(&password), "the password is never logged");
    assert!(app.logs.contents().contains("initial-admin-password"));
    let trail = audit_trail(&app).await;
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "staff.added" && r["actor"]["job"] == "bootstrap")
    );
    // A second start on the same data: nothing new.
    let again = voicegate::review::bootstrap::first_admin(&app.state.deps.settings, &app.state.deps.db, 0)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), password);
    // A deployment that configures its own keys creates accounts itself.
    let mut configured = (*app.state.deps.settings).clone();
    configured.secrets.generate_missing = false;
    let dir = tempfile::tempdir().unwrap();
    configured.server.data_dir = dir.path().to_path_buf();
    let (settings, _data, _pg) = fresh_settings(BackendKind::Sqlite).await.unwrap();
    let empty = voicegate::storage::open_database(&settings).await.unwrap();
    assert_eq!(
        voicegate::review::bootstrap::first_admin(&configured, &empty, 0)
            .await
            .unwrap(),
        None
    );
    assert!(!voicegate::review::bootstrap::password_path(&configured).exists());
}
