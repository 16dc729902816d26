package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt/bench"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kvittBinary builds cmd/kvitt once per run into a temp dir, as a release
// would (-trimpath, CGO off: one static binary).
func kvittBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "kvitt-bench-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "kvitt")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "github.com/kvitt-hub/kvitt/cmd/kvitt")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

func freePort(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running "kvitt serve".
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	url    string
	ready  time.Duration // from exec to the first 200 of /healthz
}

var startupRE = regexp.MustCompile(`startup=(\S+)`)

// runStartup is the start-up time kvitt logs itself (Run's own clock, from
// its first line to the server taking requests).
func (p *proc) runStartup() time.Duration {
	m := startupRE.FindStringSubmatch(p.stderr.String())
	if m == nil {
		return 0
	}
	d, _ := time.ParseDuration(m[1])
	return d
}

// startServe starts the binary with a data dir and the admin key in its
// environment and waits for /healthz, polling every 500 µs.
func startServe(tb testing.TB, bin, data string, args ...string) *proc {
	tb.Helper()
	addr := freePort(tb)
	p := &proc{stderr: &bytes.Buffer{}, url: "http://" + addr}
	p.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--addr", addr}, args...)...)
	p.cmd.Env = append(os.Environ(), "KVITT_ADMIN_KEY="+adminKey)
	p.cmd.Stderr = p.stderr
	if err := os.MkdirAll(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	p.cmd.Dir = data
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	if err := bench.WaitHealthy(ctx, c, p.url, 500*time.Microsecond); err != nil {
		p.stop()
		tb.Fatalf("%v\n%s", err, p.stderr)
	}
	p.ready = time.Since(start)
	return p
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// status reads VmRSS and VmHWM (peak RSS) of the process, in MB (10^6 bytes).
func (p *proc) status(tb testing.TB) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fs := strings.Fields(v)
		if len(fs) < 1 {
			continue
		}
		kb, _ := strconv.ParseFloat(fs[0], 64)
		switch k {
		case "VmRSS":
			rss = kb * 1024 / 1e6
		case "VmHWM":
			hwm = kb * 1024 / 1e6
		}
	}
	return rss, hwm
}

// BenchmarkServeStartup: start-up of the built binary, "kvitt serve" in
// sandbox mode (the default), from exec to the first 200 of GET /healthz.
// first=true starts on an empty data dir (creates the database, migrates,
// bootstraps the demo merchant, starts the simulators); first=false restarts
// on the data dir of an earlier start. One op is one start (then SIGTERM).
// Reported: p50 and max of exec→healthz, and p50 of the start-up kvitt logs
// itself (Main.Run's clock).
func BenchmarkServeStartup(b *testing.B) {
	bin := kvittBinary(b)
	for _, first := range []bool{true, false} {
		b.Run(fmt.Sprintf("first=%v", first), func(b *testing.B) {
			root := b.TempDir()
			data := filepath.Join(root, "kvitt-data")
			if !first {
				startServe(b, bin, data).stop()
			}
			ready, run := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if first {
					data = filepath.Join(root, fmt.Sprint("kvitt-data-", i))
				}
				os.MkdirAll(data, 0o700)
				b.StartTimer()
				p := startServe(b, bin, data)
				b.StopTimer()
				p.stop()
				ready = append(ready, p.ready)
				run = append(run, p.runStartup())
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(ms(bench.Percentile(ready, 0.5)), "healthz-p50-ms")
			b.ReportMetric(ms(bench.Percentile(ready, 1)), "healthz-max-ms")
			b.ReportMetric(ms(bench.Percentile(run, 0.5)), "run-logged-p50-ms")
		})
	}
}

// BenchmarkServeIdleMemory: RSS of the built binary ("kvitt serve", sandbox,
// 4 tills from a config file) idle 3 s after start-up, then idle 3 s after
// 2000 cash sale flows through its API (4 tills at once), and the peak RSS.
// One op is one such life of the process.
func BenchmarkServeIdleMemory(b *testing.B) {
	bin := kvittBinary(b)
	var idle, after, peak []float64
	var flows []float64
	for range b.N {
		dir := b.TempDir()
		cfg := map[string]any{"tills": []map[string]string{
			{"id": "1", "name": "Kassa 1", "register_id": "KVITT-DEMO-0001"}, {"id": "2", "name": "Kassa 2", "register_id": "KVITT-DEMO-0002"},
			{"id": "3", "name": "Kassa 3", "register_id": "KVITT-DEMO-0003"}, {"id": "4", "name": "Kassa 4", "register_id": "KVITT-DEMO-0004"}}}
		raw, _ := json.Marshal(cfg)
		cfgPath := filepath.Join(dir, "kvitt.json")
		if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		p := startServe(b, bin, filepath.Join(dir, "data"), "--config", cfgPath)
		time.Sleep(3 * time.Second)
		rss, _ := p.status(b)
		idle = append(idle, rss)
		c := bench.NewClient(4)
		r := bench.Load(context.Background(), c, bench.LoadConfig{BaseURL: p.url, Key: adminKey, Tills: []string{"1", "2", "3", "4"}, Flows: 2000})
		if r.FirstError != nil {
			p.stop()
			b.Fatal(r.FirstError)
		}
		flows = append(flows, r.FlowsPerSecond())
		c.CloseIdleConnections()
		time.Sleep(3 * time.Second)
		rss, hwm := p.status(b)
		after, peak = append(after, rss), append(peak, hwm)
		p.stop()
	}
	med := func(v []float64) float64 {
		ds := make([]time.Duration, len(v))
		for i, x := range v {
			ds[i] = time.Duration(x * 1e6)
		}
		return float64(bench.Percentile(ds, 0.5)) / 1e6
	}
	b.ReportMetric(med(idle), "idle-MB")
	b.ReportMetric(med(after), "idle-after-load-MB")
	b.ReportMetric(med(peak), "peak-MB")
	b.ReportMetric(med(flows), "flows/s")
}
