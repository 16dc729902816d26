package receipt_test

import (
	"encoding/json"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
)

// A receipt's JSON writes quantities and VAT rates as the sale's JSON does
// (numbers, percent: "quantity": 0.35, "vat_rate": 12), so a till reads a
// receipt line as it reads the sale line it came from. Before, the receipt
// wrote basis points ("vat_rate": 1200) and "quantity_milli" with a string
// "quantity".
func TestJSONQuantitiesAndRatesAsTheSale(t *testing.T) {
	r := &kvitt.Receipt{ID: "rcp_1", Currency: "SEK", Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale}
	cases := []struct{ milli, bp int64 }{{1000, 2500}, {2000, 1200}, {350, 600}, {1, 0}, {1005, 1250}, {123456, 1205}, {1500, 2550}}
	for _, c := range cases {
		r.Lines = append(r.Lines, kvitt.SaleLine{Name: "Vara", QuantityMilli: c.milli, VATRate: c.bp})
		r.VAT = append(r.VAT, kvitt.VATTotal{Rate: c.bp})
	}
	b, err := receipt.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Lines []map[string]json.RawMessage `json:"lines"`
		VAT   []map[string]json.RawMessage `json:"vat"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		l := got.Lines[i]
		// The sale's JSON writes json.Number(kvitt.FormatQuantity(…)) and
		// json.Number(kvitt.FormatRate(…)) (http/types.go).
		if q, want := string(l["quantity"]), kvitt.FormatQuantity(c.milli); q != want {
			t.Errorf("lines[%d].quantity = %s, want %s", i, q, want)
		}
		if v, want := string(l["vat_rate"]), kvitt.FormatRate(c.bp); v != want {
			t.Errorf("lines[%d].vat_rate = %s, want %s", i, v, want)
		}
		if _, ok := l["quantity_milli"]; ok {
			t.Errorf("lines[%d] still has quantity_milli", i)
		}
		if v, want := string(got.VAT[i]["rate"]), kvitt.FormatRate(c.bp); v != want {
			t.Errorf("vat[%d].rate = %s, want %s", i, v, want)
		}
	}
}

// Whatever the stored numbers, the receipt renders as valid JSON: a
// negative or extreme quantity never makes an invalid number literal.
func TestJSONNumbersAlwaysValid(t *testing.T) {
	for _, v := range []int64{-350, -1000, -1, 0, 9223372036854775807, -9223372036854775808} {
		r := &kvitt.Receipt{Lines: []kvitt.SaleLine{{Name: "x", QuantityMilli: v, VATRate: v}}, VAT: []kvitt.VATTotal{{Rate: v}}}
		b, err := receipt.JSON(r)
		if err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		var x struct {
			Lines []struct {
				Quantity json.Number `json:"quantity"`
				VATRate  json.Number `json:"vat_rate"`
			} `json:"lines"`
		}
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatalf("%d: %v", v, err)
		}
	}
	r := &kvitt.Receipt{Lines: []kvitt.SaleLine{{Name: "x", QuantityMilli: -350, VATRate: -1250}}}
	b, _ := receipt.JSON(r)
	var x struct {
		Lines []map[string]json.RawMessage `json:"lines"`
	}
	json.Unmarshal(b, &x)
	if q, v := string(x.Lines[0]["quantity"]), string(x.Lines[0]["vat_rate"]); q != "-0.35" || v != "-12.5" {
		t.Errorf("negative: quantity %s, vat_rate %s; want -0.35, -12.5", q, v)
	}
}
