package nexo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Endpoint addresses one terminal from one till.
type Endpoint struct {
	URL    string // "https://10.0.0.12:8443/nexo"
	POIID  string // the terminal
	SaleID string // the till, as the terminal knows it
	// Crypto, when set, protects every request and requires every answer to
	// be protected with the same key (Adyen's local Terminal API encryption).
	Crypto *Crypto
	// NoLogin: the terminal takes requests without a LoginRequest first
	// (Adyen). kvitt still logs in when such a terminal answers LoggedOut.
	NoLogin bool
	// HTTP, when set, sends this terminal's requests (its own TLS policy:
	// root and certificate name); the Client's HTTP otherwise.
	HTTP *http.Client
}

// Client sends nexo requests to terminals. A terminal takes one service
// request at a time (Abort, Login and TransactionStatus excepted), so the
// client serialises Payment and Reversal per POIID. It logs in on first use
// of a terminal and again when a terminal answers LoggedOut.
type Client struct {
	// HTTP sends the requests. Its timeout must exceed the terminal's
	// payment timeout (about 130 s); NewClient sets one.
	HTTP *http.Client
	// Software is sent in LoginRequest.
	Software SaleSoftware
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	busy     map[string]chan struct{} // POIID → one-slot semaphore
	loggedIn map[string]bool          // POIID + "\x00" + SaleID
}

// NewClient returns a client that trusts roots (the terminal's CA; the
// system roots when nil) with real certificate verification, and waits up to
// timeout for an answer.
func NewClient(roots *x509.CertPool, timeout time.Duration) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 4
	return &Client{
		HTTP: &http.Client{Transport: tr, Timeout: timeout},
		Software: SaleSoftware{
			ManufacturerID:    "kvitt",
			ApplicationName:   "kvitt",
			SoftwareVersion:   "1.0",
			CertificationCode: "kvitt",
		},
	}
}

// NewServiceID returns a random ServiceID of 10 characters (nexo allows ≤10).
func NewServiceID() string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRSTVWXYZ"
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Timestamp formats t as nexo's ISODateTime.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ErrTransport marks an error where the request may or may not have reached
// the terminal: the outcome is unknown.
var ErrTransport = errors.New("nexo: no answer from the terminal")

// ErrNotSent marks a transport error before any byte of the request left
// kvitt: no connection to the terminal could be made (refused, no route,
// a name that does not resolve). It comes with ErrTransport; unlike the
// others, its outcome is known: the terminal never got the request.
var ErrNotSent = errors.New("nexo: the terminal cannot be reached")

// notConnected reports whether err is a failure to connect: the dial, to
// the terminal or to a proxy, failed, so nothing was written. (A request
// that fails on a reused connection is sent again by net/http only when
// nothing of it was written, on a new connection: its dial error is such
// an error too.)
func notConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func header(ep Endpoint, category, serviceID string) MessageHeader {
	return MessageHeader{
		ProtocolVersion: ProtocolVersion,
		MessageClass:    "Service",
		MessageCategory: category,
		MessageType:     "Request",
		ServiceID:       serviceID,
		SaleID:          ep.SaleID,
		POIID:           ep.POIID,
	}
}

