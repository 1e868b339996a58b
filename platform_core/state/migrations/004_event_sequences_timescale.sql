-- With TimescaleDB only: the hypertable cannot hold a unique index on (intent_id, sequence)
-- (unique indexes must contain occurred_at), so each sequence is claimed in a narrow side
-- table, as event ids are in event_ids: a stale writer's event at a taken sequence is refused.
CREATE TABLE IF NOT EXISTS event_sequences (
    intent_id UUID    NOT NULL,
    sequence  INTEGER NOT NULL,
    PRIMARY KEY (intent_id, sequence)
);
INSERT INTO event_sequences (intent_id, sequence)
    SELECT intent_id, sequence FROM events ON CONFLICT DO NOTHING;
