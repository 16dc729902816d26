package swish_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

type env struct {
	sim      *simswish.Sim
	client   *swish.Client
	provider *swish.Provider
	customer *simswish.Customer
	till     *kvitt.Till
}

// newSim starts a simulator that drops callbacks (the tests poll with Status).
func newSim(t *testing.T, opts simswish.Options) *simswish.Sim {
	t.Helper()
	opts.DropCallbacks = true
	s, err := simswish.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clientFor builds a client from PEM files the way kvitt loads them.
func clientFor(t *testing.T, s *simswish.Sim, cert tls.Certificate) *swish.Client {
	t.Helper()
	roots, err := swish.LoadCABundle(s.PKI().CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := swish.NewClient(swish.ClientConfig{BaseURL: s.URL(), TLS: swish.TLSConfig(cert, roots)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newEnv(t *testing.T, cfg swish.Config, opts simswish.Options) *env {
	t.Helper()
	s := newSim(t, opts)
	cert, err := swish.LoadPEMChain(append(append([]byte{}, s.PKI().MerchantChainPEM...), s.PKI().MerchantKeyPEM...))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sim: s, client: clientFor(t, s, cert), customer: s.Customer(), till: &kvitt.Till{ID: "1"}}
	cfg.Client = e.client
	if cfg.PayeeAlias == "" {
		cfg.PayeeAlias = s.PayeeAlias()
	}
	if cfg.CallbackBaseURL == "" {
		cfg.CallbackBaseURL = "https://kvitt.example"
	}
	cfg.CallbackSecret = []byte("0123456789abcdef0123456789abcdef")
	e.provider, err = swish.NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) payment(amount int64) *kvitt.Payment {
	return &kvitt.Payment{
		ID: kvitt.NewID("pay"), Method: "swish", Amount: amount, Currency: kvitt.SEK,
		State: kvitt.PaymentCreated, Reference: e.provider.NewReference(), Provider: map[string]string{},
		Created: time.Now(),
	}
}

// apply merges an update into the payment as the hub would.
func apply(p *kvitt.Payment, u kvitt.Update) {
	if u.State != "" {
		p.State = u.State
	}
	for k, v := range u.Provider {
		p.Provider[k] = v
	}
	if u.Action != nil {
		p.Action = u.Action
	}
	p.ErrorCode, p.Message = u.ErrorCode, u.Message
}

func (e *env) start(t *testing.T, p *kvitt.Payment) kvitt.Update {
	t.Helper()
	u, err := e.provider.Start(context.Background(), e.till, p)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	apply(p, u)
	return u
}

func (e *env) status(t *testing.T, p *kvitt.Payment) kvitt.Update {
	t.Helper()
	u, err := e.provider.Status(context.Background(), e.till, p)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	apply(p, u)
	return u
}

func (e *env) act(t *testing.T, p *kvitt.Payment, a kvitt.CustomerAction) {
	t.Helper()
	if err := e.customer.Act(context.Background(), e.till, p, a, kvitt.CustomerOptions{}); err != nil {
		t.Fatalf("customer %s: %v", a, err)
	}
}

func TestInStorePaid(t *testing.T) {
	e := newEnv(t, swish.Config{Message: "Kvitto 1", ReturnURL: "https://shop.example/back"}, simswish.Options{})
	p := e.payment(12550)
	u := e.start(t, p)
	if u.State != kvitt.PaymentPending || u.Action == nil || u.Action.Type != "show_qr" {
		t.Fatalf("Start: %+v", u)
	}
	token := u.Provider[swish.KeyToken]
	if token == "" || u.Action.QRData != "D"+token {
		t.Errorf("QR data %q for token %q", u.Action.QRData, token)
	}
	if want := "swish://paymentrequest?token=" + token + "&callbackurl=https%3A%2F%2Fshop.example%2Fback"; u.Action.AppURL != want {
		t.Errorf("app URL %q, want %q", u.Action.AppURL, want)
	}
	if !strings.HasSuffix(u.Provider[swish.KeyLocation], "/v1/paymentrequests/"+p.Reference) {
		t.Errorf("location %q", u.Provider[swish.KeyLocation])
	}
	if u.Action.ExpiresAt == nil || u.Deadline.IsZero() || u.Retry == 0 {
		t.Errorf("no deadline or retry: %+v", u)
	}
	if u := e.status(t, p); u.State != kvitt.PaymentPending {
		t.Fatalf("before the customer acts: %+v", u)
	}
	// The customer scans the QR code: the simulator finds the request by its token.
	if err := e.customer.Do(context.Background(), token, "approve"); err != nil {
		t.Fatal(err)
	}
	u = e.status(t, p)
	if u.State != kvitt.PaymentPaid || len(u.Provider[swish.KeyPaymentReference]) != 32 || u.Provider[swish.KeyDatePaid] == "" {
		t.Fatalf("after approval: %+v", u)
	}
	if e.sim.PaymentCount() != 1 {
		t.Errorf("simulator holds %d payment requests", e.sim.PaymentCount())
	}
}

func TestECommercePaid(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(10000)
	p.Provider["payer_alias"] = "46701234567"
	u := e.start(t, p)
	if u.State != kvitt.PaymentPending || u.Action == nil || u.Action.Type != "open_app" || u.Action.Message != "Open Swish on your phone to approve" {
		t.Fatalf("Start: %+v", u.Action)
	}
	if _, ok := u.Provider[swish.KeyToken]; ok {
		t.Error("e-commerce got a token")
	}
	// A second request to the same payer while the first is open: RP06.
	q := e.payment(500)
	q.Provider["payer_alias"] = "46701234567"
	if u := e.start(t, q); u.State != kvitt.PaymentFailed || u.ErrorCode != "RP06" {
		t.Errorf("second request to a busy payer: %+v", u)
	}
	e.act(t, p, kvitt.CustomerApprove)
	if u := e.status(t, p); u.State != kvitt.PaymentPaid {
		t.Fatalf("after approval: %+v", u)
	}
}

// TestOutcomes forces each outcome: codes in the message (as on Swish's
// MSS) and the customer's own actions.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		message string
		action  kvitt.CustomerAction
		state   kvitt.PaymentState
		code    string
	}{
		{"", kvitt.CustomerApprove, kvitt.PaymentPaid, ""},
		{"", kvitt.CustomerDecline, kvitt.PaymentDeclined, ""},
		{"", kvitt.CustomerCancel, kvitt.PaymentCancelled, "BANKIDCL"},
		{"", kvitt.CustomerTimeout, kvitt.PaymentExpired, "TM01"},
		{"RF07", kvitt.CustomerApprove, kvitt.PaymentDeclined, "RF07"},
		{"TM01", kvitt.CustomerApprove, kvitt.PaymentExpired, "TM01"},
		{"DS24", kvitt.CustomerApprove, kvitt.PaymentUnknown, "DS24"},
		{"BANKIDCL", kvitt.CustomerApprove, kvitt.PaymentCancelled, "BANKIDCL"},
		{"BANKIDONGOING", kvitt.CustomerApprove, kvitt.PaymentFailed, "BANKIDONGOING"},
		{"BANKIDUNKN", kvitt.CustomerApprove, kvitt.PaymentFailed, "BANKIDUNKN"},
		{"FF10", kvitt.CustomerApprove, kvitt.PaymentFailed, "FF10"},
		// Refused at create: a definite answer, no error.
		{"RP06", "", kvitt.PaymentFailed, "RP06"},
		{"ACMT03", "", kvitt.PaymentFailed, "ACMT03"},
		{"ACMT01", "", kvitt.PaymentFailed, "ACMT01"},
		{"ACMT07", "", kvitt.PaymentFailed, "ACMT07"},
		{"VR01", "", kvitt.PaymentFailed, "VR01"},
		{"VR02", "", kvitt.PaymentFailed, "VR02"},
		{"AM06", "", kvitt.PaymentFailed, "AM06"},
	}
	s := newSim(t, simswish.Options{})
	for _, tt := range tests {
		t.Run(tt.message+"/"+string(tt.action), func(t *testing.T) {
			e := envOn(t, s, swish.Config{Message: tt.message})
			p := e.payment(2000)
			u := e.start(t, p)
			if tt.action != "" {
				if u.State != kvitt.PaymentPending {
					t.Fatalf("Start: %+v", u)
				}
				e.act(t, p, tt.action)
				u = e.status(t, p)
			}
			if u.State != tt.state || u.ErrorCode != tt.code {
				t.Fatalf("got %s/%s (%s), want %s/%s", u.State, u.ErrorCode, u.Message, tt.state, tt.code)
			}
			if tt.code != "" && u.Message != swish.CodeMessage(tt.code) {
				t.Errorf("message %q, want the cashier message for %s", u.Message, tt.code)
			}
		})
	}
}

// envOn makes a provider against an existing simulator.
func envOn(t *testing.T, s *simswish.Sim, cfg swish.Config) *env {
	t.Helper()
	e := &env{sim: s, client: clientFor(t, s, s.PKI().MerchantCertificate()), customer: s.Customer(), till: &kvitt.Till{ID: "1"}}
	cfg.Client, cfg.PayeeAlias, cfg.CallbackBaseURL = e.client, s.PayeeAlias(), "https://kvitt.example"
	cfg.CallbackSecret = []byte("0123456789abcdef0123456789abcdef")
	var err error
	if e.provider, err = swish.NewProvider(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestValidationRefusedBeforeSending(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(100)
	p.Provider["payer_alias"] = "0701234567"
	u := e.start(t, p)
	if u.State != kvitt.PaymentFailed || u.ErrorCode != "BE18" || !strings.Contains(u.Message, "payerAlias") {
		t.Errorf("got %+v", u)
	}
	p = e.payment(100)
	p.Currency = kvitt.NOK
	if u := e.start(t, p); u.State != kvitt.PaymentFailed || u.ErrorCode != "AM03" {
		t.Errorf("NOK: %+v", u)
	}
	if e.sim.PaymentCount() != 0 {
		t.Errorf("an invalid request reached Swish")
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(900)
	e.start(t, p)
	u, err := e.provider.Cancel(context.Background(), e.till, p)
	if err != nil || u.State != kvitt.PaymentCancelled {
		t.Fatalf("Cancel: %+v, %v", u, err)
	}
	if st, _, _ := e.sim.PaymentStatus(p.Reference); st != "CANCELLED" {
		t.Errorf("simulator status %s", st)
	}
	if err := e.customer.Act(context.Background(), e.till, p, kvitt.CustomerApprove, kvitt.CustomerOptions{}); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("approving a cancelled request: %v", err)
	}

	// The customer approved just before the cashier pressed cancel: paid wins.
	q := e.payment(900)
	e.start(t, q)
	e.act(t, q, kvitt.CustomerApprove)
	u, err = e.provider.Cancel(context.Background(), e.till, q)
	if err != nil || u.State != kvitt.PaymentPaid || u.Provider[swish.KeyPaymentReference] == "" {
		t.Fatalf("Cancel after payment: %+v, %v", u, err)
	}
}

func TestExpiredPastWindowIsCancelled(t *testing.T) {
	later := time.Now().Add(10 * time.Minute)
	e := newEnv(t, swish.Config{Now: func() time.Time { return later }}, simswish.Options{})
	p := e.payment(100)
	e.start(t, p)
	u := e.status(t, p)
	if u.State != kvitt.PaymentExpired || u.ErrorCode != "TM01" {
		t.Fatalf("got %+v", u)
	}
	if st, _, _ := e.sim.PaymentStatus(p.Reference); st != "CANCELLED" {
		t.Errorf("the stale request was not cancelled at Swish: %s", st)
	}
}

func TestRefunds(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(10000)
	e.start(t, p)
	e.act(t, p, kvitt.CustomerApprove)
	e.status(t, p)
	if p.State != kvitt.PaymentPaid {
		t.Fatalf("payment %s", p.State)
	}
	refund := func(amount int64) *kvitt.Refund {
		return &kvitt.Refund{ID: kvitt.NewID("ref"), PaymentID: p.ID, Amount: amount, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
	}
	ctx := context.Background()
	for _, amount := range []int64{3000, 7000} {
		r := refund(amount)
		u, err := e.provider.Refund(ctx, e.till, p, r)
		if err != nil || u.State != kvitt.RefundPending {
			t.Fatalf("refund %d: %+v, %v", amount, u, err)
		}
		u, err = e.provider.RefundStatus(ctx, e.till, p, r)
		if err != nil || u.State != kvitt.RefundSucceeded {
			t.Fatalf("refund %d status: %+v, %v", amount, u, err)
		}
	}
	u, err := e.provider.Refund(ctx, e.till, p, refund(1))
	if err != nil || u.State != kvitt.RefundFailed || u.ErrorCode != "RF08" || u.Message != swish.CodeMessage("RF08") {
		t.Fatalf("over-refund: %+v, %v", u, err)
	}
	if e.sim.RefundCount() != 2 {
		t.Errorf("simulator holds %d refunds", e.sim.RefundCount())
	}
	// No bank reference: refused before sending.
	q := e.payment(100)
	if u, err := e.provider.Refund(ctx, e.till, q, refund(100)); err != nil || u.State != kvitt.RefundFailed {
		t.Errorf("refund without reference: %+v, %v", u, err)
	}
}

func TestRefundForcedError(t *testing.T) {
	for _, code := range []string{"RF02", "RF03", "RF04", "RF06"} {
		t.Run(code, func(t *testing.T) {
			e := newEnv(t, swish.Config{Message: code}, simswish.Options{})
			p := e.payment(500)
			e.start(t, p)
			e.act(t, p, kvitt.CustomerApprove)
			if e.status(t, p); p.State != kvitt.PaymentPaid {
				t.Fatalf("payment %s", p.State)
			}
			r := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 500, Currency: kvitt.SEK, Reference: e.provider.NewReference()}
			if u, err := e.provider.Refund(context.Background(), e.till, p, r); err != nil || u.State != kvitt.RefundPending {
				t.Fatalf("refund: %+v, %v", u, err)
			}
			u, err := e.provider.RefundStatus(context.Background(), e.till, p, r)
			if err != nil || u.State != kvitt.RefundFailed || u.ErrorCode != code || u.Message != swish.CodeMessage(code) {
				t.Fatalf("got %+v, %v", u, err)
			}
		})
	}
}

// TestLostAnswer: the create's answer (or the create itself) is lost; Status
// with the same instructionUUID finds or re-sends it, and the simulator never
// holds a second payment request.
func TestLostAnswer(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault simswish.Fault
	}{{"response", simswish.LoseResponse}, {"request", simswish.LoseRequest}} {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, swish.Config{}, simswish.Options{})
			p := e.payment(4200)
			e.sim.InjectFault(f.fault)
			if u, err := e.provider.Start(context.Background(), e.till, p); err == nil {
				t.Fatalf("Start with a lost answer returned %+v and no error", u)
			}
			u := e.status(t, p)
			if u.State != kvitt.PaymentPending {
				t.Fatalf("Status: %+v", u)
			}
			if f.fault == simswish.LoseRequest && (u.Action == nil || u.Action.QRData == "") {
				t.Errorf("re-sent create gave no QR: %+v", u)
			}
			if f.fault == simswish.LoseResponse && !strings.Contains(u.Message, "QR code for this payment was lost") {
				t.Errorf("the cashier is not told the QR code is lost: %+v", u)
			}
			e.status(t, p) // a second poll must not create anything either
			if n := e.sim.PaymentCount(); n != 1 {
				t.Fatalf("simulator holds %d payment requests, want 1", n)
			}
			e.act(t, p, kvitt.CustomerApprove)
			if u := e.status(t, p); u.State != kvitt.PaymentPaid {
				t.Errorf("after approval: %+v", u)
			}
		})
	}
}

