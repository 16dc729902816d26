package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/receipt"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

// startCard opens a sale of amount on till 1 and starts a card payment: the
// hub answers at once (pending, "follow the terminal") and the terminal
// waits for the customer.
func (e *env) startCard(ctx context.Context, amount int64) (*kvitt.Sale, *kvitt.Payment) {
	e.t.Helper()
	s := e.sale(ctx, till1, amount)
	p := e.pay(ctx, s.ID, "card", amount)
	if p.State != kvitt.PaymentPending || p.Action == nil || p.Action.Type != "follow_terminal" {
		e.t.Fatalf("card payment after create: %s %+v, want pending with follow_terminal", p.State, p.Action)
	}
	if err := e.term.WaitFor(ctx, p.Reference); err != nil {
		e.t.Fatalf("terminal never asked for the card: %v", err)
	}
	return s, p
}

// ledger returns the terminal's entries of kind.
func (e *env) ledger(kind string) []simnexo.Entry {
	var out []simnexo.Entry
	for _, en := range e.term.Ledger() {
		if en.Kind == kind {
			out = append(out, en)
		}
	}
	return out
}

// TestCardApproveWithTip: the customer adds a tip on the terminal; the
// payment is paid with the tip on top, and the receipt carries the card
// transaction data and the tip.
func TestCardApproveWithTip(t *testing.T) {
	e := newEnv(t, options{tip: true}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 10000)
	if st := e.term.Screen().Stage; st != simnexo.StageTip {
		t.Fatalf("terminal shows %s, want the tip screen", st)
	}
	if _, err := e.h.ActAsCustomer(ctx, p.ID, kvitt.CustomerApprove, kvitt.CustomerOptions{Tip: 1500}); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	if p.Amount != 10000 || p.Tip != 1500 {
		t.Errorf("paid amount %d tip %d, want 10000 and 1500", p.Amount, p.Tip)
	}
	if c := p.Card; c == nil || c.MaskedPAN != "************9999" || c.Brand != "MasterCard" || c.AuthCode == "" ||
		c.AID != "A0000000041010" || c.TerminalID != e.term.POIID() || c.TransactionRef == "" {
		t.Errorf("card data %+v", p.Card)
	}
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want 1", n)
	}
	if l := e.term.Ledger(); len(l) != 1 || l[0].Amount != 11500 || l[0].Tip != 1500 || l[0].Reversed {
		t.Errorf("terminal ledger %+v, want one charge of 11500 with tip 1500", l)
	}

	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Total != 10000 || rc.Tip != 1500 || rc.Registration != kvitt.RegistrationRegistered {
		t.Errorf("receipt total %d tip %d %s, want 10000, 1500, registered", rc.Total, rc.Tip, rc.Registration)
	}
	text := receipt.Text(rc, 42)
	for _, w := range []string{"Kort", "115,00", "Dricks", "15,00", "varav dricks", "************9999", "A0000000041010",
		p.Card.AuthCode, e.term.POIID(), p.Card.TransactionRef, "Godkänd"} {
		if !strings.Contains(text, w) {
			t.Errorf("receipt text lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "EJ REGISTRERAT") {
		t.Errorf("registered receipt printed as not registered:\n%s", text)
	}
}

// TestCardAnswerLostRecoveredByTransactionStatus: the terminal approves but
// the connection drops before its answer; the sync job asks
// TransactionStatus by the ServiceID and finds it paid. One charge only.
func TestCardAnswerLostRecoveredByTransactionStatus(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 25000)
	e.term.DropNextAnswer()
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	es := e.events(p.ID)
	if last := es[len(es)-1]; last.Cause != hub.CausePoller {
		t.Errorf("paid by %q, want the poller (TransactionStatus): %v", last.Cause, transitions(es))
	}
	if n := countState(es, kvitt.PaymentPaid); n != 1 {
		t.Errorf("%d transitions to paid", n)
	}
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want exactly 1", n)
	}
	if l := e.term.Ledger(); len(l) != 1 {
		t.Errorf("terminal ledger %+v, want one entry", l)
	}
	if p.Card == nil || p.Card.MaskedPAN == "" {
		t.Errorf("recovered payment has no card data: %+v", p.Card)
	}
	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].Card == nil || rc.Tenders[0].Amount != 25000 {
		t.Errorf("tenders %+v", rc.Tenders)
	}
}

// TestCardRestartMidPayment: kvitt goes down while the terminal waits for
// the card; the customer pays on the terminal meanwhile; the new process's
// sync job finds the payment paid. One charge.
func TestCardRestartMidPayment(t *testing.T) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 7900)
	e.stop()
	if st := e.term.Screen().Stage; st != simnexo.StageCard {
		t.Fatalf("after kvitt stopped the terminal shows %s, want the card screen still", st)
	}
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminal approved", func() string {
		if e.term.Charges(p.Reference) != 1 {
			return "no charge yet"
		}
		return ""
	})

	e.start(true)
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want exactly 1", n)
	}
	if l := e.term.Ledger(); len(l) != 1 {
		t.Errorf("terminal ledger %+v, want one entry", l)
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	e.verifyJournal()
}

