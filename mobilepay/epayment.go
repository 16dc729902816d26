package mobilepay

import (
	"context"
	"net/http"
	"net/url"
)

const epaymentPath = "/epayment/v1/payments"

// CreatePayment sends POST /epayment/v1/payments with the Idempotency-Key.
// It validates req first (a *kvitt.Error naming the field); the platform's
// refusals come back as *APIError. Resending with the same key and body is
// safe: the platform answers the first create's result.
func (c *Client) CreatePayment(ctx context.Context, idempotencyKey string, req *CreatePaymentRequest) (*CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	var out CreatePaymentResponse
	err := c.do(ctx, call{method: http.MethodPost, path: epaymentPath, idempotencyKey: idempotencyKey, body: req, out: &out,
		want: []int{http.StatusCreated, http.StatusOK}})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPayment sends GET /epayment/v1/payments/{reference}.
func (c *Client) GetPayment(ctx context.Context, reference string) (*Payment, error) {
	if err := ValidateReference(reference); err != nil {
		return nil, err
	}
	var out Payment
	if err := c.do(ctx, call{method: http.MethodGet, path: epaymentPath + "/" + url.PathEscape(reference), out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// PaymentEvents sends GET /epayment/v1/payments/{reference}/events: every
// event of the payment, with the Idempotency-Key of the request behind it.
func (c *Client) PaymentEvents(ctx context.Context, reference string) ([]PaymentEvent, error) {
	if err := ValidateReference(reference); err != nil {
		return nil, err
	}
	var out []PaymentEvent
	if err := c.do(ctx, call{method: http.MethodGet, path: epaymentPath + "/" + url.PathEscape(reference) + "/events", out: &out}); err != nil {
		return nil, err
	}
	return out, nil
}

// CapturePayment sends POST .../capture for amount.
func (c *Client) CapturePayment(ctx context.Context, reference, idempotencyKey string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, reference, "capture", idempotencyKey, &ModificationRequest{ModificationAmount: amount})
}

// RefundPayment sends POST .../refund for amount (at most what is captured and not yet refunded).
func (c *Client) RefundPayment(ctx context.Context, reference, idempotencyKey string, amount Amount) (*ModificationResponse, error) {
	return c.modify(ctx, reference, "refund", idempotencyKey, &ModificationRequest{ModificationAmount: amount})
}

// CancelPayment sends POST .../cancel. With transactionOnly the platform
// cancels only a payment the customer has not authorized yet; without it an
// authorized, uncaptured amount is released too.
func (c *Client) CancelPayment(ctx context.Context, reference, idempotencyKey string, transactionOnly bool) (*ModificationResponse, error) {
	return c.modify(ctx, reference, "cancel", idempotencyKey, &CancelRequest{CancelTransactionOnly: transactionOnly})
}

func (c *Client) modify(ctx context.Context, reference, op, idempotencyKey string, body any) (*ModificationResponse, error) {
	if err := ValidateReference(reference); err != nil {
		return nil, err
	}
	if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
		return nil, err
	}
	if m, ok := body.(*ModificationRequest); ok {
		if err := validateAmount("modificationAmount", m.ModificationAmount); err != nil {
			return nil, err
		}
	}
	var out ModificationResponse
	err := c.do(ctx, call{method: http.MethodPost, path: epaymentPath + "/" + url.PathEscape(reference) + "/" + op,
		idempotencyKey: idempotencyKey, body: body, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ForceApprove approves a payment as the customer would, in the test
// environment only (POST /epayment/v1/test/payments/{reference}/approve).
// Production refuses it.
func (c *Client) ForceApprove(ctx context.Context, reference string, body ForceApprove) error {
	if err := ValidateReference(reference); err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodPost, path: "/epayment/v1/test/payments/" + url.PathEscape(reference) + "/approve", body: &body})
}
