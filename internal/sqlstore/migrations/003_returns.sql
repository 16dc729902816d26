-- Refunds on completed sales take goods back and get a return receipt.
ALTER TABLE refunds ADD COLUMN return_lines TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN receipt_id TEXT NOT NULL DEFAULT '';