// TestCardCashierAbort: the cashier cancels while the terminal waits for
// the card: the terminal gets an AbortRequest and the payment is cancelled.
func TestCardCashierAbort(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 5000)
	if _, err := e.h.CancelPayment(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.term.WaitAborts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentCancelled)
	if n := e.term.Charges(p.Reference); n != 0 || len(e.term.Ledger()) != 0 {
		t.Errorf("terminal ledger %+v after abort, want empty", e.term.Ledger())
	}
	if n := countState(e.events(p.ID), kvitt.PaymentCancelled); n != 1 {
		t.Errorf("%d transitions to cancelled", n)
	}
	if err := e.term.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// The sale takes a new payment afterwards.
	p2 := e.pay(ctx, s.ID, "cash", 5000)
	if p2.State != kvitt.PaymentPaid {
		t.Fatalf("cash after abort: %s", p2.State)
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}

// TestCardDecline: the card is refused; nothing is charged; the customer
// pays with another card.
func TestCardDecline(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 6000)
	if _, err := e.h.ActAsCustomer(ctx, p.ID, kvitt.CustomerDecline, kvitt.CustomerOptions{}); err != nil {
		t.Fatal(err)
	}
	p = e.waitState(p.ID, kvitt.PaymentDeclined)
	if p.ErrorCode == "" || p.Message == "" {
		t.Errorf("declined payment code %q message %q, want both", p.ErrorCode, p.Message)
	}
	if len(e.term.Ledger()) != 0 {
		t.Errorf("terminal ledger %+v after decline, want empty", e.term.Ledger())
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("completing an unpaid sale: %v, want ECONFLICT", err)
	}

	p2 := e.pay(ctx, s.ID, "card", 6000)
	if err := e.term.WaitFor(ctx, p2.Reference); err != nil {
		t.Fatal(err)
	}
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.waitState(p2.ID, kvitt.PaymentPaid)
	rc, err := e.h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tenders) != 1 || rc.Tenders[0].PaymentID != p2.ID {
		t.Errorf("receipt tenders %+v, want only the approved payment", rc.Tenders)
	}
	if e.term.Charges(p.Reference) != 0 || e.term.Charges(p2.Reference) != 1 {
		t.Errorf("charges: declined %d approved %d, want 0 and 1", e.term.Charges(p.Reference), e.term.Charges(p2.Reference))
	}
}

// TestCardRefundThroughTerminal: a card-present refund of part of a paid
// card payment: the terminal asks for the card, pays back, the payment is
// partially refunded.
func TestCardRefundThroughTerminal(t *testing.T) {
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
	if r.State != kvitt.RefundPending {
		t.Errorf("refund after create: %s, want pending (the terminal asks for the card)", r.State)
	}
	if err := e.term.WaitFor(ctx, r.Reference); err != nil {
		t.Fatal(err)
	}
	if sc := e.term.Screen(); !sc.Refund || sc.Amount != "30.00 SEK" && sc.Amount != "30,00 SEK" {
		t.Errorf("terminal screen %+v, want a refund of 30 SEK", sc)
	}
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.waitRefund(r.ID, kvitt.RefundSucceeded)
	p = e.waitState(p.ID, kvitt.PaymentPartiallyRefunded)
	if p.Refunded != 3000 {
		t.Errorf("refunded %d, want 3000", p.Refunded)
	}
	refunds := e.ledger("refund")
	if len(refunds) != 1 || refunds[0].Amount != 3000 || refunds[0].ServiceID != r.Reference {
		t.Errorf("terminal refunds %+v, want one of 3000 for %s", refunds, r.Reference)
	}
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want 1", n)
	}
}

// TestCardRestartMidRefund: kvitt goes down while the terminal waits for
// the card of a refund; the customer presents it meanwhile; the new
// process's refund.sync job finds the refund done by TransactionStatus.
func TestCardRestartMidRefund(t *testing.T) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	s, p := e.startCard(ctx, 8000)
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
	r, err := e.h.CreateRefund(ctx, p.ID, hub.RefundInput{Amount: 8000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.term.WaitFor(ctx, r.Reference); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	e.start(true)
	e.waitRefund(r.ID, kvitt.RefundSucceeded)
	p = e.waitState(p.ID, kvitt.PaymentRefunded)
	if p.Refunded != 8000 {
		t.Errorf("refunded %d, want 8000", p.Refunded)
	}
	if refunds := e.ledger("refund"); len(refunds) != 1 || refunds[0].Amount != 8000 {
		t.Errorf("terminal refunds %+v, want exactly one of 8000", refunds)
	}
}

// TestCardAbortTooLate: the cashier cancels while the terminal is already
// authorising the card; the approval wins: the payment is paid, charged
// once, and the sale can be completed.
func TestCardAbortTooLate(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	e.term.SetProcessingTime(time.Hour) // authorising until the test says so
	s, p := e.startCard(ctx, 4200)
	if err := e.term.PresentCard(simnexo.Approve); err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *kvitt.Payment
		err error
	}
	done := make(chan result, 1)
	go func() {
		cp, err := e.h.CancelPayment(ctx, p.ID)
		done <- result{cp, err}
	}()
	if err := e.term.WaitAborts(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.term.CompleteProcessing(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err == nil && r.p.State == kvitt.PaymentCancelled {
		t.Fatalf("CancelPayment reported cancelled for an approved payment")
	}
	p = e.waitState(p.ID, kvitt.PaymentPaid)
	if n := countState(e.events(p.ID), kvitt.PaymentCancelled); n != 0 {
		t.Errorf("events %v: cancelled appears", transitions(e.events(p.ID)))
	}
	if n := e.term.Charges(p.Reference); n != 1 {
		t.Errorf("terminal charged %d times, want 1", n)
	}
	if _, err := e.h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}
