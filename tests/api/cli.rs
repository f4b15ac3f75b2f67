//! The binary's commands as an operator uses them: exit codes and messages.

use std::process::Command;

use crate::helpers::*;

fn voicegate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voicegate"))
}

/// Database unavailable at start-up: a clear error and a non-zero exit.
#[test]
fn serve_exits_nonzero_when_the_database_is_unreachable() {
    let data = tempfile::tempdir().unwrap();
    let out = voicegate()
        .args(["serve", "--port", "0"])
        .env("VOICEGATE__SERVER__DATA_DIR", data.path())
        .env("VOICEGATE__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none")
        .env("VOICEGATE__DATABASE__ACQUIRE_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("opening the database") && stderr.contains("database unavailable"),
        "{stderr}"
    );
}

/// `audit verify` prints OK with the count on a clean chain and exits 1 at the first break.
#[tokio::test]
async fn audit_verify_reports_ok_then_the_exact_break() {
    let Some((settings, data, _)) = fresh_settings(BackendKind::Sqlite).await else {
        return;
    };
    let db = voicegate::storage::open_database(&settings).await.unwrap();
    let audit = voicegate::audit::AuditLog::new(
        db.clone(),
        voicegate::audit::spool::Spool::open(data.path().join("audit-spool")).unwrap(),
        voicegate::storage::open_blobs(&settings).await.unwrap(),
        settings.secrets.audit_checkpoint_key.clone().unwrap(),
        1000,
        std::sync::Arc::new(voicegate::clock::SystemClock),
    );
    for n in 0..5u64 {
        audit
            .append(&voicegate::audit::AuditEvent {
                actor: voicegate::audit::Actor::System { job: "test".into() },
                action: "test.event".into(),
                call_id: Some("call_cli".into()),
                patient: None,
                reason: None,
                outcome: voicegate::audit::AuditOutcome::Success,
                details: serde_json::json!({"n": n}),
                at_ms: 1_800_000_000_000 + n,
            })
            .await
            .unwrap();
    }
    let run = |args: &[&str]| {
        voicegate()
            .args(args)
            .env("VOICEGATE__SERVER__DATA_DIR", data.path())
            .output()
            .unwrap()
    };
    let ok = run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && stdout.starts_with("OK: 5 records"), "{stdout}");

    let export = run(&["audit", "export", "--call", "call_cli"]);
    assert!(export.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "the five records, and the export's own record");
    assert_eq!(lines[5]["record"]["action"], "audit.exported");
    assert_eq!(
        lines[5]["record"]["actor"]["kind"], "cli",
        "the export is attributed to the command-line user"
    );

    let voicegate::storage::Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    sqlx::query("DROP TRIGGER audit_log_no_delete")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE idx = 3")
        .execute(pool)
        .await
        .unwrap();
    let broken = run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at index 3: Deleted"), "{stdout}");
}

/// A clean chain of 100,000 records verifies; the time is printed for the issue note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_record_chain_verifies() {
    let Some((settings, _data, _)) = fresh_settings(BackendKind::Sqlite).await else {
        return;
    };
    let db = voicegate::storage::open_database(&settings).await.unwrap();
    let voicegate::storage::Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    // Build the rows directly (one transaction) so the test measures verification, not appends.
    let mut tx = pool.begin().await.unwrap();
    let mut prev = voicegate::audit::chain::GENESIS;
    for i in 1..=100_000u64 {
        let record = serde_json::json!({"v": 1, "index": i, "action": "bulk", "details": {"n": i}});
        let canonical = voicegate::audit::canonical::canonicalize(&record).unwrap();
        let hash = voicegate::audit::chain::record_hash(&prev, &canonical);
        sqlx::query("INSERT INTO audit_log (idx, prev_hash, hash, canonical, action, created_at_ms) VALUES (?, ?, ?, ?, 'bulk', 0)")
            .bind(i as i64)
            .bind(prev.as_slice())
            .bind(hash.as_slice())
            .bind(canonical)
            .execute(&mut *tx)
            .await
            .unwrap();
        prev = hash;
    }
    tx.commit().await.unwrap();
    let blobs = voicegate::storage::open_blobs(&settings).await.unwrap();
    let started = std::time::Instant::now();
    let verdict = voicegate::audit::verify::verify(&db, &blobs, &[]).await.unwrap();
    eprintln!(
        "verified 100,000 records in {:.2} s (debug build)",
        started.elapsed().as_secs_f64()
    );
    assert!(matches!(verdict, voicegate::audit::verify::Verdict::Ok(s) if s.length == 100_000));
}

