package simnexo

import "sync"

// hold makes PaymentRequests wait until released (HoldPayments).
type hold struct {
	release chan struct{}
	arrived chan string
	once    sync.Once
}

// HoldPayments is a test hook for the late truth (DESIGN.md principle 8),
// off unless a test calls it: from now until release is called, each
// PaymentRequest (payment or refund) waits before the terminal takes it, as
// a request still on its way or queued in front of the payment application
// does. Meanwhile the terminal knows nothing of it: TransactionStatus for
// its ServiceID answers NotFound and an AbortRequest finds nothing to stop.
// arrived receives each held ServiceID. After release the held requests are
// taken as usual, even if the till has stopped waiting for the answer (the
// terminal then asks for the card all the same), and new ones are not held.
func (t *Terminal) HoldPayments() (arrived <-chan string, release func()) {
	h := &hold{release: make(chan struct{}), arrived: make(chan string, 16)}
	t.mu.Lock()
	t.hold = h
	t.mu.Unlock()
	return h.arrived, func() {
		h.once.Do(func() {
			t.mu.Lock()
			if t.hold == h {
				t.hold = nil
			}
			t.mu.Unlock()
			close(h.release)
		})
	}
}

// waitHold holds a PaymentRequest while HoldPayments is on; it reports
// false if the terminal closed meanwhile.
func (t *Terminal) waitHold(serviceID string) bool {
	t.mu.Lock()
	h := t.hold
	t.mu.Unlock()
	if h == nil {
		return true
	}
	select {
	case h.arrived <- serviceID:
	default:
	}
	select {
	case <-h.release:
		return true
	case <-t.closed:
		return false
	}
}
