package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt/bench"
)

// methodServer fakes what a flow of each method sees of a sandbox: GET
// /v1/tills (till 1 with the card terminal, dk-1 with a MobilePay QR, dk-2
// without), sales, payments (cash paid at once, the others pending), the
// simulated customer (a card payment answers 409 "not asking" once, a Swish
// payment is still pending after the approval and paid on the next read),
// and completion. It records what it saw and whether two payments ever
// waited at once on the terminal or on dk-1's QR.
type methodServer struct {
	mu       sync.Mutex
	seq      int
	sales    map[string]string // sale id → till
	pays     map[string]*fakePay
	perTill  map[string]map[string]int // till → method → payments
	busy     map[string]string         // terminal or QR → payment id waiting on it
	overlaps int
	badBody  []string
}

type fakePay struct {
	method, till, state string
	asked               int // approve calls
}

func newMethodServer() *methodServer {
	return &methodServer{sales: map[string]string{}, pays: map[string]*fakePay{}, perTill: map[string]map[string]int{}, busy: map[string]string{}}
}

// exclusive is what a payment of method at till waits on, if anything.
func exclusive(method, till string) string {
	switch {
	case method == "card":
		return "terminal"
	case method == "mobilepay" && till == "dk-1":
		return "qr-dk-1"
	}
	return ""
}

func (s *methodServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/tills":
		fmt.Fprint(w, `{"tills":[{"id":"1","terminal":{"poiid":"SIM-1","url":"https://127.0.0.1:1/nexo"}},`+
			`{"id":"dk-1","mobilepay_beacon_id":"beacon-1"},{"id":"dk-2"}]}`)
	case r.Method == "POST" && r.URL.Path == "/v1/sales":
		var body struct {
			Till  string `json:"till_id"`
			Lines []struct {
				VAT int `json:"vat_rate"`
			} `json:"lines"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		dk := strings.HasPrefix(body.Till, "dk-")
		for _, l := range body.Lines {
			if (l.VAT == 25) != dk {
				s.badBody = append(s.badBody, fmt.Sprintf("till %s: VAT %d", body.Till, l.VAT))
			}
		}
		s.seq++
		id := "sale_" + strconv.Itoa(s.seq)
		s.sales[id] = body.Till
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"total":8500}`, id)
	case r.Method == "POST" && len(p) == 4 && p[1] == "sales" && p[3] == "payments":
		var body struct {
			Method string `json:"method"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		till := s.sales[p[2]]
		if s.perTill[till] == nil {
			s.perTill[till] = map[string]int{}
		}
		s.perTill[till][body.Method]++
		s.seq++
		id := "pay_" + strconv.Itoa(s.seq)
		fp := &fakePay{method: body.Method, till: till, state: "pending"}
		if body.Method == "cash" {
			fp.state = "paid"
		}
		if x := exclusive(body.Method, till); x != "" {
			if s.busy[x] != "" {
				s.overlaps++
			}
			s.busy[x] = id
		}
		s.pays[id] = fp
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"state":%q}`, id, fp.state)
	case r.Method == "POST" && len(p) == 5 && p[1] == "sandbox" && p[4] == "approve":
		fp := s.pays[p[3]]
		if fp == nil {
			http.Error(w, `{"error":{"code":"not_found"}}`, http.StatusNotFound)
			return
		}
		fp.asked++
		if fp.method == "card" && fp.asked == 1 {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":{"code":"conflict","message":"the terminal is not asking for a card for X: it is serving payment Y"}}`)
			return
		}
		if fp.method != "swish" {
			s.paid(p[3], fp)
		}
		fmt.Fprintf(w, `{"id":%q,"state":%q}`, p[3], fp.state)
	case r.Method == "GET" && len(p) == 3 && p[1] == "payments":
		fp := s.pays[p[2]]
		if fp.asked > 0 {
			s.paid(p[2], fp)
		}
		fmt.Fprintf(w, `{"id":%q,"state":%q}`, p[2], fp.state)
	case r.Method == "POST" && len(p) == 4 && p[1] == "sales" && p[3] == "complete":
		s.seq++
		fmt.Fprintf(w, `{"id":"rcpt_%d"}`, s.seq)
	default:
		http.NotFound(w, r)
	}
}

