package http

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

// Orders (seed 004): back-office orders paid by a Svea Instore link sent
// by SMS. Admin and back-office keys only. Quantities are decimal numbers
// with at most two decimals, VAT rates and discounts percentages, amounts
// integers in minor units (docs/api.md, "Orders").

type orderRequest struct {
	MerchantID string               `json:"merchant_id"`
	Number     flexString           `json:"number"`
	Currency   string               `json:"currency"`
	Customer   *orderCustomerJSON   `json:"customer"`
	Lines      orderLineRequestList `json:"lines"`
}

type orderChangeRequest struct {
	Customer *orderCustomerJSON   `json:"customer"`
	Lines    orderLineRequestList `json:"lines"`
}

type orderCustomerJSON struct {
	Name         string     `json:"name,omitempty"`
	MobileNumber flexString `json:"mobile_number"`
	Country      string     `json:"country"`
	NationalID   string     `json:"national_id,omitempty"`
	Email        string     `json:"email,omitempty"`
	PostalCode   flexString `json:"postal_code,omitempty"`
	Company      bool       `json:"company"`
}

type orderLineRequestList []orderLineRequest

func (l *orderLineRequestList) UnmarshalJSON(b []byte) (err error) {
	*l, err = decodeList[orderLineRequest](b, "lines")
	return err
}

type orderLineRequest struct {
	RowNumber       int             `json:"row_number"`
	ArticleNumber   string          `json:"article_number"`
	Name            string          `json:"name"`
	Quantity        number          `json:"quantity"`
	UnitPrice       json.RawMessage `json:"unit_price"`
	DiscountPercent number          `json:"discount_percent"`
	VATRate         number          `json:"vat_rate"`
	Unit            string          `json:"unit"`
}

func (c *orderCustomerJSON) card() kvitt.CustomerCard {
	if c == nil {
		return kvitt.CustomerCard{}
	}
	return kvitt.CustomerCard{Name: c.Name, MobileNumber: string(c.MobileNumber), Country: c.Country, NationalID: c.NationalID,
		Email: c.Email, PostalCode: string(c.PostalCode), Company: c.Company}
}

func (ls orderLineRequestList) lines() ([]kvitt.OrderLine, error) {
	var out []kvitt.OrderLine
	for i, l := range ls {
		prefix := "lines[" + itoa(i) + "]"
		q := l.Quantity
		if q == "" {
			q = "1"
		}
		qty, err := decimal(q, "quantity", 2)
		if err != nil {
			return nil, kvitt.WithFieldPrefix(prefix, err)
		}
		price, ok, err := minorUnits(l.UnitPrice, "unit_price")
		if err != nil {
			return nil, kvitt.WithFieldPrefix(prefix, err)
		}
		if !ok {
			return nil, kvitt.WithFieldPrefix(prefix, kvitt.FieldError("unit_price", "is required (minor units, including VAT)"))
		}
		var disc int64
		if l.DiscountPercent != "" {
			if disc, err = decimal(l.DiscountPercent, "discount_percent", 2); err != nil {
				return nil, kvitt.WithFieldPrefix(prefix, err)
			}
		}
		if l.VATRate == "" {
			return nil, kvitt.WithFieldPrefix(prefix, kvitt.FieldError("vat_rate", "is required (percent, e.g. 25)"))
		}
		vat, err := decimal(l.VATRate, "vat_rate", 2)
		if err != nil {
			return nil, kvitt.WithFieldPrefix(prefix, err)
		}
		out = append(out, kvitt.OrderLine{RowNumber: l.RowNumber, ArticleNumber: l.ArticleNumber, Name: l.Name, Quantity: qty,
			UnitPrice: price, DiscountPercent: disc, VATRate: vat, Unit: l.Unit})
	}
	return out, nil
}

type orderCreditRequest struct {
	Lines []struct {
		RowNumber int    `json:"row_number"`
		Quantity  number `json:"quantity"`
	} `json:"lines"`
	Amount  int64  `json:"amount"`
	VATRate number `json:"vat_rate"`
	Name    string `json:"name"`
}

// Responses.

type orderJSON struct {
	ID         string `json:"id"`
	MerchantID string `json:"merchant_id"`
	Number     string `json:"number"`
	Method     string `json:"method"`
	Currency   string `json:"currency"`
	State      string `json:"state"`
	// Icon is the seed's status icon: waiting, red, black, grey, paid.
	Icon string `json:"icon"`
	// Display is what the order list shows: the link while the customer
	// has not paid (to copy when the SMS does not arrive), Svea's
	// reference once paid.
	Display   string              `json:"display"`
	Total     int64               `json:"total"`
	Credited  int64               `json:"credited"`
	Reference string              `json:"reference,omitempty"`
	Message   string              `json:"message,omitempty"`
	Attention string              `json:"attention,omitempty"`
	Customer  kvitt.CustomerCard  `json:"customer"`
	Lines     []orderLineJSON     `json:"lines"`
	Link      *orderLinkJSON      `json:"link,omitempty"`
	Links     []orderLinkJSON     `json:"links"`
	Credits   []kvitt.OrderCredit `json:"credits"`
	// Delivered: Svea shows the paid order delivered (the invoice went
	// out); it stays paid and on the picking list.
	Delivered bool `json:"delivered"`
	// Delivery and Annulment are the deliver and annul asked of Svea
	// after payment (absent: never asked).
	Delivery  *kvitt.AdminAction `json:"delivery,omitempty"`
	Annulment *kvitt.AdminAction `json:"annulment,omitempty"`
	// ProviderOrder is what Svea's Payment Admin last showed (absent: never read).
	ProviderOrder *kvitt.AdminStatus `json:"provider_order,omitempty"`
	Created       time.Time          `json:"created"`
	Updated       time.Time          `json:"updated"`
}

