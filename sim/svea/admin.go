package simsvea

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simpki"
)

// Svea's Payment Admin API for the Instore orders the customer completed,
// on its own listener (Svea's host differs: paymentadminapi.svea.com):
// GET /api/v1/orders/{id}, POST /api/v1/orders/{id}/deliveries (202 with
// the Location of a task), GET /api/v1/queue/{taskId}, PATCH
// /api/v1/orders/{id} {"IsCancelled":true}. Every request carries Svea's
// Timestamp and Authorization headers:
//
//	Authorization: Svea base64(merchantId:hex(sha512(body + secret + timestamp)))
//
// checked exactly (a wrong one is 401). A Completed Instore order is a
// Payment Admin order under its paymentOrderId; it is Delivered at once
// unless it was created with deferredDelivery; its Instore returns show as
// credits (delivered) or cancelled amounts (undelivered).

// DefaultAdminSecret is the simulated account's Payment Admin secret; the
// merchant id is the Instore merchant id (as Svea's WooCommerce plugin uses it).
const DefaultAdminSecret = "kvitt-sim-payment-admin-secret"

// AdminFault makes the next deliver or cancel request fail on the wire.
type AdminFault int

const (
	// AdminLoseRequest: the request is dropped before Svea acts on it.
	AdminLoseRequest AdminFault = iota + 1
	// AdminLoseAnswer: Svea acts on it, then the answer is lost.
	AdminLoseAnswer
)

type adminAPI struct {
	secret string
	ln     net.Listener
	srv    *http.Server

	// guarded by Sim.mu
	orders   map[int64]*adminOrder
	tasks    map[int64]int64 // task → order
	nextTask int64
	nextDel  int64
	faults   []AdminFault
	skew     time.Duration
}

type adminOrder struct {
	delivered    bool
	cancelled    bool
	deliveryID   int64
	deliveredAt  time.Time
	deliveries   int // deliveries made (a second one would be a double charge)
	deliverCalls int
	cancelCalls  int
	credits      []int64 // returns seen after delivery, each a credit
	seenReturned int64
	// returnedBefore is what was returned before the delivery: not
	// delivered (a cancelled amount).
	returnedBefore int64
}

