package bench_test

// Swish benchmarks of docs/benchmarks.md, section 4: QR rendering, and
// in-store Swish payments through the hub against the Merchant Swish
// Simulator (sim/swish) over real mutual TLS on loopback.
//
//	go test ./bench -run '^$' -bench 'QR' -benchmem
//	go test ./bench -run '^$' -bench 'SwishInStore' -benchtime 2000x -timeout 20m

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bench"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/qr"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// qrText is a realistic in-store Swish QR text: "D" and the simulator's
// 32 lower-case hex PaymentRequestToken (Swish's tokens are as long).
func qrText() string {
	return "D" + strings.ToLower(hex.EncodeToString([]byte("kvitt-bench-tok!")))
}

// BenchmarkQR renders one QR code per op with qr.SVG and qr.PNG at 512 px
// (the size GET /v1/payments/{id}/qr.svg renders by default). Run with
// -benchmem for the allocations.
func BenchmarkQR(b *testing.B) {
	text := qrText()
	for _, f := range []struct {
		name   string
		render func(string, int) ([]byte, error)
	}{{"svg", qr.SVG}, {"png", qr.PNG}} {
		b.Run("format="+f.name+"/size=512", func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := f.render(text, 512)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
			b.ReportMetric(float64(n), "bytes/render")
		})
	}
}

// swishSetup is the sandbox's Swish wiring (cmd/kvitt/swishwire.go) without
// the callback listener: the simulator drops its callbacks
// (DropCallbacks) and the benchmark drives completion with SyncPayment, as
// the hub's poller would. The provider is wrapped to time its calls.
type swishSetup struct {
	sim  *simswish.Sim
	prov *timedProvider
	cust *simswish.Customer
	// TLS handshakes the merchant client made, and the protocol it negotiated.
	handshakes atomic.Int64
	proto      atomic.Value
	// connections handed to provider requests: reused or new.
	connReused, connNew atomic.Int64
}

func startSwish(tb testing.TB, h *hub.Hub) *swishSetup {
	tb.Helper()
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		tb.Fatal(err)
	}
	sim, err := simswish.New(simswish.Options{PKI: pki, CallbackTLS: &tls.Config{RootCAs: pki.RootPool()}, DropCallbacks: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sim.Close() })
	client, err := swish.NewClient(swish.ClientConfig{BaseURL: sim.URL(), TLS: pki.ClientTLSConfig()})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: sim.PayeeAlias(),
		// Never called: the simulator drops callbacks.
		CallbackBaseURL: "https://127.0.0.1:9", CallbackSecret: []byte("bench-callback-secret-0123456789"), Message: "Demobutiken"})
	if err != nil {
		tb.Fatal(err)
	}
	s := &swishSetup{sim: sim, cust: sim.Customer()}
	s.prov = &timedProvider{Provider: p, s: s}
	h.Register(s.prov, s.cust)
	return s
}

// trace counts the connections and handshakes of the merchant client.
func (s *swishSetup) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				s.connReused.Add(1)
			} else {
				s.connNew.Add(1)
			}
		},
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			if err == nil {
				s.handshakes.Add(1)
				s.proto.Store(st.NegotiatedProtocol)
			}
		},
	})
}

// timedProvider is the Swish provider with its Start and Status timed: the
// time of the PUT and GET round trips to the simulator (TLS, HTTP, JSON on
// both ends, the simulator's handler). The time goes to the op's opTimes
// found in the context. It adds no interface the hub looks for (the Swish
// provider is neither kvitt.Instant nor kvitt.LongRunning), so the hub takes
// the same path; callbacks are not used here.
type timedProvider struct {
	*swish.Provider
	s *swishSetup
}

type opTimesKey struct{}

type opTimes struct{ start, status time.Duration }

func (p *timedProvider) Start(ctx context.Context, t *kvitt.Till, pay *kvitt.Payment) (kvitt.Update, error) {
	t0 := time.Now()
	u, err := p.Provider.Start(p.s.trace(ctx), t, pay)
	if o, ok := ctx.Value(opTimesKey{}).(*opTimes); ok {
		o.start += time.Since(t0)
	}
	return u, err
}

