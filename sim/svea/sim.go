// Package simsvea is kvitt's simulator of Svea's Instore API (pay-by-link
// by SMS, seed 004) over HTTPS on loopback: create, status (one call per
// order per 5 seconds, else 403), cancel and return, with HTTP Basic auth
// and the published validation rules; an SMS outbox instead of a phone;
// a checkout page where a sandbox customer completes or abandons the
// purchase; link expiry; and the callback (a POST to callbackUri naming
// the merchant order number). It shares no wire types with package svea:
// both sides are pinned by the literal JSON fixtures in their testdata.
package simsvea

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Default credentials of the simulated Instore account.
const (
	DefaultMerchantID = "kvitt-sim-instore"
	DefaultPassword   = "kvitt-sim-password"
)

// Options configure a simulator; the zero value is usable.
type Options struct {
	Addr string // "" = 127.0.0.1:0
	// AdminAddr is where Payment Admin listens ("" = a free port on Addr's host).
	AdminAddr            string
	MerchantID, Password string
	// CountryCode is the account's country (default SE); orders of another are refused.
	CountryCode string
	// StatusInterval is the least time between status calls of one order
	// (default 5 s, Svea's); a call earlier gets 403.
	StatusInterval time.Duration
	// CallbackTLS is used for callbacks to https URLs (nil: system roots and this CA).
	CallbackTLS *tls.Config
	Now         func() time.Time
}

// SMS is a message the simulator "sent".
type SMS struct {
	To                  string    `json:"to"`
	Text                string    `json:"text"`
	URL                 string    `json:"url"`
	MerchantOrderNumber string    `json:"merchant_order_number"`
	At                  time.Time `json:"at"`
}

// Callback is one callback the simulator made or dropped.
type Callback struct {
	URL                 string `json:"url"`
	MerchantOrderNumber string `json:"merchant_order_number"`
	Status              int    `json:"status"` // kvitt's answer; 0 = dropped or failed
}

type order struct {
	req        createRequest
	id         int64
	token      string
	status     string // Active, Completed, Canceled
	created    time.Time
	expires    time.Time
	lastStatus time.Time
	total      int64
	returned   int64
	paymentTyp string
	statusHits int
}

// Sim is a running simulator.
type Sim struct {
	opts Options
	ca   *simpki.CA
	ln   net.Listener
	srv  *http.Server
	cb   *http.Client

	mu        sync.Mutex
	orders    map[string]*order // by merchantOrderNumber
	byToken   map[string]*order
	nextID    int64
	outbox    []SMS
	callbacks []Callback
	drop      bool
	tooSoon   int // status calls refused with 403 for coming within the interval
	// beforeCancel runs (unlocked) before a cancel is handled: a test pays the order there.
	beforeCancel func(merchantOrderNumber string)
	wg           sync.WaitGroup
	admin        *adminAPI // Payment Admin on its own listener (admin.go)
}

// New starts a simulator.
func New(opts Options) (*Sim, error) {
	if opts.MerchantID == "" {
		opts.MerchantID = DefaultMerchantID
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.CountryCode == "" {
		opts.CountryCode = "SE"
	}
	if opts.StatusInterval == 0 {
		opts.StatusInterval = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ca, cert, ln, err := simpki.Listen("kvitt Svea Instore Simulator CA", opts.Addr)
	if err != nil {
		return nil, err
	}
	s := &Sim{opts: opts, ca: ca, ln: ln, cb: simpki.CallbackClient(ca, opts.CallbackTLS),
		orders: map[string]*order{}, byToken: map[string]*order{}, nextID: 8_000_001}
	s.srv = simpki.Serve(ln, cert, s.routes())
	if err := s.startAdmin(); err != nil { // Payment Admin (admin.go)
		s.srv.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server and waits for callbacks in flight.
func (s *Sim) Close() error {
	err := s.srv.Close()
	s.closeHolds() // requests held by a test are dropped (hold.go)
	s.closeAdmin()
	s.wg.Wait()
	return err
}

// URL is the API base URL, like https://webpayinstoreapistage.svea.com.
func (s *Sim) URL() string { return "https://" + s.ln.Addr().String() }

// MerchantID and Password are the account's Basic auth credentials.
func (s *Sim) MerchantID() string { return s.opts.MerchantID }
func (s *Sim) Password() string   { return s.opts.Password }

// CAPEM is the simulator's CA certificate.
func (s *Sim) CAPEM() []byte { return s.ca.PEM }

// ClientTLS trusts the simulator.
func (s *Sim) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.ca.Pool, MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client that trusts the simulator.
func (s *Sim) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = s.ClientTLS()
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// Outbox returns the SMS sent so far.
func (s *Sim) Outbox() []SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMS(nil), s.outbox...)
}

// Callbacks returns the callbacks made (or dropped) so far.
func (s *Sim) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.callbacks...)
}

