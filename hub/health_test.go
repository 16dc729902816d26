package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/controlunit"
	"github.com/kvitt-hub/kvitt/nexo"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newHealth() (*Health, *logBuf) {
	lb := &logBuf{}
	return NewHealth(slog.New(slog.NewTextHandler(lb, nil))), lb
}

func one(t *testing.T, what string, list []string, wants ...string) {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("%s: %q; want one", what, list)
	}
	for _, w := range wants {
		if !strings.Contains(list[0], w) {
			t.Errorf("%s %q does not say %q", what, list[0], w)
		}
	}
}

// The control unit's outcome, through the hub and the real client against
// the simulator: unknown before the first call, ready while it answers, a
// problem naming the unit and the reason while it is down (receipts pile up
// pending), ready again once a registration succeeds. The change is logged
// once, not per call.
//
// Failed before: nothing recorded the outcome (no Health, no WatchHealth),
// so readiness knew nothing of the control unit.
func TestHealthControlUnitDownAndBack(t *testing.T) {
	h, _, _ := newHub(t)
	u := withSimControlUnit(t, h)
	hl, log := newHealth()
	h.WatchHealth(hl)
	if st := hl.Status(); len(st) != 0 || len(hl.Problems()) != 0 {
		t.Fatalf("before any call: %+v", st)
	}
	cashReceipt(t, h, 1000)
	if st := hl.Status(); len(st) != 1 || !st[0].OK || st[0].Kind != DependencyControlUnit || st[0].Name != `control unit "cu"` {
		t.Fatalf("after a registration: %+v", st)
	}

	u.SetDown(true)
	var pending []*kvitt.Receipt
	for range 3 {
		rc := cashReceipt(t, h, 2000)
		if rc.Registration != kvitt.RegistrationPending {
			t.Fatalf("receipt %s while the unit is down", rc.Registration)
		}
		pending = append(pending, rc)
	}
	one(t, "problems", hl.Problems(), `control unit "cu"`, "HTTP 503")
	if ws := hl.Warnings(); len(ws) != 0 {
		t.Errorf("warnings %q", ws)
	}
	if n := strings.Count(log.String(), "dependency failing"); n != 1 {
		t.Errorf("logged the failure %d times over three calls; want once:\n%s", n, log.String())
	}

	u.SetDown(false)
	if _, err := h.RegisterReceipt(ctx, pending[2].ID); err != nil {
		t.Fatal(err)
	}
	if ps := hl.Problems(); len(ps) != 0 {
		t.Errorf("problems after the unit answered again: %q", ps)
	}
	if !strings.Contains(log.String(), `dependency recovered: control unit \"cu\"`) {
		t.Errorf("no recovery logged:\n%s", log.String())
	}

	// Gone: connection refused (the first call may find its kept-alive
	// connection cut instead: "the connection was dropped").
	u.Close()
	cashReceipt(t, h, 3000)
	cashReceipt(t, h, 3000)
	one(t, "problems", hl.Problems(), `control unit "cu"`, "connection refused")
}

