package e2e

import (
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

// A payer alias Swish would refuse is the caller's mistake: a 422 naming
// payer_alias, and nothing stored. Before, "abc" was stored and sent, and
// came back as a failed BE18 payment on the sale.
func TestSwishBadPayerAliasIsRefusedBeforeStoring(t *testing.T) {
	e := newEnv(t, options{}, false)
	ctx := ctxT(t)
	s := e.sale(ctx, till1, 10000)
	for _, alias := range []string{"abc", "0701234567", "4670"} {
		_, err := e.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: "swish", Amount: 10000, PayerAlias: alias})
		if kvitt.ErrorCode(err) != kvitt.EUNPROCESSABLE || kvitt.ErrorField(err) != "payer_alias" {
			t.Errorf("payer alias %q: %v, want a 422 on payer_alias", alias, err)
		}
	}
	v, err := e.h.ViewSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Payments) != 0 {
		t.Fatalf("%d payments stored for refused input", len(v.Payments))
	}
	if p, err := e.h.CreatePayment(ctx, s.ID, hub.PaymentInput{Method: "swish", Amount: 10000, PayerAlias: "46701234567"}); err != nil || p.State != kvitt.PaymentPending {
		t.Fatalf("a good alias: %v %v", p, err)
	}
}