// SetDropCallbacks turns dropping callbacks on or off (lost-callback tests).
func (s *Sim) SetDropCallbacks(drop bool) { s.mu.Lock(); s.drop = drop; s.mu.Unlock() }

// BeforeCancel sets a hook run before each cancel is handled (nil: none).
func (s *Sim) BeforeCancel(f func(merchantOrderNumber string)) {
	s.mu.Lock()
	s.beforeCancel = f
	s.mu.Unlock()
}

// Status returns an order's status, its credited amount and how many status calls it got.
func (s *Sim) Status(merchantOrderNumber string) (status string, returned int64, statusCalls int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[merchantOrderNumber]
	if o == nil {
		return "", 0, 0, false
	}
	s.expire(o)
	return o.status, o.returned, o.statusHits, true
}

// StatusInterval is the status interval the simulator enforces.
func (s *Sim) StatusInterval() time.Duration { return s.opts.StatusInterval }

// TooSoon is how many status calls were refused (403) for coming within the interval.
func (s *Sim) TooSoon() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tooSoon }

// Completed lists the merchant order numbers the customer completed, sorted.
func (s *Sim) Completed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for mon, o := range s.orders {
		if o.status == "Completed" {
			out = append(out, mon)
		}
	}
	sort.Strings(out)
	return out
}

// Complete completes the order as its customer would on the checkout page.
func (s *Sim) Complete(merchantOrderNumber string) error {
	s.mu.Lock()
	o := s.orders[merchantOrderNumber]
	s.mu.Unlock()
	if o == nil {
		return fmt.Errorf("simsvea: no order %s", merchantOrderNumber)
	}
	return s.act(o.token, "complete")
}

// Expire ends the order's link now, as if its minutes had run out.
func (s *Sim) Expire(merchantOrderNumber string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.orders[merchantOrderNumber]; o != nil {
		o.expires = s.opts.Now()
		s.expire(o)
	}
}

// expire ends an Active order whose link has run out. Svea documents no
// Expired status; the simulator reports such an order as Canceled.
func (s *Sim) expire(o *order) {
	if o.status == "Active" && !s.opts.Now().Before(o.expires) {
		o.status = "Canceled"
	}
}

func (s *Sim) routes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/orders", s.auth(s.handleCreate))
	m.HandleFunc("GET /api/v1/orders/{mon}/status", s.auth(s.handleStatus))
	m.HandleFunc("POST /api/v1/orders/{mon}/cancel", s.auth(s.handleCancel))
	m.HandleFunc("POST /api/v1/orders/{mon}/return", s.auth(s.handleReturn))
	m.HandleFunc("GET /checkout/{token}", s.handleCheckoutPage)
	m.HandleFunc("POST /checkout/{token}/{action}", s.handleCheckoutAction)
	m.HandleFunc("GET /sim/sms", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Outbox()) })
	m.HandleFunc("GET /sim/callbacks", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Callbacks()) })
	s.holdRoutes(m) // GET /sim/ledger, POST /sim/hold/{op}, GET /sim/held, release and drop (hold.go)
	return m
}

