// Package simswish is kvitt's Merchant Swish Simulator: it speaks the Swish
// Commerce API (v2 create, v1 retrieve and cancel, v2/v1 refunds) over HTTPS
// with client certificates, like Swish's own MSS, on loopback. It shares no
// wire types with package swish: both sides are pinned by the same literal
// JSON fixtures in their testdata directories.
//
// Like the MSS, an error code put in a request's message forces that
// outcome: create refusals (RP06, ACMT03, ...) at once as 422, payment
// outcomes (RF07, TM01, DS24, BANKIDCL, FF10, ...) when the customer
// approves, and refund outcomes (RF02, RF08, FF10, ...) when the refund
// settles. A customer interface (HTTP under /sim/customer/ and the Customer
// type) scans and approves, declines, cancels or walks away.
package simswish

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIPrefix is where the simulated API lives, as on Swish's hosts.
const APIPrefix = "/swish-cpcapi/api/"

// DefaultPayeeAlias is the merchant number of Swish's MSS test certificate.
const DefaultPayeeAlias = "1234679304"

// Options configure a simulator. The zero value is usable.
type Options struct {
	// Addr to listen on; "" means 127.0.0.1:0.
	Addr string
	// PayeeAlias is the merchant number of the generated merchant certificate.
	PayeeAlias string
	// PKI, if set, is used instead of a newly generated one.
	PKI *PKI
	// PayerWindow is how long a request waits for the customer before ERROR
	// TM01; 0 means 3 minutes.
	PayerWindow time.Duration
	// AutoApprove, if positive, approves every request that long after it is
	// created, as the MSS does (after about 5 s). 0 waits for the customer.
	AutoApprove time.Duration
	// RefundDelay is how long a refund stays CREATED before it settles.
	RefundDelay time.Duration
	// CallbackDelay is the wait between a final state and its callback.
	CallbackDelay time.Duration
	// CallbackTLS is the TLS client configuration for callbacks (the roots
	// that trust kvitt's callback listener); nil means the system's.
	CallbackTLS *tls.Config
	// DropCallbacks records callbacks without sending them.
	DropCallbacks bool
	// ClientCAs are more CAs whose client certificates the API accepts,
	// besides the PKI's own root (kvitt sim swish --client-ca): a test CA of
	// the merchant's. The certificate's CN is still the merchant number.
	ClientCAs []*x509.Certificate
	// ErrorLog receives the server's errors, such as a client certificate
	// refused in the TLS handshake; nil discards them.
	ErrorLog *log.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Callback is one callback the simulator sent (or dropped).
type Callback struct {
	URL        string
	Body       []byte
	StatusCode int
	Err        string
	Dropped    bool
}

// Fault is a failure injected into the next API request.
type Fault int

const (
	// LoseRequest drops the connection before the request is handled.
	LoseRequest Fault = iota + 1
	// LoseResponse handles the request, then drops the connection unanswered.
	LoseResponse
)

// Sim is a running simulator.
type Sim struct {
	opts   Options
	pki    *PKI
	ln     net.Listener
	srv    *http.Server
	client *http.Client // for callbacks

	mu        sync.Mutex
	payments  map[string]*payment // by instructionUUID
	tokens    map[string]string   // token → instructionUUID
	refunds   map[string]*refund
	callbacks []Callback
	faults    []Fault
	drop      bool
	hold      *hold // test hook: creates wait (HoldCreates)
	closed    bool
	timers    map[*time.Timer]struct{}
	wg        sync.WaitGroup
	done      chan struct{}
}

// New generates (or takes) the PKI and starts the simulator.
func New(opts Options) (*Sim, error) {
	if opts.PayeeAlias == "" {
		opts.PayeeAlias = DefaultPayeeAlias
	}
	if opts.PayerWindow == 0 {
		opts.PayerWindow = 3 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	pki := opts.PKI
	if pki == nil {
		var err error
		if pki, err = NewPKI(opts.PayeeAlias); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = opts.CallbackTLS
	s := &Sim{
		opts:     opts,
		pki:      pki,
		ln:       ln,
		client:   &http.Client{Transport: tr, Timeout: 10 * time.Second},
		payments: map[string]*payment{},
		tokens:   map[string]string{},
		refunds:  map[string]*refund{},
		timers:   map[*time.Timer]struct{}{},
		drop:     opts.DropCallbacks,
		done:     make(chan struct{}),
	}
	tlsc := pki.ServerTLSConfig()
	if len(opts.ClientCAs) > 0 {
		tlsc.ClientCAs = pki.RootPool().Clone()
		for _, c := range opts.ClientCAs {
			tlsc.ClientCAs.AddCert(c)
		}
	}
	errLog := opts.ErrorLog
	if errLog == nil {
		errLog = log.New(io.Discard, "", 0) // handshake failures are expected in tests
	}
	s.srv = &http.Server{Handler: s.routes(), TLSConfig: tlsc, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// Close stops the server, its timers and waits for callbacks in flight.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	close(s.done)
	s.mu.Unlock()
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// URL is the API base URL, like swish.MSSURL: https://127.0.0.1:port/swish-cpcapi/api/.
func (s *Sim) URL() string { return s.RootURL() + strings.TrimPrefix(APIPrefix, "/") }

// RootURL is the server's root, https://127.0.0.1:port/, where /sim/customer/ lives.
func (s *Sim) RootURL() string { return "https://" + s.ln.Addr().String() + "/" }

// PKI returns the simulator's certificates.
func (s *Sim) PKI() *PKI { return s.pki }

// PayeeAlias is the merchant number of the simulator's merchant certificate.
func (s *Sim) PayeeAlias() string { return s.opts.PayeeAlias }

// SetDropCallbacks turns dropping callbacks on or off (lost-callback tests).
func (s *Sim) SetDropCallbacks(drop bool) { s.mu.Lock(); s.drop = drop; s.mu.Unlock() }

// InjectFault makes the next API request fail as f.
func (s *Sim) InjectFault(f Fault) { s.mu.Lock(); s.faults = append(s.faults, f); s.mu.Unlock() }

// Callbacks returns the callbacks sent so far.
func (s *Sim) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.callbacks...)
}

// PaymentCount is the number of payment requests the simulator holds.
func (s *Sim) PaymentCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.payments) }

// RefundCount is the number of refunds the simulator holds.
func (s *Sim) RefundCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.refunds) }

