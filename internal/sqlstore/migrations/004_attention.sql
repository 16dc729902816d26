-- A payment or refund whose outcome a person must decide on (money taken
-- after kvitt had ended it); while a request to the provider may still be in
-- flight, a "nothing found" answer decides nothing; a cancel the cashier
-- asked for is remembered until the provider has taken it.
ALTER TABLE payments ADD COLUMN attention TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN inflight_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN attention TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN inflight_until BIGINT NOT NULL DEFAULT 0;
-- The recovery list reads what needs a person per till, whatever the ledger's size.
CREATE INDEX payments_till_state ON payments (till_id, state);
CREATE INDEX payments_attention ON payments (till_id, attention);
CREATE INDEX sales_till_state ON sales (till_id, state);
CREATE INDEX refunds_state ON refunds (state);
CREATE INDEX refunds_attention ON refunds (attention);
