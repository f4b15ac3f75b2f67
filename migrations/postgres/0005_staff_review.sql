-- Compliance review: staff accounts, their sessions, login throttling, legal holds, and what the
-- review list filters on. Flags are 0/1 integers on both backends (one code path).

-- Staff who sign in to /review. Passwords are argon2id PHC strings; an account is disabled,
-- never deleted (audit records name it).
CREATE TABLE staff (
    staff_id      TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('reviewer', 'auditor', 'admin')),
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- Review sessions, shared by every replica. The cookie value is never stored: only its SHA-256,
-- so a copy of this table cannot be replayed as a cookie.
CREATE TABLE staff_sessions (
    session_hash  TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL UNIQUE,
    staff_id      TEXT NOT NULL REFERENCES staff (staff_id),
    csrf_token    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    ended_at_ms   BIGINT
);

-- Failed sign-ins per key ("user:<name>" or "addr:<ip>") in the current window.
CREATE TABLE login_throttle (
    throttle_key    TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    window_start_ms BIGINT NOT NULL,
    locked_until_ms BIGINT
);

-- Calls whose recording must not be deleted (by retention or anyone) until the hold is released.
CREATE TABLE legal_holds (
    call_id   TEXT PRIMARY KEY,
    set_by    TEXT NOT NULL,
    set_at_ms BIGINT NOT NULL
);

-- What the review list filters on, set when the call ends; and retention's mark.
ALTER TABLE calls ADD COLUMN emergency BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN recording_deleted_at_ms BIGINT;
CREATE INDEX calls_patient ON calls (verified_patient_ref);

ALTER TABLE callback_requests ADD COLUMN completed_by TEXT;

-- Periodic jobs any replica may run: a replica runs one only after claiming it here (an atomic
-- UPDATE), so a daily job runs once a day across the fleet.
CREATE TABLE job_runs (
    job         TEXT PRIMARY KEY,
    last_run_ms BIGINT NOT NULL
);
INSERT INTO job_runs (job, last_run_ms) VALUES ('retention', 0);
