// Package bookkeeping turns Z reports into vouchers of the merchant's books
// and writes them as a SIE 4 file (type 4I: transactions for import into a
// bookkeeping program, the Swedish standard) or as CSV. See
// docs/bookkeeping.md.
//
// A voucher (verifikation) is one Z report: the takings per means of
// payment on the debit side; the sales per VAT rate excluding VAT, the
// output VAT, the tips (a debt to the staff) and the cash rounding on the
// credit side; returns the other way round. It balances to the öre, or it
// is refused naming what does not add up.
package bookkeeping

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// Accounts says which account of the chart each part of a Z report goes to.
// Every account number is four digits (the BAS chart's). Defaults() follows
// BAS; a store changes any of them (hub.SetBookkeepingAccounts).
type Accounts struct {
	// Methods maps a means of payment (the payment method: cash, card,
	// swish, mobilepay, computop, svea, ...) to the account its takings are
	// debited to. A key "card:<brand>" (card:VISA, card:MasterCard, as the
	// terminal names the brand) takes that brand's card takings apart;
	// brands without a key of their own go to "card".
	Methods map[string]string `json:"methods"`
	// Sales maps a VAT rate in percent ("25", "12", "6", "0", "25.5") to
	// the account of the sales at that rate, excluding VAT.
	Sales map[string]string `json:"sales"`
	// Returns maps a VAT rate to the account returned goods are debited to,
	// excluding VAT. A rate without one uses its Sales account.
	Returns map[string]string `json:"returns"`
	// VAT maps a VAT rate to its output VAT account (utgående moms).
	// Returns reduce the same account. A rate of 0 needs none.
	VAT map[string]string `json:"vat"`
	// Tips is the account of the tips paid on top of the bill (card
	// "Extra"): a debt to the staff until paid out, not revenue.
	Tips string `json:"tips"`
	// Rounding is the account of the cash rounding (öresavrundning).
	Rounding string `json:"rounding"`
	// Series is the voucher series written on each voucher ("" leaves
	// series and number to the bookkeeping program, as SIE 4I allows).
	Series string `json:"series"`
	// Names are the account names written in the file (#KONTO), by
	// account number; defaults are BAS's names.
	Names map[string]string `json:"names"`
}

// Defaults returns the BAS accounts (docs/bookkeeping.md explains each).
func Defaults() Accounts {
	return Accounts{
		Methods: map[string]string{
			"cash":  "1910",
			"card":  "1580",
			"swish": "1581",
			// Manual Swish reaches the same Swish account as the integrated one.
			"swish_manual": "1581",
			"computop":     "1582",
			"mobilepay":    "1583",
			"svea":         "1584",
		},
		Sales:    map[string]string{"25": "3001", "12": "3002", "6": "3003", "0": "3004"},
		Returns:  map[string]string{},
		VAT:      map[string]string{"25": "2611", "12": "2621", "6": "2631"},
		Tips:     "2820",
		Rounding: "3740",
		Names:    maps.Clone(basNames),
	}
}

// basNames are the names of the default accounts: BAS's own for BAS
// accounts, and for the sub-accounts of 1580 (which BAS leaves free) what
// kvitt uses them for.
var basNames = map[string]string{
	"1910": "Kassa",
	"1580": "Fordringar för kontokort och kuponger",
	"1581": "Swish, avräkning",
	"1582": "Swish via Computop, avräkning",
	"1583": "MobilePay, avräkning",
	"1584": "Svea, avräkning",
	"3001": "Försäljning inom Sverige, 25 % moms",
	"3002": "Försäljning inom Sverige, 12 % moms",
	"3003": "Försäljning inom Sverige, 6 % moms",
	"3004": "Försäljning inom Sverige, momsfri",
	"2611": "Utgående moms på försäljning inom Sverige, 25 %",
	"2621": "Utgående moms på försäljning inom Sverige, 12 %",
	"2631": "Utgående moms på försäljning inom Sverige, 6 %",
	"2820": "Kortfristiga skulder till anställda",
	"3740": "Öres- och kronutjämning",
}

// Merge returns the defaults with o's settings over them: o's map entries
// replace or add to the defaults' entries, and o's non-empty strings
// replace the defaults'. A store's stored settings are merged so.
func Merge(o Accounts) Accounts {
	a := Defaults()
	maps.Copy(a.Methods, o.Methods)
	maps.Copy(a.Sales, o.Sales)
	maps.Copy(a.Returns, o.Returns)
	maps.Copy(a.VAT, o.VAT)
	maps.Copy(a.Names, o.Names)
	if o.Tips != "" {
		a.Tips = o.Tips
	}
	if o.Rounding != "" {
		a.Rounding = o.Rounding
	}
	if o.Series != "" {
		a.Series = o.Series
	}
	return a
}

var (
	accountRe = regexp.MustCompile(`^[0-9]{4}$`)
	seriesRe  = regexp.MustCompile(`^[A-Za-z0-9]{0,20}$`)
)

// Validate checks every setting, naming the field at fault
// ("methods.card", "sales.25", "tips"): accounts are four digits, rates
// are percentages, names and method keys are printable text.
func (a Accounts) Validate() error {
	check := func(field, account string) error {
		if !accountRe.MatchString(account) {
			return kvitt.FieldError(field, "%q is not an account number: an account is four digits (BAS), e.g. 1910", account)
		}
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(a.Methods)) {
		field := "methods." + k
		if k == "" || len(k) > 60 || strings.TrimSpace(k) != k {
			return kvitt.FieldError(field, "a means of payment is named like the payment method (cash, card, swish, card:VISA)")
		}
		if err := kvitt.CheckText(field, k); err != nil {
			return err
		}
		if err := check(field, a.Methods[k]); err != nil {
			return err
		}
	}
	for _, m := range []struct {
		name string
		m    map[string]string
	}{{"sales", a.Sales}, {"returns", a.Returns}, {"vat", a.VAT}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			field := m.name + "." + k
			if bp, err := ParseRate(k); err != nil || RateKey(bp) != k {
				return kvitt.FieldError(field, "%q is not a VAT rate: give the rate in percent as the receipts do, e.g. 25, 6 or 25.5", k)
			}
			if err := check(field, m.m[k]); err != nil {
				return err
			}
		}
	}
	if err := check("tips", a.Tips); err != nil {
		return err
	}
	if err := check("rounding", a.Rounding); err != nil {
		return err
	}
	if !seriesRe.MatchString(a.Series) {
		return kvitt.FieldError("series", "a voucher series is up to 20 letters or digits (A, K, KASSA), or empty")
	}
	for _, k := range slices.Sorted(maps.Keys(a.Names)) {
		field := "names." + k
		if err := check(field, k); err != nil {
			return err
		}
		n := a.Names[k]
		if strings.TrimSpace(n) == "" || len([]rune(n)) > 100 {
			return kvitt.FieldError(field, "an account name is 1 to 100 characters")
		}
		if err := kvitt.CheckText(field, n); err != nil {
			return err
		}
	}
	return nil
}

// ParseRate reads a VAT rate in percent ("25", "25.5", "6") as basis points.
func ParseRate(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 3 || (dot && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("bad rate %q", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err1 := strconv.ParseUint(whole, 10, 16)
	f, err2 := strconv.ParseUint(frac, 10, 8)
	if err1 != nil || err2 != nil || w > 100 || (w == 100 && f > 0) {
		return 0, fmt.Errorf("bad rate %q", s)
	}
	return int64(w*100 + f), nil
}

// RateKey is the key of a VAT rate (basis points) in Sales, Returns and VAT.
func RateKey(bp int64) string { return kvitt.FormatRate(bp) }
