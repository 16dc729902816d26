package simmobilepay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The simulator's own wire types. Request bodies are decoded strictly:
// a field the documentation does not name is a 400, as a misspelling must
// not pass unnoticed.

type simAmount struct {
	Currency string `json:"currency"`
	Value    *int64 `json:"value"`
}

type simCustomer struct {
	PhoneNumber   *string `json:"phoneNumber"`
	PersonalQr    *string `json:"personalQr"`
	CustomerToken *string `json:"customerToken"`
}

type simPaymentMethod struct {
	Type string `json:"type"`
}

type simQRFormat struct {
	Format string `json:"format"`
	Size   *int   `json:"size"`
}

// createBody has every field the create documentation names; the ones the
// simulator does not act on are kept raw.
type createBody struct {
	Amount              *simAmount        `json:"amount"`
	Customer            *simCustomer      `json:"customer"`
	CustomerInteraction string            `json:"customerInteraction"`
	PaymentMethod       *simPaymentMethod `json:"paymentMethod"`
	Reference           string            `json:"reference"`
	UserFlow            string            `json:"userFlow"`
	ReturnURL           string            `json:"returnUrl"`
	QRFormat            *simQRFormat      `json:"qrFormat"`
	PaymentDescription  string            `json:"paymentDescription"`
	ExpiresAt           *string           `json:"expiresAt"`
	MinimumUserAge      json.RawMessage   `json:"minimumUserAge"`
	IndustryData        json.RawMessage   `json:"industryData"`
	Profile             json.RawMessage   `json:"profile"`
	Receipt             json.RawMessage   `json:"receipt"`
	ReceiptURL          json.RawMessage   `json:"receiptUrl"`
	Metadata            json.RawMessage   `json:"metadata"`
}

type amountOut struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

type aggregateOut struct {
	AuthorizedAmount amountOut `json:"authorizedAmount"`
	CancelledAmount  amountOut `json:"cancelledAmount"`
	CapturedAmount   amountOut `json:"capturedAmount"`
	RefundedAmount   amountOut `json:"refundedAmount"`
}

type paymentOut struct {
	Aggregate     aggregateOut      `json:"aggregate"`
	Amount        amountOut         `json:"amount"`
	State         string            `json:"state"`
	PaymentMethod map[string]string `json:"paymentMethod"`
	Profile       map[string]string `json:"profile"`
	PspReference  string            `json:"pspReference"`
	RedirectURL   string            `json:"redirectUrl,omitempty"`
	Reference     string            `json:"reference"`
}

type modificationOut struct {
	Amount       amountOut    `json:"amount"`
	State        string       `json:"state"`
	Aggregate    aggregateOut `json:"aggregate"`
	PspReference string       `json:"pspReference"`
	Reference    string       `json:"reference"`
}

type eventOut struct {
	Reference      string    `json:"reference"`
	PspReference   string    `json:"pspReference"`
	Name           string    `json:"name"`
	Amount         amountOut `json:"amount"`
	Timestamp      string    `json:"timestamp"`
	IdempotencyKey *string   `json:"idempotencyKey"`
	Success        bool      `json:"success"`
}

type problem struct {
	Type         string        `json:"type"`
	Title        string        `json:"title"`
	Status       int           `json:"status"`
	Detail       string        `json:"detail"`
	Instance     string        `json:"instance"`
	TraceID      string        `json:"traceId"`
	ExtraDetails []extraDetail `json:"extraDetails,omitempty"`
}

type extraDetail struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// payment is a payment as the simulator keeps it.
type payment struct {
	Reference    string
	PspReference string
	Currency     string
	Value        int64
	State        string
	UserFlow     string
	Phone        string // PUSH_MESSAGE to a number
	Token        string // PUSH_MESSAGE to a checked-in customer
	QRToken      string // userFlow QR
	RedirectURL  string

	authorized, captured, cancelled, refunded int64
	created                                   time.Time
	events                                    []eventOut
	mods                                      map[string]*replay // Idempotency-Key → first answer
}

