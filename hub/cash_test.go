package hub

import (
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// TestCashRestBelowHalfACoin: after a card payment leaves 0.30 SEK, paying
// the rest in cash rounds it to nothing; the payment records the rounding and
// the sale can be completed.
func TestCashRestBelowHalfACoin(t *testing.T) {
	h, fp, _ := newHub(t)
	s := sale(t, h, 10030)
	fp.script([]answer{{u: kvitt.Update{State: kvitt.PaymentPaid}}}, nil)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "fake", Amount: 10000}); err != nil {
		t.Fatal(err)
	}
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 30})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != kvitt.PaymentPaid || p.Amount != 0 || p.Rounding != -30 || p.Applied() != 30 {
		t.Fatalf("cash rest = state %s amount %d rounding %d", p.State, p.Amount, p.Rounding)
	}
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Total != 10030 || len(rc.Tenders) != 2 || rc.Tenders[1].Rounding != -30 {
		t.Errorf("receipt total %d tenders %+v", rc.Total, rc.Tenders)
	}
}

// TestPartialCashInWholeCoins: a part paid in cash must be what coins can
// pay; only the rest is rounded.
func TestPartialCashInWholeCoins(t *testing.T) {
	h, _, _ := newHub(t)
	s := sale(t, h, 10000)
	_, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 4950})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "amount")
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000, Tendered: 5000})
	if err != nil || p.Amount != 5000 || p.Rounding != 0 {
		t.Fatalf("partial cash = %+v, %v", p, err)
	}
	_, err = h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000, Tendered: 10050})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "tendered")
}
