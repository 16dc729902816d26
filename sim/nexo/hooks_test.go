package simnexo

import (
	"testing"
	"time"
)

// HoldPayments: a held PaymentRequest is unknown to the terminal
// (TransactionStatus NotFound) until released, then taken as usual.
func TestHoldPayments(t *testing.T) {
	term, hc := start(t, Options{})
	ctx := ctxT(t)
	post(t, hc, term, fixture(t, "login_request.json"))
	arrived, release := term.HoldPayments()
	ch := answer(t, hc, term, fixture(t, "payment_request.json"))
	select {
	case sid := <-arrived:
		if sid != "A1B2C3D4E5" {
			t.Fatalf("held %s", sid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the PaymentRequest was not held")
	}
	_, got := post(t, hc, term, fixture(t, "transaction_status_request.json"))
	subset(t, "held", map[string]any{"SaleToPOIResponse": map[string]any{"TransactionStatusResponse": map[string]any{
		"Response": map[string]any{"Result": "Failure", "ErrorCondition": "NotFound"}}}}, got)
	if st := term.Screen().Stage; st != StageIdle {
		t.Errorf("screen %s while the request is held, want idle", st)
	}
	release()
	if err := term.WaitFor(ctx, "A1B2C3D4E5"); err != nil {
		t.Fatal(err)
	}
	term.PresentCard(Approve)
	subset(t, "released", map[string]any{"SaleToPOIResponse": map[string]any{"PaymentResponse": map[string]any{
		"Response": map[string]any{"Result": "Success"}}}}, recv(t, ch))
	if n := term.Charges("A1B2C3D4E5"); n != 1 {
		t.Errorf("%d charges, want 1", n)
	}
}
