package svea

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Svea's Payment Admin API administers an order after the customer has
// completed it: read it, deliver it (the invoice goes out, a card
// reservation is captured), cancel it before delivery. An Instore order is
// administered there under its paymentOrderId (Svea's WooCommerce plugin
// stores the Instore paymentOrderId as the order id it gives Payment Admin)
// with the Instore merchant id and a separate Payment Admin secret.
//
// Authentication (docs.payments.svea.com/docs/getting-started/authentication,
// sveawebpay/svea-sdk-dotnet SveaHttpClient.cs): two headers,
//
//	Timestamp: 2024-03-05 14:07:09          (UTC, yyyy-MM-dd HH:mm:ss)
//	Authorization: Svea base64(merchantId + ":" + hex(sha512(body + secret + timestamp)))
//
// with the hex digest in lower case and an empty body for GET.

// Svea's Payment Admin hosts (sveawebpay/php-checkout src/Transport/Connector.php).
const (
	AdminProductionURL = "https://paymentadminapi.svea.com"
	AdminStageURL      = "https://paymentadminapistage.svea.com"
)

// AdminTimestampFormat is the Timestamp header's format (UTC).
const AdminTimestampFormat = "2006-01-02 15:04:05"

// AdminClient calls Svea's Payment Admin API.
type AdminClient struct {
	BaseURL string
	// MerchantID and Secret are the Payment Admin credentials: for Instore
	// orders the Instore merchant id and the Instore Payment Admin secret
	// Svea gives (not the Instore API password).
	MerchantID string
	Secret     string
	HTTP       *http.Client
	// Now is the clock of the Timestamp header (tests replace it).
	Now func() time.Time
}

// AdminToken returns the Authorization header's value for body sent at timestamp.
func AdminToken(merchantID, secret string, body []byte, timestamp string) string {
	h := sha512.New()
	h.Write(body)
	h.Write([]byte(secret))
	h.Write([]byte(timestamp))
	return "Svea " + base64.StdEncoding.EncodeToString([]byte(merchantID+":"+hex.EncodeToString(h.Sum(nil))))
}

// AdminOrder is the answer to GET /api/v1/orders/{orderId}: Svea's field
// names (PascalCase) as in sveawebpay/svea-sdk-dotnet's samples and
// php-checkout's README (13.15 Data objects).
type AdminOrder struct {
	ID                  int64           `json:"Id"`
	Currency            string          `json:"Currency"`
	MerchantOrderID     string          `json:"MerchantOrderId"`
	OrderStatus         string          `json:"OrderStatus"`
	SystemStatus        string          `json:"SystemStatus"`
	SystemStatusMessage *string         `json:"SystemStatusMessage"`
	PaymentCreditStatus *string         `json:"PaymentCreditStatus"`
	EmailAddress        string          `json:"EmailAddress"`
	PhoneNumber         string          `json:"PhoneNumber"`
	CustomerReference   string          `json:"CustomerReference"`
	PeppolID            *string         `json:"PeppolId"`
	PaymentType         string          `json:"PaymentType"`
	CreationDate        string          `json:"CreationDate"`
	NationalID          string          `json:"NationalId"`
	IsCompany           bool            `json:"IsCompany"`
	CancelledAmount     int64           `json:"CancelledAmount"`
	OrderAmount         int64           `json:"OrderAmount"`
	BillingAddress      *AdminAddress   `json:"BillingAddress"`
	ShippingAddress     *AdminAddress   `json:"ShippingAddress"`
	Deliveries          []AdminDelivery `json:"Deliveries"`
	OrderRows           []AdminOrderRow `json:"OrderRows"`
	Actions             []string        `json:"Actions"`
	SveaWillBuy         *bool           `json:"SveaWillBuy"`
}

// AdminAddress is an order's address.
type AdminAddress struct {
	FullName      string `json:"FullName"`
	StreetAddress string `json:"StreetAddress"`
	CoAddress     string `json:"CoAddress"`
	PostalCode    string `json:"PostalCode"`
	City          string `json:"City"`
	CountryCode   string `json:"CountryCode"`
}

// AdminDelivery is one delivery (an invoice, a capture) of an order.
type AdminDelivery struct {
	ID             int64           `json:"Id"`
	CreationDate   string          `json:"CreationDate"`
	InvoiceID      *int64          `json:"InvoiceId"`
	DeliveryAmount int64           `json:"DeliveryAmount"`
	CreditedAmount int64           `json:"CreditedAmount"`
	Credits        []AdminCredit   `json:"Credits"`
	OrderRows      []AdminOrderRow `json:"OrderRows"`
	Actions        []string        `json:"Actions"`
	Status         string          `json:"Status"`
	DueDate        *string         `json:"DueDate"`
}

// AdminCredit is one credit of a delivery; Svea's samples show Amount negative.
type AdminCredit struct {
	Amount    int64           `json:"Amount"`
	OrderRows []AdminOrderRow `json:"OrderRows"`
	Actions   []string        `json:"Actions"`
}

