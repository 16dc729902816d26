package mobilepay

import (
	"fmt"
	"strings"
	"time"
)

// The wire types below follow the published OpenAPI documents of the Vipps
// MobilePay platform field for field (names, casing, nesting). The
// simulator (sim/mobilepay) has its own; literal fixtures from the
// documentation in testdata/ pin both.

// TokenResponse is the answer of POST /accesstoken/get. Every field is a
// string on the wire, the numbers included ("expires_in": "3600").
type TokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in,omitempty"`
	ExpiresOn    string `json:"expires_on,omitempty"`
	NotBefore    string `json:"not_before,omitempty"`
	Resource     string `json:"resource,omitempty"`
	AccessToken  string `json:"access_token"`
}

// Amount is an amount in minor units (øre, cent) with its currency.
type Amount struct {
	Currency string `json:"currency"`
	Value    int64  `json:"value"`
}

// ePayment payment states as the API writes them.
const (
	StateCreated    = "CREATED"
	StateAuthorized = "AUTHORIZED"
	StateAborted    = "ABORTED"
	StateExpired    = "EXPIRED"
	StateTerminated = "TERMINATED"
)

// States lists every ePayment state; a guard test checks each is mapped.
var States = []string{StateCreated, StateAuthorized, StateAborted, StateExpired, StateTerminated}

// User flows of a create.
const (
	FlowPushMessage = "PUSH_MESSAGE"
	FlowQR          = "QR"
)

// CustomerPresent is the customerInteraction of an in-store payment.
const CustomerPresent = "CUSTOMER_PRESENT"

// PaymentMethod is the create's paymentMethod; kvitt uses WALLET (the app).
type PaymentMethod struct {
	Type string `json:"type"`
}

// Customer names the payer: exactly one of its fields is set.
type Customer struct {
	PhoneNumber   string `json:"phoneNumber,omitempty"`
	PersonalQR    string `json:"personalQr,omitempty"`
	CustomerToken string `json:"customerToken,omitempty"`
}

// QRFormat asks for the one-time QR of a userFlow QR create.
type QRFormat struct {
	Format string `json:"format"`
	Size   int    `json:"size,omitempty"`
}

// QR formats of a userFlow QR create.
const (
	QRFormatTargetURL = "TEXT/TARGETURL"
	QRFormatSVG       = "IMAGE/SVG+XML"
	QRFormatPNG       = "IMAGE/PNG"
)

// CreatePaymentRequest is the body of POST /epayment/v1/payments.
type CreatePaymentRequest struct {
	Amount              Amount        `json:"amount"`
	Customer            *Customer     `json:"customer,omitempty"`
	CustomerInteraction string        `json:"customerInteraction,omitempty"`
	PaymentMethod       PaymentMethod `json:"paymentMethod"`
	Reference           string        `json:"reference"`
	UserFlow            string        `json:"userFlow"`
	QRFormat            *QRFormat     `json:"qrFormat,omitempty"`
	PaymentDescription  string        `json:"paymentDescription,omitempty"`
}

// CreatePaymentResponse is the 201 answer of a create. RedirectURL is the
// QR target (userFlow QR) and empty for PUSH_MESSAGE.
type CreatePaymentResponse struct {
	RedirectURL string `json:"redirectUrl,omitempty"`
	Reference   string `json:"reference"`
}

// Aggregate sums what happened to a payment.
type Aggregate struct {
	AuthorizedAmount Amount `json:"authorizedAmount"`
	CancelledAmount  Amount `json:"cancelledAmount"`
	CapturedAmount   Amount `json:"capturedAmount"`
	RefundedAmount   Amount `json:"refundedAmount"`
}

// Payment is the answer of GET /epayment/v1/payments/{reference}.
type Payment struct {
	Aggregate     Aggregate     `json:"aggregate"`
	Amount        Amount        `json:"amount"`
	State         string        `json:"state"`
	PaymentMethod PaymentMethod `json:"paymentMethod"`
	PSPReference  string        `json:"pspReference"`
	RedirectURL   string        `json:"redirectUrl,omitempty"`
	Reference     string        `json:"reference"`
}

// PaymentEvent is one entry of GET /epayment/v1/payments/{reference}/events.
type PaymentEvent struct {
	Reference      string `json:"reference"`
	PSPReference   string `json:"pspReference"`
	Name           string `json:"name"`
	Amount         Amount `json:"amount"`
	Timestamp      string `json:"timestamp"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	Success        bool   `json:"success"`
}

// Event names of the event log and of the ePayment webhooks.
const (
	EventCreated    = "CREATED"
	EventAborted    = "ABORTED"
	EventExpired    = "EXPIRED"
	EventCancelled  = "CANCELLED"
	EventCaptured   = "CAPTURED"
	EventRefunded   = "REFUNDED"
	EventAuthorized = "AUTHORIZED"
	EventTerminated = "TERMINATED"
)

// ModificationRequest is the body of a capture or refund.
type ModificationRequest struct {
	ModificationAmount Amount `json:"modificationAmount"`
}

// CancelRequest is the body of a cancel.
type CancelRequest struct {
	CancelTransactionOnly bool `json:"cancelTransactionOnly"`
}

// ModificationResponse answers a capture, cancel or refund.
type ModificationResponse struct {
	Amount       Amount    `json:"amount"`
	State        string    `json:"state"`
	Aggregate    Aggregate `json:"aggregate"`
	PSPReference string    `json:"pspReference"`
	Reference    string    `json:"reference"`
}

// ForceApprove is the body of the test environment's
// POST /epayment/v1/test/payments/{reference}/approve.
type ForceApprove struct {
	Customer *Customer `json:"customer,omitempty"`
	Token    string    `json:"token,omitempty"`
}

// Webhook event types kvitt subscribes to.
const (
	EventTypeCheckedIn = "user.checked-in.v1"
)

// EPaymentEventTypes are the ePayment webhook event types.
var EPaymentEventTypes = []string{
	"epayments.payment.created.v1", "epayments.payment.aborted.v1", "epayments.payment.expired.v1",
	"epayments.payment.cancelled.v1", "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
	"epayments.payment.authorized.v1", "epayments.payment.terminated.v1",
}

// RegisterWebhookRequest is the body of POST /webhooks/v1/webhooks.
type RegisterWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// RegisterWebhookResponse is its 201 answer; Secret keys the HMAC of every delivery.
type RegisterWebhookResponse struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// Webhook is one registration in GET /webhooks/v1/webhooks.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// WebhookList is the answer of GET /webhooks/v1/webhooks.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// EPaymentWebhook is the body of an ePayment webhook delivery.
type EPaymentWebhook struct {
	MSN            string `json:"msn"`
	Reference      string `json:"reference"`
	PSPReference   string `json:"pspReference"`
	Name           string `json:"name"`
	Amount         Amount `json:"amount"`
	Timestamp      string `json:"timestamp"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	Success        bool   `json:"success"`
}

