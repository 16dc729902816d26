package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadyzFollowsControlUnit runs kvitt in live mode and "kvitt sim
// controlunit --certs DIR" as processes of their own, as an operator would.
// /readyz reports the control unit's last real outcome:
//
//   - the unit answers: ready;
//   - the simulator is stopped: receipts stay pending and /readyz is 503
//     naming the control unit and "connection refused";
//   - a simulator with other certificates (a new CA) takes its place: 503
//     naming the TLS failure ("does not trust the control unit's
//     certificate"), logged by kvitt;
//   - the simulator is started again with the first certificates directory:
//     it kept its CA, so kvitt (configured from the first start's files)
//     connects, the next sale registers the receipts left pending, and
//     /readyz is ready again.
//
// Failed before: /readyz answered 200 throughout, and the restarted
// simulator had made a new CA, so kvitt failed with "unknown authority"
// until it was given the new files.
func TestReadyzFollowsControlUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and the control unit simulator as processes")
	}
	bin := buildKvitt(t)
	dir := t.TempDir()
	cuAddr, kvAddr := freeAddr(t), freeAddr(t)
	certs := filepath.Join(dir, "cu-certs")
	startCU := func(certsDir string) *proc {
		p := startProc(t, nil, bin, "sim", "controlunit", "--addr", cuAddr, "--certs", certsDir, "--journal", filepath.Join(dir, "cu.jsonl"))
		eventually(t, "the control unit listens", func() string {
			c, err := net.Dial("tcp", cuAddr)
			if err != nil {
				return err.Error()
			}
			c.Close()
			return ""
		})
		return p
	}
	cu := startCU(certs)

	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Redo AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Redo", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":    []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "RE-0001", "control_unit": "cu"}},
		"control_units": map[string]any{"cu": map[string]any{"url": "https://" + cuAddr,
			"cert_file": filepath.Join(certs, "client.pem"), "key_file": filepath.Join(certs, "client-key.pem"), "ca_file": filepath.Join(certs, "ca.pem")}},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "kvitt.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	kv := startProc(t, []string{"KVITT_ADMIN_KEY=" + adminKey}, bin, "serve", "--config", cfgPath, "--data", filepath.Join(dir, "data"), "--addr", kvAddr)
	s := &served{t: t, key: adminKey, base: "http://" + kvAddr, log: kv.out}
	eventually(t, "kvitt healthz", func() string {
		res, err := http.Get(s.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		return ""
	})

	sell := func() apiReceipt {
		t.Helper()
		var sale struct {
			ID string `json:"id"`
		}
		s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Bulle", "unit_price": 3500, "vat_rate": 12}}}, &sale)
		s.must("POST", "/v1/sales/"+sale.ID+"/payments", map[string]any{"method": "cash", "amount": 3500}, nil)
		var rc apiReceipt
		s.must("POST", "/v1/sales/"+sale.ID+"/complete", nil, &rc)
		return rc
	}
	ready := func() (int, []string) {
		t.Helper()
		var body struct {
			Ready    bool     `json:"ready"`
			Problems []string `json:"problems"`
		}
		code, raw := s.do("GET", "/readyz", nil, nil)
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			t.Fatalf("readyz: %v: %s", err, raw)
		}
		return code, body.Problems
	}
	wantProblem := func(when string, words ...string) {
		t.Helper()
		code, ps := ready()
		ok := code == http.StatusServiceUnavailable && len(ps) == 1
		for _, w := range words {
			ok = ok && strings.Contains(ps[0], w)
		}
		if !ok {
			t.Fatalf("%s: readyz %d %q; want 503 saying %q", when, code, ps, words)
		}
	}

	if rc := sell(); rc.Registration != "registered" {
		t.Fatalf("receipt %s with the unit up", rc.Registration)
	}
	if code, ps := ready(); code != http.StatusOK {
		t.Fatalf("unit up: readyz %d %q", code, ps)
	}

	cu.kill9()
	// Two sales: the first call may find its kept-alive connection cut
	// ("the connection was dropped"); the next one dials and is refused.
	for range 2 {
		if rc := sell(); rc.Registration != "pending" {
			t.Fatalf("receipt %s with the unit stopped", rc.Registration)
		}
	}
	wantProblem("unit stopped", `control unit "cu"`, "connection refused")

	other := startCU(filepath.Join(dir, "other-certs"))
	if rc := sell(); rc.Registration != "pending" {
		t.Fatalf("receipt %s from a unit kvitt does not trust", rc.Registration)
	}
	wantProblem("unit with another CA", `control unit "cu"`, "TLS handshake failed", "does not trust the control unit's certificate", "unknown authority")
	if !strings.Contains(kv.out.String(), "level=WARN") || !strings.Contains(kv.out.String(), "TLS handshake failed") {
		t.Errorf("kvitt did not log the TLS failure:\n%s", kv.out.String())
	}
	other.kill9()

	startCU(certs) // the first certificates: kept
	if rc := sell(); rc.Registration != "registered" || rc.ControlCode == "" {
		t.Fatalf("receipt %s %q once the unit is back with its certificates", rc.Registration, rc.ControlCode)
	}
	if code, ps := ready(); code != http.StatusOK {
		t.Errorf("unit back: readyz %d %q", code, ps)
	}
	// The unit's own record holds every receipt, in serial order: the three
	// left pending were registered before the new one.
	data, err := os.ReadFile(filepath.Join(dir, "cu.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var serials []int64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e struct {
			Data string `json:"data"`
		}
		var d struct {
			Serial int64 `json:"serial"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || json.Unmarshal([]byte(e.Data), &d) != nil {
			t.Fatalf("control unit journal line %q", line)
		}
		serials = append(serials, d.Serial)
	}
	if !slices.Equal(serials, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("the control unit registered serials %v; want 1 to 5", serials)
	}
}
