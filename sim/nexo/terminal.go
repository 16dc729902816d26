// Package simnexo simulates an integrated card terminal that speaks nexo
// Retailer (Sale-to-POI) as JSON over HTTPS, like a Westpay Carbon or an
// Adyen terminal: Login, Payment (Normal and Refund), Abort,
// TransactionStatus and Reversal, one request at a time, with tip ("Extra")
// entry, scripted cards and a kill switch that drops the connection.
//
// It shares no wire structs with package nexo: it reads and writes plain
// maps, and both sides are pinned by the same literal JSON fixtures.
package simnexo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Scenario is what the presented card (and the customer) does.
type Scenario string

// The scripted cards.
const (
	Approve           Scenario = "approve"            // tap, PIN, approved
	ApproveSignature  Scenario = "approve_signature"  // chip, approved, signature required
	Decline           Scenario = "decline"            // the issuer refuses
	WrongPIN          Scenario = "wrong_pin"          // the customer keys a wrong PIN
	InsufficientFunds Scenario = "insufficient_funds" // the issuer refuses: not enough balance
	CustomerCancel    Scenario = "cancel"             // the customer presses the red key
	NoAnswer          Scenario = "no_answer"          // the customer walks away; the terminal times out
	ApprovePartial    Scenario = "approve_partial"    // the issuer approves only half the amount (partial approval)
)

// Scenarios lists every scripted card, for the screen and the tests.
var Scenarios = []Scenario{Approve, ApproveSignature, Decline, WrongPIN, InsufficientFunds, CustomerCancel, NoAnswer, ApprovePartial}

// Options configure a terminal.
type Options struct {
	// POIID is the terminal's nexo identity; default "KVITTSIM-0001".
	POIID string
	// Tip turns on "Extra": the customer first enters the total (amount +
	// tip); OK without a total means no tip; a total below the amount is refused.
	Tip bool
	// ProcessingTime is how long authorisation takes after the card is
	// presented. An Abort during processing comes too late.
	ProcessingTime time.Duration
	// Auto, when set, answers every payment with this card at once (no tip)
	// instead of waiting for the customer.
	Auto Scenario
	// CustomerTimeout is how long the terminal waits for the customer;
	// default 120 s (then it answers as NoAnswer).
	CustomerTimeout time.Duration
	// Hosts are extra names or IP addresses for the server certificate.
	Hosts []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ErrorLog receives the HTTP server's errors (TLS handshakes...); nil discards them.
	ErrorLog *log.Logger
	// Profile is ProfileWestpay (default: Payment and Reversal need a Login
	// first) or ProfileAdyen (they do not).
	Profile string
	// Keys are the shared keys for Adyen's message protection. A protected
	// request must name one of them (identifier and version), carry a right
	// Hmac and a nonce not seen before; its answer is protected with the
	// same key. Otherwise the terminal answers HTTP 401 "crypto error".
	Keys []Key
	// RequireEncryption refuses requests in clear (Adyen in live use).
	RequireEncryption bool
	// CertificateName, when set, makes the terminal present a certificate
	// named after itself (Adyen: "P400Plus-123456789.test.terminal.adyen.com")
	// from an intermediate of its own fleet root (CertPool, CAPEM), and
	// nothing else: no IP address, no localhost.
	CertificateName string
	// AbortOnDrop behaves as Westpay's terminals: when the link to the till
	// drops (the till goes away or the connection breaks), a transaction
	// still waiting for the customer is aborted, and the till is logged
	// out; it must log in again before the terminal answers it, even
	// TransactionStatus. A card being authorised completes all the same.
	// Off (as Adyen's terminals), the transaction goes on.
	AbortOnDrop bool
}

// Stage is where the terminal's current transaction is.
type Stage string

// Stages of a transaction.
const (
	StageIdle       Stage = "idle"
	StageTip        Stage = "tip"        // "Enter total (amount + Extra)"
	StageCard       Stage = "card"       // "Insert or tap card"
	StageProcessing Stage = "processing" // authorising
	StageDone       Stage = "done"
)

// Entry is one line of the terminal's ledger: money that moved.
type Entry struct {
	Kind             string // "payment", "refund", "reversal"
	SaleID           string
	ServiceID        string
	POITransactionID string
	Currency         kvitt.Currency
	Amount           int64 // authorised, tip included
	Tip              int64
	Reversed         bool
}

