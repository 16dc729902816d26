package kvitt

import (
	"fmt"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"
)

// SaleState is where a sale is in its life.
type SaleState string

const (
	SaleOpen      SaleState = "open"      // lines fixed, taking payments
	SaleCompleted SaleState = "completed" // fully paid, receipt issued
	SaleCancelled SaleState = "cancelled" // voided before completion; no money kept
)

// Sale is a till's basket and the tenders that pay it.
type Sale struct {
	ID         string
	MerchantID string
	TillID     string
	Currency   Currency
	Lines      []SaleLine
	// Totals is computed from Lines by ComputeTotals and stored with the sale.
	Total     int64
	VAT       []VATTotal
	State     SaleState
	ReceiptID string
	// Training marks a sale made in training mode (övningsläge): it takes cash
	// only, its receipt is marked ÖVNING and it counts in no sales total.
	Training bool
	// IdempotencyKey is the caller's key, scoped to its API key, that created the sale.
	IdempotencyKey string
	Created        time.Time
	Updated        time.Time
	Version        int64
}

// SaleLine is one article on a sale.
type SaleLine struct {
	ArticleNumber string
	Name          string
	// QuantityMilli is the quantity in thousandths (1000 = one piece, 350 = 0.350 kg).
	QuantityMilli int64
	// UnitPrice is the price of one unit including VAT, in minor units.
	UnitPrice int64
	// VATRate in basis points (2500 = 25 %).
	VATRate int64
	// Discount is taken off the line total, in minor units including VAT.
	Discount int64
	// Total = UnitPrice × quantity − Discount, rounded to minor units.
	Total int64
}

// VATTotal is the VAT split for one rate: gross (incl. VAT), net and VAT.
type VATTotal struct {
	Rate  int64 // basis points
	Gross int64
	Net   int64
	VAT   int64
}

// Limits on what a sale may hold.
const (
	MaxSaleLines   = 500
	MaxNameLength  = 120
	MaxQuantity    = 1_000_000_000 // thousandths: a million units
	maxArticleNrLn = 40
)

// ComputeTotals validates the lines against the merchant's rules and fills
// each line's Total, the sale's Total and its VAT split (VAT computed per rate
// on the rate's gross total, not per line, so the split adds up exactly).
// Errors name the field ("lines[1].vat_rate").
func (s *Sale) ComputeTotals(m *Merchant) error {
	if !s.Currency.Valid() {
		return FieldError("currency", "%q is not a supported currency (SEK, NOK, DKK, EUR, ISK)", string(s.Currency))
	}
	if m != nil && m.Currency != "" && s.Currency != m.Currency {
		return FieldError("currency", "must be %s, the merchant's currency", m.Currency)
	}
	if len(s.Lines) == 0 {
		return FieldError("lines", "a sale needs at least one line")
	}
	if len(s.Lines) > MaxSaleLines {
		return FieldError("lines", "at most %d lines", MaxSaleLines)
	}
	byRate := map[int64]int64{}
	var total int64
	for i := range s.Lines {
		l := &s.Lines[i]
		if err := l.compute(m); err != nil {
			return WithFieldPrefix(fmt.Sprintf("lines[%d]", i), err)
		}
		var ok bool
		if total, ok = AddAmounts(total, l.Total); !ok {
			return FieldError("lines", "the sale total is too large")
		}
		byRate[l.VATRate] += l.Total
	}
	if total < 0 {
		return FieldError("lines", "the sale total is negative; record a return instead")
	}
	if len(byRate) > 4 {
		return FieldError("lines", "a receipt can carry at most four VAT rates; this sale has %d", len(byRate))
	}
	s.Total = total
	s.VAT = s.VAT[:0]
	for rate, gross := range byRate {
		vat := VATOf(gross, rate)
		s.VAT = append(s.VAT, VATTotal{Rate: rate, Gross: gross, Net: gross - vat, VAT: vat})
	}
	sort.Slice(s.VAT, func(i, j int) bool { return s.VAT[i].Rate > s.VAT[j].Rate })
	return nil
}

func (l *SaleLine) compute(m *Merchant) error {
	if l.Name == "" {
		return FieldError("name", "is required")
	}
	if n := len([]rune(l.Name)); n > MaxNameLength {
		return FieldError("name", "is %d characters; at most %d", n, MaxNameLength)
	}
	if err := CheckText("name", l.Name); err != nil {
		return err
	}
	if len(l.ArticleNumber) > maxArticleNrLn {
		return FieldError("article_number", "at most %d characters", maxArticleNrLn)
	}
	if err := CheckText("article_number", l.ArticleNumber); err != nil {
		return err
	}
	if l.QuantityMilli <= 0 {
		return FieldError("quantity", "must be above zero")
	}
	if l.QuantityMilli > MaxQuantity {
		return FieldError("quantity", "must be at most %d", MaxQuantity/1000)
	}
	if l.UnitPrice < 0 {
		return FieldError("unit_price", "must not be negative")
	}
	if l.UnitPrice > MaxAmount {
		return FieldError("unit_price", "is above the maximum")
	}
	if m != nil && !m.AllowsVAT(l.VATRate) {
		return FieldError("vat_rate", "%s %% is not a VAT rate here (allowed: %s)", FormatRate(l.VATRate), formatRates(m.VATRates))
	}
	gross, ok := MulAmount(l.UnitPrice, l.QuantityMilli)
	if !ok {
		return FieldError("quantity", "unit price × quantity is too large")
	}
	if l.Discount < 0 {
		return FieldError("discount", "must not be negative")
	}
	if l.Discount > gross {
		return FieldError("discount", "is larger than the line amount %d", gross)
	}
	l.Total = gross - l.Discount
	return nil
}

// UnsafeTextRune reports whether r may not appear in text that kvitt prints
// on a receipt or shows on a display: control characters (Unicode Cc: ESC,
// GS, NUL, CR, LF, TAB, DEL, NEL, ...), which a receipt printer obeys as
// commands (ESC p opens the cash drawer) and which break lines; the line and
// paragraph separators U+2028 and U+2029; and the bidirectional controls
// (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which reorder
// what is shown ("10,00" displayed as "00,01").
func UnsafeTextRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// CheckText refuses, with a validation error naming field, text that is not
// UTF-8 or holds a character UnsafeTextRune refuses. Every text that reaches
// a receipt or a display is checked when it enters kvitt.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return FieldError(field, "is not valid UTF-8")
	}
	n := 0
	for _, r := range s {
		n++
		if UnsafeTextRune(r) {
			return FieldError(field, "has the control character %U at character %d; only printable text may go on a receipt", r, n)
		}
	}
	return nil
}

// FormatRate formats basis points as a percentage: 2500 → "25", 2550 → "25.5".
func FormatRate(bp int64) string {
	if bp%100 == 0 {
		return fmt.Sprint(bp / 100)
	}
	if bp%10 == 0 {
		return fmt.Sprintf("%d.%d", bp/100, (bp%100)/10)
	}
	return fmt.Sprintf("%d.%02d", bp/100, bp%100)
}

func formatRates(rs []int64) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += FormatRate(r)
	}
	return s
}

// FormatQuantity formats thousandths: 2000 → "2", 350 → "0.35".
func FormatQuantity(milli int64) string {
	if milli%1000 == 0 {
		return fmt.Sprint(milli / 1000)
	}
	s := fmt.Sprintf("%d.%03d", milli/1000, milli%1000)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}
