package sietest

import (
	"strings"
	"testing"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// FuzzParse: the SIE reader never panics, and a file it accepts is what it
// promises: every voucher balances to the öre, every row's account is
// declared when the file declares accounts, and no field holds a control
// character.
func FuzzParse(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte(strings.ReplaceAll(specExample, "\n", "\r\n")))
	f.Add([]byte(strings.Replace(specExample, "200.00", "200.01", 1)))
	f.Add([]byte("#FLAGGA 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		var all int64
		for _, v := range file.Vouchers {
			var sum int64
			for _, tr := range v.Trans {
				sum += tr.Amount
				if _, ok := file.Accounts[tr.Account]; len(file.Accounts) > 0 && !ok {
					t.Fatalf("row on undeclared account %q accepted", tr.Account)
				}
				if tr.Date != "" && !isDate(tr.Date) {
					t.Fatalf("row date %q accepted", tr.Date)
				}
				controlFree(t, tr.Text)
			}
			if sum != 0 {
				t.Fatalf("voucher %s %s does not balance (%d) but was accepted", v.Series, v.Number, sum)
			}
			all += sum
			controlFree(t, v.Text)
		}
		var bal int64
		for _, v := range file.Balance() {
			bal += v
		}
		if bal != all {
			t.Fatalf("Balance sums to %d, rows to %d", bal, all)
		}
		controlFree(t, file.Company)
		controlFree(t, file.Prosa)
	})
}

func controlFree(t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		if r < 32 && r != '\t' || r == 127 {
			t.Fatalf("control character %U in %q", r, s)
		}
	}
}
