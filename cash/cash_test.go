package cash_test

import (
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
)

// The drawer pays out what coins can pay, and says what the rounding was;
// an amount coins cannot pay is refused, never paid out.
func TestSettleRefund(t *testing.T) {
	p := &kvitt.Payment{Method: "cash", Currency: kvitt.SEK, Amount: 3200, Rounding: -47, State: kvitt.PaymentPaid}
	u := cash.Provider{}.SettleRefund(p, &kvitt.Refund{Amount: 3200, Rounding: -47, Currency: kvitt.SEK})
	if u.State != kvitt.RefundSucceeded || !strings.Contains(u.Message, "32.00 SEK") || !strings.Contains(u.Message, "-0.47 SEK") {
		t.Errorf("rounded refund: %s %q", u.State, u.Message)
	}
	u = cash.Provider{}.SettleRefund(p, &kvitt.Refund{Amount: 125, Currency: kvitt.SEK})
	if u.State != kvitt.RefundFailed || !strings.Contains(u.Message, "1.00 SEK") {
		t.Errorf("1.25 SEK from the drawer: %s %q", u.State, u.Message)
	}
	u = cash.Provider{}.SettleRefund(p, &kvitt.Refund{Amount: 150, Currency: kvitt.DKK})
	if u.State != kvitt.RefundSucceeded {
		t.Errorf("1.50 DKK (50 øre coins): %s %q", u.State, u.Message)
	}
}
