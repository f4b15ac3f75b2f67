-- no-transaction
-- Clinic operations (issue 16): the clinic staff roles, and blocked time (leave, a meeting) as a
-- third kind of busy interval, so the same constraint that prevents double bookings keeps a
-- booking out of a block.
--
-- SQLite cannot change a CHECK constraint in place: both tables are rebuilt by the documented
-- procedure (new table, copy, drop, rename) with foreign keys off, inside one transaction of our
-- own. Each step is safe to run again, so a crash between the commit and sqlx's bookkeeping row
-- only repeats the rebuild.
PRAGMA foreign_keys = OFF;
BEGIN;

DROP TABLE IF EXISTS staff_v8;
CREATE TABLE staff_v8 (
    staff_id      TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('reviewer', 'auditor', 'admin', 'front_desk', 'clinic_admin')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);
INSERT INTO staff_v8 (staff_id, username, password_hash, role, disabled, created_at_ms)
    SELECT staff_id, username, password_hash, role, disabled, created_at_ms FROM staff;
DROP TABLE staff;
ALTER TABLE staff_v8 RENAME TO staff;

-- A block has no patient, call or visit type; it has a label staff typed and who set it.
DROP TABLE IF EXISTS busy_intervals_v8;
CREATE TABLE busy_intervals_v8 (
    busy_id        TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES providers (provider_id),
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'hold', 'block')),
    appointment_id TEXT REFERENCES appointments (appointment_id),
    patient_id     TEXT,
    call_id        TEXT,
    type_code      TEXT,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    busy_start_ms  INTEGER NOT NULL,
    busy_end_ms    INTEGER NOT NULL CHECK (busy_end_ms > busy_start_ms),
    expires_at_ms  INTEGER,
    label          TEXT,
    created_by     TEXT,
    CHECK ((kind = 'hold') = (expires_at_ms IS NOT NULL)),
    CHECK ((kind = 'block') = (patient_id IS NULL)),
    CHECK (kind <> 'block' OR (label IS NOT NULL AND created_by IS NOT NULL))
);
INSERT INTO busy_intervals_v8 (busy_id, provider_id, kind, appointment_id, patient_id, call_id, type_code, start_ms,
                               end_ms, busy_start_ms, busy_end_ms, expires_at_ms)
    SELECT busy_id, provider_id, kind, appointment_id, patient_id, call_id, type_code, start_ms, end_ms,
           busy_start_ms, busy_end_ms, expires_at_ms FROM busy_intervals;
DROP TABLE busy_intervals;
ALTER TABLE busy_intervals_v8 RENAME TO busy_intervals;
CREATE INDEX busy_intervals_provider ON busy_intervals (provider_id, busy_start_ms);

COMMIT;
PRAGMA foreign_keys = ON;