func (s *Sim) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.MerchantID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Instore"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, field, msg string) {
	body := map[string]any{"title": msg, "status": status}
	if field != "" {
		body["errors"] = map[string][]string{field: {msg}}
	}
	writeJSON(w, status, body)
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var vatRates = map[string][]int64{"SE": {2500, 1200, 600, 0}, "NO": {2500, 1500, 1200, 0}, "DK": {2500, 0}, "FI": {2550, 1400, 1000, 0}}
var currencies = map[string]string{"SE": "SEK", "NO": "NOK", "DK": "DKK", "FI": "EUR"}

// validate applies the published rules: merchantOrderNumber required and
// ≤ 32; the account's country; currency of the country; items not empty,
// name ≤ 40, unit ≤ 4, quantity 1–7 digits, a VAT percent valid for the
// country, discountPercent 0–10000 and not with discountAmount, total ≥ 0;
// termsUri a URI ≤ 500; minutesUntilLinkExpires > 0; preset values of the
// four attributes, IsCompany with NationalId.
func (s *Sim) validate(r *createRequest) (field, msg string, total int64) {
	switch {
	case r.MerchantOrderNumber == "":
		return "merchantOrderNumber", "The MerchantOrderNumber field is required.", 0
	case len(r.MerchantOrderNumber) > 32:
		return "merchantOrderNumber", "MerchantOrderNumber may be at most 32 characters.", 0
	case r.CountryCode != s.opts.CountryCode:
		return "countryCode", fmt.Sprintf("Country code %q is not valid for the merchant.", r.CountryCode), 0
	case r.Currency != "" && r.Currency != currencies[r.CountryCode]:
		return "currency", fmt.Sprintf("Currency %q is not valid for country %s.", r.Currency, r.CountryCode), 0
	case len(r.OrderItems) == 0:
		return "orderItems", "The cart must not be empty.", 0
	case r.TermsURI == "" || len(r.TermsURI) > 500:
		return "termsUri", "TermsUri must be a valid URI of at most 500 characters.", 0
	case r.MinutesUntilLinkExpires != nil && *r.MinutesUntilLinkExpires <= 0:
		return "minutesUntilLinkExpires", "Value has to be greater than 0.", 0
	}
	if u, err := url.Parse(r.TermsURI); err != nil || !u.IsAbs() {
		return "termsUri", "TermsUri must be a valid URI.", 0
	}
	if r.CallbackURI != "" {
		if u, err := url.Parse(r.CallbackURI); err != nil || !u.IsAbs() {
			return "callbackUri", "CallbackUri must be a valid URI.", 0
		}
	}
	for i, it := range r.OrderItems {
		f := fmt.Sprintf("orderItems[%d].", i)
		ok := false
		for _, v := range vatRates[r.CountryCode] {
			ok = ok || v == it.VATPercent
		}
		switch {
		case it.Name == "":
			return f + "name", "The Name field is required.", 0
		case utf8.RuneCountInString(it.Name) > 40:
			return f + "name", "Name may be at most 40 characters.", 0
		case it.Unit == "" || utf8.RuneCountInString(it.Unit) > 4:
			return f + "unit", "Unit is required and may be at most 4 characters.", 0
		case it.Quantity <= 0 || it.Quantity > 9_999_999:
			return f + "quantity", "Quantity must be 1-7 digits.", 0
		case !ok:
			return f + "vatPercent", fmt.Sprintf("Vat percent %d is not valid for country %s.", it.VATPercent, r.CountryCode), 0
		case it.DiscountPercent < 0 || it.DiscountPercent > 10000:
			return f + "discountPercent", "DiscountPercent must be 0-10000.", 0
		case it.DiscountPercent != 0 && it.DiscountAmount != 0:
			return f + "discountAmount", "DiscountPercent cannot be used together with DiscountAmount.", 0
		}
		total += it.total()
	}
	if total < 0 {
		return "orderItems", "The total cost of the order rows must be equal to or higher than 0.", 0
	}
	hasID, hasCompany := false, false
	for _, p := range r.PresetValues {
		switch p.AttributeName {
		case "NationalId":
			hasID = true
		case "IsCompany":
			hasCompany = true
			if p.Value != "true" && p.Value != "false" && p.Value != "True" && p.Value != "False" {
				return "presetValues", "IsCompany must be True or False.", 0
			}
		case "EmailAddress":
			if len(p.Value) > 50 || !strings.Contains(p.Value, "@") {
				return "presetValues", "EmailAddress must be a valid e-mail address of at most 50 characters.", 0
			}
		case "PostalCode":
		default:
			return "presetValues", fmt.Sprintf("%q is not a valid attribute.", p.AttributeName), 0
		}
	}
	if hasID && !hasCompany {
		return "presetValues", "IsCompany is required when NationalId is set.", 0
	}
	return "", "", total
}