type orderLineJSON struct {
	RowNumber       int         `json:"row_number"`
	ArticleNumber   string      `json:"article_number,omitempty"`
	Name            string      `json:"name"`
	Quantity        json.Number `json:"quantity"`
	UnitPrice       int64       `json:"unit_price"`
	DiscountPercent json.Number `json:"discount_percent"`
	VATRate         json.Number `json:"vat_rate"`
	Unit            string      `json:"unit"`
	Total           int64       `json:"total"`
}

type orderLinkJSON struct {
	Seq                 int        `json:"seq"`
	MerchantOrderNumber string     `json:"merchant_order_number"`
	State               string     `json:"state"`
	URL                 string     `json:"url,omitempty"`
	SMSSent             bool       `json:"sms_sent"`
	ProviderRef         string     `json:"provider_ref,omitempty"`
	PaymentType         string     `json:"payment_type,omitempty"`
	Total               int64      `json:"total"`
	ExpiresAt           *time.Time `json:"expires_at,omitempty"`
	Message             string     `json:"message,omitempty"`
}

// hundredths formats 150 as "1.5".
func hundredths(v int64) json.Number {
	s := kvitt.FormatAmount(v, kvitt.SEK)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return json.Number(s)
}

func toOrderLinkJSON(l *kvitt.OrderLink) orderLinkJSON {
	j := orderLinkJSON{Seq: l.Seq, MerchantOrderNumber: l.MerchantOrderNumber, State: string(l.State), URL: l.URL, SMSSent: l.SMSSent,
		ProviderRef: l.ProviderRef, PaymentType: l.PaymentType, Total: l.Total, Message: l.Message}
	if !l.ExpiresAt.IsZero() {
		t := l.ExpiresAt
		j.ExpiresAt = &t
	}
	return j
}

func toOrderJSON(o *kvitt.Order) orderJSON {
	j := orderJSON{ID: o.ID, MerchantID: o.MerchantID, Number: o.Number, Method: o.Method, Currency: string(o.Currency),
		State: string(o.State), Icon: o.State.Icon(), Total: o.Total, Credited: o.Credited, Reference: o.Reference,
		Message: o.Message, Attention: o.Attention, Customer: o.Customer, Lines: []orderLineJSON{}, Links: []orderLinkJSON{},
		Credits: o.Credits, Created: o.Created, Updated: o.Updated}
	if j.Credits == nil {
		j.Credits = []kvitt.OrderCredit{}
	}
	for _, l := range o.Lines {
		j.Lines = append(j.Lines, orderLineJSON{RowNumber: l.RowNumber, ArticleNumber: l.ArticleNumber, Name: l.Name,
			Quantity: hundredths(l.Quantity), UnitPrice: l.UnitPrice, DiscountPercent: hundredths(l.DiscountPercent),
			VATRate: hundredths(l.VATRate), Unit: l.Unit, Total: l.Total})
	}
	for i := range o.Links {
		j.Links = append(j.Links, toOrderLinkJSON(&o.Links[i]))
	}
	if l := o.CurrentLink(); l != nil {
		lj := toOrderLinkJSON(l)
		j.Link = &lj
	}
	j.Delivered = o.Delivery.Done()
	if o.Delivery.State != "" {
		d := o.Delivery
		j.Delivery = &d
	}
	if o.Annulment.State != "" {
		a := o.Annulment
		j.Annulment = &a
	}
	if !o.Admin.ReadAt.IsZero() {
		p := o.Admin
		j.ProviderOrder = &p
	}
	j.Display = o.Reference
	if o.PaidLink == 0 && j.Link != nil {
		j.Display = j.Link.URL
	}
	return j
}

func orderScope(r *http.Request) error {
	return require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice)
}

// handleCreateOrder is POST /v1/orders.
func (s *Server) handleCreateOrder(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	var req orderRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	lines, err := req.Lines.lines()
	if err != nil {
		return err
	}
	o, err := s.Hub.CreateOrder(r.Context(), hub.OrderInput{MerchantID: req.MerchantID, Number: string(req.Number),
		Currency: kvitt.Currency(req.Currency), Customer: req.Customer.card(), Lines: lines})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toOrderJSON(o))
	return nil
}

