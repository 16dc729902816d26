// Package sietest is an independent SIE 4 reader for tests: it checks a
// file against the SIE group's specification (SIE filformat, edition 4B,
// 2008-09-30) and returns what it holds, so that a test can compare the
// vouchers with what it expects.
//
// It was written from the specification's grammar, not from kvitt's
// writer (package bookkeeping), and shares no code with it: its own
// tokenizer, its own code page 437 table (the letters a Nordic company
// name uses; any other byte above 127 is refused), its own amount parser.
// It is stricter than a bookkeeping program has to be: what the
// specification allows a reader to tolerate, it refuses in a file kvitt
// writes.
package sietest

import (
	"fmt"
	"strconv"
	"strings"
)

// File is what a SIE file holds.
type File struct {
	Flag       string
	Program    []string // name, version
	Format     string
	Generated  string // YYYYMMDD
	Type       string
	Prosa      string
	Company    string
	OrgNr      string
	Currency   string
	Accounts   map[string]string // number → name
	AccountSeq []string          // in the file's order
	Vouchers   []Voucher
	CRLF       bool // every line ends with CR LF
}

// Voucher is a #VER record and its rows.
type Voucher struct {
	Series, Number, Date, Text string
	Trans                      []Trans
}

// Trans is a #TRANS row; Amount is in hundredths.
type Trans struct {
	Account string
	Objects []string
	Amount  int64
	Date    string
	Text    string
}

// cp437 decodes the bytes above 127 that a Nordic name uses, from the
// IBM PC code page 437 table.
var cp437 = map[byte]rune{
	0x80: 'Ç', 0x81: 'ü', 0x82: 'é', 0x83: 'â', 0x84: 'ä', 0x85: 'à', 0x86: 'å', 0x87: 'ç',
	0x88: 'ê', 0x89: 'ë', 0x8A: 'è', 0x8E: 'Ä', 0x8F: 'Å', 0x90: 'É', 0x91: 'æ', 0x92: 'Æ',
	0x94: 'ö', 0x99: 'Ö', 0x9A: 'Ü',
}

// groups of records, in the order they must come (5.12).
var group = map[string]int{
	"#FLAGGA":  1,
	"#PROGRAM": 2, "#FORMAT": 2, "#GEN": 2, "#SIETYP": 2, "#PROSA": 2, "#FTYP": 2, "#FNR": 2, "#ORGNR": 2,
	"#BKOD": 2, "#ADRESS": 2, "#FNAMN": 2, "#RAR": 2, "#TAXAR": 2, "#OMFATTN": 2, "#KPTYP": 2, "#VALUTA": 2,
	"#KONTO": 3, "#KTYP": 3, "#ENHET": 3, "#SRU": 3, "#DIM": 3, "#UNDERDIM": 3, "#OBJEKT": 3,
	"#IB": 4, "#UB": 4, "#OIB": 4, "#OUB": 4, "#RES": 4, "#PSALDO": 4, "#PBUDGET": 4, "#VER": 4,
	"#TRANS": 4, "#RTRANS": 4, "#BTRANS": 4, "#KSUMMA": 4,
}

