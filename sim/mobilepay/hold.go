package simmobilepay

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt/sim/internal/simhold"
)

// Held requests let a test stop the world at the worst moment: the next
// create, capture, cancel or refund waits in the simulator until it is
// released, and meanwhile the test kills kvitt. Released with "process",
// the request is handled as if it had just arrived (kvitt, dead, never
// hears the answer); with "drop", the connection is closed unhandled (the
// request never arrived). The holding is sim/internal/simhold's; MobilePay's
// own are here: its operations, its HeldRequest and its routes.

// Operations that can be held.
var holdOps = []string{"create", "capture", "cancel", "refund"}

// HeldRequest is a request waiting in the simulator.
type HeldRequest struct {
	Op        string `json:"op"`
	Reference string `json:"reference"`
}

// newHolds makes the simulator's held requests, all dropped when done is
// closed (Close).
func newHolds(done <-chan struct{}) *simhold.Set[HeldRequest] {
	return simhold.New(simhold.Config[HeldRequest]{
		Name: "simmobilepay", Ops: holdOps, Noun: "requests", Done: done,
		View: func(r simhold.Request) HeldRequest { return HeldRequest{Op: r.Op, Reference: r.Key} },
	})
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
func (s *Sim) Hold(op string) error { return s.holds.Hold(op) }

// Held lists the requests waiting, oldest first.
func (s *Sim) Held() []HeldRequest { return s.holds.Held() }

// Release lets the oldest held request of op (about the payment with
// reference, if not "") go on: handled if process, else dropped unanswered.
func (s *Sim) Release(op, reference string, process bool) error {
	if !s.holds.Release(op, reference, process) {
		return fmt.Errorf("simmobilepay: no %s request %s is held", op, reference)
	}
	return nil
}

// holdIfAsked holds r if a hold of its operation is pending; it reports
// whether r is then to be handled.
func (s *Sim) holdIfAsked(r *http.Request) bool {
	op, ref := opOf(r)
	if op == "" {
		return true
	}
	if op == "create" {
		ref = "" // read from the body, once decoded: not needed to find it
	}
	return s.holds.Arrive(op, ref)
}

// simHold is POST /sim/hold/{op}.
func (s *Sim) simHold(w http.ResponseWriter, r *http.Request) { s.holds.ServeHold(w, r) }

// simHeld is GET /sim/held.
func (s *Sim) simHeld(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Held())
}

// simRelease is POST /sim/held/{op}/{process|drop}[?reference=…].
func (s *Sim) simRelease(w http.ResponseWriter, r *http.Request) {
	process, ok := simhold.Action(w, r.PathValue("action"))
	if !ok {
		return
	}
	simhold.Reply(w, s.Release(r.PathValue("op"), r.URL.Query().Get("reference"), process), http.StatusConflict)
}
