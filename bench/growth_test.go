package bench_test

// Growth (issue 15, docs/benchmarks.md "Growth"): the same figures with
// 10 thousand, 1 million, … payments already in the ledger. Skipped unless
// KVITT_BENCH_GROWTH=1, so make test never runs it:
//
//	KVITT_BENCH_GROWTH=1 go test ./bench -run '^$' -bench Growth -benchtime 1x -timeout 3h
//
// KVITT_BENCH_GROWTH_SIZES (default "10000,1000000") lists the ledger
// sizes; KVITT_BENCH_GROWTH_DIR (default $TMPDIR/kvitt-growth) keeps the
// seeded ledgers of 100 000 payments and more between runs (smaller ones
// are seeded anew each run).

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bench"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/report"
	"github.com/kvitt-hub/kvitt/sqlite"
)

const growthTills = 50 // tills of the seeded ledger; 1–4 take the flows, 5–50 the Z reports

func growthSizes(b *testing.B) []int {
	v := os.Getenv("KVITT_BENCH_GROWTH_SIZES")
	if v == "" {
		v = "10000,1000000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("KVITT_BENCH_GROWTH_SIZES: %q", f)
		}
		out = append(out, n)
	}
	return out
}

// growthLedger returns the path of a seeded ledger of n payments with an
// open day at every till (seeding it, or adding an open day, as needed).
func growthLedger(b *testing.B, n int) string {
	ctx := context.Background()
	cfg := bench.SeedConfig{Payments: n, Tills: growthTills, Seed: 15}
	dir := b.TempDir()
	if n >= 100_000 {
		dir = os.Getenv("KVITT_BENCH_GROWTH_DIR")
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "kvitt-growth")
		}
		dir = filepath.Join(dir, fmt.Sprintf("ledger-%d", n))
	}
	path := filepath.Join(dir, "kvitt.db")
	if _, err := os.Stat(path); err == nil {
		open, err := bench.OpenDayReceipts(ctx, path, strconv.Itoa(growthTills))
		if err != nil {
			b.Fatal(err)
		}
		if open == 0 { // a previous run took the Z reports
			st, err := bench.AddOpenDay(ctx, path, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("ledger %s: open day added: %s", path, st)
		}
		return path
	}
	os.MkdirAll(dir, 0o755)
	st, err := bench.Seed(ctx, path, cfg)
	if err != nil {
		os.RemoveAll(dir)
		b.Fatal(err)
	}
	b.Logf("ledger %s seeded: %s", path, st)
	return path
}

// growthServer is the bench server (startServer) on an existing ledger:
// no bootstrap, the admin key, the job worker, the JSON API on loopback.
func growthServer(b *testing.B, path string) *server {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	s := &server{Dir: b.TempDir(), DB: db, Store: newCountingStore(db)}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := hub.New(s.Store, logger)
	h.Sandbox = true
	h.Register(cash.Provider{}, nil)
	s.Hub = h
	for i := 1; i <= 4; i++ {
		s.Tills = append(s.Tills, strconv.Itoa(i))
	}
	sum := sha256.Sum256([]byte(adminKey))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	api := kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: s.Store, Logger: logger, AdminKeyHash: sum[:], PublicURL: s.URL})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.RunWorker(wctx, kvitt.NewID("worker"))
	}()
	go srv.Serve(ln)
	b.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		srv.Shutdown(sctx)
		c()
		cancel()
		<-done
		h.Close()
		db.Close()
	})
	return s
}

// timed runs f n times, or fewer (at least 5) if they take more than 20 s
// in all, and returns the median and the p99.
func timed(b *testing.B, n int, f func(i int) error) (p50, p99 time.Duration) {
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		if i >= 5 && time.Since(start) > 20*time.Second {
			b.Logf("(%d of %d runs: 20 s budget)", i, n)
			break
		}
		t0 := time.Now()
		if err := f(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	return bench.Percentile(lat, 0.5), bench.Percentile(lat, 0.99)
}

func httpDo(c *http.Client, method, u string, want int) error {
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %.300s", method, u, resp.Status, body)
	}
	return nil
}

