package simsvea

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt/sim/internal/simfault"
)

// Server errors from Svea (the provider fault suite, e2e/faults_svea_test.go).
// A FaultFront is a second HTTPS door to the same simulator, with a
// certificate of the same CA, as Svea's load balancer in front of its
// Instore API: requests through it reach the simulator as through its own
// URL, except those the test told it to fail, which are answered with a 5xx
// either before they reach the API (a gateway error: nothing happened at
// Svea) or after the API carried them out (the order exists, or is
// cancelled: the answer says otherwise). The simulator's own URL never
// fails, so the test still reads Svea's book (Ledger) through it. The
// ledger counts what arrived at the API: a create failed after the effect
// counts in Creates and CreatesOK (the API made the order before the front
// replaced its answer); one failed before it does not count at all.

// Operations a FaultFront can fail: the Instore API's four calls.
const (
	OpCreate = "create" // POST /api/v1/orders
	OpStatus = "status" // GET /api/v1/orders/{merchantOrderNumber}/status
	OpCancel = "cancel" // POST /api/v1/orders/{merchantOrderNumber}/cancel
	OpReturn = "return" // POST /api/v1/orders/{merchantOrderNumber}/return
)

// FaultFront is a failing front door to the simulator (StartFaultFront).
type FaultFront struct{ f *simfault.Front }

// StartFaultFront starts a front door on a port of its own. Close it when
// done (the simulator's Close does not).
func (s *Sim) StartFaultFront() (*FaultFront, error) {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	// A certificate of its own from the simulator's CA (the server's
	// TLSConfig is the server's to change while it starts serving).
	cert, _, _, err := s.ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 5, host)
	if err != nil {
		return nil, err
	}
	f, err := simfault.Start(simfault.Config{
		Host:    host,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: s.srv.Handler,
		Op:      instoreOp,
		Answer: func(w http.ResponseWriter, r *http.Request, status int) {
			problem(w, status, "", http.StatusText(status))
		},
	})
	if err != nil {
		return nil, err
	}
	return &FaultFront{f}, nil
}

// URL is the front door's base URL, to give kvitt instead of Sim.URL.
func (f *FaultFront) URL() string { return f.f.URL() }

// Addr is the front door's host:port.
func (f *FaultFront) Addr() string { return f.f.Addr() }

// Close stops the front door.
func (f *FaultFront) Close() error { return f.f.Close() }

// FailNext makes the next request of op (OpCreate, OpStatus, OpCancel,
// OpReturn) through the front answer status (500 to 599): before it reaches
// the Instore API (after false: nothing happens at Svea), or once the API
// has carried it out (after true: its answer is replaced). Failures queue
// up, one request each.
func (f *FaultFront) FailNext(op string, status int, after bool) error {
	switch op {
	case OpCreate, OpStatus, OpCancel, OpReturn:
	default:
		return fmt.Errorf("simsvea: no operation %q to fail (create, status, cancel, return)", op)
	}
	if err := f.f.FailNext(op, status, after); err != nil {
		return fmt.Errorf("simsvea: %w", err)
	}
	return nil
}

// Failed is how many requests of op the front has failed so far.
func (f *FaultFront) Failed(op string) int { return f.f.Failed(op) }

// Pending is how many failures are still queued.
func (f *FaultFront) Pending() int { return f.f.Pending() }

// instoreOp names the Instore API call of a request ("" for anything else:
// the checkout page, the test hooks).
func instoreOp(r *http.Request) string {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case r.Method == http.MethodPost && p == "/api/v1/orders":
		return OpCreate
	case !strings.HasPrefix(p, "/api/v1/orders/"):
		return ""
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/status"):
		return OpStatus
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/cancel"):
		return OpCancel
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/return"):
		return OpReturn
	}
	return ""
}
