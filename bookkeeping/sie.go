package bookkeeping

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/kvitt-hub/kvitt"
)

// File is one export: a period's vouchers of one company.
type File struct {
	Program, Version string
	// Generated is the day the file was made (#GEN).
	Generated time.Time
	// Company is the legal name (#FNAMN), OrgNr the organisation number
	// (#ORGNR, written 556677-8899).
	Company, OrgNr string
	Currency       kvitt.Currency
	// Prosa is a free comment on the file's contents (#PROSA), "" for none.
	Prosa string
	// Names are the account names (#KONTO) by number. An account in a
	// voucher without a name is named after the first line using it.
	Names    map[string]string
	Vouchers []*Voucher
}

// SIE writes the file as SIE 4, type 4I (transactions for import into a
// bookkeeping program), as the SIE group's specification (SIE filformat,
// edition 4B) lays it out:
//
//   - the records in the order flag, identification, chart of accounts,
//     vouchers (5.12): #FLAGGA 0; #PROGRAM, #FORMAT PC8, #GEN, #SIETYP 4,
//     #PROSA, #FNAMN, #ORGNR, #VALUTA; #KONTO for every account used;
//     #VER with its #TRANS rows between "{" and "}" lines of their own
//     (5.4);
//   - fields separated by a space; every text quoted, a quote inside it
//     written \" (5.7); no control characters;
//   - amounts with a decimal point, at most two decimals, a leading minus
//     for credit (5.9); dates YYYYMMDD (5.10);
//   - each record ends with CR LF (5.5 asks for LF; the CR before it is
//     allowed, and is what bookkeeping programs on Windows write);
//   - the IBM PC 8-bit character set, code page 437 (5.8): a character it
//     lacks is written "?".
//
// A 4I file needs no #RAR, #IB, #UB or #RES (they are for exports from a
// bookkeeping program, 4E; 6.). Series and number of a voucher are left
// to the bookkeeping program when Accounts.Series is empty (#VER 6.).
// There is no #KSUMMA: the checksum is optional (10.3). Voucher and row
// texts are cut at 50 characters, which Fortnox's import requires.
//
// It refuses a voucher that does not balance and a currency with more
// than two decimals.
func (f *File) SIE() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	var b strings.Builder
	rec := func(label string, fields ...string) {
		b.WriteString(label)
		for _, x := range fields {
			b.WriteByte(' ')
			b.WriteString(x)
		}
		b.WriteString("\r\n")
	}
	rec("#FLAGGA", "0")
	rec("#PROGRAM", quote(f.Program), field(f.Version))
	rec("#FORMAT", "PC8")
	rec("#GEN", sieDate(f.Generated))
	rec("#SIETYP", "4")
	if f.Prosa != "" {
		rec("#PROSA", quote(f.Prosa))
	}
	rec("#FNAMN", quote(f.Company))
	if f.OrgNr != "" {
		rec("#ORGNR", field(OrgNr(f.OrgNr)))
	}
	if f.Currency != "" {
		rec("#VALUTA", string(f.Currency))
	}
	names := f.accountNames()
	for _, acc := range slices.Sorted(maps.Keys(names)) {
		rec("#KONTO", acc, quote(names[acc]))
	}
	for _, v := range f.Vouchers {
		if v.Empty() {
			continue
		}
		rec("#VER", quote(v.Series), quote(""), sieDate(v.Date), quote(clip(v.Text)))
		rec("{")
		for _, l := range v.Lines {
			rec("#TRANS", l.Account, "{}", FormatAmount(l.Amount, f.Currency), sieDate(v.Date), quote(clip(l.Text)))
		}
		rec("}")
	}
	return encodePC8(b.String()), nil
}

// CSV writes the same vouchers as comma-separated values (RFC 4180,
// UTF-8, CR LF), one row per voucher line, with a header row: date,
// series, voucher, till, z_serial, account, account_name, debit, credit,
// text, currency. Debit and credit are positive amounts with a decimal
// point; the other one is empty.
func (f *File) CSV() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	w.Write([]string{"date", "series", "voucher", "till", "z_serial", "account", "account_name", "debit", "credit", "text", "currency"})
	names := f.accountNames()
	for _, v := range f.Vouchers {
		for _, l := range v.Lines {
			debit, credit := "", ""
			if l.Amount >= 0 {
				debit = FormatAmount(l.Amount, f.Currency)
			} else {
				credit = FormatAmount(-l.Amount, f.Currency)
			}
			w.Write([]string{v.Date.Format(time.DateOnly), v.Series, csvText(v.Text), v.TillID, fmt.Sprint(v.ZSerial),
				l.Account, csvText(names[l.Account]), debit, credit, csvText(l.Text), string(f.Currency)})
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func (f *File) check() error {
	if f.Currency != "" && f.Currency.Decimals() > 2 {
		return kvitt.Errorf(kvitt.EUNPROCESSABLE, "%s has %d decimals; SIE takes at most two", f.Currency, f.Currency.Decimals())
	}
	for _, v := range f.Vouchers {
		if t := v.Total(); t != 0 {
			return kvitt.Errorf(kvitt.EUNPROCESSABLE, "voucher %q of %s does not balance: debit %s, credit %s; nothing was exported",
				v.Text, v.Date.Format(time.DateOnly), FormatAmount(v.Debit(), f.Currency), FormatAmount(v.Credit(), f.Currency))
		}
		if v.Currency != "" && f.Currency != "" && v.Currency != f.Currency {
			return kvitt.Errorf(kvitt.EUNPROCESSABLE, "voucher %q is in %s, the file in %s: a file has one currency", v.Text, v.Currency, f.Currency)
		}
	}
	return nil
}

// accountNames names every account used by a line: f.Names, else the
// first line's text.
func (f *File) accountNames() map[string]string {
	out := map[string]string{}
	for _, v := range f.Vouchers {
		for _, l := range v.Lines {
			if _, ok := out[l.Account]; ok {
				continue
			}
			if n := f.Names[l.Account]; n != "" {
				out[l.Account] = n
			} else {
				out[l.Account] = l.Text
			}
		}
	}
	return out
}

// OrgNr writes a Swedish organisation number as SIE asks (#ORGNR 1.): a
// hyphen after the sixth digit. Anything else is written as it is.
func OrgNr(s string) string {
	if len(s) == 10 && strings.Trim(s, "0123456789") == "" {
		return s[:6] + "-" + s[6:]
	}
	return s
}

func sieDate(t time.Time) string { return t.Format("20060102") }

// quote writes a SIE text field: in quotes, a quote inside written \"
// (5.7). A control character (never in kvitt's texts, which refuse them)
// becomes a space, and a backslash a slash: the specification gives a
// backslash no escape of its own, so one before a quote would be misread.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteByte('/')
		case r < 32 || r == 127 || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// maxText is the longest voucher and row text written: Fortnox refuses a
// file with a longer one ("Lång benämning", 50 characters at most).
const maxText = 50

func clip(s string) string {
	if r := []rune(s); len(r) > maxText {
		return string(r[:maxText])
	}
	return s
}

// field writes a field that is a word (a version, an organisation
// number) as it is, and anything else as a quoted text.
func field(s string) string {
	if s != "" && strings.Trim(s, "0123456789-.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "" {
		return s
	}
	return quote(s)
}

// encodePC8 encodes s in code page 437; a character it lacks becomes "?".
func encodePC8(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if c, ok := charmap.CodePage437.EncodeRune(r); ok && c >= 0x80 {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return out
}

// csvText keeps a spreadsheet from reading a text as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}
