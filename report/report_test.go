package report_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func vat(rate, gross, net, v int64) kvitt.VATTotal {
	return kvitt.VATTotal{Rate: rate, Gross: gross, Net: net, VAT: v}
}

func line(qty, unit, rate, discount int64) kvitt.SaleLine {
	return kvitt.SaleLine{Name: "x", QuantityMilli: qty, UnitPrice: unit, VATRate: rate, Discount: discount, Total: unit*qty/1000 - discount}
}

// day is a hand-built day; the expected figures below are computed by hand.
func day() []*kvitt.Receipt {
	reg := kvitt.RegistrationRegistered
	return []*kvitt.Receipt{
		{Serial: 1, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(2000, 6500, 2500, 500)}, Total: 12500, VAT: []kvitt.VATTotal{vat(2500, 12500, 10000, 2500)},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 12500, Tip: 1000}}, Tip: 1000},
		{Serial: 2, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 11249, 1200, 0)}, Total: 11249, VAT: []kvitt.VATTotal{vat(1200, 11249, 10044, 1205)},
			Tenders: []kvitt.Tender{{Method: "cash", Amount: 11200, Rounding: -49, Tendered: 20000, Change: 8800}}},
		{Serial: 3, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptReturn, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 5000, 2500, 0)}, Total: 5000, VAT: []kvitt.VATTotal{vat(2500, -5000, -4000, -1000)},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 5000}}},
		{Serial: 4, Type: kvitt.ReceiptCopy, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg, CopySerial: 1,
			Lines: []kvitt.SaleLine{line(2000, 6500, 2500, 500)}, Total: 12500, VAT: []kvitt.VATTotal{vat(2500, 12500, 10000, 2500)},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 12500, Tip: 1000}}, Tip: 1000},
		{Serial: 5, Type: kvitt.ReceiptTraining, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 3000, 2500, 0)}, Total: 3000, VAT: []kvitt.VATTotal{vat(2500, 3000, 2400, 600)},
			Tenders: []kvitt.Tender{{Method: "cash", Amount: 3000}}},
		{Serial: 6, Type: kvitt.ReceiptProForma, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: reg,
			Lines: []kvitt.SaleLine{line(1000, 7000, 2500, 0)}, Total: 7000, VAT: []kvitt.VATTotal{vat(2500, 7000, 5600, 1400)}},
		{Serial: 7, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Currency: kvitt.SEK, Registration: kvitt.RegistrationPending,
			Lines: []kvitt.SaleLine{line(1000, 2500, 2500, 0), line(1000, 3100, 1200, 0)}, Total: 5600,
			VAT:     []kvitt.VATTotal{vat(2500, 2500, 2000, 500), vat(1200, 3100, 2768, 332)},
			Tenders: []kvitt.Tender{{Method: "swish", Amount: 5600}}},
	}
}

var opts = report.Options{
	Kind: report.Z, Serial: 42, RegisterID: "KASSA-0001", TillID: "till_1",
	MerchantName: "Kvitt Demo AB", OrgNr: "5566778899", Address: "Odengatan 1, 113 22 Stockholm",
	PeriodStart: time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 11, 23, 22, 59, 59, 0, time.UTC),
	Generated:         time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC),
	GrandTotalsBefore: report.GrandTotals{Sales: 100000, Returns: 20000, Net: 80000},
}

