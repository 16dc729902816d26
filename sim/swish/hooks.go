package simswish

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Test hooks for the late truth (DESIGN.md principle 8). Both are off
// unless a test calls them; they change when the simulator answers, never
// what it answers: the wire stays Swish's.

// hold makes payment request creates wait until released.
type hold struct {
	release chan struct{}
	arrived chan string
	once    sync.Once
}

// HoldCreates is a test hook: from now until release is called, each
// payment request create (PUT v2/paymentrequests/{id}) waits before the
// simulator looks at it, as if it were still on its way over the network.
// Meanwhile Swish knows nothing of it: a retrieve or cancel of that
// instructionUUID is answered 404. arrived receives each held
// instructionUUID. After release, the held creates are served in order of
// arrival, even if their client has gone, and new ones are not held.
func (s *Sim) HoldCreates() (arrived <-chan string, release func()) {
	h := &hold{release: make(chan struct{}), arrived: make(chan string, 16)}
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
	return h.arrived, func() {
		h.once.Do(func() {
			s.mu.Lock()
			if s.hold == h {
				s.hold = nil
			}
			s.mu.Unlock()
			close(h.release)
		})
	}
}

// waitHold holds a create while HoldCreates is on; it reports false if the
// simulator closed meanwhile.
func (s *Sim) waitHold(r *http.Request) bool {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h == nil {
		return true
	}
	select {
	case h.arrived <- r.PathValue("id"):
	default:
	}
	select {
	case <-h.release:
		return true
	case <-s.done:
		return false
	}
}

// LatePay is a test hook: the customer's approval that raced a cancel, the
// end of the payer window or an error is booked after all. A payment
// request Swish had ended (CANCELLED, DECLINED or ERROR) becomes PAID, with
// a paymentReference and datePaid, and Swish calls back again. Swish's
// documentation says those states are final; kvitt must not lose the money
// if they are not. It returns the request as Swish now answers it.
func (s *Sim) LatePay(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[id]
	if p == nil {
		return nil, errNotFound
	}
	s.expireLocked(p)
	switch p.Status {
	case "CANCELLED", "DECLINED", "ERROR":
	default:
		return nil, fmtErr("payment request %s is %s, not ended without money", id, p.Status)
	}
	s.finishLocked(p, "PAID", "")
	return json.Marshal(p)
}
