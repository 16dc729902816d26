package bench_test

// The benchmarks of docs/benchmarks.md. Run them all with
//
//	go test ./bench -run '^$' -bench . -benchtime 3s -timeout 30m
//
// They report figures (b.ReportMetric); they assert nothing about time.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bench"
	"github.com/kvitt-hub/kvitt/cash"
	"github.com/kvitt-hub/kvitt/controlunit"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
	"github.com/kvitt-hub/kvitt/sqlite"
)

const adminKey = "bench-admin-key-0123456789abcdef"

// getenv is what kvitt serve gets: the admin key comes from KVITT_ADMIN_KEY.
func getenv(k string) string {
	if k == "KVITT_ADMIN_KEY" {
		return adminKey
	}
	return os.Getenv(k)
}

// server is kvitt wired as cmd/kvitt/serve.go's Main.Run wires it (the
// package main cannot be imported): sqlite.Open on a file in a temp dir, the
// hub with cash, the simulated control unit of the sandbox (optional), the
// JSON API with the KVITT_ADMIN_KEY admin key, the job worker, a real HTTP
// server on 127.0.0.1:0. The store is wrapped to count commits.
type server struct {
	URL   string
	Dir   string
	DB    *sqlstore.DB
	Store *countingStore
	Hub   *hub.Hub
	Tills []string
}

type serverOpts struct {
	tills       int
	controlUnit bool // tills register receipts with the simulated control unit, as in sandbox mode
	noHTTP      bool // the hub only: no HTTP server, no worker
}

