package http

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are kvitt's Prometheus metrics; they also receive the hub's counts.
type metrics struct {
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	transitions     *prometheus.CounterVec
	jobs            *prometheus.CounterVec
	receipts        *prometheus.CounterVec
	providerSeconds *prometheus.HistogramVec
	providerErrors  *prometheus.CounterVec
	webhookFailures *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_http_requests_total", Help: "HTTP requests by route and status."},
			[]string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kvitt_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_payment_transitions_total", Help: "Payment state transitions by method and new state."},
			[]string{"method", "state"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_jobs_total", Help: "Durable job runs by kind and result."},
			[]string{"kind", "result"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_receipt_registrations_total", Help: "Control unit registrations by result."},
			[]string{"result"}),
		providerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kvitt_provider_call_seconds",
			Help: "Calls to payment providers by method and operation (start, status, cancel, capture, refund, refund_status, refund_cancel): " +
				"how long each took, failed or not. A card terminal's start lasts until the customer is done.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 150}}, []string{"provider", "operation"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_provider_call_errors_total",
			Help: "Calls to payment providers that failed (no answer, a timeout, a 5xx, the provider refused kvitt's certificate) by method and operation."},
			[]string{"provider", "operation"}),
		webhookFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kvitt_webhook_delivery_failures_total",
			Help: "Failed attempts to deliver an outgoing webhook, by reason: no_answer, http_3xx, http_4xx, http_5xx (each is retried with back-off)."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.requests, m.latency, m.transitions, m.jobs, m.receipts, m.providerSeconds, m.providerErrors, m.webhookFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) request(route string, code int, d time.Duration) {
	if route == "" || route == "/" {
		route = "other"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) PaymentTransition(method string, to kvitt.PaymentState) {
	m.transitions.WithLabelValues(method, string(to)).Inc()
}

func (m *metrics) JobRun(kind string, err error) {
	r := "ok"
	if err != nil {
		r = "error"
	}
	m.jobs.WithLabelValues(kind, r).Inc()
}

func (m *metrics) ReceiptRegistered(ok bool) {
	r := "ok"
	if !ok {
		r = "error"
	}
	m.receipts.WithLabelValues(r).Inc()
}

func (m *metrics) ProviderCall(method, op string, d time.Duration, failed bool) {
	m.providerSeconds.WithLabelValues(method, op).Observe(d.Seconds())
	if failed {
		m.providerErrors.WithLabelValues(method, op).Inc()
	} else {
		// The series exists from the first call, so a rate of errors over
		// calls has a denominator before the first error.
		m.providerErrors.WithLabelValues(method, op).Add(0)
	}
}

func (m *metrics) WebhookDeliveryFailed(status int) {
	reason := "no_answer"
	switch {
	case status >= 500:
		reason = "http_5xx"
	case status >= 400:
		reason = "http_4xx"
	case status > 0:
		reason = "http_3xx" // or another status that is not 2xx
	}
	m.webhookFailures.WithLabelValues(reason).Inc()
}

// HealthCollector exports what hl knows of each dependency kvitt calls
// (control units, payment providers, card terminals), read at each scrape
// and labelled with the dependency's id ("control_unit:cu", "swish",
// "terminal:1:P400-1") and kind. kvitt_dependency_up is 1 when the last call
// was answered and 0 when it failed (a dependency not called yet has no
// series); kvitt_dependency_blocking is 1 while the failure stops receipts
// or money (/readyz fails); kvitt_dependency_calls_total counts the calls
// by result.
func HealthCollector(hl *hub.Health) prometheus.Collector { return healthCollector{hl} }

type healthCollector struct{ hl *hub.Health }

var (
	depUp = prometheus.NewDesc("kvitt_dependency_up",
		"1 when the last call to the dependency was answered, 0 when it failed.", []string{"dependency", "kind"}, nil)
	depBlocking = prometheus.NewDesc("kvitt_dependency_blocking",
		"1 while the dependency's last call failed in a way that stops receipts or money (/readyz fails).", []string{"dependency", "kind"}, nil)
	depCalls = prometheus.NewDesc("kvitt_dependency_calls_total",
		"Calls to the dependency by result (ok, error).", []string{"dependency", "kind", "result"}, nil)
)

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depUp
	ch <- depBlocking
	ch <- depCalls
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.hl.Status() {
		up, blocking := 0.0, 0.0
		if d.OK {
			up = 1
		}
		if d.Blocking {
			blocking = 1
		}
		ch <- prometheus.MustNewConstMetric(depUp, prometheus.GaugeValue, up, d.ID, d.Kind)
		ch <- prometheus.MustNewConstMetric(depBlocking, prometheus.GaugeValue, blocking, d.ID, d.Kind)
		ch <- prometheus.MustNewConstMetric(depCalls, prometheus.CounterValue, float64(d.Calls-d.Failures), d.ID, d.Kind, "ok")
		ch <- prometheus.MustNewConstMetric(depCalls, prometheus.CounterValue, float64(d.Failures), d.ID, d.Kind, "error")
	}
}

