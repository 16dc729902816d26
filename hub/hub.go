// Package hub is kvitt's orchestrator: it validates and stores sales and
// payments, calls providers after the payment is durable, applies what they
// report as compare-and-set transitions, runs durable follow-up jobs, issues
// receipts and tells subscribers (the till's event stream) what changed.
package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Hub ties the store, the providers and the control units together.
type Hub struct {
	Store kvitt.Store
	// Now is the clock; tests replace it.
	Now    func() time.Time
	Logger *slog.Logger
	// Sandbox enables the customer simulators behind /v1/sandbox.
	Sandbox bool
	// ProviderTimeout bounds a provider call that is not long-running.
	ProviderTimeout time.Duration
	// LongRunningTimeout bounds a long-running Start or Refund (a card terminal).
	LongRunningTimeout time.Duration
	// SyncGrace is how long after its deadline an unanswerable open payment becomes unknown.
	SyncGrace time.Duration
	// InFlightGrace is added to a provider call's timeout to tell when a
	// request kvitt sent can no longer arrive or be served.
	InFlightGrace time.Duration
	// ControlUnits by the name a till refers to.
	ControlUnits map[string]kvitt.ControlUnit
	// ControlUnitTimeout bounds the synchronous registration in CompleteSale.
	ControlUnitTimeout time.Duration

	providers map[string]kvitt.Provider
	customers map[string]kvitt.Customer
	// orderSetup is the order payment provider (Svea Instore), if any.
	orderSetup *orderSetup
	jobs       map[string]JobFunc
	events     *broadcaster
	wake       chan struct{}

	// bg tracks background provider calls, so Close can wait for them.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	metrics  Metrics
}

// New returns a hub over store with the cash method registered.
func New(store kvitt.Store, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Hub{
		Store:              store,
		Now:                time.Now,
		Logger:             logger,
		ProviderTimeout:    20 * time.Second,
		LongRunningTimeout: 150 * time.Second,
		SyncGrace:          30 * time.Second,
		InFlightGrace:      10 * time.Second,
		ControlUnitTimeout: 5 * time.Second,
		ControlUnits:       map[string]kvitt.ControlUnit{},
		providers:          map[string]kvitt.Provider{},
		customers:          map[string]kvitt.Customer{},
		jobs:               map[string]JobFunc{},
		events:             newBroadcaster(),
		wake:               make(chan struct{}, 1),
		metrics:            nopMetrics{},
	}
	h.bgCtx, h.bgCancel = context.WithCancel(context.Background())
	h.jobs[jobPaymentSync] = h.runPaymentSync
	h.jobs[jobRefundSync] = h.runRefundSync
	h.jobs[jobReceiptRegister] = h.runReceiptRegister
	h.jobs[jobIdempotencyGC] = h.runIdempotencyGC
	return h
}

// Register adds a payment method. customer, if not nil, acts as the customer
// in the sandbox (a simulator's customer interface).
func (h *Hub) Register(p kvitt.Provider, customer kvitt.Customer) {
	h.providers[p.Method()] = p
	if customer != nil {
		h.customers[p.Method()] = customer
	}
}

// Methods lists the registered payment methods.
func (h *Hub) Methods() []string {
	var out []string
	for m := range h.providers {
		out = append(out, m)
	}
	return out
}

// Provider returns the provider of a method.
func (h *Hub) Provider(method string) (kvitt.Provider, bool) {
	p, ok := h.providers[method]
	return p, ok
}

// SetMetrics installs the metrics sink.
func (h *Hub) SetMetrics(m Metrics) { h.metrics = m }

// Close stops background provider calls and waits for them to return. Their
// payments stay durable; the sync jobs recover them at the next start.
func (h *Hub) Close() {
	h.bgCancel()
	h.bg.Wait()
}

func (h *Hub) now() time.Time { return h.Now().UTC() }

// go runs fn in the background, tracked for Close.
func (h *Hub) goBackground(fn func(ctx context.Context)) {
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		fn(h.bgCtx)
	}()
}

// Metrics receives counts from the hub. The http package implements it with Prometheus.
type Metrics interface {
	PaymentTransition(method string, to kvitt.PaymentState)
	JobRun(kind string, err error)
	ReceiptRegistered(ok bool)
	// ProviderCall is one call to a payment method's provider (see
	// Hub.providerCalled): op is "start", "status", "cancel", "capture",
	// "refund", "refund_status" or "refund_cancel"; failed is set when
	// the provider gave no answer or refused kvitt's certificate.
	ProviderCall(method, op string, d time.Duration, failed bool)
	// WebhookDeliveryFailed is one failed attempt to deliver a webhook:
	// status is the endpoint's HTTP status, 0 when it did not answer.
	WebhookDeliveryFailed(status int)
}

type nopMetrics struct{}

func (nopMetrics) PaymentTransition(string, kvitt.PaymentState)     {}
func (nopMetrics) JobRun(string, error)                             {}
func (nopMetrics) ReceiptRegistered(bool)                           {}
func (nopMetrics) ProviderCall(string, string, time.Duration, bool) {}
func (nopMetrics) WebhookDeliveryFailed(int)                        {}