func startServer(tb testing.TB, o serverOpts) *server {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "kvitt.db"))
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{Dir: dir, DB: db, Store: newCountingStore(db)}
	// The same logger as kvitt serve's (text, info), writing nowhere.
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := hub.New(s.Store, logger)
	h.Sandbox = true
	h.Register(cash.Provider{}, nil)
	s.Hub = h
	var closers []func()
	tb.Cleanup(func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	})
	closers = append(closers, func() { db.Close() })
	cuName := ""
	if o.controlUnit {
		cu, err := simcontrolunit.New(simcontrolunit.Config{JournalPath: filepath.Join(dir, "sim-controlunit.jsonl")})
		if err != nil {
			tb.Fatal(err)
		}
		if err := cu.Start("127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
		closers = append(closers, func() { cu.Close() })
		cuc, err := controlunit.New(controlunit.Config{URL: cu.URL(), TLS: cu.ClientTLS()})
		if err != nil {
			tb.Fatal(err)
		}
		cuName = "sandbox"
		h.ControlUnits[cuName] = cuc
	}
	// Bootstrap (not counted): the demo merchant of kvitt serve and N tills.
	err = db.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.CreateMerchant(&kvitt.Merchant{ID: "demo", Name: "Demobutiken AB", OrgNr: "5566778899", Country: "SE",
			Currency: "SEK", VATRates: kvitt.DefaultVATRates("SE")}); err != nil {
			return err
		}
		if err := tx.CreateShop(&kvitt.Shop{ID: "demo-store", MerchantID: "demo", Name: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm"}); err != nil {
			return err
		}
		for i := 1; i <= max(o.tills, 1); i++ {
			id := strconv.Itoa(i)
			if err := tx.CreateTill(&kvitt.Till{ID: id, StoreID: "demo-store", Name: "Kassa " + id,
				RegisterID: fmt.Sprintf("KVITT-BENCH-%04d", i), ControlUnit: cuName}); err != nil {
				return err
			}
			s.Tills = append(s.Tills, id)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	closers = append(closers, h.Close)
	if o.noHTTP {
		return s
	}
	sum := sha256.Sum256([]byte(getenv("KVITT_ADMIN_KEY")))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	api := kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: s.Store, Logger: logger, AdminKeyHash: sum[:], PublicURL: s.URL,
		Ready: func(ctx context.Context) []string {
			if err := db.Write.PingContext(ctx); err != nil {
				return []string{err.Error()}
			}
			return nil
		}})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.RunWorker(wctx, kvitt.NewID("worker"))
	}()
	go srv.Serve(ln)
	closers = append(closers, func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		srv.Shutdown(sctx)
		c()
		cancel()
		<-done
	})
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkCashSaleFlow: a cash sale created, paid and completed through the
// HTTP API (three POSTs), by 1 till (sequential) or by N tills at once (one
// goroutine and one keep-alive connection each). One op is one flow. It
// reports flows/s, per-flow p50/p99, the write transactions one flow makes
// (commits/flow, counted by the wrapping store: what the flow would commit
// alone), the durable commits the disk saw with SQLite's group commit
// (durable-commits/flow: transactions of several tills share a commit), and
// the raw commit rate of SQLite measured right after, in the same run, in a
// new file in the same temp dir with kvitt's own sqlite.Open (same driver and
// pragmas), for the same number of commits. ratio = flows/s ÷ (raw commits/s
// ÷ commits per flow); target ≥ 0.5. group=off turns the group commit off,
// to measure what it pays.
func BenchmarkCashSaleFlow(b *testing.B) {
	cases := []struct {
		tills   int
		cu      bool
		idem    bool
		nogroup bool // SQLite's group commit off: one commit per transaction
	}{
		{1, false, false, false}, {4, false, false, false}, {16, false, false, false},
		{4, false, false, true}, {16, false, false, true},
		{1, false, true, false}, {4, false, true, false},
		{1, true, false, false}, {4, true, false, false}, {16, true, false, false},
	}
	for _, c := range cases {
		cu, idem, group := "none", "off", "on"
		if c.cu {
			cu = "sim"
		}
		if c.idem {
			idem = "on"
		}
		if c.nogroup {
			group = "off"
		}
		b.Run(fmt.Sprintf("tills=%d/cu=%s/idem=%s/group=%s", c.tills, cu, idem, group), func(b *testing.B) {
			ctx := context.Background()
			s := startServer(b, serverOpts{tills: c.tills, controlUnit: c.cu})
			s.DB.Dialect.GroupCommit = !c.nogroup
			client := bench.NewClient(c.tills)
			cfg := bench.LoadConfig{BaseURL: s.URL, Key: adminKey, Tills: s.Tills, Idempotency: c.idem}
			warm := cfg
			// Enough flows for kvitt's WAL to reach its size and be
			// checkpointed once, as in a server that has run a while.
			warm.Flows = max(300, 20*c.tills)
			if r := bench.Load(ctx, client, warm); r.FirstError != nil {
				b.Fatal(r.FirstError)
			}
			// The machine is shared and noisy, so the flows and the raw
			// commits are measured in alternating rounds: both see the same
			// noise. Each raw round makes as many commits as its flow round did.
			rounds := 1
			if b.N >= 200 {
				rounds = 10
			}
			rawdb, err := bench.OpenRaw(ctx, s.Dir, bench.RawWarm)
			if err != nil {
				b.Fatal(err)
			}
			defer rawdb.Close()
			s.Store.reset()
			groups0, _ := s.DB.GroupStats()
			r := &bench.LoadResult{}
			var raw bench.RawResult
			var rawLat, rawP99 []time.Duration
			done, flowCommits := 0, 0
			b.ResetTimer()
			for k := range rounds {
				b.StartTimer()
				cfg.Flows = b.N*(k+1)/rounds - done
				rr := bench.Load(ctx, client, cfg)
				b.StopTimer()
				if rr.FirstError != nil {
					b.Fatal(rr.FirstError)
				}
				done += len(rr.Flows)
				r.Flows = append(r.Flows, rr.Flows...)
				r.Elapsed += rr.Elapsed
				c := s.Store.totals().Commits
				n := c - flowCommits
				flowCommits = c
				rw, err := rawdb.Run(ctx, max(n, 20), 3*rr.Elapsed+time.Second)
				if err != nil {
					b.Fatal(err)
				}
				raw.Commits += rw.Commits
				raw.Elapsed += rw.Elapsed
				rawLat, rawP99 = append(rawLat, rw.P50), append(rawP99, rw.P99)
			}
			raw.P50 = bench.Percentile(rawLat, 0.5) // medians of the rounds' p50 and p99
			raw.P99 = bench.Percentile(rawP99, 0.5)
			tot := s.Store.totals()
			sigs := s.Store.signatures()
			cpf := float64(tot.Commits) / float64(len(r.Flows))
			b.ReportMetric(r.FlowsPerSecond(), "flows/s")
			total := func(f bench.Flow) time.Duration { return f.Total }
			b.ReportMetric(ms(r.Percentile(0.5, total)), "p50-ms")
			b.ReportMetric(ms(r.Percentile(0.99, total)), "p99-ms")
			b.ReportMetric(cpf, "commits/flow")
			if !c.nogroup {
				// What the disk saw: the transactions shared these commits.
				groups, _ := s.DB.GroupStats()
				b.ReportMetric(float64(groups-groups0)/float64(len(r.Flows)), "durable-commits/flow")
			}
			b.ReportMetric(raw.PerSecond(), "raw-commits/s")
			b.ReportMetric(r.FlowsPerSecond()/(raw.PerSecond()/cpf), "ratio")
			if b.N >= 100 {
				b.Logf("N=%d rounds=%d %s\n%s (median of the rounds)\ncommits in the window: %d (of %d Update calls), by what they wrote:%s",
					b.N, rounds, r, raw, tot.Commits, tot.Updates, sigs)
			}
		})
	}
}

// instant is a provider that answers Start at once with "paid": the usual
// path (persist, call out, apply the answer) with the provider's time ≈ 0.
type instant struct{}

