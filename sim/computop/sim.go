// Package simcomputop is kvitt's Computop Paygate simulator: swish.aspx
// (Swish payments, channels Web and App), credit.aspx (credit with
// reference), inquire.aspx and inquire24.aspx, over HTTPS on loopback, with
// the Paygate's envelope (MerchantID, Len, Blowfish or AES Data), its
// HMAC-SHA256 MACs, the format rules of seed 003's tables, the ReqID rule
// (a resubmission returns the original only once the original is final;
// while it is open it is processed as a new payment), and URLNotify
// notifications with the Paygate's retry schedule. It shares no wire code
// with package computop.
//
// Like Swish's MSS, a Swish error code in OrderDesc forces that outcome: a
// create refusal (RP06, ACMT03, BE18, AM06) at once, a payment outcome
// (RF07, TM01, DS24, FF10, BANKIDCL) when the customer approves. A customer
// interface (HTTP under /sim/customer/ and the Customer type) approves,
// declines, cancels or walks away.
//
// It also plays the Batch Manager (batch.go: an uploaded credit batch file
// is carried out and answered with its response file) and offers test
// controls for a simulator running as a process of its own (ledger.go: its
// books, faults for the next request to an endpoint, held requests).
package simcomputop

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Defaults of a simulator.
const (
	DefaultMerchantID = "kvitt_sandbox"
	DefaultPassword   = "K7v!t9Sandbox#bf" // 16 bytes: usable for Blowfish and AES-128
	DefaultHMACKey    = "kvitt-sandbox-hmac-key"
)

// Codes the simulator answers with. 00000000 is Computop's success; the
// others have the A4 shape (class, module, detail) but are the simulator's
// choice: Computop's full A4 table is not public.
const (
	CodeOK          = "00000000"
	CodeUnknown     = "20160000" // inquiry: no such PayID or TransID (module 016: value unknown)
	CodeMAC         = "20010000" // module 001: cryptography (MAC or Data)
	CodeSwishFailed = "21000001" // the Swish payment failed; CodeExt says why
	CodeCreditLimit = "21000002" // credit above captured minus credited
	CodeNotifyFirst = "21000003" // credit before the first notification was acknowledged
	CodeAmountSmall = "21000004" // amount under 100 öre without the Helpdesk's consent
	CodeCurrency    = "21000005" // not SEK
	CodeNotifyURL   = "21000006" // URLNotify not https on port 443 or with parameters
	CodeNotPaid     = "21000007" // credit on a payment that is not paid
)

