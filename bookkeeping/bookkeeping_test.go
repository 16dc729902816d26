package bookkeeping_test

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping"
	"github.com/kvitt-hub/kvitt/bookkeeping/sietest"
	"github.com/kvitt-hub/kvitt/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var day = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func line(name string, qty, price, rate int64) kvitt.SaleLine {
	return kvitt.SaleLine{Name: name, QuantityMilli: qty * 1000, UnitPrice: price, VATRate: rate, Total: qty * price}
}

// dayReceipts is a day at till 1: a cash sale rounded to whole kronor, a
// card sale with a tip (VISA), a card sale without (MasterCard), a Swish
// sale, and a return of one coffee paid back in cash (rounded too).
func dayReceipts() []*kvitt.Receipt {
	at := day.Add(9 * time.Hour)
	n := int64(0)
	rc := func(kind kvitt.ReceiptKind, total int64, vat []kvitt.VATTotal, lines []kvitt.SaleLine, tenders ...kvitt.Tender) *kvitt.Receipt {
		n++
		r := &kvitt.Receipt{ID: "rcp_" + string(rune('a'+n)), TillID: "1", Serial: 100 + n, Type: kvitt.ReceiptNormal, Kind: kind,
			Issued: at.Add(time.Duration(n) * time.Hour), Currency: kvitt.SEK, Lines: lines, Total: total, VAT: vat, Tenders: tenders,
			Registration: kvitt.RegistrationRegistered}
		for _, t := range tenders {
			r.Tip += t.Tip
		}
		return r
	}
	return []*kvitt.Receipt{
		// 2 × 32.47 at 12 % and 51.25 at 25 %: 116.19, paid 116.00 in cash.
		rc(kvitt.ReceiptSale, 11619, []kvitt.VATTotal{{Rate: 2500, Gross: 5125, Net: 4100, VAT: 1025}, {Rate: 1200, Gross: 6494, Net: 5798, VAT: 696}},
			[]kvitt.SaleLine{line("Kaffe", 2, 3247, 1200), line("Mugg", 1, 5125, 2500)},
			kvitt.Tender{Method: "cash", Amount: 11600, Rounding: -19, Tendered: 20000, Change: 8400}),
		// Lunch 125.00 at 12 % by VISA with 15.00 tip.
		rc(kvitt.ReceiptSale, 12500, []kvitt.VATTotal{{Rate: 1200, Gross: 12500, Net: 11161, VAT: 1339}},
			[]kvitt.SaleLine{line("Lunch", 1, 12500, 1200)},
			kvitt.Tender{Method: "card", Amount: 12500, Tip: 1500, Card: &kvitt.CardData{Brand: "VISA"}}),
		// Kaffe 32.50 at 12 % by MasterCard.
		rc(kvitt.ReceiptSale, 3250, []kvitt.VATTotal{{Rate: 1200, Gross: 3250, Net: 2902, VAT: 348}},
			[]kvitt.SaleLine{line("Kaffe", 1, 3250, 1200)},
			kvitt.Tender{Method: "card", Amount: 3250, Card: &kvitt.CardData{Brand: "MasterCard"}}),
		// A book, 199.00 at 6 %, by Swish.
		rc(kvitt.ReceiptSale, 19900, []kvitt.VATTotal{{Rate: 600, Gross: 19900, Net: 18774, VAT: 1126}},
			[]kvitt.SaleLine{line("Bok", 1, 19900, 600)},
			kvitt.Tender{Method: "swish", Amount: 19900}),
		// One coffee of the first sale back: goods 32.47, the drawer pays 32.00.
		rc(kvitt.ReceiptReturn, 3247, []kvitt.VATTotal{{Rate: 1200, Gross: 3247, Net: 2899, VAT: 348}},
			[]kvitt.SaleLine{line("Kaffe", 1, 3247, 1200)},
			kvitt.Tender{Method: "cash", Amount: 3200, Rounding: -47}),
	}
}

