package kvitt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

func seMerchant() *kvitt.Merchant {
	return &kvitt.Merchant{ID: "m1", Country: "SE", Currency: kvitt.SEK, VATRates: kvitt.DefaultVATRates("SE")}
}

func TestComputeTotalsVATSplit(t *testing.T) {
	s := &kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{
		{Name: "Kaffe", QuantityMilli: 2000, UnitPrice: 3500, VATRate: 1200},
		{Name: "Bulle", QuantityMilli: 1000, UnitPrice: 2500, VATRate: 1200},
		{Name: "Bok", QuantityMilli: 1000, UnitPrice: 19900, VATRate: 600},
		{Name: "Paraply", QuantityMilli: 1000, UnitPrice: 4900, VATRate: 2500, Discount: 900},
		{Name: "Frimärke", QuantityMilli: 3000, UnitPrice: 1500, VATRate: 0},
		{Name: "Ost", QuantityMilli: 350, UnitPrice: 12900, VATRate: 1200}, // 0.350 kg: 45.15
	}}
	if err := s.ComputeTotals(seMerchant()); err != nil {
		t.Fatal(err)
	}
	wantLines := []int64{7000, 2500, 19900, 4000, 4500, 4515}
	for i, w := range wantLines {
		if s.Lines[i].Total != w {
			t.Errorf("lines[%d].Total = %d, want %d", i, s.Lines[i].Total, w)
		}
	}
	if s.Total != 42415 {
		t.Errorf("Total = %d, want 42415", s.Total)
	}
	// VAT per rate on the rate's gross, rates from highest to lowest.
	want := []kvitt.VATTotal{
		{Rate: 2500, Gross: 4000, Net: 3200, VAT: 800},
		{Rate: 1200, Gross: 14015, Net: 12513, VAT: 1502}, // 14015*12/112 = 1501.6
		{Rate: 600, Gross: 19900, Net: 18774, VAT: 1126},  // 1126.4
		{Rate: 0, Gross: 4500, Net: 4500, VAT: 0},
	}
	if len(s.VAT) != len(want) {
		t.Fatalf("VAT = %+v, want %+v", s.VAT, want)
	}
	var sum int64
	for i := range want {
		if s.VAT[i] != want[i] {
			t.Errorf("VAT[%d] = %+v, want %+v", i, s.VAT[i], want[i])
		}
		if s.VAT[i].Net+s.VAT[i].VAT != s.VAT[i].Gross {
			t.Errorf("VAT[%d]: net + vat != gross", i)
		}
		sum += s.VAT[i].Gross
	}
	if sum != s.Total {
		t.Errorf("sum of VAT gross %d != total %d", sum, s.Total)
	}
	// Computing again gives the same (no accumulation).
	if err := s.ComputeTotals(seMerchant()); err != nil || len(s.VAT) != 4 || s.Total != 42415 {
		t.Errorf("second ComputeTotals: %v, %+v, %d", err, s.VAT, s.Total)
	}
}

// The VAT split adds up for many baskets: per rate, net + VAT = gross, and
// the gross amounts sum to the total.
func TestComputeTotalsAddsUp(t *testing.T) {
	rates := []int64{2500, 1200, 600, 0}
	for n := 1; n < 200; n++ {
		s := &kvitt.Sale{Currency: kvitt.SEK}
		for i := 0; i < n%9+1; i++ {
			s.Lines = append(s.Lines, kvitt.SaleLine{Name: "x", QuantityMilli: int64(1 + (n*i*37)%5000), UnitPrice: int64((n*7919 + i*104729) % 100000), VATRate: rates[(n+i)%4]})
		}
		if err := s.ComputeTotals(seMerchant()); err != nil {
			t.Fatal(err)
		}
		var sum, lines int64
		for _, v := range s.VAT {
			if v.Net+v.VAT != v.Gross || v.VAT != kvitt.VATOf(v.Gross, v.Rate) {
				t.Fatalf("basket %d: %+v", n, v)
			}
			sum += v.Gross
		}
		for _, l := range s.Lines {
			lines += l.Total
		}
		if sum != s.Total || lines != s.Total {
			t.Fatalf("basket %d: VAT gross %d, lines %d, total %d", n, sum, lines, s.Total)
		}
	}
}

func TestComputeTotalsFourRates(t *testing.T) {
	m := &kvitt.Merchant{Currency: kvitt.SEK, VATRates: []int64{2500, 1200, 600, 0, 1000}}
	line := func(rate int64) kvitt.SaleLine {
		return kvitt.SaleLine{Name: "x", QuantityMilli: 1000, UnitPrice: 100, VATRate: rate}
	}
	four := &kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{line(2500), line(1200), line(600), line(0), line(2500)}}
	if err := four.ComputeTotals(m); err != nil {
		t.Fatalf("four rates: %v", err)
	}
	five := &kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{line(2500), line(1200), line(600), line(0), line(1000)}}
	err := five.ComputeTotals(m)
	if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != "lines" {
		t.Fatalf("five rates: %v; want unprocessable on lines", err)
	}
}

