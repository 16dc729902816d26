package simcomputop

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt/sim/internal/simfault"
)

// Server errors from the Paygate, and its late truth (the provider fault
// suite, e2e/faults_computop_test.go).
//
// A FaultFront is a second HTTPS door to the same simulator, with a
// certificate of the same CA, as the web servers in front of the Paygate's
// .aspx endpoints: requests through it reach the simulator as through its
// own URL, except those the test told it to fail, which are answered with
// an HTTP 5xx either before they reach the Paygate (nothing happened) or
// after the Paygate carried them out (the payment request is at Swish, the
// credit is paid out: the answer says otherwise). The simulator's own URL
// never fails, so the test still reads the Paygate's books (Ledger)
// through it.

// FaultFront is a failing front door to the simulator (StartFaultFront).
type FaultFront struct{ f *simfault.Front }

var frontOps = []string{"swish.aspx", "credit.aspx", "inquire.aspx", "inquire24.aspx"}

// StartFaultFront starts a front door on a port of its own. Close it when
// done (the simulator's Close does not).
func (s *Sim) StartFaultFront() (*FaultFront, error) {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	cert, _, _, err := s.ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 5, host)
	if err != nil {
		return nil, err
	}
	f, err := simfault.Start(simfault.Config{
		Host:    host,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: s.srv.Handler,
		Op: func(r *http.Request) string {
			ep := strings.Trim(r.URL.Path, "/")
			for _, o := range frontOps {
				if r.Method == http.MethodPost && o == ep {
					return ep
				}
			}
			return ""
		},
		Answer: func(w http.ResponseWriter, r *http.Request, status int) {
			http.Error(w, fmt.Sprintf("%d %s", status, http.StatusText(status)), status)
		},
	})
	if err != nil {
		return nil, err
	}
	return &FaultFront{f}, nil
}

// URL is the front door's Paygate base URL, to give kvitt instead of Sim.URL.
func (f *FaultFront) URL() string { return f.f.URL() + "/" }

// Addr is the front door's host:port.
func (f *FaultFront) Addr() string { return f.f.Addr() }

// Close stops the front door.
func (f *FaultFront) Close() error { return f.f.Close() }

// FailNext makes the next request to endpoint (swish.aspx, credit.aspx,
// inquire.aspx, inquire24.aspx) through the front answer status (500 to
// 599): before it reaches the Paygate (after false: nothing happens), or
// once the Paygate has carried it out (after true: its answer is
// replaced). Failures queue up, one request each.
func (f *FaultFront) FailNext(endpoint string, status int, after bool) error {
	endpoint = strings.Trim(endpoint, "/")
	ok := false
	for _, o := range frontOps {
		ok = ok || o == endpoint
	}
	if !ok {
		return fmt.Errorf("simcomputop: no endpoint %q to fail (%s)", endpoint, strings.Join(frontOps, ", "))
	}
	if err := f.f.FailNext(endpoint, status, after); err != nil {
		return fmt.Errorf("simcomputop: %w", err)
	}
	return nil
}

// Failed is how many requests to endpoint the front has failed so far.
func (f *FaultFront) Failed(endpoint string) int { return f.f.Failed(strings.Trim(endpoint, "/")) }

// Pending is how many failures are still queued.
func (f *FaultFront) Pending() int { return f.f.Pending() }

// LatePay is a test hook for the late truth (DESIGN.md principle 8): the
// customer's approval that raced the end of the payer window (TM01), a
// decline or an error is booked after all. A FAILED payment of this TransID
// becomes OK, captured in full, and the Paygate notifies again. kvitt must
// not lose the money when the Paygate's final states are not final.
func (s *Sim) LatePay(transID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byTrans[transID]
	if p == nil {
		return fmt.Errorf("simcomputop: no payment %s", transID)
	}
	if p.Status != "FAILED" {
		return fmt.Errorf("simcomputop: payment %s is %s, not ended without money", transID, p.Status)
	}
	p.CodeExt, p.ErrorText = "", ""
	s.finishLocked(p, "OK", "", "")
	return nil
}
