package simswish

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// payment is a payment request as the simulator keeps it. Its JSON form is
// the object Swish answers with (retrieve, cancel, callback).
type payment struct {
	ID                    string      `json:"id"`
	PayeePaymentReference *string     `json:"payeePaymentReference"`
	PaymentReference      *string     `json:"paymentReference"`
	CallbackURL           string      `json:"callbackUrl"`
	PayerAlias            *string     `json:"payerAlias"`
	PayeeAlias            string      `json:"payeeAlias"`
	Amount                json.Number `json:"amount"`
	Currency              string      `json:"currency"`
	Message               string      `json:"message"`
	Status                string      `json:"status"`
	DateCreated           string      `json:"dateCreated"`
	DatePaid              *string     `json:"datePaid"`
	ErrorCode             *string     `json:"errorCode"`
	ErrorMessage          *string     `json:"errorMessage"`
	AdditionalInformation *string     `json:"additionalInformation"`

	created  time.Time
	token    string
	request  []byte // the create body, to tell a replay from a reuse
	ore      int64
	refunded int64
}

// refund is a refund as the simulator keeps it.
type refund struct {
	ID                       string      `json:"id"`
	PaymentReference         *string     `json:"paymentReference"`
	PayerPaymentReference    *string     `json:"payerPaymentReference"`
	OriginalPaymentReference string      `json:"originalPaymentReference"`
	CallbackURL              string      `json:"callbackUrl"`
	PayerAlias               string      `json:"payerAlias"`
	PayeeAlias               *string     `json:"payeeAlias"`
	Amount                   json.Number `json:"amount"`
	Currency                 string      `json:"currency"`
	Message                  string      `json:"message"`
	Status                   string      `json:"status"`
	DateCreated              string      `json:"dateCreated"`
	DatePaid                 *string     `json:"datePaid"`
	ErrorCode                *string     `json:"errorCode"`
	ErrorMessage             *string     `json:"errorMessage"`
	AdditionalInformation    *string     `json:"additionalInformation"`

	created time.Time
	request []byte
	ore     int64
	payment *payment
}

type apiError struct {
	ErrorCode             string  `json:"errorCode"`
	ErrorMessage          string  `json:"errorMessage"`
	AdditionalInformation *string `json:"additionalInformation"`
}

// Error messages in Swish's words, for the 422 list and ERROR objects.
var errorTexts = map[string]string{
	"FF08": "PayeePaymentReference is invalid", "RP03": "Callback URL is missing or does not use HTTPS",
	"BE18": "Payer alias is invalid", "RP01": "Missing Merchant Swish Number", "PA02": "Amount value is missing or not a valid number",
	"AM02": "Amount value is too large", "AM03": "Invalid or missing Currency", "AM06": "Specified transaction amount is less than agreed minimum",
	"RP02": "Wrong formatted message", "RP06": "A payment request already exists for that payer",
	"ACMT03": "Payer not Enrolled", "ACMT01": "Counterpart is not activated", "ACMT07": "Payee not Enrolled",
	"VR01": "Payer does not meet the age limit", "VR02": "The payer alias in the request is not enrolled in swish with the supplied ssn",
	"RP04": "No payment request found related to a token", "RP09": "The given instructionUUID is not available",
	"RF07": "Transaction declined", "BANKIDCL": "Payer cancelled BankId signing", "BANKIDONGOING": "BankID already in use",
	"BANKIDUNKN": "BankID are not able to authorize the payment", "FF10": "Bank system processing error",
	"TM01": "Swish timed out before the payment was started", "DS24": "Swish timed out waiting for an answer from the banks after payment was started",
	"RF02": "Original Payment not found or original payment is more than 13 months old", "RF03": "Payer alias in the refund does not match the payee alias in the original payment",
	"RF04": "Payer organization number do not match original payment payee organization number", "RF06": "The Payer SSN in the original payment is not the same as the SSN for the current Payee",
	"RF08": "Amount value is too large, or amount exceeds the amount of the original payment minus the previous refunds",
	"RP07": "Transaction status not valid for this operation",
}

