package hub

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// fakeControlUnit fails while down, then answers; it is idempotent per serial
// like a real unit and counts its calls.
type fakeControlUnit struct {
	mu    sync.Mutex
	down  bool
	calls []int64 // serials sent
}

func (c *fakeControlUnit) Register(ctx context.Context, r *kvitt.Registration) (kvitt.ControlCode, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, r.Serial)
	if c.down {
		return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit unreachable")
	}
	return kvitt.ControlCode{UnitID: "CU-1", Code: "CODE-" + r.RegisterID + "-" + strconv.FormatInt(r.Serial, 10)}, nil
}

func withControlUnit(t *testing.T, h *Hub, cu kvitt.ControlUnit) {
	t.Helper()
	h.ControlUnits["cu"] = cu
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		till, err := tx.GetTill("1")
		if err != nil {
			return err
		}
		till.ControlUnit = "cu"
		return tx.UpdateTill(till)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestReceiptRegistered(t *testing.T) {
	h, _, _ := newHub(t)
	cu := &fakeControlUnit{}
	withControlUnit(t, h, cu)
	s := sale(t, h, 10000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Registration != kvitt.RegistrationRegistered || rc.ControlUnitID != "CU-1" || rc.ControlCode != "CODE-REG-1-1" {
		t.Fatalf("receipt %s %q %q", rc.Registration, rc.ControlUnitID, rc.ControlCode)
	}
	if got, _ := h.GetReceipt(ctx, rc.ID); got.ControlCode != rc.ControlCode {
		t.Fatalf("stored code %q", got.ControlCode)
	}
	// The safety-net job finds it done and registers nothing again.
	for _, j := range jobsOf(t, h, jobReceiptRegister) {
		if _, err := h.runReceiptRegister(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if len(cu.calls) != 1 {
		t.Errorf("control unit called %d times", len(cu.calls))
	}
}

// The customer has paid: an unreachable control unit does not stop the sale.
// The receipt stays pending and the durable job registers it later.
func TestReceiptRegistrationPostponed(t *testing.T) {
	h, _, clk := newHub(t)
	cu := &fakeControlUnit{down: true}
	withControlUnit(t, h, cu)
	s := sale(t, h, 10000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatalf("complete with the control unit down: %v", err)
	}
	if rc.Registration != kvitt.RegistrationPending || rc.ControlCode != "" {
		t.Fatalf("receipt %s %q; want pending", rc.Registration, rc.ControlCode)
	}
	if v, _ := h.ViewSale(ctx, s.ID); v.Sale.State != kvitt.SaleCompleted {
		t.Fatalf("sale %s", v.Sale.State)
	}
	cu.mu.Lock()
	cu.down = false
	cu.mu.Unlock()
	clk.Advance(time.Minute)
	stop := startWorker(h, "w")
	bound := time.Now().Add(30 * time.Second) // safety bound only
	for {
		got, err := h.GetReceipt(ctx, rc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Registration == kvitt.RegistrationRegistered {
			if got.ControlCode != "CODE-REG-1-1" || got.Serial != 1 {
				t.Errorf("registered %+v", got)
			}
			break
		}
		if time.Now().After(bound) {
			stop()
			t.Fatal("the job never registered the receipt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	cu.mu.Lock()
	defer cu.mu.Unlock()
	for _, serial := range cu.calls {
		if serial != 1 {
			t.Errorf("registration sent with serial %d", serial)
		}
	}
	// Completing again returns the receipt; no new serial.
	again, err := h.CompleteSale(ctx, s.ID)
	if err != nil || again.ID != rc.ID || again.Serial != 1 {
		t.Errorf("complete again: %+v %v", again, err)
	}
}

// callbackProvider adds callbacks to the fake: the body names the reference.
type callbackProvider struct{ *fakeProvider }

func (c callbackProvider) ParseCallback(r *http.Request) (string, error) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		return "", kvitt.Errorf(kvitt.EUNAUTHORIZED, "bad callback")
	}
	return ref, nil
}

// A callback is a hint: the hub re-reads the payment with Status.
func TestCallbackRereadsStatus(t *testing.T) {
	h, fp, _ := newHub(t)
	h.Register(callbackProvider{fp}, nil)
	s := sale(t, h, 10000)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	fp.script(nil, []answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}})
	req, _ := http.NewRequest("POST", "/v1/callbacks/fake/tok?ref="+p.Reference, nil)
	if err := h.Callback(ctx, "fake", req); err != nil {
		t.Fatal(err)
	}
	if got := mustPayment(t, h, p.ID); got.State != kvitt.PaymentPaid || fp.count("status") != 1 {
		t.Fatalf("after the callback: %s, %d status calls", got.State, fp.count("status"))
	}
	es, _ := h.PaymentEvents(ctx, p.ID, 0)
	if es[len(es)-1].Cause != CauseCallback {
		t.Errorf("cause %q", es[len(es)-1].Cause)
	}
	// A late "cancelled" callback body cannot move it: the hub asks Status, and paid stays paid.
	fp.script(nil, []answer{{u: kvitt.Update{State: kvitt.PaymentCancelled}}})
	if err := h.Callback(ctx, "fake", req); err != nil {
		t.Fatal(err)
	}
	if got := mustPayment(t, h, p.ID); got.State != kvitt.PaymentPaid {
		t.Fatalf("late callback moved the payment to %s", got.State)
	}
	bad, _ := http.NewRequest("POST", "/v1/callbacks/fake/tok", nil)
	if err := h.Callback(ctx, "fake", bad); kvitt.ErrorCode(err) != kvitt.EUNAUTHORIZED {
		t.Errorf("unauthenticated callback: %v", err)
	}
	// An authentic callback about nothing kvitt holds is taken (answered
	// 200), so the provider does not retry it for days; it changes nothing.
	unknown, _ := http.NewRequest("POST", "/v1/callbacks/fake/tok?ref=nope", nil)
	if err := h.Callback(ctx, "fake", unknown); err != nil {
		t.Errorf("callback for an unknown reference: %v", err)
	}
	if err := h.Callback(ctx, "cash", req); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("callback to a method without callbacks: %v", err)
	}
}

// longProvider holds Start open until released, like a card terminal.
type longProvider struct {
	*fakeProvider
	release chan struct{}
}

func (l longProvider) Pending(t *kvitt.Till, p *kvitt.Payment) kvitt.Update {
	return kvitt.Update{State: kvitt.PaymentPending, Action: &kvitt.Action{Type: "follow_terminal"}}
}

func (l longProvider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	select {
	case <-l.release:
	case <-ctx.Done():
		return kvitt.Update{}, ctx.Err()
	}
	return l.fakeProvider.Start(ctx, t, p)
}

func TestLongRunningStart(t *testing.T) {
	h, fp, _ := newHub(t)
	lp := longProvider{fp, make(chan struct{})}
	h.Register(lp, nil)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid, Card: &kvitt.CardData{MaskedPAN: "************1234"}}}}, nil)
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	// The till is answered at once with the action; the terminal is still busy.
	if p.State != kvitt.PaymentPending || p.Action == nil || p.Action.Type != "follow_terminal" {
		t.Fatalf("payment %s %+v", p.State, p.Action)
	}
	// While this process waits for the terminal, the sync job does not ask.
	if next, err := h.runPaymentSync(ctx, &kvitt.Job{Kind: jobPaymentSync, Ref: p.ID}); err != nil || next == 0 || fp.count("status") != 0 {
		t.Fatalf("sync during the call: %v %v, %d status calls", next, err, fp.count("status"))
	}
	close(lp.release)
	p = waitState(t, h, p.ID, kvitt.PaymentPaid)
	if p.Card == nil || p.Card.MaskedPAN != "************1234" || p.Action != nil {
		t.Errorf("paid payment %+v", p)
	}
	if fp.count("start") != 1 {
		t.Errorf("Start called %d times", fp.count("start"))
	}
}

