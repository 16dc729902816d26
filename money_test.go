package kvitt_test

import (
	"math"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

func TestParseAmount(t *testing.T) {
	ok := []struct {
		in   string
		cur  kvitt.Currency
		want int64
	}{
		{"12.50", kvitt.SEK, 1250},
		{"12.5", kvitt.SEK, 1250},
		{"12,50", kvitt.SEK, 1250},
		{"12,5", kvitt.NOK, 1250},
		{"12", kvitt.DKK, 1200},
		{"0.01", kvitt.EUR, 1},
		{"0.05", kvitt.SEK, 5},
		{"0", kvitt.SEK, 0},
		{"0.00", kvitt.SEK, 0},
		{"00012.50", kvitt.SEK, 1250},
		{"+5", kvitt.SEK, 500},
		{"-3.00", kvitt.SEK, -300},
		{"-0.05", kvitt.EUR, -5},
		{"1250", kvitt.ISK, 1250},
		{"-7", kvitt.ISK, -7},
		{"100000000000.00", kvitt.SEK, kvitt.MaxAmount}, // exactly MaxAmount
		{"-100000000000", kvitt.NOK, -kvitt.MaxAmount},
		{"10000000000000", kvitt.ISK, kvitt.MaxAmount},
		{"99999999999.99", kvitt.EUR, kvitt.MaxAmount - 1},
		// Exactness: no float on the way (0.1+0.2 style traps, 2^53 boundary).
		{"0.29", kvitt.SEK, 29},
		{"1.15", kvitt.SEK, 115},
		{"90071992547.41", kvitt.SEK, 9007199254741},
	}
	for _, tc := range ok {
		got, err := kvitt.ParseAmount(tc.in, tc.cur)
		if err != nil || got != tc.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", tc.in, tc.cur, got, err, tc.want)
		}
	}
	bad := []struct {
		in    string
		cur   kvitt.Currency
		field string
	}{
		{"", kvitt.SEK, "amount"},
		{"12.505", kvitt.SEK, "amount"}, // too many decimals
		{"12.5", kvitt.ISK, "amount"},   // ISK has none
		{"12.0", kvitt.ISK, "amount"},
		{"12.", kvitt.SEK, "amount"},
		{".5", kvitt.SEK, "amount"},
		{"1e3", kvitt.SEK, "amount"},
		{"1E3", kvitt.SEK, "amount"},
		{"1.5e2", kvitt.SEK, "amount"},
		{"0x10", kvitt.SEK, "amount"},
		{"abc", kvitt.SEK, "amount"},
		{"12 kr", kvitt.SEK, "amount"},
		{" 12", kvitt.SEK, "amount"},
		{"12 ", kvitt.SEK, "amount"},
		{"1,000.00", kvitt.SEK, "amount"}, // thousands separator
		{"1 000", kvitt.SEK, "amount"},
		{"12.50.1", kvitt.SEK, "amount"},
		{"--1", kvitt.SEK, "amount"},
		{"-", kvitt.SEK, "amount"},
		{"+-1", kvitt.SEK, "amount"},
		{"NaN", kvitt.SEK, "amount"},
		{"Inf", kvitt.SEK, "amount"},
		{"١٢", kvitt.SEK, "amount"},              // non-ASCII digits
		{"100000000000.01", kvitt.SEK, "amount"}, // MaxAmount + 1
		{"-100000000000.01", kvitt.SEK, "amount"},
		{"10000000000001", kvitt.ISK, "amount"},
		{"92233720368547758.07", kvitt.SEK, "amount"}, // MaxInt64
		{"99999999999999999999999", kvitt.SEK, "amount"},
		{"12.50", "USD", "currency"},
		{"12.50", "", "currency"},
		{"12.50", "sek", "currency"},
	}
	for _, tc := range bad {
		got, err := kvitt.ParseAmount(tc.in, tc.cur)
		if err == nil {
			t.Errorf("ParseAmount(%q, %s) = %d, nil; want an error", tc.in, tc.cur, got)
			continue
		}
		if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != tc.field {
			t.Errorf("ParseAmount(%q, %s): %v; want %s on field %q", tc.in, tc.cur, err, kvitt.EUNPROCESSABLE, tc.field)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct {
		amount int64
		cur    kvitt.Currency
		want   string
	}{
		{1250, kvitt.SEK, "12.50"},
		{1205, kvitt.NOK, "12.05"},
		{5, kvitt.SEK, "0.05"},
		{-5, kvitt.SEK, "-0.05"},
		{0, kvitt.DKK, "0.00"},
		{100, kvitt.EUR, "1.00"},
		{-1250, kvitt.EUR, "-12.50"},
		{1250, kvitt.ISK, "1250"},
		{-7, kvitt.ISK, "-7"},
		{0, kvitt.ISK, "0"},
		{kvitt.MaxAmount, kvitt.SEK, "100000000000.00"},
		{math.MaxInt64, kvitt.SEK, "92233720368547758.07"},
		{math.MinInt64, kvitt.SEK, "-92233720368547758.08"},
		{math.MinInt64, kvitt.ISK, "-9223372036854775808"},
	} {
		if got := kvitt.FormatAmount(tc.amount, tc.cur); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.amount, tc.cur, got, tc.want)
		}
	}
	if got := (kvitt.Money{Amount: 14950, Currency: kvitt.SEK}).String(); got != "149.50 SEK" {
		t.Errorf("Money.String = %q", got)
	}
}

