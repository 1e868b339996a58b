-- Without TimescaleDB: a plain table, keyed by event_id.
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (event_id);
CREATE UNIQUE INDEX IF NOT EXISTS events_intent_sequence ON events (intent_id, sequence);
CREATE UNIQUE INDEX IF NOT EXISTS events_position ON events (position);
