package simmobilepay

import (
	"net/http"
	"sort"
)

// LedgerPayment is one payment as the simulator books it: its amounts
// (minor units) and how many times each operation took effect. A test
// ends on these counters, the provider's own: one create, one capture.
type LedgerPayment struct {
	Reference  string `json:"reference"`
	State      string `json:"state"`
	Currency   string `json:"currency"`
	Amount     int64  `json:"amount"`
	Authorized int64  `json:"authorized"`
	Captured   int64  `json:"captured"`
	Cancelled  int64  `json:"cancelled"`
	Refunded   int64  `json:"refunded"`
	// Captures and Refunds count the captures and refunds carried out
	// (not the requests: a repeated Idempotency-Key carries out nothing).
	Captures int `json:"captures"`
	Refunds  int `json:"refunds"`
}

// Ledger lists every payment the simulator holds, by reference.
func (s *Sim) Ledger() []LedgerPayment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []LedgerPayment{}
	for _, p := range s.payments {
		s.expireLocked(p)
		l := LedgerPayment{Reference: p.Reference, State: p.State, Currency: p.Currency, Amount: p.Value,
			Authorized: p.authorized, Captured: p.captured, Cancelled: p.cancelled, Refunded: p.refunded}
		for _, e := range p.events {
			switch e.Name {
			case "CAPTURED":
				l.Captures++
			case "REFUNDED":
				l.Refunds++
			}
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reference < out[j].Reference })
	return out
}

// simLedger is GET /sim/ledger: the ledger as JSON, read-only.
func (s *Sim) simLedger(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Ledger())
}
