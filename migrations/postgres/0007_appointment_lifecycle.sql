-- The appointment lifecycle (src/clinic/lifecycle.rs): who made each booking, and every change
-- to an appointment as an append-only history (shown with the appointment; PHI-free: ids,
-- states, the staff member or call, the typed reason).

-- Where a booking came from. Rows from before this migration say 'unknown'.
ALTER TABLE appointments ADD COLUMN source TEXT NOT NULL DEFAULT 'unknown'
    CHECK (source IN ('phone_agent', 'browser_agent', 'staff', 'ehr', 'unknown'));

CREATE TABLE appointment_history (
    seq            BIGSERIAL PRIMARY KEY,
    appointment_id TEXT NOT NULL,
    at_ms          BIGINT NOT NULL,
    -- 'call:<call id>', 'staff:<staff id>', 'patient:sms', 'ehr'
    actor          TEXT NOT NULL,
    event          TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT NOT NULL,
    reason         TEXT,
    -- Ids only (e.g. the appointment that replaced this one), JSON.
    details        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX appointment_history_appointment ON appointment_history (appointment_id, at_ms);
