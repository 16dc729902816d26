package http_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/storetest"
)

// flakyProvider starts payments (pending) and cannot be reached after.
type flakyProvider struct{ fakeProvider }

func (*flakyProvider) Method() string { return "flaky" }
func (*flakyProvider) Status(context.Context, *kvitt.Till, *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, errors.New("dial tcp 192.0.2.1:443: connect: connection refused")
}

// scrape is one read of /metrics.
type scrape string

// value returns the sample of the family name whose labels include labels
// (name="value" pairs), and whether there is exactly one.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var found []float64
	for _, line := range strings.Split(string(s), "\n") {
		series, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		n, lbl, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(","+lbl, ","+labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if match {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples, want 1\n%s", name, labels, len(found), s.families("kvitt_"))
	}
	return found[0]
}

// families returns the kvitt_ lines, for failure messages.
func (s scrape) families(prefix string) string {
	var out []string
	for _, line := range strings.Split(string(s), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetrics scrapes /metrics after a cash sale, a payment whose provider
// cannot be reached, a job that fails, a job with no handler (dead at
// once), a job waiting for a worker, and a webhook whose endpoint answers
// 500: each family of docs/operations.md "Metrics" is there, with its help
// text, sane values and no payment id in a label.
func TestMetrics(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Seed(t, db)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(db, logger)
	t.Cleanup(h.Close)
	h.Sandbox = true // webhooks to loopback
	h.Register(cash.Provider{}, nil)
	h.Register(&flakyProvider{}, nil)
	reg := prometheus.NewRegistry()
	certs := &kvitthttp.Certificates{}
	certs.Set("swish", time.Now().Add(10*24*time.Hour))
	certs.Set("control_unit:cu", time.Now().Add(-time.Hour))
	reg.MustRegister(kvitthttp.JobsCollector(db, logger), certs)
	sum := sha256.Sum256([]byte(adminKey))
	ts := httptest.NewServer(kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:], Registry: reg}))
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, hub: h, db: db}
	get := func() scrape {
		t.Helper()
		r := e.do("GET", "/metrics", "", "")
		if r.status != 200 {
			t.Fatalf("GET /metrics: %d\n%s", r.status, r.body)
		}
		return scrape(r.body)
	}

	if err := h.RegisterWebhooks(context.Background(), hub.WebhookOptions{Poll: 20 * time.Millisecond, Jitter: -1}); err != nil {
		t.Fatal(err)
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "ERP down", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	e.must(201, "POST", "/v1/webhooks", adminKey, `{"url":"`+failing.URL+`","events":["payment"]}`)
	h.HandleJob("test.fail", func(context.Context, *kvitt.Job) (time.Duration, error) { return 0, errors.New("boom") })
	if err := h.Enqueue(context.Background(), "test.fail", "x", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.Enqueue(context.Background(), "test.nohandler", "x", nil, time.Now()); err != nil {
		t.Fatal(err)
	}

	_, till := e.apiKey("till", "1")
	sale := e.must(201, "POST", "/v1/sales", till, saleBody)
	cashPay := e.must(201, "POST", "/v1/sales/"+sale["id"].(string)+"/payments", till, `{"method":"cash","amount":9450,"tendered":10000}`)
	e.must(200, "POST", "/v1/sales/"+sale["id"].(string)+"/complete", till, "")
	sale2 := e.must(201, "POST", "/v1/sales", till, saleBody)
	flaky := e.must(201, "POST", "/v1/sales/"+sale2["id"].(string)+"/payments", till, `{"method":"flaky","amount":9450}`)
	wantError(t, e.do("POST", "/v1/payments/"+flaky["id"].(string)+"/sync", till, ""), 503, "")

	// The worker runs the jobs and sends the webhooks, which fail.
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.RunWorker(wctx, "worker") }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := get()
		if strings.Contains(string(s), `kvitt_webhook_delivery_failures_total{reason="http_5xx"}`) &&
			strings.Contains(string(s), `kvitt_jobs_dead{kind="test.nohandler"} 1`) &&
			strings.Contains(string(s), `kvitt_jobs_total{kind="test.fail",result="error"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not get there:\n%s", s.families("kvitt_"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	// A job due a minute ago, with no worker to run it.
	if err := h.Enqueue(context.Background(), "test.waiting", "x", nil, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	s := get()
	for _, family := range []string{"kvitt_http_requests_total", "kvitt_http_request_seconds", "kvitt_payment_transitions_total",
		"kvitt_jobs_total", "kvitt_provider_call_seconds", "kvitt_provider_call_errors_total", "kvitt_jobs_queued", "kvitt_jobs_due",
		"kvitt_jobs_oldest_due_age_seconds", "kvitt_jobs_dead", "kvitt_webhook_delivery_failures_total", "kvitt_certificate_expires_in_seconds"} {
		if !strings.Contains(string(s), "# HELP "+family+" ") || !strings.Contains(string(s), "# TYPE "+family+" ") {
			t.Errorf("%s: no HELP or TYPE", family)
		}
	}
	check := func(what string, got float64, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s = %v", what, got)
		}
	}
	// Payments by method and state.
	v := s.value(t, "kvitt_payment_transitions_total", "method", "cash", "state", "paid")
	check("cash paid", v, v == 1)
	v = s.value(t, "kvitt_payment_transitions_total", "method", "flaky", "state", "pending")
	check("flaky pending", v, v == 1)
	// Provider calls: the start answered, the status did not.
	v = s.value(t, "kvitt_provider_call_seconds_count", "provider", "flaky", "operation", "start")
	check("flaky start calls", v, v == 1)
	v = s.value(t, "kvitt_provider_call_seconds_sum", "provider", "flaky", "operation", "start")
	check("flaky start seconds", v, v >= 0 && v < 5)
	v = s.value(t, "kvitt_provider_call_errors_total", "provider", "flaky", "operation", "start")
	check("flaky start errors", v, v == 0)
	v = s.value(t, "kvitt_provider_call_seconds_count", "provider", "flaky", "operation", "status")
	check("flaky status calls", v, v >= 1)
	v2 := s.value(t, "kvitt_provider_call_errors_total", "provider", "flaky", "operation", "status")
	check("flaky status errors", v2, v2 == v) // each failed
	if strings.Contains(string(s), `provider="cash"`) {
		t.Error("cash calls no provider, but has provider call metrics")
	}
	// The job queue.
	v = s.value(t, "kvitt_jobs_total", "kind", "test.fail", "result", "error")
	check("failed runs", v, v >= 1)
	v = s.value(t, "kvitt_jobs_queued", "kind", "test.fail")
	check("failing job queued", v, v == 1)
	v = s.value(t, "kvitt_jobs_dead", "kind", "test.fail")
	check("failing job dead", v, v == 0)
	v = s.value(t, "kvitt_jobs_dead", "kind", "test.nohandler")
	check("job without handler dead", v, v == 1)
	v = s.value(t, "kvitt_jobs_queued", "kind", "test.nohandler")
	check("dead job queued", v, v == 0)
	v = s.value(t, "kvitt_jobs_due", "kind", "test.waiting")
	check("waiting job due", v, v == 1)
	v = s.value(t, "kvitt_jobs_oldest_due_age_seconds", "kind", "test.waiting")
	check("waiting job's age", v, v >= 60 && v < 120)
	v = s.value(t, "kvitt_jobs_queued", "kind", "payment.sync")
	check("the flaky payment's sync job", v, v == 1)
	// Webhooks, certificates.
	v = s.value(t, "kvitt_webhook_delivery_failures_total", "reason", "http_5xx")
	check("webhook failures", v, v >= 1)
	v = s.value(t, "kvitt_certificate_expires_in_seconds", "certificate", "swish")
	check("swish certificate", v, v > 9*24*3600 && v <= 10*24*3600)
	v = s.value(t, "kvitt_certificate_expires_in_seconds", "certificate", "control_unit:cu")
	check("an expired certificate", v, v < 0)
	// Low cardinality: no payment or sale id in a label.
	for _, id := range []string{cashPay["id"].(string), flaky["id"].(string), sale["id"].(string)} {
		if strings.Contains(string(s), id) {
			t.Errorf("/metrics names %s", id)
		}
	}

	// A kind whose jobs are gone stays, at zero.
	if err := db.Update(context.Background(), func(tx kvitt.Tx) error { return tx.CancelJob("test.waiting", "x") }); err != nil {
		t.Fatal(err)
	}
	s = get()
	v = s.value(t, "kvitt_jobs_due", "kind", "test.waiting")
	check("gone job due", v, v == 0)
	v = s.value(t, "kvitt_jobs_oldest_due_age_seconds", "kind", "test.waiting")
	check("gone job age", v, v == 0)
}