// Parse reads a SIE file of type 4 and checks it: the records known to
// the specification only, in their groups' order, #FLAGGA first; the
// records a type 4I file must have; #FORMAT PC8; fields as 5.7 says
// (quotes, \" inside them, no control characters); amounts as 5.9 says;
// dates as 5.10 says; every #VER followed by its rows between lines
// holding only "{" and "}", and balanced to the öre; every account of a
// row declared with #KONTO when the file declares accounts.
func Parse(b []byte) (*File, error) {
	f := &File{Accounts: map[string]string{}, CRLF: true}
	text := make([]rune, 0, len(b))
	for i, c := range b {
		switch {
		case c < 0x80:
			text = append(text, rune(c))
		case cp437[c] != 0:
			text = append(text, cp437[c])
		default:
			return nil, fmt.Errorf("byte %d is 0x%02X: not a letter this reader expects in a PC8 file", i, c)
		}
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return nil, fmt.Errorf("the file does not end with a line feed (5.5)")
	}
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	last := 0
	var ver *Voucher
	inBlock := false
	for n, line := range lines {
		no := n + 1
		if l, ok := strings.CutSuffix(line, "\r"); ok {
			line = l
		} else {
			f.CRLF = false
		}
		if strings.TrimSpace(line) == "" {
			continue // 5.6
		}
		for _, r := range line {
			if r != '\t' && (r < 32 || r == 127) {
				return nil, fmt.Errorf("line %d: control character %U (5.7)", no, r)
			}
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "{" || trimmed == "}" {
			switch {
			case trimmed == "{" && ver != nil && !inBlock && len(ver.Trans) == 0:
				inBlock = true
			case trimmed == "}" && inBlock:
				inBlock = false
				var sum int64
				for _, t := range ver.Trans {
					sum += t.Amount
				}
				if sum != 0 {
					return nil, fmt.Errorf("line %d: voucher %q of %s does not balance: its rows add up to %d hundredths", no, ver.Text, ver.Date, sum)
				}
				if len(ver.Trans) == 0 {
					return nil, fmt.Errorf("line %d: voucher %q has no rows", no, ver.Text)
				}
				ver = nil
			default:
				return nil, fmt.Errorf("line %d: %q out of place", no, trimmed)
			}
			continue
		}
		fields, err := tokens(trimmed)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", no, err)
		}
		label := fields[0]
		g, known := group[label]
		if !known {
			return nil, fmt.Errorf("line %d: %q is not a record of the specification (7.2)", no, label)
		}
		if last == 0 && label != "#FLAGGA" {
			return nil, fmt.Errorf("line %d: the first record is %s, not #FLAGGA", no, label)
		}
		if g < last {
			return nil, fmt.Errorf("line %d: %s after a record of a later group (5.12)", no, label)
		}
		last = g
		if ver != nil && !inBlock {
			return nil, fmt.Errorf("line %d: #VER is not followed by \"{\" (5.4)", no)
		}
		args := fields[1:]
		need := func(k int) error {
			if len(args) < k {
				return fmt.Errorf("line %d: %s has %d fields, needs %d", no, label, len(args), k)
			}
			return nil
		}
		switch label {
		case "#FLAGGA":
			if err := need(1); err != nil {
				return nil, err
			}
			if f.Flag != "" {
				return nil, fmt.Errorf("line %d: a second #FLAGGA", no)
			}
			if args[0] != "0" && args[0] != "1" {
				return nil, fmt.Errorf("line %d: #FLAGGA %q", no, args[0])
			}
			f.Flag = args[0]
		case "#PROGRAM":
			if err := need(2); err != nil {
				return nil, err
			}
			f.Program = args[:2]
		case "#FORMAT":
			if err := need(1); err != nil {
				return nil, err
			}
			f.Format = args[0]
		case "#GEN":
			if err := need(1); err != nil {
				return nil, err
			}
			if !isDate(args[0]) {
				return nil, fmt.Errorf("line %d: #GEN date %q", no, args[0])
			}
			f.Generated = args[0]
		case "#SIETYP":
			if err := need(1); err != nil {
				return nil, err
			}
			f.Type = args[0]
		case "#PROSA":
			if err := need(1); err != nil {
				return nil, err
			}
			f.Prosa = args[0]
		case "#FNAMN":
			if err := need(1); err != nil {
				return nil, err
			}
			f.Company = args[0]
		case "#ORGNR":
			if err := need(1); err != nil {
				return nil, err
			}
			f.OrgNr = args[0]
			if len(f.OrgNr) == 11 && f.OrgNr[6] != '-' {
				return nil, fmt.Errorf("line %d: #ORGNR %q: the hyphen goes after the sixth digit", no, f.OrgNr)
			}
		case "#VALUTA":
			if err := need(1); err != nil {
				return nil, err
			}
			f.Currency = args[0]
		case "#KONTO":
			if err := need(2); err != nil {
				return nil, err
			}
			if !digits(args[0]) {
				return nil, fmt.Errorf("line %d: account %q is not numeric (#KONTO 2.)", no, args[0])
			}
			if _, dup := f.Accounts[args[0]]; dup {
				return nil, fmt.Errorf("line %d: account %s declared twice", no, args[0])
			}
			f.Accounts[args[0]] = args[1]
			f.AccountSeq = append(f.AccountSeq, args[0])
		case "#VER":
			if err := need(3); err != nil {
				return nil, err
			}
			if !isDate(args[2]) {
				return nil, fmt.Errorf("line %d: #VER date %q", no, args[2])
			}
			f.Vouchers = append(f.Vouchers, Voucher{Series: args[0], Number: args[1], Date: args[2]})
			ver = &f.Vouchers[len(f.Vouchers)-1]
			if len(args) > 3 {
				ver.Text = args[3]
			}
		case "#TRANS":
			if !inBlock {
				return nil, fmt.Errorf("line %d: #TRANS outside a voucher (#TRANS 3.)", no)
			}
			if err := need(3); err != nil {
				return nil, err
			}
			objs, ok := objectList(args[1])
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not an object list", no, args[1])
			}
			amount, err := parseAmount(args[2])
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", no, err)
			}
			t := Trans{Account: args[0], Objects: objs, Amount: amount}
			if !digits(t.Account) {
				return nil, fmt.Errorf("line %d: account %q is not numeric", no, t.Account)
			}
			if len(args) > 3 && args[3] != "" {
				if !isDate(args[3]) {
					return nil, fmt.Errorf("line %d: transaction date %q", no, args[3])
				}
				t.Date = args[3]
			}
			if len(args) > 4 {
				t.Text = args[4]
			}
			ver.Trans = append(ver.Trans, t)
		case "#RTRANS", "#BTRANS":
			if !inBlock {
				return nil, fmt.Errorf("line %d: %s outside a voucher", no, label)
			}
		}
	}
	if inBlock || ver != nil {
		return nil, fmt.Errorf("the file ends inside a voucher")
	}
	switch {
	case f.Flag == "":
		return nil, fmt.Errorf("no #FLAGGA")
	case len(f.Program) == 0:
		return nil, fmt.Errorf("no #PROGRAM")
	case f.Format != "PC8":
		return nil, fmt.Errorf("#FORMAT is %q, not PC8", f.Format)
	case f.Generated == "":
		return nil, fmt.Errorf("no #GEN")
	case f.Type != "4":
		return nil, fmt.Errorf("#SIETYP is %q, not 4", f.Type)
	case f.Company == "":
		return nil, fmt.Errorf("no #FNAMN")
	}
	if len(f.Accounts) > 0 {
		for _, v := range f.Vouchers {
			for _, t := range v.Trans {
				if _, ok := f.Accounts[t.Account]; !ok {
					return nil, fmt.Errorf("voucher %q: account %s is not declared with #KONTO", v.Text, t.Account)
				}
			}
		}
	}
	return f, nil
}

