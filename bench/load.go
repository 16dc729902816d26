// Package bench holds kvitt's benchmarks (bench_test.go, see
// docs/benchmarks.md) and a small load generator that drives a running
// kvitt over its HTTP API the way tills do: each till is one goroutine with
// its own keep-alive connection that creates a sale, pays it and completes
// it, again and again. The payment is cash by default; against a sandbox it
// can be Swish, card or MobilePay, with the sandbox's simulated customer
// approving it (Method).
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	// Duration bounds the run (0 = until Flows are done): no flow starts after
	// it, and the flows under way then run to their end.
	Duration time.Duration
	// Idempotency sends an Idempotency-Key with every POST, as a till that
	// retries safely does (each stored response costs the server a commit).
	Idempotency bool
	// Method is how sales are paid: cash (the default, ""), swish, card,
	// mobilepay (a sandbox's simulated customer approves: see Methods), or
	// mix (the four in turn).
	Method string
	// DKTills are the Danish tills that MobilePay flows use (the sandbox's
	// dk-1 and dk-2); Tills are then the Swedish ones, for the other methods.
	DKTills []string
}

// urlFor is the base URL till number i talks to.
func (cfg *LoadConfig) urlFor(i int) string {
	if len(cfg.URLs) > 0 {
		return cfg.URLs[i%len(cfg.URLs)]
	}
	return cfg.BaseURL
}

// Flow is one till transaction: POST /v1/sales, POST /v1/sales/{id}/payments
// (the whole amount), for a provider method the simulated customer's
// approval (POST /v1/sandbox/payments/{id}/approve, then GET
// /v1/payments/{id} until it is paid), POST /v1/sales/{id}/complete.
type Flow struct {
	Method                  string
	Total                   time.Duration
	Sale, Payment, Complete time.Duration
	// Customer is the simulated customer's part of a provider payment:
	// from the approve call's send to the payment read as paid (0 for cash).
	// It includes the simulator's answer and the hub's handling of it (the
	// provider's callback or the hub's sync), which cannot be told apart
	// from outside.
	Customer time.Duration
	// Wait is how long the flow waited, before creating its payment, for
	// its till's card terminal or MobilePay QR to be free (the sandbox has
	// one terminal for all tills, and a till's QR serves one customer at a
	// time): a queue in the load generator, as at a real till.
	Wait time.Duration
}

// Hub is the hub's own part of the flow: the three calls a till makes,
// create sale, create payment (for a provider method this includes the
// hub's request to the provider's simulator) and complete, without the
// customer's part and the wait for the terminal.
func (f Flow) Hub() time.Duration { return f.Sale + f.Payment + f.Complete }