// A control unit whose TLS fails: kvitt does not trust its certificate, or
// it does not accept kvitt's client certificate. Either is a problem named
// with the reason, and logged once.
func TestHealthControlUnitTLS(t *testing.T) {
	u, err := simcontrolunit.New(simcontrolunit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	other, err := simcontrolunit.New(simcontrolunit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	for _, c := range []struct {
		name string
		tls  *tls.Config
		want []string
	}{
		{"server not trusted", &tls.Config{Certificates: u.ClientTLS().Certificates, RootCAs: other.CAPool()},
			[]string{"TLS handshake failed", "does not trust the control unit's certificate", "x509: certificate signed by unknown authority"}},
		{"client certificate refused", &tls.Config{Certificates: other.ClientTLS().Certificates, RootCAs: u.CAPool()},
			[]string{"TLS handshake failed", "the control unit did not accept kvitt's client certificate", "remote error: tls:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, _, _ := newHub(t)
			cl, err := controlunit.New(controlunit.Config{URL: u.URL(), TLS: c.tls, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			withControlUnit(t, h, cl)
			hl, log := newHealth()
			h.WatchHealth(hl)
			cashReceipt(t, h, 1000)
			cashReceipt(t, h, 1000)
			one(t, "problems", hl.Problems(), append([]string{`control unit "cu"`}, c.want...)...)
			if n := strings.Count(log.String(), "level=WARN msg=\"dependency failing"); n != 1 {
				t.Errorf("warned %d times; want once:\n%s", n, log.String())
			}
		})
	}
}

// A Swish that answers every call with 401 (it does not accept the merchant
// certificate) makes every payment fail at once; it is a problem naming
// swish and why. Failed before: nothing recorded it.
func TestHealthSwish401(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	client, err := swish.NewClient(swish.ClientConfig{BaseURL: srv.URL + "/swish-cpcapi/api/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example.se",
		CallbackSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := newHub(t)
	h.Register(sp, nil)
	hl, _ := newHealth()
	h.WatchHealth(hl)
	s := sale(t, h, 5000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "swish", Amount: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentFailed || p.ErrorCode != "HTTP401" {
		t.Fatalf("payment %s %s", p.State, p.ErrorCode)
	}
	one(t, "problems", hl.Problems(), "swish", "Swish did not accept the merchant certificate (HTTP 401)")
}

// A Swish whose TLS handshake fails over a certificate, either way: it does
// not accept the merchant certificate, or kvitt does not trust its server
// certificate. Every payment fails; it is a problem naming swish and why.
func TestHealthSwishHandshake(t *testing.T) {
	a, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	b, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{a.ServerCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: a.RootPool()}
	srv.StartTLS()
	defer srv.Close()
	for _, c := range []struct {
		name string
		tls  *tls.Config
		want string
	}{
		{"merchant certificate refused", &tls.Config{Certificates: []tls.Certificate{b.MerchantCertificate()}, RootCAs: a.RootPool()},
			"TLS handshake failed: Swish did not accept the merchant certificate"},
		{"server not trusted", &tls.Config{Certificates: []tls.Certificate{a.MerchantCertificate()}, RootCAs: b.RootPool()},
			"TLS handshake failed: kvitt does not trust Swish's certificate (x509: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, err := swish.NewClient(swish.ClientConfig{BaseURL: srv.URL + "/swish-cpcapi/api/", TLS: c.tls})
			if err != nil {
				t.Fatal(err)
			}
			sp, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: simswish.DefaultPayeeAlias, CallbackBaseURL: "https://kvitt.example.se",
				CallbackSecret: []byte("0123456789abcdef0123456789abcdef")})
			if err != nil {
				t.Fatal(err)
			}
			h, _, _ := newHub(t)
			h.Register(sp, nil)
			hl, _ := newHealth()
			h.WatchHealth(hl)
			s := sale(t, h, 5000)
			if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "swish", Amount: 5000}); err != nil {
				t.Fatal(err)
			}
			one(t, "problems", hl.Problems(), "swish: ", c.want)
		})
	}
}

// A definite answer, a decline included, is a success of the dependency;
// an unknown outcome (a dropped connection) is a warning, not a problem;
// a call kvitt cancelled is no outcome at all.
func TestHealthProviderOutcomes(t *testing.T) {
	h, fp, _ := newHub(t)
	hl, _ := newHealth()
	h.WatchHealth(hl)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentDeclined, ErrorCode: "RF07", Message: "Declined"}}}, nil)
	s := sale(t, h, 1000)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if st := hl.Status(); len(st) != 1 || !st[0].OK || st[0].Name != "fake" || st[0].Kind != DependencyProvider {
		t.Fatalf("after a decline: %+v", st)
	}

	fp.script([]answer{{err: errLost}}, []answer{{err: errLost}})
	s = sale(t, h, 1000)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if ps := hl.Problems(); len(ps) != 0 {
		t.Errorf("problems %q", ps)
	}
	one(t, "warnings", hl.Warnings(), "fake", "the connection was dropped")

	// Cancelled by kvitt: nothing recorded.
	w := watchProvider(fp, hl)
	before := hl.Status()[0].Calls
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	fp.script(nil, []answer{{err: context.Canceled}})
	w.Status(cctx, &kvitt.Till{ID: "1"}, &kvitt.Payment{Reference: "x"})
	if after := hl.Status()[0].Calls; after != before {
		t.Errorf("a cancelled call was recorded (%d → %d calls)", before, after)
	}
}

