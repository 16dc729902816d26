package http_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping/sietest"
	"github.com/kvitt-hub/kvitt/report"
)

// TestBookkeepingAPI: a closed day exports as a SIE file over the API,
// once; it can be fetched again; accounts are read and set per store;
// only admin and back-office keys get there.
func TestBookkeepingAPI(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	e.hub.Now = func() time.Time { return at }
	err := e.db.Update(context.Background(), func(tx kvitt.Tx) error {
		serial, err := tx.NextReceiptSerial("1")
		if err != nil {
			return err
		}
		return tx.CreateReceipt(&kvitt.Receipt{ID: "rcp_1", MerchantID: "m1", TillID: "1", SaleID: "sale_1", Serial: serial,
			Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: at, Currency: kvitt.SEK, Total: 12500,
			VAT:     []kvitt.VATTotal{{Rate: 2500, Gross: 12500, Net: 10000, VAT: 2500}},
			Tenders: []kvitt.Tender{{Method: "card", Amount: 12500, Tip: 1000, Card: &kvitt.CardData{Brand: "VISA"}}}, Tip: 1000,
			Registration: kvitt.RegistrationNotRequired})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.hub.Report(context.Background(), "1", report.Z); err != nil {
		t.Fatal(err)
	}
	_, backoffice := e.apiKey("backoffice", "")
	_, till := e.apiKey("till", "1")
	const day = "/v1/bookkeeping/sie?from=2026-11-23&to=2026-11-23"

	wantError(t, e.do("GET", day, till, ""), 403, "")
	wantError(t, e.do("GET", "/v1/bookkeeping/sie?from=2026-11-23&to=yesterday", backoffice, ""), 422, "to")
	wantError(t, e.do("GET", day+"&skip_exported=maybe", backoffice, ""), 422, "skip_exported")

	r := e.do("GET", day, backoffice, "")
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=IBM437" ||
		r.header.Get("Content-Disposition") != `attachment; filename=kvitt-m1-2026-11-23-2026-11-23.si` ||
		r.header.Get("X-Kvitt-Vouchers") != "1" || r.header.Get("X-Kvitt-Export-Id") == "" {
		t.Fatalf("export: %d %v\n%s", r.status, r.header, r.body)
	}
	f, err := sietest.Parse(r.body)
	if err != nil {
		t.Fatalf("the independent SIE reader refuses the export: %v\n%s", err, r.body)
	}
	if bal := f.Balance(); bal["1580"] != 13500 || bal["3001"] != -10000 || bal["2611"] != -2500 || bal["2820"] != -1000 {
		t.Errorf("balance %v", bal)
	}

	again := wantError(t, e.do("GET", day, backoffice, ""), 409, "")
	if !strings.Contains(again.Error.Message, "exported already") || !strings.Contains(again.Error.Message, r.header.Get("X-Kvitt-Export-Id")) {
		t.Errorf("re-export: %s", again.Error.Message)
	}
	wantError(t, e.do("GET", "/v1/bookkeeping/csv?from=2026-11-23&to=2026-11-23", adminKey, ""), 409, "")
	again2 := e.do("GET", "/v1/bookkeeping/exports/"+r.header.Get("X-Kvitt-Export-Id"), adminKey, "")
	if again2.status != 200 || !bytes.Equal(again2.body, r.body) {
		t.Errorf("fetched again: %d\n%s", again2.status, again2.body)
	}
	wantError(t, e.do("GET", "/v1/bookkeeping/exports/bkx_none", adminKey, ""), 404, "")

	const accounts = "/v1/bookkeeping/stores/s1/accounts"
	m := e.must(200, "GET", accounts, backoffice, "")
	if m["store_id"] != "s1" || m["methods"].(map[string]any)["cash"] != "1910" || m["tips"] != "2820" {
		t.Errorf("accounts: %v", m)
	}
	wantError(t, e.do("PUT", accounts, backoffice, `{"methods":{"card":"15800"}}`), 422, "methods.card")
	wantError(t, e.do("PUT", accounts, backoffice, `{"tip":"2820"}`), 400, "tip")
	wantError(t, e.do("PUT", accounts, backoffice, `{"store_id":"s2"}`), 422, "store_id")
	wantError(t, e.do("PUT", accounts, till, `{}`), 403, "")
	wantError(t, e.do("GET", "/v1/bookkeeping/stores/s9/accounts", backoffice, ""), 404, "")
	m = e.must(200, "PUT", accounts, backoffice, `{"methods":{"swish":"1930"},"tips":"2890","names":{"2890":"Dricks till personalen"}}`)
	if m["methods"].(map[string]any)["swish"] != "1930" || m["methods"].(map[string]any)["cash"] != "1910" || m["tips"] != "2890" {
		t.Errorf("after PUT: %v", m)
	}
	if m := e.must(200, "GET", accounts, adminKey, ""); m["tips"] != "2890" {
		t.Errorf("GET after PUT: %v", m)
	}
}