func dayReport() *report.Report {
	return report.Compute(dayReceipts(), report.Options{Kind: report.Z, Serial: 7, PeriodStart: day, PeriodEnd: day.Add(22 * time.Hour),
		TillID: "1", RegisterID: "KASSA-0001", MerchantName: "Kaffe & Böcker AB", OrgNr: "5560997982", Currency: kvitt.SEK})
}

func dayFile(t *testing.T, a bookkeeping.Accounts) *bookkeeping.File {
	t.Helper()
	v, err := bookkeeping.NewVoucher(bookkeeping.Z{TillID: "1", Serial: 7, Date: day, Report: dayReport(),
		Split: map[string]map[string]int64{"card": {"VISA": 14000, "MasterCard": 3250}}}, a)
	if err != nil {
		t.Fatal(err)
	}
	return &bookkeeping.File{Program: "kvitt", Version: "test", Generated: day.Add(24 * time.Hour), Company: "Kaffe & Böcker AB",
		OrgNr: "5560997982", Currency: kvitt.SEK, Prosa: "Z-rapporter 2026-11-23 till 2026-11-23", Names: a.Names,
		Vouchers: []*bookkeeping.Voucher{v}}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bookkeeping -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./bookkeeping -update, then review the diff)\ngot:\n%s", name, got)
	}
}

// parse reads a file the tests wrote with the independent reader.
func parse(t *testing.T, b []byte) *sietest.File {
	t.Helper()
	f, err := sietest.Parse(b)
	if err != nil {
		t.Fatalf("the independent SIE reader refuses the file: %v\n%s", err, b)
	}
	return f
}

// A day with cash (rounded), card with a tip, Swish, a return and the
// rounding on it: one voucher, as the golden file, that the independent
// reader accepts and whose accounts add up to the day.
func TestDaySIE(t *testing.T) {
	f := dayFile(t, bookkeeping.Defaults())
	b, err := f.SIE()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "day.si", b)
	got := parse(t, b)
	if got.Company != "Kaffe & Böcker AB" || got.OrgNr != "556099-7982" || got.Currency != "SEK" || !got.CRLF ||
		len(got.Vouchers) != 1 || got.Vouchers[0].Date != "20261123" || got.Vouchers[0].Text != "Z-rapport 7, kassa 1 (KASSA-0001)" {
		t.Errorf("file: %+v", got)
	}
	want := map[string]int64{
		"1910": 8400,          // cash: 116.00 in, 32.00 out
		"1580": 17250,         // card: 125.00 + 15.00 tip + 32.50
		"1581": 19900,         // Swish
		"3001": -4100,         // sales 25 % excl. VAT
		"2611": -1025,         // output VAT 25 %
		"3002": -19861 + 2899, // sales 12 %, less the returned coffee
		"2621": -2383 + 348,   // VAT 12 %, less the return's
		"3003": -18774,
		"2631": -1126,
		"2820": -1500, // the tip: a debt to the staff
		"3740": -28,   // rounding: -0.19 on the sale, +0.47 kept on the return
	}
	bal := got.Balance()
	for acc, v := range want {
		if bal[acc] != v {
			t.Errorf("account %s: %d, want %d", acc, bal[acc], v)
		}
	}
	if len(bal) != len(want) {
		t.Errorf("accounts %v, want %v", bal, want)
	}
	if got.Accounts["3001"] != "Försäljning inom Sverige, 25 % moms" || got.Accounts["3740"] != "Öres- och kronutjämning" {
		t.Errorf("#KONTO names: %v", got.Accounts)
	}
	// PC8: ö is 0x94, Ö 0x99, ä 0x84 (code page 437); no UTF-8.
	if !bytes.Contains(b, []byte("F\x94rs\x84ljning")) || !bytes.Contains(b, []byte("\x99res-")) || bytes.Contains(b, []byte("ö")) {
		t.Error("the file is not in code page 437")
	}

	c, err := f.CSV()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "day.csv", c)
	rows, err := csv.NewReader(bytes.NewReader(c)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cents := func(s string) int64 { // "172.50" → 17250, "" → 0
		if s == "" {
			return 0
		}
		v, err := strconv.ParseInt(strings.Replace(s, ".", "", 1), 10, 64)
		if err != nil || len(s) < 4 || s[len(s)-3] != '.' {
			t.Fatalf("CSV amount %q", s)
		}
		return v
	}
	var sum int64
	for _, r := range rows[1:] {
		sum += cents(r[7]) - cents(r[8])
	}
	if len(rows) != 14 || sum != 0 {
		t.Errorf("CSV: %d rows, debit - credit = %d", len(rows), sum)
	}
}