// AdminOrderRow is an order row as Payment Admin shows it.
type AdminOrderRow struct {
	OrderRowID     int64  `json:"OrderRowId"`
	ArticleNumber  string `json:"ArticleNumber"`
	Name           string `json:"Name"`
	Quantity       int64  `json:"Quantity"`
	UnitPrice      int64  `json:"UnitPrice"`
	DiscountAmount int64  `json:"DiscountAmount"`
	// DiscountPercent is in php-checkout's README (13.15.5), not in Svea's samples.
	DiscountPercent int64    `json:"DiscountPercent"`
	VatPercent      int64    `json:"VatPercent"`
	Unit            string   `json:"Unit"`
	IsCancelled     bool     `json:"IsCancelled"`
	Actions         []string `json:"Actions"`
}

// DeliveryRequest is the body of POST /api/v1/orders/{orderId}/deliveries:
// no row ids deliver the whole order.
type DeliveryRequest struct {
	OrderRowIDs []int64 `json:"OrderRowIds"`
}

// CancelRequest is the body of PATCH /api/v1/orders/{orderId}.
type CancelRequest struct {
	IsCancelled bool `json:"IsCancelled"`
}

// AdminErrorBody is Svea's error answer (svea-sdk-dotnet ErrorResponse.cs,
// php-checkout ResponseHandler.php).
type AdminErrorBody struct {
	Code    *int64 `json:"Code"`
	Message string `json:"Message"`
	Errors  []struct {
		Code         *int64 `json:"Code"`
		Field        string `json:"Field"`
		ErrorMessage string `json:"ErrorMessage"`
	} `json:"Errors"`
}

// Order statuses (php-checkout README 13.15.7) and actions (13.15.8,
// svea-sdk-dotnet OrderActionType.cs).
const (
	AdminStatusOpen      = "Open"
	AdminStatusDelivered = "Delivered"
	AdminStatusCancelled = "Cancelled"
	AdminStatusFailed    = "Failed"

	ActionCanDeliverOrder = "CanDeliverOrder"
	ActionCanCancelOrder  = "CanCancelOrder"
)

