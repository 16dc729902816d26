-- kvitt schema. Portable between SQLite and PostgreSQL: {{BLOB}} and
-- {{SERIAL}} are replaced per dialect; times are BIGINT microseconds since
-- 1970 UTC; JSON documents are TEXT.
CREATE TABLE merchants (
	id        TEXT PRIMARY KEY,
	name      TEXT NOT NULL,
	org_nr    TEXT NOT NULL,
	country   TEXT NOT NULL,
	currency  TEXT NOT NULL,
	vat_rates TEXT NOT NULL,
	created   BIGINT NOT NULL
);
CREATE TABLE shops (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL REFERENCES merchants(id),
	name        TEXT NOT NULL,
	address     TEXT NOT NULL,
	created     BIGINT NOT NULL
);
CREATE TABLE tills (
	id                  TEXT PRIMARY KEY,
	shop_id             TEXT NOT NULL REFERENCES shops(id),
	name                TEXT NOT NULL,
	register_id         TEXT NOT NULL,
	control_unit        TEXT NOT NULL,
	terminal            TEXT NOT NULL,
	mobilepay_beacon_id TEXT NOT NULL,
	mobilepay_pos_id    TEXT NOT NULL,
	next_serial         BIGINT NOT NULL DEFAULT 1,
	created             BIGINT NOT NULL
);
CREATE TABLE sales (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL REFERENCES merchants(id),
	till_id         TEXT NOT NULL REFERENCES tills(id),
	currency        TEXT NOT NULL,
	lines           TEXT NOT NULL,
	total           BIGINT NOT NULL,
	vat             TEXT NOT NULL,
	state           TEXT NOT NULL,
	receipt_id      TEXT NOT NULL,
	idempotency_key TEXT UNIQUE,
	created         BIGINT NOT NULL,
	updated         BIGINT NOT NULL,
	version         BIGINT NOT NULL
);
CREATE INDEX sales_till ON sales (till_id, created);
CREATE TABLE payments (
	id              TEXT PRIMARY KEY,
	sale_id         TEXT NOT NULL REFERENCES sales(id),
	till_id         TEXT NOT NULL,
	method          TEXT NOT NULL,
	amount          BIGINT NOT NULL,
	currency        TEXT NOT NULL,
	state           TEXT NOT NULL,
	reference       TEXT NOT NULL,
	provider        TEXT NOT NULL,
	action          TEXT NOT NULL,
	tendered        BIGINT NOT NULL,
	change_amount   BIGINT NOT NULL,
	rounding        BIGINT NOT NULL,
	tip             BIGINT NOT NULL,
	card            TEXT NOT NULL,
	refunded        BIGINT NOT NULL,
	error_code      TEXT NOT NULL,
	message         TEXT NOT NULL,
	deadline        BIGINT NOT NULL,
	idempotency_key TEXT UNIQUE,
	created         BIGINT NOT NULL,
	updated         BIGINT NOT NULL,
	version         BIGINT NOT NULL,
	UNIQUE (method, reference)
);
CREATE INDEX payments_sale ON payments (sale_id);
CREATE INDEX payments_state ON payments (state, created);
CREATE TABLE payment_events (
	payment_id TEXT NOT NULL REFERENCES payments(id),
	seq        BIGINT NOT NULL,
	from_state TEXT NOT NULL,
	to_state   TEXT NOT NULL,
	cause      TEXT NOT NULL,
	message    TEXT NOT NULL,
	at         BIGINT NOT NULL,
	PRIMARY KEY (payment_id, seq)
);
CREATE TABLE refunds (
	id              TEXT PRIMARY KEY,
	payment_id      TEXT NOT NULL REFERENCES payments(id),
	amount          BIGINT NOT NULL,
	currency        TEXT NOT NULL,
	state           TEXT NOT NULL,
	reference       TEXT NOT NULL,
	provider        TEXT NOT NULL,
	error_code      TEXT NOT NULL,
	message         TEXT NOT NULL,
	idempotency_key TEXT UNIQUE,
	created         BIGINT NOT NULL,
	updated         BIGINT NOT NULL,
	version         BIGINT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_reference ON refunds (reference);
CREATE TABLE receipts (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL,
	till_id         TEXT NOT NULL REFERENCES tills(id),
	sale_id         TEXT NOT NULL,
	serial          BIGINT NOT NULL,
	type            TEXT NOT NULL,
	kind            TEXT NOT NULL,
	copy_of         TEXT NOT NULL,
	registration    TEXT NOT NULL,
	control_unit_id TEXT NOT NULL,
	control_code    TEXT NOT NULL,
	issued          BIGINT NOT NULL,
	data            TEXT NOT NULL,
	created         BIGINT NOT NULL,
	version         BIGINT NOT NULL,
	UNIQUE (till_id, serial)
);
CREATE INDEX receipts_sale ON receipts (sale_id);
CREATE INDEX receipts_issued ON receipts (till_id, issued);
CREATE TABLE api_keys (
	id      TEXT PRIMARY KEY,
	hash    {{BLOB}} NOT NULL,
	scope   TEXT NOT NULL,
	till_id TEXT NOT NULL,
	name    TEXT NOT NULL,
	created BIGINT NOT NULL,
	revoked BIGINT NOT NULL
);
CREATE TABLE idempotency (
	key          TEXT PRIMARY KEY,
	request_hash TEXT NOT NULL,
	status       INTEGER NOT NULL,
	body         {{BLOB}} NOT NULL,
	created      BIGINT NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created);
CREATE TABLE jobs (
	id          {{SERIAL}},
	kind        TEXT NOT NULL,
	ref         TEXT NOT NULL,
	payload     {{BLOB}} NOT NULL,
	run_at      BIGINT NOT NULL,
	attempts    INTEGER NOT NULL,
	lease_owner TEXT NOT NULL,
	lease_until BIGINT NOT NULL,
	last_error  TEXT NOT NULL,
	dead        INTEGER NOT NULL,
	created     BIGINT NOT NULL,
	UNIQUE (kind, ref)
);
CREATE INDEX jobs_due ON jobs (dead, run_at);
CREATE TABLE journal (
	seq       BIGINT PRIMARY KEY,
	at        BIGINT NOT NULL,
	kind      TEXT NOT NULL,
	ref       TEXT NOT NULL,
	data      TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
