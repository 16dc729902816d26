package http_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

const adminKey = "test-admin-key-0123456789"

// env is a real API server on loopback over a real SQLite file.
type env struct {
	t     *testing.T
	url   string
	hub   *hub.Hub
	db    *sqlstore.DB
	fake  *fakeProvider
	ready []string
	mu    sync.Mutex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db) // merchant m1 (SEK), store s1, tills 1 and 2
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(db, logger)
	t.Cleanup(h.Close)
	e := &env{t: t, hub: h, db: db, fake: &fakeProvider{}}
	h.Register(cash.Provider{}, nil)
	h.Register(e.fake, nil)
	sum := sha256.Sum256([]byte(adminKey))
	srv := kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:],
		Ready: func(context.Context) []string { e.mu.Lock(); defer e.mu.Unlock(); return e.ready }})
	ts := httptest.NewServer(srv) // 127.0.0.1:0
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
	return m
}

// do sends a request; headers are name, value pairs.
func (e *env) do(method, path, key, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// must checks the status and returns the JSON body.
func (e *env) must(status int, method, path, key, body string, headers ...string) map[string]any {
	e.t.Helper()
	r := e.do(method, path, key, body, headers...)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, r.status, status, r.body)
	}
	return r.json(e.t)
}

// apiKey creates a key with the admin key and returns its secret.
func (e *env) apiKey(scope, till string) (id, secret string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"scope":%q,"name":"test"}`, scope)
	if till != "" {
		body = fmt.Sprintf(`{"scope":%q,"till_id":%q,"name":"test"}`, scope, till)
	}
	m := e.must(201, "POST", "/v1/api-keys", adminKey, body)
	return m["id"].(string), m["key"].(string)
}

type errorShape struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

var statusOfCode = map[string]int{"invalid": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
	"unprocessable": 422, "provider_error": 502, "unavailable": 503, "internal": 500}

// wantError checks the contract's error shape, status, code and field.
func wantError(t *testing.T, r resp, status int, field string) errorShape {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e errorShape
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body not in the contract's shape: %v\n%s", err, r.body)
	}
	if e.Error.Code == "" || e.Error.Message == "" || statusOfCode[e.Error.Code] != status {
		t.Errorf("error %+v does not match status %d", e.Error, status)
	}
	if e.Error.Field != field {
		t.Errorf("field %q, want %q (%s)", e.Error.Field, field, e.Error.Message)
	}
	return e
}

// snapshot dumps every row of every table: "nothing stored changed" is snapshot equality.
func (e *env) snapshot() string {
	e.t.Helper()
	rows, err := e.db.Read.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var sb strings.Builder
	for _, tb := range tables {
		rs, err := e.db.Read.Query(`SELECT * FROM "` + tb + `"`)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			fmt.Fprintf(&sb, "%s %v\n", tb, vals)
		}
		rs.Close()
	}
	return sb.String()
}

const saleBody = `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":2,"unit_price":3500,"vat_rate":12},{"name":"Kanelbulle","unit_price":2450,"vat_rate":12}]}`