// SimulatedPayer is the Swish number of the customer who scans a QR code.
const SimulatedPayer = "46712345678"

// createCodes, put in a create's message, refuse the create with that code.
var createCodes = map[string]bool{
	"FF08": true, "RP03": true, "BE18": true, "RP01": true, "PA02": true, "AM02": true, "AM03": true, "AM06": true,
	"RP02": true, "RP06": true, "ACMT03": true, "ACMT01": true, "ACMT07": true, "VR01": true, "VR02": true, "RP04": true,
}

// outcomeCodes, put in a payment's message, end it in ERROR with that code when the customer approves.
var outcomeCodes = map[string]bool{
	"RF07": true, "TM01": true, "DS24": true, "BANKIDCL": true, "BANKIDONGOING": true, "BANKIDUNKN": true, "FF10": true,
}

// refundCodes, put in a refund's message, end it in ERROR with that code when it settles.
var refundCodes = map[string]bool{"RF02": true, "RF03": true, "RF04": true, "RF06": true, "RF08": true, "FF10": true, "PA01": true}

var (
	uuidRE      = regexp.MustCompile(`^[0-9A-F]{32}$`)
	amountRE    = regexp.MustCompile(`^[0-9]+(\.[0-9]{2})?$`)
	referenceRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,35}$`)
	aliasRE     = regexp.MustCompile(`^[1-9][0-9]{7,14}$`)
	merchantRE  = regexp.MustCompile(`^123[0-9]{7}$`)
)

func (s *Sim) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) {
		method, p, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+APIPrefix+p, s.merchantOnly(h))
	}
	api("PUT v2/paymentrequests/{id}", s.createPayment)
	api("GET v1/paymentrequests/{id}", s.getPayment)
	api("PATCH v1/paymentrequests/{id}", s.cancelPayment)
	api("PUT v2/refunds/{id}", s.createRefund)
	api("GET v1/refunds/{id}", s.getRefund)
	mux.HandleFunc("POST /sim/customer/paymentrequests/{id}/{action}", s.customerAction)
	s.holdRoutes(mux)
	return mux
}

// merchantOnly requires a verified client certificate and applies injected faults.
func (s *Sim) merchantOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "client certificate required", http.StatusUnauthorized)
			return
		}
		s.mu.Lock()
		var f Fault
		if len(s.faults) > 0 {
			f, s.faults = s.faults[0], s.faults[1:]
		}
		s.mu.Unlock()
		if f == LoseRequest {
			panic(http.ErrAbortHandler)
		}
		if f == LoseResponse {
			h(discard{w.Header()}, r)
			panic(http.ErrAbortHandler)
		}
		h(w, r)
	})
}

// discard is a ResponseWriter whose answer never leaves.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func merchantOf(r *http.Request) string { return r.TLS.VerifiedChains[0][0].Subject.CommonName }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func write422(w http.ResponseWriter, codes ...string) {
	list := make([]apiError, len(codes))
	for i, c := range codes {
		list[i] = apiError{ErrorCode: c, ErrorMessage: errorTexts[c]}
	}
	writeJSON(w, http.StatusUnprocessableEntity, list)
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Sim) stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// readBody checks the content type and decodes a JSON object of strings.
func readBody(w http.ResponseWriter, r *http.Request, contentType string) (map[string]*string, []byte, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), contentType) {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return nil, nil, false
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<16)); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return nil, nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return nil, nil, false
	}
	m := map[string]*string{}
	for k, v := range raw {
		if string(v) == "null" {
			m[k] = nil
			continue
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			http.Error(w, "field "+k+" must be a string", http.StatusBadRequest)
			return nil, nil, false
		}
		m[k] = &str
	}
	return m, buf.Bytes(), true
}

func get(m map[string]*string, k string) string {
	if v := m[k]; v != nil {
		return *v
	}
	return ""
}

func amountOre(s string) (int64, bool) {
	if !amountRE.MatchString(s) || len(s) > 18 {
		return 0, false
	}
	i, f, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(i+f+strings.Repeat("0", 2-len(f)), 10, 64)
	return n, err == nil
}

func validMessage(s string) bool {
	if utf8.RuneCountInString(s) > 50 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' ||
			strings.ContainsRune(`!?=#$%&()*+,-./:;<'"@`, r) || r >= 0xC0 && r <= 0xFF && r != 0xD7 && r != 0xF7
		if !ok {
			return false
		}
	}
	return true
}