// A store with an account for VISA takes VISA's takings (tip included)
// apart; other brands stay on the card account.
func TestCardBrandAccount(t *testing.T) {
	a := bookkeeping.Defaults()
	a.Methods["card:VISA"] = "1585"
	a.Names["1585"] = "Kortfordringar VISA"
	a.Series = "K"
	b, err := dayFile(t, a).SIE()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "day-visa.si", b)
	got := parse(t, b)
	bal := got.Balance()
	if bal["1585"] != 14000 || bal["1580"] != 3250 || got.Vouchers[0].Series != "K" {
		t.Errorf("VISA %d, other cards %d, series %q", bal["1585"], bal["1580"], got.Vouchers[0].Series)
	}

	// A split that does not add up to the Z report's card total is refused.
	_, err = bookkeeping.NewVoucher(bookkeeping.Z{TillID: "1", Serial: 7, Date: day, Report: dayReport(),
		Split: map[string]map[string]int64{"card": {"VISA": 14000, "MasterCard": 3200}}}, a)
	if err == nil || !strings.Contains(err.Error(), "add up to 172.00, the Z report's to 172.50") {
		t.Errorf("split error = %v", err)
	}
}

// A Z report whose means of payment do not match its sales is refused,
// saying by how much and where, and nothing is written.
func TestUnbalancedRefused(t *testing.T) {
	rep := dayReport()
	for i := range rep.Payments {
		if rep.Payments[i].Method == "swish" {
			rep.Payments[i].Amount += 1
		}
	}
	_, err := bookkeeping.NewVoucher(bookkeeping.Z{TillID: "1", Serial: 7, Date: day, Report: rep}, bookkeeping.Defaults())
	if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || !strings.Contains(err.Error(), "Z report 7 of till 1 (2026-11-23) does not balance") ||
		!strings.Contains(err.Error(), "difference 0.01") {
		t.Errorf("error = %v", err)
	}

	// The writer refuses an unbalanced voucher too.
	f := &bookkeeping.File{Program: "kvitt", Version: "test", Generated: day, Company: "X", Currency: kvitt.SEK,
		Vouchers: []*bookkeeping.Voucher{{Date: day, Text: "Z-rapport 1, kassa 1", Lines: []bookkeeping.Line{
			{Account: "1910", Amount: 100}, {Account: "3001", Amount: -99}}}}}
	if _, err := f.SIE(); err == nil || !strings.Contains(err.Error(), "does not balance: debit 1.00, credit 0.99") {
		t.Errorf("SIE error = %v", err)
	}
	if _, err := f.CSV(); err == nil {
		t.Error("CSV of an unbalanced voucher written")
	}
}