// LoadResult is what a run measured.
type LoadResult struct {
	Flows   []Flow
	Elapsed time.Duration
	Errors  int
	// MethodErrors are the failed flows per method.
	MethodErrors map[string]int
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

// ByMethod is a report per method, one line each (see MethodSummary).
func (r *LoadResult) ByMethod() string {
	return MethodSummary(r.Flows, nil, r.MethodErrors, r.Elapsed)
}

// MethodSummary reports flows per method, one line each, in the order of
// Methods("mix"): completed flows and errors, flows/s over elapsed, the
// latency (from the schedule when fromSchedule is given, one per flow, else
// from the send) p50/p99/p99.9/max, the hub's own part (Flow.Hub: create
// sale + create payment + complete) p50/p99/p99.9, each call's p50/p99,
// the simulated customer's part (approve until paid) p50/p99 and the wait
// for the till's terminal or QR p99.
func MethodSummary(flows []Flow, fromSchedule []time.Duration, errs map[string]int, elapsed time.Duration) string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	var b strings.Builder
	for _, m := range []string{MethodCash, MethodSwish, MethodCard, MethodMobilePay} {
		var lat, hub, sale, pay, cust, comp, wait []time.Duration
		for i, f := range flows {
			if f.Method != m {
				continue
			}
			if fromSchedule != nil {
				lat = append(lat, fromSchedule[i])
			} else {
				lat = append(lat, f.Total)
			}
			hub = append(hub, f.Hub())
			sale = append(sale, f.Sale)
			pay = append(pay, f.Payment)
			cust = append(cust, f.Customer)
			comp = append(comp, f.Complete)
			wait = append(wait, f.Wait)
		}
		if len(lat) == 0 && errs[m] == 0 {
			continue
		}
		from := "send"
		if fromSchedule != nil {
			from = "schedule"
		}
		fps := 0.0
		if elapsed > 0 {
			fps = float64(len(lat)) / elapsed.Seconds()
		}
		fmt.Fprintf(&b, "method=%s completed=%d errors=%d flows/s=%.1f | from %s p50=%sms p99=%sms p99.9=%sms max=%sms | hub p50=%sms p99=%sms p99.9=%sms"+
			" | sale p50=%sms p99=%sms | payment p50=%sms p99=%sms | customer p50=%sms p99=%sms | complete p50=%sms p99=%sms | wait p99=%sms\n",
			m, len(lat), errs[m], fps, from,
			ms(Percentile(lat, 0.5)), ms(Percentile(lat, 0.99)), ms(Percentile(lat, 0.999)), ms(Percentile(lat, 1)),
			ms(Percentile(hub, 0.5)), ms(Percentile(hub, 0.99)), ms(Percentile(hub, 0.999)),
			ms(Percentile(sale, 0.5)), ms(Percentile(sale, 0.99)), ms(Percentile(pay, 0.5)), ms(Percentile(pay, 0.99)),
			ms(Percentile(cust, 0.5)), ms(Percentile(cust, 0.99)), ms(Percentile(comp, 0.5)), ms(Percentile(comp, 0.99)),
			ms(Percentile(wait, 0.99)))
	}
	return b.String()
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

// Load runs the flows with one goroutine per till and returns what it
// measured. With several methods (mix) each till takes them in turn, each
// till starting at a different one; a MobilePay flow of till i runs on
// DKTills[i mod len(DKTills)].
func Load(ctx context.Context, c *http.Client, cfg LoadConfig) *LoadResult {
	methods, err := Methods(cfg.Method)
	if err == nil && needsDK(methods) && len(cfg.DKTills) == 0 {
		err = fmt.Errorf("method %s: no Danish tills for MobilePay", cfg.Method)
	}
	if err != nil {
		return &LoadResult{Errors: 1, FirstError: err}
	}
	var locks *payLocks
	if needsLocks(methods) {
		locks = newPayLocks()
	}
	var next atomic.Int64 // flows handed out
	var mu sync.Mutex
	res := &LoadResult{Flows: make([]Flow, 0, max(cfg.Flows, 1024)), MethodErrors: map[string]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	// Duration stops new flows; a flow under way runs to its end (only ctx
	// cuts it short). Cancelling it instead would leave a payment the hub
	// had created, but whose answer was cut off, waiting on a card
	// terminal or a MobilePay QR that the next run then finds busy.
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	for i, till := range cfg.Tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := &tillClient{c: c, base: cfg.urlFor(i), key: cfg.Key, idem: cfg.Idempotency, seq: int64(i) << 40, locks: locks}
			local := make([]Flow, 0, 256)
			errs := 0
			errsBy := map[string]int{}
			var firstErr error
			for n := i; ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)); n++ {
				if cfg.Flows > 0 && next.Add(1) > int64(cfg.Flows) {
					break
				}
				m := methods[n%len(methods)]
				t := till
				if m == MethodMobilePay {
					t = cfg.DKTills[i%len(cfg.DKTills)]
				}
				f, err := tc.flow(ctx, m, t)
				if err != nil {
					if ctx.Err() != nil {
						break // the run was cancelled in the middle of a flow
					}
					errs++
					errsBy[m]++
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
			for m, n := range errsBy {
				res.MethodErrors[m] += n
			}
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
	idem bool
	seq  int64
	buf  bytes.Buffer
	// locks serialise provider payments on a till's card terminal or
	// MobilePay QR (nil: cash only).
	locks *payLocks
}

// A small basket: two articles at 12 % VAT, 85.00 SEK.
const saleBody = `{"till_id":%q,"lines":[{"article_number":"7310865004703","name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":12},` +
	`{"article_number":"7310865001238","name":"Kanelbulle","quantity":2,"unit_price":2500,"vat_rate":12}]}`

// The same basket at a Danish till (25 % VAT), 91.00 DKK.
const saleBodyDK = `{"till_id":%q,"lines":[{"article_number":"101","name":"Kaffe","quantity":1,"unit_price":3500,"vat_rate":25},` +
	`{"article_number":"102","name":"Wienerbrød","quantity":2,"unit_price":2800,"vat_rate":25}]}`

// The payment methods a flow can use. Cash needs no provider; the others
// need a sandbox, whose simulated customer approves the payment.
const (
	MethodCash      = "cash"
	MethodSwish     = "swish"
	MethodCard      = "card"
	MethodMobilePay = "mobilepay"
	MethodMix       = "mix"
)

// Methods returns the methods of a -method value, in the order flows take
// them: "" and cash are cash only; mix is cash, swish, card and mobilepay in
// turn.
func Methods(method string) ([]string, error) {
	switch method {
	case "", MethodCash:
		return []string{MethodCash}, nil
	case MethodSwish, MethodCard, MethodMobilePay:
		return []string{method}, nil
	case MethodMix:
		return []string{MethodCash, MethodSwish, MethodCard, MethodMobilePay}, nil
	}
	return nil, fmt.Errorf("method %q: want cash, swish, card, mobilepay or mix", method)
}

// needsDK reports whether methods include one that needs a Danish till.
func needsDK(methods []string) bool { return slices.Contains(methods, MethodMobilePay) }

// needsLocks reports whether methods include one that needs a till's
// terminal or QR to itself.
func needsLocks(methods []string) bool {
	return slices.Contains(methods, MethodCard) || slices.Contains(methods, MethodMobilePay)
}

// flow runs one sale on till, paid with method.
func (t *tillClient) flow(ctx context.Context, method, till string) (Flow, error) {
	f := Flow{Method: method}
	t0 := time.Now()
	body := saleBody
	if method == MethodMobilePay {
		body = saleBodyDK
	}
	var sale struct {
		ID    string `json:"id"`
		Total int64  `json:"total"`
	}
	if err := t.post(ctx, "/v1/sales", fmt.Sprintf(body, till), http.StatusCreated, &sale); err != nil {
		return f, err
	}
	t1 := time.Now()
	f.Sale = t1.Sub(t0)
	if method != MethodCash {
		// Wait for the till's terminal or QR: a till serves one card or
		// static-QR customer at a time.
		if k, err := t.locks.key(ctx, t, method, till); err != nil {
			return f, err
		} else if k != "" {
			unlock, err := t.locks.lock(ctx, k)
			if err != nil {
				return f, err
			}
			defer unlock()
			t1 = time.Now()
			f.Wait = t1.Sub(t0) - f.Sale
		}
	}
	var pay struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := t.post(ctx, "/v1/sales/"+sale.ID+"/payments", `{"method":"`+method+`","amount":`+strconv.FormatInt(sale.Total, 10)+`}`, http.StatusCreated, &pay); err != nil {
		return f, err
	}
	t2 := time.Now()
	f.Payment = t2.Sub(t1)
	if method == MethodCash {
		if pay.State != "paid" {
			return f, fmt.Errorf("cash payment for %s is %q, want paid", sale.ID, pay.State)
		}
	} else {
		if err := t.approve(ctx, pay.ID, pay.State); err != nil {
			// Free the terminal or QR for the next customer.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			var ignore struct{}
			t.post(cctx, "/v1/payments/"+pay.ID+"/cancel", `{}`, http.StatusOK, &ignore)
			cancel()
			return f, fmt.Errorf("%s payment %s: %w", method, pay.ID, err)
		}
		t3 := time.Now()
		f.Customer = t3.Sub(t2)
		t2 = t3
	}
	var rc struct {
		ID string `json:"id"`
	}
	if err := t.post(ctx, "/v1/sales/"+sale.ID+"/complete", `{}`, http.StatusOK, &rc); err != nil {
		return f, err
	}
	if rc.ID == "" {
		return f, fmt.Errorf("complete %s: no receipt id", sale.ID)
	}
	t4 := time.Now()
	f.Complete = t4.Sub(t2)
	f.Total = t4.Sub(t0)
	return f, nil
}

// customerDeadline bounds the simulated customer's part of a flow.
const customerDeadline = 30 * time.Second

// approve has the sandbox's simulated customer approve payment id (scan and
// approve in the Swish or MobilePay app, tap a card) and waits until the
// payment is paid. The sandbox answers once the provider has reported (up to
// 3 s); until then the payment is read again every 5 ms.
func (t *tillClient) approve(ctx context.Context, id, state string) error {
	ctx, cancel := context.WithTimeout(ctx, customerDeadline)
	defer cancel()
	var p struct {
		State string `json:"state"`
	}
	for {
		err := t.post(ctx, "/v1/sandbox/payments/"+id+"/approve", `{}`, http.StatusOK, &p)
		if err == nil {
			break
		}
		// A card terminal busy with an earlier payment (the hub queues
		// them) answers 409 "the terminal is not asking for a card":
		// the customer waits for it. Anything else is an error.
		var se *statusError
		if !errors.As(err, &se) || se.code != http.StatusConflict || !strings.Contains(se.body, "not asking") {
			return err
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return fmt.Errorf("approve: %w (last: %v)", ctx.Err(), err)
		}
	}
	for {
		switch p.State {
		case "paid":
			return nil
		case "created", "pending", "authorized", "unknown":
		default:
			return fmt.Errorf("approved, but the payment is %q", p.State)
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return fmt.Errorf("approved, but the payment is still %q: %w", p.State, ctx.Err())
		}
		if err := t.get(ctx, "/v1/payments/"+id, &p); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// statusError is an answer with an unexpected status.
type statusError struct {
	method, path string
	code         int
	status, body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.method, e.path, e.status, e.body)
}

func (t *tillClient) post(ctx context.Context, path, body string, want int, out any) error {
	return t.do(ctx, http.MethodPost, path, body, want, out)
}

func (t *tillClient) get(ctx context.Context, path string, out any) error {
	return t.do(ctx, http.MethodGet, path, "", http.StatusOK, out)
}

func (t *tillClient) do(ctx context.Context, method, path, body string, want int, out any) error {
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		if t.idem {
			t.seq++
			req.Header.Set("Idempotency-Key", "load-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+strconv.FormatInt(t.seq, 36))
		}
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
		return &statusError{method: method, path: path, code: resp.StatusCode, status: resp.Status, body: string(bytes.TrimSpace(t.buf.Bytes()))}
	}
	return json.Unmarshal(t.buf.Bytes(), out)
}

// payLocks are one-slot semaphores for what a till has one of: its card
// terminal (in the sandbox, one simulated terminal serves every till) and
// its static MobilePay QR (a beacon: the hub matches a customer's check-in
// to the till's one pending payment). Keys come from GET /v1/tills of each
// node, read once.
type payLocks struct {
	mu    sync.Mutex
	tills map[string]map[string]string // base URL → till id → terminal key ("card") / beacon ("mobilepay")
	sems  map[string]chan struct{}
}

func newPayLocks() *payLocks {
	return &payLocks{tills: map[string]map[string]string{}, sems: map[string]chan struct{}{}}
}

// key is the lock a method's payment on till takes ("" = none).
func (l *payLocks) key(ctx context.Context, t *tillClient, method, till string) (string, error) {
	if l == nil || (method != MethodCard && method != MethodMobilePay) {
		return "", nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.tills[t.base]
	if !ok {
		var out struct {
			Tills []struct {
				ID       string `json:"id"`
				Terminal *struct {
					POIID string `json:"poiid"`
					URL   string `json:"url"`
				} `json:"terminal"`
				Beacon string `json:"mobilepay_beacon_id"`
			} `json:"tills"`
		}
		if err := t.get(ctx, "/v1/tills", &out); err != nil {
			return "", fmt.Errorf("the tills' terminals and QRs: %w", err)
		}
		m = map[string]string{}
		for _, x := range out.Tills {
			if x.Terminal != nil {
				m[MethodCard+"\x00"+x.ID] = x.Terminal.URL + "\x00" + x.Terminal.POIID
			}
			if x.Beacon != "" {
				m[MethodMobilePay+"\x00"+x.ID] = x.Beacon
			}
		}
		l.tills[t.base] = m
	}
	k := m[method+"\x00"+till]
	if k == "" {
		return "", nil
	}
	return t.base + "\x00" + method + "\x00" + k, nil
}

func (l *payLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	ch := l.sems[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		l.sems[key] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