// Do sends one request and returns the terminal's response; nil, nil when
// the terminal answered without a body (Abort). It takes no lock and does
// not log in.
func (c *Client) Do(ctx context.Context, ep Endpoint, req *SaleToPOIRequest) (*SaleToPOIResponse, error) {
	body, err := json.Marshal(Message{SaleToPOIRequest: req})
	if err != nil {
		return nil, err
	}
	if ep.Crypto != nil {
		sm, err := ep.Crypto.Seal(body, req.MessageHeader)
		if err != nil {
			return nil, err
		}
		if body, err = json.Marshal(SecuredEnvelope{SaleToPOIRequest: sm}); err != nil {
			return nil, err
		}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if ep.HTTP != nil {
		hc = ep.HTTP
	}
	res, err := hc.Do(hr)
	if err != nil {
		if ce := certificateError(err); ce != nil {
			// The TLS handshake failed: the request never left.
			return nil, ce
		}
		if notConnected(err) {
			return nil, fmt.Errorf("%w (%w): %s %s: %w", ErrTransport, ErrNotSent, req.MessageHeader.MessageCategory, req.MessageHeader.ServiceID, err)
		}
		return nil, fmt.Errorf("%w: %s %s: %v", ErrTransport, req.MessageHeader.MessageCategory, req.MessageHeader.ServiceID, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s answer: %v", ErrTransport, req.MessageHeader.MessageCategory, err)
	}
	if res.StatusCode == http.StatusUnauthorized {
		if cr := cryptoRefusal(req.MessageHeader, data); cr != nil {
			return nil, cr
		}
	}
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%w: %s answered HTTP %d: %.200s", ErrTransport, req.MessageHeader.MessageCategory, res.StatusCode, data)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "ok" {
		return nil, nil
	}
	if ep.Crypto != nil {
		// An answer that is not protected with the terminal's key is not
		// the terminal's: it books nothing, and the outcome stays unknown.
		if data, err = openAnswer(ep.Crypto, data); err != nil {
			return nil, fmt.Errorf("%w: %s answer refused: %w", ErrTransport, req.MessageHeader.MessageCategory, err)
		}
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s answer is not nexo JSON: %v", ErrTransport, req.MessageHeader.MessageCategory, err)
	}
	r := m.SaleToPOIResponse
	if r == nil {
		return nil, fmt.Errorf("%w: %s answer has no SaleToPOIResponse", ErrTransport, req.MessageHeader.MessageCategory)
	}
	// An answer is this request's only if its header names the request:
	// category, ServiceID, and the till (SaleID) and terminal (POIID) it
	// is between. Any other (another payment's, another till's) books
	// nothing: the outcome stays unknown and is asked by TransactionStatus.
	h, q := r.MessageHeader, req.MessageHeader
	if h.MessageCategory != q.MessageCategory || h.ServiceID != q.ServiceID || h.SaleID != q.SaleID || h.POIID != q.POIID {
		return nil, fmt.Errorf("%w: answer %s/%s for %s at %s does not match request %s/%s for %s at %s", ErrTransport,
			h.MessageCategory, h.ServiceID, h.SaleID, h.POIID, q.MessageCategory, q.ServiceID, q.SaleID, q.POIID)
	}
	return r, nil
}

// openAnswer decrypts and verifies a protected SaleToPOIResponse and checks
// that its clear header is the one inside.
func openAnswer(c *Crypto, data []byte) ([]byte, error) {
	var env SecuredEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: answer is not JSON: %v", ErrCrypto, err)
	}
	sm := env.SaleToPOIResponse
	if sm == nil || sm.SecurityTrailer == nil || sm.NexoBlob == "" {
		return nil, fmt.Errorf("%w: the answer is not encrypted", ErrCrypto)
	}
	pt, err := c.Open(sm)
	if err != nil {
		return nil, err
	}
	var inner Message
	if err := json.Unmarshal(pt, &inner); err != nil || inner.SaleToPOIResponse == nil {
		return nil, fmt.Errorf("%w: NexoBlob holds no SaleToPOIResponse", ErrCrypto)
	}
	if inner.SaleToPOIResponse.MessageHeader != sm.MessageHeader {
		return nil, fmt.Errorf("%w: the clear MessageHeader differs from the encrypted one", ErrCrypto)
	}
	return pt, nil
}

