-- Confirmations and reminders: who may be contacted how (consent), and the outbox of messages.
-- Flags are 0/1 integers on both backends (one code path); instants are UTC milliseconds.

-- How a patient may be reached about appointments, and whether they agreed to it. Kept here for
-- both EHR kinds: consent changes (STOP, unsubscribe) must take effect at once, whatever the EHR.
CREATE TABLE notification_contacts (
    patient_id    TEXT PRIMARY KEY,
    phone_e164    TEXT,
    email         TEXT,
    sms_consent   BIGINT NOT NULL DEFAULT 0 CHECK (sms_consent IN (0, 1)),
    email_consent BIGINT NOT NULL DEFAULT 0 CHECK (email_consent IN (0, 1)),
    language      TEXT NOT NULL DEFAULT 'en',
    updated_at_ms BIGINT NOT NULL,
    -- What last changed consent: 'seed', 'sms:stop', 'sms:start', 'email:unsubscribe', a staff id.
    updated_by    TEXT NOT NULL,
    -- Random, made at the first email: the unsubscribe link carries it instead of a record number.
    unsubscribe_token TEXT UNIQUE
);
CREATE INDEX notification_contacts_phone ON notification_contacts (phone_e164);

-- The outbox. The primary key is the idempotency key (appointment, kind, channel, reminder offset),
-- so planning the same message twice is a no-op and a worker that crashes mid-send can only ever
-- retry the one row. `last_error` is a fixed PHI-free reason code.
CREATE TABLE notifications (
    notification_id      TEXT PRIMARY KEY,
    appointment_id       TEXT NOT NULL,
    patient_id           TEXT NOT NULL,
    patient_ref          TEXT NOT NULL,
    call_id              TEXT,
    kind                 TEXT NOT NULL CHECK (kind IN ('booked', 'rescheduled', 'cancelled', 'reminder')),
    channel              TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    offset_min           BIGINT,
    appointment_start_ms BIGINT NOT NULL,
    time_zone            TEXT NOT NULL,
    due_at_ms            BIGINT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('planned', 'sent', 'delivered', 'failed', 'cancelled',
                                                         'suppressed')),
    attempts             BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    template_id          TEXT,
    claimed_by           TEXT,
    claimed_until_ms     BIGINT,
    provider_message_id  TEXT,
    reply                TEXT,
    created_at_ms        BIGINT NOT NULL,
    sent_at_ms           BIGINT,
    updated_at_ms        BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, due_at_ms);
CREATE INDEX notifications_appointment ON notifications (appointment_id);
CREATE INDEX notifications_call ON notifications (call_id);
CREATE INDEX notifications_provider_message ON notifications (provider_message_id);

-- A patient's "C" reply to a confirmation or reminder (the built-in store's record of it).
ALTER TABLE appointments ADD COLUMN patient_confirmed_at_ms BIGINT;

-- The EHR feed's watermark (FHIR): 0 until its first sweep sets it.
INSERT INTO job_runs (job, last_run_ms) VALUES ('notify_ehr_feed', 0);