func (instant) Method() string       { return "instant" }
func (instant) NewReference() string { return kvitt.NewID("ins") }
func (instant) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{State: kvitt.PaymentPaid, Provider: map[string]string{"psp_reference": p.Reference}}, nil
}
func (instant) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{State: kvitt.PaymentPaid}, nil
}
func (instant) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	return kvitt.Update{}, errors.New("no")
}
func (instant) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	return kvitt.RefundUpdate{State: kvitt.RefundSucceeded}, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHubPayment: the hub's overhead per payment, the provider
// excluded, without HTTP. One op is CreateSale + CreatePayment + CompleteSale
// on one till without a control unit, sequentially. method=cash is the
// instant method (settled in the creating transaction: 1 commit);
// method=instant is a provider whose Start answers "paid" at once (the
// persist-before-call path: 2 commits). Reported: wall time of CreatePayment
// and of CreatePayment+CompleteSale, the same minus the time spent in the
// durable COMMIT (the hub's own time: its logic and its SQL statements), the
// commit time, and the process CPU time per op (hub, SQLite and GC).
func BenchmarkHubPayment(b *testing.B) {
	for _, method := range []string{"cash", "instant"} {
		b.Run("method="+method, func(b *testing.B) {
			ctx := context.Background()
			s := startServer(b, serverOpts{tills: 1, noHTTP: true})
			s.Hub.Register(instant{}, nil)
			lines := []kvitt.SaleLine{{ArticleNumber: "7310865004703", Name: "Kaffe", QuantityMilli: 1000, UnitPrice: 3500, VATRate: 1200},
				{ArticleNumber: "7310865001238", Name: "Kanelbulle", QuantityMilli: 2000, UnitPrice: 2500, VATRate: 1200}}
			one := func() (pay, payOwn, both, bothOwn, commit time.Duration) {
				sale, err := s.Hub.CreateSale(ctx, hub.SaleInput{TillID: "1", Lines: lines})
				if err != nil {
					b.Fatal(err)
				}
				t0 := s.Store.totals()
				start := time.Now()
				p, err := s.Hub.CreatePayment(ctx, sale.ID, hub.PaymentInput{Method: method, Amount: sale.Total})
				if err != nil || p.State != kvitt.PaymentPaid {
					b.Fatal(p, err)
				}
				mid := time.Now()
				t1 := s.Store.totals()
				if _, err := s.Hub.CompleteSale(ctx, sale.ID); err != nil {
					b.Fatal(err)
				}
				end := time.Now()
				t2 := s.Store.totals()
				pay, both = mid.Sub(start), end.Sub(start)
				payOwn, bothOwn = pay-(t1.CommitDur-t0.CommitDur), both-(t2.CommitDur-t0.CommitDur)
				return pay, payOwn, both, bothOwn, t1.CommitDur - t0.CommitDur
			}
			for range 300 { // past the WAL's first checkpoint
				one()
			}
			s.Store.reset()
			pays, payOwns, boths, bothOwns, commits := make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N), make([]time.Duration, b.N)
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				pays[i], payOwns[i], boths[i], bothOwns[i], commits[i] = one()
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			tot := s.Store.totals()
			b.ReportMetric(ms(bench.Percentile(pays, 0.5)), "pay-p50-ms")
			b.ReportMetric(ms(bench.Percentile(pays, 0.99)), "pay-p99-ms")
			b.ReportMetric(ms(bench.Percentile(payOwns, 0.5)), "pay-own-p50-ms")
			b.ReportMetric(ms(bench.Percentile(payOwns, 0.99)), "pay-own-p99-ms")
			b.ReportMetric(ms(bench.Percentile(bothOwns, 0.5)), "pay+complete-own-p50-ms")
			b.ReportMetric(ms(bench.Percentile(bothOwns, 0.99)), "pay+complete-own-p99-ms")
			b.ReportMetric(ms(bench.Percentile(commits, 0.5)), "pay-commit-p50-ms")
			b.ReportMetric(ms(cpu)/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(tot.Commits)/float64(b.N), "commits/op")
			if b.N >= 100 {
				b.Logf("N=%d pay+complete wall p50=%.3fms p99=%.3fms; commits by what they wrote:%s", b.N,
					ms(bench.Percentile(boths, 0.5)), ms(bench.Percentile(boths, 0.99)), s.Store.signatures())
			}
		})
	}
}

// BenchmarkRawCommit is the raw durable commit of kvitt's SQLite on its own:
// one small INSERT per transaction through sqlite.Open's writer connection.
func BenchmarkRawCommit(b *testing.B) {
	raw, err := bench.OpenRaw(context.Background(), b.TempDir(), bench.RawWarm)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	b.ResetTimer()
	r, err := raw.Run(context.Background(), b.N, 0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.PerSecond(), "commits/s")
	b.ReportMetric(ms(r.P50), "p50-ms")
	b.ReportMetric(ms(r.P99), "p99-ms")
}
