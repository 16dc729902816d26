package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/mobilepay"
	simmobilepay "github.com/kvitt-hub/kvitt/sim/mobilepay"
)

// Provider faults for MobilePay (issue 15), as TestProviderFaults has them
// for Swish: the faultProxy relay between kvitt's MobilePay client and the
// simulator (through the simulator's failing front door, its API gateway,
// for the 5xx rows), and the webhook rows: a delivery repeated, one that
// comes after the poller settled the payment, deliveries out of order,
// forged ones, and MobilePay reporting the money taken after kvitt had
// ended the payment. Each row has its own kvitt and simulator and ends on
// money: MobilePay's own book (one payment for the sale, created once,
// captured once, refunded once if at all) and kvitt's payment and sale.

// mpFaultPhone is the customer's number: the payment is pushed to the app,
// so the create leaves at once.
const mpFaultPhone = "4512345678"

// throughRelay replaces the environment's node with one whose MobilePay
// client reaches the simulator through px, with a short provider timeout,
// and runs its worker if worker. It returns the front door behind the relay.
func (e *mpEnv) throughRelay(px *faultProxy, timeout time.Duration, worker bool) {
	e.t.Helper()
	e.n.stop()
	e.n = nil
	n := e.startNode("1", false)
	e.n = n
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = e.sim.ClientTLS()
	client, err := mobilepay.NewClient(mobilepay.ClientConfig{BaseURL: "https://" + px.addr, ClientID: e.sim.ClientID(),
		ClientSecret: e.sim.ClientSecret(), SubscriptionKey: e.sim.SubscriptionKey(), MSN: e.sim.MSN(), SystemVersion: "e2e",
		HTTPClient: &http.Client{Transport: tr, Timeout: timeout}})
	if err != nil {
		e.t.Fatal(err)
	}
	ver, err := mobilepay.NewVerifier(e.secret, e.hookURL, 0, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	ver.ShareReplays(mobilepay.NewStoreReplays(n.db))
	if n.prov, err = mobilepay.NewProvider(mobilepay.Config{Client: client, Verifier: ver, Checkins: mobilepay.NewStoreCheckins(n.db)}); err != nil {
		e.t.Fatal(err)
	}
	n.h.Register(n.prov, e.cust)
	n.h.ProviderTimeout = timeout
	n.h.InFlightGrace = time.Second
	if worker {
		n.runWorker()
	}
}

// withoutWorker restarts the environment's node without its worker:
// nothing but kvitt's own calls and MobilePay's webhooks moves a payment.
func (e *mpEnv) withoutWorker() {
	e.t.Helper()
	e.n.stop()
	e.n = nil
	e.n = e.startNode("1", false)
}

func (n *mpNode) runWorker() {
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.h.RunWorker(wctx, "mp-worker-"+n.name+"-"+kvitt.NewID("w")) }()
	n.stopWorker = func() { cancel(); <-done }
}

// mpHost is the simulator's host:port.
func (e *mpEnv) mpHost() string { return strings.TrimPrefix(e.sim.URL(), "https://") }

// deliveries lists the simulator's deliveries of eventType about ref.
func (e *mpEnv) deliveriesOf(eventType, ref string) []int {
	var out []int
	for i, d := range e.sim.Deliveries() {
		if d.EventType == eventType && strings.Contains(string(d.Body), `"reference":"`+ref+`"`) {
			out = append(out, i)
		}
	}
	return out
}

// createRequests counts the creates of ref that reached MobilePay's API,
// failing the test if any carried another Idempotency-Key than the one
// derived from the reference.
func (e *mpEnv) createRequests(ref string) int {
	e.t.Helper()
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Method != "POST" || r.Path != "/epayment/v1/payments" || !strings.Contains(string(r.Body), `"reference":"`+ref+`"`) {
			continue
		}
		n++
		if k := r.Header.Get("Idempotency-Key"); k != "create-"+ref {
			e.t.Errorf("a create of %s with Idempotency-Key %q, want create-%s", ref, k, ref)
		}
	}
	return n
}