// Every amount kvitt accepts formats and parses back to itself.
func TestAmountRoundTrip(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, 123456789, -123456789, kvitt.MaxAmount, -kvitt.MaxAmount, kvitt.MaxAmount - 1}
	for v := int64(-2000); v <= 2000; v += 7 {
		vals = append(vals, v)
	}
	for _, c := range []kvitt.Currency{kvitt.SEK, kvitt.NOK, kvitt.DKK, kvitt.EUR, kvitt.ISK} {
		for _, v := range vals {
			s := kvitt.FormatAmount(v, c)
			got, err := kvitt.ParseAmount(s, c)
			if err != nil || got != v {
				t.Errorf("%s: %d → %q → %d, %v", c, v, s, got, err)
			}
		}
	}
}

func TestCurrencies(t *testing.T) {
	for _, tc := range []struct {
		c        kvitt.Currency
		decimals int
		cashUnit int64
	}{
		{kvitt.SEK, 2, 100}, {kvitt.NOK, 2, 100}, {kvitt.DKK, 2, 50}, {kvitt.EUR, 2, 5}, {kvitt.ISK, 0, 10},
	} {
		if !tc.c.Valid() || tc.c.Decimals() != tc.decimals || tc.c.CashUnit() != tc.cashUnit {
			t.Errorf("%s: valid %v decimals %d cash unit %d; want true %d %d", tc.c, tc.c.Valid(), tc.c.Decimals(), tc.c.CashUnit(), tc.decimals, tc.cashUnit)
		}
		if c, err := kvitt.ParseCurrency(string(tc.c)); err != nil || c != tc.c {
			t.Errorf("ParseCurrency(%s) = %s, %v", tc.c, c, err)
		}
	}
	for _, s := range []string{"", "USD", "sek", "SEK "} {
		if _, err := kvitt.ParseCurrency(s); kvitt.ErrorField(err) != "currency" {
			t.Errorf("ParseCurrency(%q): %v; want an error on currency", s, err)
		}
		if kvitt.Currency(s).Valid() {
			t.Errorf("%q is valid", s)
		}
	}
	if u := kvitt.Currency("USD").CashUnit(); u != 1 {
		t.Errorf("unknown currency cash unit = %d, want 1", u)
	}
}

