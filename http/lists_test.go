package http_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// cashSale makes a paid, completed cash sale at a till and returns the
// payment's id and the receipt's.
func (e *env) cashSale(till string, amount int) (payID, receiptID string) {
	e.t.Helper()
	s := e.must(201, "POST", "/v1/sales", adminKey, fmt.Sprintf(`{"till_id":%q,"lines":[{"name":"Bulle","unit_price":%d,"vat_rate":12}]}`, till, amount))
	p := e.must(201, "POST", "/v1/sales/"+s["id"].(string)+"/payments", adminKey, fmt.Sprintf(`{"method":"cash","amount":%d}`, amount))
	rc := e.must(200, "POST", "/v1/sales/"+s["id"].(string)+"/complete", adminKey, "")
	return p["id"].(string), rc["id"].(string)
}

func listIDs(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	var out []string
	for _, x := range m[key].([]any) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func sameIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestLists: GET /v1/payments, /v1/refunds and /v1/receipts list newest
// first, filter, page with next_after, show a till key its own till only,
// and refuse a bad filter value with 422 naming the parameter.
func TestLists(t *testing.T) {
	e := newEnv(t)
	var pays, rcps []string
	for i, till := range []string{"1", "2", "1", "2", "1"} {
		p, rc := e.cashSale(till, 1000+100*i)
		pays, rcps = append(pays, p), append(rcps, rc)
		time.Sleep(2 * time.Millisecond)
	}
	ref := e.must(201, "POST", "/v1/payments/"+pays[2]+"/refunds", adminKey, `{"amount":500}`)
	_, tillKey1 := e.apiKey("till", "1")
	_, tillKey2 := e.apiKey("till", "2")
	_, boKey := e.apiKey("backoffice", "")
	_, displayKey := e.apiKey("display", "1")

	// Newest first, every till, for admin and back office.
	for _, key := range []string{adminKey, boKey} {
		sameIDs(t, "payments", listIDs(t, e.must(200, "GET", "/v1/payments", key, ""), "payments"), pays[4], pays[3], pays[2], pays[1], pays[0])
	}
	sameIDs(t, "till 2's payments", listIDs(t, e.must(200, "GET", "/v1/payments?till=2", adminKey, ""), "payments"), pays[3], pays[1])
	sameIDs(t, "cash, paid or partially refunded", listIDs(t, e.must(200, "GET", "/v1/payments?method=cash&state=partially_refunded", adminKey, ""), "payments"), pays[2])
	sameIDs(t, "q = payment id", listIDs(t, e.must(200, "GET", "/v1/payments?q="+pays[1], adminKey, ""), "payments"), pays[1])
	sameIDs(t, "tomorrow on", listIDs(t, e.must(200, "GET", "/v1/payments?from="+time.Now().AddDate(0, 0, 2).Format("2006-01-02"), adminKey, ""), "payments"))
	sameIDs(t, "until now", listIDs(t, e.must(200, "GET", "/v1/payments?to="+url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339))+"&till=1", adminKey, ""), "payments"), pays[4], pays[2], pays[0])

	// Pages of two: next_after leads on; the last page has none.
	var paged []string
	after := ""
	for range 5 {
		pg := e.must(200, "GET", "/v1/payments?limit=2&after="+after, adminKey, "")
		paged = append(paged, listIDs(t, pg, "payments")...)
		next, _ := pg["next_after"].(string)
		if next == "" {
			break
		}
		after = next
	}
	sameIDs(t, "paged", paged, pays[4], pays[3], pays[2], pays[1], pays[0])

	// A till key sees its own till; another till is as unknown as a till that does not exist.
	sameIDs(t, "till key 1's payments", listIDs(t, e.must(200, "GET", "/v1/payments", tillKey1, ""), "payments"), pays[4], pays[2], pays[0])
	wantError(t, e.do("GET", "/v1/payments?till=2", tillKey1, ""), 422, "till")
	wantError(t, e.do("GET", "/v1/payments?till=9", adminKey, ""), 422, "till")
	sameIDs(t, "till key 1's search for till 2's payment", listIDs(t, e.must(200, "GET", "/v1/payments?q="+pays[1], tillKey1, ""), "payments"))
	wantError(t, e.do("GET", "/v1/payments?limit=1&after="+pays[1], tillKey1, ""), 422, "after")
	wantError(t, e.do("GET", "/v1/payments", displayKey, ""), 403, "")

	// Refunds carry their payment's till and method.
	refunds := e.must(200, "GET", "/v1/refunds", adminKey, "")
	sameIDs(t, "refunds", listIDs(t, refunds, "refunds"), ref["id"].(string))
	if r := refunds["refunds"].([]any)[0].(map[string]any); r["till_id"] != "1" || r["method"] != "cash" || r["payment_id"] != pays[2] || r["state"] != "succeeded" {
		t.Errorf("refund in the list = %v", r)
	}
	sameIDs(t, "refunds by payment id", listIDs(t, e.must(200, "GET", "/v1/refunds?q="+pays[2]+"&state=succeeded&method=cash&till=1", adminKey, ""), "refunds"), ref["id"].(string))
	sameIDs(t, "till key 2's refunds", listIDs(t, e.must(200, "GET", "/v1/refunds", tillKey2, ""), "refunds"))

	// Receipts: the sales' receipts and the return's, by till and serial.
	rs := e.must(200, "GET", "/v1/receipts?till=1", adminKey, "")
	got := listIDs(t, rs, "receipts")
	if len(got) != 4 || got[1] != rcps[4] || got[3] != rcps[0] {
		t.Errorf("till 1's receipts = %v (sales %v)", got, rcps)
	}
	sameIDs(t, "till 2's receipt 2", listIDs(t, e.must(200, "GET", "/v1/receipts?till=2&serial=2", adminKey, ""), "receipts"), rcps[3])
	sameIDs(t, "till key 2's receipt 1", listIDs(t, e.must(200, "GET", "/v1/receipts?serial=1", tillKey2, ""), "receipts"), rcps[1])

	// Bad filter values name the parameter.
	for _, c := range []struct{ path, field string }{
		{"/v1/payments?state=bogus", "state"},
		{"/v1/payments?method=bitcoin", "method"},
		{"/v1/payments?limit=0", "limit"},
		{"/v1/payments?limit=201", "limit"},
		{"/v1/payments?from=yesterday", "from"},
		{"/v1/payments?from=2026-11-24&to=2026-11-23", "to"},
		{"/v1/payments?after=pay_nope", "after"},
		{"/v1/payments?colour=red", "colour"},
		{"/v1/refunds?state=paid", "state"},
		{"/v1/receipts?serial=x", "serial"},
		{"/v1/receipts?serial=0", "serial"},
		{"/v1/receipts?state=paid", "state"},
		{"/v1/receipts?to=2026-13-01", "to"},
	} {
		t.Run(c.path, func(t *testing.T) { wantError(t, e.do("GET", c.path, adminKey, ""), 422, c.field) })
	}
}
