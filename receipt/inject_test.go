package receipt_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
)

// Printer commands hidden in data: ESC p (open the cash drawer), GS V (cut
// the paper), ESC @ (reset the printer), and a line break that forges a
// total of its own.
const (
	drawerKick = "\x1bp\x00\x19\xfa"
	paperCut   = "\x1dV\x00"
	reset      = "\x1b@"
	forged     = "\n TOTALT 0,00 kr"
)

var attacks = []string{drawerKick, paperCut, reset, forged, "\r\nTOTALT 0,00 kr", "\u2028TOTALT 0,00 kr", "\u202e00,01", "\x00\x7f\u0085\t"}

// injected is a receipt as it may come out of storage (written before
// kvitt refused such text) or from a terminal or control unit: its lines,
// merchant data, card data and control code carry the attacks.
func injected(t *testing.T) *kvitt.Receipt {
	r := fixtures(t)["card_tip"]
	sig := *visa
	sig.SignatureRequired = true
	sig.ResultText, sig.Brand, sig.TerminalID = "Godkänd"+drawerKick, "VISA"+forged, "T"+paperCut
	r.Tenders[0].Card = &sig
	r.Tenders[0].Reference = "R" + reset
	var ls []kvitt.SaleLine
	for i, a := range attacks {
		ls = append(ls, kvitt.SaleLine{ArticleNumber: "1" + a, Name: "Kaffe" + a, QuantityMilli: 1000 + 1000*int64(i%2), UnitPrice: 100, VATRate: 1200, Total: 100 + 100*int64(i%2)})
	}
	r.Lines = ls
	r.MerchantName += reset + forged
	r.StoreName += drawerKick
	r.Address += forged
	r.RegisterID += paperCut
	r.OrgNr += "\n"
	r.ControlUnitID += drawerKick
	r.ControlCode += forged
	return r
}

// unsafe finds a character kvitt refuses in text, other than the line feeds
// the renderer itself ends lines with when lf is true.
func unsafeIn(s string, lf bool) (rune, bool) {
	for _, r := range s {
		if (r == '\n' && lf) || !kvitt.UnsafeTextRune(r) {
			continue
		}
		return r, true
	}
	return 0, false
}

// Text: no character from data breaks a line or reaches the output as a
// control character, and no line is a forged total.
func TestTextEscapesData(t *testing.T) {
	r := injected(t)
	for _, w := range []int{receipt.Width42, receipt.Width48} {
		text := receipt.Text(r, w)
		slip, ok := receipt.MerchantCopy(r, w)
		if !ok {
			t.Fatal("no merchant copy")
		}
		for name, out := range map[string]string{"receipt": text, "merchant copy": slip} {
			if c, bad := unsafeIn(out, true); bad {
				t.Errorf("%s %d: %U from the data reached the text:\n%s", name, w, c, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "TOTALT 0,00") {
					t.Errorf("%s %d: forged line %q:\n%s", name, w, l, out)
				}
				if n := len([]rune(l)); n > w {
					t.Errorf("%s %d: line of %d characters: %q", name, w, n, l)
				}
			}
		}
		if n := strings.Count(text, "\nTOTALT "); n != 1 {
			t.Errorf("%d lines start with TOTALT, want 1:\n%s", n, text)
		}
	}
}

// ESC/POS: the only control bytes are the renderer's own commands and line
// feeds; ESC @ once at the start, the cut once at the end, no ESC p at all.
func TestESCPOSEscapesData(t *testing.T) {
	own := [][]byte{
		{0x1b, '@'}, {0x1b, 't', 0}, {0x1b, 'E', 1}, {0x1b, 'E', 0}, {0x1b, 'a', 1}, {0x1b, 'a', 0},
		{0x1d, '!', 0x11}, {0x1d, '!', 0x00}, {0x1d, 'V', 66, 3},
	}
	for _, w := range []int{receipt.Width42, receipt.Width48} {
		b := receipt.ESCPOS(injected(t), w)
		if !bytes.HasPrefix(b, []byte{0x1b, '@'}) || bytes.Count(b, []byte{0x1b, '@'}) != 1 {
			t.Errorf("width %d: ESC @ %d times, want once at the start", w, bytes.Count(b, []byte{0x1b, '@'}))
		}
		if !bytes.HasSuffix(b, []byte{0x1d, 'V', 66, 3}) || bytes.Count(b, []byte{0x1d, 'V'}) != 1 {
			t.Errorf("width %d: GS V %d times, want once at the end", w, bytes.Count(b, []byte{0x1d, 'V'}))
		}
		if bytes.Contains(b, []byte{0x1b, 'p'}) {
			t.Errorf("width %d: ESC p (open the cash drawer) from the data reached the printer", w)
		}
		// Walk the bytes: a control byte must start one of the renderer's commands.
	walk:
		for i := 0; i < len(b); {
			c := b[i]
			if c >= 0x20 && c != 0x7f || c == '\n' {
				i++
				continue
			}
			for _, cmd := range own {
				if bytes.HasPrefix(b[i:], cmd) {
					i += len(cmd)
					continue walk
				}
			}
			t.Fatalf("width %d: control byte %#02x at %d, not a command of the renderer: %q", w, c, i, b[max(0, i-20):min(len(b), i+20)])
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if bytes.HasPrefix(bytes.TrimLeft(l, " "), []byte("TOTALT 0,00")) {
				t.Errorf("width %d: forged line %q", w, l)
			}
		}
	}
}

// HTML and JSON carry no control character, line separator or bidi control
// from the data either: a till prints the JSON receipt itself.
func TestHTMLAndJSONEscapeData(t *testing.T) {
	r := injected(t)
	h, err := receipt.HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if c, bad := unsafeIn(string(h), true); bad {
		t.Errorf("HTML carries %U from the data", c)
	}
	j, err := receipt.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			if c, bad := unsafeIn(x, false); bad {
				t.Errorf("JSON %s carries %U: %q", path, c, x)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", v)
	if r.Lines[0].Name != "Kaffe"+drawerKick {
		t.Error("rendering changed the receipt it was given")
	}
}

// Every text field of a receipt, including fields added later, is escaped
// in the JSON: each is filled with an attack by reflection.
func TestJSONEscapesEveryTextField(t *testing.T) {
	r := &kvitt.Receipt{Lines: make([]kvitt.SaleLine, 1), Tenders: []kvitt.Tender{{Card: &kvitt.CardData{}}}}
	fill(reflect.ValueOf(r).Elem())
	j, err := receipt.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(j, []byte(`\u001b`)) || bytes.Contains(j, []byte(`\n`)) || bytes.Contains(j, []byte(`\u2028`)) {
		t.Errorf("a text field reached the JSON unescaped:\n%s", j)
	}
}

func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x" + reset + forged + "\u2028")
	case reflect.Struct:
		if v.Type().PkgPath() != "github.com/kvitt-hub/kvitt" {
			return // time.Time
		}
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fill(v.Elem())
		}
	}
}
