package simswish

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// These tests speak raw HTTP with the documented JSON fixtures: they share
// nothing with package swish.

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func start(t *testing.T, opts Options) *Sim {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type merchant struct {
	s *Sim
	c *http.Client
}

func newMerchant(s *Sim) merchant {
	tr := &http.Transport{TLSClientConfig: s.PKI().ClientTLSConfig(), ForceAttemptHTTP2: true}
	return merchant{s, &http.Client{Transport: tr}}
}

func (m merchant) do(t *testing.T, method, path, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, m.s.URL()+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := m.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// sameShape checks that got has every key of want, with the same JSON type
// wherever want is not null, and no key want lacks.
func sameShape(t *testing.T, got, want []byte) map[string]any {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok {
			t.Errorf("answer lacks %q", k)
			continue
		}
		if wv != nil && (gv == nil || typeName(gv) != typeName(wv)) {
			t.Errorf("%q is %T %v, fixture has %T", k, gv, gv, wv)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("answer has %q, which the fixture lacks", k)
		}
	}
	return g
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "other"
}

func withField(t *testing.T, b []byte, key string, value any) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	out, _ := json.Marshal(m)
	return out
}

const uuid1 = "11A1B2C3D4E5F60718293A4B5C6D7E8F"

func TestFixturesRoundTrip(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)

	// In-store create: 201, Location, token.
	resp, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
	if resp.StatusCode != 201 || resp.Header.Get("PaymentRequestToken") == "" || resp.Header.Get("Location") != s.URL()+"v1/paymentrequests/"+uuid1 {
		t.Fatalf("create: %d %v", resp.StatusCode, resp.Header)
	}
	// E-commerce create: no token.
	const uuid2 = "22A1B2C3D4E5F60718293A4B5C6D7E8F"
	resp, _ = m.do(t, "PUT", "v2/paymentrequests/"+uuid2, "application/json", fixture(t, "create_ecommerce.json"))
	if resp.StatusCode != 201 || resp.Header.Get("PaymentRequestToken") != "" {
		t.Fatalf("e-commerce create: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := m.do(t, "GET", "v1/paymentrequests/"+uuid2, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("get: %d", resp.StatusCode)
	}
	g := sameShape(t, body, fixture(t, "payment_created.json"))
	if g["amount"] != 100.0 || g["status"] != "CREATED" || g["id"] != uuid2 || g["payerAlias"] != "46712345678" {
		t.Errorf("created: %s", body)
	}

	if err := s.Customer().Do(context.Background(), uuid2, "approve"); err != nil {
		t.Fatal(err)
	}
	_, body = m.do(t, "GET", "v1/paymentrequests/"+uuid2, "", nil)
	g = sameShape(t, body, fixture(t, "payment_paid.json"))
	if g["status"] != "PAID" || !bytes.Contains(body, []byte(`"amount":100.00`)) {
		t.Errorf("paid: %s", body)
	}
	paymentRef := g["paymentReference"].(string)

	// Refund with the documented body, pointing at the real payment.
	const uuid3 = "33A1B2C3D4E5F60718293A4B5C6D7E8F"
	rbody := withField(t, fixture(t, "refund_create.json"), "originalPaymentReference", paymentRef)
	resp, _ = m.do(t, "PUT", "v2/refunds/"+uuid3, "application/json", rbody)
	if resp.StatusCode != 201 || resp.Header.Get("Location") != s.URL()+"v1/refunds/"+uuid3 {
		t.Fatalf("refund: %d", resp.StatusCode)
	}
	_, body = m.do(t, "GET", "v1/refunds/"+uuid3, "", nil)
	g = sameShape(t, body, fixture(t, "refund_paid.json"))
	if g["status"] != "PAID" || g["payeeAlias"] != "46712345678" {
		t.Errorf("refund: %s", body)
	}

	// Cancel with the documented JSON patch.
	resp, body = m.do(t, "PATCH", "v1/paymentrequests/"+uuid1, "application/json-patch+json", fixture(t, "cancel_patch.json"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"CANCELLED"`) {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}

	// A 422 in the documented shape.
	bad := withField(t, fixture(t, "create_instore.json"), "callbackUrl", "http://example.com/cb")
	resp, body = m.do(t, "PUT", "v2/paymentrequests/44A1B2C3D4E5F60718293A4B5C6D7E8F", "application/json", bad)
	if resp.StatusCode != 422 {
		t.Fatalf("http callback: %d", resp.StatusCode)
	}
	var got, want []map[string]any
	json.Unmarshal(body, &got)
	json.Unmarshal(fixture(t, "error_422.json"), &want)
	if len(got) != 1 || got[0]["errorCode"] != want[0]["errorCode"] || got[0]["errorMessage"] != want[0]["errorMessage"] {
		t.Errorf("422 body %s", body)
	}
	if _, ok := got[0]["additionalInformation"]; !ok {
		t.Error("422 lacks additionalInformation")
	}
}

func TestCreateRefusals(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	base := fixture(t, "create_instore.json")
	tests := []struct {
		name   string
		ctype  string
		body   []byte
		status int
		code   string
	}{
		{"content type", "text/plain", base, 415, ""},
		{"malformed", "application/json", []byte(`{"amount":`), 400, ""},
		{"number amount", "application/json", []byte(strings.Replace(string(base), `"100.00"`, `100.00`, 1)), 400, ""},
		{"other merchant", "application/json", withField(t, base, "payeeAlias", "1231181189"), 403, ""},
		{"no payee", "application/json", withField(t, base, "payeeAlias", nil), 422, "RP01"},
		{"reference", "application/json", withField(t, base, "payeePaymentReference", "a_b"), 422, "FF08"},
		{"callback", "application/json", withField(t, base, "callbackUrl", nil), 422, "RP03"},
		{"payer", "application/json", withField(t, base, "payerAlias", "0701234567"), 422, "BE18"},
		{"amount format", "application/json", withField(t, base, "amount", "100.5"), 422, "PA02"},
		{"amount large", "application/json", withField(t, base, "amount", "1000000000000.00"), 422, "AM02"},
		{"amount zero", "application/json", withField(t, base, "amount", "0.00"), 422, "AM06"},
		{"currency", "application/json", withField(t, base, "currency", "EUR"), 422, "AM03"},
		{"message", "application/json", withField(t, base, "message", "no [brackets]"), 422, "RP02"},
		{"forced ACMT03", "application/json", withField(t, base, "message", "ACMT03"), 422, "ACMT03"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := strings.Repeat(string("ABCDEF0123456789"[i%16]), 32)
			resp, body := m.do(t, "PUT", "v2/paymentrequests/"+id, tt.ctype, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" && !strings.Contains(string(body), `"errorCode":"`+tt.code+`"`) {
				t.Errorf("body %s lacks %s", body, tt.code)
			}
		})
	}
	if n := s.PaymentCount(); n != 0 {
		t.Errorf("%d refused requests were stored", n)
	}
	resp, _ := m.do(t, "PUT", "v2/paymentrequests/not-a-uuid", "application/json", base)
	if resp.StatusCode != 400 {
		t.Errorf("bad UUID: %d", resp.StatusCode)
	}
}

func TestDuplicateInstructionUUID(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	body := fixture(t, "create_instore.json")
	r1, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", body)
	r2, _ := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", body)
	if r1.StatusCode != 201 || r2.StatusCode != 201 || r1.Header.Get("PaymentRequestToken") != r2.Header.Get("PaymentRequestToken") {
		t.Fatalf("replay: %d %d", r1.StatusCode, r2.StatusCode)
	}
	r3, b3 := m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", withField(t, body, "amount", "1.00"))
	if r3.StatusCode != 422 || !strings.Contains(string(b3), "RP09") {
		t.Fatalf("reuse with another body: %d %s", r3.StatusCode, b3)
	}
	if s.PaymentCount() != 1 {
		t.Fatalf("%d payment requests for one instructionUUID", s.PaymentCount())
	}
}

func TestOtherMerchantCannotSee(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
	_, _, cert, err := s.PKI().IssueMerchant("1231181189")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.PKI().ClientTLSConfig()
	cfg.Certificates = nil
	cfg.Certificates = append(cfg.Certificates, cert)
	other := merchant{s, &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}}
	if resp, _ := other.do(t, "GET", "v1/paymentrequests/"+uuid1, "", nil); resp.StatusCode != 404 {
		t.Errorf("another merchant reads the request: %d", resp.StatusCode)
	}
	if resp, _ := other.do(t, "PATCH", "v1/paymentrequests/"+uuid1, "application/json-patch+json", fixture(t, "cancel_patch.json")); resp.StatusCode != 404 {
		t.Errorf("another merchant cancels the request: %d", resp.StatusCode)
	}
}

func TestPayerWindowAndCallbacks(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	got := make(chan []byte, 4)
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer recv.Close()
	s := start(t, Options{Now: clock, CallbackTLS: recv.Client().Transport.(*http.Transport).TLSClientConfig})
	m := newMerchant(s)
	body := withField(t, fixture(t, "create_ecommerce.json"), "callbackUrl", recv.URL+"/cb/secret")
	m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", body)
	if st, _, _ := s.PaymentStatus(uuid1); st != "CREATED" {
		t.Fatalf("status %s", st)
	}
	mu.Lock()
	now = now.Add(3*time.Minute + time.Second)
	mu.Unlock()
	_, b := m.do(t, "GET", "v1/paymentrequests/"+uuid1, "", nil)
	if !strings.Contains(string(b), `"errorCode":"TM01"`) || !strings.Contains(string(b), `"status":"ERROR"`) {
		t.Fatalf("after the window: %s", b)
	}
	select {
	case cb := <-got:
		sameShape(t, cb, fixture(t, "payment_error.json"))
		if !strings.Contains(string(cb), "TM01") {
			t.Errorf("callback %s", cb)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no callback")
	}
	if cbs := s.Callbacks(); len(cbs) != 1 || cbs[0].URL != recv.URL+"/cb/secret" {
		t.Errorf("recorded %+v", cbs)
	}

	// Dropped callbacks are recorded, not sent.
	s.SetDropCallbacks(true)
	const uuid2 = "22A1B2C3D4E5F60718293A4B5C6D7E8F"
	m.do(t, "PUT", "v2/paymentrequests/"+uuid2, "application/json", withField(t, body, "payerAlias", nil))
	if err := s.Customer().Do(context.Background(), uuid2, "approve"); err != nil {
		t.Fatal(err)
	}
	cbs := s.Callbacks()
	if len(cbs) != 2 || !cbs[1].Dropped {
		t.Errorf("callbacks %+v", cbs)
	}
}

func TestAutoApprove(t *testing.T) {
	s := start(t, Options{AutoApprove: time.Millisecond, DropCallbacks: true})
	m := newMerchant(s)
	m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
	for i := 0; ; i++ {
		if st, _, _ := s.PaymentStatus(uuid1); st == "PAID" {
			break
		}
		if i > 2000 {
			t.Fatal("never approved")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCustomer(t *testing.T) {
	s := start(t, Options{DropCallbacks: true})
	m := newMerchant(s)
	m.do(t, "PUT", "v2/paymentrequests/"+uuid1, "application/json", fixture(t, "create_instore.json"))
	c := s.Customer()
	p := &kvitt.Payment{Reference: uuid1}
	ctx := context.Background()
	if err := c.Act(ctx, nil, p, "dance", kvitt.CustomerOptions{}); kvitt.ErrorCode(err) != kvitt.EINVALID {
		t.Errorf("unknown action: %v", err)
	}
	if err := c.Act(ctx, nil, &kvitt.Payment{Reference: "99A1B2C3D4E5F60718293A4B5C6D7E8F"}, kvitt.CustomerApprove, kvitt.CustomerOptions{}); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("unknown payment: %v", err)
	}
	if err := c.Act(ctx, nil, p, kvitt.CustomerDecline, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := s.PaymentStatus(uuid1); st != "DECLINED" {
		t.Errorf("status %s", st)
	}
	if err := c.Act(ctx, nil, p, kvitt.CustomerApprove, kvitt.CustomerOptions{}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("approve after decline: %v", err)
	}
	// The customer interface needs no client certificate, the API does.
	resp, err := c.HTTP.Get(s.URL() + "v1/paymentrequests/" + uuid1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("API without a client certificate: %d", resp.StatusCode)
	}
}

func TestMainWritesCerts(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"--addr", "127.0.0.1:0", "--certs", dir}, lockedWriter{&mu, &out})
	}()
	for i := 0; ; i++ {
		mu.Lock()
		s := out.String()
		mu.Unlock()
		if strings.Contains(s, "merchant number: "+DefaultPayeeAlias) {
			break
		}
		if i > 2000 {
			t.Fatalf("no banner: %q", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "merchant.pem", "server.pem"} {
		if _, err := os.Stat(dir + "/" + f); err != nil {
			t.Error(err)
		}
	}
	if st, _ := os.Stat(dir + "/merchant.pem"); st.Mode().Perm() != 0o600 {
		t.Errorf("merchant.pem mode %v", st.Mode())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