// Options configure a simulator. The zero value is usable.
type Options struct {
	// Addr to listen on; "" means 127.0.0.1:0.
	Addr string
	// MerchantID, Password (Blowfish, or AES with AES set) and HMACKey are
	// the merchant's credentials.
	MerchantID, Password, HMACKey string
	AES                           bool
	// AllowSmallAmounts accepts amounts under 100 öre (the Helpdesk's consent).
	AllowSmallAmounts bool
	// AllowAnyNotifyPort accepts URLNotify on a port other than 443 (loopback tests).
	AllowAnyNotifyPort bool
	// PayerWindow is how long a payment waits for the customer before TM01; 0 means 3 minutes.
	PayerWindow time.Duration
	// AutoApprove, if positive, approves every payment that long after it is created.
	AutoApprove time.Duration
	// NotifyTLS trusts kvitt's notification listener; nil means the
	// system's roots and the simulator's own CA.
	NotifyTLS *tls.Config
	// RetryUnit scales the Paygate's retry gaps (n³ minutes); 0 means a minute.
	RetryUnit time.Duration
	// DropNotifications records notifications without sending them.
	DropNotifications bool
	// NotifyForward, if set, is where notifications are delivered: this
	// base URL (http or https) and URLNotify's path, as a TLS-terminating
	// reverse proxy on URLNotify's host would forward them to kvitt. The
	// payment still carries URLNotify as given (https on port 443).
	NotifyForward string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Notification is one URLNotify post the simulator made (or dropped).
type Notification struct {
	TransID    string
	URL        string
	Status     string
	Attempt    int
	StatusCode int
	Err        string
	Dropped    bool
}

// Fault is a failure injected into the next request.
type Fault int

const (
	// LoseRequest drops the connection before the request is handled.
	LoseRequest Fault = iota + 1
	// LoseResponse handles the request, then drops the connection unanswered.
	LoseResponse
	// Hold deciphers the request and holds it, unhandled, until Release
	// says to handle it (its answer then goes to whoever still listens) or
	// to drop it (as if it never arrived). Held lists it meanwhile.
	Hold
)

// faultAt is a fault for the next request to one endpoint ("" for any).
type faultAt struct {
	path  string
	fault Fault
}

// Sim is a running simulator.
type Sim struct {
	opts   Options
	ca     *simpki.CA
	ln     net.Listener
	srv    *http.Server
	client *http.Client

	mu       sync.Mutex
	payments []*payment
	byPayID  map[string]*payment
	byTrans  map[string]*payment // the latest payment of a TransID
	reqIDs   map[string]*payment
	credits  map[string]*credit // by ReqID
	notes    []Notification
	faults   []faultAt
	held     []*heldRequest
	heldSeq  int
	ledger   []LedgerCredit    // every credit carried out, online or by batch
	batches  map[string]string // uploaded batch file name → response file path ("" while processing)
	batchDir string
	drop     bool
	closed   bool
	timers   map[*time.Timer]struct{}
	wg       sync.WaitGroup
	done     chan struct{}
}

type payment struct {
	PayID, XID, TransID, RefNr, ReqID string
	Amount                            int64
	Currency, OrderDesc               string
	Channel, MobileNr                 string
	URLNotify, UserData               string
	Token, SwishID                    string
	Status, Code, CodeExt, ErrorText  string
	Description                       string
	AmountAuth, AmountCap, AmountCred int64
	LastStatus                        string
	created                           time.Time
	notified                          bool // a notification was acknowledged with 2xx
}

type credit struct {
	answer [][2]string
}

// New starts a simulator.
func New(opts Options) (*Sim, error) {
	if opts.MerchantID == "" {
		opts.MerchantID = DefaultMerchantID
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.HMACKey == "" {
		opts.HMACKey = DefaultHMACKey
	}
	if opts.PayerWindow == 0 {
		opts.PayerWindow = 3 * time.Minute
	}
	if opts.RetryUnit == 0 {
		opts.RetryUnit = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	// The simulator's own CA is trusted for a notification listener whose
	// certificate it issued (IssueServerCertificate).
	ca, cert, ln, err := simpki.Listen("kvitt Computop Paygate simulator CA", opts.Addr)
	if err != nil {
		return nil, err
	}
	s := &Sim{
		opts: opts, ca: ca, ln: ln,
		client:  simpki.CallbackClient(ca, opts.NotifyTLS),
		byPayID: map[string]*payment{}, byTrans: map[string]*payment{}, reqIDs: map[string]*payment{},
		credits: map[string]*credit{}, timers: map[*time.Timer]struct{}{}, drop: opts.DropNotifications,
		done: make(chan struct{}),
	}
	s.srv = simpki.Serve(ln, cert, s.routes())
	return s, nil
}

// Close stops the server, its timers and waits for notifications in flight.
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
	dir := s.batchDir
	s.mu.Unlock()
	err := s.srv.Close()
	s.wg.Wait()
	if dir != "" {
		os.RemoveAll(dir)
	}
	return err
}

// URL is the Paygate base URL, like computop.ProductionURL.
func (s *Sim) URL() string { return "https://" + s.ln.Addr().String() + "/" }

// CAPEM is the certificate to trust for the simulator's server.
func (s *Sim) CAPEM() []byte { return s.ca.PEM }

// RootPool trusts the simulator's server.
func (s *Sim) RootPool() *x509.CertPool { return s.ca.Pool }

// ClientTLS is a client TLS configuration that trusts the simulator.
func (s *Sim) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.ca.Pool, MinVersion: tls.VersionTLS12}
}

