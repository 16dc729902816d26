package kvitt_test

import (
	"math/big"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

var fuzzCurrencies = []kvitt.Currency{kvitt.SEK, kvitt.NOK, kvitt.DKK, kvitt.EUR, kvitt.ISK}

// FuzzParseAmount: an accepted amount is exactly the decimal the text says
// (checked against math/big), within ±MaxAmount, and formatting it and
// parsing that again is stable.
func FuzzParseAmount(f *testing.F) {
	f.Add("12.50", uint8(0))
	f.Add("-0,05", uint8(3))
	f.Add("+0001", uint8(4))
	f.Add("100000000000.00", uint8(0))
	f.Add("1e3", uint8(1))
	f.Add("12.", uint8(2))
	f.Fuzz(func(t *testing.T, s string, cur uint8) {
		c := fuzzCurrencies[int(cur)%len(fuzzCurrencies)]
		v, err := kvitt.ParseAmount(s, c)
		if err != nil {
			return
		}
		if v > kvitt.MaxAmount || v < -kvitt.MaxAmount {
			t.Fatalf("ParseAmount(%q, %s) = %d, beyond MaxAmount", s, c, v)
		}
		// The model: the same number through math/big.
		norm := strings.Replace(strings.TrimPrefix(s, "+"), ",", ".", 1)
		want, ok := new(big.Rat).SetString(norm)
		if !ok || strings.ContainsAny(norm, "eE/_xXoObBpP") {
			t.Fatalf("ParseAmount(%q, %s) accepted %d; not a plain decimal", s, c, v)
		}
		want.Mul(want, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Decimals())), nil)))
		if !want.IsInt() || want.Num().Cmp(big.NewInt(v)) != 0 {
			t.Fatalf("ParseAmount(%q, %s) = %d, want %s minor units", s, c, v, want.RatString())
		}
		out := kvitt.FormatAmount(v, c)
		back, err := kvitt.ParseAmount(out, c)
		if err != nil || back != v {
			t.Fatalf("ParseAmount(FormatAmount(%d) = %q) = %d, %v", v, out, back, err)
		}
		if again := kvitt.FormatAmount(back, c); again != out {
			t.Fatalf("FormatAmount not stable: %q then %q", out, again)
		}
	})
}

// FuzzFormatAmount: every amount within ±MaxAmount formats to text that
// parses back to it, in every currency.
func FuzzFormatAmount(f *testing.F) {
	f.Add(int64(1250))
	f.Add(int64(-5))
	f.Add(kvitt.MaxAmount)
	f.Add(int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, v int64) {
		for _, c := range fuzzCurrencies {
			s := kvitt.FormatAmount(v, c)
			back, err := kvitt.ParseAmount(s, c)
			if v > kvitt.MaxAmount || v < -kvitt.MaxAmount {
				if err == nil {
					t.Fatalf("%s %q beyond MaxAmount accepted as %d", c, s, back)
				}
				continue
			}
			if err != nil || back != v {
				t.Fatalf("%s: %d formats as %q, parses as %d, %v", c, v, s, back, err)
			}
		}
	})
}