// txn is one Payment request on the terminal.
type txn struct {
	saleID, serviceID string
	header            map[string]any // the request header, for the answer's
	paymentType       string
	currency          kvitt.Currency
	amount            int64
	tip               int64
	saleTx            map[string]any
	stage             Stage
	scenario          Scenario
	message           string // last thing on the screen
	poiTxID, poiTS    string
	result            map[string]any // the PaymentResponse body when done
	approved          bool
	authorized        int64 // what was approved, tip included
	ledger            int   // index into ledger when approved
	done              chan struct{}
	link              chan struct{} // closed by DropLink
	linkOnce          sync.Once
}

// Terminal is a simulated card terminal. Create it with New, serve it with
// Start (or mount Handler), stop it with Close.
type Terminal struct {
	opts  Options
	certs *certs

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	loggedIn map[string]bool
	current  *txn
	last     *txn
	txns     map[string]*txn // SaleID + "\x00" + ServiceID
	byPOI    map[string]*txn
	ledger   []Entry
	seq      int
	drop     int // answers to drop
	aborts   int // AbortRequests received
	screen   string
	hold     *hold // test hook: PaymentRequests wait (HoldPayments)
	closed   chan struct{}
	keys     map[string]*termKey // identifier + "\x00" + version
	nonces   map[string]bool     // nonces of authentic protected requests
	dropped  map[string]bool     // SaleIDs logged out by a dropped link (AbortOnDrop)

	srv *http.Server
	ln  net.Listener
}

// New returns a terminal with a fresh CA and server certificate.
func New(opts Options) (*Terminal, error) {
	if opts.POIID == "" {
		opts.POIID = "KVITTSIM-0001"
	}
	if opts.CustomerTimeout <= 0 {
		opts.CustomerTimeout = 120 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ErrorLog == nil {
		opts.ErrorLog = log.New(io.Discard, "", 0)
	}
	switch opts.Profile {
	case "":
		opts.Profile = ProfileWestpay
	case ProfileWestpay, ProfileAdyen:
	default:
		return nil, fmt.Errorf("simnexo: unknown profile %q", opts.Profile)
	}
	keys := map[string]*termKey{}
	for _, k := range opts.Keys {
		if k.Identifier == "" || k.Passphrase == "" {
			return nil, errors.New("simnexo: a key needs an identifier and a passphrase")
		}
		tk, err := deriveKey(k)
		if err != nil {
			return nil, err
		}
		keys[k.Identifier+"\x00"+strconv.Itoa(k.Version)] = tk
	}
	c, err := newCerts(opts.Hosts, opts.CertificateName)
	if err != nil {
		return nil, err
	}
	return &Terminal{
		opts:     opts,
		certs:    c,
		changed:  make(chan struct{}),
		loggedIn: map[string]bool{},
		txns:     map[string]*txn{},
		byPOI:    map[string]*txn{},
		closed:   make(chan struct{}),
		keys:     keys,
		nonces:   map[string]bool{},
		dropped:  map[string]bool{},
	}, nil
}

// Start listens on addr ("127.0.0.1:0" for any port) and serves HTTPS.
func (t *Terminal) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	t.srv = &http.Server{
		Handler:           t.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Terminals speak HTTP/1.1; it also lets the kill switch hijack.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{t.certs.server}, MinVersion: tls.VersionTLS12},
		ErrorLog:     t.opts.ErrorLog,
	}
	t.ln = ln
	go t.srv.ServeTLS(ln, "", "")
	return nil
}

// Addr is the listening address ("127.0.0.1:8443").
func (t *Terminal) Addr() string {
	if t.ln == nil {
		return ""
	}
	return t.ln.Addr().String()
}

// URL is the nexo endpoint for Till.Terminal.URL ("https://127.0.0.1:8443/nexo").
func (t *Terminal) URL() string { return "https://" + t.Addr() + "/nexo" }

// ScreenURL is the terminal's screen page for the sandbox.
func (t *Terminal) ScreenURL() string { return "https://" + t.Addr() + "/screen" }

// POIID is the terminal's nexo identity for Till.Terminal.POIID.
func (t *Terminal) POIID() string { return t.opts.POIID }

// CAPEM is the simulator's CA certificate, PEM encoded.
func (t *Terminal) CAPEM() []byte { return t.certs.caPEM }

// CertPool holds the simulator's CA, for nexo.Config.RootCAs.
func (t *Terminal) CertPool() *x509.CertPool { return t.certs.pool }

