-- One row per call: the index compliance review browses. Never holds PHI values: the verified
-- patient is a keyed hash reference (PhiRef).
CREATE TABLE calls (
    call_id              TEXT PRIMARY KEY,
    call_sid             TEXT,
    transport            TEXT NOT NULL,
    started_at_ms        INTEGER NOT NULL,
    ended_at_ms          INTEGER,
    outcome              TEXT,
    disclosure_played    INTEGER NOT NULL DEFAULT 0,
    verified_patient_ref TEXT,
    recording_location   TEXT,
    caller_frames        INTEGER NOT NULL DEFAULT 0,
    barge_ins            INTEGER NOT NULL DEFAULT 0,
    tool_calls           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_started ON calls (started_at_ms);
CREATE INDEX calls_call_sid ON calls (call_sid);

-- The tamper-evident audit log. `canonical` holds the record's RFC 8785 JSON bytes verbatim;
-- hash = SHA-256(0x00 || prev_hash || canonical). idx is contiguous from 1.
CREATE TABLE audit_log (
    idx           INTEGER PRIMARY KEY,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL UNIQUE,
    canonical     BLOB NOT NULL,
    call_id       TEXT,
    action        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    late          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_log_call ON audit_log (call_id);

-- Append-only: SQLite has no privileges, so triggers refuse changes.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- What Twilio should do after a stream ends (answered at /twilio/voice/next by any replica).
CREATE TABLE next_steps (
    call_sid      TEXT PRIMARY KEY,
    step          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
