package computop

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var batchDate = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)

func goldenBatch(t *testing.T, name string, h BatchHeader, recs []BatchRecord) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewBatchWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := "testdata/" + name + ".golden"
	if *update {
		os.WriteFile(path, buf.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s:\n%s\nwant\n%s", name, buf.Bytes(), want)
	}
	return buf.Bytes()
}

var credits = []BatchRecord{
	{Amount: 12550, Currency: "SEK", TransID: "4F1C2B3A4D5E6F708192A3B4C5D6E7F8", RefNr: "ref_01", PayID: "0123456789abcdef0123456789abcdef"},
	{Amount: 100, Currency: "SEK", TransID: "5A1C2B3A4D5E6F708192A3B4C5D6E7F8", RefNr: "ref_02", PayID: "fedcba9876543210fedcba9876543210"},
}

func TestBatchBuildGolden(t *testing.T) {
	for _, v := range []string{"1.0", "2.0", "2.1"} {
		b := goldenBatch(t, "batch_"+v, BatchHeader{MerchantID: "kvitt_test", Date: batchDate, Version: v}, credits)
		r, err := NewBatchReader(bytes.NewReader(b), false)
		if err != nil {
			t.Fatal(err)
		}
		var got []BatchRecord
		for {
			var rec BatchRecord
			err := r.Next(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec)
		}
		if len(got) != 2 || got[0].Amount != 12550 || got[1].PayID != credits[1].PayID || r.Sum() != 12650 {
			t.Errorf("%s: read back %+v", v, got)
		}
		if (v == "1.0") != (got[0].RefNr == "") {
			t.Errorf("%s: RefNr %q", v, got[0].RefNr)
		}
	}
	master := []BatchRecord{credits[0], credits[1]}
	master[0].MID, master[1].MID = "slave_1", "slave_2"
	goldenBatch(t, "batch_master_2.1", BatchHeader{MerchantID: "master", Date: batchDate, Version: "2.1", Master: true}, master)
}

func TestBatchResponseGolden(t *testing.T) {
	f, err := os.Open("testdata/response_2.1.dat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewBatchReader(f, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		var rec BatchRecord
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec.TransID+" "+rec.Status+" "+rec.Code+" "+rec.RefNr)
	}
	want := []string{"4F1C2B3A4D5E6F708192A3B4C5D6E7F8 OK 00000000 ref_01", "5A1C2B3A4D5E6F708192A3B4C5D6E7F8 FAILED 21000002 ref_02"}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s", strings.Join(out, "\n"))
	}
}

func TestBatchBad(t *testing.T) {
	head := "HEAD,kvitt_test,20250314,2.1\n"
	rec := "Swish,Credit,100,SEK,T1,ref_1,0123456789abcdef0123456789abcdef\n"
	tests := []struct{ name, file, want string }{
		{"empty", "", "HEAD is missing"},
		{"no HEAD", rec, "first line"},
		{"bad version", "HEAD,kvitt_test,20250314,3.0\n", "version"},
		{"bad date", "HEAD,kvitt_test,14.03.2025,2.1\n", "date"},
		{"truncated", head + rec, "truncated"},
		{"count", head + rec + "FOOT,2,100\n", "FOOT says 2 records"},
		{"sum", head + rec + "FOOT,1,101\n", "summing 101"},
		{"after FOOT", head + rec + "FOOT,1,100\n" + rec, "after FOOT"},
		{"fields", head + "Swish,Credit,100,SEK,T1,0123456789abcdef0123456789abcdef\nFOOT,1,100\n", "fields"},
		{"action", head + strings.Replace(rec, "Credit", "Capture", 1) + "FOOT,1,100\n", "only Credit"},
		{"currency", head + strings.Replace(rec, "SEK", "EUR", 1) + "FOOT,1,100\n", "SEK only"},
		{"amount", head + strings.Replace(rec, ",100,", ",1.00,", 1) + "FOOT,1,100\n", "Amount"},
		{"payid", head + strings.Replace(rec, "0123456789abcdef0123456789abcdef", "short", 1) + "FOOT,1,100\n", "PayID"},
	}
	for _, tt := range tests {
		err := readAll(tt.file, false)
		var be *BatchError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewBatchWriter(io.Discard, BatchHeader{MerchantID: "m", Date: batchDate, Version: "1.0", Master: true}); err == nil {
		t.Error("master with 1.0 accepted")
	}
	w, _ := NewBatchWriter(io.Discard, BatchHeader{MerchantID: "m", Date: batchDate, Version: "2.1"})
	if err := w.Write(&BatchRecord{Amount: 100, Currency: "SEK", TransID: "a,b", PayID: credits[0].PayID}); err == nil {
		t.Error("comma in TransID accepted")
	}
	if n, _ := BatchFileName('T', batchDate, "kvitt_test", 1, false); n != "T20250314kvitt_test001.dat" {
		t.Error(n)
	}
	if n, _ := BatchFileName('P', batchDate, "kvitt_test", 12, true); n != "P20250314012kvitt_test.dat" {
		t.Error(n)
	}
}

func readAll(file string, response bool) error {
	r, err := NewBatchReader(strings.NewReader(file), response)
	if err != nil {
		return err
	}
	for {
		var rec BatchRecord
		if err := r.Next(&rec); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
