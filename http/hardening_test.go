package http_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// A line's text reaches the receipt printer: control characters in it (ESC
// p opens the cash drawer, GS V cuts the paper, ESC @ resets the printer, a
// line break forges a total of its own) are refused with 422 naming the
// line's field, and nothing is stored.
func TestSaleTextControlCharacters(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	for _, bad := range []string{`\u001bp\u0000\u0019\u00fa`, `\u001dV\u0000`, `\u001b@`, `\n TOTALT 0,00 kr`, `\r`, `\t`, `\u007f`, `\u0085`, `\u2028`, `\u2029`, `\u202e`, `\u2067`} {
		for _, field := range []string{"name", "article_number"} {
			ok := `{"name":"Kaffe","unit_price":3500,"vat_rate":12}`
			line := `{"name":"Kaffe` + bad + `","unit_price":100,"vat_rate":25}`
			if field == "article_number" {
				line = `{"name":"Kaffe","article_number":"7310` + bad + `","unit_price":100,"vat_rate":25}`
			}
			before := e.snapshot()
			wantError(t, e.do("POST", "/v1/sales", till, `{"lines":[`+ok+`,`+line+`]}`), 422, "lines[1]."+field)
			if e.snapshot() != before {
				t.Errorf("a refused sale (%s %s) changed the store", field, bad)
			}
		}
	}
	// Letters, symbols and emoji are fine.
	e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Smørrebrød «½ kg» ☕","unit_price":100,"vat_rate":12}]}`)
}

// A wrong type inside a line names the line by its index, 0-based, as every
// other error on a line does.
func TestLineErrorsNameTheIndex(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	ok := `{"name":"x","unit_price":100,"vat_rate":25}`
	for _, tc := range []struct{ body, field string }{
		{`{"lines":[` + ok + `,{"name":"y","quantity":"2","unit_price":100,"vat_rate":25}]}`, "lines[1].quantity"},
		{`{"lines":[` + ok + `,{"name":"y","vat_rate":"25","unit_price":100}]}`, "lines[1].vat_rate"},
		{`{"lines":[` + ok + `,` + ok + `,{"name":5,"unit_price":100,"vat_rate":25}]}`, "lines[2].name"},
		{`{"lines":[{"name":"x","article_number":7310,"unit_price":100,"vat_rate":25}]}`, "lines[0].article_number"},
		{`{"lines":[` + ok + `,{"name":"y","colour":"red","unit_price":100,"vat_rate":25}]}`, "lines[1].colour"},
		{`{"lines":[` + ok + `,"Kaffe"]}`, "lines[1]"},
		{`{"lines":"Kaffe"}`, "lines"},
	} {
		wantError(t, e.do("POST", "/v1/sales", till, tc.body), 400, tc.field)
	}
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	pid := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"cash","amount":9450}`)["id"].(string)
	wantError(t, e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"lines":[{"line":0},{"line":"1"}]}`), 400, "lines[1].line")
	wantError(t, e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"lines":[{"line":0},{"line":1,"quantity":"1"}]}`), 400, "lines[1].quantity")
}

// API key names are bounded: at most 100 characters, no control characters.
func TestAPIKeyName(t *testing.T) {
	e := newEnv(t)
	n := e.count("api_keys")
	for _, name := range []string{strings.Repeat("k", 100_000), strings.Repeat("å", 101), `Kassa\u001b@`, `Kassa\n1`, `Kassa\u202e1`} {
		wantError(t, e.do("POST", "/v1/api-keys", adminKey, `{"scope":"backoffice","name":"`+name+`"}`), 422, "name")
	}
	if got := e.count("api_keys"); got != n {
		t.Fatalf("%d keys stored by refused requests", got-n)
	}
	k := e.must(201, "POST", "/v1/api-keys", adminKey, `{"scope":"backoffice","name":"`+strings.Repeat("å", 100)+`"}`)
	if k["name"] != strings.Repeat("å", 100) {
		t.Errorf("name = %v", k["name"])
	}
	e.must(201, "POST", "/v1/api-keys", adminKey, `{"scope":"backoffice"}`) // a name is optional
}

// fakeCustomer stands in for the sandbox customer of the fake provider: it
// approves and records the options it was given.
type fakeCustomer struct {
	mu   sync.Mutex
	f    *fakeProvider
	tips []int64
}

func (c *fakeCustomer) seen() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.tips...)
}

func (c *fakeCustomer) Act(ctx context.Context, till *kvitt.Till, p *kvitt.Payment, action kvitt.CustomerAction, opts kvitt.CustomerOptions) error {
	c.mu.Lock()
	c.tips = append(c.tips, opts.Tip)
	c.mu.Unlock()
	c.f.setStatus(kvitt.PaymentPaid)
	return nil
}

// The sandbox customer's tip plus the amount stays within kvitt.MaxAmount:
// a tip beyond it (it answered 500 near the int64 maximum) is a 422 on tip
// and never reaches the simulator.
func TestSandboxTipBounds(t *testing.T) {
	e := newEnv(t)
	e.hub.Sandbox = true
	cust := &fakeCustomer{f: e.fake}
	e.hub.Register(e.fake, cust)
	_, till := e.apiKey("till", "1")
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	pid := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"fake","amount":9450}`)["id"].(string)
	for _, tip := range []string{"9223372036854775807", "9223372036854766358", fmt.Sprint(kvitt.MaxAmount - 9450 + 1), "-1"} {
		wantError(t, e.do("POST", "/v1/sandbox/payments/"+pid+"/approve", till, `{"tip":`+tip+`}`), 422, "tip")
	}
	if tips := cust.seen(); len(tips) != 0 {
		t.Fatalf("the customer was asked with tips %v", tips)
	}
	p := e.must(200, "POST", "/v1/sandbox/payments/"+pid+"/approve", till, fmt.Sprintf(`{"tip":%d}`, kvitt.MaxAmount-9450))
	if tips := cust.seen(); len(tips) != 1 || tips[0] != kvitt.MaxAmount-9450 || p["state"] != "paid" {
		t.Errorf("tips %v, payment %v", tips, p)
	}
}

