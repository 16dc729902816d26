// Command loadgen drives a running kvitt over HTTP with N concurrent tills,
// each creating, paying (cash) and completing sales, and reports flows per
// second and per-flow latency.
//
// -method swish|card|mobilepay|mix pays with a provider instead of cash,
// against a sandbox (kvitt serve in sandbox mode): the flow creates the
// sale and the payment, has the sandbox's simulated customer approve it
// (POST /v1/sandbox/payments/{id}/approve; reads the payment until it is
// paid) and completes the sale. Swish and card run on -tills (the sandbox's
// Swedish till 1, or tills from a configuration), MobilePay on -dk-tills
// (the sandbox's Danish dk-1, paired with a static QR, and dk-2); mix takes
// cash, swish, card and mobilepay in turn. Card flows wait for the till's
// terminal (the sandbox has one for all tills), MobilePay flows on dk-1 for
// its QR. It reports each method on a line of its own: latency, and the
// hub's own part (create sale + create payment + complete) apart from the
// customer's (approve until paid). With -rawdir it then measures, in the same
// run, the raw durable commit rate of SQLite in that directory (put it on the
// same file system as kvitt's --data) for the target ratio of
// docs/benchmarks.md.
//
// With -rate it runs the open model instead (bench.Open): flows arrive at
// -rate per second on a fixed schedule (or -poisson), each on the next till
// round-robin, whether or not earlier ones have finished (at most
// -max-inflight at once; arrivals over that are dropped and the target is
// reported NOT MET, exit status 3), and latency is measured from each flow's
// scheduled start.
//
// -url takes several nodes sharing one database (a,b,c): till i talks to node
// i mod n. The nodes' memory is reported before and after the load: VmRSS
// and VmHWM from /proc/<pid>/status with -pid (one pid per node, comma
// separated), else go_memstats_heap_inuse_bytes and
// process_resident_memory_bytes from each node's /metrics.
//
//	KVITT_ADMIN_KEY=secret kvitt serve --config tills.json --data /tmp/k &
//	KVITT_ADMIN_KEY=secret go run ./bench/loadgen -tills 1,2,3,4 -d 20s -rawdir /tmp
//	KVITT_ADMIN_KEY=secret go run ./bench/loadgen -tills 8 -d 15s -rate 300 -pid $!
//	KVITT_ADMIN_KEY=secret go run ./bench/loadgen -method mix -d 60s -rate 20 -warmup 5 -pid $!
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/bench"
)

