//! The appointment lifecycle through the real server: every change the agent makes is written to
//! the appointment's history in the same transaction, with who made it and where the booking
//! came from, and an illegal change is refused with nothing written. Both backends.

use serde_json::{Value, json};
use voicegate::clinic::history;
use voicegate::storage::sql::Arg;

use crate::helpers::*;
use crate::notify_email::slots;
use crate::tools::{call_tool, connected, jane};

#[derive(sqlx::FromRow)]
struct Source {
    source: String,
}

fn states(rows: &[history::HistoryRow]) -> Vec<(String, Option<String>, String)> {
    rows.iter()
        .map(|r| (r.event.clone(), r.from_state.clone(), r.to_state.clone()))
        .collect()
}

async fn lifecycle_history(kind: BackendKind) {
    let Some(app) = spawn_app_on(kind).await else { return };
    let (_caller, mut fake) = connected(&app, 61).await;
    assert_eq!(call_tool(&mut fake, "verify_patient", jane()).await["ok"], true);
    let found = call_tool(&mut fake, "find_slots", json!({"provider_id": "patel"})).await;
    let slots = slots(&found);
    let booked = call_tool(
        &mut fake,
        "book_appointment",
        json!({"slot": slots[0], "reason": "checkup"}),
    )
    .await;
    let first = booked["appointment"].as_str().unwrap().to_owned();
    let db = &app.state.deps.db;
    let source: Vec<Source> = db
        .all(
            "SELECT source FROM appointments WHERE appointment_id = ?",
            &[Arg::Text(&first)],
        )
        .await
        .unwrap();
    assert_eq!(source[0].source, "phone_agent", "a Twilio call's booking");

    let moved = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": first, "new_slot": slots[1]}),
    )
    .await;
    let second = moved["appointment"].as_str().unwrap().to_owned();
    let old = history::of(db, &first).await.unwrap();
    assert_eq!(
        states(&old),
        [
            ("confirm".into(), None, "confirmed".into()),
            ("reschedule".into(), Some("confirmed".into()), "rescheduled".into()),
        ]
    );
    let details: Value = serde_json::from_str(&old[1].details).unwrap();
    assert_eq!(details["replaced_by"], second.as_str());
    assert!(
        old.iter().all(|r| r.actor.starts_with("call:call_")),
        "{:?}",
        old[0].actor
    );

    // A cancellation without a reason from the caller still records why it ended.
    let cancelled = call_tool(&mut fake, "cancel_appointment", json!({"appointment": second})).await;
    assert_eq!(cancelled["ok"], true, "{cancelled}");
    let new = history::of(db, &second).await.unwrap();
    assert_eq!(
        states(&new),
        [
            ("confirm".into(), None, "confirmed".into()),
            ("cancel".into(), Some("confirmed".into()), "cancelled".into()),
        ]
    );
    assert_eq!(new[1].reason.as_deref(), Some("caller request"));
    assert_eq!(
        serde_json::from_str::<Value>(&new[0].details).unwrap()["replaces"],
        first.as_str()
    );

    // Terminal: a second cancellation and a move of the old one are refused, nothing written.
    let again = call_tool(
        &mut fake,
        "cancel_appointment",
        json!({"appointment": second, "reason": "x"}),
    )
    .await;
    assert_eq!(again["ok"], false, "{again}");
    let move_old = call_tool(
        &mut fake,
        "reschedule_appointment",
        json!({"appointment": first, "new_slot": slots[2]}),
    )
    .await;
    assert_ne!(move_old["ok"], true, "{move_old}");
    assert_eq!(history::of(db, &second).await.unwrap().len(), 2);
    assert_eq!(history::of(db, &first).await.unwrap().len(), 2);
}

crate::on_both_backends!(every_change_is_in_the_appointment_history, lifecycle_history);