/// `staff add|list|disable`: the password comes from the environment or stdin (never an
/// argument), short passwords are refused, and each change is audited as the OS user.
#[test]
fn staff_accounts_are_managed_from_the_command_line_and_audited() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], password: Option<&str>| {
        let mut cmd = voicegate();
        cmd.args(args).env("VOICEGATE__SERVER__DATA_DIR", data.path());
        if let Some(p) = password {
            cmd.env("VOICEGATE_STAFF_PASSWORD", p);
        }
        cmd.output().unwrap()
    };
    // The database is created and migrated by `migrate` (serve does it too).
    assert!(run(&["migrate"], None).status.success());
    let short = run(
        &["staff", "add", "--username", "rita", "--role", "reviewer"],
        Some("short"),
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let added = run(
        &["staff", "add", "--username", "Rita.Reviewer", "--role", "reviewer"],
        Some("correct horse battery staple"),
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let taken = run(
        &["staff", "add", "--username", "rita.reviewer", "--role", "admin"],
        Some("correct horse battery staple"),
    );
    assert!(!taken.status.success());
    let bad_role = run(
        &["staff", "add", "--username", "x.y.z", "--role", "root"],
        Some("correct horse battery staple"),
    );
    assert!(!bad_role.status.success());
    let list = String::from_utf8_lossy(&run(&["staff", "list"], None).stdout).to_string();
    assert!(
        list.starts_with("rita.reviewer\treviewer\tstf_") && list.contains("active"),
        "{list}"
    );
    let disabled = run(
        &[
            "staff",
            "disable",
            "--username",
            "rita.reviewer",
            "--reason",
            "left the clinic",
        ],
        None,
    );
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    let list = String::from_utf8_lossy(&run(&["staff", "list"], None).stdout).to_string();
    assert!(list.contains("disabled"), "{list}");
    let out = run(&["audit", "verify"], None);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("OK: 2 records"),
        "{out:?}"
    );
}

