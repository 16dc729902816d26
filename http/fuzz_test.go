package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	nethttp "net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// FuzzDecode feeds a body to decode with the sale, payment and refund
// request types. decode never panics and refuses with a validation error
// naming no internal type; a body it takes re-encodes to one that decodes
// to the same request, and the request converts to hub input (toInput,
// returnLines) that a sale's ComputeTotals checks without panicking and,
// when it passes, adds up.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"till_id":"1","lines":[{"name":"Kaffe","unit_price":3500,"vat_rate":12,"quantity":1.5}]}`), uint8(0))
	f.Add([]byte(`{"till_id":1,"currency":"SEK","training":true,"lines":[{"article_number":"7310","name":"Bulle","unit_price":2500,"vat_rate":12.5,"discount":null}]}`), uint8(0))
	f.Add([]byte(`{"lines":[{"name":"x","unit_price":"1","vat_rate":"25"}]}`), uint8(0))
	f.Add([]byte(`{"method":"swish","amount":12550,"payer_alias":"46701234567"}`), uint8(1))
	f.Add([]byte(`{"method":"cash","amount":100,"tendered":1.0}`), uint8(1))
	f.Add([]byte(`{"amount":500,"lines":[{"line":0,"quantity":0.5},{"line":2}]}`), uint8(2))
	f.Add([]byte(`{"amount":1} }`), uint8(2))
	f.Add([]byte(`{"unknown":1}`), uint8(1))
	merchant := &kvitt.Merchant{ID: "m", Country: "SE", Currency: kvitt.SEK, VATRates: kvitt.DefaultVATRates("SE")}
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		switch kind % 3 {
		case 0:
			var req saleRequest
			if !decodes(t, body, &req) {
				return
			}
			again := saleRequest{}
			if !decodes(t, reencodeSale(t, &req), &again) || !reflect.DeepEqual(normSale(req), normSale(again)) {
				t.Fatalf("sale request does not survive re-encoding:\n%+v\n%+v", req, again)
			}
			in, err := req.toInput()
			in2, err2 := again.toInput()
			if (err == nil) != (err2 == nil) || !reflect.DeepEqual(in, in2) {
				t.Fatalf("toInput differs after re-encoding: %v / %v", err, err2)
			}
			if err != nil {
				validationError(t, err)
				return
			}
			cur := in.Currency
			if cur == "" {
				cur = kvitt.SEK
			}
			s := &kvitt.Sale{Currency: cur, Lines: in.Lines}
			if err := s.ComputeTotals(merchant); err != nil {
				validationError(t, err)
				return
			}
			var sum, gross int64
			for _, l := range s.Lines {
				sum += l.Total
			}
			for _, v := range s.VAT {
				gross += v.Gross
				if v.Net+v.VAT != v.Gross {
					t.Fatalf("VAT split %+v does not add up", v)
				}
			}
			if sum != s.Total || gross != s.Total || s.Total < 0 || s.Total > kvitt.MaxAmount {
				t.Fatalf("total %d, lines %d, VAT gross %d", s.Total, sum, gross)
			}
		case 1:
			var req paymentRequest
			if !decodes(t, body, &req) {
				return
			}
			b, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			var again paymentRequest
			if !decodes(t, b, &again) || req != again {
				t.Fatalf("payment request does not survive re-encoding: %+v / %+v", req, again)
			}
		case 2:
			var req refundRequest
			if !decodes(t, body, &req) {
				return
			}
			again := refundRequest{}
			if !decodes(t, reencodeRefund(t, &req), &again) || !reflect.DeepEqual(req, again) {
				t.Fatalf("refund request does not survive re-encoding:\n%+v\n%+v", req, again)
			}
			lines, err := req.returnLines()
			if err != nil {
				validationError(t, err)
				return
			}
			if len(lines) != len(req.Lines) {
				t.Fatalf("%d lines became %d", len(req.Lines), len(lines))
			}
		}
	})
}

// decodes runs decode on body; an error must be a validation error
// (EINVALID, or EUNPROCESSABLE from a field check).
func decodes(t *testing.T, body []byte, v any) bool {
	t.Helper()
	r, err := nethttp.NewRequest("POST", "/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := decode(r, v); err != nil {
		validationError(t, err)
		return false
	}
	return true
}

func validationError(t *testing.T, err error) {
	t.Helper()
	var ke *kvitt.Error
	if !errors.As(err, &ke) || ke.Code != kvitt.EINVALID && ke.Code != kvitt.EUNPROCESSABLE {
		t.Fatalf("not a validation error: %T %v", err, err)
	}
	m := ke.Error()
	if strings.Contains(m, "http.") {
		t.Fatalf("error names an internal type: %q", m)
	}
}

// compactRaw: raw JSON fields are compared compacted: re-encoding compacts them.
func compactRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func normSale(r saleRequest) saleRequest {
	var ls saleLines
	for _, l := range r.Lines {
		l.UnitPrice, l.Discount = compactRaw(l.UnitPrice), compactRaw(l.Discount)
		ls = append(ls, l)
	}
	r.Lines = ls
	return r
}

// jsonNumber writes a number field as the number it was (number has no
// MarshalJSON: it would go out as a string, which decode refuses).
func jsonNumber(n number) any {
	if n == "" {
		return nil
	}
	return json.Number(n)
}

func reencodeSale(t *testing.T, r *saleRequest) []byte {
	m := map[string]any{"till_id": string(r.TillID), "currency": r.Currency, "training": r.Training}
	if r.Lines != nil {
		ls := []any{}
		for _, l := range r.Lines {
			o := map[string]any{"article_number": l.ArticleNumber, "name": l.Name}
			if l.Quantity != "" {
				o["quantity"] = jsonNumber(l.Quantity)
			}
			if l.VATRate != "" {
				o["vat_rate"] = jsonNumber(l.VATRate)
			}
			if len(l.UnitPrice) > 0 {
				o["unit_price"] = l.UnitPrice
			}
			if len(l.Discount) > 0 {
				o["discount"] = l.Discount
			}
			ls = append(ls, o)
		}
		m["lines"] = ls
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reencodeRefund(t *testing.T, r *refundRequest) []byte {
	m := map[string]any{"amount": r.Amount}
	if r.Lines != nil {
		ls := []any{}
		for _, l := range r.Lines {
			o := map[string]any{"line": l.Line}
			if l.Quantity != "" {
				o["quantity"] = jsonNumber(l.Quantity)
			}
			ls = append(ls, o)
		}
		m["lines"] = ls
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecimal: decimal reads a JSON number exactly (checked against
// math/big) or refuses it; it never rounds.
func FuzzDecimal(f *testing.F) {
	f.Add("0.35", uint8(3))
	f.Add("12.5", uint8(2))
	f.Add("-1", uint8(0))
	f.Add("1e3", uint8(3))
	f.Add("1000000000000000.000", uint8(3))
	f.Add("0.0001", uint8(3))
	f.Fuzz(func(t *testing.T, s string, places uint8) {
		p := int(places % 4)
		var n number
		if err := json.Unmarshal([]byte(s), &n); err != nil {
			return // decode never hands decimal anything but a JSON number
		}
		v, err := decimal(n, "q", p)
		if err != nil {
			validationError(t, err)
			return
		}
		want, ok := new(big.Rat).SetString(string(n))
		if !ok {
			t.Fatalf("decimal(%q) accepted %d; math/big cannot read it", n, v)
		}
		want.Mul(want, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)))
		if !want.IsInt() || want.Num().Cmp(big.NewInt(v)) != 0 {
			t.Fatalf("decimal(%q, %d places) = %d, want %s", n, p, v, want.RatString())
		}
	})
}
