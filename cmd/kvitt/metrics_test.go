package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
)

// kvitt serve wires the metrics of docs/operations.md "Metrics" that need
// the server: the seconds left on each certificate it loaded (here a
// control unit's client certificate) and the job queue read from the store.
func TestServeMetricsWiring(t *testing.T) {
	certs := filepath.Join(t.TempDir(), "cu-certs")
	u, err := simcontrolunit.New(simcontrolunit.Config{CertsDir: certs, JournalPath: filepath.Join(t.TempDir(), "cu.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	m := serveLive(t, map[string]any{
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "EX-0001", "control_unit": "cu"}},
		"control_units": map[string]any{"cu": map[string]any{"url": u.URL(),
			"cert_file": filepath.Join(certs, "client.pem"), "key_file": filepath.Join(certs, "client-key.pem"), "ca_file": filepath.Join(certs, "ca.pem")}},
	})
	if reg := cashReceipt(t, m); reg != "registered" {
		t.Fatalf("receipt %s", reg)
	}
	mt := metricsText(t, m)
	left := regexp.MustCompile(`(?m)^kvitt_certificate_expires_in_seconds\{certificate="control_unit:cu"\} (\S+)$`).FindStringSubmatch(mt)
	if left == nil {
		t.Fatalf("no certificate metric for the control unit:\n%s", grep(mt, "kvitt_certificate"))
	}
	if v, err := strconv.ParseFloat(left[1], 64); err != nil || v <= 0 {
		t.Errorf("control unit certificate: %s seconds left", left[1])
	}
	// The worker's own housekeeping job is always queued.
	if !strings.Contains(mt, `kvitt_jobs_queued{kind="idempotency.gc"} 1`) || !strings.Contains(mt, `kvitt_jobs_dead{kind="idempotency.gc"} 0`) {
		t.Errorf("job queue metrics:\n%s", grep(mt, "kvitt_jobs"))
	}
	if !strings.Contains(mt, `kvitt_payment_transitions_total{method="cash",state="paid"} 1`) {
		t.Errorf("payment metrics:\n%s", grep(mt, "kvitt_payment"))
	}
}
