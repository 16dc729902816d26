package http

import (
	"maps"
	"net/http"
	"reflect"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// SetIdempotencyWait sets how long a request waits for the same request
// under its Idempotency-Key, for a test; it returns the restore function.
func SetIdempotencyWait(d time.Duration) func() {
	old := idempotencyWait
	idempotencyWait = d
	return func() { idempotencyWait = old }
}

// Pattern returns the pattern of the route of s that serves r ("" for none).
func (s *Server) Pattern(r *http.Request) string {
	_, p := s.mux.Handler(r)
	return p
}

// ErrorStatuses maps each error code to its HTTP status.
func ErrorStatuses() map[string]int { return maps.Clone(statusOf) }

// OpenAPIDocument is the document the server embeds and serves.
func OpenAPIDocument() []byte { return openAPIDocument }

// WireTypes maps the schemas of http/openapi.yaml that describe an answer
// to the Go type written as that JSON: the document must list exactly its
// fields, require exactly those without omitempty, and give their types.
var WireTypes = map[string]reflect.Type{
	"Error":                    reflect.TypeFor[errorBody](),
	"ErrorDetail":              reflect.TypeFor[errorDetail](),
	"Sale":                     reflect.TypeFor[saleJSON](),
	"SaleLine":                 reflect.TypeFor[lineJSON](),
	"VATRow":                   reflect.TypeFor[vatJSON](),
	"Payment":                  reflect.TypeFor[paymentJSON](),
	"Action":                   reflect.TypeFor[kvitt.Action](),
	"CardData":                 reflect.TypeFor[kvitt.CardData](),
	"PaymentEvent":             reflect.TypeFor[eventJSON](),
	"Refund":                   reflect.TypeFor[refundJSON](),
	"ReturnLine":               reflect.TypeFor[returnLineJSON](),
	"Till":                     reflect.TypeFor[tillJSON](),
	"Terminal":                 reflect.TypeFor[terminalJSON](),
	"APIKey":                   reflect.TypeFor[apiKeyJSON](),
	"User":                     reflect.TypeFor[userJSON](),
	"Webhook":                  reflect.TypeFor[webhookJSON](),
	"MethodSettings":           reflect.TypeFor[methodSettingsJSON](),
	"StoreSettings":            reflect.TypeFor[storeSettingsJSON](),
	"TillMethodSettings":       reflect.TypeFor[tillMethodSettingsJSON](),
	"ProviderSettings":         reflect.TypeFor[providerSettingsJSON](),
	"ProviderStatus":           reflect.TypeFor[ProviderStatus](),
	"ProviderSecret":           reflect.TypeFor[ProviderSecret](),
	"SwishCSR":                 reflect.TypeFor[SwishCSR](),
	"SwishCertificate":         reflect.TypeFor[SwishCertificate](),
	"SwishCertificateStatus":   reflect.TypeFor[SwishCertStatus](),
	"SandboxSignedCertificate": reflect.TypeFor[sandboxSignJSON](),
	"WebhookDelivery":          reflect.TypeFor[webhookDeliveryJSON](),
	"PaymentList":              reflect.TypeFor[paymentListJSON](),
	"RefundList":               reflect.TypeFor[refundListJSON](),
	"RefundListItem":           reflect.TypeFor[refundListItemJSON](),
	"ReceiptList":              reflect.TypeFor[receiptListJSON](),
	"Session":                  reflect.TypeFor[sessionJSON](),
	"Order":                    reflect.TypeFor[orderJSON](),
	"OrderLine":                reflect.TypeFor[orderLineJSON](),
	"OrderLink":                reflect.TypeFor[orderLinkJSON](),
	"OrderCredit":              reflect.TypeFor[kvitt.OrderCredit](),
	"OrderCreditLine":          reflect.TypeFor[kvitt.OrderLine](),
	"CustomerCard":             reflect.TypeFor[kvitt.CustomerCard](),
}

// RequestTypes maps the schemas of http/openapi.yaml that describe a
// request body to the Go type it is decoded into: the document must list
// exactly its fields.
var RequestTypes = map[string]reflect.Type{
	"SaleRequest":             reflect.TypeFor[saleRequest](),
	"SaleLineRequest":         reflect.TypeFor[lineRequest](),
	"PaymentRequest":          reflect.TypeFor[paymentRequest](),
	"ResolvePaymentRequest":   reflect.TypeFor[resolveRequest](),
	"ResolveRefundRequest":    reflect.TypeFor[resolveRequest](),
	"RefundRequest":           reflect.TypeFor[refundRequest](),
	"ReturnLineRequest":       reflect.TypeFor[returnLineRequest](),
	"APIKeyRequest":           reflect.TypeFor[apiKeyRequest](),
	"SignInRequest":           reflect.TypeFor[signInRequest](),
	"UserRequest":             reflect.TypeFor[userRequest](),
	"WebhookRequest":          reflect.TypeFor[webhookRequest](),
	"DisabledMethodsRequest":  reflect.TypeFor[quickMethodsRequest](),
	"SwishCSRRequest":         reflect.TypeFor[SwishCSRRequest](),
	"SwishCertificateRequest": reflect.TypeFor[swishCertificateRequest](),
	"SandboxSignRequest":      reflect.TypeFor[sandboxSignRequest](),
	"SandboxRequest":          reflect.TypeFor[sandboxRequest](),
	"MobilePayPairRequest":    reflect.TypeFor[mobilePayPairRequest](),
	"OrderRequest":            reflect.TypeFor[orderRequest](),
	"OrderChangeRequest":      reflect.TypeFor[orderChangeRequest](),
	"OrderCreditRequest":      reflect.TypeFor[orderCreditRequest](),
	"OrderCustomerRequest":    reflect.TypeFor[orderCustomerJSON](),
	"OrderLineRequest":        reflect.TypeFor[orderLineRequest](),
	// Both the answer and the PUT body; every field optional in the body.
	"StoreAccounts": reflect.TypeFor[storeAccountsJSON](),
}