// A refund whose answer is lost stays as stored and is asked about by the
// job with the same reference; it is never sent twice.
type refundStatusProvider struct {
	*fakeProvider
	mu     sync.Mutex
	asked  []string
	answer kvitt.RefundUpdate
}

func (r *refundStatusProvider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	r.fakeProvider.Refund(ctx, t, p, rf)
	return kvitt.RefundUpdate{}, errLost
}

func (r *refundStatusProvider) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, rf.Reference)
	return r.answer, nil
}

func TestRefundLostAnswer(t *testing.T) {
	h, fp, _ := newHub(t)
	rp := &refundStatusProvider{fakeProvider: fp, answer: kvitt.RefundUpdate{State: kvitt.RefundSucceeded}}
	h.Register(rp, nil)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	s := sale(t, h, 10000)
	p, _ := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000})
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 2500})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != kvitt.RefundCreated {
		t.Fatalf("refund %s, want created", r.State)
	}
	if got := mustPayment(t, h, p.ID); got.Refunded != 0 || got.State != kvitt.PaymentPaid {
		t.Fatalf("payment %s refunded %d before the refund is known", got.State, got.Refunded)
	}
	// What is in doubt is not refundable again.
	_, err = h.CreateRefund(ctx, p.ID, RefundInput{Amount: 7501})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	js := jobsOf(t, h, jobRefundSync)
	if len(js) != 1 || js[0].Ref != r.ID {
		t.Fatalf("refund sync jobs %+v", js)
	}
	if _, err := h.runRefundSync(ctx, js[0]); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.GetRefund(ctx, r.ID); got.State != kvitt.RefundSucceeded {
		t.Fatalf("refund %s after sync", got.State)
	}
	if len(rp.asked) != 1 || rp.asked[0] != r.Reference || fp.count("refund") != 1 {
		t.Errorf("asked %v (reference %s), refund sent %d times", rp.asked, r.Reference, fp.count("refund"))
	}
	if got := mustPayment(t, h, p.ID); got.Refunded != 2500 || got.State != kvitt.PaymentPartiallyRefunded {
		t.Errorf("payment %s refunded %d", got.State, got.Refunded)
	}
	// Asking again changes nothing (a decided refund never changes).
	if _, err := h.SyncRefund(ctx, r.ID, CausePoller); err != nil || len(rp.asked) != 1 {
		t.Errorf("sync of a decided refund: %v, asked %d times", err, len(rp.asked))
	}
	if got := mustPayment(t, h, p.ID); got.Refunded != 2500 {
		t.Errorf("refunded %d after a second sync", got.Refunded)
	}
}
