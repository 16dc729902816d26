package kvitt_test

import (
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// The transition matrix, written out: a change to the map in payment.go must
// change this table too. Columns are in the order of the header.
const transitionMatrix = `
from \ to           created pending authorized paid partially_refunded refunded declined cancelled expired failed unknown
created             0       1       1          1    0                  0        1        1         1       1      1
pending             0       0       1          1    0                  0        1        1         1       1      1
authorized          0       0       0          1    0                  0        0        1         1       1      1
paid                0       0       0          0    1                  1        0        0         0       0      0
partially_refunded  0       0       0          0    1                  1        0        0         0       0      0
refunded            0       0       0          0    0                  0        0        0         0       0      0
declined            0       0       0          0    0                  0        0        0         0       0      0
cancelled           0       0       0          0    0                  0        0        0         0       0      0
expired             0       0       0          0    0                  0        0        0         0       0      0
failed              0       0       0          0    0                  0        0        0         0       0      0
unknown             0       1       1          1    0                  0        1        1         1       1      0
`

func TestPaymentTransitions(t *testing.T) {
	rows := strings.Split(strings.TrimSpace(transitionMatrix), "\n")
	header := strings.Fields(rows[0])[3:]
	if len(header) != len(kvitt.PaymentStates) || len(rows)-1 != len(kvitt.PaymentStates) {
		t.Fatalf("matrix is %d×%d; there are %d states", len(rows)-1, len(header), len(kvitt.PaymentStates))
	}
	for i, s := range kvitt.PaymentStates {
		if header[i] != string(s) {
			t.Fatalf("column %d is %s, state %d is %s", i, header[i], i, s)
		}
	}
	legal := 0
	for i, row := range rows[1:] {
		f := strings.Fields(row)
		from := kvitt.PaymentState(f[0])
		if from != kvitt.PaymentStates[i] {
			t.Fatalf("row %d is %s, want %s", i, from, kvitt.PaymentStates[i])
		}
		for j, to := range kvitt.PaymentStates {
			want := f[j+1] == "1"
			if want {
				legal++
			}
			if got := kvitt.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if legal != 31 {
		t.Errorf("the matrix has %d legal transitions; the test expects 31", legal)
	}
	// Strings that are not states never transition.
	for _, s := range kvitt.PaymentStates {
		if kvitt.CanTransition(s, "bogus") || kvitt.CanTransition("bogus", s) || kvitt.CanTransition("", s) {
			t.Errorf("%s: a bogus state transitions", s)
		}
	}
}

func TestPaymentStatePredicates(t *testing.T) {
	for _, tc := range []struct {
		s                     kvitt.PaymentState
		final, open, captured bool
	}{
		{kvitt.PaymentCreated, false, true, false},
		{kvitt.PaymentPending, false, true, false},
		{kvitt.PaymentAuthorized, false, true, false},
		{kvitt.PaymentPaid, false, false, true},
		{kvitt.PaymentPartiallyRefunded, false, false, true},
		{kvitt.PaymentRefunded, true, false, true},
		{kvitt.PaymentDeclined, true, false, false},
		{kvitt.PaymentCancelled, true, false, false},
		{kvitt.PaymentExpired, true, false, false},
		{kvitt.PaymentFailed, true, false, false},
		{kvitt.PaymentUnknown, false, true, false},
	} {
		if tc.s.Final() != tc.final || tc.s.Open() != tc.open || tc.s.Captured() != tc.captured {
			t.Errorf("%s: final %v open %v captured %v; want %v %v %v", tc.s, tc.s.Final(), tc.s.Open(), tc.s.Captured(), tc.final, tc.open, tc.captured)
		}
		// A final state goes nowhere; an open one can always end.
		for _, to := range kvitt.PaymentStates {
			if tc.s.Final() && kvitt.CanTransition(tc.s, to) {
				t.Errorf("final %s → %s is legal", tc.s, to)
			}
		}
		if tc.s.Open() && !kvitt.CanTransition(tc.s, kvitt.PaymentFailed) {
			t.Errorf("open %s cannot fail", tc.s)
		}
	}
	if len(kvitt.PaymentStates) != 11 {
		t.Errorf("%d states; the table above lists 11", len(kvitt.PaymentStates))
	}
}

func TestRefundable(t *testing.T) {
	p := &kvitt.Payment{Amount: 15000, Rounding: 50, Tip: 1000, State: kvitt.PaymentPaid}
	if p.Applied() != 14950 {
		t.Errorf("Applied = %d", p.Applied())
	}
	if p.Refundable() != 16000 {
		t.Errorf("Refundable = %d", p.Refundable())
	}
	p.Refunded, p.State = 6000, kvitt.PaymentPartiallyRefunded
	if p.Refundable() != 10000 {
		t.Errorf("Refundable after 6000 = %d", p.Refundable())
	}
	for _, s := range []kvitt.PaymentState{kvitt.PaymentCreated, kvitt.PaymentPending, kvitt.PaymentUnknown, kvitt.PaymentDeclined} {
		p.State = s
		if p.Refundable() != 0 {
			t.Errorf("%s: refundable %d", s, p.Refundable())
		}
	}
}
