package computop

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The Paygate refuses every request with a format error ("Aus
// Sicherheitsgründen lehnt das Paygate alle Zahlungsanfragen mit
// Formatfehlern ab"), so kvitt checks each parameter against the tables of
// Computop's interface description before anything is sent.
//
// Notation (Computop "Definitions"): a letters, n digits, an letters and
// digits, ans letters, digits and special characters; a bare number is an
// exact length ("a3"), "..N" a maximum ("ans..30"). CND: M mandatory, O
// optional, C conditional (the rule is in the description).

// Rule is one row of a parameter table.
type Rule struct {
	Param  string
	Format string // "ans..30", "n..10", "a3"
	CND    byte   // 'M', 'O' or 'C'
	// Note is the row's own rule in words, part of every violation's text.
	Note string
	// Check, if set, applies the row's own rule to a value that has the format.
	Check func(v string, ctx *RuleContext) string

	class string
	max   int
	exact bool
}

// RuleContext carries what a row's own rule depends on.
type RuleContext struct {
	Params *Params
	// AllowSmallAmounts: the Helpdesk has enabled amounts under 100 öre.
	AllowSmallAmounts bool
	// AllowAnyNotifyPort lets URLNotify use a port other than 443 (the
	// sandbox's loopback listener only; the Paygate calls port 443 only).
	AllowAnyNotifyPort bool
}

// Violation is one parameter breaking its rule.
type Violation struct {
	Param   string
	Rule    string // "MobileNr: n..20, 8–15 digits, country code without leading zero"
	Problem string
}

func (v Violation) String() string { return v.Rule + ": " + v.Problem }

// FormatError lists every violation of a request.
type FormatError struct{ Violations []Violation }

func (e *FormatError) Error() string {
	s := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		s[i] = v.String()
	}
	return "computop: format: " + strings.Join(s, "; ")
}

// Field is the first violating parameter.
func (e *FormatError) Field() string {
	if len(e.Violations) == 0 {
		return ""
	}
	return e.Violations[0].Param
}

func rule(param, format string, cnd byte, note string, check func(string, *RuleContext) string) Rule {
	r := Rule{Param: param, Format: format, CND: cnd, Note: note, Check: check}
	f := format
	i := 0
	for i < len(f) && f[i] >= 'a' && f[i] <= 'z' {
		i++
	}
	r.class, f = f[:i], f[i:]
	switch r.class {
	case "a", "n", "an", "ans":
	default:
		panic("computop: unknown format class in " + format)
	}
	if strings.HasPrefix(f, "..") {
		f = f[2:]
	} else {
		r.exact = true
	}
	n, err := strconv.Atoi(f)
	if err != nil || n <= 0 {
		panic("computop: bad format length in " + format)
	}
	r.max = n
	return r
}

// Text is how a violation names the rule: "Param: format, note".
func (r Rule) Text() string {
	s := r.Param + ": " + r.Format
	if r.Note != "" {
		s += ", " + r.Note
	}
	return s
}

// Table is a parameter table.
type Table []Rule

// Validate checks p against the table: every mandatory parameter present,
// every present one in its format and its own rule, and no parameter the
// table does not list. It returns a *FormatError with all violations.
func (t Table) Validate(p *Params, ctx RuleContext) error {
	ctx.Params = p
	var vs []Violation
	for _, r := range t {
		v := p.Get(r.Param)
		if !p.Has(r.Param) || v == "" {
			if r.CND == 'M' {
				vs = append(vs, Violation{r.Param, r.Text(), "is required"})
			} else if r.CND == 'C' && r.Check != nil {
				if msg := r.Check("", &ctx); msg != "" {
					vs = append(vs, Violation{r.Param, r.Text(), msg})
				}
			}
			continue
		}
		if msg := checkFormat(r.class, r.max, r.exact, v); msg != "" {
			vs = append(vs, Violation{r.Param, r.Text(), msg})
			continue
		}
		if r.Check != nil {
			if msg := r.Check(v, &ctx); msg != "" {
				vs = append(vs, Violation{r.Param, r.Text(), msg})
			}
		}
	}
	p.Each(func(name, _ string) {
		for _, r := range t {
			if strings.EqualFold(r.Param, name) {
				return
			}
		}
		vs = append(vs, Violation{name, name, "is not a parameter of this request"})
	})
	if len(vs) > 0 {
		return &FormatError{vs}
	}
	return nil
}

