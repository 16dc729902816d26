// Package receipt renders a kvitt.Receipt as a kassakvitto (SKVFS 2014:9
// 7 kap. 1 §): plain text for 42- and 48-column receipt printers, ESC/POS for
// those printers directly, printable HTML, and JSON.
//
// Amounts are shown the Swedish way with a decimal comma ("116,26"); a return
// receipt shows every amount negative. Copies, training and pro forma
// receipts carry the marks KOPIA, ÖVNING and EJ KVITTO at twice the size of
// the amount text where the medium allows (see Mark and docs/receipts.md).
package receipt

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Stockholm on hosts without a zone database
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
)

// Widths are the printer widths Text is laid out for.
const (
	Width42 = 42
	Width48 = 48
)

// Location is the time zone receipts show times in.
var Location = loadStockholm()

func loadStockholm() *time.Location {
	if loc, err := time.LoadLocation("Europe/Stockholm"); err == nil {
		return loc
	}
	return time.UTC
}

// Amount formats minor units with a decimal comma: 11626 SEK → "116,26".
func Amount(v int64, c kvitt.Currency) string {
	if c == "" {
		c = kvitt.SEK
	}
	return strings.Replace(kvitt.FormatAmount(v, c), ".", ",", 1)
}

// Rate formats basis points with a decimal comma: 2500 → "25", 1250 → "12,5".
func Rate(bp int64) string { return strings.Replace(kvitt.FormatRate(bp), ".", ",", 1) }

// Quantity formats thousandths with a decimal comma: 350 → "0,35".
func Quantity(milli int64) string {
	return strings.Replace(kvitt.FormatQuantity(milli), ".", ",", 1)
}

// OrgNr formats a 10-digit organisation number as NNNNNN-NNNN.
func OrgNr(s string) string {
	if len(s) == 10 && strings.Trim(s, "0123456789") == "" {
		return s[:6] + "-" + s[6:]
	}
	return s
}

// Time formats t in Swedish time, to the second.
func Time(t time.Time) string { return t.In(Location).Format("2006-01-02 15:04:05") }

// Mark is the marking SKVFS 2014:9 requires on the receipt type, or "".
func Mark(t kvitt.ReceiptType) string {
	switch t {
	case kvitt.ReceiptCopy:
		return "KOPIA"
	case kvitt.ReceiptTraining:
		return "ÖVNING"
	case kvitt.ReceiptProForma:
		return "EJ KVITTO"
	}
	return ""
}

// MethodLabel is the Swedish label of a means of payment.
func MethodLabel(method string) string {
	switch method {
	case "cash":
		return "Kontant"
	case "card":
		return "Kort"
	case "swish":
		return "Swish"
	case "mobilepay":
		return "MobilePay"
	case "computop":
		return "Swish" // Swish through the Computop Paygate: the customer paid with Swish
	case "swish_manual":
		return "Swish (manuell)" // to the store's number by hand, confirmed by the cashier (seed 000)
	case "svea":
		return "Svea"
	case "":
		return "Betalning"
	}
	return strings.ToUpper(method[:1]) + method[1:]
}

var entryModes = map[string]string{
	"Contactless": "Kontaktlös", "ICC": "Chip", "MagStripe": "Magnetremsa", "Keyed": "Manuell",
}

var verifications = map[string]string{
	"PIN": "PIN", "Signature": "Signatur", "None": "Ingen", "CDCVM": "Mobil (CDCVM)",
}

func translate(m map[string]string, s string) string {
	if t, ok := m[s]; ok {
		return t
	}
	return s
}

// sign is -1 for a return receipt, whose amounts are all shown negative.
func sign(r *kvitt.Receipt) int64 {
	if r.Kind == kvitt.ReceiptReturn {
		return -1
	}
	return 1
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// signed shows v with the receipt's sign: a return's amounts are negative
// whichever sign they are stored with.
func signed(r *kvitt.Receipt, v int64) int64 { return sign(r) * abs(v) }

// totalCharged is what the customer paid in all: the total plus tips.
func totalCharged(r *kvitt.Receipt) int64 { return r.Total + r.Tip }

// textWidth is the number of characters a printer prints s in.
func textWidth(s string) int { return utf8.RuneCountInString(s) }

func padRight(s string, n int) string {
	if w := textWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

func padLeft(s string, n int) string {
	if w := textWidth(s); w < n {
		return strings.Repeat(" ", n-w) + s
	}
	return s
}

func center(s string, n int) string {
	w := textWidth(s)
	if w >= n {
		return s
	}
	return strings.Repeat(" ", (n-w)/2) + s
}

// wrap splits s into lines of at most n characters at spaces (hard-cutting
// words longer than n).
func wrap(s string, n int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		for textWidth(w) > n {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			r := []rune(w)
			lines = append(lines, string(r[:n]))
			w = string(r[n:])
		}
		switch {
		case cur == "":
			cur = w
		case textWidth(cur)+1+textWidth(w) <= n:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// clean makes text from data safe to print: every character
// kvitt.UnsafeTextRune refuses (control characters such as ESC, GS, CR and
// LF, line separators, bidi controls) and every byte that is not UTF-8
// becomes U+FFFD. Data then can neither send a command to a printer nor
// start a line of its own, nor reorder what is shown. kvitt refuses such
// text when it comes in (kvitt.CheckText); this is for what got stored
// before, or came from a configuration or a provider (card data).
func clean(s string) string {
	for i, r := range s {
		if r == utf8.RuneError || kvitt.UnsafeTextRune(r) {
			return s[:i] + cleanFrom(s[i:])
		}
	}
	return s
}

func cleanFrom(s string) string {
	var sb strings.Builder
	for _, r := range s { // an invalid byte reads as utf8.RuneError
		if kvitt.UnsafeTextRune(r) {
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// safe returns a copy of r whose every text has been through clean: every
// renderer starts with it. r itself is not changed.
func safe(r *kvitt.Receipt) *kvitt.Receipt {
	c := *r
	for _, p := range []*string{&c.ID, &c.MerchantID, &c.TillID, &c.SaleID, &c.CopyOf, &c.MerchantName, &c.OrgNr,
		&c.StoreName, &c.Address, &c.RegisterID, &c.ControlUnitID, &c.ControlCode} {
		*p = clean(*p)
	}
	c.Currency = kvitt.Currency(clean(string(c.Currency)))
	c.Type, c.Kind = kvitt.ReceiptType(clean(string(c.Type))), kvitt.ReceiptKind(clean(string(c.Kind)))
	c.Registration = kvitt.RegistrationState(clean(string(c.Registration)))
	c.Lines = make([]kvitt.SaleLine, len(r.Lines))
	for i, l := range r.Lines {
		l.Name, l.ArticleNumber = clean(l.Name), clean(l.ArticleNumber)
		c.Lines[i] = l
	}
	c.Tenders = make([]kvitt.Tender, len(r.Tenders))
	for i, t := range r.Tenders {
		t.PaymentID, t.Method, t.Reference = clean(t.PaymentID), clean(t.Method), clean(t.Reference)
		if t.Card != nil {
			cd := *t.Card
			for _, p := range []*string{&cd.MaskedPAN, &cd.Brand, &cd.ApplicationLabel, &cd.AID, &cd.EntryMode,
				&cd.Verification, &cd.AuthCode, &cd.TerminalID, &cd.TransactionRef, &cd.ResultText} {
				*p = clean(*p)
			}
			t.Card = &cd
		}
		c.Tenders[i] = t
	}
	c.VAT = append([]kvitt.VATTotal(nil), r.VAT...)
	return &c
}