// Close stops the server; running transactions end unanswered.
func (t *Terminal) Close() error {
	t.mu.Lock()
	select {
	case <-t.closed:
	default:
		close(t.closed)
	}
	t.mu.Unlock()
	if t.srv != nil {
		return t.srv.Close()
	}
	return nil
}

// SetTip turns "Extra" on or off.
func (t *Terminal) SetTip(on bool) { t.mu.Lock(); t.opts.Tip = on; t.mu.Unlock() }

// SetAuto sets the card that answers every payment at once ("" waits for the customer).
func (t *Terminal) SetAuto(s Scenario) { t.mu.Lock(); t.opts.Auto = s; t.mu.Unlock() }

// SetProcessingTime sets how long authorisation takes.
func (t *Terminal) SetProcessingTime(d time.Duration) {
	t.mu.Lock()
	t.opts.ProcessingTime = d
	t.mu.Unlock()
}

// DropNextAnswer arms the kill switch: the next Payment answer is not sent;
// the connection is closed instead, while the transaction completes on the
// terminal (TransactionStatus reports it).
func (t *Terminal) DropNextAnswer() { t.mu.Lock(); t.drop++; t.mu.Unlock() }

// DropLink is a test hook: the link to the till breaks now, while the
// current transaction runs (a cable pulled, a Wi-Fi drop): the terminal
// closes the connection of the PaymentRequest without an answer. With
// AbortOnDrop, it then aborts the transaction if the customer has not yet
// presented a card, and logs the till out. It reports false when no
// transaction runs.
func (t *Terminal) DropLink() bool {
	t.mu.Lock()
	c := t.current
	t.mu.Unlock()
	if c == nil {
		return false
	}
	c.linkOnce.Do(func() { close(c.link) })
	return true
}

// linkLost is the terminal noticing that the till's link dropped during c.
func (t *Terminal) linkLost(c *txn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.opts.AbortOnDrop {
		return
	}
	if c.stage == StageTip || c.stage == StageCard {
		t.finish(c, "aborted")
	}
	delete(t.loggedIn, c.saleID)
	t.dropped[c.saleID] = true
	t.notify()
}

// LoggedIn reports whether the till with saleID has a login session.
func (t *Terminal) LoggedIn(saleID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loggedIn[saleID]
}

// LogOut forgets every login, as after a terminal restart.
func (t *Terminal) LogOut() {
	t.mu.Lock()
	t.loggedIn = map[string]bool{}
	t.mu.Unlock()
}

// Ledger returns the money that moved, in order.
func (t *Terminal) Ledger() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Entry(nil), t.ledger...)
}

// Charges counts approved payments (not refunds) for a ServiceID.
func (t *Terminal) Charges(serviceID string) int {
	n := 0
	for _, e := range t.Ledger() {
		if e.Kind == "payment" && e.ServiceID == serviceID {
			n++
		}
	}
	return n
}

// notify wakes everyone waiting for a change; t.mu must be held.
func (t *Terminal) notify() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait waits until cond (called with t.mu held) is true.
func (t *Terminal) wait(ctx context.Context, cond func() bool) error {
	for {
		t.mu.Lock()
		ok, ch := cond(), t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.closed:
			return errors.New("simnexo: terminal closed")
		}
	}
}

// WaitFor waits until the terminal runs the transaction with serviceID and
// it waits for the customer (tip or card).
func (t *Terminal) WaitFor(ctx context.Context, serviceID string) error {
	return t.wait(ctx, func() bool {
		c := t.current
		return c != nil && c.serviceID == serviceID && (c.stage == StageTip || c.stage == StageCard)
	})
}

// WaitStage waits until the current transaction reaches stage.
func (t *Terminal) WaitStage(ctx context.Context, stage Stage) error {
	return t.wait(ctx, func() bool { return t.current != nil && t.current.stage == stage })
}

// ErrNoTransaction: the customer acted while the terminal shows its start screen.
var ErrNoTransaction = errors.New("simnexo: no transaction waits for the customer")

// ErrTotalBelowAmount: the customer entered a total below the amount.
var ErrTotalBelowAmount = errors.New("simnexo: the total is below the amount")

