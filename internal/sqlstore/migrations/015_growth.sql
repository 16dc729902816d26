-- The recovery list of a till (Tx.RecoveryPayments, RecoveryRefunds and
-- ListReceipts of its pending receipts) read every payment or receipt the
-- till ever had (docs/benchmarks.md "Growth"): indexes that let each part
-- start from what may need a person, whatever the ledger's size.
-- Sales still open, with their ids: the open sale is the outer loop of the
-- join to its captured payments (was: every paid payment of every till).
CREATE INDEX sales_till_state_id ON sales (till_id, state, id);
-- Payments and refunds with Attention set: few, so a partial index.
CREATE INDEX payments_attention_set ON payments (till_id) WHERE attention <> '';
CREATE INDEX refunds_attention_set ON refunds (payment_id) WHERE attention <> '';
-- Refunds not decided yet, by state (was: every payment of the till, each
-- probed for refunds).
CREATE INDEX refunds_state_payment ON refunds (state, payment_id);
-- A till's receipts not yet registered with the control unit.
CREATE INDEX receipts_till_registration ON receipts (till_id, registration, serial);