// startAdmin starts the Payment Admin listener with a certificate of the simulator's CA.
func (s *Sim) startAdmin() error {
	host, _, _ := net.SplitHostPort(s.opts.Addr)
	cert, _, _, err := s.ca.Issue("localhost", x509.ExtKeyUsageServerAuth, 5, host)
	if err != nil {
		return err
	}
	addr := s.opts.AdminAddr
	if addr == "" {
		addr = net.JoinHostPort(host, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	a := &adminAPI{secret: DefaultAdminSecret, ln: ln, orders: map[int64]*adminOrder{}, tasks: map[int64]int64{},
		nextTask: 3_000_001, nextDel: 5_000_001}
	s.admin = a
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/orders/{id}", s.adminAuth(s.handleAdminGet))
	m.HandleFunc("POST /api/v1/orders/{id}/deliveries", s.adminAuth(s.handleAdminDeliver))
	m.HandleFunc("PATCH /api/v1/orders/{id}", s.adminAuth(s.handleAdminCancel))
	m.HandleFunc("GET /api/v1/queue/{task}", s.adminAuth(s.handleAdminTask))
	a.srv = simpki.Serve(ln, cert, m)
	return nil
}

func (s *Sim) closeAdmin() {
	if s.admin != nil {
		s.admin.srv.Close()
	}
}

// AdminURL is the Payment Admin base URL, like https://paymentadminapistage.svea.com.
func (s *Sim) AdminURL() string { return "https://" + s.admin.ln.Addr().String() }

// AdminMerchantID and AdminSecret are the Payment Admin credentials.
func (s *Sim) AdminMerchantID() string { return s.opts.MerchantID }
func (s *Sim) AdminSecret() string     { return s.admin.secret }

// AdminFail makes the next deliver or cancel request fail as f says (in order, one each).
func (s *Sim) AdminFail(f ...AdminFault) {
	s.mu.Lock()
	s.admin.faults = append(s.admin.faults, f...)
	s.mu.Unlock()
}

// AdminOrderInfo is what the simulator's Payment Admin holds about an order.
type AdminOrderInfo struct {
	Status string
	// Deliveries is how many deliveries Svea made (more than one for a
	// whole-order delivery would be a double charge).
	Deliveries   int
	DeliverCalls int
	CancelCalls  int
	Credited     int64
}

// AdminOrder returns the Payment Admin view of the order paymentOrderId.
func (s *Sim) AdminOrder(paymentOrderID int64) (AdminOrderInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ao := s.adminLookup(paymentOrderID)
	if ao == nil {
		return AdminOrderInfo{}, false
	}
	r := s.adminView(o, ao)
	credited := ao.returnedBefore + sum(ao.credits)
	if !ao.delivered {
		credited = o.returned
	}
	if ao.cancelled {
		credited = 0
	}
	return AdminOrderInfo{Status: r.OrderStatus, Deliveries: ao.deliveries, DeliverCalls: ao.deliverCalls, CancelCalls: ao.cancelCalls, Credited: credited}, true
}

// adminLookup finds the Completed Instore order with paymentOrderId id and
// its Payment Admin state (made on first sight). Callers hold s.mu.
func (s *Sim) adminLookup(id int64) (*order, *adminOrder) {
	var o *order
	for _, x := range s.orders {
		if x.id == id {
			o = x
		}
	}
	if o == nil || o.status != "Completed" {
		return nil, nil
	}
	a := s.admin
	ao := a.orders[id]
	if ao == nil {
		ao = &adminOrder{}
		a.orders[id] = ao
		if !o.req.DeferredDelivery {
			// Svea delivers by itself: the invoice goes out at once.
			ao.delivered, ao.deliveredAt, ao.deliveryID, ao.deliveries = true, o.created, a.nextDel, 1
			a.nextDel++
		}
	}
	if ao.delivered && o.returned > ao.seenReturned {
		ao.credits = append(ao.credits, o.returned-ao.seenReturned)
	}
	if ao.delivered {
		ao.seenReturned = o.returned
	}
	return o, ao
}

// adminAuth checks Svea's Timestamp and Authorization headers over the exact body.
func (s *Sim) adminAuth(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		if msg := s.checkAdminAuth(r, body); msg != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r, body)
	}
}

// checkAdminAuth returns why the request is not authenticated ("" = it is).
func (s *Sim) checkAdminAuth(r *http.Request, body []byte) string {
	ts := r.Header.Get("Timestamp")
	t, err := time.Parse("2006-01-02 15:04:05", ts)
	if err != nil {
		// Svea's PHP client (php-checkout Connector.php) sends minutes only.
		if t, err = time.Parse("2006-01-02 15:04", ts); err != nil {
			return "Timestamp is not yyyy-MM-dd HH:mm:ss"
		}
	}
	s.mu.Lock()
	skew := s.admin.skew
	s.mu.Unlock()
	if skew == 0 {
		skew = 5 * time.Minute
	}
	if d := s.opts.Now().Sub(t); d > skew || d < -skew {
		return "Timestamp is too far from Svea's clock"
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Svea ")
	if !ok {
		return "Authorization is not Svea {token}"
	}
	raw, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return "the token is not base64"
	}
	id, digest, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "the token is not merchantId:hash"
	}
	sum := sha512.Sum512(append(append(append([]byte{}, body...), s.admin.secret...), ts...))
	want := hex.EncodeToString(sum[:])
	// Svea's page gives the formula in lower case and an example in upper
	// case; both spellings of the same digest are taken.
	if subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.MerchantID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(strings.ToLower(digest)), []byte(want)) != 1 {
		return "wrong merchant id or hash"
	}
	return ""
}

func adminProblem(w http.ResponseWriter, status int, code int64, field, msg string) {
	body := adminError{Code: code, Message: msg}
	if field != "" {
		body.Errors = []adminErrorItem{{Code: code, Field: field, ErrorMessage: msg}}
	}
	writeJSON(w, status, body)
}

func pathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}