// Card terminals are watched per till and POIID, and a till without a
// terminal records nothing.
func TestHealthTerminalPerTill(t *testing.T) {
	hl, _ := newHealth()
	fp := &cardFake{newFake(nil)}
	w := watchProvider(fp, hl)
	fp.script(nil, []answer{{err: errLost}})
	w.Status(ctx, &kvitt.Till{ID: "1", Terminal: &kvitt.Terminal{POIID: "P400-1"}}, &kvitt.Payment{})
	w.Status(ctx, &kvitt.Till{ID: "2"}, &kvitt.Payment{})
	st := hl.Status()
	if len(st) != 1 || st[0].Name != `card terminal "P400-1" of till 1` || st[0].Kind != DependencyTerminal || st[0].OK {
		t.Errorf("status %+v", st)
	}
}

type cardFake struct{ *fakeProvider }

func (cardFake) Method() string { return "card" }

// Optional capability stand-ins.
type (
	capL struct{}
	capC struct{}
	capR struct{}
	capX struct{}
	capV struct{}
	capW struct{}
)

func (capL) Pending(*kvitt.Till, *kvitt.Payment) kvitt.Update { return kvitt.Update{} }
func (capC) ParseCallback(*http.Request) (string, error)      { return "", nil }
func (capR) RefundStatus(context.Context, *kvitt.Till, *kvitt.Payment, *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return kvitt.RefundUpdate{}, errLost
}
func (capX) CancelRefund(context.Context, *kvitt.Till, *kvitt.Payment, *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return kvitt.RefundUpdate{}, errLost
}
func (capV) ValidatePayment(*kvitt.Payment) error { return kvitt.FieldError("payer_alias", "no") }
func (capW) WholeAmountOnly() bool                { return true }

func capabilities(p kvitt.Provider) [4]bool {
	_, l := p.(kvitt.LongRunning)
	_, c := p.(kvitt.CallbackReceiver)
	_, r := p.(kvitt.RefundStatuser)
	_, x := p.(kvitt.RefundCanceler)
	return [4]bool{l, c, r, x}
}