// checkFormat returns what is wrong with v for class and length, or "".
func checkFormat(class string, max int, exact bool, v string) string {
	n := utf8.RuneCountInString(v)
	switch {
	case exact && n != max:
		return fmt.Sprintf("is %d characters, must be exactly %d", n, max)
	case n > max:
		return fmt.Sprintf("is %d characters, at most %d", n, max)
	}
	for _, r := range v {
		if !inClass(class, r) {
			return fmt.Sprintf("may not contain %q (%s)", r, classWords[class])
		}
	}
	return ""
}

var classWords = map[string]string{
	"a":   "letters only",
	"n":   "digits only",
	"an":  "letters and digits only",
	"ans": "letters, digits and special characters of ISO-8859-1, not '&'",
}

func inClass(class string, r rune) bool {
	letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	digit := r >= '0' && r <= '9'
	switch class {
	case "a":
		return letter
	case "n":
		return digit
	case "an":
		return letter || digit
	case "ans":
		// Printable ISO-8859-1; "&" would split the plaintext.
		return (r >= 0x20 && r <= 0x7E || r >= 0xA0 && r <= 0xFF) && r != '&'
	}
	return false
}

// The seed's own rules.

func onlySEK(v string, _ *RuleContext) string {
	if v != "SEK" {
		return fmt.Sprintf("%q: Swish through the Paygate takes SEK only", v)
	}
	return ""
}

func amountRule(v string, ctx *RuleContext) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "is not a number"
	}
	if n <= 0 {
		return "must be more than 0"
	}
	if n < 100 && !ctx.AllowSmallAmounts {
		return fmt.Sprintf("%d öre is under 100: amounts below 1 SEK need the Computop Helpdesk's consent (computop.allow_small_amounts)", n)
	}
	return ""
}

func orderDescRule(v string, _ *RuleContext) string {
	for _, r := range v {
		if !orderDescRune(r) {
			return fmt.Sprintf("may not contain %q", r)
		}
	}
	return ""
}

// orderDescRune: "Erlaubte Zeichen a-ö, A-Ö, die Ziffern 0-9 und die
// Sonderzeichen :;.,?!()”." a-ö is the Swedish alphabet, a to z then å ä ö.
// The seed lists no space.
func orderDescRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case strings.ContainsRune("åäöÅÄÖ", r):
		return true
	case strings.ContainsRune(`:;.,?!()"`, r):
		return true
	}
	return false
}

// OrderDescNote is the OrderDesc rule in words.
const OrderDescNote = `only a-ö, A-Ö, 0-9 and :;.,?!()" (no spaces)`

func channelRule(v string, _ *RuleContext) string {
	if v != ChannelWeb && v != ChannelApp {
		return fmt.Sprintf("%q: must be Web or App", v)
	}
	return ""
}

func mobileRule(v string, ctx *RuleContext) string {
	if v == "" {
		if ctx.Params != nil && ctx.Params.Get("Channel") == ChannelWeb {
			return "is required when Channel=Web"
		}
		return ""
	}
	if len(v) < 8 || len(v) > 15 {
		return fmt.Sprintf("is %d digits, must be 8 to 15", len(v))
	}
	if v[0] == '0' {
		return "must start with the country code (46…), not 0"
	}
	return ""
}

func notifyRule(v string, ctx *RuleContext) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return "must be an absolute https URL"
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "may not contain parameters (put state in UserData)"
	}
	if p := u.Port(); p != "" && p != "443" && !ctx.AllowAnyNotifyPort {
		return fmt.Sprintf("uses port %s; the Paygate calls port 443 only", p)
	}
	return ""
}

