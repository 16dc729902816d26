package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/controlunit"
	"github.com/kvitt-hub/kvitt/receipt"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
)

// withSimControlUnit gives till 1 the simulated control unit, spoken to over
// HTTPS by the real client, and returns the unit.
func withSimControlUnit(t *testing.T, h *Hub) *simcontrolunit.Unit {
	t.Helper()
	u, err := simcontrolunit.New(simcontrolunit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	c, err := controlunit.New(controlunit.Config{URL: u.URL(), TLS: u.ClientTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	withControlUnit(t, h, c)
	return u
}

// copyEntry finds the unit's record of the copy of the receipt with
// serial orig, and the registration data it recorded.
func copyEntry(u *simcontrolunit.Unit, orig int64) (simcontrolunit.Entry, map[string]any, bool) {
	for _, e := range u.Entries() {
		var d map[string]any
		if json.Unmarshal([]byte(e.Data), &d) != nil {
			continue
		}
		if d["type"] == "kopia" && d["copy_serial"] == float64(orig) {
			return e, d, true
		}
	}
	return simcontrolunit.Entry{}, nil, false
}

func cashReceipt(t *testing.T, h *Hub, total int64) *kvitt.Receipt {
	t.Helper()
	s := sale(t, h, total)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: total}); err != nil {
		t.Fatal(err)
	}
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// A copy (KOPIA) is registered with the control unit as receipt type
// "kopia" against its original, and carries the unit's answer: the unit's
// record holds the copy, and the printed copy names the unit and the code.
//
// Failed before: the copy was made with c := *orig, which took the
// original's Registration ("registered"), so registration was skipped: the
// copy said registered with no unit and no code, and the unit's record held
// only the original.
func TestCopyRegisteredWithControlUnit(t *testing.T) {
	h, _, _ := newHub(t)
	u := withSimControlUnit(t, h)
	orig := cashReceipt(t, h, 12500)
	if orig.Registration != kvitt.RegistrationRegistered {
		t.Fatalf("original %s", orig.Registration)
	}
	cp, err := h.CopyReceipt(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	e, d, ok := copyEntry(u, orig.Serial)
	if !ok {
		t.Fatalf("the control unit has no record of the copy; its record: %+v", u.Entries())
	}
	if d["serial"] != float64(cp.Serial) || d["amount"] != float64(orig.Total) {
		t.Errorf("the unit recorded the copy as %v; want serial %d amount %d", d, cp.Serial, orig.Total)
	}
	if n := u.Registrations(); n != 2 {
		t.Errorf("the unit holds %d registrations; want the original and the copy", n)
	}
	if cp.Registration != kvitt.RegistrationRegistered || cp.ControlUnitID != u.UnitID() || cp.ControlCode == "" || cp.ControlCode != e.Code {
		t.Errorf("copy %s unit %q code %q; want registered with unit %q and the unit's code %q", cp.Registration, cp.ControlUnitID, cp.ControlCode, u.UnitID(), e.Code)
	}
	stored, err := h.GetReceipt(ctx, cp.ID)
	if err != nil || stored.Registration != kvitt.RegistrationRegistered || stored.ControlCode != cp.ControlCode {
		t.Errorf("stored copy %+v %v", stored, err)
	}
	text := receipt.Text(stored, 42)
	if !strings.Contains(text, "K O P I A") || !strings.Contains(text, u.UnitID()) || strings.Contains(text, "EJ REGISTRERAT") {
		t.Errorf("printed copy:\n%s", text)
	}
	if js := jobsOf(t, h, jobReceiptRegister); len(js) != 0 {
		t.Errorf("%d registration jobs left", len(js))
	}
	if err := u.Verify(); err != nil {
		t.Error(err)
	}
}

// With the control unit down, the copy comes back pending (printed as not
// registered) and the receipt.register job registers it once the unit is
// back. Failed before: the copy said registered at once, and the unit never
// heard of it.
func TestCopyRegisteredByJobAfterOutage(t *testing.T) {
	h, _, clk := newHub(t)
	u := withSimControlUnit(t, h)
	orig := cashReceipt(t, h, 4200)
	u.SetDown(true)
	cp, err := h.CopyReceipt(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Registration != kvitt.RegistrationPending || cp.ControlCode != "" || cp.ControlUnitID != "" {
		t.Fatalf("copy while the unit is down: %s unit %q code %q; want pending without a code", cp.Registration, cp.ControlUnitID, cp.ControlCode)
	}
	if text := receipt.Text(cp, 42); !strings.Contains(text, "EJ REGISTRERAT I KONTROLLENHET") {
		t.Errorf("pending copy does not say it is not registered:\n%s", text)
	}
	if js := jobsOf(t, h, jobReceiptRegister); len(js) != 1 || js[0].Ref != cp.ID {
		t.Fatalf("registration jobs %+v; want one for the copy", js)
	}
	// A second copy is refused while the first is pending.
	if _, err := h.CopyReceipt(ctx, orig.ID); kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		t.Errorf("second copy: %v", err)
	}

	u.SetDown(false)
	clk.Advance(time.Minute)
	stop := startWorker(h, "w")
	defer stop()
	var got *kvitt.Receipt
	bound := time.Now().Add(30 * time.Second) // safety bound only
	for {
		if got, err = h.GetReceipt(ctx, cp.ID); err != nil {
			t.Fatal(err)
		}
		if got.Registration == kvitt.RegistrationRegistered {
			break
		}
		if time.Now().After(bound) {
			t.Fatal("the job never registered the copy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e, _, ok := copyEntry(u, orig.Serial)
	if !ok || got.ControlCode != e.Code || got.ControlUnitID != u.UnitID() {
		t.Errorf("copy %q %q; the unit's record of it %+v (found %v)", got.ControlUnitID, got.ControlCode, e, ok)
	}
	if n := u.Registrations(); n != 2 {
		t.Errorf("the unit holds %d registrations; want 2", n)
	}
}

// A receipt of a till without a control unit has a copy that needs no
// registration either.
func TestCopyWithoutControlUnit(t *testing.T) {
	h, _, _ := newHub(t)
	orig := cashReceipt(t, h, 1000)
	cp, err := h.CopyReceipt(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if orig.Registration != kvitt.RegistrationNotRequired || cp.Registration != kvitt.RegistrationNotRequired {
		t.Errorf("original %s, copy %s; want both not_required", orig.Registration, cp.Registration)
	}
	if js := jobsOf(t, h, jobReceiptRegister); len(js) != 0 {
		t.Errorf("registration jobs %v", fmt.Sprint(js))
	}
}
