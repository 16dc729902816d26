package kvitt

import (
	"math"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 code that kvitt knows the minor units of.
type Currency string

// The currencies kvitt meets in the Nordics.
const (
	SEK Currency = "SEK"
	NOK Currency = "NOK"
	DKK Currency = "DKK"
	EUR Currency = "EUR"
	ISK Currency = "ISK"
)

type currencyInfo struct {
	decimals int   // ISO 4217 minor unit exponent
	cashUnit int64 // smallest cash amount in circulation, in minor units
}

var currencies = map[Currency]currencyInfo{
	SEK: {2, 100}, // öresavrundning to whole kronor since 2010
	NOK: {2, 100}, // whole kroner since 2012
	DKK: {2, 50},  // 50 øre
	EUR: {2, 5},   // Finland rounds cash to 5 cent
	ISK: {0, 10},
}

// MaxAmount bounds every amount kvitt accepts: 10^13 minor units (100 billion
// kronor). It keeps sums of many lines far from int64 overflow and is below
// every provider's own limit (Swish: 999999999999.99).
const MaxAmount int64 = 10_000_000_000_000

// ParseCurrency returns c if kvitt supports it.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if _, ok := currencies[c]; !ok {
		return "", FieldError("currency", "%q is not a supported currency (SEK, NOK, DKK, EUR, ISK)", s)
	}
	return c, nil
}

// Valid reports whether kvitt supports the currency.
func (c Currency) Valid() bool { _, ok := currencies[c]; return ok }

// Decimals is the number of minor-unit digits of the currency (2 for SEK).
func (c Currency) Decimals() int { return currencies[c].decimals }

// CashUnit is the smallest cash amount in circulation, in minor units
// (100 for SEK: cash is rounded to whole kronor).
func (c Currency) CashUnit() int64 {
	if u := currencies[c].cashUnit; u > 0 {
		return u
	}
	return 1
}

// RoundCash rounds amount to the nearest cash unit, halves away from zero
// (149.50 SEK → 150, 149.49 SEK → 149).
func (c Currency) RoundCash(amount int64) int64 {
	u := c.CashUnit()
	if u == 1 {
		return amount
	}
	q, r := amount/u, amount%u
	if r < 0 {
		r = -r
	}
	if 2*r >= u {
		if amount < 0 {
			q--
		} else {
			q++
		}
	}
	return q * u
}

// Money is an amount in minor units of a currency. It is never a float.
type Money struct {
	Amount   int64
	Currency Currency
}

// String formats m as "12.50 SEK".
func (m Money) String() string { return FormatAmount(m.Amount, m.Currency) + " " + string(m.Currency) }

// FormatAmount formats minor units as a decimal string with the currency's
// number of decimals and a dot: 1250 SEK → "12.50", -5 SEK → "-0.05".
func FormatAmount(amount int64, c Currency) string {
	d := c.Decimals()
	neg := amount < 0
	var u uint64
	if neg {
		u = uint64(-(amount + 1)) + 1 // safe for MinInt64
	} else {
		u = uint64(amount)
	}
	s := strconv.FormatUint(u, 10)
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseAmount parses a decimal string ("12.50", "12.5", "12", "-3.00") into
// minor units of c, exactly. It refuses more decimals than the currency has,
// exponents, thousands separators and values beyond MaxAmount. A comma is
// accepted as the decimal separator ("12,50"), as Nordic users write it.
func ParseAmount(s string, c Currency) (int64, error) {
	if !c.Valid() {
		return 0, FieldError("currency", "%q is not a supported currency", string(c))
	}
	orig := s
	if s == "" {
		return 0, FieldError("amount", "is empty")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexAny(s, ".,"); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
		if frac == "" {
			return 0, FieldError("amount", "%q has a separator but no decimals", orig)
		}
	}
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, FieldError("amount", "%q is not a decimal number", orig)
	}
	d := c.Decimals()
	if len(frac) > d {
		return 0, FieldError("amount", "%q has %d decimals; %s has %d", orig, len(frac), c, d)
	}
	frac += strings.Repeat("0", d-len(frac))
	digits := strings.TrimLeft(intPart+frac, "0")
	if len(digits) > 18 {
		return 0, FieldError("amount", "%q is too large", orig)
	}
	var v int64
	if digits != "" {
		var err error
		v, err = strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, FieldError("amount", "%q is not a decimal number", orig)
		}
	}
	if v > MaxAmount {
		return 0, FieldError("amount", "%q is above the maximum %s", orig, FormatAmount(MaxAmount, c))
	}
	if neg {
		v = -v
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// AddAmounts returns a+b, or false if the sum overflows int64 or leaves ±MaxAmount.
func AddAmounts(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	s := a + b
	if s > MaxAmount || s < -MaxAmount {
		return 0, false
	}
	return s, true
}

// MulAmount returns amount*qtyMilli/1000 rounded half away from zero (a line
// total for a quantity in thousandths), or false on overflow or beyond MaxAmount.
func MulAmount(amount, qtyMilli int64) (int64, bool) {
	if amount == 0 || qtyMilli == 0 {
		return 0, true
	}
	p := amount * qtyMilli
	if p/qtyMilli != amount {
		return 0, false
	}
	q, r := p/1000, p%1000
	if r >= 500 {
		q++
	} else if r <= -500 {
		q--
	}
	if q > MaxAmount || q < -MaxAmount {
		return 0, false
	}
	return q, true
}

// VATOf returns the VAT part of a VAT-inclusive gross amount at rate basis
// points (2500 = 25 %), rounded half away from zero: gross*rate/(10000+rate).
func VATOf(gross int64, rateBP int64) int64 {
	if rateBP == 0 || gross == 0 {
		return 0
	}
	num := gross * rateBP
	den := 10000 + rateBP
	q, r := num/den, num%den
	if 2*r >= den {
		q++
	} else if 2*r <= -den {
		q--
	}
	return q
}
