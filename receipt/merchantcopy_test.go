package receipt_test

import (
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt/receipt"
)

// A merchant copy exists only when the terminal asked for a signature; then
// the customer's receipt says so and the slip carries the signature line.
func TestMerchantCopy(t *testing.T) {
	fx := fixtures(t)
	if _, ok := receipt.MerchantCopy(fx["card_tip"], 42); ok {
		t.Error("a merchant copy for a PIN-verified card payment")
	}
	if _, ok := receipt.MerchantCopy(fx["cash_change"], 42); ok {
		t.Error("a merchant copy for a cash payment")
	}
	r := fx["card_tip"]
	sig := *visa
	sig.SignatureRequired, sig.Verification = true, "Signature"
	r.Tenders[0].Card = &sig
	for _, w := range []int{receipt.Width42, receipt.Width48} {
		slip, ok := receipt.MerchantCopy(r, w)
		if !ok {
			t.Fatal("no merchant copy although the terminal asked for a signature")
		}
		for _, want := range []string{"BUTIKENS EXEMPLAR", "Signatur: ___", "varav dricks", sig.MaskedPAN, "KÖP"} {
			if !strings.Contains(slip, want) {
				t.Errorf("width %d: merchant copy lacks %q:\n%s", w, want, slip)
			}
		}
		for _, l := range strings.Split(slip, "\n") {
			if n := len([]rune(l)); n > w {
				t.Errorf("width %d: line of %d characters: %q", w, n, l)
			}
		}
		golden(t, "merchant_copy_"+map[int]string{42: "42", 48: "48"}[w], []byte(slip))
	}
	customer := receipt.Text(r, 42)
	if !strings.Contains(customer, "Signeras på butikens exemplar") || strings.Contains(customer, "Signatur: ___") {
		t.Errorf("the customer's receipt should point to the merchant copy, not carry the signature line:\n%s", customer)
	}
}