func TestAddAmounts(t *testing.T) {
	for _, tc := range []struct {
		a, b, want int64
		ok         bool
	}{
		{1, 2, 3, true},
		{5, -7, -2, true},
		{kvitt.MaxAmount, 0, kvitt.MaxAmount, true},
		{kvitt.MaxAmount - 1, 1, kvitt.MaxAmount, true},
		{kvitt.MaxAmount, 1, 0, false},
		{-kvitt.MaxAmount, -1, 0, false},
		{-kvitt.MaxAmount, 0, -kvitt.MaxAmount, true},
		{math.MaxInt64, 1, 0, false},
		{math.MinInt64, -1, 0, false},
		{math.MaxInt64, math.MaxInt64, 0, false},
		{math.MinInt64, math.MinInt64, 0, false},
		{math.MaxInt64, math.MinInt64, -1, true},
	} {
		got, ok := kvitt.AddAmounts(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("AddAmounts(%d, %d) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMulAmount(t *testing.T) {
	for _, tc := range []struct {
		amount, qty, want int64
		ok                bool
	}{
		{3500, 2000, 7000, true},
		{12900, 350, 4515, true}, // 0.350 kg at 129.00/kg
		{100, 333, 33, true},     // 33.3 → 33
		{999, 500, 500, true},    // 499.5 → 500 (half away from zero)
		{-999, 500, -500, true},
		{1, 499, 0, true},
		{1, 500, 1, true},
		{-1, 500, -1, true},
		{-1, 499, 0, true},
		{0, math.MaxInt64, 0, true},
		{math.MaxInt64, 0, 0, true},
		{kvitt.MaxAmount, 1000, kvitt.MaxAmount, true},
		{kvitt.MaxAmount, 1001, 0, false},
		{math.MaxInt64, 2, 0, false},
		{math.MaxInt64 / 2, 3, 0, false},
		{math.MinInt64, 2, 0, false},
		{4_000_000_000, 4_000_000_000, 0, false}, // 1.6e19 overflows int64
	} {
		got, ok := kvitt.MulAmount(tc.amount, tc.qty)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MulAmount(%d, %d) = %d, %v; want %d, %v", tc.amount, tc.qty, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVATOf(t *testing.T) {
	for _, tc := range []struct {
		gross, rate, want int64
	}{
		{12500, 2500, 2500},
		{10000, 2500, 2000},
		{10000, 1200, 1071}, // 1071.43
		{11200, 1200, 1200},
		{100, 600, 6},   // 5.66
		{14, 1200, 2},   // exactly 1.5 → 2
		{-14, 1200, -2}, // exactly -1.5 → -2
		{28, 1200, 3},
		{1, 2500, 0},
		{3, 2500, 1}, // 0.6
		{-3, 2500, -1},
		{-12500, 2500, -2500},
		{12345, 0, 0},
		{0, 2500, 0},
		{kvitt.MaxAmount, 2500, kvitt.MaxAmount / 5},
		{11400, 1400, 1400},
		{12550, 2550, 2550},
	} {
		if got := kvitt.VATOf(tc.gross, tc.rate); got != tc.want {
			t.Errorf("VATOf(%d, %d) = %d, want %d", tc.gross, tc.rate, got, tc.want)
		}
	}
}

func TestRoundCash(t *testing.T) {
	for _, tc := range []struct {
		c      kvitt.Currency
		amount int64
		want   int64
	}{
		{kvitt.SEK, 14950, 15000}, // half up
		{kvitt.SEK, 14949, 14900},
		{kvitt.SEK, 14951, 15000},
		{kvitt.SEK, 14900, 14900},
		{kvitt.SEK, 50, 100},
		{kvitt.SEK, 49, 0},
		{kvitt.SEK, 0, 0},
		{kvitt.SEK, -14950, -15000}, // half away from zero
		{kvitt.SEK, -14949, -14900},
		{kvitt.SEK, -50, -100},
		{kvitt.NOK, 14950, 15000},
		{kvitt.DKK, 1225, 1250}, // 25 øre is half of 50
		{kvitt.DKK, 1224, 1200},
		{kvitt.DKK, 1275, 1300},
		{kvitt.DKK, 1274, 1250},
		{kvitt.DKK, -1225, -1250},
		{kvitt.DKK, -1224, -1200},
		{kvitt.EUR, 1232, 1230},
		{kvitt.EUR, 1233, 1235},
		{kvitt.EUR, 1237, 1235},
		{kvitt.EUR, 1238, 1240},
		{kvitt.EUR, 1235, 1235},
		{kvitt.EUR, -1233, -1235},
		{kvitt.EUR, -1232, -1230},
		{kvitt.ISK, 15, 20},
		{kvitt.ISK, 14, 10},
		{kvitt.ISK, -15, -20},
		{"USD", 1234, 1234},
		{kvitt.SEK, kvitt.MaxAmount - 49, kvitt.MaxAmount},
	} {
		if got := tc.c.RoundCash(tc.amount); got != tc.want {
			t.Errorf("%s.RoundCash(%d) = %d, want %d", tc.c, tc.amount, got, tc.want)
		}
	}
}