// oneCharge checks MobilePay's own book: one payment, the payment's,
// created once (one CREATED event), captured once for captured (if any)
// and refunded once for refunded (if any).
func (e *mpEnv) oneCharge(p *kvitt.Payment, captured, refunded int64) {
	e.t.Helper()
	l := e.sim.Ledger()
	if len(l) != 1 {
		e.t.Fatalf("MobilePay holds %d payments, want 1: %+v", len(l), l)
	}
	once := func(v int64) int { return map[bool]int{true: 1, false: 0}[v > 0] }
	if g := l[0]; g.Reference != p.Reference || g.Amount != p.Amount || g.Captured != captured || g.Captures != once(captured) ||
		g.Refunded != refunded || g.Refunds != once(refunded) {
		e.t.Errorf("MobilePay's book %+v; want %s of %d, captured %d in %d capture, refunded %d in %d refund",
			g, p.Reference, p.Amount, captured, once(captured), refunded, once(refunded))
	}
	if n := len(e.deliveriesOf("epayments.payment.created.v1", p.Reference)); n != 1 {
		e.t.Errorf("MobilePay created the payment %d times, want once", n)
	}
	if n := e.captures(p.Reference); n != once(captured) {
		e.t.Errorf("%d captures (events or Idempotency-Keys), want %d", n, once(captured))
	}
}

