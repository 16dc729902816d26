-- Back-office orders paid by a payment link (seed 004, Svea Instore). The
-- order, its links and its credits are one JSON document (data) changed by
-- compare-and-set on version; the columns are what lists select by.
-- search holds the order number and the customer's name, mobile number and
-- e-mail, lower-cased, for the back office's search.
CREATE TABLE orders (
	id              TEXT PRIMARY KEY,
	merchant_id     TEXT NOT NULL,
	number          TEXT NOT NULL,
	state           TEXT NOT NULL,
	search          TEXT NOT NULL,
	idempotency_key TEXT UNIQUE,
	data            TEXT NOT NULL,
	created         BIGINT NOT NULL,
	updated         BIGINT NOT NULL,
	version         BIGINT NOT NULL,
	UNIQUE (merchant_id, number)
);
CREATE INDEX orders_state ON orders (state, created);
CREATE INDEX orders_created ON orders (created);
