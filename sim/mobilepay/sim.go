// Package simmobilepay is kvitt's simulator of the Vipps MobilePay
// platform's test environment: the Access token API, the ePayment API (with
// the test environment's force approve), the Webhooks API with signed
// deliveries, and the QR API's merchant callback QRs, over HTTPS on
// loopback. It shares no wire types with package mobilepay: both sides are
// pinned by the same literal JSON fixtures in their testdata directories.
//
// A customer side (HTTP under /sim/customer/ and the Customer type) scans a
// till's static QR (which sends user.checked-in.v1 with a customer token),
// and approves, rejects or walks away from a payment.
package simmobilepay

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simhold"
	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Default credentials of the simulated sales unit.
const (
	DefaultMSN             = "123456"
	DefaultClientID        = "kvitt-sim-client-id"
	DefaultClientSecret    = "kvitt-sim-client-secret"
	DefaultSubscriptionKey = "kvitt-sim-subscription-key"
)

// Options configure a simulator. The zero value is usable.
type Options struct {
	// Addr to listen on; "" means 127.0.0.1:0.
	Addr string
	// MSN is the sales unit's Merchant Serial Number.
	MSN string
	// ClientID, ClientSecret and SubscriptionKey are the sales unit's API keys.
	ClientID, ClientSecret, SubscriptionKey string
	// TokenLifetime is the access tokens' lifetime; 0 means 1 hour, as in
	// the test environment.
	TokenLifetime time.Duration
	// PaymentWindow is how long a payment waits for the customer before it
	// is EXPIRED; 0 means 10 minutes, the platform's default.
	PaymentWindow time.Duration
	// CheckinTTL is how long a customer token is valid; 0 means 15 minutes.
	CheckinTTL time.Duration
	// WebhookTLS is the TLS configuration for deliveries; nil trusts the
	// system roots and the simulator's own CA (see ServerCertificate).
	WebhookTLS *tls.Config
	// WebhookDelay is the wait before each delivery.
	WebhookDelay time.Duration
	// DropWebhooks records deliveries without sending them.
	DropWebhooks bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Fault is a failure injected into the next API request.
type Fault int

const (
	// LoseRequest drops the connection before the request is handled.
	LoseRequest Fault = iota + 1
	// LoseResponse handles the request, then drops the connection unanswered.
	LoseResponse
)

// Delivery is one webhook delivery the simulator made (or dropped).
type Delivery struct {
	EventType  string
	URL        string
	Header     http.Header
	Body       []byte
	StatusCode int
	Err        string
	Dropped    bool
}

// Request is one API request the simulator received (token requests included).
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Sim is a running simulator.
type Sim struct {
	opts   Options
	ca     *simpki.CA
	ln     net.Listener
	srv    *http.Server
	client *http.Client // for deliveries

	mu         sync.Mutex
	tokens     map[string]time.Time // access token → expiry
	payments   map[string]*payment  // by reference
	creates    map[string]*replay   // create Idempotency-Key → first answer
	webhooks   []*webhook
	qrs        map[string]*callbackQR // by merchantQrId
	checkins   map[string]*checkin    // by customer token
	deliveries []Delivery
	requests   []Request
	faults     []Fault
	holds      *simhold.Set[HeldRequest] // requests a test holds (hold.go)
	drop       bool
	closed     bool
	timers     map[*time.Timer]struct{}
	wg         sync.WaitGroup
	done       chan struct{}
}

// New starts a simulator.
func New(opts Options) (*Sim, error) {
	if opts.MSN == "" {
		opts.MSN = DefaultMSN
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.SubscriptionKey == "" {
		opts.SubscriptionKey = DefaultSubscriptionKey
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.PaymentWindow == 0 {
		opts.PaymentWindow = 10 * time.Minute
	}
	if opts.CheckinTTL == 0 {
		opts.CheckinTTL = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ca, cert, ln, err := simpki.Listen("kvitt MobilePay Simulator CA", opts.Addr)
	if err != nil {
		return nil, err
	}
	s := &Sim{
		opts:     opts,
		ca:       ca,
		ln:       ln,
		client:   simpki.CallbackClient(ca, opts.WebhookTLS),
		tokens:   map[string]time.Time{},
		payments: map[string]*payment{},
		creates:  map[string]*replay{},
		qrs:      map[string]*callbackQR{},
		checkins: map[string]*checkin{},
		timers:   map[*time.Timer]struct{}{},
		drop:     opts.DropWebhooks,
		done:     make(chan struct{}),
	}
	s.holds = newHolds(s.done)
	s.srv = simpki.Serve(ln, cert, s.routes())
	return s, nil
}

// Close stops the server and its timers and waits for deliveries in flight.
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

// URL is the API base URL, like https://apitest.vipps.no: https://127.0.0.1:port.
func (s *Sim) URL() string { return "https://" + s.ln.Addr().String() }

// RootURL is URL with a trailing slash, where /sim/customer/ lives.
func (s *Sim) RootURL() string { return s.URL() + "/" }

// MSN, ClientID, ClientSecret and SubscriptionKey are the sales unit's credentials.
func (s *Sim) MSN() string             { return s.opts.MSN }
func (s *Sim) ClientID() string        { return s.opts.ClientID }
func (s *Sim) ClientSecret() string    { return s.opts.ClientSecret }
func (s *Sim) SubscriptionKey() string { return s.opts.SubscriptionKey }

// CAPEM is the simulator's CA certificate: trust it for the API.
func (s *Sim) CAPEM() []byte { return s.ca.PEM }

// RootPool holds the simulator's CA.
func (s *Sim) RootPool() *x509.CertPool { return s.ca.Pool }

// ClientTLS is what a client uses against the simulator.
func (s *Sim) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.ca.Pool, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client that trusts the simulator.
func (s *Sim) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = s.ClientTLS()
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// ServerCertificate issues a loopback server certificate from the
// simulator's CA, which its deliveries trust by default: serve kvitt's
// webhook listener with it in the sandbox.
func (s *Sim) ServerCertificate(hosts ...string) (tls.Certificate, error) {
	cert, _, _, err := s.ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 2, hosts...)
	return cert, err
}

// SetDropWebhooks turns dropping deliveries on or off (lost-webhook tests).
func (s *Sim) SetDropWebhooks(drop bool) { s.mu.Lock(); s.drop = drop; s.mu.Unlock() }

// InjectFault makes the next API request (not a token request) fail as f.
func (s *Sim) InjectFault(f Fault) { s.mu.Lock(); s.faults = append(s.faults, f); s.mu.Unlock() }

// Deliveries returns the webhook deliveries so far.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		d.Header = d.Header.Clone()
		d.Body = append([]byte(nil), d.Body...)
		out[i] = d
	}
	return out
}

// Requests returns the API requests received so far.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// PaymentCount is the number of payments the simulator holds.
func (s *Sim) PaymentCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.payments) }

// PaymentState returns a payment's state and aggregate amounts (minor units).
func (s *Sim) PaymentState(reference string) (state string, authorized, captured, cancelled, refunded int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[reference]
	if p == nil {
		return "", 0, 0, 0, 0, false
	}
	s.expireLocked(p)
	return p.State, p.authorized, p.captured, p.cancelled, p.refunded, true
}

// after runs f after d unless the simulator closes first. Called with s.mu held.
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

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomBase64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// stamp formats a time as the platform does (RFC 3339, UTC).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// waitDone waits d or until the simulator closes; it reports false if closed.
func (s *Sim) waitDone(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-s.done:
		return false
	case <-ctx.Done():
		return false
	}
}
