package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt/bench"
)

// TestOpenAgainstServer runs open-model flows against kvitt in process
// (SQLite, 4 tills) at a low rate and checks the counts; few, so that make
// test (-race, beside other packages) stays fast. The bound
// on flows in flight is far above what the rate needs, so that a slow or
// busy machine (make test runs with -race, beside other packages) makes the
// flows slower but drops none.
func TestOpenAgainstServer(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{tills: 4})
	c := bench.NewOpenClient(1000)
	// Close the connections before the server shuts down: it would wait 5 s
	// for any that a racing dial opened and no request used.
	t.Cleanup(c.CloseIdleConnections)
	const flows = 80
	cfg := bench.OpenConfig{URLs: []string{s.URL}, Key: adminKey, Tills: s.Tills, Rate: 80, Flows: flows, MaxInFlight: 1000}
	r, err := bench.Open(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.FirstError != nil {
		t.Fatal(r.FirstError)
	}
	if r.Scheduled != flows || len(r.Flows) != flows || r.Errors != 0 || r.Dropped != 0 || !r.Met() {
		t.Fatalf("scheduled %d, completed %d, errors %d, dropped %d; want %d, %d, 0, 0", r.Scheduled, len(r.Flows), r.Errors, r.Dropped, flows, flows)
	}
	for _, f := range r.Flows {
		if f.Latency < f.Total {
			t.Fatalf("flow scheduled at %v: latency from the schedule %v < latency from the send %v", f.Scheduled, f.Latency, f.Total)
		}
	}
	// Each till got a quarter of the arrivals (round-robin): count the
	// completed sales per till in the store.
	rows, err := s.DB.Read.Query(`SELECT till_id, count(*) FROM sales WHERE state = 'completed' GROUP BY till_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	per := map[string]int{}
	for rows.Next() {
		var till string
		var n int
		if err := rows.Scan(&till, &n); err != nil {
			t.Fatal(err)
		}
		per[till] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, till := range s.Tills {
		if per[till] != flows/len(s.Tills) {
			t.Errorf("till %s: %d completed sales, want %d (all: %v)", till, per[till], flows/len(s.Tills), per)
		}
	}
}

// stallServer answers the three requests of a cash flow at once, except
// that the first request after stallAfter has passed holds every request
// for stall ("stop the world": a long checkpoint, a GC pause, a lock).
type stallServer struct {
	mu         sync.RWMutex
	start      time.Time
	stallAfter time.Duration
	stall      time.Duration
	once       sync.Once
	from, to   time.Time
	seq        atomic.Int64
	tills      sync.Map // till id → count of sales
}

func (s *stallServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if time.Since(s.start) >= s.stallAfter {
		s.once.Do(func() {
			s.mu.Lock()
			s.from = time.Now()
			time.Sleep(s.stall)
			s.to = time.Now()
			s.mu.Unlock()
		})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/v1/sales":
		var body struct {
			Till string `json:"till_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		v, _ := s.tills.LoadOrStore(body.Till, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"sale_%d","total":8500}`, s.seq.Add(1))
	case strings.HasSuffix(r.URL.Path, "/payments"):
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"state":"paid"}`)
	case strings.HasSuffix(r.URL.Path, "/complete"):
		fmt.Fprintf(w, `{"id":"rcpt_%d"}`, s.seq.Add(1))
	default:
		http.NotFound(w, r)
	}
}

// TestOpenLatencyFromSchedule: a server that stalls once for 300 ms. Every
// flow scheduled during the stall must be charged the rest of the stall
// (from its scheduled start), not only the one flow that hit it first, as a
// closed loop would report.
func TestOpenLatencyFromSchedule(t *testing.T) {
	t.Parallel()
	const (
		rate  = 200.0
		flows = 300
		stall = 300 * time.Millisecond
	)
	ss := &stallServer{start: time.Now(), stallAfter: 400 * time.Millisecond, stall: stall}
	ts := httptest.NewServer(ss)
	defer ts.Close()
	tills := []string{"1", "2", "3"}
	cfg := bench.OpenConfig{URLs: []string{ts.URL}, Key: "k", Tills: tills, Rate: rate, Flows: flows, MaxInFlight: 500}
	ss.start = time.Now()
	r, err := bench.Open(context.Background(), bench.NewOpenClient(500), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.FirstError != nil {
		t.Fatal(r.FirstError)
	}
	if r.Scheduled != flows || len(r.Flows) != flows || r.Dropped != 0 {
		t.Fatalf("scheduled %d, completed %d, dropped %d; want %d, %d, 0", r.Scheduled, len(r.Flows), r.Dropped, flows, flows)
	}
	for _, id := range tills {
		v, _ := ss.tills.Load(id)
		if n := v.(*atomic.Int64).Load(); n != flows/int64(len(tills)) {
			t.Errorf("till %s got %d sales, want %d (round-robin)", id, n, flows/len(tills))
		}
	}
	if ss.from.IsZero() {
		t.Fatal("the server never stalled")
	}
	// Flows scheduled while the server stalled cannot end before it ends.
	from, to := ss.from.Sub(r.Start), ss.to.Sub(r.Start)
	inStall := 0
	for _, f := range r.Flows {
		if f.Scheduled < from || f.Scheduled >= to {
			continue
		}
		inStall++
		if want := to - f.Scheduled; f.Latency < want {
			t.Errorf("flow scheduled at %v, during the stall (%v–%v): latency %v, want ≥ %v", f.Scheduled, from, to, f.Latency, want)
		}
	}
	// The schedule puts rate × stall flows in the stall (60); allow for a
	// slow machine starting the stall late.
	if min := int(rate*stall.Seconds()) / 2; inStall < min {
		t.Errorf("%d flows scheduled during the stall, want ≥ %d", inStall, min)
	}
	// So the tail shows the stall: p99 is at least half of it.
	if p99 := r.Percentile(0.99); p99 < stall/2 {
		t.Errorf("p99 from the schedule = %v, want ≥ %v", p99, stall/2)
	}
}

// TestOpenPoisson: with -poisson the gaps between arrivals are exponential
// with mean 1/rate: their mean is near it, and they vary as much as they
// average (an exponential's standard deviation is its mean).
func TestOpenPoisson(t *testing.T) {
	t.Parallel()
	const (
		rate  = 1000.0
		flows = 200
	)
	ss := &stallServer{start: time.Now(), stallAfter: time.Hour}
	ts := httptest.NewServer(ss)
	defer ts.Close()
	c := bench.NewOpenClient(1000)
	defer c.CloseIdleConnections()
	cfg := bench.OpenConfig{URLs: []string{ts.URL}, Key: "k", Tills: []string{"1", "2"}, Rate: rate, Poisson: true, Seed: 7, Flows: flows, MaxInFlight: 1000}
	r, err := bench.Open(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.FirstError != nil {
		t.Fatal(r.FirstError)
	}
	if r.Scheduled != flows || len(r.Flows) != flows || r.Dropped != 0 {
		t.Fatalf("scheduled %d, completed %d, dropped %d; want %d, %d, 0", r.Scheduled, len(r.Flows), r.Dropped, flows, flows)
	}
	at := make([]float64, len(r.Flows))
	for i, f := range r.Flows {
		at[i] = f.Scheduled.Seconds()
	}
	slices.Sort(at)
	if at[0] != 0 {
		t.Errorf("first arrival at %v, want 0", at[0])
	}
	var sum, sq float64
	for i := 1; i < len(at); i++ {
		g := at[i] - at[i-1]
		sum += g
		sq += g * g
	}
	n := float64(len(at) - 1)
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	if want := 1 / rate; mean < 0.7*want || mean > 1.4*want {
		t.Errorf("mean gap %.3f ms, want about %.3f ms", mean*1e3, want*1e3)
	}
	if sd < 0.6*mean {
		t.Errorf("gaps: standard deviation %.3f ms over mean %.3f ms; want about 1 (exponential), not a fixed schedule", sd*1e3, mean*1e3)
	}
}
