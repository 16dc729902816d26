package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// batchPaid pays a sale of total with the fake provider, which reports the
// provider's own id of the payment (as Computop's PayID).
func batchPaid(t *testing.T, h *Hub, fp *fakeProvider, total int64) *kvitt.Payment {
	t.Helper()
	s := sale(t, h, total)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid, Provider: map[string]string{"pay_id": "PAYID" + s.ID[len(s.ID)-6:]}}}}, nil)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: total})
	if err != nil || p.State != kvitt.PaymentPaid {
		t.Fatalf("payment %v %v", p, err)
	}
	return p
}

// pendingRefund creates a refund the provider has not decided (as a refund
// waiting for its batch).
func pendingRefund(t *testing.T, h *Hub, fp *fakeProvider, p *kvitt.Payment, amount int64) *kvitt.Refund {
	t.Helper()
	fp.mu.Lock()
	fp.refund = []kvitt.RefundUpdate{{State: kvitt.RefundPending}}
	fp.mu.Unlock()
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: amount})
	if err != nil || r.State != kvitt.RefundPending {
		t.Fatalf("refund %v %v", r, err)
	}
	return r
}

// resultFor is the batch result that matches r, from line of a file.
func resultFor(p *kvitt.Payment, r *kvitt.Refund, state kvitt.RefundState, source string) RefundResult {
	return RefundResult{Method: "fake", PaymentReference: strings.ToUpper(p.Reference), RefundID: r.ID, Amount: r.Amount, Currency: kvitt.SEK,
		PaymentProvider: map[string]string{"pay_id": p.Provider["pay_id"]}, Update: kvitt.RefundUpdate{State: state, ErrorCode: "E", Message: "m"},
		Source: source, Note: "batch file " + source}
}

func mustApply(t *testing.T, h *Hub, in RefundResult, want ResultOutcome) *AppliedResult {
	t.Helper()
	res, err := h.ApplyRefundResult(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != want {
		t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.Reason, want)
	}
	return res
}

func batchEvents(t *testing.T, h *Hub, paymentID string) int {
	t.Helper()
	es, err := h.PaymentEvents(ctx, paymentID, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Cause == CauseBatch {
			n++
		}
	}
	return n
}

// A batch result is applied to its refund as the refund's own answer
// would be, once: applying it again, or the whole file again, changes
// nothing.
func TestApplyRefundResult(t *testing.T) {
	h, fp, _ := newHub(t)
	p := batchPaid(t, h, fp, 10000)
	r1 := pendingRefund(t, h, fp, p, 4000)
	if len(jobsOf(t, h, jobRefundSync)) != 1 {
		t.Fatal("the pending refund has no follow-up job")
	}

	res := mustApply(t, h, resultFor(p, r1, kvitt.RefundSucceeded, "F1:2"), ResultApplied)
	if res.Refund.State != kvitt.RefundSucceeded || res.Refund.Provider[KeyResultSource] != "F1:2" {
		t.Fatalf("refund %+v", res.Refund)
	}
	got := mustPayment(t, h, p.ID)
	if got.Refunded != 4000 || got.State != kvitt.PaymentPartiallyRefunded {
		t.Fatalf("payment refunded %d (%s)", got.Refunded, got.State)
	}
	if len(jobsOf(t, h, jobRefundSync)) != 0 {
		t.Error("the decided refund is still followed up")
	}
	if n := batchEvents(t, h, p.ID); n != 1 {
		t.Errorf("%d batch events, want 1", n)
	}

	// The same result again: nothing changes.
	mustApply(t, h, resultFor(p, r1, kvitt.RefundSucceeded, "F1:2"), ResultAlreadyApplied)
	if got := mustPayment(t, h, p.ID); got.Refunded != 4000 || batchEvents(t, h, p.ID) != 1 {
		t.Fatalf("second apply: refunded %d, %d batch events", got.Refunded, batchEvents(t, h, p.ID))
	}

	// A refused credit: the refund fails and the payment keeps its money.
	r2 := pendingRefund(t, h, fp, p, 3000)
	res = mustApply(t, h, resultFor(p, r2, kvitt.RefundFailed, "F1:3"), ResultApplied)
	if res.Refund.State != kvitt.RefundFailed || res.Refund.ErrorCode != "E" {
		t.Fatalf("refund %+v", res.Refund)
	}
	mustApply(t, h, resultFor(p, r2, kvitt.RefundFailed, "F1:3"), ResultAlreadyApplied)
	if got := mustPayment(t, h, p.ID); got.Refunded != 4000 {
		t.Fatalf("refunded %d after a refused credit", got.Refunded)
	}

	// Another file pays r2 back after all: the late truth is counted, and
	// the refund marked for a person.
	res = mustApply(t, h, resultFor(p, r2, kvitt.RefundSucceeded, "F2:2"), ResultApplied)
	if res.Refund.State != kvitt.RefundSucceeded || res.Refund.Attention != kvitt.AttentionRefundedAfterFailed {
		t.Fatalf("late credit: %+v", res.Refund)
	}
	if got := mustPayment(t, h, p.ID); got.Refunded != 7000 {
		t.Fatalf("refunded %d after the late credit", got.Refunded)
	}
}