// privateProvider answers like Swish: the payment's provider data carry the
// callback URL (with its secret token) and Swish's own URL of the payment.
type privateProvider struct{ fakeProvider }

const callbackSecret = "cb-secret-token-0123456789"

func (p *privateProvider) Method() string { return "private" }
func (p *privateProvider) Start(ctx context.Context, t *kvitt.Till, pay *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{State: kvitt.PaymentPending, Provider: map[string]string{
		"callback_url":          "https://kvitt.example/v1/callbacks/swish/" + callbackSecret,
		"location":              "https://swish.example/paymentrequests/LOC123",
		"payment_request_token": "tok123"}}, nil
}

// Who sees what of a payment: the callback URL (its token is a secret) is
// shown to no one; the payer's phone number is masked to its last four
// digits for till keys, the displays and the event stream; Swish's own URL
// of the payment is for admin and back-office keys only.
func TestPaymentPrivacy(t *testing.T) {
	e := newEnv(t)
	e.hub.Register(&privateProvider{}, nil)
	_, till := e.apiKey("till", "1")
	_, bo := e.apiKey("backoffice", "")
	const phone = "46701234567"
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	created := e.do("POST", "/v1/sales/"+sid+"/payments", till, `{"method":"private","amount":9450,"payer_alias":"`+phone+`"}`)
	if created.status != 201 {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	pid := created.json(t)["id"].(string)
	provider := func(r resp, path ...string) map[string]any {
		t.Helper()
		var v any = r.json(t)
		for _, p := range path {
			switch x := v.(type) {
			case map[string]any:
				v = x[p]
			case []any:
				v = x[0]
			}
		}
		m, _ := v.(map[string]any)["provider"].(map[string]any)
		return m
	}
	tillViews := map[string]map[string]any{
		"create (till)":        provider(created),
		"get (till)":           provider(e.do("GET", "/v1/payments/"+pid, till, "")),
		"sale (till)":          provider(e.do("GET", "/v1/sales/"+sid, till, ""), "payments", "0"),
		"display (till key)":   provider(e.do("GET", "/v1/tills/1/display", till, ""), "payment"),
		"display (admin key)":  provider(e.do("GET", "/v1/tills/1/display", adminKey, ""), "payment"),
		"display sale (admin)": provider(e.do("GET", "/v1/tills/1/display", adminKey, ""), "sale", "payments", "0"),
	}
	for name, p := range tillViews {
		if p["payer_alias"] != "*******4567" || p["location"] != nil || p["callback_url"] != nil || p["payment_request_token"] != "tok123" {
			t.Errorf("%s: provider %v; want the alias masked, no location, no callback URL", name, p)
		}
	}
	for name, key := range map[string]string{"admin": adminKey, "backoffice": bo} {
		p := provider(e.do("GET", "/v1/payments/"+pid, key, ""))
		if p["payer_alias"] != phone || p["location"] == nil || p["callback_url"] != nil {
			t.Errorf("%s: provider %v; want the alias in full, the location, no callback URL", name, p)
		}
		if s := provider(e.do("GET", "/v1/sales/"+sid, key, ""), "payments", "0"); s["payer_alias"] != phone {
			t.Errorf("%s: sale's payment provider %v", name, s)
		}
	}
	// The event stream shows what the till sees.
	br, closeStream := openStream(t, e, "/v1/payments/"+pid+"/events", adminKey)
	defer closeStream()
	ev, ok := readEvent(t, br)
	if !ok || strings.Contains(ev.data, callbackSecret) || strings.Contains(ev.data, phone) || strings.Contains(ev.data, "LOC123") {
		t.Errorf("event %v", ev)
	}
	// The secret is in no answer at all.
	for _, key := range []string{till, bo, adminKey} {
		for _, path := range []string{"/v1/payments/" + pid, "/v1/sales/" + sid, "/v1/tills/1/display", "/v1/tills/1/recovery"} {
			if r := e.do("GET", path, key, ""); strings.Contains(string(r.body), callbackSecret) {
				t.Errorf("GET %s shows the callback secret: %s", path, r.body)
			}
		}
	}
}

// A card terminal's passphrase (Adyen message protection) is never shown
// by the tills API.
func TestTillTerminalPassphraseHidden(t *testing.T) {
	e := newEnv(t)
	if err := e.db.Update(context.Background(), func(tx kvitt.Tx) error {
		till, err := tx.GetTill("1")
		if err != nil {
			return err
		}
		till.Terminal = &kvitt.Terminal{POIID: "P400-1", URL: "https://127.0.0.1:8443/nexo", Profile: "adyen", Passphrase: "hemligt-lösenord", KeyIdentifier: "kvitt", KeyVersion: 1}
		return tx.UpdateTill(till)
	}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/tills", "/v1/tills/1"} {
		r := e.do("GET", path, adminKey, "")
		if r.status != 200 || strings.Contains(string(r.body), "hemligt") || strings.Contains(string(r.body), "passphrase") || !strings.Contains(string(r.body), `"encrypted":true`) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
}