// replay is a first answer kept for its Idempotency-Key.
type replay struct {
	request []byte
	status  int
	body    []byte
}

var (
	referenceRE = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)
	phoneRE     = regexp.MustCompile(`^[0-9]{10,15}$`)
	minAmount   = map[string]int64{"NOK": 100, "DKK": 1, "EUR": 1}
)

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accesstoken/get", s.accessToken)
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authorized(h)) }
	api("POST /epayment/v1/payments", s.createPayment)
	api("GET /epayment/v1/payments/{reference}", s.getPayment)
	api("GET /epayment/v1/payments/{reference}/events", s.getEvents)
	api("POST /epayment/v1/payments/{reference}/capture", s.modify("capture"))
	api("POST /epayment/v1/payments/{reference}/cancel", s.modify("cancel"))
	api("POST /epayment/v1/payments/{reference}/refund", s.modify("refund"))
	api("POST /epayment/v1/test/payments/{reference}/approve", s.forceApprove)
	api("POST /webhooks/v1/webhooks", s.registerWebhook)
	api("GET /webhooks/v1/webhooks", s.listWebhooks)
	api("DELETE /webhooks/v1/webhooks/{id}", s.deleteWebhook)
	api("PUT /qr/v1/merchant-callback/{id}", s.putCallbackQR(false))
	api("PUT /qr/v1/merchant-callback/mobilepay/{id}", s.putCallbackQR(true))
	api("GET /qr/v1/merchant-callback/{id}", s.getCallbackQR)
	api("GET /qr/v1/merchant-callback", s.listCallbackQRs)
	api("DELETE /qr/v1/merchant-callback/{id}", s.deleteCallbackQR)
	mux.HandleFunc("GET /sim/qr/{id}", s.qrImage)
	mux.HandleFunc("POST /sim/customer/checkin", s.customerCheckin)
	mux.HandleFunc("GET /sim/customer/payments/{reference}", s.customerPayment)
	mux.HandleFunc("POST /sim/customer/payments/{reference}/{action}", s.customerAction)
	mux.HandleFunc("GET /sim/ledger", s.simLedger)
	mux.HandleFunc("POST /sim/hold/{op}", s.simHold)
	mux.HandleFunc("GET /sim/held", s.simHeld)
	mux.HandleFunc("POST /sim/held/{op}/{action}", s.simRelease)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeProblem answers with an RFC 7807 problem, as the ePayment and
// Webhooks APIs do. An errorCode becomes extraDetails {"ErrorCode", code}.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, title, detail, errorCode string, fields ...extraDetail) {
	p := problem{Type: "https://httpstatuses.io/" + strconv.Itoa(status), Title: title, Status: status, Detail: detail,
		Instance: strings.TrimPrefix(r.URL.Path, "/epayment"), TraceID: "00-" + randomHex(16) + "-" + randomHex(8) + "-01", ExtraDetails: fields}
	if errorCode != "" {
		p.ExtraDetails = append(p.ExtraDetails, extraDetail{Name: "ErrorCode", Reason: errorCode})
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

func badField(w http.ResponseWriter, r *http.Request, field, reason string) {
	writeProblem(w, r, http.StatusBadRequest, "Bad Request", "See extraDetails for further details", "", extraDetail{Name: field, Reason: reason})
}

// logRequest records a request and returns its body.
func (s *Sim) logRequest(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	r.Body = io.NopCloser(bytes.NewReader(b))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: b})
	s.mu.Unlock()
	return b
}