func (e *mpEnv) salePaid(id string) int64 {
	e.t.Helper()
	v, err := e.n.h.ViewSale(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Paid
}

// TestProviderFaultsMobilePay runs MobilePay payments through the relay
// and the front door with each network fault and 5xx, and through each
// webhook fault; each row with its own kvitt and simulator, all at once.
func TestProviderFaultsMobilePay(t *testing.T) {
	if testing.Short() {
		t.Skip("network faults take seconds of provider timeouts")
	}
	const providerTimeout = 2 * time.Second
	cases := []struct {
		name string
		// fault sets the relay (or the front door) up before the create;
		// after runs once the create returned.
		fault func(e *mpEnv, px *faultProxy, front *simmobilepay.FaultFront)
		after func(e *mpEnv, px *faultProxy)
		// created: the create's answer leaves the payment created (its
		// outcome not known); otherwise pending, waiting in the app.
		created bool
		// failed: the payment ends failed with a message holding this.
		failed string
		// frontOp: the front door must have failed one request of it.
		frontOp string
		// qr: a one-time QR on the customer display (no number given).
		qr bool
	}{
		{name: "latency_below_timeout",
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) {
				px.delay = 50 * time.Millisecond
				px.mode.Store(int32(relayLatency))
			}},
		{name: "latency_beyond_timeout_on_create", created: true,
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) {
				px.hold = providerTimeout + time.Second
				px.mode.Store(int32(relayHoldAnswer))
			}},
		{name: "reset_mid_create", created: true,
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) { px.mode.Store(int32(relayResetAnswer)) }},
		{name: "reset_mid_create_one_time_qr", created: true, qr: true,
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) { px.mode.Store(int32(relayResetAnswer)) }},
		{name: "connection_refused", created: true,
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) { px.down() },
			after: func(e *mpEnv, px *faultProxy) {
				time.Sleep(time.Second)
				px.up()
			}},
		{name: "5xx_before_create", created: true, frontOp: simmobilepay.OpCreate,
			fault: func(e *mpEnv, px *faultProxy, front *simmobilepay.FaultFront) {
				// The API gateway answers 503: the create never reached the API.
				front.FailNext(simmobilepay.OpCreate, http.StatusServiceUnavailable, false)
			}},
		{name: "5xx_after_create", created: true, frontOp: simmobilepay.OpCreate,
			fault: func(e *mpEnv, px *faultProxy, front *simmobilepay.FaultFront) {
				// The payment is made, then the answer is a 500.
				front.FailNext(simmobilepay.OpCreate, http.StatusInternalServerError, true)
			}},
		{name: "5xx_after_capture", frontOp: simmobilepay.OpCapture,
			fault: func(e *mpEnv, px *faultProxy, front *simmobilepay.FaultFront) {
				// The customer approves; kvitt's capture is made, then answered 500.
				front.FailNext(simmobilepay.OpCapture, http.StatusInternalServerError, true)
			}},
		{name: "tls_other_ca", failed: "server certificate",
			fault: func(e *mpEnv, px *faultProxy, _ *simmobilepay.FaultFront) {
				impostor, err := simmobilepay.New(simmobilepay.Options{})
				if err != nil {
					e.t.Fatal(err)
				}
				e.t.Cleanup(func() {
					if n := len(impostor.Requests()); n != 0 {
						e.t.Errorf("the impostor server received %d requests", n)
					}
					impostor.Close()
				})
				host := strings.TrimPrefix(impostor.URL(), "https://")
				px.upstream.Store(&host)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newMPEnv(t, mpOptions{})
			ctx := ctxT(t)
			front, err := e.sim.StartFaultFront()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { front.Close() })
			px := newFaultProxy(t, front.Addr())
			px.trigger = func() bool { return e.sim.PaymentCount() > 0 }
			e.throughRelay(px, providerTimeout, true)

			s := e.sale(mpTill, 4200)
			c.fault(e, px, front)
			payer := mpFaultPhone
			if c.qr {
				payer = ""
			}
			p := e.pay(s, payer)
			if c.after != nil {
				c.after(e, px)
			}
			if m := faultMode(px.mode.Load()); (m == relayHoldAnswer || m == relayResetAnswer) && !px.fired.Load() {
				t.Fatalf("the fault never fired: the create's answer went through (payment %s)", p.State)
			}

			if c.failed != "" {
				if p.State != kvitt.PaymentFailed || !strings.Contains(p.Message, c.failed) {
					t.Fatalf("payment %s (%s %q), want failed naming the %s", p.State, p.ErrorCode, p.Message, c.failed)
				}
				if n := e.sim.PaymentCount(); n != 0 {
					t.Errorf("MobilePay holds %d payments, want none", n)
				}
				if v := e.salePaid(s.ID); v != 0 {
					t.Errorf("the sale counts %d as paid", v)
				}
				return
			}
			if c.created {
				if p.State != kvitt.PaymentCreated {
					t.Fatalf("payment after the fault: %s (%s %q), want created (outcome not known)", p.State, p.ErrorCode, p.Message)
				}
			} else if p.State != kvitt.PaymentPending || p.Action == nil || p.Action.Type != mobilepay.ActionOpenApp {
				t.Fatalf("payment: %s (%s %q) %+v, want pending in the customer's app", p.State, p.ErrorCode, p.Message, p.Action)
			}
			wantAction := mobilepay.ActionOpenApp
			if c.qr {
				wantAction = "show_qr"
			}

			// The poller settles it: created at MobilePay under the stored reference.
			eventually(t, "the payment known at MobilePay", func() string {
				q, err := e.n.h.GetPayment(ctx, p.ID)
				if err != nil {
					return err.Error()
				}
				if p = q; p.State != kvitt.PaymentPending {
					return fmt.Sprintf("%s (%s %q)", p.State, p.ErrorCode, p.Message)
				}
				if m := e.money(p.Reference); m.State != "CREATED" {
					return fmt.Sprintf("MobilePay: %+v", m)
				}
				return ""
			})
			// The till shows what reaches the customer: the app, or the
			// QR that MobilePay made for this payment, even when the
			// create's answer, which carried it, was lost.
			if p.Action == nil || p.Action.Type != wantAction || (c.qr && !strings.Contains(p.Action.QRData, "pay-")) {
				t.Errorf("pending with action %+v (%q), want %s", p.Action, p.Message, wantAction)
			}
			who := p.Reference
			if c.qr && p.Action != nil && p.Action.QRData != "" {
				who = p.Action.QRData // the customer scans it
			}
			if err := e.cust.Do(ctx, who, "approve"); err != nil {
				t.Fatal(err)
			}
			p = e.wait(p.ID, kvitt.PaymentPaid, "-")
			es := mustEvents(t, e.n.h, p.ID)
			if n := countState(es, kvitt.PaymentPaid); n != 1 {
				t.Errorf("%d transitions to paid, want 1: %v", n, transitions(es))
			}
			if v := e.salePaid(s.ID); v != 4200 {
				t.Errorf("the sale counts %d as paid, want 4200", v)
			}
			e.oneCharge(p, 4200, 0)
			if n := e.createRequests(p.Reference); n != 1 {
				t.Errorf("%d creates reached MobilePay, want 1: a lost answer is a question, not a retry", n)
			}
			if c.frontOp != "" && front.Failed(c.frontOp) != 1 {
				t.Errorf("the front door failed %d %s requests, want 1", front.Failed(c.frontOp), c.frontOp)
			}
		})
	}
	t.Run("webhook_duplicate", func(t *testing.T) { t.Parallel(); testMPWebhookDuplicate(t) })
	t.Run("webhook_late", func(t *testing.T) { t.Parallel(); testMPWebhookLate(t) })
	t.Run("webhook_out_of_order", func(t *testing.T) { t.Parallel(); testMPWebhookOutOfOrder(t, providerTimeout) })
	t.Run("webhook_forged", func(t *testing.T) { t.Parallel(); testMPWebhookForged(t) })
	t.Run("paid_after_expired", func(t *testing.T) { t.Parallel(); testMPPaidAfterExpired(t) })
}