// IssueServerCertificate issues a certificate for kvitt's notification
// listener on loopback, which the simulator trusts when Options.NotifyTLS is nil.
func (s *Sim) IssueServerCertificate() (tls.Certificate, error) {
	cert, _, _, err := s.ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 5)
	return cert, err
}

// Options returns the simulator's options (its credentials).
func (s *Sim) Options() Options { return s.opts }

// InjectFault makes the next request fail as f.
func (s *Sim) InjectFault(f Fault) { s.InjectFaultAt("", f) }

// InjectFaultAt makes the next request to endpoint ("credit.aspx"; "" for
// any) fail as f. Faults for one endpoint are used in the order given.
func (s *Sim) InjectFaultAt(endpoint string, f Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, faultAt{path: strings.Trim(endpoint, "/"), fault: f})
	s.mu.Unlock()
}

// takeFault removes and returns the first fault for this endpoint.
func (s *Sim) takeFault(endpoint string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.path == "" || f.path == endpoint {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			return f.fault
		}
	}
	return 0
}

// SetDropNotifications turns dropping notifications on or off.
func (s *Sim) SetDropNotifications(drop bool) { s.mu.Lock(); s.drop = drop; s.mu.Unlock() }

// Notifications returns the notifications so far.
func (s *Sim) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.notes...)
}

// PaymentCount is the number of Swish payments the simulator holds: a
// second payment for one TransID is a double charge.
func (s *Sim) PaymentCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.payments) }

// Payment returns the status, code and amounts of a TransID's latest payment.
func (s *Sim) Payment(transID string) (status, codeExt string, captured, credited int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byTrans[transID]
	if p == nil {
		return "", "", 0, 0, false
	}
	return p.Status, p.CodeExt, p.AmountCap, p.AmountCred, true
}

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

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /swish.aspx", s.paygate(s.swish))
	mux.HandleFunc("POST /credit.aspx", s.paygate(s.credit))
	mux.HandleFunc("POST /inquire.aspx", s.paygate(s.inquire))
	mux.HandleFunc("POST /inquire24.aspx", s.paygate(s.inquire24))
	mux.HandleFunc("POST /sim/customer/{transID}/{action}", s.handleCustomer)
	mux.HandleFunc("GET /sim/ledger.json", s.handleLedger)
	mux.HandleFunc("POST /sim/faults/{endpoint}/{fault}", s.handleFault)
	mux.HandleFunc("POST /sim/held/{id}/{action}", s.handleRelease)
	mux.HandleFunc("PUT /sim/batch/{name}", s.handleBatchUpload)
	mux.HandleFunc("GET /sim/batch/{name}", s.handleBatchDownload)
	return mux
}

