"""The backing services (NATS, Redis, PostgreSQL, the chain): checking and starting them."""