// JobsCollector exports the durable job queue (the jobs table every node
// shares), read from store at each scrape with one query (Tx.JobStats), by
// kind: kvitt_jobs_queued (jobs not dead), kvitt_jobs_due (due and waiting
// for a worker), kvitt_jobs_oldest_due_age_seconds (how long the oldest of
// those has waited; 0 when none) and kvitt_jobs_dead (given up, kept for a
// person). A kind seen once is exported on, with zeros, once its jobs are
// gone. Every node reports the same queue. A store that fails to answer in
// time is logged, and the scrape goes on without these.
func JobsCollector(store kvitt.Store, logger *slog.Logger) prometheus.Collector {
	if logger == nil {
		logger = slog.Default()
	}
	return &jobsCollector{store: store, logger: logger, seen: map[string]bool{}}
}

type jobsCollector struct {
	store  kvitt.Store
	logger *slog.Logger
	mu     sync.Mutex
	seen   map[string]bool
}

var (
	jobsQueued = prometheus.NewDesc("kvitt_jobs_queued",
		"Durable jobs in the queue that are not dead (due, running, or waiting for their time), by kind.", []string{"kind"}, nil)
	jobsDue = prometheus.NewDesc("kvitt_jobs_due",
		"Durable jobs that are due and waiting for a worker (not running), by kind.", []string{"kind"}, nil)
	jobsOldestDue = prometheus.NewDesc("kvitt_jobs_oldest_due_age_seconds",
		"How long the oldest due job not yet taken by a worker has been due, by kind (0 when none is waiting).", []string{"kind"}, nil)
	jobsDead = prometheus.NewDesc("kvitt_jobs_dead",
		"Durable jobs given up after failing (kept for a person: SELECT * FROM jobs WHERE dead = 1), by kind.", []string{"kind"}, nil)
)

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsQueued
	ch <- jobsDue
	ch <- jobsOldestDue
	ch <- jobsDead
}

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now().UTC()
	var stats []kvitt.JobStats
	if err := c.store.View(ctx, func(tx kvitt.Tx) (err error) {
		stats, err = tx.JobStats(now)
		return err
	}); err != nil {
		c.logger.Warn("metrics: job queue not read", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	byKind := map[string]kvitt.JobStats{}
	for _, s := range stats {
		byKind[s.Kind] = s
		c.seen[s.Kind] = true
	}
	for kind := range c.seen {
		s := byKind[kind]
		age := 0.0
		if s.Due > 0 && !s.OldestDue.IsZero() {
			age = max(now.Sub(s.OldestDue).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(jobsQueued, prometheus.GaugeValue, float64(s.Queued), kind)
		ch <- prometheus.MustNewConstMetric(jobsDue, prometheus.GaugeValue, float64(s.Due), kind)
		ch <- prometheus.MustNewConstMetric(jobsOldestDue, prometheus.GaugeValue, age, kind)
		ch <- prometheus.MustNewConstMetric(jobsDead, prometheus.GaugeValue, float64(s.Dead), kind)
	}
}

// Certificates exports how long each certificate kvitt presents has left
// before it expires: kvitt_certificate_expires_in_seconds{certificate},
// computed at each scrape (negative once expired). The server sets each
// certificate it loads (Set), at start: "swish" (the Swish merchant
// certificate) and "control_unit:NAME" (a control unit's client
// certificate). Safe for concurrent use.
type Certificates struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	notAfter map[string]time.Time
}

var certExpiresIn = prometheus.NewDesc("kvitt_certificate_expires_in_seconds",
	"Seconds until a certificate kvitt presents expires (negative once expired), by certificate: swish, control_unit:NAME.",
	[]string{"certificate"}, nil)

// Set records (or replaces) when the named certificate expires.
func (c *Certificates) Set(name string, notAfter time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notAfter == nil {
		c.notAfter = map[string]time.Time{}
	}
	c.notAfter[name] = notAfter
}

func (c *Certificates) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiresIn }

func (c *Certificates) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, t := range c.notAfter {
		ch <- prometheus.MustNewConstMetric(certExpiresIn, prometheus.GaugeValue, t.Sub(now).Seconds(), name)
	}
}
