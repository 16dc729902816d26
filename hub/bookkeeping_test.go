package hub

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping"
	"github.com/kvitt-hub/kvitt/bookkeeping/sietest"
	"github.com/kvitt-hub/kvitt/report"
)

// putReceipt stores a receipt at the till's next serial, issued now, as if
// a sale paid with that method had been completed.
func putReceipt(t *testing.T, h *Hub, till string, kind kvitt.ReceiptKind, vat kvitt.VATTotal, tenders ...kvitt.Tender) {
	t.Helper()
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		serial, err := tx.NextReceiptSerial(till)
		if err != nil {
			return err
		}
		r := &kvitt.Receipt{ID: kvitt.NewID("rcp"), MerchantID: "m1", TillID: till, SaleID: kvitt.NewID("sale"), Serial: serial,
			Type: kvitt.ReceiptNormal, Kind: kind, Issued: h.now(), Currency: kvitt.SEK, Total: vat.Gross, VAT: []kvitt.VATTotal{vat},
			Lines:   []kvitt.SaleLine{{Name: "Vara", QuantityMilli: 1000, UnitPrice: vat.Gross, VATRate: vat.Rate, Total: vat.Gross}},
			Tenders: tenders, Registration: kvitt.RegistrationNotRequired}
		for _, tn := range tenders {
			r.Tip += tn.Tip
		}
		return tx.CreateReceipt(r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sellDay makes a day at till 1 (clock at 2026-11-23 13:00 in Stockholm):
// a cash sale of 116.19 through the hub (paid 116.00), one coffee of it
// returned in cash (32.47, the drawer pays 32.00), lunch by VISA with a
// 15.00 tip, a coffee by MasterCard and a book by Swish; then the day's Z
// report at 22:00.
func sellDay(t *testing.T, h *Hub, clk *clock) {
	t.Helper()
	s, err := h.CreateSale(ctx, SaleInput{TillID: "1", Lines: []kvitt.SaleLine{line("Kaffe", 2000, 3247, 1200), line("Mugg", 1000, 5125, 2500)}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 11619})
	if err != nil || p.State != kvitt.PaymentPaid || p.Amount != 11600 {
		t.Fatalf("cash payment: %+v, %v", p, err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}})
	if err != nil || r.State != kvitt.RefundSucceeded || r.Amount != 3200 {
		t.Fatalf("cash return: %+v, %v", r, err)
	}
	clk.Advance(time.Hour)
	putReceipt(t, h, "1", kvitt.ReceiptSale, kvitt.VATTotal{Rate: 1200, Gross: 12500, Net: 11161, VAT: 1339},
		kvitt.Tender{Method: "card", Amount: 12500, Tip: 1500, Card: &kvitt.CardData{Brand: "VISA"}})
	putReceipt(t, h, "1", kvitt.ReceiptSale, kvitt.VATTotal{Rate: 1200, Gross: 3250, Net: 2902, VAT: 348},
		kvitt.Tender{Method: "card", Amount: 3250, Card: &kvitt.CardData{Brand: "MasterCard"}})
	putReceipt(t, h, "1", kvitt.ReceiptSale, kvitt.VATTotal{Rate: 600, Gross: 19900, Net: 18774, VAT: 1126},
		kvitt.Tender{Method: "swish", Amount: 19900})
	clk.Advance(6 * time.Hour) // 21:00 UTC, 22:00 in Stockholm
	if _, err := h.Report(ctx, "1", report.Z); err != nil {
		t.Fatal(err)
	}
}

// parseSIE reads an export with the independent reader.
func parseSIE(t *testing.T, b []byte) *sietest.File {
	t.Helper()
	f, err := sietest.Parse(b)
	if err != nil {
		t.Fatalf("the independent SIE reader refuses the export: %v\n%s", err, b)
	}
	return f
}

func wantMessage(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if kvitt.ErrorCode(err) != code {
		t.Fatalf("err = %v; want code %s", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(kvitt.ErrorMessage(err), p) {
			t.Errorf("error %q does not say %q", kvitt.ErrorMessage(err), p)
		}
	}
}

var oneDay = BookkeepingQuery{From: "2026-11-23", To: "2026-11-23", Format: "sie"}

// A day's Z report becomes one balanced voucher; exporting the day again
// says it went out already, in SIE and in CSV, and the first file can be
// fetched again byte for byte.
func TestBookkeepingExportDay(t *testing.T) {
	h, _, clk := newHub(t)
	sellDay(t, h, clk)
	clk.Advance(12 * time.Hour)
	ex, err := h.ExportBookkeeping(ctx, oneDay)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Vouchers != 1 || len(ex.ZReports) != 1 || ex.ZReports[0] != (ExportedZ{TillID: "1", Serial: 1, Date: "2026-11-23"}) ||
		ex.Filename != "kvitt-m1-2026-11-23-2026-11-23.si" || ex.ContentType != "text/plain; charset=IBM437" {
		t.Errorf("export: %+v", ex)
	}
	f := parseSIE(t, ex.Content)
	if f.Company != "Demo AB" || f.OrgNr != "556099-7982" || f.Generated != "20261124" || len(f.Vouchers) != 1 ||
		f.Vouchers[0].Date != "20261123" || f.Vouchers[0].Text != "Z-rapport 1, kassa 1 (REG-1)" {
		t.Errorf("file: %+v", f)
	}
	bal := f.Balance()
	for acc, want := range map[string]int64{"1910": 8400, "1580": 17250, "1581": 19900, "3001": -4100, "2611": -1025,
		"3002": -19861 + 2899, "2621": -2383 + 348, "3003": -18774, "2631": -1126, "2820": -1500, "3740": -28} {
		if bal[acc] != want {
			t.Errorf("account %s: %d, want %d", acc, bal[acc], want)
		}
	}

	_, err = h.ExportBookkeeping(ctx, oneDay)
	wantMessage(t, err, kvitt.ECONFLICT, "exported already", "till 1 Z 1 (2026-11-23) in export "+ex.ID, "book them twice")
	csvDay := oneDay
	csvDay.Format = "csv"
	_, err = h.ExportBookkeeping(ctx, csvDay)
	wantMessage(t, err, kvitt.ECONFLICT, "exported already")
	skip := oneDay
	skip.SkipExported = true
	_, err = h.ExportBookkeeping(ctx, skip)
	wantMessage(t, err, kvitt.ECONFLICT, "every Z report of the period is exported already")

	again, err := h.GetBookkeepingExport(ctx, ex.ID)
	if err != nil || !bytes.Equal(again.Content, ex.Content) || again.Filename != ex.Filename {
		t.Errorf("fetched again: %+v, %v", again, err)
	}
	_, err = h.GetBookkeepingExport(ctx, "bkx_nothing")
	wantMessage(t, err, kvitt.ENOTFOUND)

	// The export is in the journal.
	var kinds []string
	h.Store.View(ctx, func(tx kvitt.Tx) error {
		es, _ := tx.ListJournal(0, 1000)
		for _, e := range es {
			kinds = append(kinds, e.Kind)
		}
		return nil
	})
	if k := kinds[len(kinds)-1]; k != "bookkeeping.export" {
		t.Errorf("last journal entry %q", k)
	}
}

// A period with a day no Z report has closed is refused naming the till
// and the day, and marks nothing; receipts after the period do not count.
func TestBookkeepingOpenDay(t *testing.T) {
	h, _, clk := newHub(t)
	sellDay(t, h, clk)
	clk.Advance(12 * time.Hour) // 2026-11-24 10:00 in Stockholm
	putReceipt(t, h, "1", kvitt.ReceiptSale, kvitt.VATTotal{Rate: 2500, Gross: 10000, Net: 8000, VAT: 2000}, kvitt.Tender{Method: "swish", Amount: 10000})

	_, err := h.ExportBookkeeping(ctx, BookkeepingQuery{From: "2026-11-23", To: "2026-11-24", Format: "sie"})
	wantMessage(t, err, kvitt.ECONFLICT, "open day", "till 1 has receipts from 2026-11-24 on (serials 6 to 6) that no Z report has closed", "nothing was exported")

	// The day before is closed: it exports, once.
	ex, err := h.ExportBookkeeping(ctx, oneDay)
	if err != nil || len(ex.ZReports) != 1 {
		t.Fatalf("closed day: %+v, %v", ex, err)
	}
	parseSIE(t, ex.Content)
	// Closing the 24th opens its export; the 23rd is left out on request.
	clk.Advance(11 * time.Hour)
	if _, err := h.Report(ctx, "1", report.Z); err != nil {
		t.Fatal(err)
	}
	two := BookkeepingQuery{From: "2026-11-23", To: "2026-11-24", Format: "csv"}
	_, err = h.ExportBookkeeping(ctx, two)
	wantMessage(t, err, kvitt.ECONFLICT, "till 1 Z 1 (2026-11-23) in export "+ex.ID, "skip_exported=true")
	two.SkipExported = true
	ex2, err := h.ExportBookkeeping(ctx, two)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex2.ZReports) != 1 || ex2.ZReports[0].Serial != 2 || len(ex2.Skipped) != 1 || ex2.Skipped[0].ExportID != ex.ID {
		t.Errorf("skipping: %+v", ex2)
	}
	if want := "2026-11-24,,\"Z-rapport 2, kassa 1 (REG-1)\",1,2,1581,\"Swish, avräkning\",100.00,,Swish,SEK"; !strings.Contains(string(ex2.Content), want) {
		t.Errorf("CSV:\n%s\nwant a row %s", ex2.Content, want)
	}
}

// Accounts are set per store and checked; a store's account per card
// brand takes the brand's takings apart; a means of payment without an
// account refuses the export, naming it, and marks nothing.
func TestBookkeepingAccounts(t *testing.T) {
	h, _, clk := newHub(t)
	_, err := h.SetBookkeepingAccounts(ctx, "s1", bookkeeping.Accounts{Methods: map[string]string{"card": "158"}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "methods.card")
	_, err = h.SetBookkeepingAccounts(ctx, "nope", bookkeeping.Accounts{})
	wantMessage(t, err, kvitt.ENOTFOUND)
	a, err := h.SetBookkeepingAccounts(ctx, "s1", bookkeeping.Accounts{Methods: map[string]string{"card:VISA": "1585"},
		Names: map[string]string{"1585": "Kortfordringar VISA"}, Series: "K"})
	if err != nil || a.Methods["card:VISA"] != "1585" || a.Methods["cash"] != "1910" || a.Series != "K" {
		t.Fatalf("set: %+v, %v", a, err)
	}
	got, err := h.BookkeepingAccounts(ctx, "s1")
	if err != nil || got.Methods["card:VISA"] != "1585" || got.Tips != "2820" {
		t.Errorf("get: %+v, %v", got, err)
	}

	sellDay(t, h, clk)
	// A gift card has no account yet.
	clk.Advance(time.Hour)
	putReceipt(t, h, "1", kvitt.ReceiptSale, kvitt.VATTotal{Rate: 2500, Gross: 5000, Net: 4000, VAT: 1000}, kvitt.Tender{Method: "giftcard", Amount: 5000})
	if _, err := h.Report(ctx, "1", report.Z); err != nil {
		t.Fatal(err)
	}
	_, err = h.ExportBookkeeping(ctx, oneDay)
	wantMessage(t, err, kvitt.EUNPROCESSABLE, "Z report 2 of till 1 (2026-11-23): no account for the means of payment \"giftcard\": set methods.giftcard")
	if _, err := h.SetBookkeepingAccounts(ctx, "s1", bookkeeping.Accounts{Methods: map[string]string{"card:VISA": "1585", "giftcard": "2421"},
		Names: map[string]string{"1585": "Kortfordringar VISA", "2421": "Presentkort"}, Series: "K"}); err != nil {
		t.Fatal(err)
	}
	ex, err := h.ExportBookkeeping(ctx, oneDay)
	if err != nil {
		t.Fatal(err)
	}
	f := parseSIE(t, ex.Content)
	bal := f.Balance()
	if len(f.Vouchers) != 2 || f.Vouchers[0].Series != "K" || bal["1585"] != 14000 || bal["1580"] != 3250 || bal["2421"] != 5000 ||
		f.Accounts["1585"] != "Kortfordringar VISA" {
		t.Errorf("vouchers %+v, balance %v, accounts %v", f.Vouchers, bal, f.Accounts)
	}
}

// Racing exports of one period: one gets the file, the others are told
// it went out; the Z report is marked once.
func TestBookkeepingConcurrentExports(t *testing.T) {
	h, _, clk := newHub(t)
	sellDay(t, h, clk)
	const n = 4
	errs := make([]error, n)
	exs := make([]*BookkeepingExport, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { exs[i], errs[i] = h.ExportBookkeeping(ctx, oneDay) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			parseSIE(t, exs[i].Content)
		} else if kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			t.Errorf("racing export: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d exports succeeded, want 1: %v", ok, errs)
	}
}

func TestBookkeepingBadInput(t *testing.T) {
	h, _, _ := newHub(t)
	for _, c := range []struct {
		q     BookkeepingQuery
		field string
	}{
		{BookkeepingQuery{To: "2026-11-23", Format: "sie"}, "from"},
		{BookkeepingQuery{From: "23/11/2026", To: "2026-11-23", Format: "sie"}, "from"},
		{BookkeepingQuery{From: "2026-11-23", To: "2026-11-22", Format: "sie"}, "to"},
		{BookkeepingQuery{From: "2025-01-01", To: "2026-11-22", Format: "sie"}, "to"},
		{BookkeepingQuery{From: "2026-11-23", To: "2026-11-23", Format: "pdf"}, "format"},
		{BookkeepingQuery{From: "2026-11-23", To: "2026-11-23", Format: "sie", MerchantID: "m9"}, "merchant"},
	} {
		_, err := h.ExportBookkeeping(ctx, c.q)
		wantErr(t, err, kvitt.EUNPROCESSABLE, c.field)
	}
	_, err := h.ExportBookkeeping(ctx, oneDay)
	wantMessage(t, err, kvitt.EUNPROCESSABLE, "no Z report was taken at merchant m1's tills from 2026-11-23 to 2026-11-23")

	// With tills of two merchants, the export names them and asks whose.
	err = h.Store.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.CreateMerchant(&kvitt.Merchant{ID: "m2", Name: "Andra AB", Country: "SE", Currency: kvitt.SEK}); err != nil {
			return err
		}
		if err := tx.CreateShop(&kvitt.Shop{ID: "s2", MerchantID: "m2", Name: "Andra"}); err != nil {
			return err
		}
		return tx.CreateTill(&kvitt.Till{ID: "9", StoreID: "s2", Name: "Kassa 9", RegisterID: "REG-9"})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.ExportBookkeeping(ctx, oneDay)
	wantErr(t, err, kvitt.EUNPROCESSABLE, "merchant")
	wantMessage(t, err, kvitt.EUNPROCESSABLE, "(m1, m2)")
	q := oneDay
	q.MerchantID = "m2"
	_, err = h.ExportBookkeeping(ctx, q)
	wantMessage(t, err, kvitt.EUNPROCESSABLE, fmt.Sprintf("merchant %s's tills", "m2"))
}
