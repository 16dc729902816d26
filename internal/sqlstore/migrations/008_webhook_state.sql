-- Webhook state every node shares (MobilePay, seed 001): customers' scans
-- of a till's QR, kept until a payment at that till claims them, and the
-- signatures of the webhook deliveries taken, so that a replay is refused
-- by every node, not only the one that took the delivery.
CREATE TABLE checkins (
	method         TEXT NOT NULL,
	beacon_id      TEXT NOT NULL,
	customer_token TEXT NOT NULL,
	at             BIGINT NOT NULL,
	reference      TEXT NOT NULL,
	PRIMARY KEY (method, beacon_id, customer_token, at)
);
CREATE INDEX checkins_claim ON checkins (method, beacon_id, reference, at);
CREATE INDEX checkins_at ON checkins (at);
CREATE TABLE webhook_seen (
	key     TEXT PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE INDEX webhook_seen_expires ON webhook_seen (expires);
