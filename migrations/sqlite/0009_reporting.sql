-- The clinic report (src/clinic/report): what the agent could not do and why visits were
-- cancelled, as fixed PHI-free labels the report can count in SQL.

-- What each tool call of a call ended with (`booked`, `no_slots`, `refused_unverified`, ...),
-- written when the call ends. Labels only: never arguments, names or ids of patients.
CREATE TABLE call_tool_outcomes (
    call_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    tool    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX call_tool_outcomes_at ON call_tool_outcomes (at_ms);

-- A fixed category for each cancellation (src/clinic/cancel_reason.rs), so the report counts
-- reasons without showing what anyone typed. Rows from before this migration stay NULL.
ALTER TABLE appointment_history ADD COLUMN reason_code TEXT;
CREATE INDEX appointment_history_at ON appointment_history (at_ms);
CREATE INDEX appointments_start ON appointments (start_ms);
CREATE INDEX callback_requests_call ON callback_requests (call_id);