// The watched provider offers the hub exactly the capabilities of the
// provider it wraps, for every combination; RefundStatus and CancelRefund
// are recorded too. PaymentValidator and WholeAmountOnly are always offered
// and answer as the provider would (or as if it had none). Providers that
// decide without calling out (cash) are not wrapped, and nothing is
// wrapped twice.
func TestWatchKeepsCapabilities(t *testing.T) {
	f := newFake(nil)
	provs := []kvitt.Provider{
		f,
		struct {
			*fakeProvider
			capL
		}{f, capL{}},
		struct {
			*fakeProvider
			capC
		}{f, capC{}},
		struct {
			*fakeProvider
			capL
			capC
		}{f, capL{}, capC{}},
		struct {
			*fakeProvider
			capR
		}{f, capR{}},
		struct {
			*fakeProvider
			capL
			capR
		}{f, capL{}, capR{}},
		struct {
			*fakeProvider
			capC
			capR
		}{f, capC{}, capR{}},
		struct {
			*fakeProvider
			capL
			capC
			capR
		}{f, capL{}, capC{}, capR{}},
		struct {
			*fakeProvider
			capX
		}{f, capX{}},
		struct {
			*fakeProvider
			capL
			capX
		}{f, capL{}, capX{}},
		struct {
			*fakeProvider
			capC
			capX
		}{f, capC{}, capX{}},
		struct {
			*fakeProvider
			capL
			capC
			capX
		}{f, capL{}, capC{}, capX{}},
		struct {
			*fakeProvider
			capR
			capX
		}{f, capR{}, capX{}},
		struct {
			*fakeProvider
			capL
			capR
			capX
		}{f, capL{}, capR{}, capX{}},
		struct {
			*fakeProvider
			capC
			capR
			capX
		}{f, capC{}, capR{}, capX{}},
		struct {
			*fakeProvider
			capL
			capC
			capR
			capX
		}{f, capL{}, capC{}, capR{}, capX{}},
	}
	seen := map[[4]bool]bool{}
	for _, p := range provs {
		hl, _ := newHealth()
		w := watchProvider(p, hl)
		want := capabilities(p)
		seen[want] = true
		if got := capabilities(w); got != want {
			t.Errorf("%T: capabilities %v, want %v", p, got, want)
		}
		if w.Method() != "fake" {
			t.Errorf("method %q", w.Method())
		}
		till := &kvitt.Till{ID: "1"}
		calls := int64(0)
		if rs, ok := w.(kvitt.RefundStatuser); ok {
			rs.RefundStatus(ctx, till, &kvitt.Payment{}, &kvitt.Refund{})
			calls++
		}
		if rc, ok := w.(kvitt.RefundCanceler); ok {
			rc.CancelRefund(ctx, till, &kvitt.Payment{}, &kvitt.Refund{})
			calls++
		}
		if st := hl.Status(); calls > 0 && (len(st) != 1 || st[0].OK || st[0].Calls != calls) {
			t.Errorf("%T: RefundStatus/CancelRefund not recorded: %+v", p, st)
		}
		if v, ok := w.(kvitt.PaymentValidator); !ok || v.ValidatePayment(&kvitt.Payment{}) != nil {
			t.Errorf("%T: ValidatePayment of a provider without it refuses", p)
		}
		if o, ok := w.(kvitt.WholeAmountOnly); !ok || o.WholeAmountOnly() {
			t.Errorf("%T: WholeAmountOnly of a provider without it says true", p)
		}
		if again := watchProvider(w, hl); again != w {
			t.Errorf("%T wrapped twice", p)
		}
	}
	if len(seen) != 16 {
		t.Errorf("%d combinations tested", len(seen))
	}
	hl, _ := newHealth()
	w := watchProvider(struct {
		*fakeProvider
		capV
		capW
	}{f, capV{}, capW{}}, hl)
	if err := w.(kvitt.PaymentValidator).ValidatePayment(&kvitt.Payment{}); kvitt.ErrorField(err) != "payer_alias" {
		t.Errorf("the provider's ValidatePayment was not asked: %v", err)
	}
	if !w.(kvitt.WholeAmountOnly).WholeAmountOnly() {
		t.Error("the provider's WholeAmountOnly was not asked")
	}
	if p := watchProvider(cash.Provider{}, hl); p != (cash.Provider{}) {
		t.Errorf("cash wrapped: %T", p)
	}
	// The real adapters keep theirs.
	card := nexo.New(nexo.Config{})
	if got, want := capabilities(watchProvider(card, hl)), capabilities(card); got != want {
		t.Errorf("card: %v, want %v", got, want)
	}
}