// AdminMessage is Svea's reason for a refused admin request, in its words
// where the body has them.
func AdminMessage(e *APIError) string {
	var v AdminErrorBody
	if json.Unmarshal([]byte(e.Body), &v) == nil {
		var parts []string
		if v.Message != "" {
			parts = append(parts, v.Message)
		}
		for _, x := range v.Errors {
			s := x.ErrorMessage
			if x.Field != "" {
				s = x.Field + ": " + s
			}
			if s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
	}
	return e.Message()
}

func (c *AdminClient) do(ctx context.Context, method, path string, body any, out any) (http.Header, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := now().UTC().Format(AdminTimestampFormat)
	req.Header.Set("Authorization", AdminToken(c.MerchantID, c.Secret, b, ts))
	req.Header.Set("Timestamp", ts)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, &APIError{Status: resp.StatusCode, Body: string(rb)}
	}
	if out != nil && len(bytes.TrimSpace(rb)) > 0 {
		if err := json.Unmarshal(rb, out); err != nil {
			return resp.Header, fmt.Errorf("svea payment admin: decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

func adminOrderPath(orderID int64) string { return "/api/v1/orders/" + strconv.FormatInt(orderID, 10) }

// GetOrder is GET /api/v1/orders/{orderId}.
func (c *AdminClient) GetOrder(ctx context.Context, orderID int64) (*AdminOrder, error) {
	var out AdminOrder
	_, err := c.do(ctx, http.MethodGet, adminOrderPath(orderID), nil, &out)
	return &out, err
}

// DeliverOrder is POST /api/v1/orders/{orderId}/deliveries; rowIDs nil
// delivers every row. Svea answers with the Location of a task
// (/api/v1/queue/{taskId}) that carries the delivery out; it is returned.
func (c *AdminClient) DeliverOrder(ctx context.Context, orderID int64, rowIDs []int64) (location string, err error) {
	if rowIDs == nil {
		rowIDs = []int64{}
	}
	h, err := c.do(ctx, http.MethodPost, adminOrderPath(orderID)+"/deliveries", &DeliveryRequest{OrderRowIDs: rowIDs}, nil)
	if h != nil {
		location = h.Get("Location")
	}
	return location, err
}

// CancelOrder is PATCH /api/v1/orders/{orderId} {"IsCancelled":true}: the
// whole undelivered order is cancelled (Svea: the order needs the action
// CanCancelOrder); the answer has no body.
func (c *AdminClient) CancelOrder(ctx context.Context, orderID int64) error {
	_, err := c.do(ctx, http.MethodPatch, adminOrderPath(orderID), &CancelRequest{IsCancelled: true}, nil)
	return err
}

// Admin administration of paid orders (kvitt.OrderAdmin).

var _ kvitt.OrderAdmin = (*Provider)(nil)

// errNoAdmin says what to configure to deliver and annul.
var errNoAdmin = kvitt.Errorf(kvitt.EUNAVAILABLE, "delivering and annulling Svea orders needs Svea's Payment Admin API: "+
	"set admin_merchant_id (the Instore merchant id), admin_secret (or admin_secret_env: the Instore Payment Admin secret from Svea) "+
	"and admin_base_url in the svea section of the configuration")

// AdminAvailable is nil when the Payment Admin credentials are configured.
func (p *Provider) AdminAvailable() error {
	if a := p.c.Admin; a == nil || a.BaseURL == "" || a.MerchantID == "" || a.Secret == "" {
		return errNoAdmin
	}
	return nil
}

// adminID is the Payment Admin order id of the paid link: Instore's paymentOrderId.
func adminID(l *kvitt.OrderLink) (int64, error) {
	id, err := strconv.ParseInt(l.ProviderRef, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("the link %s has no Svea order id (paymentOrderId %q)", l.MerchantOrderNumber, l.ProviderRef)
	}
	return id, nil
}

// AdminOrder reads the paid order from Payment Admin.
func (p *Provider) AdminOrder(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.AdminUpdate, error) {
	if err := p.AdminAvailable(); err != nil {
		return kvitt.AdminUpdate{}, err
	}
	id, err := adminID(l)
	if err != nil {
		return kvitt.AdminUpdate{Refused: err.Error()}, nil
	}
	ao, err := p.c.Admin.GetOrder(ctx, id)
	if err != nil {
		if ae, ok := Definite(err); ok {
			if ae.Status == http.StatusNotFound {
				return kvitt.AdminUpdate{NotFound: true, ErrorCode: "404",
					Refused: fmt.Sprintf("Svea's Payment Admin has no order %d (the Instore reference of order %s).", id, o.Number)}, nil
			}
			return kvitt.AdminUpdate{ErrorCode: strconv.Itoa(ae.Status), Refused: adminRefusal("read", ae)}, nil
		}
		return kvitt.AdminUpdate{}, err
	}
	return AdminUpdateOf(ao), nil
}

// AdminUpdateOf maps Svea's order to what kvitt keeps of it.
func AdminUpdateOf(ao *AdminOrder) kvitt.AdminUpdate {
	u := kvitt.AdminUpdate{Read: true, Status: ao.OrderStatus}
	switch strings.ToLower(ao.OrderStatus) {
	case "delivered":
		u.Delivered = true
	case "cancelled", "canceled":
		u.Cancelled = true
	}
	for _, a := range ao.Actions {
		switch a {
		case ActionCanDeliverOrder:
			u.CanDeliver = true
		case ActionCanCancelOrder:
			u.CanCancel = true
		}
	}
	for _, d := range ao.Deliveries {
		u.Credited += d.CreditedAmount
	}
	if !u.Cancelled {
		// Cancelled rows or amounts of an order still open were given back
		// too; a cancelled order's amount is the annulment, not a credit.
		u.Credited += ao.CancelledAmount
	}
	return u
}

// adminRefusal words a refused admin request for a back-office user.
func adminRefusal(what string, ae *APIError) string {
	switch ae.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("Svea's Payment Admin refused kvitt's credentials (HTTP %d) when asked to %s the order: check admin_merchant_id and admin_secret (and the server clock: Svea checks the Timestamp).", ae.Status, what)
	case http.StatusNotFound:
		return fmt.Sprintf("Svea's Payment Admin does not know the order, so it could not %s it.", what)
	}
	return fmt.Sprintf("Svea refused to %s the order: %s", what, AdminMessage(ae))
}

// Deliver delivers every row of the paid order. Svea queues the delivery
// and answers with a task; the order is read again to show the outcome.
func (p *Provider) Deliver(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.AdminUpdate, error) {
	return p.act(ctx, o, l, "deliver", func(id int64) error {
		_, err := p.c.Admin.DeliverOrder(ctx, id, nil)
		return err
	})
}

// Annul cancels the paid, undelivered order at Svea.
func (p *Provider) Annul(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.AdminUpdate, error) {
	return p.act(ctx, o, l, "cancel", func(id int64) error { return p.c.Admin.CancelOrder(ctx, id) })
}

func (p *Provider) act(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink, what string, call func(id int64) error) (kvitt.AdminUpdate, error) {
	if err := p.AdminAvailable(); err != nil {
		return kvitt.AdminUpdate{}, err
	}
	id, err := adminID(l)
	if err != nil {
		return kvitt.AdminUpdate{Refused: err.Error()}, nil
	}
	if err := call(id); err != nil {
		if ae, ok := Definite(err); ok {
			return kvitt.AdminUpdate{ErrorCode: strconv.Itoa(ae.Status), NotFound: ae.Status == http.StatusNotFound, Refused: adminRefusal(what, ae)}, nil
		}
		return kvitt.AdminUpdate{}, err
	}
	// Taken. Read the outcome; a failed read leaves it accepted (the hub
	// reads again later, and never sends it again).
	u := kvitt.AdminUpdate{Accepted: true}
	if ao, err := p.c.Admin.GetOrder(ctx, id); err == nil {
		u = AdminUpdateOf(ao)
		u.Accepted = true
	}
	return u, nil
}