func (s *Sim) handleAdminGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	id, ok := pathID(r, "id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var o *order
	var ao *adminOrder
	if ok {
		o, ao = s.adminLookup(id)
	}
	if ao == nil {
		adminProblem(w, http.StatusNotFound, 404, "", "No order with the requested id was found.")
		return
	}
	writeJSON(w, http.StatusOK, s.adminView(o, ao))
}

// adminFault pops the next fault (callers hold s.mu).
func (s *Sim) adminFault() AdminFault {
	if len(s.admin.faults) == 0 {
		return 0
	}
	f := s.admin.faults[0]
	s.admin.faults = s.admin.faults[1:]
	return f
}

// lose ends the exchange without an answer (the client sees a broken
// connection or stream: an unknown outcome).
func lose() { panic(http.ErrAbortHandler) }

func (s *Sim) handleAdminDeliver(w http.ResponseWriter, r *http.Request, body []byte) {
	var req adminDeliveryRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.OrderRowIDs == nil {
		adminProblem(w, http.StatusBadRequest, 400, "OrderRowIds", "The request body is not valid: OrderRowIds is required.")
		return
	}
	id, ok := pathID(r, "id")
	s.mu.Lock()
	fault := s.adminFault()
	if fault == AdminLoseRequest {
		s.mu.Unlock()
		lose()
	}
	var o *order
	var ao *adminOrder
	if ok {
		o, ao = s.adminLookup(id)
	}
	if ao == nil {
		s.mu.Unlock()
		adminProblem(w, http.StatusNotFound, 404, "", "No order with the requested id was found.")
		return
	}
	ao.deliverCalls++
	switch {
	case ao.cancelled:
		s.mu.Unlock()
		adminProblem(w, http.StatusBadRequest, 1002, "", "The order is cancelled and cannot be delivered.")
		return
	case ao.delivered:
		s.mu.Unlock()
		adminProblem(w, http.StatusBadRequest, 1003, "", "The order is already delivered.")
		return
	}
	for _, rid := range req.OrderRowIDs {
		if rid < 1 || int(rid) > len(o.req.OrderItems) {
			s.mu.Unlock()
			adminProblem(w, http.StatusBadRequest, 1004, "OrderRowIds", fmt.Sprintf("Order row %d does not exist.", rid))
			return
		}
	}
	if n := len(req.OrderRowIDs); n != 0 && n != len(o.req.OrderItems) {
		s.mu.Unlock()
		adminProblem(w, http.StatusBadRequest, 1005, "OrderRowIds", "The simulator delivers whole orders only.")
		return
	}
	a := s.admin
	ao.delivered, ao.deliveredAt, ao.deliveryID = true, s.opts.Now(), a.nextDel
	ao.deliveries++
	ao.seenReturned, ao.returnedBefore = o.returned, o.returned // returns before delivery are cancelled amounts
	a.nextDel++
	task := a.nextTask
	a.nextTask++
	a.tasks[task] = id
	s.mu.Unlock()
	if fault == AdminLoseAnswer {
		lose()
	}
	w.Header().Set("Location", s.AdminURL()+"/api/v1/queue/"+strconv.FormatInt(task, 10))
	w.WriteHeader(http.StatusAccepted)
}

