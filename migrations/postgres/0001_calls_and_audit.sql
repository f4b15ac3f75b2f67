-- One row per call: the index compliance review browses. Never holds PHI values: the verified
-- patient is a keyed hash reference (PhiRef).
CREATE TABLE calls (
    call_id              TEXT PRIMARY KEY,
    call_sid             TEXT,
    transport            TEXT NOT NULL,
    started_at_ms        BIGINT NOT NULL,
    ended_at_ms          BIGINT,
    outcome              TEXT,
    disclosure_played    BOOLEAN NOT NULL DEFAULT false,
    verified_patient_ref TEXT,
    recording_location   TEXT,
    caller_frames        BIGINT NOT NULL DEFAULT 0,
    barge_ins            BIGINT NOT NULL DEFAULT 0,
    tool_calls           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX calls_started ON calls (started_at_ms);
CREATE INDEX calls_call_sid ON calls (call_sid);

-- The tamper-evident audit log. `canonical` holds the record's RFC 8785 JSON bytes verbatim;
-- hash = SHA-256(0x00 || prev_hash || canonical). idx is contiguous from 1; appends are
-- serialised with a transaction-scoped advisory lock, so replicas build one chain.
CREATE TABLE audit_log (
    idx           BIGINT PRIMARY KEY,
    prev_hash     BYTEA NOT NULL,
    hash          BYTEA NOT NULL UNIQUE,
    canonical     BYTEA NOT NULL,
    call_id       TEXT,
    action        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    late          BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX audit_log_call ON audit_log (call_id);

-- Defence in depth beside privileges: the runtime role has only INSERT/SELECT, and even the owner
-- must disable these triggers to change history (which the hash chain would then reveal).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- What Twilio should do after a stream ends (answered at /twilio/voice/next by any replica).
CREATE TABLE next_steps (
    call_sid      TEXT PRIMARY KEY,
    step          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
