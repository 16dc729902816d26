package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
)

// TestLiveSwishFromFiles runs "kvitt serve --live" as an operator would set
// it up: the merchant certificate and the CA as files, a config file, and a
// Swish endpoint that is not in-process (a standalone simulator). A Swish
// payment goes to paid through it, and /readyz and /metrics warn about the
// certificate's expiry.
func TestLiveSwishFromFiles(t *testing.T) {
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simswish.New(simswish.Options{PKI: pki, DropCallbacks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	certs := t.TempDir()
	if err := pki.WriteDir(certs); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Exempel AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Exempel", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":    []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "EX-0001"}},
		"swish": map[string]any{
			"base_url": sim.URL(), "payee_alias": sim.PayeeAlias(),
			"cert_file": filepath.Join(certs, "merchant.pem"), "ca_file": filepath.Join(certs, "ca.pem"),
			"callback_url": "https://pay.example.se", "message": "Exempel AB",
			// Far beyond the certificate's life, so the warning shows.
			"expiry_warning": "1000000h",
		},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "kvitt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "KVITT_ADMIN_KEY" {
			return "ui-test-key"
		}
		return ""
	}
	m := NewMain(getenv, io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--config", path, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if m.Config.Sandbox {
		t.Fatal("the config file's sandbox=false was not taken")
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base := "http://" + m.Addr

	ready := call(t, "GET", base+"/readyz", "")
	ws, _ := ready["warnings"].([]any)
	if ready["ready"] != true || len(ws) != 1 || !strings.Contains(ws[0].(string), "Swish certificate expires") {
		t.Errorf("readyz = %v; want ready with a certificate warning", ready)
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `kvitt_certificate_expiry_timestamp_seconds{provider="swish"}`) {
		t.Error("no certificate expiry metric")
	}

	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kaffe","quantity":1,"unit_price":3450,"vat_rate":12}]}`)
	p := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"swish","amount":3450}`)
	if p["state"] != "pending" || p["action"].(map[string]any)["type"] != "show_qr" {
		t.Fatalf("payment = %v", p)
	}
	// The customer pays on the simulator's side; callbacks are lost, so kvitt learns it by asking.
	if err := sim.Customer().Act(context.Background(), nil, &kvitt.Payment{Reference: p["reference"].(string)}, kvitt.CustomerApprove, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := call(t, "POST", base+"/v1/payments/"+p["id"].(string)+"/sync", ""); got["state"] != "paid" {
		t.Fatalf("after the customer paid, sync says %v", got["state"])
	}
	rc := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/complete", "")
	if rc["registration"] != "not_required" {
		t.Errorf("a till without a control unit: receipt registration %v", rc["registration"])
	}
	// In live mode there is no sandbox.
	req, _ := http.NewRequest("POST", base+"/v1/sandbox/payments/"+p["id"].(string)+"/approve", nil)
	req.Header.Set("Authorization", "Bearer ui-test-key")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("sandbox endpoint in live mode: %d", res.StatusCode)
	}
}