func main() {
	urlList := flag.String("url", "http://127.0.0.1:8080", "kvitt's base URL, or several nodes' comma separated (till i talks to node i mod n)")
	tills := flag.String("tills", "1", "till ids, comma separated, or a number N for tills 1..N; one concurrent till each")
	n := flag.Int("n", 0, "number of sale flows in all (0 = run for -d)")
	d := flag.Duration("d", 10*time.Second, "how long to run (0 = until -n flows are done)")
	idem := flag.Bool("idem", false, "send an Idempotency-Key with every POST")
	warm := flag.Int("warmup", 100, "flows per till before measuring")
	rawdir := flag.String("rawdir", "", "directory on the data's file system to measure the raw SQLite commit rate in afterwards")
	rounds := flag.Int("rounds", 5, "with -rawdir: alternate load and raw commits in this many rounds")
	cpf := flag.Float64("commits-per-flow", 0, "durable commits one flow makes (from go test -bench BenchmarkCashSaleFlow), for the ratio")
	rate := flag.Float64("rate", 0, "open model: flows arriving per second (0 = closed loops, one per till)")
	poisson := flag.Bool("poisson", false, "open model: Poisson arrivals (exponential gaps) instead of a fixed schedule")
	seed := flag.Uint64("seed", 1, "open model: seed of the Poisson arrivals")
	maxIn := flag.Int("max-inflight", 1000, "open model: most flows running at once; arrivals over it are dropped (target not met)")
	method := flag.String("method", "cash", "how sales are paid: cash, or against a sandbox swish, card, mobilepay, or mix (the four in turn)")
	dkTills := flag.String("dk-tills", "dk-1,dk-2", "with -method mobilepay or mix: the Danish till ids for MobilePay, comma separated")
	windows := flag.Duration("windows", 0, "open model: also report the run in windows of this length by scheduled start (0 = not)")
	pids := flag.String("pid", "", "the nodes' process ids, comma separated, to read their memory from /proc (default: their /metrics)")
	flag.Parse()
	var urls []string
	for _, u := range strings.Split(*urlList, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -url: no URL")
		os.Exit(2)
	}
	if *rate > 0 && *rawdir != "" {
		fmt.Fprintln(os.Stderr, "loadgen: -rawdir works with the closed model only (no -rate)")
		os.Exit(2)
	}
	var pidList []int
	if *pids != "" {
		for _, p := range strings.Split(*pids, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: -pid: %q is not a process id\n", p)
				os.Exit(2)
			}
			pidList = append(pidList, v)
		}
	}
	methods, err := bench.Methods(*method)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: -method:", err)
		os.Exit(2)
	}
	if *rawdir != "" && (len(methods) > 1 || methods[0] != bench.MethodCash) {
		fmt.Fprintln(os.Stderr, "loadgen: -rawdir works with -method cash only")
		os.Exit(2)
	}
	var dk []string
	for _, t := range strings.Split(*dkTills, ",") {
		if t = strings.TrimSpace(t); t != "" {
			dk = append(dk, t)
		}
	}
	cash := len(methods) == 1 && methods[0] == bench.MethodCash
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
	if *rate > 0 {
		c = bench.NewOpenClient(*maxIn)
	}
	for _, u := range urls {
		if err := bench.WaitHealthy(ctx, c, u, 10*time.Millisecond); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	}
	cfg := bench.LoadConfig{BaseURL: urls[0], URLs: urls, Key: key, Tills: ids, Idempotency: *idem, Method: *method, DKTills: dk}
	if *warm > 0 {
		w := cfg
		w.Flows = *warm * len(ids)
		if r := bench.Load(ctx, c, w); r.FirstError != nil {
			fmt.Fprintln(os.Stderr, "loadgen: warm-up:", r.FirstError)
			os.Exit(1)
		}
	}
	memory(ctx, c, "before (after the warm-up)", urls, pidList)
	if *rate > 0 {
		oc := bench.OpenConfig{URLs: urls, Key: key, Tills: ids, Rate: *rate, Poisson: *poisson, Seed: *seed,
			Duration: *d, Flows: *n, MaxInFlight: *maxIn, Idempotency: *idem, Method: *method, DKTills: dk}
		r, err := bench.Open(ctx, c, oc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		fmt.Printf("nodes=%d tills=%d idem=%v poisson=%v %s\n", len(urls), len(ids), *idem, *poisson, r)
		if !cash {
			fmt.Print(r.ByMethod())
		}
		fmt.Print(r.Windows(*windows))
		if r.FirstError != nil {
			fmt.Println("first error:", r.FirstError)
		}
		memory(ctx, c, "after", urls, pidList)
		switch {
		case r.Errors > 0:
			os.Exit(1)
		case !r.Met():
			os.Exit(3)
		}
		return
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
	r := &bench.LoadResult{MethodErrors: map[string]int{}}
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
		for m, k := range lr.MethodErrors {
			r.MethodErrors[m] += k
		}
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
	fmt.Printf("nodes=%d tills=%d idem=%v %s\n", len(urls), len(ids), *idem, r)
	if !cash {
		fmt.Print(r.ByMethod())
	}
	if r.FirstError != nil {
		fmt.Println("first error:", r.FirstError)
	}
	if raw != nil {
		fmt.Println(rr, "(p50 of the last round)")
		if *cpf > 0 {
			fmt.Printf("ratio = flows/s ÷ (raw commits/s ÷ %.2f commits/flow) = %.3f (target ≥ 0.5)\n", *cpf, r.FlowsPerSecond()/(rr.PerSecond() / *cpf))
		}
	}
	memory(ctx, c, "after", urls, pidList)
	if r.Errors > 0 {
		os.Exit(1)
	}
}

// memory prints each node's memory: from /proc with pids, else from /metrics.
func memory(ctx context.Context, c *http.Client, when string, urls []string, pids []int) {
	if len(pids) > 0 {
		for _, pid := range pids {
			rss, hwm, err := bench.ProcMemory(pid)
			if err != nil {
				fmt.Printf("memory %s: pid %d: %v\n", when, pid, err)
				continue
			}
			fmt.Printf("memory %s: pid %d: VmRSS %.1f MB VmHWM %.1f MB\n", when, pid, rss/1e6, hwm/1e6)
		}
		return
	}
	for _, u := range urls {
		m, err := bench.ScrapeMemory(ctx, c, u)
		if err != nil {
			fmt.Printf("memory %s: %s: %v\n", when, u, err)
			continue
		}
		fmt.Printf("memory %s: %s: %s\n", when, u, m)
	}
}
