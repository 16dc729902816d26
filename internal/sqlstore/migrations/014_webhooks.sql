-- Outgoing webhooks (issue 14, docs/webhooks.md): the merchants'
-- subscriptions, and one delivery per subscription and journal entry,
-- unique, so a dispatcher that runs again (on any node) adds none twice.
-- Where the dispatcher has read the journal up to is a setting
-- ("webhooks.cursor").
CREATE TABLE webhook_subscriptions (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants(id),
	url         TEXT NOT NULL,
	description TEXT NOT NULL,
	events      TEXT NOT NULL,
	secrets     TEXT NOT NULL,
	enabled     BIGINT NOT NULL,
	notice      TEXT NOT NULL,
	disabled_at BIGINT NOT NULL,
	from_seq    BIGINT NOT NULL,
	created     BIGINT NOT NULL,
	updated     BIGINT NOT NULL,
	version     BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
	id              TEXT PRIMARY KEY,
	subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id),
	seq             BIGINT NOT NULL,
	type            TEXT NOT NULL,
	ref             TEXT NOT NULL,
	payload         {{BLOB}} NOT NULL,
	state           TEXT NOT NULL,
	attempts        BIGINT NOT NULL,
	last_status     BIGINT NOT NULL,
	last_error      TEXT NOT NULL,
	last_attempt    BIGINT NOT NULL,
	next_attempt    BIGINT NOT NULL,
	first_failure   BIGINT NOT NULL,
	delivered       BIGINT NOT NULL,
	created         BIGINT NOT NULL,
	version         BIGINT NOT NULL,
	UNIQUE (subscription_id, seq)
);
-- The next pending delivery of a subscription, and the subscriptions with one.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, subscription_id, seq);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created);
