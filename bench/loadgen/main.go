// Command loadgen drives a running kvitt over HTTP with N concurrent tills,
// each creating, paying (cash) and completing sales, and reports flows per
// second and per-flow latency. With -rawdir it then measures, in the same
// run, the raw durable commit rate of SQLite in that directory (put it on the
// same file system as kvitt's --data) for the target ratio of
// docs/benchmarks.md.
//
//	KVITT_ADMIN_KEY=secret kvitt serve --config tills.json --data /tmp/k &
//	KVITT_ADMIN_KEY=secret go run ./bench/loadgen -tills 1,2,3,4 -d 20s -rawdir /tmp
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/bench"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "kvitt's base URL")
	tills := flag.String("tills", "1", "till ids, comma separated, or a number N for tills 1..N; one concurrent till each")
	n := flag.Int("n", 0, "number of sale flows in all (0 = run for -d)")
	d := flag.Duration("d", 10*time.Second, "how long to run (0 = until -n flows are done)")
	idem := flag.Bool("idem", false, "send an Idempotency-Key with every POST")
	warm := flag.Int("warmup", 100, "flows per till before measuring")
	rawdir := flag.String("rawdir", "", "directory on the data's file system to measure the raw SQLite commit rate in afterwards")
	rounds := flag.Int("rounds", 5, "with -rawdir: alternate load and raw commits in this many rounds")
	cpf := flag.Float64("commits-per-flow", 0, "durable commits one flow makes (from go test -bench BenchmarkCashSaleFlow), for the ratio")
	flag.Parse()
	key := os.Getenv("KVITT_ADMIN_KEY")
	if key == "" {
		fmt.Fprintln(os.Stderr, "loadgen: set KVITT_ADMIN_KEY to an API key")
		os.Exit(2)
	}
	ids := strings.Split(*tills, ",")
	if k, err := strconv.Atoi(*tills); err == nil {
		ids = nil
		for i := 1; i <= k; i++ {
			ids = append(ids, strconv.Itoa(i))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := bench.NewClient(len(ids))
	if err := bench.WaitHealthy(ctx, c, *url, 10*time.Millisecond); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	cfg := bench.LoadConfig{BaseURL: strings.TrimRight(*url, "/"), Key: key, Tills: ids, Idempotency: *idem}
	if *warm > 0 {
		w := cfg
		w.Flows = *warm * len(ids)
		if r := bench.Load(ctx, c, w); r.FirstError != nil {
			fmt.Fprintln(os.Stderr, "loadgen: warm-up:", r.FirstError)
			os.Exit(1)
		}
	}
	var raw *bench.RawDB
	if *rawdir != "" {
		var err error
		if raw, err = bench.OpenRaw(ctx, *rawdir, bench.RawWarm); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: raw commits:", err)
			os.Exit(1)
		}
		defer raw.Close()
	}
	// With -rawdir, load and raw commits alternate in rounds, so that both
	// see the same noise of a shared machine.
	r := &bench.LoadResult{}
	var rr bench.RawResult
	for k := range *rounds {
		cfg.Flows, cfg.Duration = 0, 0
		if *n > 0 {
			cfg.Flows = *n*(k+1) / *rounds - len(r.Flows)
		} else {
			cfg.Duration = *d / time.Duration(*rounds)
		}
		lr := bench.Load(ctx, c, cfg)
		r.Flows = append(r.Flows, lr.Flows...)
		r.Elapsed += lr.Elapsed
		r.Errors += lr.Errors
		if r.FirstError == nil {
			r.FirstError = lr.FirstError
		}
		if raw != nil {
			want := 0
			if *cpf > 0 {
				want = int(float64(len(lr.Flows)) * *cpf)
			}
			x, err := raw.Run(ctx, want, lr.Elapsed)
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadgen: raw commits:", err)
				os.Exit(1)
			}
			rr.Commits += x.Commits
			rr.Elapsed += x.Elapsed
			rr.P50 = x.P50
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Printf("tills=%d idem=%v %s\n", len(ids), *idem, r)
	if r.FirstError != nil {
		fmt.Println("first error:", r.FirstError)
	}
	if raw != nil {
		fmt.Println(rr, "(p50 of the last round)")
		if *cpf > 0 {
			fmt.Printf("ratio = flows/s ÷ (raw commits/s ÷ %.2f commits/flow) = %.3f (target ≥ 0.5)\n", *cpf, r.FlowsPerSecond()/(rr.PerSecond() / *cpf))
		}
	}
	if r.Errors > 0 {
		os.Exit(1)
	}
}