func validCallback(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// readCreate checks what a v2 create (payment request or refund) must pass
// before its fields: the instructionUUID in the path, the JSON body, and the
// merchant alias field against the client certificate (403 otherwise).
func readCreate(w http.ResponseWriter, r *http.Request, aliasField string) (id string, m map[string]*string, body []byte, ok bool) {
	id = r.PathValue("id")
	if !uuidRE.MatchString(id) {
		http.Error(w, "instructionUUID must be 32 uppercase hex characters", http.StatusBadRequest)
		return "", nil, nil, false
	}
	if m, body, ok = readBody(w, r, "application/json"); !ok {
		return "", nil, nil, false
	}
	if alias := get(m, aliasField); alias != "" && alias != merchantOf(r) {
		http.Error(w, aliasField+" does not match the certificate", http.StatusForbidden)
		return "", nil, nil, false
	}
	return id, m, body, true
}

func (s *Sim) createPayment(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "create")
	if !s.waitHold(r) {
		panic(http.ErrAbortHandler)
	}
	id, m, body, ok := readCreate(w, r, "payeeAlias")
	if !ok {
		return
	}
	payee := get(m, "payeeAlias")
	var codes []string
	if payee == "" {
		codes = append(codes, "RP01")
	}
	if ref, present := m["payeePaymentReference"]; present && ref != nil && !referenceRE.MatchString(*ref) {
		codes = append(codes, "FF08")
	}
	if !validCallback(get(m, "callbackUrl")) {
		codes = append(codes, "RP03")
	}
	_, hasPayer := m["payerAlias"]
	payer := get(m, "payerAlias")
	if hasPayer && m["payerAlias"] != nil && !aliasRE.MatchString(payer) {
		codes = append(codes, "BE18")
	}
	ore, okAmount := amountOre(get(m, "amount"))
	switch {
	case !okAmount:
		codes = append(codes, "PA02")
	case ore > 99999999999999:
		codes = append(codes, "AM02")
	case ore < 1:
		codes = append(codes, "AM06")
	}
	if get(m, "currency") != "SEK" {
		codes = append(codes, "AM03")
	}
	msg := get(m, "message")
	if !validMessage(msg) {
		codes = append(codes, "RP02")
	}
	if len(codes) == 0 && createCodes[strings.TrimSpace(msg)] {
		codes = append(codes, strings.TrimSpace(msg))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.payments[id]; p != nil {
		if p.PayeeAlias == merchantOf(r) && bytes.Equal(p.request, body) {
			s.created(w, "v1/paymentrequests/", p.ID, p.token) // a replay of the same request
			return
		}
		write422(w, "RP09")
		return
	}
	if len(codes) > 0 {
		write422(w, codes...)
		return
	}
	if payer != "" {
		for _, o := range s.payments {
			s.expireLocked(o)
			if o.Status == "CREATED" && o.PayerAlias != nil && *o.PayerAlias == payer {
				write422(w, "RP06")
				return
			}
		}
	}
	now := s.opts.Now()
	p := &payment{
		ID:                    id,
		PayeePaymentReference: m["payeePaymentReference"],
		CallbackURL:           get(m, "callbackUrl"),
		PayerAlias:            ptr(payer),
		PayeeAlias:            payee,
		Amount:                json.Number(get(m, "amount")),
		Currency:              "SEK",
		Message:               msg,
		Status:                "CREATED",
		DateCreated:           s.stamp(now),
		created:               now,
		request:               body,
		ore:                   ore,
	}
	if !hasPayer {
		p.token = strings.ToLower(newHex())
		s.tokens[p.token] = id
	}
	s.payments[id] = p
	s.after(s.opts.PayerWindow, func() { s.mu.Lock(); s.expireLocked(p); s.mu.Unlock() })
	if d := s.opts.AutoApprove; d > 0 {
		s.after(d, func() { s.act(id, "approve") })
	}
	s.created(w, "v1/paymentrequests/", id, p.token)
}

func (s *Sim) created(w http.ResponseWriter, path, id, token string) {
	w.Header().Set("Location", s.URL()+path+id)
	if token != "" {
		w.Header().Set("PaymentRequestToken", token)
	}
	w.WriteHeader(http.StatusCreated)
}

// expireLocked ends a request the customer left unanswered past the window.
func (s *Sim) expireLocked(p *payment) {
	if p.Status == "CREATED" && !s.opts.Now().Before(p.created.Add(s.opts.PayerWindow)) {
		s.finishLocked(p, "ERROR", "TM01")
	}
}

// finishLocked moves p to a final status and sends its callback.
func (s *Sim) finishLocked(p *payment, status, code string) {
	p.Status = status
	p.ErrorCode, p.ErrorMessage = ptr(code), nil
	if code != "" {
		p.ErrorMessage = ptr(errorTexts[code])
	}
	if status == "PAID" {
		if p.PayerAlias == nil {
			p.PayerAlias = ptr(SimulatedPayer) // the customer who scanned the QR code
		}
		p.PaymentReference = ptr(newHex())
		p.DatePaid = ptr(s.stamp(s.opts.Now()))
	}
	if p.token != "" {
		delete(s.tokens, p.token)
	}
	body, _ := json.Marshal(p)
	s.sendCallbackLocked(p.CallbackURL, body)
}

func (s *Sim) getPayment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[r.PathValue("id")]
	if p == nil || p.PayeeAlias != merchantOf(r) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	s.expireLocked(p)
	writeJSON(w, http.StatusOK, p)
}

