-- What a refund gives back beyond the goods: the tip it refunds (no VAT, not
-- a return of goods) and the cash rounding (öresavrundning) it includes.
-- Goods = amount − tip − rounding. Older refunds were goods only.
ALTER TABLE refunds ADD COLUMN tip BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN rounding BIGINT NOT NULL DEFAULT 0;
