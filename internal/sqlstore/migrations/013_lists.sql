-- The back office's lists (issue 12): newest first, a page at a time, for
-- every till or one. Each list walks one of these in its order.
CREATE INDEX payments_created ON payments (created, id);
CREATE INDEX payments_till_created ON payments (till_id, created, id);
CREATE INDEX payments_reference ON payments (reference);
CREATE INDEX refunds_created ON refunds (created, id);
CREATE INDEX receipts_issued_id ON receipts (issued, id);
CREATE INDEX receipts_till_issued_id ON receipts (till_id, issued, id);
CREATE INDEX receipts_serial ON receipts (serial);