// tokens splits a record into its fields (5.7): separated by spaces or
// tabs; a field may be quoted, and a quote inside it is written \"; an
// object list {…} is one field.
func tokens(s string) ([]string, error) {
	var out []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		switch c := rs[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) && rs[i+1] == '"' {
					b.WriteRune('"')
					i += 2
					continue
				}
				if rs[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("a quoted field is not closed")
			}
			if i < len(rs) && rs[i] != ' ' && rs[i] != '\t' {
				return nil, fmt.Errorf("a quoted field runs into %q", rs[i])
			}
			out = append(out, b.String())
		case c == '{':
			j := i
			inQuote := false
			for j < len(rs) && (inQuote || rs[j] != '}') {
				if rs[j] == '"' && rs[j-1] != '\\' {
					inQuote = !inQuote
				}
				j++
			}
			if j == len(rs) {
				return nil, fmt.Errorf("an object list is not closed")
			}
			out = append(out, string(rs[i:j+1]))
			i = j + 1
		default:
			j := i
			for j < len(rs) && rs[j] != ' ' && rs[j] != '\t' {
				if rs[j] == '"' {
					return nil, fmt.Errorf("a quote inside the unquoted field starting %q", string(rs[i:j]))
				}
				j++
			}
			out = append(out, string(rs[i:j]))
			i = j
		}
	}
	if len(out) == 0 || !strings.HasPrefix(out[0], "#") {
		return nil, fmt.Errorf("a record starts with a label (#…) (5.3)")
	}
	return out, nil
}

// objectList reads {dim obj dim obj …} (8.21) into its fields.
func objectList(s string) ([]string, bool) {
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, false
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	if inner == "" {
		return nil, true
	}
	fs, err := tokens("#X " + inner)
	if err != nil || len(fs[1:])%2 != 0 {
		return nil, false
	}
	return fs[1:], true
}

// parseAmount reads an amount as 5.9 says: digits, optionally a point and
// one or two decimals, optionally a leading minus; no plus sign, no
// thousands separator. It returns hundredths.
func parseAmount(s string) (int64, error) {
	body := strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(body, ".")
	if !digits(whole) || (dot && (len(frac) < 1 || len(frac) > 2 || !digits(frac))) {
		return 0, fmt.Errorf("%q is not an amount (5.9)", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %v", s, err)
	}
	if strings.HasPrefix(s, "-") {
		v = -v
	}
	return v, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isDate checks YYYYMMDD (5.10), a real day.
func isDate(s string) bool {
	if len(s) != 8 || !digits(s) {
		return false
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:])
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// Balance returns, per account, the sum of the file's rows in hundredths.
func (f *File) Balance() map[string]int64 {
	out := map[string]int64{}
	for _, v := range f.Vouchers {
		for _, t := range v.Trans {
			out[t.Account] += t.Amount
		}
	}
	return out
}
