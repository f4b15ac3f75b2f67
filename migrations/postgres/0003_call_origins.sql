-- The caller ID of a call between the webhook and its media stream (which may reach another
-- replica). Taken (deleted) when the stream starts; rows older than a few minutes are purged.
CREATE TABLE call_origins (
    call_sid      TEXT PRIMARY KEY,
    caller_e164   TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
