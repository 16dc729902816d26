package swish

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// PaymentRequest is Swish's payment request object: the body of a create and
// the answer of a retrieve, a cancel and a callback.
type PaymentRequest struct {
	// Response only.
	ID               string `json:"id,omitempty"`
	PaymentReference string `json:"paymentReference,omitempty"` // the bank's reference once PAID
	Status           string `json:"status,omitempty"`
	DateCreated      Time   `json:"dateCreated,omitzero"`
	DatePaid         Time   `json:"datePaid,omitzero"`
	ErrorCode        string `json:"errorCode,omitempty"`
	ErrorMessage     string `json:"errorMessage,omitempty"`
	AdditionalInfo   string `json:"additionalInformation,omitempty"`

	PayeePaymentReference string `json:"payeePaymentReference,omitempty"`
	CallbackURL           string `json:"callbackUrl"`
	// PayerAlias is set for e-commerce only; left out (not null) for in-store, to get a token.
	PayerAlias string `json:"payerAlias,omitempty"`
	PayeeAlias string `json:"payeeAlias"`
	Amount     Amount `json:"amount"`
	Currency   string `json:"currency"`
	Message    string `json:"message,omitempty"`
}

// Refund is Swish's refund object.
type Refund struct {
	ID               string `json:"id,omitempty"`
	PaymentReference string `json:"paymentReference,omitempty"`
	Status           string `json:"status,omitempty"`
	DateCreated      Time   `json:"dateCreated,omitzero"`
	DatePaid         Time   `json:"datePaid,omitzero"`
	ErrorCode        string `json:"errorCode,omitempty"`
	ErrorMessage     string `json:"errorMessage,omitempty"`
	AdditionalInfo   string `json:"additionalInformation,omitempty"`

	OriginalPaymentReference string `json:"originalPaymentReference"`
	PayerPaymentReference    string `json:"payerPaymentReference,omitempty"`
	CallbackURL              string `json:"callbackUrl"`
	// PayerAlias is the merchant's Swish number (the merchant pays the refund).
	PayerAlias string `json:"payerAlias"`
	// PayeeAlias is the customer's number; Swish fills it in.
	PayeeAlias string `json:"payeeAlias,omitempty"`
	Amount     Amount `json:"amount"`
	Currency   string `json:"currency"`
	Message    string `json:"message,omitempty"`
}

// PatchOperation is one JSON Patch (RFC 6902) operation.
type PatchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// Amount is a decimal amount as Swish writes it. Requests carry a string
// ("12.50"); answers may carry a JSON number (12.50), which is kept as its
// exact text and never goes through a float.
type Amount string

// AmountOf formats minor units (öre) as a Swish amount.
func AmountOf(ore int64) Amount { return Amount(kvitt.FormatAmount(ore, kvitt.SEK)) }

// Ore returns the amount in öre.
func (a Amount) Ore() (int64, error) { return kvitt.ParseAmount(string(a), kvitt.SEK) }

// MarshalJSON writes the amount as a string.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(string(a)) }

// UnmarshalJSON accepts a string or a number.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*a = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Amount(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("swish: amount %s is not a number", b)
		}
		*a = Amount(n)
	}
	return nil
}

// Time is a Swish timestamp. Swish writes ISO 8601, with a zone ("Z" or an
// offset) or, in older answers, in Swedish local time without one.
type Time struct{ time.Time }

var stockholm = func() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// UnmarshalJSON parses the timestamp; null and "" give the zero time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t.Time = v
		return nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if v, err := time.ParseInLocation(layout, s, stockholm); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("swish: %q is not an ISO 8601 time", s)
}

// MarshalJSON writes RFC 3339 in UTC with milliseconds.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// IsZero lets omitzero leave unset times out.
func (t Time) IsZero() bool { return t.Time.IsZero() }

// ErrorDetail is one element of a 422 answer.
type ErrorDetail struct {
	ErrorCode             string `json:"errorCode"`
	ErrorMessage          string `json:"errorMessage"`
	AdditionalInformation string `json:"additionalInformation"`
}

// APIError is an answer other than the expected 2xx. A 422 carries Swish's
// error codes in Details.
type APIError struct {
	StatusCode int
	Details    []ErrorDetail
	// Body is the start of the answer's body when it is not a 422 list.
	Body string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "swish: HTTP %d", e.StatusCode)
	for _, d := range e.Details {
		fmt.Fprintf(&b, " %s", d.ErrorCode)
		if d.ErrorMessage != "" {
			fmt.Fprintf(&b, " (%s)", d.ErrorMessage)
		}
	}
	if len(e.Details) == 0 && e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	}
	return b.String()
}

// Code returns the first Swish error code, or "" when there is none.
func (e *APIError) Code() string {
	if len(e.Details) > 0 {
		return e.Details[0].ErrorCode
	}
	return ""
}

// Definite reports whether Swish certainly did not act on the request: a
// 4xx other than 408 and 429. A 5xx, 408 or 429 leaves the outcome open
// for a create that may have been stored (ask again by the same UUID).
func (e *APIError) Definite() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != 408 && e.StatusCode != 429
}

// CashierMessage says in words a cashier understands why Swish refused.
func (e *APIError) CashierMessage() string {
	if c := e.Code(); c != "" {
		return CodeMessage(c)
	}
	switch e.StatusCode {
	case 400:
		return "Swish did not understand the request (400). Contact support."
	case 401:
		return "Swish did not accept the merchant certificate, or the Swish number is not enrolled (401). Check the certificate."
	case 403:
		return "The Swish number does not match the merchant certificate (403). Check the Swish settings."
	case 404:
		return "Swish does not know this payment (404)."
	case 415:
		return "Swish refused the request format (415). Contact support."
	case 429:
		return "Swish is busy (429). Try again in a moment."
	}
	if e.StatusCode >= 500 {
		return fmt.Sprintf("Swish has a problem (%d). Try again in a moment.", e.StatusCode)
	}
	return fmt.Sprintf("Swish answered with HTTP %d.", e.StatusCode)
}
