-- API keys: only a hash of the secret is stored; the key id locates the row.
CREATE TABLE IF NOT EXISTS api_keys (
    key_id       TEXT        PRIMARY KEY,
    strategy_id  UUID        NOT NULL,
    secret_hash  BYTEA       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS api_keys_strategy ON api_keys (strategy_id);

-- Idempotency keys: the first submission under a key claims it with its request hash, the
-- response it got (202 receipt or 422 denial) and the exact event bytes, so a retry gets the
-- same response and re-publishes the same event (deduplicated downstream).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    strategy_id   UUID        NOT NULL,
    key           TEXT        NOT NULL,
    request_hash  BYTEA       NOT NULL,
    response      JSONB       NOT NULL,
    envelope      BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (strategy_id, key)
);