// EnterTotal is the customer on the tip screen: total nil presses OK
// without a total (no tip); a total below the amount is refused and the
// screen stays.
func (t *Terminal) EnterTotal(total *int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.current
	if c == nil || c.stage != StageTip {
		return ErrNoTransaction
	}
	if total != nil {
		if *total < c.amount {
			c.message = "Total below amount. Enter total (amount + Extra)"
			t.notify()
			return ErrTotalBelowAmount
		}
		c.tip = *total - c.amount
	}
	c.stage = StageCard
	c.message = "Insert or tap card"
	t.notify()
	return nil
}

// PresentCard is the customer presenting a card that behaves as s. With the
// tip screen still showing, it counts as OK without a tip first.
func (t *Terminal) PresentCard(s Scenario) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.current
	if c == nil || (c.stage != StageCard && c.stage != StageTip) {
		return ErrNoTransaction
	}
	switch s {
	case CustomerCancel:
		t.finish(c, CustomerCancel)
		return nil
	case NoAnswer:
		t.finish(c, NoAnswer)
		return nil
	}
	known := false
	for _, k := range Scenarios {
		known = known || k == s
	}
	if !known {
		return fmt.Errorf("simnexo: unknown card scenario %q", s)
	}
	c.stage, c.scenario, c.message = StageProcessing, s, "Please wait"
	t.notify()
	d := t.opts.ProcessingTime
	go func() {
		if d > 0 {
			select {
			case <-time.After(d):
			case <-t.closed:
				return
			}
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if c.stage == StageProcessing {
			t.finish(c, s)
		}
	}()
	return nil
}

// CompleteProcessing ends the authorisation of the current transaction
// now, whatever ProcessingTime says (for tests that need a precise order).
func (t *Terminal) CompleteProcessing() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.current
	if c == nil || c.stage != StageProcessing {
		return ErrNoTransaction
	}
	t.finish(c, c.scenario)
	return nil
}

// WaitIdle waits until no transaction runs (the start screen shows).
func (t *Terminal) WaitIdle(ctx context.Context) error {
	return t.wait(ctx, func() bool { return t.current == nil })
}

// WaitAborts waits until the terminal has received n AbortRequests.
func (t *Terminal) WaitAborts(ctx context.Context, n int) error {
	return t.wait(ctx, func() bool { return t.aborts >= n })
}

// Cancel is the customer pressing the red key.
func (t *Terminal) Cancel() error { return t.PresentCard(CustomerCancel) }

// WalkAway is the customer leaving; the terminal gives up at once.
func (t *Terminal) WalkAway() error { return t.PresentCard(NoAnswer) }

// Screen is what the terminal shows.
type Screen struct {
	POIID    string
	Stage    Stage
	Amount   string // "125.00 SEK"
	Tip      bool
	Message  string
	Refund   bool
	LastText string // the last transaction's outcome
}

// Screen returns what the terminal shows now.
func (t *Terminal) Screen() Screen {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Screen{POIID: t.opts.POIID, Stage: StageIdle, Tip: t.opts.Tip, LastText: t.screen}
	if c := t.current; c != nil {
		s.Stage, s.Message, s.Refund = c.stage, c.message, c.paymentType == "Refund"
		s.Amount = kvitt.Money{Amount: c.amount, Currency: c.currency}.String()
	}
	return s
}

