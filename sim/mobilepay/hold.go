package simmobilepay

import (
	"fmt"
	"net/http"
	"strings"
)

// Held requests let a test stop the world at the worst moment: the next
// create, capture, cancel or refund waits in the simulator until it is
// released, and meanwhile the test kills kvitt. Released with "process",
// the request is handled as if it had just arrived (kvitt, dead, never
// hears the answer); with "drop", the connection is closed unhandled (the
// request never arrived).

// Operations that can be held.
var holdOps = []string{"create", "capture", "cancel", "refund"}

// HeldRequest is a request waiting in the simulator.
type HeldRequest struct {
	Op        string `json:"op"`
	Reference string `json:"reference"`
}

type held struct {
	HeldRequest
	release chan bool // true: process; false: drop
}

// opOf names the operation of an API request ("" for one that cannot be held).
func opOf(r *http.Request) (op, ref string) {
	if r.Method != http.MethodPost {
		return "", ""
	}
	if r.URL.Path == "/epayment/v1/payments" {
		return "create", ""
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/epayment/v1/payments/")
	if !ok {
		return "", ""
	}
	ref, op, ok = strings.Cut(rest, "/")
	if !ok {
		return "", ""
	}
	for _, o := range holdOps {
		if o == op {
			return op, ref
		}
	}
	return "", ""
}

// Hold makes the next request of op (create, capture, cancel, refund) wait
// until Release.
func (s *Sim) Hold(op string) error {
	for _, o := range holdOps {
		if o == op {
			s.mu.Lock()
			s.holds[op]++
			s.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("simmobilepay: cannot hold %q (%s)", op, strings.Join(holdOps, ", "))
}

// Held lists the requests waiting, oldest first.
func (s *Sim) Held() []HeldRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []HeldRequest{}
	for _, h := range s.held {
		out = append(out, h.HeldRequest)
	}
	return out
}

// Release lets the oldest held request of op (about the payment with
// reference, if not "") go on: handled if process, else dropped unanswered.
func (s *Sim) Release(op, reference string, process bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.held {
		if h.Op == op && (reference == "" || h.Reference == reference) {
			s.held = append(s.held[:i], s.held[i+1:]...)
			h.release <- process
			return nil
		}
	}
	return fmt.Errorf("simmobilepay: no %s request %s is held", op, reference)
}

// holdIfAsked holds r if a hold of its operation is pending; it reports
// whether r is then to be handled.
func (s *Sim) holdIfAsked(r *http.Request) bool {
	op, ref := opOf(r)
	if op == "" {
		return true
	}
	s.mu.Lock()
	if s.holds[op] == 0 {
		s.mu.Unlock()
		return true
	}
	s.holds[op]--
	if op == "create" {
		ref = "" // read from the body, once decoded: not needed to find it
	}
	h := &held{HeldRequest: HeldRequest{Op: op, Reference: ref}, release: make(chan bool, 1)}
	s.held = append(s.held, h)
	s.mu.Unlock()
	select {
	case process := <-h.release:
		return process
	case <-s.done:
		return false
	}
}

// simHold is POST /sim/hold/{op}.
func (s *Sim) simHold(w http.ResponseWriter, r *http.Request) {
	if err := s.Hold(r.PathValue("op")); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// simHeld is GET /sim/held.
func (s *Sim) simHeld(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Held())
}

// simRelease is POST /sim/held/{op}/{process|drop}[?reference=…].
func (s *Sim) simRelease(w http.ResponseWriter, r *http.Request) {
	var process bool
	switch r.PathValue("action") {
	case "process":
		process = true
	case "drop":
	default:
		http.Error(w, "release with process or drop", http.StatusBadRequest)
		return
	}
	if err := s.Release(r.PathValue("op"), r.URL.Query().Get("reference"), process); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
