package computop

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBatchMillion builds a credit batch of a million records on disk
// and parses it back, and in the same run times wc -l and awk -F, reading the
// same file. Peak heap is sampled every millisecond while building and
// parsing. Run it with: go test ./computop -run=NONE -bench=BatchMillion -benchtime=3x
func BenchmarkBatchMillion(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "T20250314kvitt_test001.dat")
	var build, parse, wc, awk time.Duration
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	defer close(stop)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		t0 := time.Now()
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewBatchWriter(f, BatchHeader{MerchantID: "kvitt_test", Date: time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), Version: "2.1"})
		if err != nil {
			b.Fatal(err)
		}
		rec := BatchRecord{Currency: "SEK", PayID: "0123456789abcdef0123456789abcdef"}
		for j := 0; j < n; j++ {
			rec.Amount = int64(100 + j%100000)
			rec.TransID = fmt.Sprintf("%032X", j)
			rec.RefNr = "ref_" + rec.TransID[24:]
			if err := w.Write(&rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		build += time.Since(t0)

		t0 = time.Now()
		f, _ = os.Open(path)
		r, err := NewBatchReader(bufio.NewReaderSize(f, 256<<10), false)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := r.Next(&rec); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		parse += time.Since(t0)
		if r.Count() != n {
			b.Fatalf("%d records", r.Count())
		}

		t0 = time.Now()
		if err := exec.Command("wc", "-l", path).Run(); err != nil {
			b.Skip("wc:", err)
		}
		wc += time.Since(t0)
		t0 = time.Now()
		if err := exec.Command("awk", "-F,", `$1=="Swish"{n++; s+=$3} END{print n, s}`, path).Run(); err != nil {
			b.Skip("awk:", err)
		}
		awk += time.Since(t0)
	}
	st, _ := os.Stat(path)
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(build), "build-s")
	b.ReportMetric(per(parse), "parse-s")
	b.ReportMetric(per(wc), "wc-s")
	b.ReportMetric(per(awk), "awk-s")
	b.ReportMetric(parse.Seconds()/awk.Seconds(), "parse/awk")
	b.ReportMetric(parse.Seconds()/wc.Seconds(), "parse/wc")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
}
