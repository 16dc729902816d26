// Package bench holds kvitt's benchmarks (bench_test.go, see
// docs/benchmarks.md) and a small load generator that drives a running
// kvitt over its HTTP API the way tills do: each till is one goroutine with
// its own keep-alive connection that creates a cash sale, pays it and
// completes it, again and again.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig says how to drive a kvitt.
type LoadConfig struct {
	BaseURL string // "http://127.0.0.1:8080"
	// URLs, when set, are several kvitt nodes sharing one database: till i
	// talks to URLs[i mod len(URLs)] (BaseURL is then unused).
	URLs  []string
	Key   string   // API key (admin, or backoffice; a till key only works with one till)
	Tills []string // till ids; one concurrent till (goroutine, connection) each
	// Flows is the number of sale flows in all (0 = until Duration ends).
	Flows int
	// Duration bounds the run (0 = until Flows are done).
	Duration time.Duration
	// Idempotency sends an Idempotency-Key with every POST, as a till that
	// retries safely does (each stored response costs the server a commit).
	Idempotency bool
}

// urlFor is the base URL till number i talks to.
func (cfg *LoadConfig) urlFor(i int) string {
	if len(cfg.URLs) > 0 {
		return cfg.URLs[i%len(cfg.URLs)]
	}
	return cfg.BaseURL
}

// Flow is one till transaction: POST /v1/sales, POST /v1/sales/{id}/payments
// (cash, the whole amount), POST /v1/sales/{id}/complete.
type Flow struct {
	Total                   time.Duration
	Sale, Payment, Complete time.Duration
}

// LoadResult is what a run measured.
type LoadResult struct {
	Flows   []Flow
	Elapsed time.Duration
	Errors  int
	// FirstError is the first failure, if any.
	FirstError error
}

// FlowsPerSecond is completed flows over the wall-clock time of the run.
func (r *LoadResult) FlowsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Flows)) / r.Elapsed.Seconds()
}

// Percentile returns the q-quantile (0.5, 0.99) of what f picks from each flow.
func (r *LoadResult) Percentile(q float64, f func(Flow) time.Duration) time.Duration {
	ds := make([]time.Duration, len(r.Flows))
	for i, fl := range r.Flows {
		ds[i] = f(fl)
	}
	return Percentile(ds, q)
}

// Percentile returns the q-quantile of ds (nearest rank); ds is sorted in place.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// String is a one-paragraph report.
func (r *LoadResult) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	tot := func(f Flow) time.Duration { return f.Total }
	return fmt.Sprintf("flows=%d errors=%d elapsed=%s flows/s=%.1f flow p50=%sms p99=%sms max=%sms | sale p50=%sms payment p50=%sms complete p50=%sms",
		len(r.Flows), r.Errors, r.Elapsed.Round(time.Millisecond), r.FlowsPerSecond(),
		ms(r.Percentile(0.5, tot)), ms(r.Percentile(0.99, tot)), ms(r.Percentile(1, tot)),
		ms(r.Percentile(0.5, func(f Flow) time.Duration { return f.Sale })),
		ms(r.Percentile(0.5, func(f Flow) time.Duration { return f.Payment })),
		ms(r.Percentile(0.5, func(f Flow) time.Duration { return f.Complete })))
}

// NewClient returns an HTTP client that keeps one connection per till alive.
func NewClient(tills int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        tills + 4,
			MaxIdleConnsPerHost: tills + 4,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// Load runs the flows with one goroutine per till and returns what it measured.
func Load(ctx context.Context, c *http.Client, cfg LoadConfig) *LoadResult {
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var next atomic.Int64 // flows handed out
	var mu sync.Mutex
	res := &LoadResult{Flows: make([]Flow, 0, max(cfg.Flows, 1024))}
	var wg sync.WaitGroup
	start := time.Now()
	for i, till := range cfg.Tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := &tillClient{c: c, base: cfg.urlFor(i), key: cfg.Key, till: till, idem: cfg.Idempotency, seq: int64(i) << 40}
			local := make([]Flow, 0, 256)
			errs := 0
			var firstErr error
			for ctx.Err() == nil {
				if cfg.Flows > 0 && next.Add(1) > int64(cfg.Flows) {
					break
				}
				f, err := tc.flow(ctx)
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended in the middle of a flow
					}
					errs++
					if firstErr == nil {
						firstErr = err
					}
					if errs > 100 {
						break
					}
					continue
				}
				local = append(local, f)
			}
			mu.Lock()
			res.Flows = append(res.Flows, local...)
			res.Errors += errs
			if res.FirstError == nil {
				res.FirstError = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

type tillClient struct {
	c    *http.Client
	base string
	key  string
	till string
	idem bool
	seq  int64
	buf  bytes.Buffer
}

// A small basket: two articles at 12 % VAT, 85.00 SEK.
const saleBody = `{"till_id":%q,"lines":[{"article_number":"7310865004703","name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12},` +
	`{"article_number":"7310865001238","name":"Kanelbulle","quantity":2,"unit_price":2500,"vat_rate":12}]}`

func (t *tillClient) flow(ctx context.Context) (Flow, error) {
	var f Flow
	t0 := time.Now()
	var sale struct {
		ID    string `json:"id"`
		Total int64  `json:"total"`
	}
	if err := t.post(ctx, "/v1/sales", fmt.Sprintf(saleBody, t.till), http.StatusCreated, &sale); err != nil {
		return f, err
	}
	t1 := time.Now()
	var pay struct {
		State string `json:"state"`
	}
	if err := t.post(ctx, "/v1/sales/"+sale.ID+"/payments", `{"method":"cash","amount":`+strconv.FormatInt(sale.Total, 10)+`}`, http.StatusCreated, &pay); err != nil {
		return f, err
	}
	if pay.State != "paid" {
		return f, fmt.Errorf("cash payment for %s is %q, want paid", sale.ID, pay.State)
	}
	t2 := time.Now()
	var rc struct {
		ID string `json:"id"`
	}
	if err := t.post(ctx, "/v1/sales/"+sale.ID+"/complete", `{}`, http.StatusOK, &rc); err != nil {
		return f, err
	}
	if rc.ID == "" {
		return f, fmt.Errorf("complete %s: no receipt id", sale.ID)
	}
	t3 := time.Now()
	return Flow{Total: t3.Sub(t0), Sale: t1.Sub(t0), Payment: t2.Sub(t1), Complete: t3.Sub(t2)}, nil
}

func (t *tillClient) post(ctx context.Context, path, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Content-Type", "application/json")
	if t.idem {
		t.seq++
		req.Header.Set("Idempotency-Key", "load-"+t.till+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+strconv.FormatInt(t.seq, 36))
	}
	resp, err := t.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	t.buf.Reset()
	if _, err := io.Copy(&t.buf, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(t.buf.Bytes()))
	}
	return json.Unmarshal(t.buf.Bytes(), out)
}

// WaitHealthy polls GET /healthz until it answers 200 or ctx ends.
func WaitHealthy(ctx context.Context, c *http.Client, base string, every time.Duration) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/healthz: %w (last error: %v)", base, ctx.Err(), err)
		case <-time.After(every):
		}
	}
}