func (s *Sim) cancelPayment(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json-patch+json") {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	var ops []struct{ Op, Path, Value string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&ops); err != nil ||
		len(ops) != 1 || ops[0].Op != "replace" || ops[0].Path != "/status" || ops[0].Value != "cancelled" {
		http.Error(w, "expected [{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"cancelled\"}]", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.payments[r.PathValue("id")]
	if p == nil || p.PayeeAlias != merchantOf(r) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	s.expireLocked(p)
	if p.Status != "CREATED" {
		write422(w, "RP07")
		return
	}
	s.finishLocked(p, "CANCELLED", "")
	writeJSON(w, http.StatusOK, p)
}

func (s *Sim) createRefund(w http.ResponseWriter, r *http.Request) {
	w = s.arrival(w, r, "refund")
	id, m, body, ok := readCreate(w, r, "payerAlias")
	if !ok {
		return
	}
	payerAlias := get(m, "payerAlias")
	s.mu.Lock()
	defer s.mu.Unlock()
	if rf := s.refunds[id]; rf != nil {
		if rf.PayerAlias == merchantOf(r) && bytes.Equal(rf.request, body) {
			s.created(w, "v1/refunds/", id, "")
			return
		}
		write422(w, "RP09")
		return
	}
	var codes []string
	orig := s.byPaymentReference(get(m, "originalPaymentReference"))
	if orig == nil || orig.PayeeAlias != merchantOf(r) {
		codes = append(codes, "RF02")
	} else if payerAlias != orig.PayeeAlias {
		codes = append(codes, "RF03")
	}
	if ref := m["payerPaymentReference"]; ref != nil && !referenceRE.MatchString(*ref) {
		codes = append(codes, "FF08")
	}
	if !validCallback(get(m, "callbackUrl")) {
		codes = append(codes, "RP03")
	}
	ore, okAmount := amountOre(get(m, "amount"))
	if !okAmount {
		codes = append(codes, "PA02")
	} else if ore < 1 {
		codes = append(codes, "AM06")
	}
	if get(m, "currency") != "SEK" {
		codes = append(codes, "AM03")
	}
	msg := get(m, "message")
	if !validMessage(msg) {
		codes = append(codes, "RP02")
	}
	if len(codes) == 0 && ore > orig.ore-orig.refunded {
		codes = append(codes, "RF08")
	}
	if len(codes) > 0 {
		write422(w, codes...)
		return
	}
	now := s.opts.Now()
	rf := &refund{
		ID:                       id,
		PayerPaymentReference:    m["payerPaymentReference"],
		OriginalPaymentReference: get(m, "originalPaymentReference"),
		CallbackURL:              get(m, "callbackUrl"),
		PayerAlias:               payerAlias,
		PayeeAlias:               orig.PayerAlias,
		Amount:                   json.Number(get(m, "amount")),
		Currency:                 "SEK",
		Message:                  msg,
		Status:                   "CREATED",
		DateCreated:              s.stamp(now),
		created:                  now,
		request:                  body,
		ore:                      ore,
		payment:                  orig,
	}
	orig.refunded += ore
	s.refunds[id] = rf
	s.after(s.opts.RefundDelay, func() { s.mu.Lock(); s.settleLocked(rf); s.mu.Unlock() })
	s.created(w, "v1/refunds/", id, "")
}

func (s *Sim) byPaymentReference(ref string) *payment {
	if ref == "" {
		return nil
	}
	for _, p := range s.payments {
		if p.Status == "PAID" && p.PaymentReference != nil && *p.PaymentReference == ref {
			return p
		}
	}
	return nil
}

// settleLocked pays out a due refund, or fails it with the code in its message.
func (s *Sim) settleLocked(rf *refund) {
	if rf.Status != "CREATED" || s.opts.Now().Before(rf.created.Add(s.opts.RefundDelay)) {
		return
	}
	if code := strings.TrimSpace(rf.Message); refundCodes[code] {
		rf.Status, rf.ErrorCode, rf.ErrorMessage = "ERROR", ptr(code), ptr(errorTexts[code])
		rf.payment.refunded -= rf.ore
	} else {
		rf.Status = "PAID"
		rf.PaymentReference = ptr(newHex())
		rf.DatePaid = ptr(s.stamp(s.opts.Now()))
	}
	body, _ := json.Marshal(rf)
	s.sendCallbackLocked(rf.CallbackURL, body)
}

func (s *Sim) getRefund(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf := s.refunds[r.PathValue("id")]
	if rf == nil || rf.PayerAlias != merchantOf(r) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	s.settleLocked(rf)
	writeJSON(w, http.StatusOK, rf)
}

// act is what the customer does with a payment request, found by
// instructionUUID or token: approve, decline, cancel or timeout.
func (s *Sim) act(idOrToken, action string) (body []byte, status string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := idOrToken
	if t, ok := s.tokens[idOrToken]; ok {
		id = t
	}
	p := s.payments[id]
	if p == nil {
		return nil, "", errNotFound
	}
	s.expireLocked(p)
	if p.Status != "CREATED" {
		return nil, p.Status, errConflict
	}
	switch action {
	case "approve":
		if code := strings.TrimSpace(p.Message); outcomeCodes[code] {
			s.finishLocked(p, "ERROR", code)
		} else {
			s.finishLocked(p, "PAID", "")
		}
	case "decline":
		s.finishLocked(p, "DECLINED", "")
	case "cancel":
		s.finishLocked(p, "ERROR", "BANKIDCL")
	case "timeout":
		s.finishLocked(p, "ERROR", "TM01")
	default:
		return nil, p.Status, fmtErr("unknown action %q", action)
	}
	body, _ = json.Marshal(p)
	return body, p.Status, nil
}

func (s *Sim) customerAction(w http.ResponseWriter, r *http.Request) {
	b, status, err := s.act(r.PathValue("id"), r.PathValue("action"))
	switch err {
	case nil:
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	case errNotFound:
		http.Error(w, err.Error(), http.StatusNotFound)
	case errConflict:
		http.Error(w, err.Error()+" ("+status+")", http.StatusConflict)
	default:
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}
