package simswish

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt/sim/internal/simfault"
)

// Server errors from Swish (the provider fault suite, e2e/faults_test.go).
// A FaultFront is a second HTTPS door to the same simulator, with the same
// server certificate and the same client-certificate rule, as Swish's load
// balancer in front of the Commerce API: requests through it reach the
// simulator as through its own URL, except those the test told it to fail,
// which are answered with a 5xx either before they reach the API (nothing
// happened at Swish) or after the API carried them out (the payment
// request exists: the answer says otherwise). The simulator's own URL never
// fails, so the test still reads Swish's books through it. The ledger
// (Ledger) counts what arrived at the API: a create failed after the effect
// counts in Creates, and in CreatesOK too, since the API answered it 201
// before the front replaced the answer.

// Operations a FaultFront can fail.
const (
	OpCreate    = "create"     // PUT v2/paymentrequests/{id}
	OpGet       = "get"        // GET v1/paymentrequests/{id}
	OpCancel    = "cancel"     // PATCH v1/paymentrequests/{id}
	OpRefund    = "refund"     // PUT v2/refunds/{id}
	OpGetRefund = "get_refund" // GET v1/refunds/{id}
)

var frontOps = []string{OpCreate, OpGet, OpCancel, OpRefund, OpGetRefund}

// FaultFront is a failing front door to the simulator (StartFaultFront).
type FaultFront struct{ f *simfault.Front }

// StartFaultFront starts a front door on a port of its own. Close it when
// done (the simulator's Close does not).
func (s *Sim) StartFaultFront() (*FaultFront, error) {
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	// The API's own rule (New): the server certificate, and client
	// certificates verified against the root and Options.ClientCAs.
	tlsc := s.pki.ServerTLSConfig()
	if len(s.opts.ClientCAs) > 0 {
		tlsc.ClientCAs = s.pki.RootPool().Clone()
		for _, c := range s.opts.ClientCAs {
			tlsc.ClientCAs.AddCert(c)
		}
	}
	f, err := simfault.Start(simfault.Config{
		Host:    host,
		TLS:     tlsc,
		Handler: s.srv.Handler,
		Op:      frontOp,
		Answer: func(w http.ResponseWriter, r *http.Request, status int) {
			http.Error(w, http.StatusText(status), status)
		},
	})
	if err != nil {
		return nil, err
	}
	return &FaultFront{f}, nil
}

// URL is the front door's API base URL, to give kvitt instead of Sim.URL.
func (f *FaultFront) URL() string { return f.f.URL() + APIPrefix }

// Addr is the front door's host:port.
func (f *FaultFront) Addr() string { return f.f.Addr() }

// Close stops the front door.
func (f *FaultFront) Close() error { return f.f.Close() }

// FailNext makes the next request of op (OpCreate, OpGet, …) through the
// front answer status (500 to 599): before it reaches the API (after false:
// nothing happens at Swish), or once the API has carried it out (after
// true: its answer is replaced). Failures queue up, one request each.
func (f *FaultFront) FailNext(op string, status int, after bool) error {
	ok := false
	for _, o := range frontOps {
		ok = ok || o == op
	}
	if !ok {
		return fmtErr("no operation %q to fail (%s)", op, strings.Join(frontOps, ", "))
	}
	if err := f.f.FailNext(op, status, after); err != nil {
		return fmt.Errorf("simswish: %w", err)
	}
	return nil
}

// Failed is how many requests of op the front has failed so far.
func (f *FaultFront) Failed(op string) int { return f.f.Failed(op) }

// Pending is how many failures are still queued.
func (f *FaultFront) Pending() int { return f.f.Pending() }

// frontOp names the Commerce API operation of a request ("" for any other).
func frontOp(r *http.Request) string {
	p, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
	if !ok {
		return ""
	}
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(p, "v2/paymentrequests/"):
		return OpCreate
	case r.Method == http.MethodGet && strings.HasPrefix(p, "v1/paymentrequests/"):
		return OpGet
	case r.Method == http.MethodPatch && strings.HasPrefix(p, "v1/paymentrequests/"):
		return OpCancel
	case r.Method == http.MethodPut && strings.HasPrefix(p, "v2/refunds/"):
		return OpRefund
	case r.Method == http.MethodGet && strings.HasPrefix(p, "v1/refunds/"):
		return OpGetRefund
	}
	return ""
}