// accessToken is POST /accesstoken/get: the API keys in headers, the token
// in a JSON answer whose numbers are strings.
func (s *Sim) accessToken(w http.ResponseWriter, r *http.Request) {
	s.logRequest(r)
	if r.Header.Get("client_id") != s.opts.ClientID || r.Header.Get("client_secret") != s.opts.ClientSecret {
		writeProblem(w, r, http.StatusUnauthorized, "Unauthorized", "Wrong client_id or client_secret.", "")
		return
	}
	if r.Header.Get("Ocp-Apim-Subscription-Key") != s.opts.SubscriptionKey {
		writeProblem(w, r, http.StatusUnauthorized, "Unauthorized", "Access denied due to invalid subscription key.", "")
		return
	}
	if msn := r.Header.Get("Merchant-Serial-Number"); msn != "" && msn != s.opts.MSN {
		writeProblem(w, r, http.StatusForbidden, "Forbidden", "The Merchant-Serial-Number does not belong to these API keys.", "")
		return
	}
	now := s.opts.Now()
	token := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + randomBase64(48)
	s.mu.Lock()
	s.tokens[token] = now.Add(s.opts.TokenLifetime)
	s.mu.Unlock()
	secs := strconv.FormatInt(int64(max(time.Second, (s.opts.TokenLifetime+time.Second-1)/time.Second*time.Second)/time.Second), 10)
	writeJSON(w, http.StatusOK, map[string]string{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"expires_on":     strconv.FormatInt(now.Add(s.opts.TokenLifetime).Unix(), 10),
		"not_before":     strconv.FormatInt(now.Unix(), 10),
		"resource":       "00000002-0000-0000-c000-000000000000",
		"access_token":   token,
	})
}

// authorized requires a valid access token, the subscription key and the
// sales unit's Merchant-Serial-Number, and applies injected faults.
func (s *Sim) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.logRequest(r)
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[token]
		s.mu.Unlock()
		if !ok || !known || !s.opts.Now().Before(exp) {
			writeProblem(w, r, http.StatusUnauthorized, "Unauthorized", "Missing, unknown or expired access token.", "")
			return
		}
		if r.Header.Get("Ocp-Apim-Subscription-Key") != s.opts.SubscriptionKey {
			writeProblem(w, r, http.StatusUnauthorized, "Unauthorized", "Access denied due to invalid subscription key.", "")
			return
		}
		msn := r.Header.Get("Merchant-Serial-Number")
		if msn == "" && !strings.HasPrefix(r.URL.Path, "/webhooks/") {
			badField(w, r, "Merchant-Serial-Number", "The Merchant-Serial-Number header is required.")
			return
		}
		if msn != "" && msn != s.opts.MSN {
			writeProblem(w, r, http.StatusForbidden, "Forbidden", "The Merchant-Serial-Number does not belong to these API keys.", "")
			return
		}
		s.mu.Lock()
		var f Fault
		if len(s.faults) > 0 {
			f, s.faults = s.faults[0], s.faults[1:]
		}
		s.mu.Unlock()
		switch f {
		case LoseRequest:
			panic(http.ErrAbortHandler)
		case LoseResponse:
			h(discard{http.Header{}}, r)
			panic(http.ErrAbortHandler)
		}
		if !s.holdIfAsked(r) {
			panic(http.ErrAbortHandler) // dropped: it never arrived
		}
		h(w, r)
	})
}

// discard is a ResponseWriter whose answer never leaves.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// keys is the field names a JSON object may have, exactly as spelled
// (encoding/json alone matches names without regard to case); a non-nil
// value checks the nested object too.
type keys map[string]keys

// Documented request fields, by body.
var (
	amountKeys = keys{"currency": nil, "value": nil}
	createKeys = keys{
		"amount": amountKeys, "customer": {"phoneNumber": nil, "personalQr": nil, "customerToken": nil},
		"customerInteraction": nil, "paymentMethod": {"type": nil}, "reference": nil, "userFlow": nil,
		"returnUrl": nil, "qrFormat": {"format": nil, "size": nil}, "paymentDescription": nil, "expiresAt": nil,
		"minimumUserAge": nil, "industryData": nil, "profile": nil, "receipt": nil, "receiptUrl": nil, "metadata": nil,
	}
	modificationKeys = keys{"modificationAmount": amountKeys}
	cancelKeys       = keys{"cancelTransactionOnly": nil}
	approveKeys      = keys{"customer": {"phoneNumber": nil, "personalQr": nil, "customerToken": nil}, "token": nil}
	webhookKeys      = keys{"url": nil, "events": nil}
	callbackQRKeys   = keys{"locationDescription": nil}
)

