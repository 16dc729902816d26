package http_test

import (
	"net/http"
	"strings"
	"testing"
)

// A payment's QR links work in an <img src>, without the Bearer key, for
// that payment and format only. Before, the links needed the key, so a
// display could not show them without scripting.
func TestSignedQRLinks(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	s := e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Kaffe","unit_price":3500,"vat_rate":12}]}`)
	p := e.must(201, "POST", "/v1/sales/"+s["id"].(string)+"/payments", till, `{"method":"fake","amount":3500}`)
	a := p["action"].(map[string]any)
	svg, png := a["qr_svg_url"].(string), a["qr_png_url"].(string)
	if !strings.Contains(svg, "sig=") || !strings.Contains(svg, "exp=") {
		t.Fatalf("qr_svg_url %q is not signed", svg)
	}
	r := e.do("GET", svg, "", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(r.body), "<svg") {
		t.Fatalf("signed svg link: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := e.do("GET", png, "", ""); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("signed png link: %d", r.status)
	}
	// The svg signature does not open the png, another payment, or a tampered link.
	sig := svg[strings.Index(svg, "?"):]
	p2 := e.must(201, "POST", "/v1/sales/"+e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Te","unit_price":3000,"vat_rate":12}]}`)["id"].(string)+"/payments", till, `{"method":"fake","amount":3000}`)
	for name, u := range map[string]string{
		"png with the svg signature": strings.Replace(svg, "qr.svg", "qr.png", 1),
		"another payment":            "/v1/payments/" + p2["id"].(string) + "/qr.svg" + sig,
		"tampered":                   strings.Replace(svg, "sig=", "sig=0", 1),
		"no signature, no key":       "/v1/payments/" + p["id"].(string) + "/qr.svg",
	} {
		if r := e.do("GET", u, "", ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, r.status)
		}
	}
	// With the key, no signature is needed.
	if r := e.do("GET", "/v1/payments/"+p["id"].(string)+"/qr.svg", till, ""); r.status != http.StatusOK {
		t.Errorf("with the key: %d", r.status)
	}
}