func (p *timedProvider) Status(ctx context.Context, t *kvitt.Till, pay *kvitt.Payment) (kvitt.Update, error) {
	t0 := time.Now()
	u, err := p.Provider.Status(p.s.trace(ctx), t, pay)
	if o, ok := ctx.Value(opTimesKey{}).(*opTimes); ok {
		o.status += time.Since(t0)
	}
	return u, err
}

// holdStore measures how long write transactions hold the single writer:
// from the start of the transaction's function (BEGIN IMMEDIATE has taken
// the write lock) to Update's return (after COMMIT). Their sum over a
// window's wall time is the writer's utilisation.
type holdStore struct {
	kvitt.Store
	hold atomic.Int64 // nanoseconds
}

func (s *holdStore) Update(ctx context.Context, fn func(kvitt.Tx) error) error {
	var start time.Time
	err := s.Store.Update(ctx, func(tx kvitt.Tx) error {
		if start.IsZero() {
			start = time.Now()
		}
		return fn(tx)
	})
	if !start.IsZero() {
		s.hold.Add(int64(time.Since(start)))
	}
	return err
}

// swishOp is one in-store payment's timings.
type swishOp struct {
	total, sale, pay, start, customer, sync, status, complete time.Duration
}

// inStore runs one in-store Swish sale on till: CreateSale, CreatePayment
// (PUT v2/paymentrequests over mTLS; the answer carries the QR token),
// the customer scans and approves through the simulator's customer
// interface, SyncPayment (GET v1/paymentrequests; paid), CompleteSale.
func inStore(ctx context.Context, s *server, sw *swishSetup, till string) (swishOp, error) {
	var o swishOp
	var ot opTimes
	ctx = context.WithValue(ctx, opTimesKey{}, &ot)
	lines := []kvitt.SaleLine{{ArticleNumber: "7310865004703", Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200},
		{ArticleNumber: "7310865001238", Name: "Kanelbulle", QuantityMilli: 2000, UnitPrice: 2500, VATRate: 1200}}
	t0 := time.Now()
	sale, err := s.Hub.CreateSale(ctx, hub.SaleInput{TillID: till, Lines: lines})
	if err != nil {
		return o, err
	}
	t1 := time.Now()
	p, err := s.Hub.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: swish.Method, Amount: sale.Total})
	if err != nil {
		return o, err
	}
	if p.State != kvitt.PaymentPending || p.Action == nil || !strings.HasPrefix(p.Action.QRData, "D") {
		return o, fmt.Errorf("payment %s: state %s, action %+v, message %q", p.ID, p.State, p.Action, p.Message)
	}
	t2 := time.Now()
	if err := sw.cust.Do(ctx, p.Reference, "approve"); err != nil {
		return o, err
	}
	t3 := time.Now()
	p, err = s.Hub.SyncPayment(ctx, p.ID, hub.CausePoller)
	if err != nil {
		return o, err
	}
	if p.State != kvitt.PaymentPaid {
		return o, fmt.Errorf("payment %s: %s after approval (%s)", p.ID, p.State, p.Message)
	}
	t4 := time.Now()
	if _, err := s.Hub.CompleteSale(ctx, sale.ID); err != nil {
		return o, err
	}
	t5 := time.Now()
	o = swishOp{total: t5.Sub(t0), sale: t1.Sub(t0), pay: t2.Sub(t1), start: ot.start, customer: t3.Sub(t2),
		sync: t4.Sub(t3), status: ot.status, complete: t5.Sub(t4)}
	return o, nil
}

// inStoreCash is the same sale paid in cash (settled in the creating
// transaction), the reference the Swish figures are compared to in the same run.
func inStoreCash(ctx context.Context, s *server, till string) (swishOp, error) {
	lines := []kvitt.SaleLine{{ArticleNumber: "7310865004703", Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200},
		{ArticleNumber: "7310865001238", Name: "Kanelbulle", QuantityMilli: 2000, UnitPrice: 2500, VATRate: 1200}}
	t0 := time.Now()
	sale, err := s.Hub.CreateSale(ctx, hub.SaleInput{TillID: till, Lines: lines})
	if err != nil {
		return swishOp{}, err
	}
	p, err := s.Hub.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: "cash", Amount: sale.Total})
	if err != nil || p.State != kvitt.PaymentPaid {
		return swishOp{}, fmt.Errorf("cash payment: %v %v", p, err)
	}
	if _, err := s.Hub.CompleteSale(ctx, sale.ID); err != nil {
		return swishOp{}, err
	}
	return swishOp{total: time.Since(t0)}, nil
}

