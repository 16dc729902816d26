package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The live Swish set-up of docs/swish.md, step by step, against "kvitt sim
// swish" standing in for Swish: the commands are the documented ones, run
// as the program runs them.

const setupPayee = "1234679304"

// simSwish runs "kvitt sim swish args..." until stop; it returns the API URL
// and the server root the banner prints.
func simSwish(t *testing.T, args ...string) (api, root string, out *lockedBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"sim", "swish"}, args...), envWith(nil), out, out) }()
	for i := 0; !strings.Contains(out.String(), "merchant number:"); i++ {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("kvitt sim swish: %v\n%s", err, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if i > 2000 {
			cancel()
			t.Fatalf("no banner:\n%s", out.String())
		}
	}
	line := func(key string) string {
		s := out.String()
		i := strings.Index(s, key)
		return strings.TrimSpace(strings.SplitN(s[i+len(key):], "\n", 2)[0])
	}
	api = line("API URL:")
	u, _ := url.Parse(api)
	root = "https://" + u.Host + "/"
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("kvitt sim swish: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return api, root, out, stop
}

func mustCmd(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := kvittCmd(args...)
	if err != nil {
		t.Fatalf("kvitt %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// liveKvitt runs "kvitt serve --live --config" with a swish section.
func liveKvitt(t *testing.T, swishCfg map[string]any) *Main {
	t.Helper()
	return liveKvittLog(t, swishCfg, io.Discard)
}

// liveKvittLog is liveKvitt with kvitt's log written to logs.
func liveKvittLog(t *testing.T, swishCfg map[string]any, logs io.Writer) *Main {
	t.Helper()
	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Butiken AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Butiken", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":    []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "BT-0001"}},
		"swish":    swishCfg,
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "kvitt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain(envWith(map[string]string{"KVITT_ADMIN_KEY": "ui-test-key"}), io.Discard, logs)
	if err := m.ParseFlags([]string{"--live", "--config", path, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// customer acts as the customer through the simulator's customer interface,
// as docs/swish.md does with curl.
func customer(t *testing.T, root, caFile, reference, action string) {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	res, err := c.Post(root+"sim/customer/paymentrequests/"+reference+"/"+action, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("customer %s: %d %s", action, res.StatusCode, body)
	}
}

// swishPayment starts a Swish payment of 34.50 at till 1.
func swishPayment(t *testing.T, m *Main) map[string]any {
	t.Helper()
	base := "http://" + m.Addr
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kaffe","quantity":1,"unit_price":3450,"vat_rate":12}]}`)
	return call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"swish","amount":3450}`)
}

func waitState(t *testing.T, m *Main, id, state string) map[string]any {
	t.Helper()
	var p map[string]any
	for i := 0; i < 200; i++ {
		if p = call(t, "GET", "http://"+m.Addr+"/v1/payments/"+id, ""); p["state"] == state {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("payment %s is %v, want %s: %v", id, p["state"], state, p)
	return nil
}

// TestLiveSwishSetUpFromCSR: CSR → the "portal" (sign-csr) → import →
// configuration → callbacks through a TLS-terminating proxy → a test
// payment, paid; then the simulator restarts on its directory, as Swish's
// CA stays, and the imported certificate still works.
func TestLiveSwishSetUpFromCSR(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "swish-sim-certs")
	key, csr, signed, merchant := filepath.Join(dir, "swish.key"), filepath.Join(dir, "swish.csr"),
		filepath.Join(dir, "swish-signed.pem"), filepath.Join(dir, "swish-merchant.pem")
	caFile := filepath.Join(certs, "ca.pem")

	// 1. The key and the request.
	mustCmd(t, "swish", "csr", "--key", key, "--csr", csr, "--org", "Butiken AB", "--cn", setupPayee)
	// 2. The certificate administrator "uploads" the CSR and downloads the certificate.
	out, _ := mustCmd(t, "sim", "swish", "sign-csr", "--certs", certs, "--csr", csr, "--out", signed, "--payee", setupPayee)
	if !strings.Contains(out, "kvitt swish cert import --cert "+signed) {
		t.Errorf("sign-csr does not say what comes next:\n%s", out)
	}
	// 3. Import: no warning, a complete chain.
	out, stderr := mustCmd(t, "swish", "cert", "import", "--cert", signed, "--key", key, "--out", merchant, "--ca", caFile)
	if stderr != "" || !strings.Contains(out, "Imported CN="+setupPayee) || !strings.Contains(out, "Customer CA1 for Swish") {
		t.Fatalf("import:\n%s%s", out, stderr)
	}

	// 4. Callbacks: Swish calls https only, so a TLS-terminating proxy
	// forwards /v1/callbacks/ to kvitt's plain HTTP. Rehearsing, the proxy
	// serves the simulator's server certificate (127.0.0.1), and the
	// simulator trusts it with --callback-ca.
	var kvittAddr atomic.Value
	var callbacks atomic.Int32
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: "http", Host: kvittAddr.Load().(string)})
	}}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	psrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/callbacks/") {
			http.NotFound(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		proxy.ServeHTTP(rec, r)
		if rec.status < 300 {
			callbacks.Add(1)
		}
	}), ErrorLog: log.New(io.Discard, "", 0)}
	go psrv.ServeTLS(pln, filepath.Join(certs, "server.pem"), filepath.Join(certs, "server-key.pem"))
	defer psrv.Close()
	callbackURL := "https://" + pln.Addr().String()

	api, root, simOut, stopSim := simSwish(t, "--addr", "127.0.0.1:0", "--certs", certs, "--callback-ca", caFile)
	if !strings.Contains(simOut.String(), "kept the CA") {
		t.Errorf("the simulator did not take the CA that signed the certificate:\n%s", simOut.String())
	}

	// 5. The configuration keys, and a test payment.
	m := liveKvitt(t, map[string]any{"base_url": api, "payee_alias": setupPayee, "cert_file": merchant, "ca_file": caFile,
		"callback_url": callbackURL, "message": "Butiken"})
	kvittAddr.Store(m.Addr)
	p := swishPayment(t, m)
	if p["state"] != "pending" || p["action"].(map[string]any)["type"] != "show_qr" {
		t.Fatalf("payment = %v", p)
	}
	customer(t, root, caFile, p["reference"].(string), "approve")
	waitState(t, m, p["id"].(string), "paid")
	for i := 0; callbacks.Load() == 0; i++ {
		if i > 200 {
			t.Fatal("no callback reached kvitt through the proxy")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The simulator restarts on the same directory: same CA, and the
	// imported certificate keeps working.
	addr := strings.SplitN(strings.TrimPrefix(api, "https://"), "/", 2)[0]
	stopSim()
	_, _, simOut, _ = simSwish(t, "--addr", addr, "--certs", certs, "--callback-ca", caFile)
	if !strings.Contains(simOut.String(), "kept the CA") {
		t.Errorf("restart:\n%s", simOut.String())
	}
	p = swishPayment(t, m)
	if p["state"] != "pending" {
		t.Fatalf("after the simulator's restart: %v", p)
	}
	customer(t, root, caFile, p["reference"].(string), "approve")
	waitState(t, m, p["id"].(string), "paid")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	return s.ResponseWriter.Write(b)
}

// TestLiveSwishOwnCA is the operator's report: a CSR signed by one's own
// test CA is imported, and every payment failed with HTTP 401 and nothing
// said why. Now the import warns, the payment fails at once saying that
// Swish did not accept the merchant certificate and what to check, the
// log says it too, and a simulator told to trust that CA (--client-ca)
// takes the payment.
func TestLiveSwishOwnCA(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "swish-sim-certs")
	key, csrFile, signed, merchant := filepath.Join(dir, "swish.key"), filepath.Join(dir, "swish.csr"),
		filepath.Join(dir, "own-signed.pem"), filepath.Join(dir, "swish-merchant.pem")
	mustCmd(t, "swish", "csr", "--key", key, "--csr", csrFile, "--cn", setupPayee)

	// The merchant's own CA signs the CSR.
	own := newChainCA(t, "Butikens test-CA")
	b, _ := os.ReadFile(csrFile)
	blk, _ := pem.Decode(b)
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	_, leaf := mkCert(t, own.inter, own.interKey, setupPayee, false, csr.PublicKey)
	os.WriteFile(signed, certsPEM(leaf, own.inter), 0o644)
	ownRoot := filepath.Join(dir, "own-root.pem")
	os.WriteFile(ownRoot, certsPEM(own.root), 0o644)

	_, stderr := mustCmd(t, "swish", "cert", "import", "--cert", signed, "--key", key, "--out", merchant)
	if !strings.Contains(stderr, "warning: the certificate was not issued by a Swish CA (issuer CN=Butikens test-CA Customer CA1)") {
		t.Errorf("import said nothing of the issuer:\n%s", stderr)
	}

	// kvitt's own log (the process's stderr).
	var logs lockedBuffer

	api, root, _, stopSim := simSwish(t, "--addr", "127.0.0.1:0", "--certs", certs)
	caFile := filepath.Join(certs, "ca.pem")
	m := liveKvittLog(t, map[string]any{"base_url": api, "payee_alias": setupPayee, "cert_file": merchant, "ca_file": caFile,
		"callback_url": "https://127.0.0.1:1"}, &logs)
	p := swishPayment(t, m)
	want := `Swish did not accept the merchant certificate (TLS alert "unknown certificate authority"): check that the certificate was issued by Swish for payee alias ` + setupPayee
	if p["state"] != "failed" || !strings.HasPrefix(p["message"].(string), want) || !strings.Contains(p["message"].(string), "issued by CN=Butikens test-CA Customer CA1") {
		t.Fatalf("payment with a certificate Swish does not know:\n%v\nwant a failed payment whose message starts %q", p, want)
	}
	// (The log quotes the message: its quotation marks come escaped.)
	if l := logs.String(); !strings.Contains(l, "level=ERROR msg=\"Swish did not accept the merchant certificate (TLS alert") ||
		!strings.Contains(l, "check that the certificate was issued by Swish for payee alias "+setupPayee) {
		t.Errorf("log:\n%s", l)
	}

	// Told to trust that CA, the simulator takes the payment.
	addr := strings.SplitN(strings.TrimPrefix(api, "https://"), "/", 2)[0]
	stopSim()
	simSwish(t, "--addr", addr, "--certs", certs, "--client-ca", ownRoot)
	p = swishPayment(t, m)
	if p["state"] != "pending" {
		t.Fatalf("with --client-ca: %v", p)
	}
	customer(t, root, caFile, p["reference"].(string), "approve")
	waitState(t, m, p["id"].(string), "paid")
}