// paygate wraps an endpoint: faults, the plain MerchantID, Data and Len
// deciphered, the answer enciphered as "Data=…&Len=…".
func (s *Sim) paygate(h func(f fields) [][2]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fault := s.takeFault(strings.Trim(r.URL.Path, "/"))
		if fault == LoseRequest {
			hijackClose(w)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if r.PostForm.Get("MerchantID") != s.opts.MerchantID {
			http.Error(w, "unknown MerchantID", http.StatusBadRequest)
			return
		}
		var answer [][2]string
		f, err := s.open(r.PostForm.Get("Data"), r.PostForm.Get("Len"))
		switch {
		case err != nil:
			answer = s.failure("", "", CodeMAC, "decryption error: "+err.Error())
		case f["merchantid"] != s.opts.MerchantID:
			answer = s.failure("", f["transid"], CodeMAC, "MerchantID in Data differs from the plain MerchantID")
		case fault == Hold && !s.hold(r.URL.Path, f):
			hijackClose(w) // dropped: as if it never arrived
			return
		default:
			answer = h(f)
		}
		if fault == LoseResponse {
			hijackClose(w)
			return
		}
		data, n := s.seal(answer)
		w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
		fmt.Fprintf(w, "Data=%s&Len=%d", data, n)
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Sim) failure(payID, transID, code, desc string) [][2]string {
	return [][2]string{{"mid", s.opts.MerchantID}, {"PayID", payID}, {"XID", ""}, {"TransID", transID},
		{"Status", "FAILED"}, {"Description", desc}, {"Code", code}}
}

// createCodes, in OrderDesc, refuse the payment at once with that CodeExt.
var createCodes = map[string]string{
	"RP06": "A payment request already exists for that payer", "ACMT03": "Payer not Enrolled",
	"BE18": "Payer alias is invalid", "AM06": "Specified transaction amount is less than agreed minimum",
}

// outcomeCodes, in OrderDesc, fail the payment with that CodeExt when the customer approves.
var outcomeCodes = map[string]string{
	"RF07": "Transaction declined", "TM01": "Swish timed out before the payment was started",
	"DS24": "Swish timed out waiting for an answer from the banks", "FF10": "Bank system processing error",
	"BANKIDCL": "Payer cancelled BankId signing",
}

func (s *Sim) swish(f fields) [][2]string {
	if code, desc := check(swishSpec, f); code != "" {
		return s.failure("", f["transid"], code, desc)
	}
	if !hmacEqual(f["mac"], s.mac("", f["transid"], f["merchantid"], f["amount"], f["currency"])) {
		return s.failure("", f["transid"], CodeMAC, "MAC error")
	}
	amount, _ := strconv.ParseInt(f["amount"], 10, 64)
	switch {
	case strings.ToUpper(f["currency"]) != "SEK":
		return s.failure("", f["transid"], CodeCurrency, "only SEK")
	case amount < 100 && !s.opts.AllowSmallAmounts:
		return s.failure("", f["transid"], CodeAmountSmall, "amount below 100")
	case f["channel"] == "Web" && f["mobilenr"] == "":
		return s.failure("", f["transid"], "40100000", "MobileNr required for Channel Web")
	}
	if u := f["urlnotify"]; u != "" && !s.notifyURLOK(u) {
		return s.failure("", f["transid"], CodeNotifyURL, "URLNotify must be https on port 443 without parameters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := f["reqid"]; id != "" {
		if orig := s.reqIDs[id]; orig != nil && orig.final() {
			return s.answerLocked(orig) // the original's status; nothing is executed
		}
		// An open original does not stop a resubmission: it is a new payment.
	}
	now := s.opts.Now()
	p := &payment{
		PayID: newID(), XID: newID(), TransID: f["transid"], RefNr: f["refnr"], ReqID: f["reqid"], Amount: amount,
		Currency: "SEK", OrderDesc: f["orderdesc"], Channel: f["channel"], MobileNr: f["mobilenr"],
		URLNotify: f["urlnotify"], UserData: f["userdata"], SwishID: strings.ToUpper(newID()),
		Status: "AUTHORIZE_REQUEST", Code: CodeOK, Description: "Request sent to Swish", LastStatus: "AUTHORIZE_REQUEST",
		created: now,
	}
	if p.Channel == "App" {
		p.Token = newID()[:29]
	}
	s.payments = append(s.payments, p)
	s.byPayID[p.PayID] = p
	s.byTrans[p.TransID] = p
	if p.ReqID != "" {
		s.reqIDs[p.ReqID] = p
	}
	for code, text := range createCodes {
		if strings.Contains(p.OrderDesc, code) {
			s.finishLocked(p, "FAILED", code, text)
			return s.answerLocked(p)
		}
	}
	s.after(s.opts.PayerWindow, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !p.final() {
			s.finishLocked(p, "FAILED", "TM01", outcomeCodes["TM01"])
		}
	})
	if d := s.opts.AutoApprove; d > 0 {
		s.after(d, func() { s.act(p.TransID, "approve") })
	}
	return s.answerLocked(p)
}

func (p *payment) final() bool { return p.Status == "OK" || p.Status == "FAILED" }

func (s *Sim) notifyURLOK(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return false
	}
	return u.Port() == "" || u.Port() == "443" || s.opts.AllowAnyNotifyPort
}

