package bookkeeping

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

// Z is one stored Z report and what its voucher needs beyond it.
type Z struct {
	TillID string
	Serial int64
	// Date is the voucher date: the day the Z report was taken, in the
	// store's time zone (only the year, month and day are used).
	Date   time.Time
	Report *report.Report
	// Split, when set, is the takings of a means of payment per brand
	// (tips included, returns subtracted), summed from the Z's receipts:
	// Split["card"]["VISA"]. It is used for the methods that have an
	// account per brand ("card:VISA"); it must add up to the Z report's
	// total of the method.
	Split map[string]map[string]int64
}

// Voucher is one Z report as a voucher of the books.
type Voucher struct {
	Series   string
	Date     time.Time
	Text     string
	TillID   string
	ZSerial  int64
	Currency kvitt.Currency
	Lines    []Line
}

// Line is one row of a voucher.
type Line struct {
	Account string
	// Amount in minor units: debit positive, credit negative (as SIE).
	Amount int64
	Text   string
}

// Total is the sum of the lines: 0 when the voucher balances.
func (v *Voucher) Total() int64 {
	var t int64
	for _, l := range v.Lines {
		t += l.Amount
	}
	return t
}

// Debit and Credit are the sums of the debit and the credit lines (both positive).
func (v *Voucher) Debit() (d int64) {
	for _, l := range v.Lines {
		d += max(l.Amount, 0)
	}
	return d
}

func (v *Voucher) Credit() (c int64) {
	for _, l := range v.Lines {
		c -= min(l.Amount, 0)
	}
	return c
}

// Empty reports whether the voucher has no line: a Z report of a day
// without sales.
func (v *Voucher) Empty() bool { return len(v.Lines) == 0 }

// methodLabels name the means of payment on the voucher's lines.
var methodLabels = map[string]string{
	"cash": "Kontant", "card": "Kort", "swish": "Swish", "swish_manual": "Swish (manuell)", "computop": "Swish via Computop",
	"mobilepay": "MobilePay", "svea": "Svea",
}

func methodLabel(m string) string {
	if l, ok := methodLabels[m]; ok {
		return l
	}
	return m
}

