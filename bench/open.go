package bench

// The open model (issue 15): sale flows arrive at a rate of their own, on a
// fixed schedule or as a Poisson process, whether or not earlier ones have
// finished, as customers arrive at a shop's tills. Each flow's latency is
// measured from its SCHEDULED start, so that a server that stalls is charged
// for every flow that should have started during the stall (a closed loop,
// where a till starts its next sale only when the last one ends, sends
// nothing while the server stalls and so hides those waits: "coordinated
// omission").

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenConfig says how to drive kvitt with the open model.
type OpenConfig struct {
	// URLs are the kvitt nodes; till i talks to URLs[i mod len(URLs)].
	URLs  []string
	Key   string
	Tills []string // arrival k is a flow on till Tills[k mod len(Tills)]
	// Rate is the target: flows per second arriving.
	Rate float64
	// Poisson makes the gaps between arrivals exponential with mean 1/Rate
	// (seeded with Seed) instead of exactly 1/Rate.
	Poisson bool
	Seed    uint64
	// Arrivals are scheduled for Duration, or Flows of them if Flows > 0
	// (whichever bound is set; Flows wins if both are).
	Duration time.Duration
	Flows    int
	// MaxInFlight bounds the flows running at once (0 = 1000). An arrival
	// that finds MaxInFlight flows running is dropped and counted: the
	// target rate was not met.
	MaxInFlight int
	Idempotency bool
	// Method and DKTills are as in LoadConfig: with mix, arrival k pays with
	// the k-th method of Methods("mix") in turn; MobilePay arrivals go
	// round-robin over DKTills, the others over Tills.
	Method  string
	DKTills []string
}

// OpenFlow is one completed flow of an open run.
type OpenFlow struct {
	Flow
	// Scheduled is when the flow should have started, from the run's start.
	Scheduled time.Duration
	// Latency is from the scheduled start to the end of the completion;
	// Flow.Total is from the actual start (the first request's send).
	Latency time.Duration
}

// OpenResult is what an open run measured.
type OpenResult struct {
	Rate      float64 // the target
	Start     time.Time
	Scheduled int // arrivals scheduled
	Dropped   int // arrivals not started: MaxInFlight flows were running
	Flows     []OpenFlow
	Errors    int
	// MethodErrors are the failed flows per method.
	MethodErrors map[string]int
	// DroppedAt and FailedAt are the scheduled starts of the dropped and
	// the failed arrivals.
	DroppedAt, FailedAt []time.Duration
	// FirstError is the first failed flow's error.
	FirstError error
	// Elapsed is from the start to the last flow's end (at least the
	// length of the schedule).
	Elapsed time.Duration
	// PeakInFlight is the most flows that ran at once.
	PeakInFlight int
	// Lag is the dispatcher's worst lateness: how long after its scheduled
	// time an arrival was started (it is part of that flow's Latency).
	Lag time.Duration
}

// FlowsPerSecond is the throughput achieved: completed flows over Elapsed.
func (r *OpenResult) FlowsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Flows)) / r.Elapsed.Seconds()
}

// Percentile is the q-quantile of the latency from the scheduled start.
func (r *OpenResult) Percentile(q float64) time.Duration {
	ds := make([]time.Duration, len(r.Flows))
	for i, f := range r.Flows {
		ds[i] = f.Latency
	}
	return Percentile(ds, q)
}

// ServicePercentile is the q-quantile of the latency from the actual start.
func (r *OpenResult) ServicePercentile(q float64) time.Duration {
	ds := make([]time.Duration, len(r.Flows))
	for i, f := range r.Flows {
		ds[i] = f.Total
	}
	return Percentile(ds, q)
}

// Met reports whether every scheduled flow started and completed.
func (r *OpenResult) Met() bool {
	return r.Dropped == 0 && r.Errors == 0 && len(r.Flows) == r.Scheduled
}