/// `redflag …` with the embedded defaults, or a configuration file, and lines on stdin.
fn redflag(args: &[&str], config: Option<&std::path::Path>, stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let data = tempfile::tempdir().unwrap();
    let mut cmd = voicegate();
    cmd.arg("redflag");
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut child = cmd
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("VOICEGATE__SERVER__DATA_DIR", data.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A file with `text` in a fresh temporary folder (kept alive by the returned guard).
fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The CI gate of issue 14: the detector must catch every emergency of both corpus halves and
/// stay under the false-positive limits (3 % overall, 5 % per kind). `cargo test` fails here,
/// with every miss printed, the moment a change to the tables costs a caller.
#[test]
fn redflag_eval_passes_the_bar_on_both_corpus_halves() {
    for half in ["tests/red_flags/dev.tsv", "tests/red_flags/test.tsv"] {
        let out = redflag(&["eval", half], None, "");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{half} below the bar:\n{report}");
        assert!(report.contains("recall by kind:") && report.contains("false positives overall:"));
        assert!(
            report.trim_end().lines().last().unwrap().starts_with("PASS"),
            "{report}"
        );
    }
}

/// One label per input line, in order, blank lines included, so a clinician can paste a column
/// of utterances and line the answers up.
#[test]
fn redflag_check_prints_one_label_per_line_in_order() {
    let out = redflag(
        &["check"],
        None,
        "half my body just went numb out of nowhere\n\
         can I move my cleaning to Thursday\n\
         \n\
         I don't want to be here anymore\n\
         no chest pain, I just need a refill\n\
         a mi esposo se le cayó un lado de la cara\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "EMERGENCY_911\nNONE\nNONE\nCRISIS_988\nNONE\nEMERGENCY_911\n"
    );
}

/// `--explain` names the category, the rule's concepts, and every concept heard with the context
/// rule that kept or dropped it.
#[test]
fn redflag_explain_names_the_concept_and_the_context_rule() {
    let out = redflag(
        &["check", "--explain"],
        None,
        "my face is drooping on one side\nI had a stroke in 2019\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("EMERGENCY_911\tstroke <- face_droop"), "{text}");
    assert!(lines[0].contains("[affirmed]"), "{text}");
    assert!(lines[1].starts_with("NONE"), "{text}");
    assert!(lines[1].contains("stroke_word=\"stroke\" [historical by"), "{text}");
}

/// A corpus the detector fails: exit 1, FAIL, and the missed line with its number.
#[test]
fn redflag_eval_exits_1_and_lists_the_miss_below_the_bar() {
    let (_dir, corpus) = temp_file(
        "c.tsv",
        "EMERGENCY_911\tmust_catch\tmy husband collapsed and isn't breathing\n\
         EMERGENCY_911\tmust_catch\tI would like a cleaning on Friday\n\
         NONE\troutine\tcan I get a flu shot\n",
    );
    let out = redflag(&["eval", corpus.to_str().unwrap()], None, "");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("missed line 2 [must_catch] expected EMERGENCY_911 got NONE"),
        "{report}"
    );
    assert!(
        report.trim_end().lines().last().unwrap().starts_with("FAIL"),
        "{report}"
    );
}

/// A malformed corpus is refused with its line number, not scored.
#[test]
fn redflag_eval_refuses_a_malformed_corpus_with_its_line() {
    let (_dir, corpus) = temp_file("bad.tsv", "NONE\troutine\tcan I book\nURGENT\tmust_catch\thelp\n");
    let out = redflag(&["eval", corpus.to_str().unwrap()], None, "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.tsv") && stderr.contains("line 2"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// A clinic's own phrase (a local idiom for a stroke) and its own benign look-alike (a service
/// name) take effect by configuration alone; a phrase that does not parse stops the command with
/// the setting's path.
#[test]
fn redflag_uses_the_clinics_phrases_and_refuses_a_broken_one() {
    let (_good_dir, good) = temp_file(
        "good.yaml",
        "safety:\n  red_flag:\n    phrases:\n      - phrase: \"gone all wonky ~2 face|mouth\"\n        concept: face_droop\n    benign:\n      - \"stroke ~1 club\"\n",
    );
    let lines = "she's gone all wonky in the face\nI want to join the stroke club\n";
    let builtin = redflag(&["check"], None, lines);
    assert_eq!(String::from_utf8_lossy(&builtin.stdout), "NONE\nEMERGENCY_911\n");
    let clinic = redflag(&["check"], Some(&good), lines);
    assert!(clinic.status.success(), "{}", String::from_utf8_lossy(&clinic.stderr));
    assert_eq!(String::from_utf8_lossy(&clinic.stdout), "EMERGENCY_911\nNONE\n");

    let (_bad_dir, bad) = temp_file(
        "bad.yaml",
        "safety:\n  red_flag:\n    phrases:\n      - phrase: \"(unclosed ~2 face\"\n        concept: face_droop\n",
    );
    let out = redflag(&["check"], Some(&bad), "hello\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("safety.red_flag.phrases[0]"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Front-desk consent is recorded from the command line: bad values are refused with a clear
/// message and change nothing; every change and look is audited by keyed reference, never values.
#[test]
fn contact_records_and_consent_are_set_from_the_command_line_and_audited() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        voicegate()
            .args(args)
            .env("VOICEGATE__SERVER__DATA_DIR", data.path())
            .output()
            .unwrap()
    };
    assert!(run(&["migrate"]).status.success());
    let set = |extra: &[&str]| {
        let mut args = vec![
            "contact",
            "set",
            "--patient",
            "fhir-123",
            "--reason",
            "consent form signed",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, message) in [
        (&["--phone", "not a phone"][..], "--phone is not a phone number"),
        (&["--email", "nobody"][..], "--email is not an email address"),
        (&["--language", "fr"][..], "--language must be en or es"),
        (&["--sms-consent", "yes"][..], "needs a phone number on file"),
    ] {
        let out = set(extra);
        assert!(!out.status.success(), "{extra:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
    let shown = run(&["contact", "show", "--patient", "fhir-123", "--reason", "check"]);
    assert!(!shown.status.success(), "nothing was saved by the refused changes");

    let ok = set(&[
        "--phone",
        "(555) 013-2748",
        "--sms-consent",
        "yes",
        "--language",
        "es-MX",
    ]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("sms consent yes, email consent no, language es"));
    // Later changes keep what they do not name.
    let ok = set(&["--email", "ana@patients.test", "--email-consent", "yes"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let shown = run(&["contact", "show", "--patient", "fhir-123", "--reason", "patient asked"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    for line in [
        "phone\t+15550132748",
        "email\tana@patients.test",
        "sms_consent\tyes",
        "email_consent\tyes",
        "language\tes",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    let db = data.path().join("voicegate.db");
    let trail: Vec<String> = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT canonical FROM audit_log ORDER BY idx")
            .fetch_all(&pool)
            .await
            .unwrap();
        rows.into_iter().map(|(c,)| String::from_utf8(c).unwrap()).collect()
    });
    let trail = trail.join("\n");
    assert_eq!(trail.matches("notification.consent").count(), 2, "{trail}");
    assert_eq!(
        trail.matches("contact.viewed").count(),
        2,
        "the refused look is audited too"
    );
    assert!(
        trail.contains("consent form signed") && trail.contains("\"phi:"),
        "{trail}"
    );
    assert!(
        !trail.contains("5550132748") && !trail.contains("ana@patients"),
        "{trail}"
    );
}
