-- With TimescaleDB: a hypertable on occurred_at. Its unique indexes must contain the
-- partitioning column, so event_id uniqueness is kept by a narrow side table instead.
CREATE TABLE IF NOT EXISTS event_ids (event_id UUID PRIMARY KEY);
ALTER TABLE events ADD PRIMARY KEY (event_id, occurred_at);
SELECT create_hypertable('events', 'occurred_at', chunk_time_interval => INTERVAL '1 day',
                         migrate_data => true);
CREATE INDEX IF NOT EXISTS events_intent_sequence ON events (intent_id, sequence);
CREATE INDEX IF NOT EXISTS events_position ON events (position);