// checkKeys refuses a field k does not name, with its exact spelling.
func checkKeys(raw []byte, k keys, path string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s must be a JSON object", strings.TrimSuffix(path, "."))
	}
	for name, v := range m {
		sub, ok := k[name]
		if !ok {
			return fmt.Errorf("unknown field %s%s", path, name)
		}
		if sub != nil && string(v) != "null" {
			if err := checkKeys(v, sub, path+name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeStrict decodes a JSON object whose field names k lists, spelled exactly.
func decodeStrict(b []byte, v any, k keys) error {
	if err := checkKeys(b, k, ""); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" || len(k) > 50 {
		badField(w, r, "Idempotency-Key", "The Idempotency-Key header is required and at most 50 characters.")
		return "", false
	}
	return k, true
}

func (s *Sim) createPayment(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	raw, _ := io.ReadAll(r.Body)
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		writeProblem(w, r, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Send application/json.", "")
		return
	}
	var b createBody
	if err := decodeStrict(raw, &b, createKeys); err != nil {
		badField(w, r, "body", err.Error())
		return
	}
	if field, reason := s.validateCreate(&b); field != "" {
		badField(w, r, field, reason)
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.creates[key]; prev != nil {
		if !bytes.Equal(prev.request, raw) {
			writeProblem(w, r, http.StatusConflict, "Conflict", "The Idempotency-Key was used before with another request.", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(prev.status)
		w.Write(prev.body)
		return
	}
	if b.Customer != nil && b.Customer.CustomerToken != nil {
		c := s.checkins[*b.Customer.CustomerToken]
		if c == nil || now.Sub(c.at) > s.opts.CheckinTTL {
			badField(w, r, "customer.customerToken", "The customer token is unknown or has expired.")
			return
		}
	}
	if s.payments[b.Reference] != nil {
		writeProblem(w, r, http.StatusConflict, "Conflict", "A payment with this reference already exists.", "")
		return
	}
	p := &payment{Reference: b.Reference, PspReference: randomUUID(), Currency: b.Amount.Currency, Value: *b.Amount.Value,
		State: "CREATED", UserFlow: b.UserFlow, created: now, mods: map[string]*replay{}}
	if c := b.Customer; c != nil {
		switch {
		case c.PhoneNumber != nil:
			p.Phone = *c.PhoneNumber
		case c.CustomerToken != nil:
			p.Token = *c.CustomerToken
		}
	}
	resp := map[string]string{"reference": p.Reference}
	if b.UserFlow == "QR" {
		p.QRToken = randomHex(16)
		format := "IMAGE/SVG+XML"
		if b.QRFormat != nil {
			format = b.QRFormat.Format
		}
		switch format {
		case "TEXT/TARGETURL":
			p.RedirectURL = s.RootURL() + "sim/qr/pay-" + p.QRToken
		case "IMAGE/PNG":
			p.RedirectURL = s.RootURL() + "sim/qr/pay-" + p.QRToken + "?format=PNG"
		default:
			p.RedirectURL = s.RootURL() + "sim/qr/pay-" + p.QRToken + "?format=SVG"
		}
		resp["redirectUrl"] = p.RedirectURL
	}
	s.payments[p.Reference] = p
	s.eventLocked(p, "CREATED", p.Value, key, true)
	body, _ := json.Marshal(resp)
	s.creates[key] = &replay{request: raw, status: http.StatusCreated, body: body}
	ref := p.Reference
	s.after(s.opts.PaymentWindow, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if p := s.payments[ref]; p != nil {
			s.expireLocked(p)
		}
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(body)
}

// validateCreate applies the documented rules; it returns the field at
// fault and why, or "".
func (s *Sim) validateCreate(b *createBody) (string, string) {
	if b.Amount == nil || b.Amount.Value == nil {
		return "amount", "The amount field is required."
	}
	min, ok := minAmount[b.Amount.Currency]
	if !ok {
		return "amount.currency", "Available types of currency are NOK, DKK, and EUR."
	}
	if *b.Amount.Value < min {
		return "amount.value", fmt.Sprintf("The minimum amount in %s is %d.", b.Amount.Currency, min)
	}
	if !referenceRE.MatchString(b.Reference) {
		return "reference", "The field Reference must match the regular expression '^[a-zA-Z0-9-]{8,64}$'."
	}
	if b.PaymentMethod == nil {
		return "paymentMethod", "The paymentMethod field is required."
	}
	switch b.PaymentMethod.Type {
	case "WALLET":
	case "CARD":
		return "paymentMethod.type", "Card payment (CARD) is not available in the test environment."
	default:
		return "paymentMethod.type", "The paymentMethod type must be WALLET or CARD."
	}
	switch b.CustomerInteraction {
	case "", "CUSTOMER_PRESENT", "CUSTOMER_NOT_PRESENT":
	default:
		return "customerInteraction", "The customerInteraction must be CUSTOMER_PRESENT or CUSTOMER_NOT_PRESENT."
	}
	if c := b.Customer; c != nil {
		n := 0
		for _, v := range []*string{c.PhoneNumber, c.PersonalQr, c.CustomerToken} {
			if v != nil {
				n++
			}
		}
		if n != 1 {
			return "customer", "Specify the customer with exactly one of phoneNumber, personalQr and customerToken."
		}
		if c.PhoneNumber != nil && !phoneRE.MatchString(*c.PhoneNumber) {
			return "customer.phoneNumber", "The field PhoneNumber must match the regular expression '^\\d{10,15}$'."
		}
		if c.PersonalQr != nil {
			return "customer.personalQr", "The simulator knows no personal QR codes."
		}
	}
	switch b.UserFlow {
	case "PUSH_MESSAGE":
		if b.Customer == nil {
			return "customer", "If userFlow is PUSH_MESSAGE, a valid value for customer is required."
		}
	case "QR":
		if b.QRFormat != nil {
			switch b.QRFormat.Format {
			case "TEXT/TARGETURL", "IMAGE/SVG+XML", "IMAGE/PNG":
			default:
				return "qrFormat.format", "The format must be TEXT/TARGETURL, IMAGE/SVG+XML or IMAGE/PNG."
			}
			if sz := b.QRFormat.Size; sz != nil && (*sz < 100 || *sz > 2000) {
				return "qrFormat.size", "The size must be between 100 and 2000."
			}
		}
	case "WEB_REDIRECT", "NATIVE_REDIRECT":
		if b.ReturnURL == "" {
			return "returnUrl", "If userFlow is WEB_REDIRECT, a valid value for returnUrl is required."
		}
	default:
		return "userFlow", "The userFlow must be PUSH_MESSAGE, NATIVE_REDIRECT, WEB_REDIRECT or QR."
	}
	if n := len([]rune(b.PaymentDescription)); n > 100 || (n > 0 && n < 3) {
		return "paymentDescription", "The paymentDescription must be 3 to 100 characters."
	}
	return "", ""
}

func (s *Sim) lookup(w http.ResponseWriter, r *http.Request) *payment {
	ref := r.PathValue("reference")
	p := s.payments[ref]
	if p == nil {
		writeProblem(w, r, http.StatusNotFound, "Not Found", "No payment with reference "+ref+".", "")
		return nil
	}
	s.expireLocked(p)
	return p
}

func (s *Sim) getPayment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.lookup(w, r); p != nil {
		writeJSON(w, http.StatusOK, s.view(p))
	}
}

func (s *Sim) view(p *payment) paymentOut {
	return paymentOut{Aggregate: p.aggregate(), Amount: amountOut{p.Currency, p.Value}, State: p.State,
		PaymentMethod: map[string]string{"type": "WALLET"}, Profile: map[string]string{},
		PspReference: p.PspReference, RedirectURL: p.RedirectURL, Reference: p.Reference}
}

func (p *payment) aggregate() aggregateOut {
	a := func(v int64) amountOut { return amountOut{p.Currency, v} }
	return aggregateOut{AuthorizedAmount: a(p.authorized), CancelledAmount: a(p.cancelled), CapturedAmount: a(p.captured), RefundedAmount: a(p.refunded)}
}

func (s *Sim) getEvents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.lookup(w, r); p != nil {
		writeJSON(w, http.StatusOK, p.events)
	}
}

// eventLocked appends an event and sends its webhook. Called with s.mu held.
func (s *Sim) eventLocked(p *payment, name string, value int64, key string, success bool) {
	var k *string
	if key != "" {
		k = &key
	}
	e := eventOut{Reference: p.Reference, PspReference: randomUUID(), Name: name, Amount: amountOut{p.Currency, value},
		Timestamp: stamp(s.opts.Now()), IdempotencyKey: k, Success: success}
	if name == "CREATED" {
		e.PspReference = p.PspReference
	}
	p.events = append(p.events, e)
	s.deliverLocked("epayments.payment."+strings.ToLower(name)+".v1", map[string]any{
		"msn": s.opts.MSN, "reference": e.Reference, "pspReference": e.PspReference, "name": e.Name,
		"amount": e.Amount, "timestamp": e.Timestamp, "idempotencyKey": e.IdempotencyKey, "success": e.Success,
	})
}

// expireLocked ends a payment whose window has passed. Called with s.mu held.
func (s *Sim) expireLocked(p *payment) {
	if p.State == "CREATED" && s.opts.Now().Sub(p.created) >= s.opts.PaymentWindow {
		p.State = "EXPIRED"
		s.eventLocked(p, "EXPIRED", p.Value, "", true)
	}
}

// modify serves capture, cancel and refund with their Idempotency-Key: a
// repeated key with the same body answers the first answer again.
func (s *Sim) modify(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := idempotencyKey(w, r)
		if !ok {
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var amount *simAmount
		cancelOnly := false
		switch op {
		case "cancel":
			if len(bytes.TrimSpace(raw)) > 0 {
				var b struct {
					CancelTransactionOnly *bool `json:"cancelTransactionOnly"`
				}
				if err := decodeStrict(raw, &b, cancelKeys); err != nil {
					badField(w, r, "body", err.Error())
					return
				}
				cancelOnly = b.CancelTransactionOnly != nil && *b.CancelTransactionOnly
			}
		default:
			var b struct {
				ModificationAmount *simAmount `json:"modificationAmount"`
			}
			if err := decodeStrict(raw, &b, modificationKeys); err != nil {
				badField(w, r, "body", err.Error())
				return
			}
			if b.ModificationAmount == nil || b.ModificationAmount.Value == nil {
				badField(w, r, "modificationAmount", "The modificationAmount field is required.")
				return
			}
			amount = b.ModificationAmount
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.lookup(w, r)
		if p == nil {
			return
		}
		if prev := p.mods[key]; prev != nil {
			if !bytes.Equal(prev.request, append([]byte(op+" "), raw...)) {
				writeProblem(w, r, http.StatusConflict, "Conflict", "The Idempotency-Key was used before with another request.", "")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(prev.status)
			w.Write(prev.body)
			return
		}
		if amount != nil && amount.Currency != p.Currency {
			badField(w, r, "modificationAmount.currency", "The currency must be the payment's, "+p.Currency+".")
			return
		}
		var title, detail, code string
		switch op {
		case "capture":
			v := *amount.Value
			switch {
			case p.State != "AUTHORIZED":
				title, detail, code = "Cannot capture before reservation", "The amount you tried to capture is not reserved. The user must accept the payment before capture can be done.", "6080"
			case v <= 0 || v > p.authorized-p.captured-p.cancelled:
				title, detail, code = "Capture amount too high", "The amount you tried to capture is more than what is reserved and not captured or cancelled.", "6040"
			default:
				p.captured += v
				s.eventLocked(p, "CAPTURED", v, key, true)
			}
		case "refund":
			v := *amount.Value
			switch {
			case p.captured == 0:
				title, detail, code = "Cannot refund before capture", "Nothing is captured on this payment.", "6090"
			case v <= 0 || v > p.captured-p.refunded:
				title, detail, code = "Refund amount too high", "The amount you tried to refund is more than what is captured and not refunded.", "6050"
			default:
				p.refunded += v
				s.eventLocked(p, "REFUNDED", v, key, true)
			}
		case "cancel":
			switch {
			case p.State == "CREATED":
				p.State = "TERMINATED"
				s.eventLocked(p, "TERMINATED", p.Value, key, true)
			case p.State == "AUTHORIZED" && cancelOnly && p.captured == 0 && p.cancelled == 0:
				title, detail, code = "Cannot cancel an authorized payment", "cancelTransactionOnly is set and the user has authorized the payment.", "6120"
			case p.State == "AUTHORIZED" && p.captured+p.cancelled >= p.authorized:
				if p.captured > 0 {
					title, detail, code = "Cannot cancel a captured payment", "The payment is captured; refund it instead.", "6110"
				}
			case p.State == "AUTHORIZED":
				rest := p.authorized - p.captured - p.cancelled
				p.cancelled += rest
				s.eventLocked(p, "CANCELLED", rest, key, true)
			case p.State == "TERMINATED":
			default:
				title, detail, code = "Cannot cancel payment", "The payment is "+p.State+".", "6100"
			}
		}
		if title != "" {
			writeProblem(w, r, http.StatusBadRequest, title, detail, code)
			return
		}
		body, _ := json.Marshal(modificationOut{Amount: amountOut{p.Currency, p.Value}, State: p.State, Aggregate: p.aggregate(),
			PspReference: p.events[len(p.events)-1].PspReference, Reference: p.Reference})
		p.mods[key] = &replay{request: append([]byte(op+" "), raw...), status: http.StatusOK, body: body}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}
}

// forceApprove is the test environment's approve: the payment is
// authorized as if the customer had approved in the app.
func (s *Sim) forceApprove(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var b struct {
		Customer *simCustomer `json:"customer"`
		Token    *string      `json:"token"`
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeStrict(raw, &b, approveKeys); err != nil {
			badField(w, r, "body", err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(w, r)
	if p == nil {
		return
	}
	if err := s.actLocked(p, "approve"); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "Cannot approve payment", err.Error(), "")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// actLocked performs a customer's action on a payment. Called with s.mu held.
func (s *Sim) actLocked(p *payment, action string) error {
	s.expireLocked(p)
	if p.State != "CREATED" {
		return fmt.Errorf("the payment is %s, not waiting for the customer", p.State)
	}
	switch action {
	case "approve":
		p.State = "AUTHORIZED"
		p.authorized = p.Value
		s.eventLocked(p, "AUTHORIZED", p.Value, "", true)
	case "reject":
		p.State = "ABORTED"
		s.eventLocked(p, "ABORTED", p.Value, "", true)
	case "expire":
		p.State = "EXPIRED"
		s.eventLocked(p, "EXPIRED", p.Value, "", true)
	default:
		return fmt.Errorf("unknown action %q (approve, reject, expire)", action)
	}
	return nil
}

// LateApprove is a test hook: a customer's approval that raced the
// merchant's cancel or the expiry is booked after all. A TERMINATED or
// EXPIRED payment becomes AUTHORIZED, with its webhook. kvitt must not lose
// money that arrives after it gave up.
func (s *Sim) LateApprove(reference string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[reference]
	if p == nil {
		return fmt.Errorf("simmobilepay: no payment %s", reference)
	}
	s.expireLocked(p)
	if p.State != "TERMINATED" && p.State != "EXPIRED" {
		return fmt.Errorf("simmobilepay: payment %s is %s, not ended without money", reference, p.State)
	}
	p.State, p.authorized = "AUTHORIZED", p.Value
	s.eventLocked(p, "AUTHORIZED", p.Value, "", true)
	return nil
}
