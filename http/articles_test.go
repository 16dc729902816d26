package http_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt/manualswish"
)

// wantField checks a refusal: its status, and the field its error names.
func wantField(t *testing.T, r resp, status int, field string) {
	t.Helper()
	m := r.json(t)
	e, _ := m["error"].(map[string]any)
	got, _ := e["field"].(string)
	if r.status != status || got != field {
		t.Errorf("status %d field %v (%v), want %d on %s", r.status, e["field"], e["message"], status, field)
	}
}

// Articles: an admin replaces a store's list; the till reads it; every
// broken rule is refused naming the field, and a refused list stores nothing.
func TestArticles(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	_, till2 := e.apiKey("till", "2")
	_, bo := e.apiKey("backoffice", "")
	_, display := e.apiKey("display", "1")

	if got := e.must(200, "GET", "/v1/tills/1/articles", till, "")["articles"].([]any); len(got) != 0 {
		t.Fatalf("a store without a list has %d articles", len(got))
	}
	put := `{"articles":[{"article_number":"101","name":"Kaffe","price":3450,"vat_rate":12},{"name":"Mugg","price":12900,"vat_rate":25}]}`
	wantField(t, e.do("PUT", "/v1/stores/s1/articles", bo, put), 403, "")
	wantField(t, e.do("PUT", "/v1/stores/s1/articles", till, put), 403, "")
	e.must(200, "PUT", "/v1/stores/s1/articles", adminKey, put)
	m := e.must(200, "GET", "/v1/tills/1/articles", till, "")
	arts := m["articles"].([]any)
	if len(arts) != 2 || m["store_id"] != "s1" {
		t.Fatalf("till 1 reads %v", m)
	}
	a := arts[0].(map[string]any)
	if a["name"] != "Kaffe" || a["price"] != 3450.0 || a["vat_rate"] != 12.0 || a["article_number"] != "101" {
		t.Errorf("article %v", a)
	}
	if got := e.must(200, "GET", "/v1/stores/s1/articles", bo, "")["articles"].([]any); len(got) != 2 {
		t.Errorf("the back office reads %d articles", len(got))
	}
	wantField(t, e.do("GET", "/v1/tills/1/articles", display, ""), 403, "")
	e.must(200, "GET", "/v1/tills/2/articles", till2, "")
	wantField(t, e.do("GET", "/v1/tills/2/articles", till, ""), 404, "")
	wantField(t, e.do("PUT", "/v1/stores/nope/articles", adminKey, put), 404, "")

	long := strings.Repeat("å", 41)
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"name":"x","price":1,"vat_rate":25},`, 501), ",") + "]"
	for _, c := range []struct{ body, field string }{
		{`{"articles":[{"name":"A","price":1,"vat_rate":25},{"name":"","price":1,"vat_rate":25}]}`, "articles[1].name"},
		{`{"articles":[{"name":"` + long + `","price":1,"vat_rate":25}]}`, "articles[0].name"},
		{`{"articles":[{"name":"A\u001bp","price":1,"vat_rate":25}]}`, "articles[0].name"},
		{`{"articles":[{"name":"A","price":-1,"vat_rate":25}]}`, "articles[0].price"},
		{`{"articles":[{"name":"A","price":12.5,"vat_rate":25}]}`, "articles[0].price"},
		{`{"articles":[{"name":"A","vat_rate":25}]}`, "articles[0].price"},
		{`{"articles":[{"name":"A","price":1,"vat_rate":13}]}`, "articles[0].vat_rate"},
		{`{"articles":[{"name":"A","price":1,"vat_rate":"25"}]}`, "articles[0].vat_rate"},
		{`{"articles":[{"name":"A","price":1,"vat_rate":25,"colour":"red"}]}`, "articles[0].colour"},
		{`{"articles":` + many + `}`, "articles"},
		{`{}`, "articles"},
	} {
		r := e.do("PUT", "/v1/stores/s1/articles", adminKey, c.body)
		if r.status != 400 && r.status != 422 {
			t.Errorf("%.60s: status %d", c.body, r.status)
		}
		wantField(t, r, r.status, c.field)
	}
	if got := e.must(200, "GET", "/v1/tills/1/articles", till, "")["articles"].([]any); len(got) != 2 {
		t.Errorf("a refused list changed the articles: %d", len(got))
	}
	e.must(200, "PUT", "/v1/stores/s1/articles", adminKey, `{"articles":[]}`)
	if got := e.must(200, "GET", "/v1/tills/1/articles", till, "")["articles"].([]any); len(got) != 0 {
		t.Errorf("[] left %d articles", len(got))
	}
}

// The till's JSON names its currency, VAT rates and payment methods; an
// admin orders the buttons.
func TestTillMethodsAndQuickButtons(t *testing.T) {
	e := newEnv(t)
	e.hub.Register(manualswish.Provider{}, nil)
	_, till := e.apiKey("till", "1")
	methods := func(m map[string]any) string {
		var out []string
		for _, x := range m["methods"].([]any) {
			mm := x.(map[string]any)
			s := mm["method"].(string)
			if mm["cashier_confirms"] == true {
				s += "!"
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
	m := e.must(200, "GET", "/v1/tills/1", till, "")
	if m["currency"] != "SEK" || fmt.Sprint(m["vat_rates"]) != "[25 12 6 0]" || methods(m) != "cash,swish_manual!,fake" {
		t.Errorf("till 1: currency %v, VAT %v, methods %s", m["currency"], m["vat_rates"], methods(m))
	}
	wantField(t, e.do("PUT", "/v1/tills/1/quick-methods", till, `{"methods":["fake"]}`), 403, "")
	wantField(t, e.do("PUT", "/v1/tills/1/quick-methods", adminKey, `{"methods":["fake","bitcoin"]}`), 422, "methods[1]")
	wantField(t, e.do("PUT", "/v1/tills/1/quick-methods", adminKey, `{"methods":["fake","fake"]}`), 422, "methods[1]")
	wantField(t, e.do("PUT", "/v1/tills/1/quick-methods", adminKey, `{}`), 422, "methods")
	m = e.must(200, "PUT", "/v1/tills/1/quick-methods", adminKey, `{"methods":["fake","swish_manual"]}`)
	if methods(m) != "fake,swish_manual!,cash" {
		t.Errorf("after quick-methods: %s", methods(m))
	}
	if got := methods(e.must(200, "GET", "/v1/tills/1", till, "")); got != "fake,swish_manual!,cash" {
		t.Errorf("GET after quick-methods: %s", got)
	}
	tills := e.must(200, "GET", "/v1/tills", adminKey, "")["tills"].([]any)
	if got := methods(tills[0].(map[string]any)); got != "fake,swish_manual!,cash" {
		t.Errorf("GET /v1/tills: %s", got)
	}
	if got := methods(e.must(200, "GET", "/v1/tills/2", adminKey, "")); got != "cash,swish_manual!,fake" {
		t.Errorf("till 2 keeps kvitt's order: %s", got)
	}
}

// Manual Swish through the API: refused without the cashier's
// confirmation (nothing stored), taken with it, receipted and reported
// under its own name; "confirmed" is refused for the other methods.
func TestManualSwishAPI(t *testing.T) {
	e := newEnv(t)
	e.hub.Register(manualswish.Provider{}, nil)
	_, till := e.apiKey("till", "1")
	sale := e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Glass","unit_price":4500,"vat_rate":12}]}`)["id"].(string)
	pay := "/v1/sales/" + sale + "/payments"
	wantField(t, e.do("POST", pay, till, `{"method":"swish_manual","amount":4500}`), 422, "confirmed")
	wantField(t, e.do("POST", pay, till, `{"method":"swish_manual","amount":4500,"confirmed":false}`), 422, "confirmed")
	wantField(t, e.do("POST", pay, till, `{"method":"cash","amount":4500,"confirmed":true}`), 422, "confirmed")
	if ps, _ := e.must(200, "GET", "/v1/sales/"+sale, till, "")["payments"].([]any); len(ps) != 0 {
		t.Fatalf("refused payments were stored: %v", ps)
	}
	p := e.must(201, "POST", pay, till, `{"method":"swish_manual","amount":4500,"confirmed":true}`)
	prov, _ := p["provider"].(map[string]any)
	if p["state"] != "paid" || p["method"] != manualswish.Method || prov["confirmed"] != "true" || !strings.HasPrefix(fmt.Sprint(prov["confirmed_by"]), "API key key_") {
		t.Fatalf("payment %v %v %v", p["state"], p["method"], prov)
	}
	rc := e.must(200, "POST", "/v1/sales/"+sale+"/complete", till, "")
	if tn := rc["tenders"].([]any)[0].(map[string]any); tn["method"] != "swish_manual" || tn["amount"] != 4500.0 {
		t.Errorf("tender %v", tn)
	}
	text := string(e.do("GET", "/v1/receipts/"+rc["id"].(string)+"?format=text", till, "").body)
	if !strings.Contains(text, "Swish (manuell)") {
		t.Errorf("receipt text:\n%s", text)
	}
	x := e.must(200, "GET", "/v1/tills/1/reports/x", till, "")
	if got := fmt.Sprint(x["payments"]); !strings.Contains(got, "method:swish_manual") {
		t.Errorf("X report payments %s", got)
	}
	xt := string(e.do("GET", "/v1/tills/1/reports/x?format=text", till, "").body)
	if !strings.Contains(xt, "Swish (manuell) (1)") {
		t.Errorf("X report text:\n%s", xt)
	}
	// A return: recorded, the store pays back by hand.
	ref := e.must(201, "POST", "/v1/payments/"+p["id"].(string)+"/refunds", till, `{"lines":[{"line":0}]}`)
	if ref["state"] != "succeeded" || !strings.Contains(fmt.Sprint(ref["message"]), "by hand") || ref["receipt_id"] == nil {
		t.Errorf("refund %v", ref)
	}
}