// PaymentStatus returns a payment request's status and error code.
func (s *Sim) PaymentStatus(id string) (status, errorCode string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[id]
	if p == nil {
		return "", "", false
	}
	s.expireLocked(p)
	if p.ErrorCode != nil {
		errorCode = *p.ErrorCode
	}
	return p.Status, errorCode, true
}

// after runs f after d unless the simulator is closed first. Called with s.mu held.
func (s *Sim) after(d time.Duration, f func()) {
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, t)
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			f()
		}
	})
	s.timers[t] = struct{}{}
}

func newHex() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// sendCallback posts body to url after the delay, or records it as dropped.
// Called with s.mu held.
func (s *Sim) sendCallbackLocked(url string, body []byte) {
	if url == "" || s.closed {
		return
	}
	i := len(s.callbacks)
	s.callbacks = append(s.callbacks, Callback{URL: url, Body: body, Dropped: s.drop})
	if s.drop {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if d := s.opts.CallbackDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-s.done:
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
		code, msg := 0, ""
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			if resp, err = s.client.Do(req); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
		}
		if err != nil {
			msg = err.Error()
		}
		s.mu.Lock()
		s.callbacks[i].StatusCode, s.callbacks[i].Err = code, msg
		s.mu.Unlock()
	}()
}

// errNotFound and errConflict are the customer interface's refusals.
var (
	errNotFound = errors.New("no such payment request")
	errConflict = errors.New("the payment request is no longer waiting for the customer")
)

func fmtErr(format string, args ...any) error { return fmt.Errorf("simswish: "+format, args...) }