// journalVerify is `kvitt journal verify` (cmd/kvitt/cli.go runJournal):
// sqlite.Open, then the journal in pages of 1000, each entry checked.
func journalVerify(ctx context.Context, path string) (int64, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v kvitt.JournalVerifier
	var after int64
	for {
		var page []*kvitt.JournalEntry
		if err := db.View(ctx, func(tx kvitt.Tx) (err error) { page, err = tx.ListJournal(after, 1000); return err }); err != nil {
			return 0, err
		}
		for _, e := range page {
			if err := v.Check(e); err != nil {
				return 0, err
			}
			after = e.Seq
		}
		if len(page) < 1000 {
			return v.Count, nil
		}
	}
}

// journalBytes writes, to a file, the bytes journal verify hashes: for each
// entry, what kvitt.JournalHash feeds SHA-256.
func journalBytes(ctx context.Context, path, out string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rows, err := db.QueryContext(ctx, `SELECT seq, at, kind, ref, data, prev_hash FROM journal ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	buf := make([]byte, 0, 1<<20)
	for rows.Next() {
		var seq, at int64
		var kind, ref, data, prev string
		if err := rows.Scan(&seq, &at, &kind, &ref, &data, &prev); err != nil {
			return 0, err
		}
		for _, s := range []string{prev, strconv.FormatInt(seq, 10), strconv.FormatInt(at, 10), kind, ref, data} {
			buf = strconv.AppendInt(buf, int64(len(s)), 10)
			buf = append(buf, ':')
			buf = append(buf, s...)
			buf = append(buf, ';')
		}
		if len(buf) > 1<<20-4096 {
			m, err := f.Write(buf)
			n += int64(m)
			if err != nil {
				return n, err
			}
			buf = buf[:0]
		}
	}
	m, err := f.Write(buf)
	n += int64(m)
	if err != nil {
		return n, err
	}
	return n, rows.Err()
}

func dbSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}

// BenchmarkGrowth: per ledger size (payments already in the ledger), one op
// measures, in this order and in one process:
//
//   - start-up: sqlite.Open (open, pragmas, the migration check) and Close,
//     20 times, before anything else opens the file;
//   - journal verify: `kvitt journal verify`'s loop (journalVerify), once,
//     and `sha256sum` (the coreutils binary) over a file of the very bytes it
//     hashes, once, right after: the physical reference;
//   - the recovery list of a till (GET /v1/tills/7/recovery), 100 times;
//   - the X report of a till with its open day of 200 receipts (GET
//     /v1/tills/{5..50}/reports/x), 100 times;
//   - payment searches (GET /v1/payments …), 100 times each: q= a payment
//     id, a sale id, a Swish reference (rows from the middle of the ledger);
//     till=7&state=paid, till=7&state=declined (2 % of sales), state=declined;
//   - complete cash sale flows over HTTP on 4 tills (as
//     BenchmarkCashSaleFlow, tills=4, no control unit, no Idempotency-Key),
//     300 warm-up then 2000 in 10 rounds alternating with the raw durable
//     commits of a fresh file in the same temp dir (as many commits as the
//     round made): flows/s, commits/flow and the flow ratio of the same run;
//   - the Z report of tills 5..50, one each, each closing its open day of
//     200 receipts (POST /v1/tills/{id}/reports/z).
//
// Run with -benchtime 1x.
func BenchmarkGrowth(b *testing.B) {
	if os.Getenv("KVITT_BENCH_GROWTH") != "1" {
		b.Skip("set KVITT_BENCH_GROWTH=1 (seeds ledgers of up to millions of payments; see docs/benchmarks.md)")
	}
	for _, n := range growthSizes(b) {
		b.Run(fmt.Sprintf("payments=%d", n), func(b *testing.B) {
			ctx := context.Background()
			t0 := time.Now()
			path := growthLedger(b, n)
			b.Logf("ledger ready in %s: %.1f MB", time.Since(t0).Round(time.Millisecond), float64(dbSize(path))/1e6)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			report2 := func(name string, p50, p99 time.Duration) {
				b.ReportMetric(ms(p50), name+"-p50-ms")
				b.Logf("%-28s p50 %8.3f ms  p99 %8.3f ms", name, ms(p50), ms(p99))
			}

			// Start-up.
			p50, p99 := timed(b, 20, func(int) error {
				db, err := sqlite.Open(ctx, path)
				if err != nil {
					return err
				}
				return db.Close()
			})
			report2("startup", p50, p99)

			// Journal verify beside sha256sum.
			vt := time.Now()
			entries, err := journalVerify(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			verify := time.Since(vt)
			jb := filepath.Join(b.TempDir(), "journal.bytes")
			nb, err := journalBytes(ctx, path, jb)
			if err != nil {
				b.Fatal(err)
			}
			exec.Command("cat", jb).Run() // warm the page cache, as the database's pages are warm
			st := time.Now()
			if out, err := exec.Command("sha256sum", jb).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
			sha := time.Since(st)
			os.Remove(jb)
			b.ReportMetric(verify.Seconds(), "verify-s")
			b.ReportMetric(sha.Seconds(), "sha256sum-s")
			b.ReportMetric(float64(verify)/float64(sha), "verify/sha256sum")
			b.Logf("journal verify: %d entries, %.1f MB hashed, %.3f s (%.2f µs/entry); sha256sum over the same bytes %.3f s; ratio %.1f",
				entries, float64(nb)/1e6, verify.Seconds(), float64(verify)/1e3/float64(entries), sha.Seconds(), float64(verify)/float64(sha))

			s := growthServer(b, path)
			client := bench.NewClient(4)
			get := func(p string) func(int) error {
				return func(int) error { return httpDo(client, http.MethodGet, s.URL+p, http.StatusOK) }
			}
			// Warm: the first request of each kind prepares its statements.
			for _, p := range []string{"/v1/tills/7/recovery", "/v1/tills/5/reports/x", "/v1/payments?till=7&state=paid"} {
				if err := get(p)(0); err != nil {
					b.Fatal(err)
				}
			}

			p50, p99 = timed(b, 100, get("/v1/tills/7/recovery"))
			report2("recovery", p50, p99)
			p50, p99 = timed(b, 100, func(i int) error { return get(fmt.Sprintf("/v1/tills/%d/reports/x", 5+i%46))(i) })
			report2("x-report", p50, p99)

			// Search: rows from the middle of the ledger.
			var payID, saleID, swishRef string
			err = s.DB.Read.QueryRowContext(ctx, `SELECT id, sale_id FROM payments WHERE rowid = (SELECT MAX(rowid) / 2 FROM payments)`).Scan(&payID, &saleID)
			if err == nil {
				err = s.DB.Read.QueryRowContext(ctx, `SELECT reference FROM payments WHERE method = 'swish' AND rowid > (SELECT MAX(rowid) / 2 FROM payments) LIMIT 1`).Scan(&swishRef)
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, q := range []struct{ name, query string }{
				{"search q=payment", "q=" + payID},
				{"search q=sale", "q=" + saleID},
				{"search q=reference", "q=" + url.QueryEscape(strings.ToLower(swishRef))},
				{"search till,state=paid", "till=7&state=paid"},
				{"search till,state=declined", "till=7&state=declined"},
				{"search state=declined", "state=declined"},
				{"search till", "till=7"},
			} {
				get("/v1/payments?" + q.query)(0)
				p50, p99 = timed(b, 100, get("/v1/payments?"+q.query))
				report2(strings.NewReplacer(" ", "-", "=", "-", ",", "+").Replace(q.name), p50, p99)
			}

			// Complete cash sale flows and the raw commit rate, in alternating rounds.
			cfg := bench.LoadConfig{BaseURL: s.URL, Key: adminKey, Tills: s.Tills}
			warm := cfg
			warm.Flows = 300
			if r := bench.Load(ctx, client, warm); r.FirstError != nil {
				b.Fatal(r.FirstError)
			}
			rawdb, err := bench.OpenRaw(ctx, filepath.Dir(path), bench.RawWarm)
			if err != nil {
				b.Fatal(err)
			}
			s.Store.reset()
			const flows, rounds = 2000, 10
			r := &bench.LoadResult{}
			var raw bench.RawResult
			done, flowCommits := 0, 0
			for k := range rounds {
				cfg.Flows = flows*(k+1)/rounds - done
				rr := bench.Load(ctx, client, cfg)
				if rr.FirstError != nil {
					b.Fatal(rr.FirstError)
				}
				done += len(rr.Flows)
				r.Flows = append(r.Flows, rr.Flows...)
				r.Elapsed += rr.Elapsed
				c := s.Store.totals().Commits
				m := c - flowCommits
				flowCommits = c
				rw, err := rawdb.Run(ctx, max(m, 20), 3*rr.Elapsed+time.Second)
				if err != nil {
					b.Fatal(err)
				}
				raw.Commits += rw.Commits
				raw.Elapsed += rw.Elapsed
			}
			rawdb.Close()
			tot := s.Store.totals()
			cpf := float64(tot.Commits) / float64(len(r.Flows))
			total := func(f bench.Flow) time.Duration { return f.Total }
			b.ReportMetric(r.FlowsPerSecond(), "flows/s")
			b.ReportMetric(ms(r.Percentile(0.5, total)), "flow-p50-ms")
			b.ReportMetric(cpf, "commits/flow")
			b.ReportMetric(raw.PerSecond(), "raw-commits/s")
			b.ReportMetric(r.FlowsPerSecond()/(raw.PerSecond()/cpf), "ratio")
			b.Logf("flows: %s\n%s; commits/flow %.2f; ratio %.3f; commits by what they wrote:%s", r, raw, cpf,
				r.FlowsPerSecond()/(raw.PerSecond()/cpf), s.Store.signatures())

			// Z reports: tills 5..50, each closing its open day.
			open, err := bench.OpenDayReceipts(ctx, path, "5")
			if err != nil {
				b.Fatal(err)
			}
			p50, p99 = timed(b, growthTills-4, func(i int) error {
				return httpDo(client, http.MethodPost, s.URL+fmt.Sprintf("/v1/tills/%d/reports/z", 5+i), http.StatusCreated)
			})
			report2("z-report", p50, p99)
			b.Logf("Z reports closed %d receipts each", open)

			var pays int64
			s.DB.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM payments`).Scan(&pays)
			b.ReportMetric(float64(pays), "payments")
			b.Logf("payments in the ledger at the end: %d; file %.1f MB", pays, float64(dbSize(path))/1e6)
		})
	}
}