func (s *Sim) handleAdminCancel(w http.ResponseWriter, r *http.Request, body []byte) {
	var req adminCancelRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.IsCancelled == nil || !*req.IsCancelled {
		adminProblem(w, http.StatusBadRequest, 400, "IsCancelled", "The request body is not valid: IsCancelled must be true (the simulator does not cancel amounts).")
		return
	}
	id, ok := pathID(r, "id")
	s.mu.Lock()
	fault := s.adminFault()
	if fault == AdminLoseRequest {
		s.mu.Unlock()
		lose()
	}
	var ao *adminOrder
	if ok {
		_, ao = s.adminLookup(id)
	}
	if ao == nil {
		s.mu.Unlock()
		adminProblem(w, http.StatusNotFound, 404, "", "No order with the requested id was found.")
		return
	}
	ao.cancelCalls++
	switch {
	case ao.delivered:
		s.mu.Unlock()
		adminProblem(w, http.StatusBadRequest, 1001, "IsCancelled", "The order is delivered and cannot be cancelled; credit it instead.")
		return
	case ao.cancelled:
		s.mu.Unlock()
		adminProblem(w, http.StatusBadRequest, 1001, "IsCancelled", "The order is already cancelled.")
		return
	}
	ao.cancelled = true
	s.mu.Unlock()
	if fault == AdminLoseAnswer {
		lose()
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Sim) handleAdminTask(w http.ResponseWriter, r *http.Request, _ []byte) {
	task, ok := pathID(r, "task")
	s.mu.Lock()
	id, known := s.admin.tasks[task]
	s.mu.Unlock()
	if !ok || !known {
		adminProblem(w, http.StatusNotFound, 404, "", "No task with the requested id was found.")
		return
	}
	writeJSON(w, http.StatusOK, adminTask{ID: task, Status: "Completed", ResourceURI: s.AdminURL() + "/api/v1/orders/" + strconv.FormatInt(id, 10)})
}

// adminView is the order as GET /api/v1/orders/{id} shows it (callers hold s.mu).
func (s *Sim) adminView(o *order, ao *adminOrder) adminOrderJSON {
	rows := make([]adminRow, 0, len(o.req.OrderItems))
	for i, it := range o.req.OrderItems {
		rows = append(rows, adminRow{OrderRowID: int64(i + 1), ArticleNumber: it.ArticleNumber, Name: it.Name, Quantity: it.Quantity,
			UnitPrice: it.UnitPrice, DiscountAmount: it.DiscountAmount, DiscountPercent: it.DiscountPercent, VatPercent: it.VATPercent, Unit: it.Unit, Actions: []string{}})
	}
	v := adminOrderJSON{ID: o.id, Currency: currencies[o.req.CountryCode], MerchantOrderID: o.req.MerchantOrderNumber,
		EmailAddress: "kund@example.se", PhoneNumber: o.req.MobilePhoneNumber, PaymentType: nonEmpty(o.paymentTyp, "Invoice"),
		CreationDate: o.created.UTC().Format("2006-01-02T15:04:05"), OrderAmount: o.total,
		Deliveries: []adminDeliveryJSON{}, OrderRows: []adminRow{}, Actions: []string{}, SveaWillBuy: true}
	for _, p := range o.req.PresetValues {
		switch p.AttributeName {
		case "NationalId":
			v.NationalID = p.Value
		case "IsCompany":
			v.IsCompany = strings.EqualFold(p.Value, "true")
		}
	}
	switch {
	case ao.cancelled:
		v.OrderStatus, v.SystemStatus, v.CancelledAmount = "Cancelled", "Closed", o.total
		for i := range rows {
			rows[i].IsCancelled = true
		}
		v.OrderRows = rows
	case ao.delivered:
		v.OrderStatus, v.SystemStatus = "Delivered", "Closed"
		d := adminDeliveryJSON{ID: ao.deliveryID, CreationDate: ao.deliveredAt.UTC().Format("2006-01-02T15:04:05"),
			DeliveryAmount: o.total - ao.returnedBefore, Credits: []adminCreditJSON{}, Actions: []string{}, Status: "Sent"}
		inv := ao.deliveryID - 4_000_000
		d.InvoiceID = &inv
		v.CancelledAmount = o.total - d.DeliveryAmount
		for _, c := range ao.credits {
			d.CreditedAmount += c
			d.Credits = append(d.Credits, adminCreditJSON{Amount: -c, OrderRows: []adminRow{}, Actions: []string{}})
		}
		if d.CreditedAmount < d.DeliveryAmount {
			d.Actions = []string{"CanCreditNewRow", "CanCreditOrderRows", "CanCreditAmount"}
		}
		for _, r := range rows {
			r.Actions = []string{"CanCreditRow"}
			d.OrderRows = append(d.OrderRows, r)
		}
		v.Deliveries = []adminDeliveryJSON{d}
	default:
		v.OrderStatus, v.SystemStatus, v.CancelledAmount = "Open", "Active", o.returned
		for i := range rows {
			rows[i].Actions = []string{"CanDeliverRow", "CanCancelRow", "CanUpdateRow"}
		}
		v.OrderRows = rows
		v.Actions = []string{"CanDeliverOrder", "CanCancelOrder", "CanCancelAmount"}
	}
	return v
}

func sum(xs []int64) int64 {
	var t int64
	for _, x := range xs {
		t += x
	}
	return t
}

// The simulator's own view of Payment Admin's JSON (not package svea's):
// svea-sdk-dotnet's samples and php-checkout's README, PascalCase.

type adminOrderJSON struct {
	ID                  int64               `json:"Id"`
	Currency            string              `json:"Currency"`
	MerchantOrderID     string              `json:"MerchantOrderId"`
	OrderStatus         string              `json:"OrderStatus"`
	SystemStatus        string              `json:"SystemStatus"`
	SystemStatusMessage *string             `json:"SystemStatusMessage"`
	PaymentCreditStatus *string             `json:"PaymentCreditStatus"`
	EmailAddress        string              `json:"EmailAddress"`
	PhoneNumber         string              `json:"PhoneNumber"`
	CustomerReference   string              `json:"CustomerReference"`
	PeppolID            *string             `json:"PeppolId"`
	PaymentType         string              `json:"PaymentType"`
	CreationDate        string              `json:"CreationDate"`
	NationalID          string              `json:"NationalId"`
	IsCompany           bool                `json:"IsCompany"`
	CancelledAmount     int64               `json:"CancelledAmount"`
	OrderAmount         int64               `json:"OrderAmount"`
	BillingAddress      *adminAddress       `json:"BillingAddress"`
	ShippingAddress     *adminAddress       `json:"ShippingAddress"`
	Deliveries          []adminDeliveryJSON `json:"Deliveries"`
	OrderRows           []adminRow          `json:"OrderRows"`
	Actions             []string            `json:"Actions"`
	SveaWillBuy         bool                `json:"SveaWillBuy"`
}

type adminAddress struct {
	FullName      string `json:"FullName"`
	StreetAddress string `json:"StreetAddress"`
	CoAddress     string `json:"CoAddress"`
	PostalCode    string `json:"PostalCode"`
	City          string `json:"City"`
	CountryCode   string `json:"CountryCode"`
}

type adminDeliveryJSON struct {
	ID             int64             `json:"Id"`
	CreationDate   string            `json:"CreationDate"`
	InvoiceID      *int64            `json:"InvoiceId"`
	DeliveryAmount int64             `json:"DeliveryAmount"`
	CreditedAmount int64             `json:"CreditedAmount"`
	Credits        []adminCreditJSON `json:"Credits"`
	OrderRows      []adminRow        `json:"OrderRows"`
	Actions        []string          `json:"Actions"`
	Status         string            `json:"Status"`
	DueDate        *string           `json:"DueDate"`
}

type adminCreditJSON struct {
	Amount    int64      `json:"Amount"`
	OrderRows []adminRow `json:"OrderRows"`
	Actions   []string   `json:"Actions"`
}

type adminRow struct {
	OrderRowID     int64  `json:"OrderRowId"`
	ArticleNumber  string `json:"ArticleNumber"`
	Name           string `json:"Name"`
	Quantity       int64  `json:"Quantity"`
	UnitPrice      int64  `json:"UnitPrice"`
	DiscountAmount int64  `json:"DiscountAmount"`
	// DiscountPercent is in php-checkout's README (13.15.5), not in Svea's samples.
	DiscountPercent int64    `json:"DiscountPercent,omitempty"`
	VatPercent      int64    `json:"VatPercent"`
	Unit            string   `json:"Unit"`
	IsCancelled     bool     `json:"IsCancelled"`
	Actions         []string `json:"Actions"`
}

type adminDeliveryRequest struct {
	OrderRowIDs []int64 `json:"OrderRowIds"`
}

type adminCancelRequest struct {
	IsCancelled *bool `json:"IsCancelled"`
}

type adminTask struct {
	ID          int64  `json:"Id"`
	Status      string `json:"Status"`
	ResourceURI string `json:"ResourceUri"`
}

type adminError struct {
	Code    int64            `json:"Code"`
	Message string           `json:"Message"`
	Errors  []adminErrorItem `json:"Errors,omitempty"`
}

type adminErrorItem struct {
	Code         int64  `json:"Code"`
	Field        string `json:"Field"`
	ErrorMessage string `json:"ErrorMessage"`
}
