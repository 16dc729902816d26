package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// In the sandbox a Swish payment through the Paygate runs end to end over
// both channels, and a credit round-trips.
func TestSandboxComputop(t *testing.T) {
	const key = "computop-admin-key"
	m := runServe(t, t.TempDir(), envWith(map[string]string{"KVITT_ADMIN_KEY": key}), &lockedBuffer{})
	defer m.Close()
	sale := func() string {
		s := apiJSON(t, m, 201, "POST", "/v1/sales", key, `{"till_id":"1","currency":"SEK","lines":[{"name":"Kaffe","quantity":1,"unit_price":25000,"vat_rate":12}]}`)
		return s["id"].(string)
	}
	wait := func(id, state string) map[string]any {
		deadline := time.Now().Add(10 * time.Second)
		for {
			p := apiJSON(t, m, 200, "GET", "/v1/payments/"+id, key, "")
			if p["state"] == state {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment %s is %v, want %s: %v", id, p["state"], state, p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Channel App: the till shows the token as a QR code.
	s1 := sale()
	p := apiJSON(t, m, 201, "POST", "/v1/sales/"+s1+"/payments", key, `{"method":"computop","amount":25000}`)
	id := p["id"].(string)
	p = wait(id, "pending")
	action, _ := p["action"].(map[string]any)
	if action == nil || action["type"] != "show_qr" || !strings.HasPrefix(action["app_url"].(string), "swish://paymentrequest?token=") {
		t.Fatalf("action %v", p["action"])
	}
	apiJSON(t, m, 200, "POST", "/v1/sandbox/payments/"+id+"/approve", key, "")
	wait(id, "paid")
	// Computop refuses a credit until the payment's notification was
	// acknowledged, which may come a moment after kvitt learned "paid" by
	// inquiry; the refusal says so, nothing is refunded, and the cashier
	// refunds again.
	var r map[string]any
	for try := 0; ; try++ {
		r = apiJSON(t, m, 201, "POST", "/v1/payments/"+id+"/refunds", key, `{"amount":5000}`)
		if r["state"] == "succeeded" {
			break
		}
		msg, _ := r["message"].(string)
		if r["state"] != "failed" || !strings.Contains(msg, "refund again in a minute") || try == 20 {
			t.Fatalf("refund %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Channel Web: the customer's number; declined on the phone.
	s2 := sale()
	p = apiJSON(t, m, 201, "POST", "/v1/sales/"+s2+"/payments", key, `{"method":"computop","amount":25000,"payer_alias":"46701234567"}`)
	id = p["id"].(string)
	wait(id, "pending")
	apiJSON(t, m, 200, "POST", "/v1/sandbox/payments/"+id+"/decline", key, "")
	p = wait(id, "declined")
	if !strings.Contains(p["message"].(string), "declined") {
		t.Errorf("message %v", p["message"])
	}
}

func TestComputopBatchBuildCheck(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "credits.csv")
	os.WriteFile(in, []byte("0123456789abcdef0123456789abcdef,4F1C2B3A4D5E6F708192A3B4C5D6E7F8,12550,ref_01\nfedcba9876543210fedcba9876543210,5A1C2B3A4D5E6F708192A3B4C5D6E7F8,100,ref_02\n"), 0o644)
	out := filepath.Join(dir, "T20250314kvitt_test001.dat")
	var stdout bytes.Buffer
	if err := runComputop(t.Context(), []string{"batch", "build", "--merchant-id", "kvitt_test", "--date", "20250314", "--out", out, in}, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile("../../computop/testdata/batch_2.1.golden")
	if !bytes.Equal(got, want) {
		t.Errorf("built\n%s\nwant\n%s", got, want)
	}
	stdout.Reset()
	if err := runComputop(t.Context(), []string{"batch", "check", out}, &stdout, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "2 records, sum 126.50 SEK") {
		t.Errorf("check: %s", stdout.String())
	}
	stdout.Reset()
	if err := runComputop(t.Context(), []string{"batch", "check", "--response", "../../computop/testdata/response_2.1.dat"}, &stdout, &stdout); err != nil || !strings.Contains(stdout.String(), "1 failed") {
		t.Errorf("check response: %s %v", stdout.String(), err)
	}
	os.WriteFile(in, []byte("0123456789abcdef0123456789abcdef,T1,99x\n"), 0o644)
	if err := runComputop(t.Context(), []string{"batch", "build", "--merchant-id", "m", "--out", filepath.Join(dir, "bad.dat"), in}, &stdout, &stdout); err == nil {
		t.Error("bad amount accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.dat")); err == nil {
		t.Error("a failed build left its file")
	}
	bad := filepath.Join(dir, "badfoot.dat")
	os.WriteFile(bad, bytes.Replace(got, []byte("FOOT,2,12650"), []byte("FOOT,2,12651"), 1), 0o644)
	if err := runComputop(t.Context(), []string{"batch", "check", bad}, &stdout, &stdout); err == nil || !strings.Contains(err.Error(), "FOOT says") {
		t.Errorf("bad FOOT: %v", err)
	}
}
