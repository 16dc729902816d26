package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The design's crash target: kill -9 anywhere, and nothing is lost, nothing
// is charged twice, every paid payment ends receipted. Here kvitt runs as its
// own process in live mode against the simulators running as processes of
// their own (so they survive kvitt's death, as real providers do), and it is
// killed with SIGKILL at the worst moments: while a card is being read,
// while a Swish customer is approving, and right after a sale completed
// with the control unit down.

type proc struct {
	t   *testing.T
	cmd *exec.Cmd
	out *syncBuffer
}

func startProc(t *testing.T, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(bin, args...), out: &syncBuffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// kill9 ends the process with SIGKILL: no deferred code, no shutdown.
func (p *proc) kill9() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildKvitt(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvitt")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kvitt")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kvitt: %v\n%s", err, out)
	}
	return bin
}

// tlsClient trusts the CA in the PEM file.
func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func fileExists(path string) func() string {
	return func() string {
		if _, err := os.Stat(path); err != nil {
			return err.Error()
		}
		return ""
	}
}

func TestKill9Anywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and three simulators as processes")
	}
	bin := buildKvitt(t)
	dir := t.TempDir()
	nexoAddr, cuAddr, swishAddr, kvAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	nexoCA := filepath.Join(dir, "nexo-ca.pem")
	startProc(t, nil, bin, "sim", "nexo", "--addr", nexoAddr, "--ca-out", nexoCA, "--processing", "20ms")
	startCU := func() *proc {
		os.RemoveAll(filepath.Join(dir, "cu"))
		p := startProc(t, nil, bin, "sim", "controlunit", "--addr", cuAddr, "--certs", filepath.Join(dir, "cu"), "--journal", filepath.Join(dir, "cu.jsonl"))
		eventually(t, "control unit certificates", fileExists(filepath.Join(dir, "cu", "client-key.pem")))
		return p
	}
	cu := startCU()
	startProc(t, nil, bin, "sim", "swish", "--addr", swishAddr, "--certs", filepath.Join(dir, "swish"))
	eventually(t, "nexo CA", fileExists(nexoCA))
	eventually(t, "swish certificates", fileExists(filepath.Join(dir, "swish", "merchant.pem")))

	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-0001", "control_unit": "cu",
			"terminal": map[string]any{"poiid": "KVITTSIM-0001", "url": "https://" + nexoAddr + "/nexo"}}},
		"control_units": map[string]any{"cu": map[string]any{"url": "https://" + cuAddr,
			"cert_file": filepath.Join(dir, "cu", "client.pem"), "key_file": filepath.Join(dir, "cu", "client-key.pem"), "ca_file": filepath.Join(dir, "cu", "ca.pem")}},
		"swish": map[string]any{"base_url": "https://" + swishAddr + "/swish-cpcapi/api/", "payee_alias": "1234679304",
			"cert_file": filepath.Join(dir, "swish", "merchant.pem"), "ca_file": filepath.Join(dir, "swish", "ca.pem"),
			// Nobody listens there: every callback is lost, and the poller must do.
			"callback_url": "https://127.0.0.1:1"},
		"card": map[string]any{"ca_file": nexoCA},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "kvitt.json")
	os.WriteFile(cfgPath, b, 0o600)
	data := filepath.Join(dir, "data")
	var kv *proc
	s := &served{t: t, key: adminKey, base: "http://" + kvAddr}
	startKvitt := func() {
		kv = startProc(t, []string{"KVITT_ADMIN_KEY=" + adminKey}, bin, "serve", "--config", cfgPath, "--data", data, "--addr", kvAddr)
		s.log = kv.out
		eventually(t, "kvitt healthz", func() string {
			res, err := http.Get(s.base + "/healthz")
			if err != nil {
				return err.Error()
			}
			res.Body.Close()
			return ""
		})
	}
	startKvitt()
	payment := func(id string) map[string]any {
		var p map[string]any
		s.do("GET", "/v1/payments/"+id, nil, &p)
		return p
	}
	nexo := tlsClient(t, nexoCA)
	ledger := func() []map[string]any {
		res, err := nexo.Get("https://" + nexoAddr + "/ledger.json")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var l []map[string]any
		json.NewDecoder(res.Body).Decode(&l)
		return l
	}

	// 1. Card: kvitt dies while the terminal reads the card. The customer
	// pays anyway; after the restart kvitt finds the payment by its ServiceID.
	var sale1, pay1 map[string]any
	s.do("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Lunch", "unit_price": 12900, "vat_rate": 12}}}, &sale1)
	s.do("POST", "/v1/sales/"+sale1["id"].(string)+"/payments", map[string]any{"method": "card", "amount": 12900}, &pay1)
	eventually(t, "the payment is on the terminal", func() string {
		res, err := nexo.Get("https://" + nexoAddr + "/screen.json")
		if err != nil {
			return err.Error()
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), "12900") && !strings.Contains(string(body), "129") {
			return string(body)
		}
		return ""
	})
	kv.kill9()
	res, err := nexo.PostForm("https://"+nexoAddr+"/customer/card", url.Values{"scenario": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	eventually(t, "the terminal charged the card", func() string {
		if n := len(ledger()); n != 1 {
			return "ledger has " + itoa(n)
		}
		return ""
	})
	startKvitt()
	eventually(t, "the card payment is paid after the restart", func() string {
		if st := payment(pay1["id"].(string))["state"]; st != "paid" {
			return "state " + st.(string)
		}
		return ""
	})
	if l := ledger(); len(l) != 1 || l[0]["ServiceID"] != pay1["reference"] {
		t.Fatalf("terminal ledger after recovery: %v; want exactly the one charge %v", l, pay1["reference"])
	}

	// 2. The control unit is down when the sale completes; kvitt is killed
	// right after. The receipt is pending; after both come back it is registered.
	cu.kill9()
	var rc1 map[string]any
	if st, body := s.do("POST", "/v1/sales/"+sale1["id"].(string)+"/complete", nil, &rc1); st != 200 || rc1["registration"] != "pending" {
		t.Fatalf("complete with the control unit down: %d %s", st, body)
	}
	kv.kill9()
	cu = startCU()
	startKvitt()
	eventually(t, "the receipt is registered after the outage and the crash", func() string {
		var r map[string]any
		s.do("GET", "/v1/receipts/"+rc1["id"].(string), nil, &r)
		if r["registration"] != "registered" || r["control_code"] == "" {
			return "registration " + r["registration"].(string)
		}
		return ""
	})

	// 3. Swish: kvitt dies after the payment request reached Swish; the
	// customer approves while it is down; callbacks are lost.
	var sale2, pay2 map[string]any
	s.do("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Glass", "unit_price": 4500, "vat_rate": 12}}}, &sale2)
	s.do("POST", "/v1/sales/"+sale2["id"].(string)+"/payments", map[string]any{"method": "swish", "amount": 4500}, &pay2)
	if pay2["state"] != "pending" {
		t.Fatalf("swish payment: %v", pay2)
	}
	kv.kill9()
	sw := tlsClient(t, filepath.Join(dir, "swish", "ca.pem"))
	res, err = sw.Post("https://"+swishAddr+"/sim/customer/paymentrequests/"+pay2["reference"].(string)+"/approve", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("customer approve: %s", res.Status)
	}
	startKvitt()
	eventually(t, "the Swish payment is paid after the restart", func() string {
		if st := payment(pay2["id"].(string))["state"]; st != "paid" {
			return "state " + st.(string)
		}
		return ""
	})
	var rc2 map[string]any
	s.do("POST", "/v1/sales/"+sale2["id"].(string)+"/complete", nil, &rc2)
	if rc2["serial"].(float64) != rc1["serial"].(float64)+1 || rc2["registration"] != "registered" {
		t.Errorf("second receipt: serial %v after %v, registration %v", rc2["serial"], rc1["serial"], rc2["registration"])
	}

	// Nothing else needs a cashier, and the journal survived every kill.
	var rec map[string]any
	s.do("GET", "/v1/tills/1/recovery", nil, &rec)
	if items := rec["items"].([]any); len(items) != 0 {
		t.Errorf("recovery list after all: %v", items)
	}
	kv.kill9()
	out, err := exec.Command(bin, "journal", "verify", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("journal verify: %v\n%s", err, out)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