// finish ends c with the outcome of s; t.mu must be held.
func (t *Terminal) finish(c *txn, s Scenario) {
	if c.stage == StageDone {
		return
	}
	now := t.opts.Now()
	t.seq++
	c.poiTxID = fmt.Sprintf("SIM%08d", t.seq)
	c.poiTS = stamp(now)
	c.stage, c.scenario = StageDone, s
	c.result = t.paymentResponse(c, s)
	if c.approved {
		e := Entry{Kind: "payment", SaleID: c.saleID, ServiceID: c.serviceID, POITransactionID: c.poiTxID,
			Currency: c.currency, Amount: c.authorized, Tip: c.tip}
		if c.paymentType == "Refund" {
			e.Kind, e.Tip = "refund", 0
		}
		t.ledger = append(t.ledger, e)
		c.ledger = len(t.ledger) - 1
		t.byPOI[c.poiTxID] = c
		t.screen = "Approved " + kvitt.Money{Amount: e.Amount, Currency: c.currency}.String()
		c.message = "Approved"
	} else {
		t.screen = "Declined: " + string(s)
		c.message = t.screen
	}
	if t.current == c {
		t.current = nil
	}
	close(c.done)
	t.notify()
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func amount(v int64, c kvitt.Currency) jsonNumber { return jsonNumber(kvitt.FormatAmount(v, c)) }

// paymentResponse builds the PaymentResponse body for outcome s.
func (t *Terminal) paymentResponse(c *txn, s Scenario) map[string]any {
	resp := map[string]any{
		"SaleData": map[string]any{"SaleTransactionID": c.saleTx},
		"POIData": map[string]any{
			"POITransactionID":    map[string]any{"TransactionID": c.poiTxID, "TimeStamp": c.poiTS},
			"POIReconciliationID": "1000",
		},
	}
	card := map[string]any{
		"PaymentInstrumentType": "Card",
		"CardData": map[string]any{
			"PaymentBrand": "mc",
			"MaskedPan":    "541333 **** 9999",
			"EntryMode":    []any{"Contactless"},
		},
	}
	fail := func(cond, add string) {
		resp["Response"] = map[string]any{"Result": "Failure", "ErrorCondition": cond, "AdditionalResponse": add}
		resp["PaymentResult"] = map[string]any{"PaymentType": c.paymentType, "PaymentInstrumentData": card}
	}
	switch s {
	case Approve, ApproveSignature, ApprovePartial:
		c.approved, c.authorized = true, c.amount+c.tip
		if s == ApprovePartial {
			c.tip, c.authorized = 0, c.amount/2
		}
		auth := map[string]any{"Currency": string(c.currency), "AuthorizedAmount": amount(c.authorized, c.currency)}
		if c.tip > 0 {
			auth["TipAmount"] = amount(c.tip, c.currency)
		}
		method, sig := "OnlinePIN", false
		if s == ApproveSignature {
			method, sig = "PaperSignature", true
			card["CardData"].(map[string]any)["EntryMode"] = []any{"ICC"}
		}
		code := fmt.Sprintf("%06d", 100000+t.seq%900000)
		resp["Response"] = map[string]any{
			"Result":             "Success",
			"AdditionalResponse": "AID=A0000000041010&applicationLabel=MASTERCARD&tid=" + t.opts.POIID + "&authCode=" + code,
		}
		resp["PaymentResult"] = map[string]any{
			"PaymentType":           c.paymentType,
			"PaymentInstrumentData": card,
			"AmountsResp":           auth,
			"PaymentAcquirerData": map[string]any{
				"AcquirerPOIID":         t.opts.POIID,
				"MerchantID":            "KVITTSIM",
				"AcquirerTransactionID": map[string]any{"TransactionID": "ACQ" + c.poiTxID, "TimeStamp": c.poiTS},
				"ApprovalCode":          code,
			},
			"AuthenticationMethod": []any{method},
			"OnlineFlag":           true,
		}
		resp["PaymentReceipt"] = []any{
			receipt("CashierReceipt", sig, c.authorized, c.currency, code),
			receipt("CustomerReceipt", false, c.authorized, c.currency, code),
		}
	case Decline:
		fail("Refusal", "refusalReason=Refused")
	case WrongPIN:
		fail("WrongPIN", "refusalReason=Invalid Pin")
	case InsufficientFunds:
		fail("Refusal", "refusalReason=Not enough balance")
	case CustomerCancel:
		fail("Cancel", "refusalReason=Shopper Cancelled")
	case NoAnswer:
		fail("Cancel", "message=Timeout")
	case "aborted":
		fail("Aborted", "message=Transaction aborted by the Sale System")
	default:
		fail("UnavailableService", "message=unknown scenario "+strconv.Quote(string(s)))
	}
	return resp
}

func receipt(qualifier string, signature bool, total int64, cur kvitt.Currency, code string) map[string]any {
	lines := []any{
		map[string]any{"Text": "key=header1&name=KVITT SIMULATOR&value="},
		map[string]any{"Text": "key=paymentMethod&name=MASTERCARD&value=**** 9999"},
		map[string]any{"Text": "key=authCode&name=Auth. code&value=" + code},
		map[string]any{"Text": "key=totalAmount&name=Total&value=" + kvitt.FormatAmount(total, cur) + "+" + string(cur)},
		map[string]any{"Text": "key=approved&name=GODKÄND&value="},
	}
	r := map[string]any{
		"DocumentQualifier": qualifier,
		"OutputContent":     map[string]any{"OutputFormat": "Text", "OutputText": lines},
	}
	if signature {
		r["RequiredSignatureFlag"] = true
	}
	return r
}
