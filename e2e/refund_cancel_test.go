package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
	"github.com/kvitt-hub/kvitt/swish"
)

// A card refund waiting for the card can be cancelled: the terminal aborts
// it, nothing is paid back, and the payment can be refunded again. Before,
// there was no way: the refund stayed pending.
func TestCardRefundCancelled(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 10000)
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.waitState(p.ID, kvitt.PaymentPaid)
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.term.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.term.WaitFor(ctx, r.Reference); err != nil {
		t.Fatal(err)
	}
	r, err = e.h.CancelRefund(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitRefund(r.ID, kvitt.RefundFailed)
	if r.Message == "" {
		t.Errorf("a cancelled refund without a message for the cashier")
	}
	if refunds := e.ledger("refund"); len(refunds) != 0 {
		t.Fatalf("terminal paid back %+v after the cancel", refunds)
	}
	if got := e.payment(p.ID); got.Refunded != 0 || got.State != kvitt.PaymentPaid {
		t.Fatalf("payment %s refunded %d after a cancelled refund", got.State, got.Refunded)
	}
	if _, err := e.h.CancelRefund(ctx, r.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("cancelling a failed refund: %v, want a conflict", err)
	}
	// The payment can be refunded again, and that one goes through.
	r2, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.ActOnRefund(ctx, r2.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRefund(r2.ID, kvitt.RefundSucceeded)

	// Swish refunds are decided at once: nothing to cancel.
	_, sp := e.startSwish(ctx, 5000)
	if err := e.swish.Customer().Do(ctx, sp.Provider[swish.KeyToken], "approve"); err != nil {
		t.Fatal(err)
	}
	e.waitState(sp.ID, kvitt.PaymentPaid)
	sr, err := e.h.CreateRefund(ctx, sp.ID, hub.RefundInput{Amount: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.CancelRefund(ctx, sr.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("cancelling a Swish refund: %v, want a conflict", err)
	}
}

// The sandbox customer asked to approve a refund the terminal is not
// showing (it serves another request first) answers at once with what the
// terminal shows. Before, the request hung for 30 s.
func TestSandboxActOnQueuedRefundAnswersAtOnce(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	_, p := e.startCard(ctx, 10000)
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.waitState(p.ID, kvitt.PaymentPaid)
	if err := e.term.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// Another payment holds the terminal; the refund queues behind it.
	_, p2 := e.startCard(ctx, 2000)
	r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.h.ActOnRefund(ctx, r.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{})
	if kvitt.ErrorCode(err) != kvitt.ECONFLICT || !strings.Contains(kvitt.ErrorMessage(err), p2.Reference) {
		t.Fatalf("approving a queued refund: %v, want a conflict naming the payment the terminal serves", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the answer took %v", d)
	}
	// Served in order, both go through.
	if _, err := e.h.ActAsCustomer(ctx, p2.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.ActOnRefund(ctx, r.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRefund(r.ID, kvitt.RefundSucceeded)
}