func TestLostCreateAfterWindowExpires(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(100)
	p.Created = time.Now().Add(-time.Hour)
	u := e.status(t, p)
	if u.State != kvitt.PaymentExpired || e.sim.PaymentCount() != 0 {
		t.Errorf("got %+v with %d requests at Swish", u, e.sim.PaymentCount())
	}
}

func TestWrongCertificate(t *testing.T) {
	s := newSim(t, simswish.Options{})
	ctx := context.Background()
	req := func() *swish.PaymentRequest {
		return &swish.PaymentRequest{CallbackURL: "https://kvitt.example/cb", PayeeAlias: s.PayeeAlias(), Amount: "1.00", Currency: "SEK"}
	}

	t.Run("another CA", func(t *testing.T) {
		other, err := simswish.NewPKI(s.PayeeAlias())
		if err != nil {
			t.Fatal(err)
		}
		c := clientFor(t, s, other.MerchantCertificate())
		_, err = c.CreatePaymentRequest(ctx, swish.NewInstructionUUID(), req())
		if _, isAPI := err.(*swish.APIError); err == nil || isAPI {
			t.Fatalf("expected a TLS handshake failure, got %v", err)
		}
	})
	t.Run("another merchant", func(t *testing.T) {
		_, _, cert, err := s.PKI().IssueMerchant("1231181189")
		if err != nil {
			t.Fatal(err)
		}
		c := clientFor(t, s, cert)
		_, err = c.CreatePaymentRequest(ctx, swish.NewInstructionUUID(), req())
		ae, ok := err.(*swish.APIError)
		if !ok || ae.StatusCode != 403 {
			t.Fatalf("got %v, want 403", err)
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		roots, _ := swish.LoadCABundle(s.PKI().CAPEM)
		c, err := swish.NewClient(swish.ClientConfig{BaseURL: s.URL(), TLS: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetPaymentRequest(ctx, swish.NewInstructionUUID())
		if ae, ok := err.(*swish.APIError); !ok || ae.StatusCode != 401 {
			t.Fatalf("got %v, want 401", err)
		}
	})
	if s.PaymentCount() != 0 {
		t.Error("a refused client created a payment request")
	}
}

// TestCallback runs a real HTTPS callback receiver: the simulator posts the
// payment object, ParseCallback authenticates it by the URL token.
func TestCallback(t *testing.T) {
	got := make(chan string, 4)
	var p *swish.Provider
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/callbacks/swish/{token}", func(w http.ResponseWriter, r *http.Request) {
		ref, err := p.ParseCallback(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			got <- "error: " + err.Error()
			return
		}
		got <- ref
	})
	// Wired as the sandbox would: the callback listener serves the
	// simulator's server certificate, the simulator trusts its own root.
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewUnstartedServer(mux)
	recv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.ServerCertificate()}}
	recv.StartTLS()
	defer recv.Close()

	s, err := simswish.New(simswish.Options{PKI: pki, CallbackTLS: &tls.Config{RootCAs: pki.RootPool()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := clientFor(t, s, s.PKI().MerchantCertificate())
	p, err = swish.NewProvider(swish.Config{Client: c, PayeeAlias: s.PayeeAlias(), CallbackBaseURL: recv.URL, CallbackSecret: []byte("a secret of 16 bytes or more")})
	if err != nil {
		t.Fatal(err)
	}
	pay := &kvitt.Payment{ID: "pay_1", Amount: 100, Currency: kvitt.SEK, Reference: p.NewReference(), Provider: map[string]string{}}
	if _, err := p.Start(context.Background(), nil, pay); err != nil {
		t.Fatal(err)
	}
	if err := s.Customer().Do(context.Background(), pay.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	select {
	case ref := <-got:
		if ref != pay.Reference {
			t.Fatalf("callback gave %q, want %q", ref, pay.Reference)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no callback arrived")
	}
}

func TestParseCallbackRejectsForgery(t *testing.T) {
	p, err := swish.NewProvider(swish.Config{Client: &swish.Client{}, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example/", CallbackSecret: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	ref := p.NewReference()
	good := p.CallbackURL(ref)
	if !strings.HasPrefix(good, "https://kvitt.example/v1/callbacks/swish/"+ref+"-") {
		t.Fatalf("callback URL %q", good)
	}
	token := good[strings.LastIndexByte(good, '/')+1:]
	tampered := token[:len(token)-1] + "A"
	if tampered == token {
		tampered = token[:len(token)-1] + "B"
	}
	other, _ := swish.NewProvider(swish.Config{Client: &swish.Client{}, PayeeAlias: "1234679304", CallbackBaseURL: "https://kvitt.example", CallbackSecret: []byte("another secret!!")})
	tests := []struct {
		name, token, body, code string
	}{
		{"good", token, `{"id":"` + ref + `","status":"PAID"}`, ""},
		{"good, body not JSON", token, `garbage`, ""},
		{"other secret", other.CallbackToken(ref), `{}`, kvitt.EUNAUTHORIZED},
		{"tampered", tampered, `{}`, kvitt.EUNAUTHORIZED},
		{"other reference", swish.NewInstructionUUID() + token[32:], `{}`, kvitt.EUNAUTHORIZED},
		{"reference only", ref, `{}`, kvitt.EUNAUTHORIZED},
		{"empty", "", `{}`, kvitt.EUNAUTHORIZED},
		{"body for another payment", token, `{"id":"` + swish.NewInstructionUUID() + `"}`, kvitt.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/callbacks/swish/"+tt.token, strings.NewReader(tt.body))
			r.SetPathValue("token", tt.token)
			got, err := p.ParseCallback(r)
			if kvitt.ErrorCode(err) != tt.code {
				t.Fatalf("got %q, %v; want code %q", got, err, tt.code)
			}
			if tt.code == "" && got != ref {
				t.Errorf("reference %q, want %q", got, ref)
			}
		})
	}
}

func TestPaidAmountMismatchIsUnknown(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(1000)
	e.start(t, p)
	e.act(t, p, kvitt.CustomerApprove)
	p.Amount = 2000 // kvitt's record and Swish's disagree
	u := e.status(t, p)
	if u.State != kvitt.PaymentUnknown || !strings.Contains(u.Message, "10.00") {
		t.Fatalf("got %+v", u)
	}
}

func TestRefundLostAnswer(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault simswish.Fault
	}{{"response", simswish.LoseResponse}, {"request", simswish.LoseRequest}} {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, swish.Config{}, simswish.Options{})
			p := e.payment(5000)
			e.start(t, p)
			e.act(t, p, kvitt.CustomerApprove)
			e.status(t, p)
			r := &kvitt.Refund{ID: kvitt.NewID("ref"), Amount: 5000, Reference: e.provider.NewReference()} // currency taken from the payment
			e.sim.InjectFault(f.fault)
			if u, err := e.provider.Refund(context.Background(), e.till, p, r); err == nil {
				t.Fatalf("Refund with a lost answer returned %+v and no error", u)
			}
			u, err := e.provider.RefundStatus(context.Background(), e.till, p, r)
			if err != nil {
				t.Fatal(err)
			}
			if f.fault == simswish.LoseRequest {
				if u.State != kvitt.RefundPending {
					t.Fatalf("re-sent refund: %+v", u)
				}
				u, err = e.provider.RefundStatus(context.Background(), e.till, p, r)
			}
			if err != nil || u.State != kvitt.RefundSucceeded {
				t.Fatalf("got %+v, %v", u, err)
			}
			if n := e.sim.RefundCount(); n != 1 {
				t.Fatalf("simulator holds %d refunds, want 1", n)
			}
		})
	}
}

// A payment kvitt has ended is only read when a callback makes kvitt ask
// about it again: a 404 sends no create (which would let the customer pay
// for a payment the till gave up). Before, Status re-sent the create.
func TestStatusOfEndedPaymentSendsNoCreate(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	for _, st := range []kvitt.PaymentState{kvitt.PaymentFailed, kvitt.PaymentCancelled, kvitt.PaymentExpired, kvitt.PaymentDeclined} {
		p := e.payment(4200)
		p.State = st
		if u, err := e.provider.Status(context.Background(), e.till, p); err == nil {
			t.Errorf("%s: Status of a payment Swish never had: %+v, want an error", st, u)
		}
	}
	if n := e.sim.PaymentCount(); n != 0 {
		t.Fatalf("simulator holds %d payment requests, want none", n)
	}
}

// "Not found" decides nothing while kvitt's own create may still be on its
// way: a status read in that window sends no create (before, the first poll,
// 10 s after a lost create, sent it again while the first could still
// arrive). Once the window is over, the create is sent again under the same
// instructionUUID, once.
func TestStatusInFlightSendsNoCreate(t *testing.T) {
	e := newEnv(t, swish.Config{}, simswish.Options{})
	p := e.payment(4200)
	p.InFlightUntil = time.Now().Add(30 * time.Second)
	u, err := e.provider.Status(context.Background(), e.till, p)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != "" || u.Retry < 30*time.Second || u.Retry > 32*time.Second {
		t.Errorf("status of a create still in flight: %+v, want no state and a retry once the flight is over", u)
	}
	if n := e.sim.PaymentCount(); n != 0 {
		t.Fatalf("simulator holds %d payment requests, want none while the first create may still arrive", n)
	}
	p.InFlightUntil = time.Now().Add(-time.Second)
	u, err = e.provider.Status(context.Background(), e.till, p)
	if err != nil || u.State != kvitt.PaymentPending {
		t.Fatalf("status after the flight: %+v, %v; want the create sent again, pending", u, err)
	}
	if n := e.sim.PaymentCount(); n != 1 {
		t.Fatalf("simulator holds %d payment requests, want 1", n)
	}
}
