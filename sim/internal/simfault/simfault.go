// Package simfault is the simulators' server-error door (the provider
// fault suites, e2e/faults_*_test.go). A Front is a second HTTPS door to a
// simulator's own handler, with a certificate of the simulator's CA, as the
// provider's load balancer or API gateway in front of its service:
// requests through it reach the simulator as through its own URL, except
// those a test told it to fail. A failure is an HTTP 5xx answered either
// before the request reaches the service (a gateway error: nothing took
// effect) or after the service carried it out (an error after the effect:
// the payment exists, the answer says otherwise). Requests through the
// simulator's own URL are never failed, so a test points kvitt at the front
// and still reads the provider's books through the side door. Nothing in a
// simulator's handlers changes: its wire stays the provider's.
package simfault

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Config describes a simulator to a Front.
type Config struct {
	// Host is the loopback host to listen on (the simulator's).
	Host string
	// TLS is the server's TLS configuration: a certificate from the
	// simulator's CA (and its client-certificate rules, for mTLS).
	TLS *tls.Config
	// Handler is the simulator's own handler.
	Handler http.Handler
	// Op names a request's operation; "" is never failed.
	Op func(*http.Request) string
	// Answer writes a server error as the provider words it.
	Answer func(w http.ResponseWriter, r *http.Request, status int)
}

// Front is a failing front door to a simulator.
type Front struct {
	cfg Config
	ln  net.Listener
	srv *http.Server

	mu     sync.Mutex
	rules  []rule
	failed map[string]int // operation → requests failed
}

type rule struct {
	op     string
	status int
	after  bool
}

// Start starts a front door on a port of its own.
func Start(cfg Config) (*Front, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, "0"))
	if err != nil {
		return nil, err
	}
	f := &Front{cfg: cfg, ln: ln, failed: map[string]int{}}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), TLSConfig: cfg.TLS.Clone(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go f.srv.ServeTLS(ln, "", "")
	return f, nil
}

// URL is the front door's root URL (https://host:port, no trailing slash).
func (f *Front) URL() string { return "https://" + f.ln.Addr().String() }

// Addr is the front door's host:port.
func (f *Front) Addr() string { return f.ln.Addr().String() }

// Close stops the front door.
func (f *Front) Close() error { return f.srv.Close() }

// FailNext makes the next request of op through the front answer status
// (500 to 599): before it reaches the simulator (after false: nothing
// takes effect), or once the simulator has carried it out (after true: its
// answer is replaced). Failures queue up, one request each, in order.
func (f *Front) FailNext(op string, status int, after bool) error {
	if status < 500 || status > 599 {
		return fmt.Errorf("a server error is 500 to 599, not %d", status)
	}
	f.mu.Lock()
	f.rules = append(f.rules, rule{op: op, status: status, after: after})
	f.mu.Unlock()
	return nil
}

// Failed is how many requests of op the front has failed so far.
func (f *Front) Failed(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[op]
}

// Pending is how many failures are still queued.
func (f *Front) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rules)
}

// take removes and returns the first rule for op.
func (f *Front) take(op string) (rule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.op == op {
			f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			f.failed[op]++
			return r, true
		}
	}
	return rule{}, false
}

func (f *Front) serve(w http.ResponseWriter, r *http.Request) {
	op := f.cfg.Op(r)
	if op == "" {
		f.cfg.Handler.ServeHTTP(w, r)
		return
	}
	rl, fail := f.take(op)
	if !fail {
		f.cfg.Handler.ServeHTTP(w, r)
		return
	}
	if rl.after {
		// Carried out by the service; its answer never leaves the provider.
		f.cfg.Handler.ServeHTTP(httptest.NewRecorder(), r)
	}
	f.cfg.Answer(w, r, rl.status)
}
