package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func envWith(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// runServe starts the real program as "kvitt serve --data dir --addr 127.0.0.1:0".
func runServe(t *testing.T, dir string, getenv func(string) string, stdout io.Writer) *Main {
	t.Helper()
	m := NewMain(getenv, stdout, io.Discard)
	if err := m.ParseFlags([]string{"--data", dir, "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	if m.Addr == "" || strings.HasSuffix(m.Addr, ":0") || !strings.HasPrefix(m.Addr, "127.0.0.1:") {
		m.Close()
		t.Fatalf("Addr = %q", m.Addr)
	}
	return m
}

type apiResult struct {
	status int
	header http.Header
	body   []byte
}

func apiDo(t *testing.T, m *Main, method, path, key, body string) apiResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+m.Addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return apiResult{res.StatusCode, res.Header, b}
}

func apiJSON(t *testing.T, m *Main, status int, method, path, key, body string) map[string]any {
	t.Helper()
	r := apiDo(t, m, method, path, key, body)
	if r.status != status {
		t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.status, status, r.body)
	}
	var out map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, r.body)
	}
	return out
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envWith(nil), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "kvitt "+version+"\n" || errb.Len() != 0 {
		t.Errorf("version printed %q (stderr %q)", got, errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, envWith(nil), &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
		if !strings.Contains(errb.String(), "kvitt serve") {
			t.Errorf("run(%q): no usage on stderr: %q", args, errb.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, envWith(nil), &out, io.Discard); err != nil || !strings.Contains(out.String(), "kvitt version") {
		t.Errorf("help: %v %q", err, out.String())
	}
	m := NewMain(envWith(nil), io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "extra"}); err == nil {
		t.Error("serve with a stray argument was accepted")
	}
	if err := m.ParseFlags([]string{"--nope"}); err == nil {
		t.Error("serve with an unknown flag was accepted")
	}
}

func TestServeDefaults(t *testing.T) {
	m := NewMain(envWith(nil), io.Discard, io.Discard)
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Addr != "127.0.0.1:8080" || c.Data != "kvitt-data" || !c.Sandbox || len(c.Tills) != 1 || c.Tills[0].ID != "1" {
		t.Errorf("defaults = addr %q data %q sandbox %v tills %+v", c.Addr, c.Data, c.Sandbox, c.Tills)
	}
}

// The contract, end to end on the real program: sandbox serve, the cash
// walkthrough with registered receipts, and a restart that keeps everything.
func TestServeCashWalkthrough(t *testing.T) {
	dir := t.TempDir()
	const key = "walkthrough-admin-key"
	env := envWith(map[string]string{"KVITT_ADMIN_KEY": key})
	var stdout lockedBuffer
	m := runServe(t, dir, env, &stdout)
	defer func() { m.Close() }()

	if r := apiDo(t, m, "GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := apiDo(t, m, "GET", "/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	if r := apiDo(t, m, "GET", "/v1/tills", "", ""); r.status != 401 {
		t.Fatalf("no key: %d", r.status)
	}
	if strings.Contains(stdout.String(), "Admin API key") {
		t.Error("an admin key was generated although KVITT_ADMIN_KEY is set")
	}

	sale := func(price int) string {
		s := apiJSON(t, m, 201, "POST", "/v1/sales", key, `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":2,"unit_price":`+itoaT(price)+`,"vat_rate":12}]}`)
		return s["id"].(string)
	}
	payAndComplete := func(id string, amount, tendered int) map[string]any {
		p := apiJSON(t, m, 201, "POST", "/v1/sales/"+id+"/payments", key, `{"method":"cash","amount":`+itoaT(amount)+`,"tendered":`+itoaT(tendered)+`}`)
		if p["state"] != "paid" {
			t.Fatalf("payment %v", p)
		}
		return apiJSON(t, m, 200, "POST", "/v1/sales/"+id+"/complete", key, "")
	}

	s1 := sale(3475) // 69.50
	p := apiJSON(t, m, 201, "POST", "/v1/sales/"+s1+"/payments", key, `{"method":"cash","amount":6950,"tendered":10000}`)
	if p["amount"] != 7000.0 || p["rounding"] != 50.0 || p["change"] != 3000.0 {
		t.Fatalf("cash payment %v", p)
	}
	// The payment's event stream replays created → paid and ends.
	ev := apiDo(t, m, "GET", "/v1/payments/"+p["id"].(string)+"/events", key, "")
	if ev.status != 200 || ev.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events %d %s", ev.status, ev.header.Get("Content-Type"))
	}
	stream := string(ev.body)
	created, paid, end := strings.Index(stream, `"to":"created"`), strings.Index(stream, `"to":"paid"`), strings.Index(stream, "event: end")
	if created < 0 || paid < created || end < paid || strings.Count(stream, "event: payment") != 2 {
		t.Errorf("event stream:\n%s", stream)
	}
	rc1 := apiJSON(t, m, 200, "POST", "/v1/sales/"+s1+"/complete", key, "")
	if rc1["serial"] != 1.0 || rc1["total"] != 6950.0 {
		t.Fatalf("receipt 1 %v", rc1)
	}
	// The sandbox till registers receipts with the simulated control unit.
	if rc1["registration"] != "registered" || rc1["control_code"] == nil || rc1["control_unit_id"] == nil {
		t.Errorf("receipt 1 registration %v code %v unit %v", rc1["registration"], rc1["control_code"], rc1["control_unit_id"])
	}
	rid := rc1["id"].(string)
	if r := apiDo(t, m, "GET", "/v1/receipts/"+rid+"?format=text", key, ""); r.status != 200 || !strings.Contains(string(r.body), "Kaffe") {
		t.Errorf("text receipt %d\n%s", r.status, r.body)
	}
	if r := apiDo(t, m, "GET", "/v1/receipts/"+rid+"?format=html", key, ""); r.status != 200 || !strings.Contains(string(r.body), "<html") {
		t.Errorf("html receipt %d", r.status)
	}
	if got := apiJSON(t, m, 200, "GET", "/v1/receipts/"+rid+"?format=json", key, ""); got["serial"] != 1.0 {
		t.Errorf("json receipt %v", got)
	}
	rc2 := payAndComplete(sale(1000), 2000, 2000)
	if rc2["serial"] != 2.0 {
		t.Fatalf("receipt 2 %v", rc2)
	}

	// Restart on the same data directory: the sale, receipts and serials survive.
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kvitt.db")); err != nil {
		t.Fatalf("no database in --data: %v", err)
	}
	m = runServe(t, dir, env, &stdout)
	if got := apiJSON(t, m, 200, "GET", "/v1/sales/"+s1, key, ""); got["state"] != "completed" || got["receipt_id"] != rid {
		t.Fatalf("after restart: sale %v", got)
	}
	if rc3 := payAndComplete(sale(500), 1000, 1000); rc3["serial"] != 3.0 {
		t.Fatalf("after restart: receipt serial %v, want 3", rc3["serial"])
	}
}

// Without KVITT_ADMIN_KEY an admin key is generated, printed once, and works.
func TestServeGeneratesAdminKeyOnce(t *testing.T) {
	dir := t.TempDir()
	var stdout lockedBuffer
	m := runServe(t, dir, envWith(nil), &stdout)
	key := regexp.MustCompile(`key_[0-9a-z]+\.[0-9a-z]+`).FindString(stdout.String())
	if key == "" {
		m.Close()
		t.Fatalf("no admin key printed:\n%s", stdout.String())
	}
	apiJSON(t, m, 200, "GET", "/v1/api-keys", key, "")
	m.Close()
	var again lockedBuffer
	m = runServe(t, dir, envWith(nil), &again)
	defer m.Close()
	if strings.Contains(again.String(), "key_") {
		t.Errorf("a second admin key was printed on restart:\n%s", again.String())
	}
	apiJSON(t, m, 200, "GET", "/v1/api-keys", key, "")
}

func itoaT(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