// lock takes the terminal's one request slot, waiting for ctx.
func (c *Client) lock(ctx context.Context, poiid string) (func(), error) {
	c.mu.Lock()
	if c.busy == nil {
		c.busy = map[string]chan struct{}{}
	}
	ch := c.busy[poiid]
	if ch == nil {
		ch = make(chan struct{}, 1)
		c.busy[poiid] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func loginKey(ep Endpoint) string { return ep.POIID + "\x00" + ep.SaleID }

func (c *Client) setLoggedIn(ep Endpoint, v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn == nil {
		c.loggedIn = map[string]bool{}
	}
	c.loggedIn[loginKey(ep)] = v
}

func (c *Client) isLoggedIn(ep Endpoint) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loggedIn[loginKey(ep)]
}

// Login opens a session with the terminal.
func (c *Client) Login(ctx context.Context, ep Endpoint) (*LoginResponse, error) {
	req := &SaleToPOIRequest{
		MessageHeader: header(ep, CategoryLogin, NewServiceID()),
		LoginRequest: &LoginRequest{
			DateTime:     Timestamp(c.now()),
			SaleSoftware: c.Software,
			SaleTerminalData: SaleTerminalData{
				TerminalEnvironment: "Attended",
				SaleCapabilities:    []string{"PrinterReceipt"},
			},
			OperatorLanguage: "sv",
		},
	}
	r, err := c.Do(ctx, ep, req)
	if err != nil {
		return nil, err
	}
	if r == nil || r.LoginResponse == nil {
		return nil, fmt.Errorf("%w: Login answer has no LoginResponse", ErrTransport)
	}
	if r.LoginResponse.Response.Result == ResultSuccess {
		c.setLoggedIn(ep, true)
	}
	return r.LoginResponse, nil
}

// ensureLogin logs in unless the client already has a session.
func (c *Client) ensureLogin(ctx context.Context, ep Endpoint) error {
	if c.isLoggedIn(ep) {
		return nil
	}
	lr, err := c.Login(ctx, ep)
	if err != nil {
		return err
	}
	if lr.Response.Result != ResultSuccess {
		return &TerminalError{Category: CategoryLogin, Response: lr.Response}
	}
	return nil
}

// TerminalError is a definite refusal of a request that the terminal did
// not process (a failed Login).
type TerminalError struct {
	Category string
	Response Response
}

func (e *TerminalError) Error() string {
	return fmt.Sprintf("nexo: %s refused: %s %s", e.Category, e.Response.ErrorCondition, e.Response.AdditionalResponse)
}

// withLogin runs send after logging in, and once more after a fresh Login
// when the terminal answers LoggedOut (it refused the request unprocessed,
// so sending it again with the same ServiceID cannot charge twice).
func (c *Client) withLogin(ctx context.Context, ep Endpoint, send func() (*Response, error)) error {
	if !ep.NoLogin {
		if err := c.ensureLogin(ctx, ep); err != nil {
			return err
		}
	}
	r, err := send()
	if err != nil || r == nil || r.ErrorCondition != "LoggedOut" {
		return err
	}
	c.setLoggedIn(ep, false)
	if err := c.ensureLogin(ctx, ep); err != nil {
		return err
	}
	_, err = send()
	return err
}

// Payment sends a PaymentRequest under serviceID and waits for the answer.
// sent, if not nil, is called once the request holds the terminal's slot and
// is about to leave. An error means the outcome is unknown: ask
// TransactionStatus, never send another PaymentRequest.
func (c *Client) Payment(ctx context.Context, ep Endpoint, serviceID string, pr *PaymentRequest, sent func()) (*PaymentResponse, error) {
	unlock, err := c.lock(ctx, ep.POIID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *PaymentResponse
	err = c.withLogin(ctx, ep, func() (*Response, error) {
		if sent != nil {
			sent()
			sent = nil
		}
		r, err := c.Do(ctx, ep, &SaleToPOIRequest{MessageHeader: header(ep, CategoryPayment, serviceID), PaymentRequest: pr})
		if err != nil {
			return nil, err
		}
		if r == nil || r.PaymentResponse == nil {
			return nil, fmt.Errorf("%w: Payment answer has no PaymentResponse", ErrTransport)
		}
		out = r.PaymentResponse
		return &out.Response, nil
	})
	return out, err
}

// Reversal reverses an approved transaction.
func (c *Client) Reversal(ctx context.Context, ep Endpoint, rr *ReversalRequest) (*ReversalResponse, error) {
	unlock, err := c.lock(ctx, ep.POIID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	serviceID := NewServiceID()
	var out *ReversalResponse
	err = c.withLogin(ctx, ep, func() (*Response, error) {
		r, err := c.Do(ctx, ep, &SaleToPOIRequest{MessageHeader: header(ep, CategoryReversal, serviceID), ReversalRequest: rr})
		if err != nil {
			return nil, err
		}
		if r == nil || r.ReversalResponse == nil {
			return nil, fmt.Errorf("%w: Reversal answer has no ReversalResponse", ErrTransport)
		}
		out = r.ReversalResponse
		return &out.Response, nil
	})
	return out, err
}

// Abort asks the terminal to stop the request named by ref; the aborted
// request then answers Failure/Aborted. The terminal answers without a body.
func (c *Client) Abort(ctx context.Context, ep Endpoint, ref MessageReference, reason string) error {
	if reason == "" {
		reason = "MerchantAbort"
	}
	_, err := c.Do(ctx, ep, &SaleToPOIRequest{
		MessageHeader: header(ep, CategoryAbort, NewServiceID()),
		AbortRequest:  &AbortRequest{AbortReason: reason, MessageReference: ref},
	})
	return err
}

// TransactionStatus asks what became of the request named by ref.
func (c *Client) TransactionStatus(ctx context.Context, ep Endpoint, ref MessageReference) (*TransactionStatusResponse, error) {
	var out *TransactionStatusResponse
	serviceID := NewServiceID()
	err := c.withLogin(ctx, ep, func() (*Response, error) {
		r, err := c.Do(ctx, ep, &SaleToPOIRequest{
			MessageHeader:            header(ep, CategoryTransactionStatus, serviceID),
			TransactionStatusRequest: &TransactionStatusRequest{MessageReference: &ref},
		})
		if err != nil {
			return nil, err
		}
		if r == nil || r.TransactionStatusResponse == nil {
			return nil, fmt.Errorf("%w: TransactionStatus answer has no TransactionStatusResponse", ErrTransport)
		}
		out = r.TransactionStatusResponse
		return &out.Response, nil
	})
	return out, err
}