// answerLocked is the seed's "Ergebnis-Parameter für Swish-Zahlungen".
func (s *Sim) answerLocked(p *payment) [][2]string {
	a := [][2]string{{"mid", s.opts.MerchantID}, {"PayID", p.PayID}, {"XID", p.XID}, {"TransID", p.TransID}}
	if p.RefNr != "" {
		a = append(a, [2]string{"RefNr", p.RefNr})
	}
	a = append(a, [2]string{"Status", p.Status}, [2]string{"Description", p.Description}, [2]string{"Code", p.Code})
	if p.Status == "FAILED" {
		a = append(a, [2]string{"CodeExt", p.CodeExt}, [2]string{"ErrorText", p.ErrorText})
	}
	a = append(a, [2]string{"TransactionID", p.SwishID})
	if p.Token != "" {
		a = append(a, [2]string{"TokenExt", p.Token})
	}
	a = append(a, [2]string{"URLConfirm", "https://mss.swicpc.bankgirot.se/swish-cpcapi/api/v1/paymentrequests/" + p.SwishID})
	if p.UserData != "" {
		a = append(a, [2]string{"UserData", p.UserData})
	}
	return a
}

// finishLocked ends a payment and sends its notification.
func (s *Sim) finishLocked(p *payment, status, codeExt, text string) {
	p.Status, p.LastStatus = status, status
	p.XID = newID()
	if status == "OK" {
		p.Code, p.Description = CodeOK, "Payment successful"
		p.AmountAuth, p.AmountCap = p.Amount, p.Amount
	} else {
		p.Code, p.CodeExt, p.ErrorText, p.Description = CodeSwishFailed, codeExt, text, "Swish payment failed"
	}
	s.notifyLocked(p)
}