func TestCashSaleWalkthrough(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")

	s := e.must(201, "POST", "/v1/sales", till, saleBody)
	if s["total"] != 9450.0 || s["state"] != "open" || s["till_id"] != "1" || s["currency"] != "SEK" {
		t.Fatalf("sale = %v", s)
	}
	vat := s["vat"].([]any)[0].(map[string]any)
	if vat["rate"] != 12.0 || vat["gross"] != 9450.0 || vat["vat"] != 1013.0 || vat["net"] != 8437.0 {
		t.Errorf("vat = %v", vat)
	}
	id := s["id"].(string)

	p := e.must(201, "POST", "/v1/sales/"+id+"/payments", till, `{"method":"cash","amount":9450,"tendered":10000}`)
	if p["state"] != "paid" || p["amount"] != 9500.0 || p["rounding"] != 50.0 || p["change"] != 500.0 || p["tendered"] != 10000.0 {
		t.Fatalf("payment = %v", p)
	}
	v := e.must(200, "GET", "/v1/sales/"+id, till, "")
	if v["paid"] != 9450.0 || v["due"] != 0.0 || len(v["payments"].([]any)) != 1 {
		t.Errorf("sale view = %v", v)
	}

	rc := e.must(200, "POST", "/v1/sales/"+id+"/complete", till, "")
	if rc["serial"] != 1.0 || rc["total"] != 9450.0 || rc["sale_id"] != id || rc["merchant_name"] != "Demo AB" {
		t.Fatalf("receipt = %v", rc)
	}
	tender := rc["tenders"].([]any)[0].(map[string]any)
	// The drawer took 95.00: the sale's 94.50 and 0.50 of rounding.
	if tender["amount"] != 9500.0 || tender["rounding"] != 50.0 {
		t.Errorf("tender = %v", tender)
	}
	rid := rc["id"].(string)
	j := e.must(200, "GET", "/v1/receipts/"+rid+"?format=json", till, "")
	if j["id"] != rid || j["serial"] != 1.0 {
		t.Errorf("receipt json = %v", j)
	}
	txt := e.do("GET", "/v1/receipts/"+rid+"?format=text", till, "")
	if txt.status != 200 || !strings.HasPrefix(txt.header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(txt.body), "Demo AB") || !strings.Contains(string(txt.body), "Kvitto nr") || !strings.Contains(string(txt.body), "Kanelbulle") {
		t.Errorf("text receipt %d %s:\n%s", txt.status, txt.header.Get("Content-Type"), txt.body)
	}
	for _, line := range strings.Split(strings.TrimRight(string(txt.body), "\n"), "\n") {
		if n := len([]rune(line)); n > 42 {
			t.Errorf("text line wider than 42: %q", line)
		}
	}
	html := e.do("GET", "/v1/receipts/"+rid+"?format=html", till, "")
	if html.status != 200 || !strings.HasPrefix(html.header.Get("Content-Type"), "text/html") || !strings.Contains(string(html.body), "Kanelbulle") {
		t.Errorf("html receipt %d %s", html.status, html.header.Get("Content-Type"))
	}
	wantError(t, e.do("GET", "/v1/receipts/"+rid+"?format=pdf", till, ""), 422, "format")

	// The second sale on the till gets serial 2.
	s2 := e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Tidning","unit_price":4900,"vat_rate":6}]}`)
	e.must(201, "POST", "/v1/sales/"+s2["id"].(string)+"/payments", till, `{"method":"cash","amount":4900}`)
	rc2 := e.must(200, "POST", "/v1/sales/"+s2["id"].(string)+"/complete", till, "")
	if rc2["serial"] != 2.0 {
		t.Errorf("second receipt serial = %v, want 2", rc2["serial"])
	}
	// Completing again returns the first receipt, not a new serial.
	again := e.must(200, "POST", "/v1/sales/"+id+"/complete", till, "")
	if again["id"] != rid || again["serial"] != 1.0 {
		t.Errorf("complete again = %v", again)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"", "nonsense", "key_nothere.secret", adminKey + "x"} {
		r := e.do("GET", "/v1/tills", k, "")
		wantError(t, r, 401, "")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	// "Basic" is not a bearer key.
	r := e.do("GET", "/v1/tills", "", "", "Authorization", "Basic "+adminKey)
	wantError(t, r, 401, "")

	tillID, till1 := e.apiKey("till", "1")
	_, till2 := e.apiKey("till", "2")
	_, bo := e.apiKey("backoffice", "")
	_, admin2 := e.apiKey("admin", "")
	// A wrong secret for a real key id is refused.
	id, _, _ := strings.Cut(till1, ".")
	wantError(t, e.do("GET", "/v1/tills", id+".wrongsecret", ""), 401, "")

	s1 := e.must(201, "POST", "/v1/sales", till1, saleBody)["id"].(string)
	s2 := e.must(201, "POST", "/v1/sales", adminKey, strings.Replace(saleBody, `"till_id":"1"`, `"till_id":"2"`, 1))["id"].(string)

	// A till key sees its own till only; another till's sale is not found.
	e.must(200, "GET", "/v1/sales/"+s1, till1, "")
	wantError(t, e.do("GET", "/v1/sales/"+s2, till1, ""), 404, "")
	wantError(t, e.do("POST", "/v1/sales/"+s2+"/payments", till1, `{"method":"cash","amount":9450}`), 404, "")
	wantError(t, e.do("GET", "/v1/sales/"+s1, till2, ""), 404, "")
	wantError(t, e.do("POST", "/v1/sales", till1, strings.Replace(saleBody, `"till_id":"1"`, `"till_id":"2"`, 1)), 403, "till_id")
	tills := e.must(200, "GET", "/v1/tills", till1, "")["tills"].([]any)
	if len(tills) != 1 || tills[0].(map[string]any)["id"] != "1" {
		t.Errorf("till key lists tills %v", tills)
	}
	wantError(t, e.do("GET", "/v1/tills/2", till1, ""), 404, "")
	// Keys are for admins only.
	wantError(t, e.do("POST", "/v1/api-keys", till1, `{"scope":"admin"}`), 403, "")
	wantError(t, e.do("GET", "/v1/api-keys", till1, ""), 403, "")
	wantError(t, e.do("POST", "/v1/api-keys", bo, `{"scope":"till","till_id":"1"}`), 403, "")
	wantError(t, e.do("POST", "/v1/api-keys/"+tillID+"/revoke", bo, ""), 403, "")
	// The back office sees every till; an admin key made by the API works like the env one.
	e.must(200, "GET", "/v1/sales/"+s1, bo, "")
	e.must(200, "GET", "/v1/sales/"+s2, bo, "")
	e.must(200, "GET", "/v1/api-keys", admin2, "")
	e.must(201, "POST", "/v1/api-keys", admin2, `{"scope":"backoffice"}`)
	wantError(t, e.do("POST", "/v1/api-keys", adminKey, `{"scope":"root"}`), 422, "scope")
	wantError(t, e.do("POST", "/v1/api-keys", adminKey, `{"scope":"till"}`), 422, "till_id")
	wantError(t, e.do("POST", "/v1/api-keys", adminKey, `{"scope":"till","till_id":"9"}`), 422, "till_id")

	// A revoked key stops working at once.
	rv := e.must(200, "POST", "/v1/api-keys/"+tillID+"/revoke", adminKey, "")
	if rv["revoked_at"] == nil {
		t.Errorf("revoke = %v", rv)
	}
	wantError(t, e.do("GET", "/v1/sales/"+s1, till1, ""), 401, "")
	wantError(t, e.do("POST", "/v1/sales", till1, saleBody), 401, "")
	// The key list never shows secrets or hashes.
	list := e.do("GET", "/v1/api-keys", adminKey, "")
	_, secret, _ := strings.Cut(till2, ".")
	if bytes.Contains(list.body, []byte(secret)) || bytes.Contains(list.body, []byte(`"hash"`)) || bytes.Contains(list.body, []byte(`"key"`)) {
		t.Errorf("key list leaks secrets: %s", list.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	first := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "sale-1")
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	again := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "sale-1")
	if again.status != 201 || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %q\n%s\nfirst:\n%s", again.status, again.header.Get("Idempotent-Replayed"), again.body, first.body)
	}
	other := strings.Replace(saleBody, "3500", "3600", 1)
	wantError(t, e.do("POST", "/v1/sales", till, other, "Idempotency-Key", "sale-1"), 409, "Idempotency-Key")
	// The same key on another path is another request too.
	id := first.json(t)["id"].(string)
	wantError(t, e.do("POST", "/v1/sales/"+id+"/payments", till, saleBody, "Idempotency-Key", "sale-1"), 409, "Idempotency-Key")
	if n := e.count("sales"); n != 1 {
		t.Fatalf("%d sales stored, want 1", n)
	}
	// Keys are scoped to the API key: another caller's "sale-1" is its own.
	_, till1b := e.apiKey("till", "1")
	if r := e.do("POST", "/v1/sales", till1b, saleBody, "Idempotency-Key", "sale-1"); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another key's sale-1: %d %v", r.status, r.header)
	}

	// Payments: a retried POST pays once.
	pay := `{"method":"cash","amount":9450,"tendered":10000}`
	p1 := e.do("POST", "/v1/sales/"+id+"/payments", till, pay, "Idempotency-Key", "pay-1")
	p2 := e.do("POST", "/v1/sales/"+id+"/payments", till, pay, "Idempotency-Key", "pay-1")
	if p1.status != 201 || p2.status != 201 || !bytes.Equal(p1.body, p2.body) || p2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("payment replay: %d %d\n%s\n%s", p1.status, p2.status, p1.body, p2.body)
	}
	if n := e.count("payments"); n != 1 {
		t.Fatalf("%d payments", n)
	}
	// Refunds: the same.
	pid := p1.json(t)["id"].(string)
	r1 := e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":500}`, "Idempotency-Key", "ref-1")
	r2 := e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":500}`, "Idempotency-Key", "ref-1")
	if r1.status != 201 || !bytes.Equal(r1.body, r2.body) || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("refund replay: %d %d\n%s\n%s", r1.status, r2.status, r1.body, r2.body)
	}
	p := e.must(200, "GET", "/v1/payments/"+pid, till, "")
	if p["refunded"] != 500.0 || e.count("refunds") != 1 {
		t.Fatalf("refunded %v, %d refunds", p["refunded"], e.count("refunds"))
	}
	// A definite refusal is replayed too; a too-long key is refused.
	bad1 := e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":99999}`, "Idempotency-Key", "ref-2")
	bad2 := e.do("POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":99999}`, "Idempotency-Key", "ref-2")
	wantError(t, bad1, 422, "amount")
	if !bytes.Equal(bad1.body, bad2.body) {
		t.Errorf("refusal replay differs")
	}
	wantError(t, e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", strings.Repeat("k", 256)), 400, "Idempotency-Key")
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.Read.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	open := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	done := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	paid := e.must(201, "POST", "/v1/sales/"+done+"/payments", till, `{"method":"cash","amount":9450,"tendered":10000}`)["id"].(string)
	e.must(200, "POST", "/v1/sales/"+done+"/complete", till, "")

	line := func(l string) string {
		return `{"till_id":"1","lines":[` + l + `]}`
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"malformed JSON", "POST", "/v1/sales", `{"till_id":"1",`, 400, ""},
		{"not JSON", "POST", "/v1/sales", `till_id=1`, 400, ""},
		{"empty body", "POST", "/v1/sales", ``, 400, ""},
		{"trailing data", "POST", "/v1/sales", saleBody + `{}`, 400, ""},
		{"trailing brace", "POST", "/v1/sales", saleBody + `}`, 400, ""},
		{"trailing bracket", "POST", "/v1/sales", saleBody + ` ]`, 400, ""},
		{"unknown field", "POST", "/v1/sales", `{"till_id":"1","colour":"red","lines":[{"name":"x","unit_price":100,"vat_rate":25}]}`, 400, "colour"},
		{"unknown till", "POST", "/v1/sales", strings.Replace(saleBody, `"till_id":"1"`, `"till_id":"9"`, 1), 403, "till_id"},
		{"unsupported currency", "POST", "/v1/sales", strings.Replace(saleBody, "SEK", "USD", 1), 422, "currency"},
		{"not the merchant's currency", "POST", "/v1/sales", strings.Replace(saleBody, "SEK", "EUR", 1), 422, "currency"},
		{"currency with other decimals", "POST", "/v1/sales", strings.Replace(saleBody, "SEK", "ISK", 1), 422, "currency"},
		{"no lines", "POST", "/v1/sales", `{"till_id":"1","lines":[]}`, 422, "lines"},
		{"negative unit price", "POST", "/v1/sales", line(`{"name":"x","unit_price":-100,"vat_rate":25}`), 422, "lines[0].unit_price"},
		{"unit price as 12.5", "POST", "/v1/sales", line(`{"name":"x","unit_price":100,"vat_rate":25},{"name":"y","unit_price":12.5,"vat_rate":25}`), 400, "lines[1].unit_price"},
		{"unit price 1e30", "POST", "/v1/sales", line(`{"name":"x","unit_price":1e30,"vat_rate":25}`), 400, "lines[0].unit_price"},
		{"unit price as a string", "POST", "/v1/sales", line(`{"name":"x","unit_price":"100","vat_rate":25}`), 400, "lines[0].unit_price"},
		{"missing unit price", "POST", "/v1/sales", line(`{"name":"x","vat_rate":25}`), 422, "lines[0].unit_price"},
		{"bad VAT rate", "POST", "/v1/sales", line(`{"name":"x","unit_price":100,"vat_rate":25},{"name":"y","unit_price":100,"vat_rate":20}`), 422, "lines[1].vat_rate"},
		{"VAT rate with exponent", "POST", "/v1/sales", line(`{"name":"x","unit_price":100,"vat_rate":2.5e1}`), 400, "lines[0].vat_rate"},
		{"quantity with 4 decimals", "POST", "/v1/sales", line(`{"name":"x","quantity":0.0005,"unit_price":100,"vat_rate":25}`), 422, "lines[0].quantity"},
		{"negative quantity", "POST", "/v1/sales", line(`{"name":"x","quantity":-1,"unit_price":100,"vat_rate":25}`), 422, "lines[0].quantity"},
		{"discount above the line", "POST", "/v1/sales", line(`{"name":"x","unit_price":100,"vat_rate":25,"discount":101}`), 422, "lines[0].discount"},
		{"discount as 1.5", "POST", "/v1/sales", line(`{"name":"x","unit_price":100,"vat_rate":25,"discount":1.5}`), 400, "lines[0].discount"},
		{"no name", "POST", "/v1/sales", line(`{"unit_price":100,"vat_rate":25}`), 422, "lines[0].name"},
		{"overflowing sale", "POST", "/v1/sales", line(`{"name":"x","quantity":1000000,"unit_price":10000000000000,"vat_rate":25}`), 422, "lines[0].quantity"},
		{"negative amount", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":-100}`, 422, "amount"},
		{"zero amount", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":0}`, 422, "amount"},
		{"amount as 12.5", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":12.5}`, 400, "amount"},
		{"amount 1e30", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":1e30}`, 400, "amount"},
		{"amount beyond int64", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":99999999999999999999}`, 400, "amount"},
		{"amount as a string", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":"94.50"}`, 400, "amount"},
		{"amount above what is due", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":9600}`, 422, "amount"},
		{"tendered below amount", "POST", "/v1/sales/" + open + "/payments", `{"method":"cash","amount":9450,"tendered":5000}`, 422, "tendered"},
		{"unknown method", "POST", "/v1/sales/" + open + "/payments", `{"method":"bitcoin","amount":100}`, 422, "method"},
		{"payment on a completed sale", "POST", "/v1/sales/" + done + "/payments", `{"method":"cash","amount":100}`, 409, ""},
		{"payment on a missing sale", "POST", "/v1/sales/sale_nope/payments", `{"method":"cash","amount":100}`, 404, ""},
		{"refund above what is left", "POST", "/v1/payments/" + paid + "/refunds", `{"amount":9501}`, 422, "amount"},
		{"negative refund", "POST", "/v1/payments/" + paid + "/refunds", `{"amount":-1}`, 422, "amount"},
		{"refund as 1.5", "POST", "/v1/payments/" + paid + "/refunds", `{"amount":1.5}`, 400, "amount"},
		{"cancel a paid payment", "POST", "/v1/payments/" + paid + "/cancel", ``, 409, ""},
		{"complete an unpaid sale", "POST", "/v1/sales/" + open + "/complete", ``, 409, ""},
		{"receipt width", "GET", "/v1/receipts/nope?width=40", ``, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.snapshot()
			wantError(t, e.do(tc.method, tc.path, till, tc.body), tc.status, tc.field)
			if after := e.snapshot(); after != before {
				t.Errorf("a refused request changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// Whitespace after the object (a file sent with curl --data-binary) is fine.
	e.must(201, "POST", "/v1/sales", till, saleBody+"\n \r\n\t")

	// The admin may name any till: an unknown one is a 422 on till_id.
	before := e.snapshot()
	wantError(t, e.do("POST", "/v1/sales", adminKey, strings.Replace(saleBody, `"till_id":"1"`, `"till_id":"9"`, 1)), 422, "till_id")
	wantError(t, e.do("POST", "/v1/sales", adminKey, strings.Replace(saleBody, `"till_id":"1",`, ``, 1)), 422, "till_id")
	if e.snapshot() != before {
		t.Error("a refused sale changed the store")
	}
}

func TestHealthAndRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/healthz", "", "")
	if r.status != 200 || string(r.body) != "ok\n" {
		t.Errorf("healthz %d %q", r.status, r.body)
	}
	if m := e.must(200, "GET", "/readyz", "", ""); m["ready"] != true {
		t.Errorf("readyz %v", m)
	}
	e.mu.Lock()
	e.ready = []string{"database: gone"}
	e.mu.Unlock()
	if m := e.must(503, "GET", "/readyz", "", ""); m["ready"] != false || len(m["problems"].([]any)) != 1 {
		t.Errorf("readyz not ready %v", m)
	}
	wantError(t, e.do("GET", "/v1/nope", "", ""), 404, "")
	wantError(t, e.do("GET", "/v1/nope", adminKey, ""), 404, "")
	wantError(t, e.do("POST", "/nope", "", `{}`), 404, "")
	wantError(t, e.do("GET", "/v1/payments/pay_nope", adminKey, ""), 404, "")
	wantError(t, e.do("GET", "/v1/receipts/rcp_nope", adminKey, ""), 404, "")
	wantError(t, e.do("GET", "/v1/payments/pay_nope/events", adminKey, ""), 404, "")
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event, data string
}

func readEvent(t *testing.T, br *bufio.Reader) (sseEvent, bool) {
	t.Helper()
	var ev sseEvent
	got := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ev, false
		}
		line = strings.TrimRight(line, "\n")
		if line == "" {
			if got && ev.event != "" {
				return ev, true
			}
			got = false
			continue
		}
		got = true
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "id":
			ev.id = v
		case "event":
			ev.event = v
		case "data":
			ev.data = v
		}
	}
}

func openStream(t *testing.T, e *env, path, key string) (*bufio.Reader, func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return bufio.NewReader(res.Body), func() { res.Body.Close() }
}

func TestPaymentEventsCash(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	pid := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"cash","amount":9450}`)["id"].(string)
	br, closeStream := openStream(t, e, "/v1/payments/"+pid+"/events", till)
	defer closeStream()
	var evs []sseEvent
	for {
		ev, ok := readEvent(t, br)
		if !ok {
			break
		}
		evs = append(evs, ev)
	}
	if len(evs) != 3 {
		t.Fatalf("events = %+v; want created, paid, end", evs)
	}
	for i, want := range []string{"created", "paid"} {
		var d struct {
			Seq     int64  `json:"seq"`
			To      string `json:"to"`
			Payment struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"payment"`
		}
		if err := json.Unmarshal([]byte(evs[i].data), &d); err != nil {
			t.Fatal(err)
		}
		if evs[i].event != "payment" || d.To != want || d.Seq != int64(i+1) || evs[i].id != fmt.Sprint(i+1) || d.Payment.ID != pid {
			t.Errorf("event %d = %+v %+v; want %s", i, evs[i], d, want)
		}
	}
	if evs[2].event != "end" || !strings.Contains(evs[2].data, `"paid"`) {
		t.Errorf("last event = %+v; want end with paid", evs[2])
	}
	// Resuming after the last seen id sends only what is new.
	req, _ := http.NewRequest("GET", e.url+"/v1/payments/"+pid+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+till)
	req.Header.Set("Last-Event-ID", "1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(b), `"to":"created"`) || !strings.Contains(string(b), `"to":"paid"`) || !strings.Contains(string(b), "event: end") {
		t.Errorf("resumed stream:\n%s", b)
	}
	// Another till does not see the stream.
	_, till2 := e.apiKey("till", "2")
	wantError(t, e.do("GET", "/v1/payments/"+pid+"/events", till2, ""), 404, "")
}

// A payment that is decided while the till listens: the stream shows the
// change as it happens and ends.
func TestPaymentEventsLive(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	p := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"fake","amount":9450}`)
	if p["state"] != "pending" || p["action"] == nil {
		t.Fatalf("payment = %v", p)
	}
	pid := p["id"].(string)
	br, closeStream := openStream(t, e, "/v1/payments/"+pid+"/events", till)
	defer closeStream()
	for _, want := range []string{"created", "pending"} {
		ev, ok := readEvent(t, br)
		if !ok || !strings.Contains(ev.data, `"to":"`+want+`"`) {
			t.Fatalf("event %+v, want %s", ev, want)
		}
	}
	e.fake.setStatus(kvitt.PaymentPaid)
	if m := e.must(200, "POST", "/v1/payments/"+pid+"/sync", till, ""); m["state"] != "paid" {
		t.Fatalf("sync = %v", m)
	}
	ev, ok := readEvent(t, br)
	if !ok || ev.event != "payment" || !strings.Contains(ev.data, `"to":"paid"`) {
		t.Fatalf("event %+v, want paid", ev)
	}
	ev, ok = readEvent(t, br)
	if !ok || ev.event != "end" {
		t.Fatalf("event %+v, want end", ev)
	}
}

// fakeProvider leaves payments pending until Status says otherwise.
type fakeProvider struct {
	mu     sync.Mutex
	status kvitt.PaymentState
}

func (f *fakeProvider) setStatus(s kvitt.PaymentState) { f.mu.Lock(); f.status = s; f.mu.Unlock() }

func (f *fakeProvider) Method() string       { return "fake" }
func (f *fakeProvider) NewReference() string { return kvitt.NewID("fake") }
func (f *fakeProvider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{State: kvitt.PaymentPending, Action: &kvitt.Action{Type: "show_qr", QRData: "fake:" + p.Reference}}, nil
}
func (f *fakeProvider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return kvitt.Update{State: f.status}, nil
}
func (f *fakeProvider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{State: kvitt.PaymentCancelled}, nil
}
func (f *fakeProvider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded}, nil
}

// Two tills' retries racing with one Idempotency-Key create one sale, and
// every answer is the same sale.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	const n = 6
	res := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.url+"/v1/sales", strings.NewReader(saleBody))
			req.Header.Set("Authorization", "Bearer "+till)
			req.Header.Set("Idempotency-Key", "race-1")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			res[i] = resp{r.StatusCode, r.Header, b}
		}()
	}
	wg.Wait()
	var id string
	for _, r := range res {
		if r.status != 201 {
			t.Fatalf("status %d\n%s", r.status, r.body)
		}
		got := r.json(t)["id"].(string)
		if id == "" {
			id = got
		}
		if got != id {
			t.Errorf("two sales for one key: %s and %s", id, got)
		}
	}
	if n := e.count("sales"); n != 1 {
		t.Errorf("%d sales stored", n)
	}
	// Later retries replay one stored answer.
	a := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "race-1")
	b := e.do("POST", "/v1/sales", till, saleBody, "Idempotency-Key", "race-1")
	if !bytes.Equal(a.body, b.body) || a.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replays differ")
	}
}

// A till key may name its till as a number, or leave it out.
func TestTillKeyTillID(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	for _, body := range []string{
		strings.Replace(saleBody, `"till_id":"1"`, `"till_id":1`, 1),
		strings.Replace(saleBody, `"till_id":"1",`, ``, 1),
	} {
		if s := e.must(201, "POST", "/v1/sales", till, body); s["till_id"] != "1" {
			t.Errorf("sale on till %v", s["till_id"])
		}
	}
	wantError(t, e.do("POST", "/v1/sales", till, strings.Replace(saleBody, `"till_id":"1"`, `"till_id":1.5`, 1)), 400, "till_id")
}

// The other payment endpoints answer in the contract's shape and keep a till to its own data.
func TestPaymentEndpoints(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	_, till2 := e.apiKey("till", "2")
	_, bo := e.apiKey("backoffice", "")
	sid := e.must(201, "POST", "/v1/sales", till, saleBody)["id"].(string)
	pid := e.must(201, "POST", "/v1/sales/"+sid+"/payments", till, `{"method":"cash","amount":9450}`)["id"].(string)

	ref := e.must(201, "POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":1000}`)
	if ref["state"] != "succeeded" || ref["amount"] != 1000.0 || ref["payment_id"] != pid {
		t.Fatalf("refund %v", ref)
	}
	rid := ref["id"].(string)
	if got := e.must(200, "GET", "/v1/refunds/"+rid, till, ""); got["id"] != rid {
		t.Errorf("get refund %v", got)
	}
	if list := e.must(200, "GET", "/v1/payments/"+pid+"/refunds", till, "")["refunds"].([]any); len(list) != 1 {
		t.Errorf("refunds %v", list)
	}
	p := e.must(200, "GET", "/v1/payments/"+pid, till, "")
	if p["state"] != "partially_refunded" || p["refunded"] != 1000.0 || p["refundable"] != 8500.0 {
		t.Errorf("payment %v", p)
	}
	for _, path := range []string{"/v1/refunds/" + rid, "/v1/payments/" + pid + "/refunds", "/v1/payments/" + pid, "/v1/tills/1/recovery"} {
		wantError(t, e.do("GET", path, till2, ""), 404, "")
	}
	wantError(t, e.do("POST", "/v1/payments/"+pid+"/refunds", till2, `{"amount":1}`), 404, "")

	// The sale has money in it and no receipt: the till's recovery list shows it.
	items := e.must(200, "GET", "/v1/tills/1/recovery", till, "")["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("recovery %v", items)
	}
	// It cannot be cancelled with money in it; once refunded it can.
	wantError(t, e.do("POST", "/v1/sales/"+sid+"/cancel", till, ""), 409, "")
	e.must(201, "POST", "/v1/payments/"+pid+"/refunds", till, `{"amount":8500}`)
	if got := e.must(200, "POST", "/v1/sales/"+sid+"/cancel", till, ""); got["state"] != "cancelled" {
		t.Errorf("cancel %v", got)
	}
	wantError(t, e.do("POST", "/v1/sales/"+sid+"/payments", till, `{"method":"cash","amount":100}`), 409, "")

	// Resolving by hand is for the back office, and only for unknown payments.
	wantError(t, e.do("POST", "/v1/payments/"+pid+"/resolve", till, `{"state":"paid","note":"x"}`), 403, "")
	wantError(t, e.do("POST", "/v1/payments/"+pid+"/resolve", bo, `{"state":"paid","note":"x"}`), 409, "")
}

