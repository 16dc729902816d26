package http_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt/hub"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

// withSvea registers Svea Instore against the simulator, calling back to the API under test.
func withSvea(t *testing.T, e *env) *simsvea.Sim {
	t.Helper()
	sim, err := simsvea.New(simsvea.Options{StatusInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	p, err := svea.NewProvider(svea.Config{Client: &svea.Client{BaseURL: sim.URL(), MerchantID: sim.MerchantID(), Password: sim.Password(), HTTP: sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", CallbackBaseURL: e.url, StatusInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Sandbox = true
	e.hub.RegisterOrderProvider(p, hub.OrderOptions{MerchantID: "m1", Customer: sim.Customer()})
	return sim
}

const orderBody = `{"number":"1001","customer":{"name":"Anna Svensson","mobile_number":"070-123 45 67","country":"SE","national_id":"197001011234","company":false,"email":"anna@example.se","postal_code":"11122"},
 "lines":[{"article_number":"A1","name":"Stol","quantity":2,"unit_price":49900,"discount_percent":10,"vat_rate":25,"unit":"st"},
          {"name":"Frakt","quantity":1,"unit_price":9900,"vat_rate":25}]}`

// TestOrdersWalkthrough: create (the link shown instead of a reference),
// list and search, the sandbox customer pays on the checkout page, Svea's
// callback through the API makes the order paid, the picking list shows
// it, a paid order refuses a change and takes a credit.
func TestOrdersWalkthrough(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/orders", adminKey, orderBody)
	wantError(t, r, 503, "") // no order provider yet
	sim := withSvea(t, e)
	o := e.must(201, "POST", "/v1/orders", adminKey, orderBody)
	link := o["link"].(map[string]any)
	if o["state"] != "awaiting_payment" || o["icon"] != "waiting" || o["display"] != link["url"] || link["sms_sent"] != true ||
		o["total"].(float64) != 89820+9900 {
		t.Fatalf("created: %v", o)
	}
	if l0 := o["lines"].([]any)[0].(map[string]any); l0["quantity"] != "2" && l0["quantity"].(float64) != 2 {
		t.Fatalf("line: %v", l0)
	}
	id := o["id"].(string)
	for q, want := range map[string]int{"?q=anna": 1, "?q=0701234567": 1, "?q=1001": 1, "?q=bo": 0, "?state=awaiting_payment": 1, "?state=paid": 0} {
		if got := len(e.must(200, "GET", "/v1/orders"+q, adminKey, "")["orders"].([]any)); got != want {
			t.Errorf("GET /v1/orders%s: %d orders, want %d", q, got, want)
		}
	}
	wantError(t, e.do("GET", "/v1/orders?state=happy", adminKey, ""), 422, "state")
	if got := len(e.must(200, "GET", "/v1/picking-list", adminKey, "")["orders"].([]any)); got != 0 {
		t.Fatal("a waiting order is on the picking list")
	}
	// A till key may not see orders.
	_, tillKey := e.apiKey("till", "1")
	wantError(t, e.do("GET", "/v1/orders", tillKey, ""), 403, "")
	// A forged callback is refused and changes nothing.
	wantError(t, e.do("POST", "/v1/callbacks/svea/"+id+".1.forged", "", `{"merchantOrderNumber":"x"}`), 404, "")

	o = e.must(200, "POST", "/v1/sandbox/orders/"+id+"/approve", adminKey, "")
	if o["state"] != "paid" || o["icon"] != "paid" || o["reference"] == "" || o["display"] != o["reference"] {
		t.Fatalf("after paying: %v", o)
	}
	if cbs := sim.Callbacks(); len(cbs) != 1 || cbs[0].Status != 200 {
		t.Fatalf("callbacks %+v", cbs)
	}
	if pl := e.must(200, "GET", "/v1/picking-list", adminKey, "")["orders"].([]any); len(pl) != 1 || pl[0].(map[string]any)["id"] != id {
		t.Fatalf("picking list %v", pl)
	}
	wantError(t, e.do("POST", "/v1/orders/"+id+"/change", adminKey, `{"lines":[{"name":"Stol","quantity":1,"unit_price":49900,"vat_rate":25}]}`), 409, "")
	wantError(t, e.do("POST", "/v1/orders/"+id+"/cancel", adminKey, ""), 409, "")
	o = e.must(200, "POST", "/v1/orders/"+id+"/credits", adminKey, `{"lines":[{"row_number":2}]}`)
	if o["credited"].(float64) != 9900 {
		t.Fatalf("credited %v", o["credited"])
	}
}

// TestOrderBadInput: each of issue 10's bad inputs is a 422 naming the field; nothing is sent.
func TestOrderBadInput(t *testing.T) {
	e := newEnv(t)
	sim := withSvea(t, e)
	for _, tc := range []struct{ from, to, field string }{
		{`"mobile_number":"070-123 45 67"`, `"mobile_number":""`, "customer.mobile_number"},
		{`"mobile_number":"070-123 45 67"`, `"mobile_number":"12ab"`, "customer.mobile_number"},
		{`"mobile_number":"070-123 45 67","country":"SE"`, `"mobile_number":"41234567","country":"NO"`, "customer.country"},
		{`"lines":[{"article_number":"A1","name":"Stol","quantity":2,"unit_price":49900,"discount_percent":10,"vat_rate":25,"unit":"st"},
          {"name":"Frakt","quantity":1,"unit_price":9900,"vat_rate":25}]`, `"lines":[]`, "lines"},
		{`"vat_rate":25,"unit":"st"`, `"vat_rate":25.5,"unit":"st"`, "lines[0].vat_rate"},
		{`"name":"Stol"`, `"name":"` + strings.Repeat("x", 41) + `"`, "lines[0].name"},
		{`"unit":"st"`, `"unit":"styck"`, "lines[0].unit"},
		{`"unit_price":9900`, `"unit_price":-200000`, "lines"},
		{`"number":"1001"`, `"number":"1001-20240305-1234"`, "number"},
		{`"quantity":2`, `"quantity":2.005`, "lines[0].quantity"},
	} {
		body := strings.Replace(orderBody, tc.from, tc.to, 1)
		if body == orderBody {
			t.Fatalf("edit %q did not apply", tc.from)
		}
		t.Run(tc.field, func(t *testing.T) { wantError(t, e.do("POST", "/v1/orders", adminKey, body), 422, tc.field) })
	}
	if n := len(sim.Outbox()); n != 0 {
		t.Fatalf("%d SMS sent for refused orders", n)
	}
	e.must(201, "POST", "/v1/orders", adminKey, orderBody)
	wantError(t, e.do("POST", "/v1/orders", adminKey, orderBody), 409, "")
	wantError(t, e.do("GET", "/v1/orders/ord_nope", adminKey, ""), 404, "")
	_ = fmt.Sprint
}

// TestOrdersDeliverAnnul: after payment, POST /v1/orders/{id}/deliver and
// /annul reach Svea's Payment Admin; the order's JSON shows delivered,
// the delivery and what Svea showed; errors are 409 in words, and 503
// naming the settings when Payment Admin is not configured.
func TestOrdersDeliverAnnul(t *testing.T) {
	e := newEnv(t)
	sim, err := simsvea.New(simsvea.Options{StatusInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c := svea.Config{Client: &svea.Client{BaseURL: sim.URL(), MerchantID: sim.MerchantID(), Password: sim.Password(), HTTP: sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", StatusInterval: 20 * time.Millisecond, DeferredDelivery: true}
	noAdmin, err := svea.NewProvider(c)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Sandbox = true
	e.hub.RegisterOrderProvider(noAdmin, hub.OrderOptions{MerchantID: "m1", Customer: sim.Customer()})
	o := e.must(201, "POST", "/v1/orders", adminKey, orderBody)
	id := o["id"].(string)
	e.must(200, "POST", "/v1/sandbox/orders/"+id+"/approve", adminKey, "")
	r := e.do("POST", "/v1/orders/"+id+"/deliver", adminKey, "")
	wantError(t, r, 503, "")
	if !strings.Contains(string(r.body), "admin_merchant_id") || !strings.Contains(string(r.body), "admin_secret") {
		t.Fatalf("503 does not say what to configure: %s", r.body)
	}

	c.Admin = &svea.AdminClient{BaseURL: sim.AdminURL(), MerchantID: sim.AdminMerchantID(), Secret: sim.AdminSecret(), HTTP: sim.HTTPClient()}
	withAdmin, err := svea.NewProvider(c)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.RegisterOrderProvider(withAdmin, hub.OrderOptions{MerchantID: "m1", Customer: sim.Customer()})
	o = e.must(200, "GET", "/v1/orders/"+id, adminKey, "")
	if o["delivered"] != false || o["delivery"] != nil || o["annulment"] != nil {
		t.Fatalf("before: %v", o)
	}
	o = e.must(200, "POST", "/v1/orders/"+id+"/deliver", adminKey, "")
	d, _ := o["delivery"].(map[string]any)
	p, _ := o["provider_order"].(map[string]any)
	if o["delivered"] != true || o["state"] != "paid" || d["state"] != "done" || d["sends"].(float64) != 1 || p["status"] != "Delivered" {
		t.Fatalf("after deliver: %v", o)
	}
	r = e.do("POST", "/v1/orders/"+id+"/annul", adminKey, "")
	wantError(t, r, 409, "")
	if !strings.Contains(string(r.body), "credit it instead") {
		t.Fatal(r.body)
	}

	// Another order: annulled before delivery.
	o = e.must(201, "POST", "/v1/orders", adminKey, strings.Replace(orderBody, `"1001"`, `"1002"`, 1))
	id2 := o["id"].(string)
	wantError(t, e.do("POST", "/v1/orders/"+id2+"/annul", adminKey, ""), 409, "") // not paid yet
	e.must(200, "POST", "/v1/sandbox/orders/"+id2+"/approve", adminKey, "")
	o = e.must(200, "POST", "/v1/orders/"+id2+"/annul", adminKey, "")
	if o["state"] != "cancelled" || o["icon"] != "black" || o["annulment"].(map[string]any)["state"] != "done" {
		t.Fatalf("after annul: %v", o)
	}
	if pl := e.must(200, "GET", "/v1/picking-list", adminKey, "")["orders"].([]any); len(pl) != 1 || pl[0].(map[string]any)["id"] != id {
		t.Fatalf("picking list %v", pl)
	}
	wantError(t, e.do("POST", "/v1/orders/"+id2+"/deliver", adminKey, ""), 409, "")
}