// A means of payment or a VAT rate without an account is named.
func TestMissingAccount(t *testing.T) {
	rep := dayReport()
	rep.Payments = append(rep.Payments, report.PaymentTotal{Method: "giftcard", Count: 1, Amount: 100})
	_, err := bookkeeping.NewVoucher(bookkeeping.Z{TillID: "1", Serial: 7, Date: day, Report: rep}, bookkeeping.Defaults())
	if err == nil || !strings.Contains(err.Error(), `no account for the means of payment "giftcard": set methods.giftcard`) {
		t.Errorf("error = %v", err)
	}
	rep = dayReport()
	rep.VATSales = append(rep.VATSales, report.VATLine{Rate: 1500, Gross: 115, Net: 100, VAT: 15})
	_, err = bookkeeping.NewVoucher(bookkeeping.Z{TillID: "1", Serial: 7, Date: day, Report: rep}, bookkeeping.Defaults())
	if err == nil || !strings.Contains(err.Error(), "sales at 15 % VAT: set sales.15") {
		t.Errorf("error = %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := bookkeeping.Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(a *bookkeeping.Accounts){
		"methods.card":  func(a *bookkeeping.Accounts) { a.Methods["card"] = "191" },
		"methods.swish": func(a *bookkeeping.Accounts) { a.Methods["swish"] = "19300" },
		"sales.25.0":    func(a *bookkeeping.Accounts) { a.Sales["25.0"] = "3001" },
		"vat.x":         func(a *bookkeeping.Accounts) { a.VAT["x"] = "2611" },
		"returns.12":    func(a *bookkeeping.Accounts) { a.Returns["12"] = "30O2" },
		"tips":          func(a *bookkeeping.Accounts) { a.Tips = "" },
		"rounding":      func(a *bookkeeping.Accounts) { a.Rounding = "37 40" },
		"series":        func(a *bookkeeping.Accounts) { a.Series = "K 1" },
		"names.1910":    func(a *bookkeeping.Accounts) { a.Names["1910"] = "Kassa\x07" },
		"names.191":     func(a *bookkeeping.Accounts) { a.Names["191"] = "Kassa" },
	} {
		a := bookkeeping.Defaults()
		edit(&a)
		if err := a.Validate(); kvitt.ErrorField(err) != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	m := bookkeeping.Merge(bookkeeping.Accounts{Methods: map[string]string{"swish": "1930"}, Tips: "2890"})
	if m.Methods["swish"] != "1930" || m.Methods["cash"] != "1910" || m.Tips != "2890" || m.Rounding != "3740" {
		t.Errorf("merge: %+v", m)
	}
}

func TestFormatAmount(t *testing.T) {
	for v, want := range map[int64]string{0: "0.00", 5: "0.05", -47: "-0.47", 123450: "1234.50", -100: "-1.00"} {
		if got := bookkeeping.FormatAmount(v, kvitt.SEK); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
	}
	if got := bookkeeping.FormatAmount(-1234, kvitt.ISK); got != "-1234" {
		t.Errorf("ISK: %q", got)
	}
}

// Texts are quoted with \" inside, a backslash is not written (it would
// escape the closing quote), and letters code page 437 lacks become "?".
func TestTextFields(t *testing.T) {
	f := &bookkeeping.File{Program: "kvitt", Version: "test", Generated: day, Company: `Café "Åkern" \ Ødegaard AB`, Currency: kvitt.SEK}
	b, err := f.SIE()
	if err != nil {
		t.Fatal(err)
	}
	got := parse(t, b)
	if got.Company != `Café "Åkern" / ?degaard AB` {
		t.Errorf("company %q", got.Company)
	}
}

// Voucher and row texts are cut at 50 characters (Fortnox refuses longer).
func TestLongTextsCut(t *testing.T) {
	long := strings.Repeat("å", 60)
	f := &bookkeeping.File{Program: "kvitt", Version: "test", Generated: day, Company: "X", Currency: kvitt.SEK,
		Vouchers: []*bookkeeping.Voucher{{Date: day, Text: long, Lines: []bookkeeping.Line{
			{Account: "1910", Amount: 100, Text: long}, {Account: "3001", Amount: -100, Text: "x"}}}}}
	b, err := f.SIE()
	if err != nil {
		t.Fatal(err)
	}
	got := parse(t, b)
	if v := got.Vouchers[0]; len([]rune(v.Text)) != 50 || len([]rune(v.Trans[0].Text)) != 50 {
		t.Errorf("texts %q %q", v.Text, v.Trans[0].Text)
	}
}

// TestManualSwishHasAnAccount: a Z report with manual Swish (seed 000)
// goes into the books by default, on the Swish account.
func TestManualSwishHasAnAccount(t *testing.T) {
	if got := bookkeeping.Defaults().Methods["swish_manual"]; got != "1581" {
		t.Fatalf("swish_manual books to %q", got)
	}
}