// Every optional provider capability declared in provider.go is handled by
// the watched provider (capabilityHandling): a capability added there and
// not here would be hidden from the hub by WatchHealth.
func TestWatchKnowsEveryCapability(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "provider.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, sp := range gd.Specs {
			ts := sp.(*ast.TypeSpec)
			if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.Name != "Provider" && ts.Name.Name != "Customer" {
				declared = append(declared, ts.Name.Name)
			}
		}
	}
	if len(declared) < 5 {
		t.Fatalf("found only %v in provider.go", declared)
	}
	for _, name := range declared {
		if _, ok := capabilityHandling[name]; !ok {
			t.Errorf("provider capability %s is not handled by watchProvider (hub/health.go): add it to capabilityHandling, and keep it in watchProvider if the hub asks for it", name)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name, kind, err string
		want            string
		blocking        bool
	}{
		{"swish", DependencyProvider, "swish: HTTP 401", "Swish did not accept the merchant certificate (HTTP 401)", true},
		{"swish", DependencyProvider, "swish: HTTP 403: Forbidden", "Swish refused the merchant (HTTP 403)", true},
		{"swish", DependencyProvider, `swish: PUT v2/paymentrequests/X: Put "https://x": dial tcp 127.0.0.1:1: connect: connection refused`, "connection refused", false},
		{"swish", DependencyProvider, "swish: HTTP 503: busy", "Swish answered HTTP 503", false},
		{"swish", DependencyProvider, `Put "https://x": tls: failed to verify certificate: x509: certificate has expired or is not yet valid`, "kvitt does not trust Swish's certificate (x509: certificate has expired", true},
		{`control unit "cu"`, DependencyControlUnit, "kvitt: unavailable: control unit answered 503 Service Unavailable: down", "the control unit answered HTTP 503", true},
		{`control unit "cu"`, DependencyControlUnit, "kvitt: unavailable: control unit refused the client certificate (401 Unauthorized): no", "did not accept kvitt's client certificate (HTTP 401)", true},
		{`control unit "cu"`, DependencyControlUnit, "kvitt: unavailable: control unit did not answer in time: context deadline exceeded", "no answer in time", true},
		{`control unit "cu"`, DependencyControlUnit, "kvitt: unavailable: control unit cannot be reached: Post \"https://x\": remote error: tls: certificate required", `TLS handshake failed: the control unit did not accept kvitt's client certificate (TLS alert "certificate required")`, true},
		{`card terminal "P" of till 1`, DependencyTerminal, "nexo: transport: Payment X: dial tcp: lookup terminal.local: no such host", "host not found", false},
		{"swish", DependencyProvider, `Swish did not accept the merchant certificate (TLS alert "unknown certificate authority"): check that …: swish: …`,
			`TLS handshake failed: Swish did not accept the merchant certificate (TLS alert "unknown certificate authority")`, true},
	} {
		reason, blocking := classify(c.name, c.kind, errString(c.err))
		if !strings.Contains(reason, c.want) || blocking != c.blocking {
			t.Errorf("%s %q: %q blocking %v; want %q blocking %v", c.name, c.err, reason, blocking, c.want, c.blocking)
		}
	}
	// Definite answers that say the provider refused kvitt's certificate.
	for _, c := range []struct{ code, message, want string }{
		{"HTTP401", "Swish did not accept the merchant certificate, or the Swish number is not enrolled (401). Check the certificate.",
			"Swish did not accept the merchant certificate (HTTP 401)"},
		{"HTTP403", "The Swish number does not match the merchant certificate (403).", "Swish refused the merchant (HTTP 403)"},
		{"CERTIFICATE", `Swish did not accept the merchant certificate (TLS alert "bad certificate"): check …`,
			`TLS handshake failed: Swish did not accept the merchant certificate (TLS alert "bad certificate")`},
		{"SERVER_CERTIFICATE", "kvitt does not trust Swish's server certificate (x509: certificate signed by unknown authority): check …",
			"TLS handshake failed: kvitt does not trust Swish's certificate (x509: certificate signed by unknown authority"},
	} {
		reason, blocking := classify("swish", DependencyProvider, &refusal{c.code, c.message})
		if !strings.Contains(reason, c.want) || !blocking {
			t.Errorf("%s: %q blocking %v; want %q, blocking", c.code, reason, blocking, c.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
