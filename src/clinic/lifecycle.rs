//! The appointment lifecycle as a pure state machine: no I/O, no clock (the time comes in).
//!
//! ```text
//!   requested ──hold──► held ──confirm──► confirmed ──reschedule──► rescheduled (terminal;
//!       │                 │  └─release─► requested        │                     replaced by a
//!       └────confirm──────┘                                │                     new appointment)
//!   (any non-terminal) ──cancel(reason)──► cancelled       ├─ no-show   (only once it started)
//!                                                          └─ complete  (only once it started)
//! ```
//!
//! Every store applies a change only through [`transition`], so an illegal one (completing a
//! cancelled visit, a no-show before the visit, cancelling the past) is refused with a typed
//! error the API maps to a clear 409, and nothing changes. The states map one-to-one onto FHIR
//! `Appointment.status` (plus `replaced_by` for a move), which is what the built-in store keeps and
//! what the FHIR adapter writes.

use crate::tools::ehr::AppointmentStatus;

/// Where an appointment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Asked for, no time committed yet (FHIR `proposed`).
    Requested,
    /// A time is held for the patient while they decide (FHIR `pending`).
    Held,
    /// Booked (FHIR `booked`).
    Confirmed,
    /// Moved: this appointment ended and a new one replaced it (FHIR `cancelled` + replaced by).
    Rescheduled,
    /// Cancelled, with a reason (FHIR `cancelled`).
    Cancelled,
    /// The patient did not come (FHIR `noshow`).
    NoShow,
    /// The visit took place (FHIR `fulfilled`).
    Completed,
}

/// What someone asks to happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Hold,
    /// A hold lapsed or was let go.
    Release,
    Confirm,
    Reschedule,
    Cancel {
        reason: String,
    },
    MarkNoShow,
    MarkCompleted,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Hold => "hold",
            Event::Release => "release",
            Event::Confirm => "confirm",
            Event::Reschedule => "reschedule",
            Event::Cancel { .. } => "cancel",
            Event::MarkNoShow => "mark_no_show",
            Event::MarkCompleted => "mark_completed",
        }
    }
}

/// Why a transition is refused. Not retryable: the request does not fit the appointment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The appointment is over (cancelled, rescheduled, no-show, completed): nothing more happens to it.
    #[error("the appointment is already {0} and cannot change")]
    Terminal(&'static str),
    /// This event does not apply to this state (e.g. holding a confirmed appointment).
    #[error("cannot {event} an appointment that is {state}")]
    NotFromHere { event: &'static str, state: &'static str },
    /// No-show and completion are facts about a visit that has started.
    #[error("the visit has not started yet")]
    NotStarted,
    /// A visit that started can be marked no-show or completed, not moved or cancelled.
    #[error("the visit has already started")]
    AlreadyStarted,
    /// A cancellation must say why (the clinic's reports and the patient's record need it).
    #[error("a cancellation needs a reason")]
    ReasonRequired,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::Held => "held",
            State::Confirmed => "confirmed",
            State::Rescheduled => "rescheduled",
            State::Cancelled => "cancelled",
            State::NoShow => "no-show",
            State::Completed => "completed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Rescheduled | State::Cancelled | State::NoShow | State::Completed
        )
    }

    /// The FHIR status this state is stored as.
    pub fn fhir(self) -> AppointmentStatus {
        match self {
            State::Requested => AppointmentStatus::Proposed,
            State::Held => AppointmentStatus::Pending,
            State::Confirmed => AppointmentStatus::Booked,
            State::Rescheduled | State::Cancelled => AppointmentStatus::Cancelled,
            State::NoShow => AppointmentStatus::Noshow,
            State::Completed => AppointmentStatus::Fulfilled,
        }
    }

    /// The state a stored FHIR status (and whether a newer appointment replaced it) stands for.
    /// Statuses this clinic does not use (waitlist, entered-in-error, arrived, checked-in) map to
    /// the nearest state a clinic would recognise.
    pub fn from_fhir(status: AppointmentStatus, replaced: bool) -> State {
        match status {
            AppointmentStatus::Proposed | AppointmentStatus::Waitlist => State::Requested,
            AppointmentStatus::Pending => State::Held,
            AppointmentStatus::Booked | AppointmentStatus::Arrived | AppointmentStatus::CheckedIn => State::Confirmed,
            AppointmentStatus::Cancelled if replaced => State::Rescheduled,
            AppointmentStatus::Cancelled | AppointmentStatus::EnteredInError => State::Cancelled,
            AppointmentStatus::Noshow => State::NoShow,
            AppointmentStatus::Fulfilled => State::Completed,
        }
    }
}

