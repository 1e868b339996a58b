-- The event log: append-only, one row per event, `event_id` unique.
CREATE TABLE IF NOT EXISTS events (
    position       BIGINT GENERATED ALWAYS AS IDENTITY,
    event_id       UUID        NOT NULL,
    event_type     TEXT        NOT NULL,
    intent_id      UUID        NOT NULL,
    strategy_id    UUID        NOT NULL,
    sequence       INTEGER     NOT NULL CHECK (sequence >= 0),
    occurred_at    TIMESTAMPTZ NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    schema_version INTEGER     NOT NULL,
    causation_id   UUID,
    envelope       BYTEA       NOT NULL,  -- the exact bytes that travelled over NATS
    payload        JSONB       NOT NULL   -- the same payload, queryable
);

-- Refuse UPDATE, DELETE and TRUNCATE in the database itself, whoever asks.
CREATE OR REPLACE FUNCTION events_refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_mutation();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_mutation();

-- Messages that kept failing: kept with their error, never silently dropped.
CREATE TABLE IF NOT EXISTS dead_letters (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject       TEXT        NOT NULL,
    message_id    TEXT,
    deliveries    INTEGER     NOT NULL,
    error         TEXT        NOT NULL,
    data          BYTEA       NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
