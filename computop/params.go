package computop

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Params is the key=value plaintext of a request or an answer, in order.
// Names are case-insensitive: Paygate returns them in either case ("mid",
// "PayId"), so Get and Set match them with strings.EqualFold.
type Params struct {
	keys, vals []string
}

// NewParams returns parameters from name, value pairs.
func NewParams(kv ...string) *Params {
	p := &Params{}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	return p
}

func (p *Params) index(name string) int {
	for i, k := range p.keys {
		if strings.EqualFold(k, name) {
			return i
		}
	}
	return -1
}

// Set sets name to value, replacing a value under the same name in any case.
func (p *Params) Set(name, value string) {
	if i := p.index(name); i >= 0 {
		p.vals[i] = value
		return
	}
	p.keys = append(p.keys, name)
	p.vals = append(p.vals, value)
}

// SetIf sets name only when value is not empty (optional parameters are left out).
func (p *Params) SetIf(name, value string) {
	if value != "" {
		p.Set(name, value)
	}
}

// Get returns the value of name in any case, or "".
func (p *Params) Get(name string) string {
	if i := p.index(name); i >= 0 {
		return p.vals[i]
	}
	return ""
}

// Has reports whether name is present.
func (p *Params) Has(name string) bool { return p.index(name) >= 0 }

// Len is the number of parameters.
func (p *Params) Len() int { return len(p.keys) }

// Each calls f with every parameter in order.
func (p *Params) Each(f func(name, value string)) {
	for i := range p.keys {
		f(p.keys[i], p.vals[i])
	}
}

// Encode returns the plaintext "Name=Value&..." in ISO-8859-1, values as
// they are (Computop's reference client does not URL-encode them). A value
// holding "&" or a character outside Latin-1 cannot be sent; the format
// rules refuse such values before this is called.
func (p *Params) Encode() ([]byte, error) {
	var b []byte
	for i, k := range p.keys {
		if k == "" || strings.ContainsAny(k, "&=") {
			return nil, fmt.Errorf("computop: parameter name %q", k)
		}
		v := p.vals[i]
		if strings.Contains(v, "&") {
			return nil, fmt.Errorf("computop: %s: the value may not contain '&'", k)
		}
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k...)
		b = append(b, '=')
		for _, r := range v {
			if r > 0xFF || r == utf8.RuneError {
				return nil, fmt.Errorf("computop: %s: %q is not in ISO-8859-1", k, r)
			}
			b = append(b, byte(r))
		}
	}
	return b, nil
}

// String is the plaintext for logs, with the MAC left out.
func (p *Params) String() string {
	var parts []string
	p.Each(func(k, v string) {
		if strings.EqualFold(k, "MAC") {
			v = "…"
		}
		parts = append(parts, k+"="+v)
	})
	return strings.Join(parts, "&")
}

// ParseParams parses a deciphered plaintext: "&"-separated pairs split at
// their first "=", ISO-8859-1, percent-escapes decoded as Computop's PHP and
// Python clients do. A pair without "=", an empty name or a name given twice
// (in any case) is an error: a second MAC or TransID must never hide behind
// the first.
func ParseParams(plain []byte) (*Params, error) {
	p := &Params{}
	if len(plain) == 0 {
		return nil, fmt.Errorf("computop: the deciphered answer is empty")
	}
	s := latin1(plain)
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue // "a=1&&b=2", or a trailing "&"
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("computop: %q in the answer is not name=value", clip(pair))
		}
		if p.Has(k) {
			return nil, fmt.Errorf("computop: %s appears twice in the answer", k)
		}
		if strings.ContainsAny(v, "%+") {
			if d, err := url.QueryUnescape(v); err == nil {
				v = d
			}
		}
		p.keys = append(p.keys, k)
		p.vals = append(p.vals, v)
	}
	if len(p.keys) == 0 {
		return nil, fmt.Errorf("computop: the answer holds no parameters")
	}
	return p, nil
}

// latin1 turns ISO-8859-1 bytes into a string.
func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
