-- The built-in EHR's patients (the demo clinic is seeded at first start). Names are stored as
-- given and folded (case and accents) for exact matching; birth dates as ISO dates; phones E.164.
CREATE TABLE patients (
    patient_id        TEXT PRIMARY KEY,
    first_name        TEXT NOT NULL,
    last_name         TEXT NOT NULL,
    first_name_folded TEXT NOT NULL,
    last_name_folded  TEXT NOT NULL,
    birth_date        TEXT NOT NULL,
    phone_e164        TEXT NOT NULL
);
CREATE INDEX patients_lookup ON patients (last_name_folded, birth_date);

-- Failed verification attempts against a record (by keyed reference), across calls.
CREATE TABLE verification_failures (
    patient_ref TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX verification_failures_ref ON verification_failures (patient_ref, at_ms);

-- Records locked after repeated failures, until staff verify the caller.
CREATE TABLE lockouts (
    patient_ref  TEXT PRIMARY KEY,
    locked_at_ms INTEGER NOT NULL,
    lifted_at_ms INTEGER,
    lifted_by    TEXT
);

-- Callback requests queued for staff, with the reference number the caller heard.
CREATE TABLE callback_requests (
    reference       TEXT PRIMARY KEY,
    call_id         TEXT NOT NULL,
    patient_ref     TEXT,
    topic           TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    completed_at_ms INTEGER
);