func (r *OpenResult) String() string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	met := "met"
	if !r.Met() {
		met = "NOT MET"
	}
	return fmt.Sprintf("open rate=%.1f/s scheduled=%d completed=%d dropped=%d errors=%d elapsed=%s flows/s=%.1f target %s | from schedule p50=%sms p99=%sms p99.9=%sms max=%sms | from send p50=%sms p99=%sms | peak in flight=%d dispatch lag max=%sms",
		r.Rate, r.Scheduled, len(r.Flows), r.Dropped, r.Errors, r.Elapsed.Round(time.Millisecond), r.FlowsPerSecond(), met,
		ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), ms(r.Percentile(0.999)), ms(r.Percentile(1)),
		ms(r.ServicePercentile(0.5)), ms(r.ServicePercentile(0.99)), r.PeakInFlight, ms(r.Lag))
}

// ByMethod is a report per method, one line each (see MethodSummary), with
// latency from the schedule.
func (r *OpenResult) ByMethod() string {
	flows := make([]Flow, len(r.Flows))
	lat := make([]time.Duration, len(r.Flows))
	for i, f := range r.Flows {
		flows[i], lat[i] = f.Flow, f.Latency
	}
	return MethodSummary(flows, lat, r.MethodErrors, r.Elapsed)
}

// Windows reports the run in windows of w by scheduled start, one line
// each: arrivals completed, dropped and failed, latency from the schedule
// p50/p99/p99.9/max, the hub's own part p99 and the wait for a terminal or
// QR p99. It shows when in a long run (the soak) the tail and the drops
// came.
func (r *OpenResult) Windows(w time.Duration) string {
	if w <= 0 {
		return ""
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }
	type win struct {
		lat, hub, wait  []time.Duration
		dropped, failed int
	}
	var ws []*win
	at := func(d time.Duration) *win {
		i := int(d / w)
		for len(ws) <= i {
			ws = append(ws, &win{})
		}
		return ws[i]
	}
	for _, f := range r.Flows {
		x := at(f.Scheduled)
		x.lat = append(x.lat, f.Latency)
		x.hub = append(x.hub, f.Hub())
		x.wait = append(x.wait, f.Wait)
	}
	for _, d := range r.DroppedAt {
		at(d).dropped++
	}
	for _, d := range r.FailedAt {
		at(d).failed++
	}
	var b strings.Builder
	for i, x := range ws {
		fmt.Fprintf(&b, "window=%s-%s completed=%d dropped=%d errors=%d | from schedule p50=%sms p99=%sms p99.9=%sms max=%sms | hub p99=%sms | wait p99=%sms\n",
			time.Duration(i)*w, time.Duration(i+1)*w, len(x.lat), x.dropped, x.failed,
			ms(Percentile(x.lat, 0.5)), ms(Percentile(x.lat, 0.99)), ms(Percentile(x.lat, 0.999)), ms(Percentile(x.lat, 1)),
			ms(Percentile(x.hub, 0.99)), ms(Percentile(x.wait, 0.99)))
	}
	return b.String()
}

// NewOpenClient returns an HTTP client for an open run: up to maxInFlight
// connections per node are kept alive.
func NewOpenClient(maxInFlight int) *http.Client {
	return NewClient(max(maxInFlight, 1))
}

