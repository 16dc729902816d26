package http

import (
	"strconv"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are kvitt's Prometheus metrics; they also receive the hub's counts.
type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	jobs        *prometheus.CounterVec
	receipts    *prometheus.CounterVec
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
	}
	reg.MustRegister(m.requests, m.latency, m.transitions, m.jobs, m.receipts,
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
