-- The built-in scheduling store: locations, providers, their calendars, appointments, holds.
-- Instants are UTC milliseconds; open hours are local wall-clock minutes in the location's IANA
-- time zone, so a DST change moves the instants, not the clinic's hours.
CREATE TABLE locations (
    location_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL
);

CREATE TABLE providers (
    provider_id       TEXT PRIMARY KEY,
    display_name      TEXT NOT NULL,
    specialty         TEXT NOT NULL,       -- folded lowercase
    location_id       TEXT NOT NULL REFERENCES locations (location_id),
    slot_interval_min INTEGER NOT NULL CHECK (slot_interval_min > 0 AND slot_interval_min % 5 = 0),
    min_notice_min    INTEGER NOT NULL CHECK (min_notice_min >= 0),
    horizon_days      INTEGER NOT NULL CHECK (horizon_days > 0),
    buffer_before_min INTEGER NOT NULL CHECK (buffer_before_min >= 0 AND buffer_before_min % 5 = 0),
    buffer_after_min  INTEGER NOT NULL CHECK (buffer_after_min >= 0 AND buffer_after_min % 5 = 0),
    hold_minutes      INTEGER NOT NULL DEFAULT 5 CHECK (hold_minutes > 0)
);
CREATE INDEX providers_specialty ON providers (specialty);

CREATE TABLE provider_insurance (
    provider_id TEXT NOT NULL REFERENCES providers (provider_id),
    insurance   TEXT NOT NULL,             -- folded lowercase
    PRIMARY KEY (provider_id, insurance)
);

-- Weekly open hours (ISO weekday 1 = Monday), local minutes since midnight.
CREATE TABLE open_hours (
    provider_id TEXT NOT NULL REFERENCES providers (provider_id),
    weekday     INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens_min   INTEGER NOT NULL CHECK (opens_min BETWEEN 0 AND 1440),
    closes_min  INTEGER NOT NULL CHECK (closes_min BETWEEN 0 AND 1440 AND closes_min > opens_min)
);
CREATE INDEX open_hours_provider ON open_hours (provider_id);

-- Whole local days off.
CREATE TABLE time_off (
    provider_id TEXT NOT NULL REFERENCES providers (provider_id),
    day         TEXT NOT NULL,             -- ISO local date
    PRIMARY KEY (provider_id, day)
);

CREATE TABLE appointment_types (
    provider_id  TEXT NOT NULL REFERENCES providers (provider_id),
    type_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    duration_min INTEGER NOT NULL CHECK (duration_min > 0 AND duration_min % 5 = 0),
    is_default   INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    PRIMARY KEY (provider_id, type_code)
);

-- Appointments, with FHIR Appointment.status values.
CREATE TABLE appointments (
    appointment_id TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES providers (provider_id),
    patient_id     TEXT NOT NULL REFERENCES patients (patient_id),
    type_code      TEXT NOT NULL,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL CHECK (end_ms > start_ms),
    status         TEXT NOT NULL CHECK (status IN ('proposed', 'pending', 'booked', 'arrived', 'fulfilled',
                                                   'cancelled', 'noshow', 'entered-in-error', 'checked-in',
                                                   'waitlist')),
    reason         TEXT NOT NULL,
    call_id        TEXT,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    cancel_reason  TEXT,
    replaced_by    TEXT
);
CREATE INDEX appointments_patient ON appointments (patient_id, start_ms);

-- What makes a provider busy: an appointment (with its buffers) or an unexpired hold. Overlap is
-- impossible by constraint: on SQLite through `occupancy` below, on PostgreSQL by EXCLUDE.
CREATE TABLE busy_intervals (
    busy_id        TEXT PRIMARY KEY,
    provider_id    TEXT NOT NULL REFERENCES providers (provider_id),
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'hold')),
    appointment_id TEXT REFERENCES appointments (appointment_id),
    patient_id     TEXT NOT NULL,
    call_id        TEXT,
    type_code      TEXT NOT NULL,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    busy_start_ms  INTEGER NOT NULL,
    busy_end_ms    INTEGER NOT NULL CHECK (busy_end_ms > busy_start_ms),
    expires_at_ms  INTEGER,
    CHECK ((kind = 'hold') = (expires_at_ms IS NOT NULL))
);
CREATE INDEX busy_intervals_provider ON busy_intervals (provider_id, busy_start_ms);

-- SQLite has no exclusion constraints: one row per 5-minute unit a busy interval covers, unique
-- per provider, so two overlapping intervals cannot both be inserted.
CREATE TABLE occupancy (
    provider_id   TEXT NOT NULL,
    unit_start_ms INTEGER NOT NULL,
    busy_id       TEXT NOT NULL REFERENCES busy_intervals (busy_id) ON DELETE CASCADE,
    UNIQUE (provider_id, unit_start_ms)
);
CREATE INDEX occupancy_busy ON occupancy (busy_id);