// handleListOrders is GET /v1/orders?state=…&q=…&limit=…: state may be
// repeated or comma-separated; q searches the number and the customer.
func (s *Server) handleListOrders(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	f, err := orderFilter(r)
	if err != nil {
		return err
	}
	os, err := s.Hub.ListOrders(r.Context(), f)
	if err != nil {
		return err
	}
	writeOrders(w, os)
	return nil
}

func orderFilter(r *http.Request) (kvitt.OrderFilter, error) {
	q := r.URL.Query()
	f := kvitt.OrderFilter{MerchantID: q.Get("merchant_id"), Query: q.Get("q")}
	for _, v := range q["state"] {
		for _, s := range strings.Split(v, ",") {
			if s != "" {
				f.States = append(f.States, kvitt.OrderState(s))
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, kvitt.FieldError("limit", "must be a whole number from 1 to 1000")
		}
		f.Limit = n
	}
	return f, nil
}

func writeOrders(w http.ResponseWriter, os []*kvitt.Order) {
	out := struct {
		Orders []orderJSON `json:"orders"`
	}{Orders: []orderJSON{}}
	for _, o := range os {
		out.Orders = append(out.Orders, toOrderJSON(o))
	}
	writeJSON(w, http.StatusOK, out)
}

// handlePickingList is GET /v1/picking-list: only orders Svea reports paid or reserved.
func (s *Server) handlePickingList(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	f, err := orderFilter(r)
	if err != nil {
		return err
	}
	os, err := s.Hub.PickingList(r.Context(), f.MerchantID, f.Limit)
	if err != nil {
		return err
	}
	writeOrders(w, os)
	return nil
}

// handleGetOrder is GET /v1/orders/{id}.
func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	o, err := s.Hub.GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}

// handleChangeOrder is POST /v1/orders/{id}/change {"customer","lines"}:
// before payment, a new link (and SMS) replaces the old one.
func (s *Server) handleChangeOrder(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	var req orderChangeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	cur, err := s.Hub.GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	customer := cur.Customer
	if req.Customer != nil {
		customer = req.Customer.card()
	}
	lines := cur.Lines
	if req.Lines != nil {
		if lines, err = req.Lines.lines(); err != nil {
			return err
		}
	}
	o, err := s.Hub.ChangeOrder(r.Context(), cur.ID, customer, lines)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}

// handleOrderAction serves POST /v1/orders/{id}/cancel, /sync, and after
// payment /deliver and /annul (Svea's Payment Admin).
func (s *Server) handleOrderAction(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := orderScope(r); err != nil {
			return err
		}
		var o *kvitt.Order
		var err error
		switch action {
		case "cancel":
			o, err = s.Hub.CancelOrder(r.Context(), r.PathValue("id"))
		case "deliver":
			o, err = s.Hub.DeliverOrder(r.Context(), r.PathValue("id"))
		case "annul":
			o, err = s.Hub.AnnulOrder(r.Context(), r.PathValue("id"))
		default:
			o, err = s.Hub.SyncOrder(r.Context(), r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toOrderJSON(o))
		return nil
	}
}

// handleCreditOrder is POST /v1/orders/{id}/credits {"lines":[{"row_number","quantity"}]} or {"amount","vat_rate"}.
func (s *Server) handleCreditOrder(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	var req orderCreditRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := hub.CreditInput{Amount: req.Amount, Name: req.Name}
	if req.VATRate != "" {
		v, err := decimal(req.VATRate, "vat_rate", 2)
		if err != nil {
			return err
		}
		in.VATRate = v
	}
	for i, l := range req.Lines {
		var q int64
		if l.Quantity != "" {
			v, err := decimal(l.Quantity, "quantity", 2)
			if err != nil {
				return kvitt.WithFieldPrefix("lines["+itoa(i)+"]", err)
			}
			q = v
		}
		in.Rows = append(in.Rows, hub.CreditRow{RowNumber: l.RowNumber, Quantity: q})
	}
	o, err := s.Hub.CreditOrder(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}

// handleSandboxOrder is POST /v1/sandbox/orders/{id}/{action}: the sandbox
// customer opens the current link and completes (approve) or abandons
// (cancel) the purchase on the simulator's checkout page.
func (s *Server) handleSandboxOrder(w http.ResponseWriter, r *http.Request) error {
	if err := orderScope(r); err != nil {
		return err
	}
	o, err := s.Hub.ActOnOrder(r.Context(), r.PathValue("id"), kvitt.CustomerAction(r.PathValue("action")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toOrderJSON(o))
	return nil
}

// handleOrderCallback is POST /v1/callbacks/svea/{token}: Svea's callback,
// authenticated by the per-link secret in token; the body (the merchant
// order number) decides nothing.
func (s *Server) handleOrderCallback(w http.ResponseWriter, r *http.Request) error {
	io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody))
	if err := s.Hub.OrderCallback(r.Context(), r.PathValue("token")); err != nil {
		s.Logger.Warn("order callback refused", "remote", r.RemoteAddr, "err", err)
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