func TestComputeTotalsErrors(t *testing.T) {
	ok := kvitt.SaleLine{Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200}
	with := func(f func(l *kvitt.SaleLine)) kvitt.SaleLine { l := ok; f(&l); return l }
	long := strings.Repeat("å", kvitt.MaxNameLength+1)
	for _, tc := range []struct {
		name  string
		sale  kvitt.Sale
		field string
	}{
		{"bad VAT rate", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{ok, with(func(l *kvitt.SaleLine) { l.VATRate = 2000 })}}, "lines[1].vat_rate"},
		{"Finnish rate in Sweden", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.VATRate = 2550 })}}, "lines[0].vat_rate"},
		{"discount above line", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{ok, ok, with(func(l *kvitt.SaleLine) { l.Discount = 3501 })}}, "lines[2].discount"},
		{"negative discount", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.Discount = -1 })}}, "lines[0].discount"},
		{"zero quantity", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.QuantityMilli = 0 })}}, "lines[0].quantity"},
		{"negative quantity", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.QuantityMilli = -1000 })}}, "lines[0].quantity"},
		{"huge quantity", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.QuantityMilli = kvitt.MaxQuantity + 1 })}}, "lines[0].quantity"},
		{"price × quantity overflows", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.UnitPrice = kvitt.MaxAmount; l.QuantityMilli = 2000 })}}, "lines[0].quantity"},
		{"negative price", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.UnitPrice = -1 })}}, "lines[0].unit_price"},
		{"price above max", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.UnitPrice = kvitt.MaxAmount + 1 })}}, "lines[0].unit_price"},
		{"sum above max", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.UnitPrice = kvitt.MaxAmount }), with(func(l *kvitt.SaleLine) { l.UnitPrice = 1 })}}, "lines"},
		{"no name", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.Name = "" })}}, "lines[0].name"},
		{"long name", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.Name = long })}}, "lines[0].name"},
		{"long article number", kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{with(func(l *kvitt.SaleLine) { l.ArticleNumber = strings.Repeat("1", 41) })}}, "lines[0].article_number"},
		{"no lines", kvitt.Sale{Currency: kvitt.SEK}, "lines"},
		{"too many lines", kvitt.Sale{Currency: kvitt.SEK, Lines: make([]kvitt.SaleLine, kvitt.MaxSaleLines+1)}, "lines"},
		{"unsupported currency", kvitt.Sale{Currency: "USD", Lines: []kvitt.SaleLine{ok}}, "currency"},
		{"not the merchant's currency", kvitt.Sale{Currency: kvitt.EUR, Lines: []kvitt.SaleLine{ok}}, "currency"},
		{"ISK for a SEK merchant", kvitt.Sale{Currency: kvitt.ISK, Lines: []kvitt.SaleLine{ok}}, "currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sale
			err := s.ComputeTotals(seMerchant())
			if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != tc.field {
				t.Fatalf("err = %v (field %q); want unprocessable on %q", err, kvitt.ErrorField(err), tc.field)
			}
			if kvitt.ErrorMessage(err) == "" {
				t.Error("no message")
			}
		})
	}
	// A discount equal to the line is allowed: the line is free.
	s := kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{ok, with(func(l *kvitt.SaleLine) { l.Discount = 3500 })}}
	if err := s.ComputeTotals(seMerchant()); err != nil || s.Total != 3500 || s.Lines[1].Total != 0 {
		t.Errorf("full discount: %v, total %d", err, s.Total)
	}
}

func TestQuantityDecimals(t *testing.T) {
	for _, tc := range []struct {
		qty, price, want int64
	}{
		{350, 12900, 4515},
		{1, 100, 0},       // 0.001 × 1.00 = 0.001 → 0
		{5, 100, 1},       // 0.005 × 1.00 = 0.005 → 0.01 (half up)
		{1500, 999, 1499}, // 1498.5 → 1499
		{1000000000, 1, 1000000},
	} {
		s := kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{{Name: "x", QuantityMilli: tc.qty, UnitPrice: tc.price, VATRate: 0}}}
		if err := s.ComputeTotals(seMerchant()); err != nil || s.Total != tc.want {
			t.Errorf("%d milli × %d = %d, %v; want %d", tc.qty, tc.price, s.Total, err, tc.want)
		}
	}
	for milli, want := range map[int64]string{2000: "2", 350: "0.35", 1: "0.001", 1500: "1.5", 1010: "1.01"} {
		if got := kvitt.FormatQuantity(milli); got != want {
			t.Errorf("FormatQuantity(%d) = %q, want %q", milli, got, want)
		}
	}
	for bp, want := range map[int64]string{2500: "25", 2550: "25.5", 1200: "12", 0: "0", 1225: "12.25"} {
		if got := kvitt.FormatRate(bp); got != want {
			t.Errorf("FormatRate(%d) = %q, want %q", bp, got, want)
		}
	}
}