func (s *Sim) credit(f fields) [][2]string {
	if code, desc := check(creditSpec, f); code != "" {
		return s.failure(f["payid"], f["transid"], code, desc)
	}
	if !hmacEqual(f["mac"], s.mac(f["payid"], f["transid"], f["merchantid"], f["amount"], f["currency"])) {
		return s.failure(f["payid"], f["transid"], CodeMAC, "MAC error")
	}
	amount, _ := strconv.ParseInt(f["amount"], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := f["reqid"]; id != "" {
		if c := s.credits[id]; c != nil {
			return c.answer // a credit ends at once: the original's status
		}
	}
	p := s.byPayID[f["payid"]]
	fail := func(code, desc string) [][2]string {
		a := s.failure(f["payid"], f["transid"], code, desc)
		if id := f["reqid"]; id != "" {
			s.credits[id] = &credit{answer: a}
		}
		return a
	}
	switch {
	case p == nil || p.TransID != f["transid"]:
		return s.failure(f["payid"], f["transid"], CodeUnknown, "PayID unknown")
	case strings.ToUpper(f["currency"]) != "SEK":
		return fail(CodeCurrency, "only SEK")
	case amount < 100 && !s.opts.AllowSmallAmounts:
		return fail(CodeAmountSmall, "amount below 100")
	case p.Status != "OK":
		return fail(CodeNotPaid, "payment not captured")
	case p.URLNotify != "" && !p.notified:
		return fail(CodeNotifyFirst, "the first notification has not been acknowledged")
	case amount > p.AmountCap-p.AmountCred:
		return fail(CodeCreditLimit, "amount exceeds captured amount minus credits")
	}
	p.AmountCred += amount
	p.LastStatus = "OK"
	s.ledger = append(s.ledger, LedgerCredit{PayID: p.PayID, TransID: p.TransID, RefNr: f["refnr"], ReqID: f["reqid"],
		Amount: amount, Via: "credit.aspx", At: s.opts.Now()})
	a := [][2]string{{"mid", s.opts.MerchantID}, {"PayID", p.PayID}, {"XID", newID()}, {"TransID", p.TransID}}
	if f["refnr"] != "" {
		a = append(a, [2]string{"RefNr", f["refnr"]})
	}
	a = append(a, [2]string{"Status", "OK"}, [2]string{"Description", "success"}, [2]string{"Code", CodeOK})
	if id := f["reqid"]; id != "" {
		s.credits[id] = &credit{answer: a}
	}
	return a
}

func (s *Sim) inquire(f fields) [][2]string {
	if code, desc := check(inquireSpec, f); code != "" {
		return s.failure(f["payid"], f["transid"], code, desc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byPayID[f["payid"]]
	if p == nil || p.TransID != f["transid"] {
		return s.failure(f["payid"], f["transid"], CodeUnknown, "PayID unknown")
	}
	return s.inquiryLocked(p)
}

func (s *Sim) inquire24(f fields) [][2]string {
	if code, desc := check(inquire24Spec, f); code != "" {
		return s.failure("", f["transid"], code, desc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byTrans[f["transid"]]
	if p == nil {
		return s.failure("", f["transid"], CodeUnknown, "TransID unknown")
	}
	return s.inquiryLocked(p)
}

// inquiryLocked: Status and Code are the inquiry's own; the amounts and
// LastStatus are the payment's.
func (s *Sim) inquiryLocked(p *payment) [][2]string {
	return [][2]string{{"mid", s.opts.MerchantID}, {"PayID", p.PayID}, {"XID", p.XID}, {"TransID", p.TransID},
		{"Status", "OK"}, {"Description", "success"}, {"Code", CodeOK},
		{"AmountAuth", strconv.FormatInt(p.AmountAuth, 10)}, {"AmountCap", strconv.FormatInt(p.AmountCap, 10)},
		{"AmountCred", strconv.FormatInt(p.AmountCred, 10)}, {"Currency", p.Currency}, {"LastStatus", p.LastStatus}}
}

func hmacEqual(got, want string) bool {
	return len(got) == len(want) && strings.EqualFold(got, want)
}

// notifyLocked posts the notification, retrying 8 times on failure with
// gaps of n³ RetryUnits (1, 8, 27, … 512 minutes on the Paygate).
func (s *Sim) notifyLocked(p *payment) {
	if p.URLNotify == "" || s.closed {
		return
	}
	a := s.answerLocked(p)
	a = append(a, [2]string{"MAC", s.mac(p.PayID, p.TransID, s.opts.MerchantID, p.Status, p.Code)})
	data, n := s.seal(a)
	body := url.Values{"MerchantID": {s.opts.MerchantID}, "Len": {strconv.Itoa(n)}, "Data": {data}}.Encode()
	s.sendLocked(p, body, 0)
}

func (s *Sim) sendLocked(p *payment, body string, attempt int) {
	i := len(s.notes)
	s.notes = append(s.notes, Notification{TransID: p.TransID, URL: p.URLNotify, Status: p.Status, Attempt: attempt, Dropped: s.drop})
	if s.drop {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		code, msg := 0, ""
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.notifyTarget(p.URLNotify), strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1")
			var resp *http.Response
			if resp, err = s.client.Do(req); err == nil {
				code = resp.StatusCode
				io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
			}
		}
		if err != nil {
			msg = err.Error()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.notes[i].StatusCode, s.notes[i].Err = code, msg
		if code >= 200 && code < 300 {
			p.notified = true
			return
		}
		if attempt < 8 {
			n := time.Duration(attempt + 1)
			s.after(n*n*n*s.opts.RetryUnit, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.sendLocked(p, body, attempt+1)
			})
		}
	}()
}

// notifyTarget is where a notification for URLNotify goes: URLNotify
// itself, or its path under Options.NotifyForward.
func (s *Sim) notifyTarget(urlNotify string) string {
	if s.opts.NotifyForward == "" {
		return urlNotify
	}
	u, err := url.Parse(urlNotify)
	if err != nil {
		return urlNotify
	}
	return strings.TrimRight(s.opts.NotifyForward, "/") + u.EscapedPath()
}

// Renotify sends a TransID's notification again (a duplicate, as the
// Paygate may send).
func (s *Sim) Renotify(transID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byTrans[transID]
	if p == nil || !p.final() {
		return fmt.Errorf("simcomputop: no final payment %s", transID)
	}
	s.notifyLocked(p)
	return nil
}
