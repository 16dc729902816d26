package http_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// newSettingsEnv is newEnv with the server's optional settings parts set.
func newSettingsEnv(t *testing.T, set func(s *kvitthttp.Server)) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(db, logger)
	t.Cleanup(h.Close)
	e := &env{t: t, hub: h, db: db, fake: &fakeProvider{}}
	h.Register(cash.Provider{}, nil)
	h.Register(e.fake, nil)
	sum := sha256.Sum256([]byte(adminKey))
	s := &kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:]}
	set(s)
	ts := httptest.NewServer(kvitthttp.NewServer(s))
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// A method disabled at a till leaves its buttons and is refused there
// (422 on method), nowhere else; [] enables it again. Admin only.
func TestSettingsDisabledMethods(t *testing.T) {
	e := newEnv(t)
	_, till := e.apiKey("till", "1")
	_, bo := e.apiKey("backoffice", "")
	methods := func(m map[string]any) string {
		var out []string
		for _, x := range m["methods"].([]any) {
			out = append(out, x.(map[string]any)["method"].(string))
		}
		return strings.Join(out, ",")
	}
	wantField(t, e.do("PUT", "/v1/tills/1/disabled-methods", till, `{"methods":["fake"]}`), 403, "")
	wantField(t, e.do("PUT", "/v1/tills/1/disabled-methods", bo, `{"methods":["fake"]}`), 403, "")
	wantField(t, e.do("PUT", "/v1/tills/1/disabled-methods", adminKey, `{"methods":["cash","bitcoin"]}`), 422, "methods[1]")
	wantField(t, e.do("PUT", "/v1/tills/1/disabled-methods", adminKey, `{"methods":["fake","fake"]}`), 422, "methods[1]")
	wantField(t, e.do("PUT", "/v1/tills/1/disabled-methods", adminKey, `{}`), 422, "methods")
	wantField(t, e.do("PUT", "/v1/tills/nope/disabled-methods", adminKey, `{"methods":[]}`), 404, "")

	m := e.must(200, "PUT", "/v1/tills/1/disabled-methods", adminKey, `{"methods":["fake"]}`)
	if got := methods(m); got != "cash" {
		t.Errorf("till 1 after disabling fake: %s", got)
	}
	if got := methods(e.must(200, "GET", "/v1/tills/1", till, "")); got != "cash" {
		t.Errorf("GET till 1: %s", got)
	}
	if got := methods(e.must(200, "GET", "/v1/tills/2", adminKey, "")); got != "cash,fake" {
		t.Errorf("till 2 keeps its methods: %s", got)
	}

	// Refused at till 1, nothing stored; taken at till 2.
	sale := e.must(201, "POST", "/v1/sales", till, `{"lines":[{"name":"Glass","unit_price":4500,"vat_rate":12}]}`)["id"].(string)
	r := e.do("POST", "/v1/sales/"+sale+"/payments", till, `{"method":"fake","amount":4500}`)
	wantField(t, r, 422, "method")
	if msg := string(r.body); !strings.Contains(msg, "disabled at till 1") {
		t.Errorf("refusal: %s", msg)
	}
	if ps, _ := e.must(200, "GET", "/v1/sales/"+sale, till, "")["payments"].([]any); len(ps) != 0 {
		t.Fatalf("a refused payment was stored: %v", ps)
	}
	sale2 := e.must(201, "POST", "/v1/sales", adminKey, `{"till_id":"2","lines":[{"name":"Glass","unit_price":4500,"vat_rate":12}]}`)["id"].(string)
	e.must(201, "POST", "/v1/sales/"+sale2+"/payments", adminKey, `{"method":"fake","amount":4500}`)

	// The settings page's view: available, offered, quick and disabled per till.
	wantField(t, e.do("GET", "/v1/settings/methods", till, ""), 403, "")
	st := e.must(200, "GET", "/v1/settings/methods", bo, "")
	if got := strings.Join(toStrings(st["methods"]), ","); got != "cash,fake" {
		t.Errorf("settings methods %s", got)
	}
	tills := st["tills"].([]any)
	t1 := tills[0].(map[string]any)
	if t1["till_id"] != "1" || strings.Join(toStrings(t1["available"]), ",") != "cash,fake" || strings.Join(toStrings(t1["offered"]), ",") != "cash" ||
		strings.Join(toStrings(t1["disabled_methods"]), ",") != "fake" || len(t1["quick_methods"].([]any)) != 0 {
		t.Errorf("till 1 settings %v", t1)
	}
	if stores := st["stores"].([]any); len(stores) != 1 || stores[0].(map[string]any)["id"] != "s1" {
		t.Errorf("stores %v", st["stores"])
	}

	// [] enables every method again.
	e.must(200, "PUT", "/v1/tills/1/disabled-methods", adminKey, `{"methods":[]}`)
	e.must(201, "POST", "/v1/sales/"+sale+"/payments", till, `{"method":"fake","amount":4500}`)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// fakeCerts is a SwishCertManager that records what it is given.
type fakeCerts struct {
	mu     sync.Mutex
	req    kvitthttp.SwishCSRRequest
	signed []byte
}

func (f *fakeCerts) Status(ctx context.Context) (kvitthttp.SwishCertStatus, error) {
	return kvitthttp.SwishCertStatus{Configured: true, PayeeAlias: "1231234567",
		InUse: &kvitthttp.SwishCertificate{Subject: "CN=1231234567", SwishNumber: "1231234567", NotAfter: time.Now().Add(10*24*time.Hour + time.Hour)}}, nil
}

func (f *fakeCerts) NewRequest(ctx context.Context, req kvitthttp.SwishCSRRequest) (kvitthttp.SwishCSR, error) {
	f.mu.Lock()
	f.req = req
	f.mu.Unlock()
	return kvitthttp.SwishCSR{CSR: "-----BEGIN CERTIFICATE REQUEST-----\n…", KeyFile: "/data/swish/k.key", CSRFile: "/data/swish/k.csr"}, nil
}

func (f *fakeCerts) Import(ctx context.Context, signed []byte, allowIncomplete bool) (kvitthttp.SwishCertStatus, error) {
	f.mu.Lock()
	f.signed = signed
	f.mu.Unlock()
	if string(signed) == "wrong" {
		return kvitthttp.SwishCertStatus{}, kvitt.FieldError("certificate", "is not for a key of a request made here")
	}
	return f.Status(ctx)
}

func (f *fakeCerts) SandboxSign(ctx context.Context, csr []byte) ([]byte, error) {
	return []byte("-----BEGIN CERTIFICATE-----\n…"), nil
}

type fakeProviders struct{}

func (fakeProviders) Providers(ctx context.Context) []kvitthttp.ProviderStatus {
	return []kvitthttp.ProviderStatus{{Provider: "svea", Name: "Svea Instore", Configured: true, MerchantID: "123", Environment: "test",
		Secrets: []kvitthttp.ProviderSecret{{Key: "svea.password", Set: true, From: "file"}}}}
}

// The Swish certificate routes: admin changes, admin and back office
// read; the body is checked before the manager sees it; without a
// manager they are 404.
func TestSettingsSwishCertificateAPI(t *testing.T) {
	certs := &fakeCerts{}
	e := newSettingsEnv(t, func(s *kvitthttp.Server) { s.SwishCert, s.Providers = certs, fakeProviders{} })
	_, bo := e.apiKey("backoffice", "")
	_, till := e.apiKey("till", "1")

	st := e.must(200, "GET", "/v1/swish/certificate", bo, "")
	inUse := st["in_use"].(map[string]any)
	if inUse["days_left"] != 10.0 || inUse["swish_number"] != "1231234567" || st["restart_needed"] != false {
		t.Errorf("status %v", st)
	}
	wantField(t, e.do("GET", "/v1/swish/certificate", till, ""), 403, "")
	wantField(t, e.do("POST", "/v1/swish/csr", bo, `{}`), 403, "")
	wantField(t, e.do("POST", "/v1/swish/csr", adminKey, `{"swish_number":"123"}`), 422, "swish_number")
	wantField(t, e.do("POST", "/v1/swish/csr", adminKey, `{"organisation":"A\u0007B"}`), 422, "organisation")
	wantField(t, e.do("POST", "/v1/swish/csr", adminKey, `{"key":"x"}`), 400, "key")
	csr := e.must(201, "POST", "/v1/swish/csr", adminKey, `{"organisation":"Butiken AB","swish_number":"1231234567"}`)
	if !strings.HasPrefix(csr["csr"].(string), "-----BEGIN CERTIFICATE REQUEST") || certs.req.Organisation != "Butiken AB" || certs.req.SwishNumber != "1231234567" {
		t.Errorf("csr %v, manager got %+v", csr, certs.req)
	}
	e.must(201, "POST", "/v1/swish/csr", adminKey, "")

	wantField(t, e.do("PUT", "/v1/swish/certificate", bo, `{"certificate":"-----BEGIN CERTIFICATE-----"}`), 403, "")
	wantField(t, e.do("PUT", "/v1/swish/certificate", adminKey, `{"certificate":""}`), 422, "certificate")
	wantField(t, e.do("PUT", "/v1/swish/certificate", adminKey, `{"certificate":"not base64!"}`), 422, "certificate")
	wantField(t, e.do("PUT", "/v1/swish/certificate", adminKey, `{"certificate":"`+base64.StdEncoding.EncodeToString([]byte("wrong"))+`"}`), 422, "certificate")
	der := []byte{0x30, 0x82, 0x01, 0x00}
	e.must(200, "PUT", "/v1/swish/certificate", adminKey, `{"certificate":"`+base64.StdEncoding.EncodeToString(der)+`"}`)
	if string(certs.signed) != string(der) {
		t.Errorf("the manager got %x, want the DER", certs.signed)
	}
	e.must(200, "PUT", "/v1/swish/certificate", adminKey, `{"certificate":"-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n","allow_incomplete":true}`)
	if !strings.HasPrefix(string(certs.signed), "-----BEGIN CERTIFICATE-----") {
		t.Errorf("the manager got %q", certs.signed)
	}

	wantField(t, e.do("POST", "/v1/sandbox/swish/sign-csr", adminKey, `{"csr":"hello"}`), 422, "csr")
	wantField(t, e.do("POST", "/v1/sandbox/swish/sign-csr", bo, `{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}`), 403, "")
	if got := e.must(200, "POST", "/v1/sandbox/swish/sign-csr", adminKey, `{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}`); !strings.HasPrefix(got["certificate"].(string), "-----BEGIN CERTIFICATE") {
		t.Errorf("signed %v", got)
	}

	// The providers: never a secret's value.
	p := e.must(200, "GET", "/v1/settings/providers", bo, "")
	pr := p["providers"].([]any)[0].(map[string]any)
	if pr["provider"] != "svea" || pr["merchant_id"] != "123" || pr["environment"] != "test" || len(pr["keys"].([]any)) != 0 {
		t.Errorf("providers %v", p)
	}
	wantField(t, e.do("GET", "/v1/settings/providers", till, ""), 403, "")

	// Without the optional parts.
	plain := newEnv(t)
	wantField(t, plain.do("GET", "/v1/swish/certificate", adminKey, ""), 404, "")
	wantField(t, plain.do("POST", "/v1/swish/csr", adminKey, `{}`), 404, "")
	if got := plain.must(200, "GET", "/v1/settings/providers", adminKey, "")["providers"].([]any); len(got) != 0 {
		t.Errorf("providers without a source: %v", got)
	}
}