func (s *methodServer) paid(id string, fp *fakePay) {
	fp.state = "paid"
	if x := exclusive(fp.method, fp.till); x != "" && s.busy[x] == id {
		delete(s.busy, x)
	}
}

// TestOpenMethods: with mix, arrivals take cash, swish, card and mobilepay
// in turn; MobilePay on the Danish tills (with a Danish basket), the rest on
// the Swedish ones; the customer's approval is retried while the terminal is
// busy and the payment read until paid; card payments never wait on the
// terminal at once, nor MobilePay payments on dk-1's QR.
func TestOpenMethods(t *testing.T) {
	t.Parallel()
	ms := newMethodServer()
	ts := httptest.NewServer(ms)
	defer ts.Close()
	c := bench.NewOpenClient(100)
	defer c.CloseIdleConnections()
	const flows = 80
	cfg := bench.OpenConfig{URLs: []string{ts.URL}, Key: "k", Tills: []string{"1"}, DKTills: []string{"dk-1", "dk-2"},
		Method: "mix", Rate: 400, Flows: flows, MaxInFlight: 100}
	r, err := bench.Open(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	t.Log("\n" + r.ByMethod())
	if r.FirstError != nil {
		t.Fatal(r.FirstError)
	}
	if !r.Met() {
		t.Fatalf("scheduled %d, completed %d, errors %d, dropped %d", r.Scheduled, len(r.Flows), r.Errors, r.Dropped)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	want := map[string]map[string]int{"1": {"cash": 20, "swish": 20, "card": 20}, "dk-1": {"mobilepay": 10}, "dk-2": {"mobilepay": 10}}
	for till, m := range want {
		for method, n := range m {
			if got := ms.perTill[till][method]; got != n {
				t.Errorf("till %s: %d %s payments, want %d (all: %v)", till, got, method, n, ms.perTill)
			}
		}
	}
	if len(ms.perTill) != len(want) {
		t.Errorf("payments on tills %v, want on %v", ms.perTill, want)
	}
	if ms.overlaps != 0 {
		t.Errorf("%d payments waited on the terminal or dk-1's QR while another did", ms.overlaps)
	}
	if len(ms.badBody) > 0 {
		t.Errorf("baskets in the wrong country's VAT: %v", ms.badBody)
	}
	per := map[string]int{}
	for _, f := range r.Flows {
		per[f.Method]++
		if f.Method != "cash" && f.Customer <= 0 {
			t.Errorf("%s flow without the customer's part: %+v", f.Method, f.Flow)
		}
		if f.Hub()+f.Customer+f.Wait > f.Total {
			t.Errorf("%s flow: parts %v + %v + %v > total %v", f.Method, f.Hub(), f.Customer, f.Wait, f.Total)
		}
	}
	for _, m := range []string{"cash", "swish", "card", "mobilepay"} {
		if per[m] != flows/4 {
			t.Errorf("%d %s flows, want %d", per[m], m, flows/4)
		}
		if !strings.Contains(r.ByMethod(), "method="+m+" completed=20 errors=0") {
			t.Errorf("ByMethod lacks %s:\n%s", m, r.ByMethod())
		}
	}
	if w := r.Windows(time.Hour); !strings.HasPrefix(w, "window=0s-1h0m0s completed=80 dropped=0 errors=0 ") || strings.Count(w, "\n") != 1 {
		t.Errorf("Windows(1h) = %q", w)
	}
	if _, err := bench.Methods("cheque"); err == nil {
		t.Error(`Methods("cheque"): no error`)
	}
}

// BenchmarkOpenMethods: the open model (bench.Open) against the built
// binary, "kvitt serve" in sandbox mode (its simulators of Swish, the card
// terminal and MobilePay in process; the package main that wires them
// cannot be imported), one run per method at KVITT_BENCH_OPEN_RATE flows/s
// (default 20) for KVITT_BENCH_OPEN_D (default 3s), each after 5 warm-up
// flows: cash, swish and card on the Swedish till 1, MobilePay on dk-1 and
// dk-2, mix the four in turn. One op is one run. Reported: achieved flows/s,
// latency from the schedule p50/p99/p99.9, the hub's own part (create sale +
// create payment + complete, without the simulated customer) p50/p99, the
// customer's part (approve until paid; provider flows only) p50, and the
// node's VmRSS after. MobilePay on dk-1 (a static QR) takes about 100 ms
// of the customer: the simulated customer polls for the payment every
// 100 ms after checking in.
func BenchmarkOpenMethods(b *testing.B) {
	bin := kvittBinary(b)
	rate := 20.0
	if v, err := strconv.ParseFloat(os.Getenv("KVITT_BENCH_OPEN_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	d := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("KVITT_BENCH_OPEN_D")); err == nil && v > 0 {
		d = v
	}
	p := startServe(b, bin, filepath.Join(b.TempDir(), "data"))
	defer p.stop()
	c := bench.NewOpenClient(200)
	defer c.CloseIdleConnections()
	for _, method := range []string{"cash", "swish", "card", "mobilepay", "mix"} {
		b.Run("method="+method, func(b *testing.B) {
			ctx := context.Background()
			dk := []string{"dk-1", "dk-2"}
			warm := bench.LoadConfig{BaseURL: p.url, Key: adminKey, Tills: []string{"1"}, DKTills: dk, Method: method, Flows: 5}
			if r := bench.Load(ctx, c, warm); r.FirstError != nil {
				b.Fatal(r.FirstError)
			}
			var fps, p50, p99, p999, hub50, hub99, cust50 []time.Duration
			b.ResetTimer()
			for range b.N {
				r, err := bench.Open(ctx, c, bench.OpenConfig{URLs: []string{p.url}, Key: adminKey, Tills: []string{"1"}, DKTills: dk,
					Method: method, Rate: rate, Duration: d, MaxInFlight: 200})
				if err != nil {
					b.Fatal(err)
				}
				if r.FirstError != nil {
					b.Fatalf("%v\n%s", r.FirstError, r)
				}
				flows := make([]time.Duration, 0, len(r.Flows))
				hub := make([]time.Duration, 0, len(r.Flows))
				cust := make([]time.Duration, 0, len(r.Flows))
				for _, f := range r.Flows {
					flows = append(flows, f.Latency)
					hub = append(hub, f.Hub())
					if f.Method != "cash" {
						cust = append(cust, f.Customer)
					}
				}
				fps = append(fps, time.Duration(r.FlowsPerSecond()*1e6))
				p50 = append(p50, bench.Percentile(flows, 0.5))
				p99 = append(p99, bench.Percentile(flows, 0.99))
				p999 = append(p999, bench.Percentile(flows, 0.999))
				hub50 = append(hub50, bench.Percentile(hub, 0.5))
				hub99 = append(hub99, bench.Percentile(hub, 0.99))
				cust50 = append(cust50, bench.Percentile(cust, 0.5))
				b.Logf("%s\n%s", r, r.ByMethod())
			}
			b.StopTimer()
			med := func(v []time.Duration) time.Duration { return bench.Percentile(v, 0.5) }
			b.ReportMetric(float64(med(fps))/1e6, "flows/s")
			b.ReportMetric(ms(med(p50)), "p50-ms")
			b.ReportMetric(ms(med(p99)), "p99-ms")
			b.ReportMetric(ms(med(p999)), "p99.9-ms")
			b.ReportMetric(ms(med(hub50)), "hub-p50-ms")
			b.ReportMetric(ms(med(hub99)), "hub-p99-ms")
			b.ReportMetric(ms(med(cust50)), "customer-p50-ms")
			rss, _ := p.status(b)
			b.ReportMetric(rss, "rss-MB")
		})
	}
}
