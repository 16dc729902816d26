package computop

import (
	"os"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// A response record's result is read from Code where the version has one,
// else from Status; a record that contradicts itself decides nothing.
func TestBatchRecordRefundUpdate(t *testing.T) {
	for _, c := range []struct {
		status, code string
		want         kvitt.RefundState
	}{
		{"OK", "00000000", kvitt.RefundSucceeded},
		{"OK", "", kvitt.RefundSucceeded}, // versions 1.0 and 2.0
		{"FAILED", "21000002", kvitt.RefundFailed},
		{"FAILED", "40100000", kvitt.RefundFailed},
		{"FAILED", "", kvitt.RefundFailed},
		{"OK", "21000002", kvitt.RefundUnknown},
		{"OK", "60000000", kvitt.RefundUnknown},
		{"FAILED", "00000000", kvitt.RefundUnknown},
		{"FAILED", "60000000", kvitt.RefundUnknown},
	} {
		r := BatchRecord{Status: c.status, Code: c.code}
		u := r.RefundUpdate()
		if u.State != c.want || u.Provider[KeyBatchStatus] != c.status || u.Provider[KeyBatchCode] != c.code {
			t.Errorf("%s %s: %+v, want %s", c.status, c.code, u, c.want)
		}
		if c.want != kvitt.RefundSucceeded && (u.Message == "" || u.ErrorCode == "") {
			t.Errorf("%s %s: no message or code: %+v", c.status, c.code, u)
		}
	}
}

// The golden response file reads into one credit carried out and one refused.
func TestResponseFileResults(t *testing.T) {
	f, err := os.Open("testdata/response_2.1.dat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewBatchReader(f, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var rec BatchRecord
	for r.Next(&rec) == nil {
		u := rec.RefundUpdate()
		got = append(got, rec.RefNr+" "+string(u.State)+" "+u.ErrorCode)
	}
	if strings.Join(got, ",") != "ref_01 succeeded ,ref_02 failed 21000002" {
		t.Errorf("results %q", got)
	}
}