// BenchmarkSwishInStore: in-store Swish payments through the hub (called
// directly, no kvitt HTTP API, no job worker) on SQLite, against the
// simulator over mTLS on loopback. One op is one sale paid with Swish and
// completed (inStore). tills=1 is sequential; tills=N runs N goroutines, one
// till each. Reported: payments/s, p50/p99 per payment, and where the
// time goes: the provider's round trips (Start's PUT, Status's GET), the
// customer's approve (a third HTTPS round trip to the simulator, which a
// real customer's phone would make), the durable commits, and the rest (the
// hub's own time: logic and SQL statements). Parallel shares are sums over
// all ops divided by the summed wall time of the ops. The machine is noisy:
// in 4 alternating rounds, the same number of cash sales (same hub, same
// tills, timer stopped) is run after each Swish round, and ratio =
// Swish payments/s ÷ cash payments/s. writer-busy is the time write
// transactions held the single SQLite writer over the wall time (holdStore);
// cpu-busy is the process CPU time over the wall time of all cores.
func BenchmarkSwishInStore(b *testing.B) {
	for _, tills := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("tills=%d", tills), func(b *testing.B) {
			ctx := context.Background()
			s := startServer(b, serverOpts{tills: tills, noHTTP: true})
			sw := startSwish(b, s.Hub)
			hs := &holdStore{Store: s.Hub.Store}
			s.Hub.Store = hs
			run := func(n int, cash bool) ([]swishOp, time.Duration, error) {
				ops := make([]swishOp, 0, n)
				var mu sync.Mutex
				var firstErr error
				var next atomic.Int64
				var wg sync.WaitGroup
				start := time.Now()
				for _, till := range s.Tills {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(n) {
							var o swishOp
							var err error
							if cash {
								o, err = inStoreCash(ctx, s, till)
							} else {
								o, err = inStore(ctx, s, sw, till)
							}
							mu.Lock()
							if err != nil && firstErr == nil {
								firstErr = err
							}
							ops = append(ops, o)
							mu.Unlock()
							if err != nil {
								return
							}
						}
					}()
				}
				wg.Wait()
				return ops, time.Since(start), firstErr
			}
			// Warm up: TLS sessions, the WAL past its first checkpoint.
			for _, cash := range []bool{false, true} {
				if _, _, err := run(max(300, 20*tills), cash); err != nil {
					b.Fatal(err)
				}
			}
			rounds := 1
			if b.N >= 200 {
				rounds = 4
			}
			var ops, cashOps []swishOp
			var elapsed, cashElapsed, cpu, hold time.Duration
			var tot storeTotals
			var sigs string // what the commits of the last Swish round wrote
			sw.connNew.Store(0)
			sw.connReused.Store(0)
			hs0 := sw.handshakes.Load()
			b.ResetTimer()
			b.StopTimer()
			for k := range rounds {
				n := b.N*(k+1)/rounds - len(ops)
				s.Store.reset()
				hold0 := hs.hold.Load()
				cpu0 := cpuTime()
				b.StartTimer()
				o, el, err := run(n, false)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - cpu0
				hold += time.Duration(hs.hold.Load() - hold0)
				t := s.Store.totals()
				tot.Commits += t.Commits
				tot.Updates += t.Updates
				tot.CommitDur += t.CommitDur
				sigs = s.Store.signatures()
				ops, elapsed = append(ops, o...), elapsed+el
				o, el, err = run(n, true)
				if err != nil {
					b.Fatal(err)
				}
				cashOps, cashElapsed = append(cashOps, o...), cashElapsed+el
			}
			var sum swishOp
			totals := make([]time.Duration, len(ops))
			provs := make([]time.Duration, len(ops))
			for i, o := range ops {
				totals[i], provs[i] = o.total, o.start+o.status
				sum.total += o.total
				sum.sale += o.sale
				sum.pay += o.pay
				sum.start += o.start
				sum.customer += o.customer
				sum.sync += o.sync
				sum.status += o.status
				sum.complete += o.complete
			}
			n := float64(len(ops))
			share := func(d time.Duration) float64 { return float64(d) / float64(sum.total) }
			cashTotals := make([]time.Duration, len(cashOps))
			for i, o := range cashOps {
				cashTotals[i] = o.total
			}
			cashRate := float64(len(cashOps)) / cashElapsed.Seconds()
			b.ReportMetric(n/elapsed.Seconds(), "payments/s")
			b.ReportMetric(cashRate, "cash-payments/s")
			b.ReportMetric(n/elapsed.Seconds()/cashRate, "ratio")
			b.ReportMetric(ms(bench.Percentile(cashTotals, 0.5)), "cash-p50-ms")
			b.ReportMetric(ms(bench.Percentile(totals, 0.5)), "p50-ms")
			b.ReportMetric(ms(bench.Percentile(totals, 0.99)), "p99-ms")
			b.ReportMetric(ms(bench.Percentile(provs, 0.5)), "provider-p50-ms")
			b.ReportMetric(share(sum.start+sum.status), "provider-share")
			b.ReportMetric(share(sum.customer), "customer-share")
			b.ReportMetric(share(tot.CommitDur), "commit-share")
			b.ReportMetric(1-share(sum.start+sum.status+sum.customer+tot.CommitDur), "hub-share")
			b.ReportMetric(ms(cpu)/n, "cpu-ms/op")
			b.ReportMetric(ms(hold)/n, "writer-hold-ms/op")
			b.ReportMetric(float64(hold)/float64(elapsed), "writer-busy")
			b.ReportMetric(float64(cpu)/float64(elapsed)/float64(runtime.NumCPU()), "cpu-busy")
			b.ReportMetric(float64(tot.Commits)/n, "commits/op")
			b.ReportMetric(float64(sw.connNew.Load()), "new-conns")
			if b.N >= 100 {
				avg := func(d time.Duration) string { return fmt.Sprintf("%.3fms", ms(d)/n) }
				b.Logf("cash, same run: %.1f sales/s, p50 %.3fms, p99 %.3fms", cashRate,
					ms(bench.Percentile(cashTotals, 0.5)), ms(bench.Percentile(cashTotals, 0.99)))
				proto, _ := sw.proto.Load().(string)
				b.Logf("N=%d tills=%d: mean per op: total %s = sale %s + pay %s (of which PUT %s) + customer approve %s + sync %s (of which GET %s) + complete %s; commits %s in %d commits\n"+
					"merchant client: %d TLS handshakes in all (ALPN %q), %d in the window; provider requests on reused conns %d, new %d\ncommits of the last Swish round by what they wrote:%s",
					b.N, tills, avg(sum.total), avg(sum.sale), avg(sum.pay), avg(sum.start), avg(sum.customer), avg(sum.sync), avg(sum.status), avg(sum.complete),
					avg(tot.CommitDur), tot.Commits, sw.handshakes.Load(), proto, sw.handshakes.Load()-hs0, sw.connReused.Load(), sw.connNew.Load(), sigs)
			}
		})
	}
}

// BenchmarkQRHTTP: GET /v1/payments/{id}/qr.svg (and qr.png) of one pending
// in-store Swish payment through the JSON API (admin key, one keep-alive
// connection): the store read of the payment, the render, the write.
func BenchmarkQRHTTP(b *testing.B) {
	ctx := context.Background()
	s := startServer(b, serverOpts{tills: 1})
	startSwish(b, s.Hub)
	sale, err := s.Hub.CreateSale(ctx, hub.SaleInput{TillID: "1", Lines: []kvitt.SaleLine{{Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200}}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := s.Hub.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: swish.Method, Amount: sale.Total})
	if err != nil || p.Action == nil || p.Action.QRData == "" {
		b.Fatal(p, err)
	}
	client := bench.NewClient(1)
	for _, format := range []string{"svg", "png"} {
		b.Run("format="+format, func(b *testing.B) {
			url := s.URL + "/v1/payments/" + p.ID + "/qr." + format
			get := func() int {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+adminKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
				return int(n)
			}
			get()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				get()
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
			b.ReportMetric(ms(bench.Percentile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(bench.Percentile(lat, 0.99)), "p99-ms")
		})
	}
}
