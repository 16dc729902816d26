package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
)

const readyKey = "readyz-test-key"

// serveLive runs "kvitt serve --live" with the configuration cfg (merchant
// and tills added) and the admin key readyKey.
func serveLive(t *testing.T, cfg map[string]any) *Main {
	t.Helper()
	cfg["sandbox"] = false
	cfg["merchant"] = map[string]any{"id": "m1", "name": "Exempel AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
		"store": map[string]any{"id": "s1", "name": "Exempel", "address": "Storgatan 1, 111 22 Stockholm"}}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "kvitt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain(envWith(map[string]string{"KVITT_ADMIN_KEY": readyKey}), io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--config", path, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// readyz returns /readyz's status and its problems.
func readyz(t *testing.T, m *Main) (int, []string) {
	t.Helper()
	r := apiDo(t, m, "GET", "/readyz", "", "")
	var body struct {
		Ready    bool     `json:"ready"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("readyz: %v: %s", err, r.body)
	}
	if body.Ready != (r.status == 200) {
		t.Errorf("readyz %d says ready=%v", r.status, body.Ready)
	}
	return r.status, body.Problems
}

func metricsText(t *testing.T, m *Main) string {
	t.Helper()
	return string(apiDo(t, m, "GET", "/metrics", "", "").body)
}

// cashReceipt sells, pays in cash and completes a sale on till 1, returning
// the receipt's registration.
func cashReceipt(t *testing.T, m *Main) string {
	t.Helper()
	s := apiJSON(t, m, 201, "POST", "/v1/sales", readyKey, `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`)
	id := s["id"].(string)
	apiJSON(t, m, 201, "POST", "/v1/sales/"+id+"/payments", readyKey, `{"method":"cash","amount":3500}`)
	rc := apiJSON(t, m, 200, "POST", "/v1/sales/"+id+"/complete", readyKey, "")
	return rc["registration"].(string)
}

// /readyz follows the control unit: ready before the first call (unknown is
// not failing) and while it answers; 503 naming the unit and the reason
// once the simulator is stopped and a receipt stays pending; ready again
// once the simulator is back (same certificates directory) and a
// registration succeeds.
//
// Failed before: /readyz answered 200 throughout, while receipts piled up
// pending.
func TestReadyzControlUnitDownAndBack(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "cu-certs")
	journal := filepath.Join(t.TempDir(), "cu.jsonl")
	startUnit := func(addr string) *simcontrolunit.Unit {
		t.Helper()
		u, err := simcontrolunit.New(simcontrolunit.Config{CertsDir: certs, JournalPath: journal})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Start(addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		return u
	}
	u := startUnit("127.0.0.1:0")
	addr := strings.TrimSuffix(strings.TrimPrefix(u.URL(), "https://"), "/tcsserver")
	m := serveLive(t, map[string]any{
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "EX-0001", "control_unit": "cu"}},
		"control_units": map[string]any{"cu": map[string]any{"url": u.URL(),
			"cert_file": filepath.Join(certs, "client.pem"), "key_file": filepath.Join(certs, "client-key.pem"), "ca_file": filepath.Join(certs, "ca.pem")}},
	})
	if status, ps := readyz(t, m); status != 200 {
		t.Fatalf("before any call: %d %q", status, ps)
	}
	if reg := cashReceipt(t, m); reg != "registered" {
		t.Fatalf("receipt %s with the unit up", reg)
	}
	if status, ps := readyz(t, m); status != 200 {
		t.Fatalf("unit up: %d %q", status, ps)
	}

	u.Close() // the simulator is stopped
	// Two sales: the first call may find its kept-alive connection cut
	// ("the connection was dropped"); the next one dials and is refused.
	for range 2 {
		if reg := cashReceipt(t, m); reg != "pending" {
			t.Fatalf("receipt %s with the unit stopped", reg)
		}
	}
	status, ps := readyz(t, m)
	if status != 503 || len(ps) != 1 || !strings.Contains(ps[0], `control unit "cu"`) || !strings.Contains(ps[0], "connection refused") {
		t.Fatalf("unit stopped: %d %q; want 503 naming the control unit and why", status, ps)
	}
	if mt := metricsText(t, m); !strings.Contains(mt, `kvitt_dependency_up{dependency="control_unit:cu",kind="control_unit"} 0`) ||
		!strings.Contains(mt, `kvitt_dependency_blocking{dependency="control_unit:cu",kind="control_unit"} 1`) {
		t.Errorf("metrics while the unit is stopped:\n%s", grep(mt, "kvitt_dependency"))
	}

	startUnit(addr) // started again, with the same certificates
	if reg := cashReceipt(t, m); reg != "registered" {
		t.Fatalf("receipt %s once the unit is back", reg)
	}
	if status, ps := readyz(t, m); status != 200 {
		t.Errorf("unit back and a registration succeeded: %d %q", status, ps)
	}
	if mt := metricsText(t, m); !strings.Contains(mt, `kvitt_dependency_up{dependency="control_unit:cu",kind="control_unit"} 1`) {
		t.Errorf("metrics once the unit is back:\n%s", grep(mt, "kvitt_dependency"))
	}
}

// A Swish that answers 401 (it does not accept the merchant certificate):
// every Swish payment fails at once, and /readyz is 503 naming swish and
// why. Failed before: /readyz answered 200.
func TestReadyzSwish401(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	dir := t.TempDir()
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	m := serveLive(t, map[string]any{
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "EX-0001"}},
		"swish": map[string]any{"base_url": srv.URL + "/swish-cpcapi/api/", "payee_alias": simswish.DefaultPayeeAlias,
			"cert_file": filepath.Join(dir, "merchant.pem"), "ca_file": ca, "callback_url": "https://pay.example.se"},
	})
	if status, ps := readyz(t, m); status != 200 {
		t.Fatalf("before any call: %d %q", status, ps)
	}
	s := apiJSON(t, m, 201, "POST", "/v1/sales", readyKey, `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12}]}`)
	r := apiDo(t, m, "POST", "/v1/sales/"+s["id"].(string)+"/payments", readyKey, `{"method":"swish","amount":3500}`)
	if !strings.Contains(string(r.body), "HTTP401") {
		t.Fatalf("swish payment: %d %s", r.status, r.body)
	}
	status, ps := readyz(t, m)
	if status != 503 || len(ps) != 1 || !strings.HasPrefix(ps[0], "swish: ") || !strings.Contains(ps[0], "Swish did not accept the merchant certificate (HTTP 401)") {
		t.Fatalf("readyz: %d %q; want 503 naming swish and why", status, ps)
	}
	if mt := metricsText(t, m); !strings.Contains(mt, `kvitt_dependency_up{dependency="swish",kind="provider"} 0`) {
		t.Errorf("metrics:\n%s", grep(mt, "kvitt_dependency"))
	}
}

func grep(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
