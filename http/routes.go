package http

import (
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.handleReadyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("GET /v1/openapi.yaml", s.handleOpenAPI)
	m.HandleFunc("GET /openapi.json", s.handleOpenAPIJSON)
	m.HandleFunc("GET /v1/openapi.json", s.handleOpenAPIJSON)

	m.Handle("POST /v1/sales", s.api(s.handleCreateSale))
	m.Handle("GET /v1/sales/{id}", s.api(s.handleGetSale))
	m.Handle("POST /v1/sales/{id}/payments", s.api(s.handleCreatePayment))
	m.Handle("POST /v1/sales/{id}/complete", s.api(s.handleCompleteSale))
	m.Handle("POST /v1/sales/{id}/cancel", s.api(s.handleCancelSale))

	m.Handle("GET /v1/payments/{id}", s.api(s.handleGetPayment))
	m.Handle("GET /v1/payments/{id}/events", s.api(s.handlePaymentEvents))
	m.Handle("POST /v1/payments/{id}/cancel", s.api(s.handleCancelPayment))
	m.Handle("POST /v1/payments/{id}/sync", s.api(s.handleSyncPayment))
	m.Handle("POST /v1/payments/{id}/resolve", s.api(s.handleResolvePayment))
	m.Handle("POST /v1/payments/{id}/refunds", s.api(s.handleCreateRefund))
	m.Handle("GET /v1/payments/{id}/refunds", s.api(s.handleListRefunds))
	m.Handle("GET /v1/payments/{id}/qr.svg", s.qrRoute("svg"))
	m.Handle("GET /v1/payments/{id}/qr.png", s.qrRoute("png"))
	m.Handle("GET /v1/refunds/{id}", s.api(s.handleGetRefund))
	m.Handle("POST /v1/refunds/{id}/resolve", s.api(s.handleResolveRefund))
	m.Handle("POST /v1/refunds/{id}/cancel", s.api(s.handleCancelRefund))
	m.Handle("GET /v1/refunds/{id}/events", s.api(s.handleRefundEvents))

	m.Handle("GET /v1/receipts/{id}", s.api(s.handleGetReceipt))
	m.Handle("POST /v1/receipts/{id}/copy", s.api(s.handleCopyReceipt))
	m.Handle("GET /v1/receipts/{id}/merchant-copy", s.api(s.handleMerchantCopy))
	m.Handle("POST /v1/sales/{id}/proforma", s.api(s.handleProForma))

	m.Handle("GET /v1/tills", s.api(s.handleListTills))
	m.Handle("GET /v1/tills/{id}", s.api(s.handleGetTill))
	m.Handle("GET /v1/tills/{id}/recovery", s.api(s.handleRecovery))
	m.Handle("GET /v1/tills/{id}/display", s.api(s.handleDisplay))
	m.Handle("GET /v1/tills/{id}/display/events", s.api(s.handleDisplayEvents))
	m.Handle("GET /v1/tills/{id}/reports/x", s.api(s.handleXReport))
	m.Handle("POST /v1/tills/{id}/reports/z", s.api(s.handleZReport))
	m.Handle("GET /v1/tills/{id}/reports/z/{serial}", s.api(s.handleGetZReport))
	m.Handle("POST /v1/tills/{id}/mobilepay/pair", s.api(s.handleMobilePayPair))
	m.Handle("DELETE /v1/tills/{id}/mobilepay/pair", s.api(s.handleMobilePayUnpair))
	m.Handle("POST /v1/tills/{id}/mobilepay/unpair", s.api(s.handleMobilePayUnpair))
	m.Handle("GET /v1/tills/{id}/mobilepay/qr.svg", s.api(s.mobilePayQR("SVG")))
	m.Handle("GET /v1/tills/{id}/mobilepay/qr.png", s.api(s.mobilePayQR("PNG")))

	m.Handle("POST /v1/orders", s.api(s.handleCreateOrder))
	m.Handle("GET /v1/orders", s.api(s.handleListOrders))
	m.Handle("GET /v1/orders/{id}", s.api(s.handleGetOrder))
	m.Handle("POST /v1/orders/{id}/change", s.api(s.handleChangeOrder))
	m.Handle("POST /v1/orders/{id}/cancel", s.api(s.handleOrderAction("cancel")))
	m.Handle("POST /v1/orders/{id}/sync", s.api(s.handleOrderAction("sync")))
	m.Handle("POST /v1/orders/{id}/deliver", s.api(s.handleOrderAction("deliver")))
	m.Handle("POST /v1/orders/{id}/annul", s.api(s.handleOrderAction("annul")))
	m.Handle("POST /v1/orders/{id}/credits", s.api(s.handleCreditOrder))
	m.Handle("GET /v1/picking-list", s.api(s.handlePickingList))
	m.Handle("POST /v1/sandbox/orders/{id}/{action}", s.api(s.handleSandboxOrder))
	m.Handle("POST /v1/callbacks/svea/{token}", s.public(s.handleOrderCallback))

	// The back office's lists (issue 12, lists.go): newest first, paged.
	m.Handle("GET /v1/payments", s.api(s.handleFindPayments))
	m.Handle("GET /v1/refunds", s.api(s.handleFindRefunds))
	m.Handle("GET /v1/receipts", s.api(s.handleFindReceipts))

	m.Handle("GET /v1/bookkeeping/sie", s.api(s.bookkeepingExport("sie")))
	m.Handle("GET /v1/bookkeeping/csv", s.api(s.bookkeepingExport("csv")))
	m.Handle("GET /v1/bookkeeping/exports/{id}", s.api(s.handleGetBookkeepingExport))
	m.Handle("GET /v1/bookkeeping/stores/{id}/accounts", s.api(s.handleGetBookkeepingAccounts))
	m.Handle("PUT /v1/bookkeeping/stores/{id}/accounts", s.api(s.handlePutBookkeepingAccounts))

	// The till's screen: articles and the order of its payment buttons (articles.go).
	m.Handle("GET /v1/tills/{id}/articles", s.api(s.handleTillArticles))
	m.Handle("GET /v1/stores/{id}/articles", s.api(s.handleGetStoreArticles))
	m.Handle("PUT /v1/stores/{id}/articles", s.api(s.handlePutStoreArticles))
	m.Handle("PUT /v1/tills/{id}/quick-methods", s.api(s.handlePutQuickMethods))

	// The back office's settings (issue 12): methods per till, the Swish
	// certificate, the providers' set-up (settings.go, swishcert.go).
	m.Handle("GET /v1/settings/methods", s.api(s.handleMethodSettings))
	m.Handle("GET /v1/settings/providers", s.api(s.handleProviderSettings))
	m.Handle("PUT /v1/tills/{id}/disabled-methods", s.api(s.handlePutDisabledMethods))
	m.Handle("POST /v1/swish/csr", s.api(s.handleSwishCSR))
	m.Handle("GET /v1/swish/certificate", s.api(s.handleGetSwishCertificate))
	m.Handle("PUT /v1/swish/certificate", s.api(s.handlePutSwishCertificate))
	m.Handle("POST /v1/sandbox/swish/sign-csr", s.api(s.handleSandboxSwishSign))

	m.Handle("POST /v1/session", s.public(s.handleSignIn))
	m.Handle("GET /v1/session", s.api(s.handleWhoAmI))
	m.Handle("DELETE /v1/session", s.api(s.handleSignOut))
	m.Handle("POST /v1/users", s.api(s.handleCreateUser))
	m.Handle("GET /v1/users", s.api(s.handleListUsers))
	m.Handle("PATCH /v1/users/{id}", s.api(s.handleUpdateUser))

	m.Handle("POST /v1/api-keys", s.api(s.handleCreateAPIKey))
	m.Handle("GET /v1/api-keys", s.api(s.handleListAPIKeys))
	m.Handle("POST /v1/api-keys/{id}/revoke", s.api(s.handleRevokeAPIKey))

	// Outgoing webhooks to the merchant's systems (issue 14, webhooks.go).
	m.Handle("POST /v1/webhooks", s.api(s.handleCreateWebhook))
	m.Handle("GET /v1/webhooks", s.api(s.handleListWebhooks))
	m.Handle("GET /v1/webhooks/{id}", s.api(s.handleGetWebhook))
	m.Handle("PATCH /v1/webhooks/{id}", s.api(s.handleUpdateWebhook))
	m.Handle("DELETE /v1/webhooks/{id}", s.api(s.handleDeleteWebhook))
	m.Handle("POST /v1/webhooks/{id}/rotate-secret", s.api(s.handleRotateWebhookSecret))
	m.Handle("GET /v1/webhooks/{id}/deliveries", s.api(s.handleWebhookDeliveries))
	m.Handle("POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver", s.api(s.handleRedeliverWebhook))

	m.Handle("POST /v1/sandbox/payments/{id}/{action}", s.api(s.handleSandbox))
	m.Handle("POST /v1/sandbox/refunds/{id}/{action}", s.api(s.handleSandboxRefund))

	// Provider callbacks carry no API key: the adapter authenticates them and
	// the hub re-reads the payment from the provider.
	m.Handle("POST /v1/callbacks/{method}/{token}", s.public(s.handleCallback))

	if s.UI != nil {
		// The screens (package http/ui).
		m.Handle("/ui/", s.UI)
		m.Handle("GET /{$}", s.UI)
		m.Handle("GET /signin", s.UI)
		m.Handle("GET /till/", s.UI)
		m.Handle("GET /display/", s.UI)
		m.Handle("GET /admin/", s.UI)
	}
	m.Handle("/", s.public(func(w http.ResponseWriter, r *http.Request) error {
		if allowed := s.allowedMethods(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return kvitt.Errorf(EMETHOD, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))
		}
		return errNoRoute
	}))
}

// EMETHOD is the error code of a known path called with the wrong method (405).
const EMETHOD = "method_not_allowed"

// allowedMethods lists the methods that have a route for r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}
