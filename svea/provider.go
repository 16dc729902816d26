package svea

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Method is the order provider's name.
const Method = "svea"

// Defaults.
const (
	// DefaultLinkLifetime is the seed's ERP's (Specter: 48 h, hard-coded);
	// Svea's own default is 20 minutes.
	DefaultLinkLifetime = 48 * time.Hour
	// StatusInterval is Svea's limit: one status call per 5 seconds per order.
	StatusInterval = 5 * time.Second
)

// Config configures the Instore provider.
type Config struct {
	Client *Client
	// Admin is Svea's Payment Admin API, which delivers and annuls paid
	// orders (nil: deliver and annul are refused, saying what to configure).
	Admin *AdminClient
	// CountryCode is the Instore account's country; Svea refuses orders of
	// another ("the country code must be preconfigured as valid for the merchant").
	CountryCode string
	// TermsURI is the merchant's terms (the payment method's setting in the seed), ≤ 500 characters.
	TermsURI string
	// CallbackBaseURL is kvitt's public base URL; each link's callbackUri
	// is CallbackBaseURL + "/v1/callbacks/svea/" + its token ("" = no callbacks: polling only).
	CallbackBaseURL string
	// LinkLifetime is minutesUntilLinkExpires (default 48 h).
	LinkLifetime time.Duration
	// DeferredDelivery leaves orders undelivered at Svea (default false:
	// delivered at once, the invoice goes out).
	DeferredDelivery bool
	// RequireElectronicID false lets the customer complete without BankID
	// (Svea's default is true); nil leaves Svea's default.
	RequireElectronicID *bool
	MerchantName        string
	Tags                []string
	// StatusInterval overrides the 5-second limit (tests with a simulator that allows it).
	StatusInterval time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Provider is Svea Instore as a kvitt.OrderProvider.
type Provider struct{ c Config }

var _ kvitt.OrderProvider = (*Provider)(nil)

// NewProvider checks the configuration.
func NewProvider(c Config) (*Provider, error) {
	if c.Client == nil || c.Client.BaseURL == "" {
		return nil, fmt.Errorf("svea: no API base URL")
	}
	if c.Client.MerchantID == "" || c.Client.Password == "" {
		return nil, fmt.Errorf("svea: the Instore merchant id and password are required")
	}
	if c.CountryCode == "" {
		c.CountryCode = "SE"
	}
	if kvitt.CountryCurrency(c.CountryCode) == "" {
		return nil, fmt.Errorf("svea: country %q is not SE, NO, DK or FI", c.CountryCode)
	}
	if c.TermsURI == "" || len(c.TermsURI) > 500 || !(strings.HasPrefix(c.TermsURI, "https://") || strings.HasPrefix(c.TermsURI, "http://")) {
		return nil, fmt.Errorf("svea: terms_uri must be an http(s) URL of at most 500 characters (the merchant's terms, shown to the customer)")
	}
	if c.LinkLifetime <= 0 {
		c.LinkLifetime = DefaultLinkLifetime
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = StatusInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Provider{c: c}, nil
}

func (p *Provider) Method() string                { return Method }
func (p *Provider) StatusInterval() time.Duration { return p.c.StatusInterval }
func (p *Provider) LinkLifetime() time.Duration   { return p.c.LinkLifetime }

// ValidateOrder checks the order against the account: its country and currency.
func (p *Provider) ValidateOrder(o *kvitt.Order) error {
	if o.Customer.Country != p.c.CountryCode {
		return kvitt.FieldError("customer.country", "%s does not match the Svea Instore account's country %s", o.Customer.Country, p.c.CountryCode)
	}
	if want := kvitt.CountryCurrency(p.c.CountryCode); o.Currency != want {
		return kvitt.FieldError("currency", "must be %s for the Svea Instore account in %s", want, p.c.CountryCode)
	}
	return nil
}

// Request builds the create request of a link.
func (p *Provider) Request(o *kvitt.Order, l *kvitt.OrderLink) *CreateOrderRequest {
	r := &CreateOrderRequest{
		MerchantOrderNumber:               l.MerchantOrderNumber,
		CountryCode:                       l.Customer.Country,
		Currency:                          string(o.Currency),
		MobilePhoneNumber:                 l.Customer.MobileNumber,
		Tags:                              p.c.Tags,
		OrderItems:                        Items(l.Lines),
		TermsURI:                          p.c.TermsURI,
		DeferredDelivery:                  p.c.DeferredDelivery,
		MinutesUntilExpiry:                int(math.Ceil(l.ExpiresAt.Sub(p.c.Now()).Minutes())),
		PresetValues:                      Presets(l.Customer),
		RequireElectronicIDAuthentication: p.c.RequireElectronicID,
		MerchantName:                      p.c.MerchantName,
	}
	if r.MinutesUntilExpiry < 1 {
		r.MinutesUntilExpiry = 1
	}
	if p.c.CallbackBaseURL != "" {
		r.CallbackURI = strings.TrimRight(p.c.CallbackBaseURL, "/") + "/v1/callbacks/svea/" + kvitt.OrderCallbackToken(o, l)
	}
	return r
}

// Items converts order lines to Svea's rows: quantity in hundredths, prices
// in minor units, percentages in hundredths of a percent (kvitt's units).
func Items(lines []kvitt.OrderLine) []OrderItem {
	out := make([]OrderItem, 0, len(lines))
	for _, l := range lines {
		out = append(out, OrderItem{ArticleNumber: l.ArticleNumber, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			DiscountPercent: l.DiscountPercent, VATPercent: l.VATRate, Unit: l.Unit, RowNumber: l.RowNumber})
	}
	return out
}

// Presets are the customer card's values Svea prefills: the national id
// with the company flag (required together), the e-mail and postal code.
func Presets(c kvitt.CustomerCard) []PresetValue {
	var out []PresetValue
	if c.NationalID != "" {
		out = append(out, PresetValue{AttributeName: "NationalId", Value: c.NationalID},
			PresetValue{AttributeName: "IsCompany", Value: strconv.FormatBool(c.Company)})
	}
	if c.Email != "" {
		out = append(out, PresetValue{AttributeName: "EmailAddress", Value: c.Email})
	}
	if c.PostalCode != "" {
		out = append(out, PresetValue{AttributeName: "PostalCode", Value: c.PostalCode})
	}
	return out
}

// CodeServerCertificate is a link's error code when kvitt refused Svea's
// server certificate: the create never reached Svea.
const CodeServerCertificate = "SERVER_CERTIFICATE"

// CreateLink creates the Instore order (Svea sends the SMS).
func (p *Provider) CreateLink(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.LinkUpdate, error) {
	resp, err := p.c.Client.CreateOrder(ctx, p.Request(o, l))
	if err != nil {
		if ae, ok := Definite(err); ok {
			return kvitt.LinkUpdate{State: kvitt.PaymentFailed, ErrorCode: strconv.Itoa(ae.Status),
				Message: "Svea could not create the payment link: " + ae.Message()}, nil
		}
		var ce *CertificateError
		if errors.As(err, &ce) {
			// The handshake failed: the request never left kvitt.
			return kvitt.LinkUpdate{State: kvitt.PaymentFailed, ErrorCode: CodeServerCertificate,
				Message: "The payment link could not be created: " + ce.Message()}, nil
		}
		return kvitt.LinkUpdate{}, err
	}
	u := update(resp)
	if u.State == "" {
		u.State = kvitt.PaymentPending
	}
	return u, nil
}

// LinkStatus reads the order's status. 403 is Svea's answer to a call
// within 5 seconds of the last one; 404 is an order Svea does not know.
func (p *Provider) LinkStatus(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.LinkUpdate, error) {
	resp, err := p.c.Client.OrderStatus(ctx, l.MerchantOrderNumber)
	if err != nil {
		if ae, ok := Definite(err); ok {
			switch ae.Status {
			case http.StatusForbidden, http.StatusTooManyRequests:
				return kvitt.LinkUpdate{TooSoon: true}, nil
			case http.StatusNotFound:
				return kvitt.LinkUpdate{NotFound: true}, nil
			}
		}
		return kvitt.LinkUpdate{}, err
	}
	return update(resp), nil
}

// CancelLink cancels the Instore order. Svea answers 403 when it cannot
// (paid meanwhile, already cancelled): the hub then reads the status.
func (p *Provider) CancelLink(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink) (kvitt.LinkUpdate, error) {
	err := p.c.Client.CancelOrder(ctx, l.MerchantOrderNumber)
	if err != nil {
		if ae, ok := Definite(err); ok {
			return kvitt.LinkUpdate{ErrorCode: strconv.Itoa(ae.Status), Message: ae.Message()}, nil
		}
		return kvitt.LinkUpdate{}, err
	}
	return kvitt.LinkUpdate{State: kvitt.PaymentCancelled}, nil
}

// Credit returns c's rows of the paid order (none: all of it).
func (p *Provider) Credit(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink, c *kvitt.OrderCredit) (kvitt.RefundState, string, error) {
	err := p.c.Client.ReturnOrder(ctx, l.MerchantOrderNumber, Items(c.Lines))
	if err != nil {
		if ae, ok := Definite(err); ok {
			return kvitt.RefundFailed, "Svea refused the credit: " + ae.Message(), nil
		}
		return "", "", err
	}
	return kvitt.RefundSucceeded, "", nil
}

// update maps Svea's order to kvitt's link state. An unknown status
// changes nothing and says so (mapStatus's guard test lists the known ones).
func update(r *OrderResponse) kvitt.LinkUpdate {
	u := kvitt.LinkUpdate{URL: r.InstoreUIURI, SMSSent: r.SMSSentSuccessfully, PaymentType: r.PaymentType}
	if r.PaymentOrderID != nil {
		u.ProviderRef = strconv.FormatInt(*r.PaymentOrderID, 10)
	}
	if u.PaymentType == "" {
		u.PaymentType = r.PaymentMethodType
	}
	st, ok := mapStatus(r.OrderStatus)
	if !ok {
		u.Message = fmt.Sprintf("Svea reports the status %q, which kvitt does not know; the order is left as it was.", r.OrderStatus)
	}
	u.State = st
	return u
}

// mapStatus maps Svea's orderStatus. Completed (and Delivered) mean the
// customer completed the purchase: paid or reserved.
func mapStatus(s string) (kvitt.PaymentState, bool) {
	switch strings.ToLower(s) {
	case "active", "created", "open":
		return kvitt.PaymentPending, true
	case "completed", "delivered", "confirmed":
		return kvitt.PaymentPaid, true
	case "canceled", "cancelled":
		return kvitt.PaymentCancelled, true
	case "expired":
		return kvitt.PaymentExpired, true
	}
	return "", false
}