func TestWithFieldPrefix(t *testing.T) {
	err := kvitt.WithFieldPrefix("lines[1]", kvitt.FieldError("vat_rate", "bad"))
	if kvitt.ErrorField(err) != "lines[1].vat_rate" {
		t.Errorf("field = %q", kvitt.ErrorField(err))
	}
	if kvitt.ErrorField(kvitt.WithFieldPrefix("lines", kvitt.FieldError("[1]", "x"))) != "lines[1]" {
		t.Error("index prefix")
	}
	if kvitt.ErrorCode(nil) != "" || kvitt.ErrorCode(errors.New("x")) != kvitt.EINTERNAL {
		t.Error("ErrorCode of nil / foreign error")
	}
}

// A receipt printer obeys control characters in a line's text as commands
// (ESC p opens the cash drawer, GS V cuts the paper, ESC @ resets it) and a
// line break forges a line of its own: such text is refused, naming the field.
func TestComputeTotalsRefusesControlCharacters(t *testing.T) {
	ok := kvitt.SaleLine{Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200}
	for _, bad := range []string{"Kaffe\x1bp\x00\x19\xfa", "Kaffe\x1dV\x00", "Kaffe\x1b@", "Kaffe\n TOTALT 0,00 kr",
		"Kaffe\r", "Kaffe\t", "Kaffe\x7f", "Kaffe\u0085", "Kaffe\u2028", "Kaffe\u2029", "Kaffe\u202e", "Kaffe\u2066", "Kaffe\u200f", "Kaffe\xff"} {
		for _, field := range []string{"name", "article_number"} {
			l := ok
			if field == "name" {
				l.Name = bad
			} else {
				l.ArticleNumber = bad
			}
			s := kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{ok, l}}
			err := s.ComputeTotals(seMerchant())
			if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != "lines[1]."+field {
				t.Errorf("%s %q: err = %v (field %q); want unprocessable on lines[1].%s", field, bad, err, kvitt.ErrorField(err), field)
			}
		}
	}
	// Letters of every kind, symbols and emoji are text.
	s := kvitt.Sale{Currency: kvitt.SEK, Lines: []kvitt.SaleLine{ok, {Name: "Smørrebrød & Räksmörgås «½ kg» – 10 % ☕ ناشتا", ArticleNumber: "7310865004703", QuantityMilli: 1000, UnitPrice: 100, VATRate: 1200}}}
	if err := s.ComputeTotals(seMerchant()); err != nil {
		t.Errorf("printable text refused: %v", err)
	}
}

// The merchant's, store's and till's texts are printed on every receipt:
// the same rule applies to them.
func TestMerchantShopTillValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"merchant name", (&kvitt.Merchant{Name: "Demo\x1bp\x00AB"}).Validate(), "name"},
		{"merchant org nr", (&kvitt.Merchant{Name: "Demo AB", OrgNr: "556677\n8899"}).Validate(), "org_nr"},
		{"store name", (&kvitt.Shop{Name: "Butik\u202e"}).Validate(), "name"},
		{"store address", (&kvitt.Shop{Name: "Butik", Address: "Gatan 1\nTOTALT 0,00 kr"}).Validate(), "address"},
		{"till register id", (&kvitt.Till{ID: "1", RegisterID: "REG\x1d\x56\x00"}).Validate(), "register_id"},
		{"till name", (&kvitt.Till{ID: "1", Name: "Kassa\u2028"}).Validate(), "name"},
		{"terminal", (&kvitt.Till{ID: "1", Terminal: &kvitt.Terminal{POIID: "P\x00"}}).Validate(), "terminal.poiid"},
	} {
		if kvitt.ErrorCode(tc.err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(tc.err) != tc.field {
			t.Errorf("%s: err = %v; want unprocessable on %q", tc.name, tc.err, tc.field)
		}
	}
	for _, err := range []error{
		(&kvitt.Merchant{ID: "m1", Name: "Demobutiken AB", OrgNr: "5566778899", Country: "SE"}).Validate(),
		(&kvitt.Shop{ID: "s1", Name: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm"}).Validate(),
		(&kvitt.Till{ID: "1", Name: "Kassa 1", RegisterID: "KVITT-DEMO-0001", Terminal: &kvitt.Terminal{POIID: "P1", URL: "https://10.0.0.12:8443/nexo"}}).Validate(),
	} {
		if err != nil {
			t.Errorf("valid configuration refused: %v", err)
		}
	}
}
