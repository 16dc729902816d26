package simcomputop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The simulator's own books and its test controls, for tests that run it as
// a process of its own (kvitt sim computop) and must count what it did:
//
//	GET  /sim/ledger.json                       payments, credits, held requests, notifications
//	POST /sim/faults/{endpoint}/{fault}         lose-request, lose-response or hold the next request to swish.aspx, credit.aspx, …
//	POST /sim/held/{id}/{process|drop}          handle a held request now, or drop it unhandled

// LedgerPayment is one Swish payment the simulator holds. Two for one
// TransID, or for one ReqID, are a double charge.
type LedgerPayment struct {
	PayID      string `json:"pay_id"`
	TransID    string `json:"trans_id"`
	RefNr      string `json:"ref_nr,omitempty"`
	ReqID      string `json:"req_id,omitempty"`
	Amount     int64  `json:"amount"`
	Status     string `json:"status"`
	CodeExt    string `json:"code_ext,omitempty"`
	AmountCap  int64  `json:"amount_cap"`
	AmountCred int64  `json:"amount_cred"`
	// Notified: a notification of the final status was acknowledged (2xx).
	Notified bool `json:"notified"`
}

// LedgerCredit is one credit the simulator carried out: money paid back.
type LedgerCredit struct {
	PayID   string `json:"pay_id"`
	TransID string `json:"trans_id"`
	RefNr   string `json:"ref_nr,omitempty"`
	ReqID   string `json:"req_id,omitempty"`
	Amount  int64  `json:"amount"`
	// Via is "credit.aspx" or "batch <file name> line <n>".
	Via string    `json:"via"`
	At  time.Time `json:"at"`
}

// HeldRequest is a request held by the Hold fault.
type HeldRequest struct {
	ID       int    `json:"id"`
	Endpoint string `json:"endpoint"`
	TransID  string `json:"trans_id"`
	RefNr    string `json:"ref_nr,omitempty"`
	ReqID    string `json:"req_id,omitempty"`
	Amount   string `json:"amount,omitempty"`
}

type heldRequest struct {
	HeldRequest
	release chan bool
}

// Ledger is the simulator's books.
type Ledger struct {
	Payments      []LedgerPayment `json:"payments"`
	Credits       []LedgerCredit  `json:"credits"`
	Held          []HeldRequest   `json:"held"`
	Notifications []Notification  `json:"notifications"`
}

// Ledger returns a copy of the simulator's books.
func (s *Sim) Ledger() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Ledger{Payments: []LedgerPayment{}, Credits: append([]LedgerCredit{}, s.ledger...), Held: []HeldRequest{},
		Notifications: append([]Notification{}, s.notes...)}
	for _, p := range s.payments {
		l.Payments = append(l.Payments, LedgerPayment{PayID: p.PayID, TransID: p.TransID, RefNr: p.RefNr, ReqID: p.ReqID,
			Amount: p.Amount, Status: p.Status, CodeExt: p.CodeExt, AmountCap: p.AmountCap, AmountCred: p.AmountCred, Notified: p.notified})
	}
	for _, h := range s.held {
		l.Held = append(l.Held, h.HeldRequest)
	}
	return l
}

// Held lists the requests the Hold fault holds.
func (s *Sim) Held() []HeldRequest { return s.Ledger().Held }

// Release handles the held request id now (process) or drops it
// unhandled, closing its connection (as if it never arrived).
func (s *Sim) Release(id int, process bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.held {
		if h.ID == id {
			s.held = append(s.held[:i:i], s.held[i+1:]...)
			h.release <- process
			return nil
		}
	}
	return fmt.Errorf("simcomputop: no held request %d", id)
}

// hold parks a deciphered request until Release; it reports whether to
// handle it. Closing the simulator drops it.
func (s *Sim) hold(path string, f fields) bool {
	s.mu.Lock()
	s.heldSeq++
	h := &heldRequest{HeldRequest: HeldRequest{ID: s.heldSeq, Endpoint: strings.Trim(path, "/"), TransID: f["transid"],
		RefNr: f["refnr"], ReqID: f["reqid"], Amount: f["amount"]}, release: make(chan bool, 1)}
	s.held = append(s.held, h)
	s.mu.Unlock()
	select {
	case process := <-h.release:
		return process
	case <-s.done:
		return false
	}
}

func (s *Sim) handleLedger(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Ledger())
}

var faultNames = map[string]Fault{"lose-request": LoseRequest, "lose-response": LoseResponse, "hold": Hold}

func (s *Sim) handleFault(w http.ResponseWriter, r *http.Request) {
	f, ok := faultNames[r.PathValue("fault")]
	if !ok {
		http.Error(w, "fault: lose-request, lose-response or hold", http.StatusBadRequest)
		return
	}
	endpoint := r.PathValue("endpoint")
	switch endpoint {
	case "swish.aspx", "credit.aspx", "inquire.aspx", "inquire24.aspx":
	default:
		http.Error(w, "endpoint: swish.aspx, credit.aspx, inquire.aspx or inquire24.aspx", http.StatusBadRequest)
		return
	}
	s.InjectFaultAt(endpoint, f)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) handleRelease(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	action := r.PathValue("action")
	if err != nil || (action != "process" && action != "drop") {
		http.Error(w, "POST /sim/held/{id}/{process|drop}", http.StatusBadRequest)
		return
	}
	if err := s.Release(id, action == "process"); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