/// Apply `event` to an appointment in `state` whose visit starts at `start_ms`, at `now_ms`.
///
/// # Errors
/// The transition is not allowed; see [`TransitionError`].
pub fn transition(state: State, event: &Event, start_ms: i64, now_ms: i64) -> Result<State, TransitionError> {
    if state.is_terminal() {
        return Err(TransitionError::Terminal(state.name()));
    }
    let started = now_ms >= start_ms;
    let not_from_here = || TransitionError::NotFromHere {
        event: event.name(),
        state: state.name(),
    };
    match event {
        Event::MarkNoShow | Event::MarkCompleted => {
            if state != State::Confirmed {
                return Err(not_from_here());
            }
            if !started {
                return Err(TransitionError::NotStarted);
            }
            Ok(if *event == Event::MarkNoShow {
                State::NoShow
            } else {
                State::Completed
            })
        }
        _ if started => Err(TransitionError::AlreadyStarted),
        Event::Hold => match state {
            State::Requested => Ok(State::Held),
            _ => Err(not_from_here()),
        },
        Event::Release => match state {
            State::Held => Ok(State::Requested),
            _ => Err(not_from_here()),
        },
        Event::Confirm => match state {
            State::Requested | State::Held => Ok(State::Confirmed),
            _ => Err(not_from_here()),
        },
        Event::Reschedule => match state {
            State::Confirmed => Ok(State::Rescheduled),
            _ => Err(not_from_here()),
        },
        Event::Cancel { reason } => {
            if reason.trim().is_empty() {
                return Err(TransitionError::ReasonRequired);
            }
            Ok(State::Cancelled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_000_000;
    const BEFORE: i64 = START - 1;
    const AFTER: i64 = START + 1;

    fn cancel() -> Event {
        Event::Cancel {
            reason: "patient asked".into(),
        }
    }

    fn all_events() -> Vec<Event> {
        vec![
            Event::Hold,
            Event::Release,
            Event::Confirm,
            Event::Reschedule,
            cancel(),
            Event::MarkNoShow,
            Event::MarkCompleted,
        ]
    }

    const ALL: [State; 7] = [
        State::Requested,
        State::Held,
        State::Confirmed,
        State::Rescheduled,
        State::Cancelled,
        State::NoShow,
        State::Completed,
    ];

    #[test]
    fn the_allowed_transitions_before_the_visit() {
        use State::*;
        let ok = |s, e: Event, to| assert_eq!(transition(s, &e, START, BEFORE), Ok(to), "{s:?} {e:?}");
        ok(Requested, Event::Hold, Held);
        ok(Requested, Event::Confirm, Confirmed);
        ok(Held, Event::Release, Requested);
        ok(Held, Event::Confirm, Confirmed);
        ok(Confirmed, Event::Reschedule, Rescheduled);
        for s in [Requested, Held, Confirmed] {
            ok(s, cancel(), Cancelled);
        }
    }

    #[test]
    fn the_allowed_transitions_after_the_visit_started() {
        assert_eq!(
            transition(State::Confirmed, &Event::MarkNoShow, START, AFTER),
            Ok(State::NoShow)
        );
        assert_eq!(
            transition(State::Confirmed, &Event::MarkCompleted, START, START),
            Ok(State::Completed)
        );
    }

    #[test]
    fn every_other_pair_is_refused_with_a_reason() {
        let allowed_before: &[(State, &str)] = &[
            (State::Requested, "hold"),
            (State::Requested, "confirm"),
            (State::Requested, "cancel"),
            (State::Held, "release"),
            (State::Held, "confirm"),
            (State::Held, "cancel"),
            (State::Confirmed, "reschedule"),
            (State::Confirmed, "cancel"),
        ];
        let allowed_after: &[(State, &str)] =
            &[(State::Confirmed, "mark_no_show"), (State::Confirmed, "mark_completed")];
        let mut refused = 0;
        for state in ALL {
            for event in all_events() {
                for (now, allowed) in [(BEFORE, allowed_before), (AFTER, allowed_after)] {
                    let r = transition(state, &event, START, now);
                    if allowed.contains(&(state, event.name())) {
                        assert!(r.is_ok(), "{state:?} {event:?} at {now}: {r:?}");
                        continue;
                    }
                    refused += 1;
                    let err = r.expect_err("refused");
                    let expected = if state.is_terminal() {
                        TransitionError::Terminal(state.name())
                    } else if matches!(event, Event::MarkNoShow | Event::MarkCompleted) {
                        if state != State::Confirmed {
                            TransitionError::NotFromHere {
                                event: event.name(),
                                state: state.name(),
                            }
                        } else {
                            TransitionError::NotStarted
                        }
                    } else if now >= START {
                        TransitionError::AlreadyStarted
                    } else {
                        TransitionError::NotFromHere {
                            event: event.name(),
                            state: state.name(),
                        }
                    };
                    assert_eq!(err, expected, "{state:?} {event:?} at {now}");
                    assert!(!err.to_string().is_empty());
                }
            }
        }
        // 7 states x 7 events x 2 moments, minus the 10 allowed.
        assert_eq!(refused, 7 * 7 * 2 - 10);
    }

    #[test]
    fn a_cancellation_needs_a_reason() {
        let blank = Event::Cancel { reason: "  ".into() };
        assert_eq!(
            transition(State::Confirmed, &blank, START, BEFORE),
            Err(TransitionError::ReasonRequired)
        );
    }

    #[test]
    fn states_round_trip_through_fhir_statuses() {
        for s in ALL {
            let back = State::from_fhir(s.fhir(), s == State::Rescheduled);
            assert_eq!(back, s, "{s:?}");
        }
        assert_eq!(
            State::from_fhir(AppointmentStatus::EnteredInError, false),
            State::Cancelled
        );
        assert_eq!(State::from_fhir(AppointmentStatus::CheckedIn, false), State::Confirmed);
    }
}