// TestSeed checks a tiny seeded ledger the way kvitt reads it: the journal
// chain verifies, serials are unbroken per till, each closed day has its
// Z report, and an X report over the open day counts its receipts. It is
// small enough for make test.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kvitt.db")
	st, err := bench.Seed(ctx, path, bench.SeedConfig{Payments: 42, Tills: 3, PerTillDay: 7, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sales != 42+21 || st.ZReports != 2*3 || st.Days != 3 {
		t.Fatalf("seeded %s", st)
	}
	check := func(journal int64) {
		t.Helper()
		if n, err := journalVerify(ctx, path); err != nil || n != journal {
			t.Fatalf("journal verify: %d entries (want %d): %v", n, journal, err)
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.View(ctx, func(tx kvitt.Tx) error {
			for _, till := range []string{"1", "2", "3"} {
				rs, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: till})
				if err != nil {
					return err
				}
				for i, r := range rs {
					if r.Serial != int64(i+1) {
						return fmt.Errorf("till %s: receipt %d has serial %d", till, i, r.Serial)
					}
				}
				last, err := tx.LastReceiptSerial(till)
				if err != nil || last != int64(len(rs)) {
					return fmt.Errorf("till %s: last serial %d, %d receipts: %v", till, last, len(rs), err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		h := hub.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		h.Register(cash.Provider{}, nil)
		defer h.Close()
		x, err := h.Report(ctx, "3", report.X)
		if err != nil {
			t.Fatal(err)
		}
		if x.LastSerial-x.FirstSerial+1 != 7 || x.Sales.Count != 7 {
			t.Fatalf("X report of till 3: serials %d..%d, %d sales; want the open day's 7", x.FirstSerial, x.LastSerial, x.Sales.Count)
		}
		for _, till := range []string{"1", "2", "3"} {
			if _, err := h.Report(ctx, till, report.Z); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(st.Journal)
	add, err := bench.AddOpenDay(ctx, path, bench.SeedConfig{Tills: 3, PerTillDay: 7, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if add.Sales != 21 {
		t.Fatalf("open day added: %s", add)
	}
	check(st.Journal + 3 + add.Journal) // 3 Z reports taken
}
