package simmobilepay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt/sim/internal/simfault"
)

// Server errors from the platform (the provider fault suite,
// e2e/faults_mobilepay_test.go). A FaultFront is a second HTTPS door to the
// same simulator, with a certificate of the same CA, as the platform's API
// gateway in front of the ePayment API: requests through it reach the
// simulator as through its own URL, except those the test told it to fail,
// which are answered with a 5xx problem either before they reach the API
// (the gateway's error: nothing happened) or after the API carried them
// out (the payment exists, the capture was made: the answer says
// otherwise). The simulator's own URL never fails, so the test still reads
// the platform's books through it.

// Operations a FaultFront can fail.
const (
	OpCreate  = "create"  // POST /epayment/v1/payments
	OpGet     = "get"     // GET /epayment/v1/payments/{reference}
	OpEvents  = "events"  // GET /epayment/v1/payments/{reference}/events
	OpCapture = "capture" // POST /epayment/v1/payments/{reference}/capture
	OpCancel  = "cancel"  // POST /epayment/v1/payments/{reference}/cancel
	OpRefund  = "refund"  // POST /epayment/v1/payments/{reference}/refund
	OpToken   = "token"   // POST /accesstoken/get
)

var frontOps = []string{OpCreate, OpGet, OpEvents, OpCapture, OpCancel, OpRefund, OpToken}

// FaultFront is a failing front door to the simulator (StartFaultFront).
type FaultFront struct{ f *simfault.Front }

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
		Op:      frontOp,
		Answer: func(w http.ResponseWriter, r *http.Request, status int) {
			writeProblem(w, r, status, http.StatusText(status), "The service is temporarily unable to handle the request.", "")
		},
	})
	if err != nil {
		return nil, err
	}
	return &FaultFront{f}, nil
}

// URL is the front door's API base URL, to give kvitt instead of Sim.URL.
func (f *FaultFront) URL() string { return f.f.URL() }

// Addr is the front door's host:port.
func (f *FaultFront) Addr() string { return f.f.Addr() }

// Close stops the front door.
func (f *FaultFront) Close() error { return f.f.Close() }

// FailNext makes the next request of op (OpCreate, OpCapture, …) through
// the front answer status (500 to 599): before it reaches the API (after
// false: nothing happens at MobilePay), or once the API has carried it out
// (after true: its answer is replaced). Failures queue up, one request each.
func (f *FaultFront) FailNext(op string, status int, after bool) error {
	ok := false
	for _, o := range frontOps {
		ok = ok || o == op
	}
	if !ok {
		return fmt.Errorf("simmobilepay: no operation %q to fail (%s)", op, strings.Join(frontOps, ", "))
	}
	if err := f.f.FailNext(op, status, after); err != nil {
		return fmt.Errorf("simmobilepay: %w", err)
	}
	return nil
}

// Failed is how many requests of op the front has failed so far.
func (f *FaultFront) Failed(op string) int { return f.f.Failed(op) }

// Pending is how many failures are still queued.
func (f *FaultFront) Pending() int { return f.f.Pending() }

// frontOp names the operation of an API request ("" for one not failed).
func frontOp(r *http.Request) string {
	const prefix = "/epayment/v1/payments"
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/accesstoken/get":
		return OpToken
	case r.Method == http.MethodPost && p == prefix:
		return OpCreate
	case !strings.HasPrefix(p, prefix+"/"):
		return ""
	}
	ref, rest, _ := strings.Cut(strings.TrimPrefix(p, prefix+"/"), "/")
	switch {
	case ref == "" || ref == "test":
		return ""
	case r.Method == http.MethodGet && rest == "":
		return OpGet
	case r.Method == http.MethodGet && rest == "events":
		return OpEvents
	case r.Method == http.MethodPost && (rest == OpCapture || rest == OpCancel || rest == OpRefund):
		return rest
	}
	return ""
}