// CheckedIn is the body of a user.checked-in.v1 delivery: a customer
// scanned the merchant callback QR MerchantQRID. The token, valid for 15
// minutes, creates an ePayment for that customer.
type CheckedIn struct {
	CustomerToken string `json:"customerToken"`
	MerchantQRID  string `json:"merchantQrId"`
	MSN           string `json:"msn"`
	InitiatedAt   string `json:"initiatedAt"`
}

// CallbackQRRequest is the body of PUT /qr/v1/merchant-callback/{merchantQrId}
// and of PUT /qr/v1/merchant-callback/mobilepay/{beaconId}.
type CallbackQRRequest struct {
	LocationDescription string `json:"locationDescription"`
}

// CallbackQR is a merchant callback QR as GET /qr/v1/merchant-callback/{id} answers it.
type CallbackQR struct {
	MerchantSerialNumber string `json:"merchantSerialNumber"`
	MerchantQRID         string `json:"merchantQrId"`
	LocationDescription  string `json:"locationDescription"`
	QRImageURL           string `json:"qrImageUrl"`
	QRContent            string `json:"qrContent"`
}

// Problem is the error body (RFC 7807) of the ePayment and Webhooks APIs;
// the QR API names its list invalidParams.
type Problem struct {
	Type          string        `json:"type,omitempty"`
	Title         string        `json:"title,omitempty"`
	Status        int           `json:"status,omitempty"`
	Detail        string        `json:"detail,omitempty"`
	Instance      string        `json:"instance,omitempty"`
	TraceID       string        `json:"traceId,omitempty"`
	ExtraDetails  []ExtraDetail `json:"extraDetails,omitempty"`
	InvalidParams []ExtraDetail `json:"invalidParams,omitempty"`
}

// ExtraDetail names a field (or "ErrorCode") and the reason.
type ExtraDetail struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ErrorCode returns the domain error code in extraDetails ("6080"), if any.
func (p *Problem) ErrorCode() string {
	for _, d := range p.ExtraDetails {
		if strings.EqualFold(d.Name, "ErrorCode") {
			return d.Reason
		}
	}
	return ""
}

// APIError is an answer other than the expected 2xx.
type APIError struct {
	StatusCode int
	Problem    *Problem
	// Body is the start of the answer when it is not a problem document.
	Body string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mobilepay: HTTP %d", e.StatusCode)
	if p := e.Problem; p != nil {
		if p.Title != "" {
			fmt.Fprintf(&b, " %s", p.Title)
		}
		if c := p.ErrorCode(); c != "" {
			fmt.Fprintf(&b, " (error %s)", c)
		}
		if p.Detail != "" {
			fmt.Fprintf(&b, ": %s", p.Detail)
		}
		for _, d := range append(p.ExtraDetails, p.InvalidParams...) {
			if !strings.EqualFold(d.Name, "ErrorCode") {
				fmt.Fprintf(&b, "; %s: %s", d.Name, d.Reason)
			}
		}
	} else if e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	}
	return b.String()
}

// Definite reports whether the platform certainly did not act on the
// request: a 4xx other than 408 and 429. A 5xx, 408 or 429 leaves a
// create's outcome open: ask again by the same reference.
func (e *APIError) Definite() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != 408 && e.StatusCode != 429
}

// CashierMessage says in words a cashier understands what went wrong.
func (e *APIError) CashierMessage() string {
	switch e.StatusCode {
	case 400:
		if e.Problem != nil && e.Problem.Title != "" && e.Problem.Title != "Bad Request" {
			return "MobilePay refused: " + e.Problem.Title + "."
		}
		return "MobilePay did not accept the request (400). Contact support."
	case 401:
		return "MobilePay did not accept kvitt's credentials (401). Check the client id, secret and subscription key."
	case 403:
		return "The MobilePay credentials are not allowed this (403). Check that the sales unit has the ePayment, QR and Webhooks products."
	case 404:
		return "MobilePay does not know this payment (404)."
	case 409:
		return "MobilePay has another request for this payment (409)."
	case 429:
		return "MobilePay is busy (429). Try again in a moment."
	}
	if e.StatusCode >= 500 {
		return fmt.Sprintf("MobilePay has a problem (%d). Try again in a moment.", e.StatusCode)
	}
	return fmt.Sprintf("MobilePay answered with HTTP %d.", e.StatusCode)
}

// parseTime reads the platform's timestamps (RFC 3339, up to 7 fractional digits).
func parseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