// Open runs the open model and returns what it measured. It returns when
// every started flow has ended (or ctx ends).
func Open(ctx context.Context, c *http.Client, cfg OpenConfig) (*OpenResult, error) {
	if cfg.Rate <= 0 {
		return nil, fmt.Errorf("open model: rate must be > 0")
	}
	if cfg.Flows <= 0 && cfg.Duration <= 0 {
		return nil, fmt.Errorf("open model: bound the run with flows or a duration")
	}
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("open model: no URLs")
	}
	methods, err := Methods(cfg.Method)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	if needsDK(methods) && len(cfg.DKTills) == 0 {
		return nil, fmt.Errorf("open model: method %s: no Danish tills for MobilePay", cfg.Method)
	}
	if (len(methods) > 1 || !needsDK(methods)) && len(cfg.Tills) == 0 {
		return nil, fmt.Errorf("open model: no tills")
	}
	var locks *payLocks
	if needsLocks(methods) {
		locks = newPayLocks()
	}
	maxIn := cfg.MaxInFlight
	if maxIn <= 0 {
		maxIn = 1000
	}
	var rng *rand.Rand
	if cfg.Poisson {
		rng = rand.New(rand.NewPCG(cfg.Seed, 0x6b76697474))
	}
	res := &OpenResult{Rate: cfg.Rate, MethodErrors: map[string]int{}}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		inFlight int
	)
	sem := make(chan struct{}, maxIn)
	gap := float64(time.Second) / cfg.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	res.Start = start
	var at float64   // the next arrival, in ns from start
	var nSE, nDK int // arrivals on Swedish and on Danish tills so far
	for k := 0; ; k++ {
		if cfg.Poisson {
			if k > 0 {
				at += rng.ExpFloat64() * gap
			}
		} else {
			at = float64(k) * gap
		}
		sched := time.Duration(at)
		if cfg.Flows > 0 {
			if k >= cfg.Flows {
				break
			}
		} else if sched >= cfg.Duration {
			break
		}
		if wait := time.Until(start.Add(sched)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		res.Scheduled++
		if lag := time.Since(start) - sched; lag > res.Lag {
			res.Lag = lag
		}
		select {
		case sem <- struct{}{}:
		default:
			res.Dropped++
			res.DroppedAt = append(res.DroppedAt, sched)
			continue
		}
		mu.Lock()
		inFlight++
		res.PeakInFlight = max(res.PeakInFlight, inFlight)
		mu.Unlock()
		method := methods[k%len(methods)]
		var i int
		var till string
		if method == MethodMobilePay {
			i, till = nDK%len(cfg.DKTills), cfg.DKTills[nDK%len(cfg.DKTills)]
			nDK++
		} else {
			i, till = nSE%len(cfg.Tills), cfg.Tills[nSE%len(cfg.Tills)]
			nSE++
		}
		tc := &tillClient{c: c, base: cfg.URLs[i%len(cfg.URLs)], key: cfg.Key, idem: cfg.Idempotency, seq: int64(k) << 8, locks: locks}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := tc.flow(ctx, method, till)
			end := time.Now()
			<-sem
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			if err != nil {
				res.Errors++
				res.FailedAt = append(res.FailedAt, sched)
				res.MethodErrors[method]++
				if res.FirstError == nil {
					res.FirstError = err
				}
				return
			}
			res.Flows = append(res.Flows, OpenFlow{Flow: f, Scheduled: sched, Latency: end.Sub(start.Add(sched))})
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

// Memory is what a kvitt node's /metrics says of its memory.
type Memory struct {
	HeapInuse, RSS float64 // bytes: go_memstats_heap_inuse_bytes, process_resident_memory_bytes
}

func (m Memory) String() string {
	return fmt.Sprintf("heap in use %.1f MB, RSS %.1f MB", m.HeapInuse/1e6, m.RSS/1e6)
}

// ScrapeMemory reads base + "/metrics" (Prometheus text format).
func ScrapeMemory(ctx context.Context, c *http.Client, base string) (Memory, error) {
	var m Memory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return m, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	var seen int
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &m.HeapInuse
		case "process_resident_memory_bytes":
			dst = &m.RSS
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
			return m, fmt.Errorf("%s/metrics: %s: %w", base, name, err)
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if seen == 0 {
		return m, fmt.Errorf("%s/metrics: no go_memstats_heap_inuse_bytes or process_resident_memory_bytes", base)
	}
	return m, nil
}

// ProcMemory is VmRSS and VmHWM (peak RSS) of a process, in bytes, from
// /proc/<pid>/status (Linux).
func ProcMemory(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fs := strings.Fields(v)
		if len(fs) < 1 || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb * 1024
		} else {
			hwm = kb * 1024
		}
	}
	return rss, hwm, sc.Err()
}