// A result for something else changes nothing: another refund id, payment
// reference, amount, currency, provider id or method.
func TestApplyRefundResultUnmatched(t *testing.T) {
	h, fp, _ := newHub(t)
	p := batchPaid(t, h, fp, 10000)
	r := pendingRefund(t, h, fp, p, 4000)
	for name, edit := range map[string]func(*RefundResult){
		"refund":    func(in *RefundResult) { in.RefundID = "ref_nope" },
		"reference": func(in *RefundResult) { in.PaymentReference = "OTHER" },
		"amount":    func(in *RefundResult) { in.Amount = 4001 },
		"currency":  func(in *RefundResult) { in.Currency = kvitt.EUR },
		"pay_id":    func(in *RefundResult) { in.PaymentProvider = map[string]string{"pay_id": "OTHER"} },
		"no pay_id": func(in *RefundResult) { in.PaymentProvider = map[string]string{"xid": "X"} },
		"method":    func(in *RefundResult) { in.Method = "computop" },
	} {
		in := resultFor(p, r, kvitt.RefundSucceeded, "F:"+name)
		edit(&in)
		res, err := h.ApplyRefundResult(ctx, in)
		if err != nil || res.Outcome != ResultUnmatched || res.Reason == "" {
			t.Errorf("%s: %+v %v", name, res, err)
		}
	}
	if got, _ := h.GetRefund(ctx, r.ID); got.State != kvitt.RefundPending {
		t.Errorf("refund %s after unmatched results", got.State)
	}
	if batchEvents(t, h, p.ID) != 0 {
		t.Error("an unmatched result left an event")
	}
	if _, err := h.ApplyRefundResult(ctx, RefundResult{RefundID: r.ID, Update: kvitt.RefundUpdate{State: kvitt.RefundSucceeded}}); kvitt.ErrorField(err) != "source" {
		t.Errorf("no source: %v", err)
	}
	if _, err := h.ApplyRefundResult(ctx, RefundResult{RefundID: r.ID, Source: "x", Update: kvitt.RefundUpdate{State: kvitt.RefundPending}}); kvitt.ErrorField(err) != "state" {
		t.Errorf("pending result: %v", err)
	}
}

// A refund paid back already, by kvitt's own request or an earlier file,
// that a batch reports paid back again, was paid back twice: nothing is
// counted twice, the refund is marked for a person (in the recovery list),
// once.
func TestApplyRefundResultPaidTwice(t *testing.T) {
	h, fp, _ := newHub(t)
	p := batchPaid(t, h, fp, 10000)
	r, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 2500}) // the fake pays back at once
	if err != nil || r.State != kvitt.RefundSucceeded {
		t.Fatalf("refund %v %v", r, err)
	}
	res := mustApply(t, h, resultFor(p, r, kvitt.RefundSucceeded, "F1:2"), ResultConflict)
	if res.Refund.Attention != kvitt.AttentionRefundedTwice || !strings.Contains(res.Reason, "by kvitt's own request") {
		t.Fatalf("%+v %s", res.Refund, res.Reason)
	}
	mustApply(t, h, resultFor(p, r, kvitt.RefundSucceeded, "F1:2"), ResultConflict)
	if got := mustPayment(t, h, p.ID); got.Refunded != 2500 || batchEvents(t, h, p.ID) != 1 {
		t.Fatalf("refunded %d, %d batch events", got.Refunded, batchEvents(t, h, p.ID))
	}
	page, err := h.Recovery(ctx, "1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, it := range page.Items {
		if it.Refund != nil && it.Refund.ID == r.ID && strings.Contains(it.Reason, "twice") {
			listed++
		}
	}
	if listed != 1 {
		t.Fatalf("recovery %+v", page.Items)
	}
	if _, err := h.ResolveRefund(ctx, r.ID, kvitt.RefundSucceeded, "settled with the customer", "test"); err != nil {
		t.Fatal(err)
	}
	// A refused credit for a refund paid back changes nothing.
	mustApply(t, h, resultFor(p, r, kvitt.RefundFailed, "F3:2"), ResultAlreadyApplied)
}