// newSecond waits until the clock is in a later second than delivery i's
// x-ms-date: a redelivery then carries a new date, so a new signature, as
// the platform's retries do (the same second signs the same).
func (e *mpEnv) newSecond(i int) {
	e.t.Helper()
	first, err := http.ParseTime(e.sim.Deliveries()[i].Header.Get("x-ms-date"))
	if err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, "a new second for the redelivery's date", func() string {
		return map[bool]string{true: "", false: "same second"}[time.Now().Truncate(time.Second).After(first)]
	})
}

// mpNothingChanged checks that the payment still has the events and
// version it had, that nothing was cancelled or refunded at MobilePay, and
// MobilePay's book holds the one payment captured once.
func (e *mpEnv) nothingChanged(p *kvitt.Payment, events []string, saleID string) {
	e.t.Helper()
	got, err := e.n.h.GetPayment(context.Background(), p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if after := transitions(mustEvents(e.t, e.n.h, p.ID)); !slices.Equal(events, after) {
		e.t.Errorf("the webhooks changed the events: %v → %v", events, after)
	}
	if got.State != kvitt.PaymentPaid || got.Version != p.Version || got.Attention != "" {
		e.t.Errorf("payment %s version %d attention %q, want paid version %d (unchanged)", got.State, got.Version, got.Attention, p.Version)
	}
	if n, m := e.requests("POST", "/cancel"), e.requests("POST", "/refund"); n != 0 || m != 0 {
		e.t.Errorf("%d cancels and %d refunds reached MobilePay, want none", n, m)
	}
	if v := e.salePaid(saleID); v != p.Amount {
		e.t.Errorf("the sale counts %d as paid, want %d", v, p.Amount)
	}
	e.oneCharge(p, p.Amount, 0)
}

// testMPWebhookDuplicate: after the payment is paid, MobilePay redelivers
// each of its events (a new date and signature, as its retries do): each
// is taken (200) and changes nothing; a delivery replayed as recorded is a
// 409 (as for check-ins in TestMobilePayForgedAndDuplicatedWebhooks).
func testMPWebhookDuplicate(t *testing.T) {
	e := newMPEnv(t, mpOptions{})
	ctx := ctxT(t)
	s := e.sale(mpTill, 2500)
	p := e.pay(s, mpFaultPhone)
	if err := e.cust.Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.wait(p.ID, kvitt.PaymentPaid, "-")
	var idx []int
	for _, ev := range []string{"created", "authorized", "captured"} {
		idx = append(idx, e.delivery("epayments.payment."+ev+".v1", p.Reference, http.StatusOK))
	}
	p, _ = e.n.h.GetPayment(ctx, p.ID)
	events := transitions(mustEvents(t, e.n.h, p.ID))
	e.newSecond(idx[len(idx)-1])
	for _, i := range idx {
		if code, err := e.sim.Redeliver(i); err != nil || code != http.StatusOK {
			t.Errorf("redelivered %s: %d %v, want 200", e.sim.Deliveries()[i].EventType, code, err)
		}
		if code, err := e.sim.Replay(i); err != nil || code != http.StatusConflict {
			t.Errorf("replayed %s: %d %v, want 409", e.sim.Deliveries()[i].EventType, code, err)
		}
	}
	e.nothingChanged(p, events, s.ID)
}

// testMPWebhookLate: every webhook is lost while the customer approves;
// the poller captures and books the payment. Then the events arrive late
// (the platform's retries): taken, and nothing changes.
func testMPWebhookLate(t *testing.T) {
	e := newMPEnv(t, mpOptions{})
	ctx := ctxT(t)
	s := e.sale(mpTill, 2500)
	p := e.pay(s, mpFaultPhone)
	// The CREATED event is in: a hint still on its way would make kvitt
	// read the payment after the approval.
	e.delivery("epayments.payment.created.v1", p.Reference, http.StatusOK)
	e.sim.SetDropWebhooks(true)
	if err := e.cust.Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.wait(p.ID, kvitt.PaymentPaid, "-")
	es := mustEvents(t, e.n.h, p.ID)
	if last := es[len(es)-1]; last.To != kvitt.PaymentPaid || last.Cause != hub.CausePoller {
		t.Fatalf("paid by %s, want the poller: %v", last.Cause, transitions(es))
	}
	events := transitions(es)
	late := append(e.deliveriesOf("epayments.payment.authorized.v1", p.Reference), e.deliveriesOf("epayments.payment.captured.v1", p.Reference)...)
	if len(late) != 2 {
		t.Fatalf("deliveries %d, want the authorized and captured events (lost)", len(late))
	}
	for _, i := range late {
		if !e.sim.Deliveries()[i].Dropped {
			t.Fatalf("delivery %d reached kvitt: the row needs it lost", i)
		}
		if code, err := e.sim.Redeliver(i); err != nil || code != http.StatusOK {
			t.Errorf("late %s: %d %v, want 200", e.sim.Deliveries()[i].EventType, code, err)
		}
	}
	e.nothingChanged(p, events, s.ID)
}

// testMPWebhookOutOfOrder: the create reaches MobilePay and its answer is
// held in the network; the CREATED event, then, once the customer
// approves, the AUTHORIZED event reach another kvitt node, which books the
// payment pending, then captures it and books it paid, before the
// create's answer is in. That answer
// (pending, open in the app), arriving after, must not move it back. Then
// the events come again in the wrong order (CAPTURED before AUTHORIZED
// before CREATED), and an ABORTED, properly signed, after the capture:
// each is only a hint to read the payment again, and nothing changes.
func testMPWebhookOutOfOrder(t *testing.T, timeout time.Duration) {
	e := newMPEnv(t, mpOptions{})
	ctx := ctxT(t)
	px := newFaultProxy(t, e.mpHost())
	px.trigger = func() bool { return e.sim.PaymentCount() > 0 }
	px.mode.Store(int32(relayGateAnswer))
	e.throughRelay(px, timeout, false)
	a := e.n
	b := e.startNode("2", false)
	t.Cleanup(b.stop)
	e.target.Store(&handlerBox{b.api})

	s := e.sale(mpTill, 3300)
	created := make(chan *kvitt.Payment, 1)
	go func() {
		p, err := a.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: mobilepay.Method, Amount: 3300, PayerAlias: mpFaultPhone})
		if err != nil {
			t.Errorf("create payment: %v", err)
		}
		created <- p
	}()
	eventually(t, "the create's answer held in the network", func() string {
		return map[bool]string{true: "", false: "not yet"}[px.fired.Load()]
	})
	v, err := a.h.ViewSale(ctx, s.ID)
	if err != nil || len(v.Payments) != 1 {
		t.Fatalf("sale %+v %v, want its one payment stored", v, err)
	}
	p := v.Payments[0]
	// The CREATED event overtakes the answer too: the other node reads
	// the payment and books it pending.
	e.delivery("epayments.payment.created.v1", p.Reference, http.StatusOK)
	e.wait(p.ID, kvitt.PaymentPending, "")
	if err := e.cust.Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	p = e.wait(p.ID, kvitt.PaymentPaid, "-")
	px.openGate()
	select {
	case answered := <-created:
		if answered == nil || answered.State != kvitt.PaymentPaid {
			t.Fatalf("the create's late answer left the payment %+v, want paid", answered)
		}
	case <-time.After(waitLimit):
		t.Fatal("the create never answered")
	}
	p, _ = a.h.GetPayment(ctx, p.ID)
	events := transitions(mustEvents(t, a.h, p.ID))
	if want := []string{">created/api", "created>pending/callback", "pending>paid/callback"}; !slices.Equal(events, want) {
		t.Errorf("events %v, want %v: the create's answer must not move a paid payment", events, want)
	}
	if p.Action != nil {
		t.Errorf("paid payment with action %+v for the till", p.Action)
	}

	// The events again, last first.
	var again []int
	for _, ev := range []string{"captured", "authorized", "created"} {
		again = append(again, e.delivery("epayments.payment."+ev+".v1", p.Reference, http.StatusOK))
	}
	e.newSecond(slices.Max(again))
	for _, i := range again {
		if code, err := e.sim.Redeliver(i); err != nil || code != http.StatusOK {
			t.Errorf("%s out of order: %d %v, want 200", e.sim.Deliveries()[i].EventType, code, err)
		}
	}
	// An ABORTED after the capture, signed with the webhook's secret.
	aborted, _ := json.Marshal(map[string]any{"msn": e.sim.MSN(), "reference": p.Reference, "pspReference": "0b2e9d4c-2d5b-4a53-9d7e-6f3f4d0f4a11",
		"name": "ABORTED", "amount": map[string]any{"currency": "DKK", "value": 3300}, "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"idempotencyKey": nil, "success": true})
	if code := e.post(e.signedHook(e.secret, time.Now(), aborted)); code != http.StatusOK {
		t.Errorf("ABORTED after the capture: %d, want 200 (taken as a hint)", code)
	}
	e.nothingChanged(p, events, s.ID)
}

// testMPWebhookForged: the customer has approved, every webhook is lost
// and no poller runs, so only a webhook can tell kvitt. Forged deliveries
// of the AUTHORIZED event (another secret; a changed body under the
// platform's signature; none; a stale date) are refused (401): nothing
// changes, not even a read at MobilePay. The genuine one, redelivered,
// makes the payment paid, captured once.
func testMPWebhookForged(t *testing.T) {
	e := newMPEnv(t, mpOptions{})
	e.withoutWorker()
	ctx := ctxT(t)
	s := e.sale(mpTill, 2500)
	p := e.pay(s, mpFaultPhone)
	// The CREATED event is in: a hint still on its way would make kvitt
	// read the payment after the approval.
	e.delivery("epayments.payment.created.v1", p.Reference, http.StatusOK)
	e.sim.SetDropWebhooks(true)
	if err := e.cust.Do(ctx, p.Reference, "approve"); err != nil {
		t.Fatal(err)
	}
	auth := e.deliveriesOf("epayments.payment.authorized.v1", p.Reference)
	if len(auth) != 1 {
		t.Fatalf("%d AUTHORIZED deliveries, want 1", len(auth))
	}
	d := e.sim.Deliveries()[auth[0]]
	events := transitions(mustEvents(t, e.n.h, p.ID))
	reads := e.requests("GET", "/epayment/v1/payments/"+p.Reference)

	tampered := []byte(strings.Replace(string(d.Body), `"AUTHORIZED"`, `"CAPTURED"`, 1))
	changed, _ := http.NewRequest("POST", d.URL, strings.NewReader(string(tampered)))
	changed.Header = d.Header.Clone()
	changed.Header.Set("x-ms-content-sha256", mobilepay.ContentHash(tampered))
	unsigned, _ := http.NewRequest("POST", d.URL, strings.NewReader(string(d.Body)))
	unsigned.Header.Set("Content-Type", "application/json")
	for _, f := range []struct {
		name string
		req  *http.Request
	}{
		{"signed with another secret", e.signedHook("not the webhook secret", time.Now(), d.Body)},
		{"a changed body under the platform's signature", changed},
		{"unsigned", unsigned},
		{"signed right, dated 10 minutes ago", e.signedHook(e.secret, time.Now().Add(-10*time.Minute), d.Body)},
	} {
		if code := e.post(f.req); code != http.StatusUnauthorized {
			t.Errorf("forged webhook (%s): %d, want 401", f.name, code)
		}
	}
	if q, _ := e.n.h.GetPayment(ctx, p.ID); q.State != kvitt.PaymentPending || !slices.Equal(events, transitions(mustEvents(t, e.n.h, p.ID))) {
		t.Errorf("after forged webhooks the payment is %s (%v), want pending as before", q.State, transitions(mustEvents(t, e.n.h, p.ID)))
	}
	if n := e.requests("GET", "/epayment/v1/payments/"+p.Reference); n != reads {
		t.Errorf("forged webhooks made kvitt read the payment %d times", n-reads)
	}
	if m := e.money(p.Reference); m.State != "AUTHORIZED" || m.Captured != 0 {
		t.Errorf("MobilePay %+v after forged webhooks, want authorized, nothing captured", m)
	}

	// The genuine delivery, as the platform's retry sends it.
	if code, err := e.sim.Redeliver(auth[0]); err != nil || code != http.StatusOK {
		t.Fatalf("the genuine AUTHORIZED: %d %v, want 200", code, err)
	}
	p = e.wait(p.ID, kvitt.PaymentPaid, "-")
	es := mustEvents(t, e.n.h, p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CauseCallback || countState(es, kvitt.PaymentPaid) != 1 {
		t.Errorf("events %v, want one transition to paid, by the genuine webhook", transitions(es))
	}
	if v := e.salePaid(s.ID); v != 2500 {
		t.Errorf("the sale counts %d as paid, want 2500", v)
	}
	e.oneCharge(p, 2500, 0)
}

// testMPPaidAfterExpired: the customer's time runs out (EXPIRED) and kvitt
// books the payment expired; then MobilePay reports it AUTHORIZED after all
// (an approval that raced the expiry). kvitt captures it and books it paid
// with attention: counted for nothing, listed for a person, and the sale
// cannot complete on it. The person refunds it; the customer pays cash.
// MobilePay's book: one payment, captured once and refunded once. (After a
// cashier's cancel: TestMobilePayLateApprovalAfterCancel.)
func testMPPaidAfterExpired(t *testing.T) {
	e := newMPEnv(t, mpOptions{})
	ctx := ctxT(t)
	s := e.sale(mpTill, 4200)
	p := e.pay(s, mpFaultPhone)
	if err := e.cust.Do(ctx, p.Reference, "expire"); err != nil {
		t.Fatal(err)
	}
	p = e.wait(p.ID, kvitt.PaymentExpired, "-")
	if err := e.sim.LateApprove(p.Reference); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late approval booked", func() string {
		q, _ := e.n.h.GetPayment(ctx, p.ID)
		if q.State != kvitt.PaymentPaid || q.Attention != kvitt.AttentionPaidAfterExpired {
			return fmt.Sprintf("%s %q %v", q.State, q.Attention, transitions(mustEvents(t, e.n.h, p.ID)))
		}
		p = q
		return ""
	})
	es := mustEvents(t, e.n.h, p.ID)
	if last := es[len(es)-1]; last.From != kvitt.PaymentExpired || last.To != kvitt.PaymentPaid || entered(es, kvitt.PaymentPaid) != 1 ||
		!strings.Contains(last.Message, "Refund it, or complete the sale with it") {
		t.Errorf("events %v, last %q: want one expired>paid with the explanation", transitions(es), last.Message)
	}
	if why := e.recovery(mpTill, p.ID); why == "" {
		t.Fatal("the late payment is not in the recovery list")
	}
	if v := e.salePaid(s.ID); v != 0 {
		t.Errorf("the sale counts %d as paid before a person decided", v)
	}
	if _, err := e.n.h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("completing the sale on a late payment nobody kept: %v, want a conflict", err)
	}
	if m := e.money(p.Reference); m.Captured != 4200 {
		t.Fatalf("MobilePay %+v: the late approval was not captured", m)
	}

	r, err := e.n.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 4200})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != kvitt.RefundSucceeded || r.ReceiptID != "" {
		t.Errorf("refund %s with receipt %q, want succeeded and no return receipt (no goods came back)", r.State, r.ReceiptID)
	}
	p = e.wait(p.ID, kvitt.PaymentRefunded, "-")
	if why := e.recovery(mpTill, p.ID); why != "" {
		t.Errorf("still listed after the refund: %s", why)
	}
	if _, err := e.n.h.CreatePayment(ctx, s.ID, cashInput(4200)); err != nil {
		t.Fatal(err)
	}
	rc, err := e.n.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].Method != "cash" || rc.Tenders[0].Amount != 4200 {
		t.Errorf("receipt tenders %+v, want the cash alone", rc.Tenders)
	}
	e.oneCharge(p, 4200, 4200)
}