// NewVoucher books the Z report with the accounts a. It refuses, naming
// what is missing or what does not add up: a means of payment or a VAT
// rate without an account, a brand split that differs from the Z's total,
// and a voucher whose debits and credits differ by as much as an öre.
func NewVoucher(z Z, a Accounts) (*Voucher, error) {
	rep := z.Report
	if rep == nil {
		return nil, kvitt.Errorf(kvitt.EINTERNAL, "Z report %d of till %s has no report data", z.Serial, z.TillID)
	}
	where := fmt.Sprintf("Z report %d of till %s (%s)", z.Serial, z.TillID, z.Date.Format(time.DateOnly))
	missing := func(what, key string) error {
		return kvitt.Errorf(kvitt.EUNPROCESSABLE, "%s: no account for %s: set %s in the store's bookkeeping accounts; nothing was exported", where, what, key)
	}
	v := &Voucher{Series: a.Series, Date: z.Date, TillID: z.TillID, ZSerial: z.Serial, Currency: rep.Currency,
		Text: fmt.Sprintf("Z-rapport %d, kassa %s", z.Serial, z.TillID)}
	if rep.RegisterID != "" && rep.RegisterID != z.TillID {
		v.Text += " (" + rep.RegisterID + ")"
	}
	add := func(account string, amount int64, text string) {
		if amount != 0 {
			v.Lines = append(v.Lines, Line{Account: account, Amount: amount, Text: text})
		}
	}

	// Debit: what each means of payment took, tips included.
	var took int64
	for _, p := range rep.Payments {
		total := p.Amount + p.Tip
		took += total
		rest := total
		if parts := z.Split[p.Method]; len(parts) > 0 {
			var sum int64
			for _, n := range parts {
				sum += n
			}
			split := false
			for _, brand := range slices.Sorted(maps.Keys(parts)) {
				if acc, ok := a.Methods[p.Method+":"+brand]; ok && brand != "" {
					split = true
					add(acc, parts[brand], methodLabel(p.Method)+" "+brand)
					rest -= parts[brand]
				}
			}
			if split && sum != total {
				return nil, kvitt.Errorf(kvitt.EUNPROCESSABLE, "%s: the receipts' %s takings per brand add up to %s, the Z report's to %s; nothing was exported",
					where, p.Method, FormatAmount(sum, rep.Currency), FormatAmount(total, rep.Currency))
			}
		}
		if rest != 0 {
			acc, ok := a.Methods[p.Method]
			if !ok {
				return nil, missing(fmt.Sprintf("the means of payment %q", p.Method), "methods."+p.Method)
			}
			add(acc, rest, methodLabel(p.Method))
		}
	}

	// Credit: the sales excluding VAT and the VAT, per rate; returns debit.
	var goods int64
	for _, l := range rep.VATSales {
		k := RateKey(l.Rate)
		goods += l.Net + l.VAT
		if l.Net != 0 {
			acc, ok := a.Sales[k]
			if !ok {
				return nil, missing("sales at "+k+" % VAT", "sales."+k)
			}
			add(acc, -l.Net, "Försäljning "+k+" %")
		}
		if l.VAT != 0 {
			acc, ok := a.VAT[k]
			if !ok {
				return nil, missing("output VAT at "+k+" %", "vat."+k)
			}
			add(acc, -l.VAT, "Utgående moms "+k+" %")
		}
	}
	for _, l := range rep.VATReturns {
		k := RateKey(l.Rate)
		goods -= l.Net + l.VAT
		if l.Net != 0 {
			acc, ok := a.Returns[k]
			if !ok {
				if acc, ok = a.Sales[k]; !ok {
					return nil, missing("returns at "+k+" % VAT", "returns."+k+" or sales."+k)
				}
			}
			add(acc, l.Net, "Returer "+k+" %")
		}
		if l.VAT != 0 {
			acc, ok := a.VAT[k]
			if !ok {
				return nil, missing("output VAT at "+k+" %", "vat."+k)
			}
			add(acc, l.VAT, "Utgående moms returer "+k+" %")
		}
	}

	// Tips are a debt to the staff; tips given back reduce it.
	tips := rep.Tips.Amount + rep.TipRefunds.Amount
	if tips != 0 || rep.TipRefunds.Amount != 0 {
		if a.Tips == "" {
			return nil, missing("tips", "tips")
		}
		add(a.Tips, -tips, "Dricks")
		add(a.Tips, rep.TipRefunds.Amount, "Återbetald dricks")
	}
	if rep.Rounding != 0 {
		if a.Rounding == "" {
			return nil, missing("the cash rounding", "rounding")
		}
		add(a.Rounding, -rep.Rounding, "Öresavrundning")
	}

	if t := v.Total(); t != 0 {
		c := rep.Currency
		return nil, kvitt.Errorf(kvitt.EUNPROCESSABLE,
			"%s does not balance: debit %s, credit %s, difference %s (the means of payment took %s; sales less returns incl. VAT %s, tips %s, cash rounding %s); nothing was exported",
			where, FormatAmount(v.Debit(), c), FormatAmount(v.Credit(), c), FormatAmount(t, c),
			FormatAmount(took, c), FormatAmount(goods, c), FormatAmount(rep.Tips.Amount, c), FormatAmount(rep.Rounding, c))
	}
	return v, nil
}

// FormatAmount writes minor units with a decimal point and the currency's
// decimals, a minus sign first when negative: 123450 SEK → "1234.50".
// This is the amount format of SIE (5.9: a point, at most two decimals,
// no plus sign, no thousands separator) and of the CSV.
func FormatAmount(v int64, c kvitt.Currency) string {
	d := 2
	if c != "" {
		d = c.Decimals()
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	s := fmt.Sprint(u)
	if d > 0 {
		for len(s) <= d {
			s = "0" + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// SortVouchers orders vouchers by date, till and Z serial.
func SortVouchers(vs []*Voucher) {
	slices.SortStableFunc(vs, func(a, b *Voucher) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		if c := strings.Compare(a.TillID, b.TillID); c != 0 {
			return c
		}
		return cmp.Compare(a.ZSerial, b.ZSerial)
	})
}