func TestCompute(t *testing.T) {
	got := report.Compute(day(), opts)
	want := &report.Report{
		Kind: report.Z, Serial: 42, PeriodStart: opts.PeriodStart, PeriodEnd: opts.PeriodEnd, Generated: opts.Generated,
		TillID: "till_1", RegisterID: "KASSA-0001", MerchantName: "Kvitt Demo AB", OrgNr: "5566778899",
		Address: "Odengatan 1, 113 22 Stockholm", Currency: kvitt.SEK,
		Sales:           report.Counter{Count: 3, Amount: 29349}, // 125,00 + 112,49 + 56,00
		Returns:         report.Counter{Count: 1, Amount: 5000},
		SalesNet:        24812, // 100,00 + 100,44 + 20,00 + 27,68
		ReturnsNet:      4000,
		NetSales:        24349,
		NetSalesExclVAT: 20812,
		VATSales:        []report.VATLine{{Rate: 2500, Gross: 15000, Net: 12000, VAT: 3000}, {Rate: 1200, Gross: 14349, Net: 12812, VAT: 1537}},
		VATReturns:      []report.VATLine{{Rate: 2500, Gross: 5000, Net: 4000, VAT: 1000}},
		VATNet:          []report.VATLine{{Rate: 2500, Gross: 10000, Net: 8000, VAT: 2000}, {Rate: 1200, Gross: 14349, Net: 12812, VAT: 1537}},
		Copies:          report.Counter{Count: 1, Amount: 12500},
		Training:        report.Counter{Count: 1, Amount: 3000},
		ProForma:        report.Counter{Count: 1, Amount: 7000},
		Payments: []report.PaymentTotal{
			{Method: "card", Count: 2, Amount: 7500, Tip: 1000}, // 125,00 sold − 50,00 returned
			{Method: "cash", Count: 1, Amount: 11200},           // rounded from 112,49
			{Method: "swish", Count: 1, Amount: 5600},
		},
		Tips:               report.Counter{Count: 1, Amount: 1000},
		Rounding:           -49,
		Discounts:          report.Counter{Count: 1, Amount: 500},
		ItemsSoldMilli:     5000,
		ItemsReturnedMilli: 1000,
		Receipts:           7, FirstSerial: 1, LastSerial: 7, Unregistered: 1,
		GrandTotals: report.GrandTotals{Sales: 129349, Returns: 25000, Net: 104349},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	// Sales by means of payment + rounding reconcile with net sales.
	var paid int64
	for _, p := range got.Payments {
		paid += p.Amount
	}
	if paid-got.Rounding != got.NetSales {
		t.Errorf("payments %d − rounding %d ≠ net sales %d", paid, got.Rounding, got.NetSales)
	}
}

func TestComputeEdges(t *testing.T) {
	tests := []struct {
		name     string
		receipts []*kvitt.Receipt
		opts     report.Options
		check    func(t *testing.T, r *report.Report)
	}{
		{"empty day", nil, report.Options{Kind: report.Z, Serial: 3, Currency: kvitt.SEK}, func(t *testing.T, r *report.Report) {
			if r.Receipts != 0 || r.Sales != (report.Counter{}) || r.Payments == nil || r.VATSales == nil || r.Serial != 3 {
				t.Errorf("%+v", r)
			}
		}},
		{"X has no serial", day(), report.Options{Kind: report.X, Serial: 9}, func(t *testing.T, r *report.Report) {
			if r.Kind != report.X || r.Serial != 0 || r.Currency != kvitt.SEK {
				t.Errorf("kind %s serial %d currency %s", r.Kind, r.Serial, r.Currency)
			}
		}},
		{"only training", day()[4:5], report.Options{}, func(t *testing.T, r *report.Report) {
			if r.Sales.Count != 0 || len(r.Payments) != 0 || r.Training.Amount != 3000 || r.Kind != report.X {
				t.Errorf("%+v", r)
			}
		}},
		{"copy of a return counts negative", []*kvitt.Receipt{{Serial: 9, Type: kvitt.ReceiptCopy, Kind: kvitt.ReceiptReturn, Total: 5000}, nil},
			report.Options{}, func(t *testing.T, r *report.Report) {
				if r.Copies != (report.Counter{Count: 1, Amount: -5000}) || r.Returns.Count != 0 || r.Receipts != 1 {
					t.Errorf("%+v", r)
				}
			}},
		{"serials out of order", []*kvitt.Receipt{{Serial: 12, Type: kvitt.ReceiptNormal}, {Serial: 10, Type: kvitt.ReceiptNormal}, {Serial: 11, Type: kvitt.ReceiptNormal}},
			report.Options{}, func(t *testing.T, r *report.Report) {
				if r.FirstSerial != 10 || r.LastSerial != 12 {
					t.Errorf("serials %d–%d", r.FirstSerial, r.LastSerial)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, report.Compute(tt.receipts, tt.opts)) })
	}
}

func TestTextGolden(t *testing.T) {
	for _, k := range []report.Kind{report.X, report.Z} {
		o := opts
		o.Kind = k
		rep := report.Compute(day(), o)
		for _, w := range []int{42, 48} {
			text := report.Text(rep, w)
			for i, l := range strings.Split(text, "\n") {
				if utf8.RuneCountInString(l) > w {
					t.Errorf("%s %d: line %d too wide: %q", k, w, i+1, l)
				}
			}
			name := filepath.Join("testdata", strings.ToLower(string(k))+"_"+map[int]string{42: "42", 48: "48"}[w]+".golden")
			if *update {
				os.WriteFile(name, []byte(text), 0o644)
				continue
			}
			want, err := os.ReadFile(name)
			if err != nil || string(want) != text {
				t.Errorf("%s differs (run go test -update and review)\n%s", name, text)
			}
		}
	}
	z := report.Text(report.Compute(day(), opts), 42)
	for _, s := range []string{"Z RAPPORT", "Z-rapport nr", "42", "KASSA-0001", "2026-11-23 00:00:00", "2026-11-23 23:59:59", "1–7", "293,49", "-0,49", "Kvittokopior (1)", "EJ REGISTRERADE KVITTON", "1043,49"} {
		if !strings.Contains(z, s) {
			t.Errorf("Z report lacks %q", s)
		}
	}
}