func (s *Sim) handleCreate(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "create")
	var req createRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem(w, http.StatusBadRequest, "", "The request body is not valid: "+err.Error())
		return
	}
	field, msg, total := s.validate(&req)
	if field != "" {
		problem(w, http.StatusBadRequest, field, msg)
		return
	}
	s.mu.Lock()
	if _, dup := s.orders[req.MerchantOrderNumber]; dup {
		s.mu.Unlock()
		problem(w, http.StatusBadRequest, "merchantOrderNumber", "An order with that MerchantOrderNumber already exists.")
		return
	}
	minutes := 20.0
	if req.MinutesUntilLinkExpires != nil {
		minutes = *req.MinutesUntilLinkExpires
	}
	now := s.opts.Now()
	o := &order{req: req, id: s.nextID, token: randomToken(), status: "Active", created: now,
		expires: now.Add(time.Duration(minutes * float64(time.Minute))), total: total}
	s.nextID++
	s.orders[req.MerchantOrderNumber] = o
	s.byToken[o.token] = o
	sent := false
	if req.MobilePhoneNumber != "" {
		sent = true
		s.outbox = append(s.outbox, SMS{To: req.MobilePhoneNumber, URL: s.checkoutURL(o), MerchantOrderNumber: req.MerchantOrderNumber, At: now,
			Text: fmt.Sprintf("Slutför ditt köp hos %s: %s", nonEmpty(req.MerchantName, "butiken"), s.checkoutURL(o))})
	}
	resp := s.response(o)
	resp.SMSSentSuccessfully = &sent
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Sim) checkoutURL(o *order) string { return s.URL() + "/checkout/" + o.token }

func (s *Sim) response(o *order) orderResponse {
	id := o.id
	r := orderResponse{MerchantOrderNumber: o.req.MerchantOrderNumber, InstoreUIURI: s.checkoutURL(o), OrderStatus: o.status,
		PaymentOrderID: &id, Tags: o.req.Tags, OrderItems: o.req.OrderItems}
	if o.status == "Completed" {
		r.PaymentMethodType, r.PaymentType = "Invoice", o.paymentTyp
		r.CustomerInformation = &customerInformation{MobilePhoneNumber: o.req.MobilePhoneNumber, EmailAddress: "kund@example.se"}
	}
	return r
}

func (s *Sim) handleStatus(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "status")
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[r.PathValue("mon")]
	if o == nil {
		problem(w, http.StatusNotFound, "", "Order not found.")
		return
	}
	now := s.opts.Now()
	if !o.lastStatus.IsZero() && now.Sub(o.lastStatus) < s.opts.StatusInterval {
		s.tooSoon++
		problem(w, http.StatusForbidden, "", "Order status may be fetched at most once every 5 seconds.")
		return
	}
	o.lastStatus = now
	o.statusHits++
	s.expire(o)
	writeJSON(w, http.StatusOK, s.response(o))
}

func (s *Sim) handleCancel(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "cancel")
	mon := r.PathValue("mon")
	s.mu.Lock()
	hook := s.beforeCancel
	s.mu.Unlock()
	if hook != nil {
		hook(mon)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[mon]
	if o == nil {
		problem(w, http.StatusNotFound, "", "Order not found.")
		return
	}
	s.expire(o)
	if o.status != "Active" {
		problem(w, http.StatusForbidden, "", fmt.Sprintf("The order is %s and cannot be cancelled.", o.status))
		return
	}
	o.status = "Canceled"
	w.WriteHeader(http.StatusOK)
}

