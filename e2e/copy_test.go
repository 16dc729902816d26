package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
)

// apiCall sends one request to the running kvitt's API with key and
// returns the status and the body.
func (e *env) apiCall(key, method, path string) (int, string) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func (e *env) adminKey() string {
	e.t.Helper()
	_, secret, err := kvitthttp.CreateAPIKey(ctxT(e.t), e.db, kvitt.ScopeAdmin, "", "e2e copy")
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// unitCopy is the control unit's own record of the copy of the receipt
// with serial orig: its entry and the registration data it recorded.
func (e *env) unitCopy(orig int64) (simcontrolunit.Entry, map[string]any) {
	e.t.Helper()
	for _, en := range e.cu.Entries() {
		var d map[string]any
		if json.Unmarshal([]byte(en.Data), &d) == nil && d["type"] == "kopia" && d["copy_serial"] == float64(orig) {
			return en, d
		}
	}
	e.t.Fatalf("the control unit has no copy of receipt %d on record: %+v", orig, e.cu.Entries())
	return simcontrolunit.Entry{}, nil
}

// TestCopyRegisteredThroughAPI: a till prints the copy of a receipt
// (POST /v1/receipts/{id}/copy). The copy is registered with the control
// unit as a "kopia" of the original; its JSON carries the unit and the code
// the unit answered, the printed KOPIA has its Kontrollenhet line, and the
// unit's own record holds the copy.
//
// Failed before: the copy took the original's "registered" state, so kvitt
// never sent it: JSON "registration":"registered" without control_unit_id or
// control_code, an empty Kontrollenhet line, and no copy in the unit's record.
func TestCopyRegisteredThroughAPI(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	orig := e.cashSale(ctx, till1, 15000)
	if orig.Registration != kvitt.RegistrationRegistered {
		t.Fatalf("original %s", orig.Registration)
	}
	key := e.adminKey()
	status, body := e.apiCall(key, "POST", "/v1/receipts/"+orig.ID+"/copy")
	if status != http.StatusCreated {
		t.Fatalf("copy: %d %s", status, body)
	}
	var cp struct {
		ID            string `json:"id"`
		Type          string `json:"type"`
		Serial        int64  `json:"serial"`
		CopySerial    int64  `json:"copy_serial"`
		Registration  string `json:"registration"`
		ControlUnitID string `json:"control_unit_id"`
		ControlCode   string `json:"control_code"`
	}
	if err := json.Unmarshal([]byte(body), &cp); err != nil {
		t.Fatal(err)
	}
	en, d := e.unitCopy(orig.Serial)
	if d["serial"] != float64(cp.Serial) || d["amount"] != float64(orig.Total) || d["copy_date_time"] == "" {
		t.Errorf("the unit recorded %v; want the copy's serial %d, amount %d and the original's time", d, cp.Serial, orig.Total)
	}
	if cp.Registration != "registered" || cp.ControlUnitID != e.cu.UnitID() || cp.ControlCode == "" || cp.ControlCode != en.Code {
		t.Errorf("copy JSON: %s; want registered with unit %s and code %s", body, e.cu.UnitID(), en.Code)
	}
	if cp.CopySerial != orig.Serial || cp.Serial <= orig.Serial {
		t.Errorf("copy serial %d of %d", cp.Serial, cp.CopySerial)
	}

	status, text := e.apiCall(key, "GET", "/v1/receipts/"+cp.ID+"?format=text")
	if status != http.StatusOK {
		t.Fatalf("copy text: %d %s", status, text)
	}
	unitLine := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "Kontrollenhet") && strings.HasSuffix(strings.TrimSpace(l), e.cu.UnitID()) {
			unitLine = true
		}
	}
	if !strings.Contains(text, "K O P I A") || !unitLine || strings.Contains(text, "EJ REGISTRERAT") {
		t.Errorf("printed copy:\n%s", text)
	}
	if k := e.journalKinds(cp.ID); k["receipt.issued"] != 1 || k["receipt.registered"] != 1 {
		t.Errorf("kvitt's journal for the copy: %v; want issued and registered", k)
	}
	if n := e.cu.Registrations(); n != 2 {
		t.Errorf("the unit holds %d registrations; want the original and its copy", n)
	}
	if err := e.cu.Verify(); err != nil {
		t.Error(err)
	}
	e.verifyJournal()
}

// TestCopyPendingThenJobRegisters: the control unit is down when the copy
// is printed. The copy comes back pending (printed as not registered);
// kvitt restarts; when the unit is back the receipt.register job registers
// the copy, once, and the unit's record (its journal file) holds it.
func TestCopyPendingThenJobRegisters(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	orig := e.cashSale(ctx, till1, 9900)
	e.cu.SetDown(true)
	cp, err := e.h.CopyReceipt(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Registration != kvitt.RegistrationPending || cp.ControlCode != "" {
		t.Fatalf("copy while the unit is down: %s code %q; want pending", cp.Registration, cp.ControlCode)
	}
	if js := e.jobs("receipt.register", cp.ID); len(js) != 1 {
		t.Fatalf("%d registration jobs for the copy; want 1", len(js))
	}
	e.restart(true)
	e.cu.SetDown(false)
	got := e.waitRegistered(cp.ID)
	en, _ := e.unitCopy(orig.Serial)
	if got.ControlCode != en.Code || got.ControlUnitID != e.cu.UnitID() {
		t.Errorf("copy registered with %q %q; the unit recorded %q", got.ControlUnitID, got.ControlCode, en.Code)
	}
	if n := e.cu.Registrations(); n != 2 {
		t.Errorf("the unit holds %d registrations; want 2", n)
	}
	if err := e.cu.Verify(); err != nil {
		t.Error(err)
	}
	e.verifyJournal()
}