// A record that contradicts itself leaves the refund unknown for a person,
// and stops kvitt's follow-up, whose own request could pay it back again.
// A failure while kvitt's own request may be on its way decides nothing.
func TestApplyRefundResultUnknownAndInFlight(t *testing.T) {
	h, fp, clk := newHub(t)
	p := batchPaid(t, h, fp, 10000)
	r := pendingRefund(t, h, fp, p, 1000)
	res := mustApply(t, h, resultFor(p, r, kvitt.RefundUnknown, "F1:2"), ResultApplied)
	if res.Refund.State != kvitt.RefundUnknown || len(jobsOf(t, h, jobRefundSync)) != 0 {
		t.Fatalf("refund %s, %d jobs", res.Refund.State, len(jobsOf(t, h, jobRefundSync)))
	}
	mustApply(t, h, resultFor(p, r, kvitt.RefundUnknown, "F2:2"), ResultAlreadyApplied)
	mustApply(t, h, resultFor(p, r, kvitt.RefundSucceeded, "F3:2"), ResultApplied)

	r2 := pendingRefund(t, h, fp, p, 1000)
	err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		cur, err := tx.GetRefund(r2.ID)
		if err != nil {
			return err
		}
		cur.InFlightUntil = clk.Now().Add(time.Minute)
		return tx.UpdateRefund(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	res = mustApply(t, h, resultFor(p, r2, kvitt.RefundFailed, "F4:2"), ResultConflict)
	if !strings.Contains(res.Reason, "on its way") {
		t.Errorf("reason %q", res.Reason)
	}
	if got, _ := h.GetRefund(ctx, r2.ID); got.State != kvitt.RefundPending {
		t.Fatalf("refund %s", got.State)
	}
	clk.Advance(2 * time.Minute)
	mustApply(t, h, resultFor(p, r2, kvitt.RefundFailed, "F4:2"), ResultApplied)
}

// On a completed sale the applied credit issues the return receipt, as the
// refund's own answer would.
func TestApplyRefundResultReturnReceipt(t *testing.T) {
	h, fp, _ := newHub(t)
	p := batchPaid(t, h, fp, 10000)
	if _, err := h.CompleteSale(ctx, p.SaleID); err != nil {
		t.Fatal(err)
	}
	r := pendingRefund(t, h, fp, p, 10000)
	res := mustApply(t, h, resultFor(p, r, kvitt.RefundSucceeded, "F1:2"), ResultApplied)
	if res.Refund.ReceiptID == "" {
		t.Fatal("no return receipt")
	}
	if got := mustPayment(t, h, p.ID); got.State != kvitt.PaymentRefunded {
		t.Fatalf("payment %s", got.State)
	}
}

// Racing applications of one result, on two nodes, apply it once.
func TestApplyRefundResultRacingTwoNodes(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		p := batchPaid(t, ns[0].Hub, ns[0].fake, 10000)
		r := pendingRefund(t, ns[0].Hub, ns[0].fake, p, 5000)
		outcomes := make([]ResultOutcome, 8)
		errs := race(8, func(i int) error {
			res, err := ns[i%2].ApplyRefundResult(ctx, resultFor(p, r, kvitt.RefundSucceeded, "F1:2"))
			if err == nil {
				outcomes[i] = res.Outcome
			}
			return err
		})
		applied := 0
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			if outcomes[i] == ResultApplied {
				applied++
			}
		}
		if got := mustPayment(t, ns[1].Hub, p.ID); applied != 1 || got.Refunded != 5000 || batchEvents(t, ns[1].Hub, p.ID) != 1 {
			t.Fatalf("%d applied, refunded %d, %d events", applied, got.Refunded, batchEvents(t, ns[1].Hub, p.ID))
		}
	})
}