// The answer that carries a new API key's secret is never stored for
// replay: only the key's hash is kept anywhere.
func TestAPIKeySecretNotStoredForReplay(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/v1/api-keys", adminKey, `{"scope":"till","till_id":"1"}`, "Idempotency-Key", "k-1")
	err := e.db.View(context.Background(), func(tx kvitt.Tx) error {
		_, err := tx.GetIdempotency("env-admin:k-1")
		return err
	})
	if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("the response with the API key's secret was stored for replay (%v)", err)
	}
	// An ordinary POST with a key is stored, so the check above can fail.
	e.must(201, "POST", "/v1/sales", adminKey, `{"till_id":"1","lines":[{"name":"x","unit_price":100,"vat_rate":25}]}`, "Idempotency-Key", "k-2")
	if err := e.db.View(context.Background(), func(tx kvitt.Tx) error {
		_, err := tx.GetIdempotency("env-admin:k-2")
		return err
	}); err != nil {
		t.Errorf("an ordinary answer was not stored: %v", err)
	}
}

// A known path with the wrong method is 405 in the error shape, naming the
// methods it takes; numbers must be JSON numbers, not strings.
func TestMethodNotAllowedAndQuotedNumbers(t *testing.T) {
	e := newEnv(t)
	r := e.do("DELETE", "/v1/sales", adminKey, "")
	if r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("DELETE /v1/sales: %d Allow=%q %s", r.status, r.header.Get("Allow"), r.body)
	}
	if code := r.json(t)["error"].(map[string]any)["code"]; code != "method_not_allowed" {
		t.Errorf("code = %v", code)
	}
	if r := e.do("GET", "/v1/no-such-thing", adminKey, ""); r.status != 404 {
		t.Errorf("unknown path: %d", r.status)
	}
	r = e.do("POST", "/v1/sales", adminKey, `{"till_id":"1","lines":[{"name":"x","quantity":"2","unit_price":100,"vat_rate":25}]}`)
	if r.status != 400 {
		t.Fatalf("quoted quantity: %d %s", r.status, r.body)
	}
	if f := r.json(t)["error"].(map[string]any)["field"]; f != "lines[0].quantity" {
		t.Errorf("field = %v", f)
	}
}