func alnumRule(v string, _ *RuleContext) string {
	for _, r := range v {
		if !inClass("an", r) {
			return fmt.Sprintf("may not contain %q: an alphanumeric value", r)
		}
	}
	return ""
}

func upperHexRule(v string, _ *RuleContext) string {
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'F' || r >= 'a' && r <= 'f') {
			return "must be the hex of the HMAC-SHA256"
		}
	}
	return ""
}

// Channels of a Swish payment.
const (
	ChannelWeb = "Web" // e-commerce: the customer's mobile number; Swish pushes to the phone
	ChannelApp = "App" // m-commerce: the Paygate returns TokenExt to open the Swish app
)

// SwishTable is seed 003's table "Parameter für Zahlungen mit Swish"
// (swish.aspx). MobileNr's format reads n20 in the seed; its description
// says 8 to 15 digits, so it is checked as n..20 with that rule.
var SwishTable = Table{
	rule("MerchantID", "ans..30", 'M', "assigned by Computop, also sent in plain text", nil),
	rule("TransID", "ans..35", 'M', "unique for each payment", nil),
	rule("RefNr", "ans..35", 'O', "unique reference number", nil),
	rule("Amount", "n..10", 'M', "in öre, 100 or more unless enabled by the Helpdesk", amountRule),
	rule("Currency", "a3", 'M', "SEK only", onlySEK),
	rule("MAC", "an64", 'M', "HMAC-SHA256", upperHexRule),
	rule("OrderDesc", "ans..128", 'M', OrderDescNote, orderDescRule),
	rule("ReqID", "ans..32", 'O', "alphanumeric, given once per transaction", alnumRule),
	rule("Channel", "a3", 'M', "Web or App", channelRule),
	rule("MobileNr", "n..20", 'C', "8–15 digits, country code without leading zero, required when Channel=Web", mobileRule),
	rule("URLNotify", "ans..256", 'O', "https on port 443, no parameters (use UserData)", notifyRule),
	rule("UserData", "ans..1024", 'O', "", nil),
}

// CreditTable is seed 003's table "Parameter für Gutschrift von
// Swish-Zahlungen" (credit.aspx, credit with reference).
var CreditTable = Table{
	rule("MerchantID", "ans..30", 'M', "assigned by Computop, also sent in plain text", nil),
	rule("PayID", "an32", 'M', "the Paygate's ID of the payment to credit", nil),
	rule("TransID", "ans..35", 'M', "the TransID of the payment to credit", nil),
	rule("RefNr", "ans..35", 'O', "unique reference number", nil),
	rule("Amount", "n..10", 'M', "in öre, 100 or more unless enabled by the Helpdesk", amountRule),
	rule("Currency", "a..3", 'M', "SEK only", onlySEK),
	rule("MAC", "an64", 'M', "HMAC-SHA256", upperHexRule),
	rule("ReqID", "ans..32", 'O', "alphanumeric, given once per transaction", alnumRule),
}

// InquireTable is Computop's "Status inquiries based on PayID"
// (inquire.aspx); the seed has no table for it.
var InquireTable = Table{
	rule("MerchantID", "ans..30", 'M', "assigned by Computop, also sent in plain text", nil),
	rule("PayID", "an32", 'M', "the Paygate's ID of the payment", nil),
	rule("TransID", "ans..64", 'M', "the merchant's TransID", nil),
	rule("MAC", "an64", 'O', "HMAC-SHA256", upperHexRule),
}

// Inquire24Table is Computop's "Status inquiries based on TransID"
// (inquire24.aspx), for a payment whose answer, and so its PayID, was lost.
var Inquire24Table = Table{
	rule("MerchantID", "ans..30", 'M', "assigned by Computop, also sent in plain text", nil),
	rule("TransID", "ans..64", 'M', "the merchant's TransID", nil),
	rule("MAC", "an64", 'O', "HMAC-SHA256", upperHexRule),
}
