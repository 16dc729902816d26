package report_test

import (
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

// Tip refunds and the cash rounding of returns are counted apart: a tip
// given back is not a return of goods and has no VAT.
func TestTipRefundsAndReturnRounding(t *testing.T) {
	reg := kvitt.RegistrationRegistered
	receipts := []*kvitt.Receipt{
		// A card sale of 100.00 with a 10.00 tip, and a cash sale of 32.47 paid 32.00.
		{Serial: 1, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 10000, 2500, 0)}, Total: 10000, VAT: []kvitt.VATTotal{vat(2500, 10000, 8000, 2000)},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 10000, Tip: 1000}}, Tip: 1000},
		{Serial: 2, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 3247, 2500, 0)}, Total: 3247, VAT: []kvitt.VATTotal{vat(2500, 3247, 2598, 649)},
			Tenders: []kvitt.Tender{{Method: "cash", Amount: 3200, Rounding: -47}}},
		// The card sale returned: 60.00 of goods with 5.00 of the tip, then the rest of the tip alone.
		{Serial: 3, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptReturn, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 6000, 2500, 0)}, Total: 6000, VAT: []kvitt.VATTotal{vat(2500, 6000, 4800, 1200)},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 6000, Tip: 500}}, Tip: 500},
		{Serial: 4, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptReturn, Currency: kvitt.SEK, Registration: reg,
			Tenders: []kvitt.Tender{{Method: "card", Tip: 500}}, Tip: 500},
		// 12.30 of the cash sale returned: the drawer gave 12.00.
		{Serial: 5, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptReturn, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 1230, 2500, 0)}, Total: 1230, VAT: []kvitt.VATTotal{vat(2500, 1230, 984, 246)},
			Tenders: []kvitt.Tender{{Method: "cash", Amount: 1200, Rounding: -30}}},
	}
	r := report.Compute(receipts, report.Options{Kind: report.X})
	if r.Tips != (report.Counter{Count: 1, Amount: 0}) || r.TipRefunds != (report.Counter{Count: 2, Amount: 1000}) {
		t.Errorf("tips %+v, tip refunds %+v", r.Tips, r.TipRefunds)
	}
	if r.Returns != (report.Counter{Count: 2, Amount: 7230}) {
		t.Errorf("returns %+v: a tip refund alone returns no goods", r.Returns)
	}
	if len(r.VATReturns) != 1 || r.VATReturns[0].Gross != 7230 || r.VATReturns[0].VAT != 1446 {
		t.Errorf("VAT on returns %+v: no VAT on tips", r.VATReturns)
	}
	if r.Rounding != -17 || r.ReturnRounding != -30 {
		t.Errorf("rounding %d, on returns %d", r.Rounding, r.ReturnRounding)
	}
	var paid, tips int64
	for _, p := range r.Payments {
		paid, tips = paid+p.Amount, tips+p.Tip
	}
	if paid-r.Rounding != r.NetSales || tips != r.Tips.Amount {
		t.Errorf("payments %d − rounding %d ≠ net sales %d, or tips %d ≠ %d", paid, r.Rounding, r.NetSales, tips, r.Tips.Amount)
	}
}