func (s *Sim) handleReturn(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "return")
	var req returnRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem(w, http.StatusBadRequest, "", "The request body is not valid: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[r.PathValue("mon")]
	if o == nil {
		problem(w, http.StatusNotFound, "", "Order not found.")
		return
	}
	if o.status != "Completed" {
		problem(w, http.StatusForbidden, "", "Only a completed order can be returned.")
		return
	}
	amount := o.total - o.returned
	if len(req.ReturnedItems) > 0 {
		amount = 0
		for _, it := range req.ReturnedItems {
			amount += it.total()
		}
	}
	if amount <= 0 || amount > o.total-o.returned {
		problem(w, http.StatusForbidden, "", "The return exceeds what is left of the order.")
		return
	}
	o.returned += amount
	w.WriteHeader(http.StatusOK)
}

var checkoutPage = template.Must(template.New("c").Parse(`<!doctype html>
<html lang="sv"><meta charset="utf-8"><title>Svea Instore (simulator)</title>
<h1>Order {{.MON}}</h1>
<p>Status: <b id="status">{{.Status}}</b> · Att betala: {{.Total}} {{.Currency}}</p>
<ul>{{range .Items}}<li>{{.Name}} × {{.Quantity}}</li>{{end}}</ul>
{{if eq .Status "Active"}}
<form method="post" action="/checkout/{{.Token}}/complete"><button id="complete">Slutför köpet</button></form>
<form method="post" action="/checkout/{{.Token}}/abandon"><button id="abandon">Avbryt</button></form>
{{else}}<p>Länken är inte längre giltig.</p>{{end}}
</html>`))

func (s *Sim) handleCheckoutPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	o := s.byToken[r.PathValue("token")]
	if o == nil {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	s.expire(o)
	data := map[string]any{"MON": o.req.MerchantOrderNumber, "Status": o.status, "Total": fmt.Sprintf("%d.%02d", o.total/100, o.total%100),
		"Currency": currencies[o.req.CountryCode], "Items": o.req.OrderItems, "Token": o.token}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	checkoutPage.Execute(w, data)
}

func (s *Sim) handleCheckoutAction(w http.ResponseWriter, r *http.Request) {
	if err := s.act(r.PathValue("token"), r.PathValue("action")); err != nil {
		http.Error(w, err.Error(), http.StatusGone)
		return
	}
	http.Redirect(w, r, "/checkout/"+r.PathValue("token"), http.StatusSeeOther)
}

// act is the customer on the checkout page: complete (pays; Svea calls
// back) or abandon (closes the page; the order stays Active until it
// expires).
func (s *Sim) act(token, action string) error {
	s.mu.Lock()
	o := s.byToken[token]
	if o == nil {
		s.mu.Unlock()
		return fmt.Errorf("no such checkout")
	}
	s.expire(o)
	if o.status != "Active" {
		st := o.status
		s.mu.Unlock()
		return fmt.Errorf("this link is no longer valid (the order is %s)", st)
	}
	switch action {
	case "complete":
		o.status, o.paymentTyp = "Completed", "Invoice"
	case "abandon":
		s.mu.Unlock()
		return nil
	default:
		s.mu.Unlock()
		return fmt.Errorf("unknown action %q", action)
	}
	cb, mon, drop := o.req.CallbackURI, o.req.MerchantOrderNumber, s.drop
	s.mu.Unlock()
	if cb != "" {
		s.callback(cb, mon, drop)
	}
	return nil
}

// callback POSTs the merchant order number to callbackUri ("A HTTP POST
// message with the merchant order number", php-instore). The body's exact
// shape is not published; the simulator sends {"merchantOrderNumber": …}.
func (s *Sim) callback(u, mon string, drop bool) {
	c := Callback{URL: u, MerchantOrderNumber: mon}
	if !drop {
		body, _ := json.Marshal(map[string]string{"merchantOrderNumber": mon})
		if resp, err := s.cb.Post(u, "application/json", bytes.NewReader(body)); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.Status = resp.StatusCode
		}
	}
	s.mu.Lock()
	s.callbacks = append(s.callbacks, c)
	s.mu.Unlock()
}
