package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/receipt"
	"github.com/kvitt-hub/kvitt/report"
)

// cashSale sells one line at price on till, pays it in cash and completes
// it, returning the receipt CompleteSale gave.
func (e *env) cashSale(ctx context.Context, till string, price int64) *kvitt.Receipt {
	e.t.Helper()
	rc, err := e.tryCashSale(ctx, till, price)
	if err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// tryCashSale is cashSale for other goroutines: it returns errors.
func (e *env) tryCashSale(ctx context.Context, till string, price int64) (*kvitt.Receipt, error) {
	h := e.h
	s, err := h.CreateSale(ctx, saleInput(till, price))
	if err != nil {
		return nil, fmt.Errorf("create sale: %w", err)
	}
	p, err := h.CreatePayment(ctx, s.ID, cashInput(price))
	if err != nil {
		return nil, fmt.Errorf("cash payment: %w", err)
	}
	if p.State != kvitt.PaymentPaid {
		return nil, fmt.Errorf("cash payment is %s", p.State)
	}
	rc, err := h.CompleteSale(ctx, s.ID)
	if err != nil {
		return nil, fmt.Errorf("complete sale: %w", err)
	}
	return rc, nil
}

// TestControlUnitDownThenJobRegisters: the control unit is down when a paid
// sale completes. The sale completes anyway and its receipt comes back
// marked pending (printed as not registered); when the unit is back, the
// receipt.register job registers it, once, and stores the control code.
func TestControlUnitDownThenJobRegisters(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	e.cu.SetDown(true)
	rc := e.cashSale(ctx, till1, 10000)
	if rc.Registration != kvitt.RegistrationPending || rc.ControlCode != "" || rc.Serial != 1 {
		t.Fatalf("receipt while the unit is down: serial %d %s code %q, want 1 pending without a code", rc.Serial, rc.Registration, rc.ControlCode)
	}
	if s, err := e.h.GetSale(ctx, rc.SaleID); err != nil || s.State != kvitt.SaleCompleted || s.ReceiptID != rc.ID {
		t.Fatalf("sale after completing with the unit down: %+v %v", s, err)
	}
	if text := receipt.Text(rc, 42); !strings.Contains(text, "EJ REGISTRERAT I KONTROLLENHET") {
		t.Errorf("pending receipt does not say it is not registered:\n%s", text)
	}
	if n := e.cu.Registrations(); n != 0 {
		t.Fatalf("a down unit registered %d receipts", n)
	}
	if e.cu.Requests() < 1 {
		t.Errorf("kvitt never tried the control unit")
	}

	// The job tries while the unit is still down, and fails.
	eventually(t, "registration job tried and failed", func() string {
		js := e.jobs("receipt.register", rc.ID)
		if len(js) != 1 {
			return fmt.Sprintf("%d jobs", len(js))
		}
		if js[0].Attempts < 1 || js[0].LastError == "" {
			return fmt.Sprintf("attempts %d, last error %q", js[0].Attempts, js[0].LastError)
		}
		return ""
	})
	if rc2 := e.receipt(rc.ID); rc2.Registration != kvitt.RegistrationPending {
		t.Fatalf("receipt %s while the unit is down", rc2.Registration)
	}

	e.cu.SetDown(false)
	rc = e.waitRegistered(rc.ID)
	if n := e.cu.Registrations(); n != 1 {
		t.Errorf("control unit holds %d registrations, want 1", n)
	}
	if es := e.cu.Entries(); len(es) != 1 || es[0].Code != rc.ControlCode || rc.ControlCode == "" || rc.ControlUnitID != e.cu.UnitID() {
		t.Errorf("stored code %q unit %q; control unit entries %+v", rc.ControlCode, rc.ControlUnitID, es)
	}
	eventually(t, "registration job finished", func() string {
		if js := e.jobs("receipt.register", rc.ID); len(js) != 0 {
			return "still queued"
		}
		return ""
	})
	// Completing it again returns the registered receipt; nothing is registered twice.
	again, err := e.h.CompleteSale(ctx, rc.SaleID)
	if err != nil || again.ID != rc.ID || again.ControlCode != rc.ControlCode {
		t.Errorf("second CompleteSale: %+v %v", again, err)
	}
	if n := e.cu.Registrations(); n != 1 {
		t.Errorf("control unit holds %d registrations after a repeated complete, want 1", n)
	}
	if k := e.journalKinds(rc.ID); k["receipt.issued"] != 1 || k["receipt.registered"] != 1 {
		t.Errorf("journal for the receipt: %v, want one issued and one registered", k)
	}
	if err := e.cu.Verify(); err != nil {
		t.Error(err)
	}
	e.verifyJournal()
}

// TestControlUnitLostAnswerRegisteredOnce: the unit registers the receipt
// but its answer is lost. kvitt retries with the same data and gets the
// same code: one entry in the unit's record.
func TestControlUnitLostAnswerRegisteredOnce(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	e.cu.DropAnswers(1)
	rc := e.cashSale(ctx, till1, 5000)
	if rc.Registration != kvitt.RegistrationPending {
		t.Fatalf("receipt after a lost answer: %s, want pending", rc.Registration)
	}
	if n := e.cu.Registrations(); n != 1 {
		t.Fatalf("the unit recorded %d registrations before its answer was lost, want 1", n)
	}
	rc = e.waitRegistered(rc.ID)
	es := e.cu.Entries()
	if len(es) != 1 {
		t.Fatalf("control unit record holds %d entries, want exactly 1: %+v", len(es), es)
	}
	if es[0].Code != rc.ControlCode {
		t.Errorf("stored code %q, the unit's %q", rc.ControlCode, es[0].Code)
	}
	if n := e.cu.Requests(); n < 2 {
		t.Errorf("the unit saw %d requests, want the first and the retry", n)
	}
	if err := e.cu.Verify(); err != nil {
		t.Error(err)
	}
}

// TestReceiptSerialsAcrossRestart: serials per till continue across a
// restart with no gap or repeat, and the unit accepts each in order.
func TestReceiptSerialsAcrossRestart(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	var got []int64
	for i := 0; i < 3; i++ {
		got = append(got, e.cashSale(ctx, till1, 1000).Serial)
	}
	e.restart(true)
	for i := 0; i < 2; i++ {
		got = append(got, e.cashSale(ctx, till1, 1000).Serial)
	}
	if want := []int64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("till 1 serials %v, want %v", got, want)
	}
	if rc := e.cashSale(ctx, till2, 1000); rc.Serial != 1 {
		t.Errorf("till 2's first serial %d, want 1", rc.Serial)
	}
	rs := e.receipts(till1)
	for _, rc := range rs {
		if rc.Registration != kvitt.RegistrationRegistered {
			t.Errorf("receipt %d: %s", rc.Serial, rc.Registration)
		}
	}
	if n := e.cu.Registrations(); n != 6 {
		t.Errorf("control unit holds %d registrations, want 6", n)
	}
	e.verifyJournal()
}

func (e *env) receipts(till string) []*kvitt.Receipt {
	e.t.Helper()
	var rs []*kvitt.Receipt
	err := e.db.View(context.Background(), func(tx kvitt.Tx) (err error) {
		rs, err = tx.ListReceipts(kvitt.ReceiptFilter{TillID: till})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Serial < rs[j].Serial })
	return rs
}

// concurrentSales completes 2×perTill cash sales at once, alternating
// between till 1 and till 2.
func (e *env) concurrentSales(ctx context.Context, perTill int) {
	e.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2*perTill)
	for i := 0; i < 2*perTill; i++ {
		till := till1
		if i%2 == 1 {
			till = till2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.tryCashSale(ctx, till, int64(1000+100*i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Error(err)
	}
}

// TestReceiptSerialsConcurrentSales: 20 sales complete at once on two
// tills; each till's serials are exactly 1..10, no gap, no repeat.
func TestReceiptSerialsConcurrentSales(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	const perTill = 10
	e.concurrentSales(ctx, perTill)
	want := make([]int64, perTill)
	for i := range want {
		want[i] = int64(i + 1)
	}
	for _, till := range []string{till1, till2} {
		var serials []int64
		for _, rc := range e.receipts(till) {
			serials = append(serials, rc.Serial)
		}
		if !slices.Equal(serials, want) {
			t.Errorf("till %s serials %v, want %v", till, serials, want)
		}
	}
	e.verifyJournal()
}

// waitAllRegistered waits until every receipt of both tills is registered,
// reporting the pending ones and a registration job's last error.
func (e *env) waitAllRegistered(n int) {
	e.t.Helper()
	eventually(e.t, fmt.Sprintf("all %d receipts registered", n), func() string {
		var pending []string
		total := 0
		for _, till := range []string{till1, till2} {
			for _, rc := range e.receipts(till) {
				total++
				if rc.Registration != kvitt.RegistrationRegistered {
					pending = append(pending, fmt.Sprintf("%s/%d", till, rc.Serial))
				}
			}
		}
		if total != n {
			return fmt.Sprintf("%d receipts", total)
		}
		if len(pending) > 0 {
			last := ""
			for _, j := range e.jobs("receipt.register", "") {
				if j.LastError != "" {
					last = j.LastError
				}
			}
			return fmt.Sprintf("pending %v (a registration job's last error: %s)", pending, last)
		}
		return ""
	})
	if got := e.cu.Registrations(); got != n {
		e.t.Errorf("control unit holds %d registrations, want %d", got, n)
	}
	if err := e.cu.Verify(); err != nil {
		e.t.Error(err)
	}
}

// TestConcurrentSalesAllRegistered: 20 sales complete at once on two
// tills; every receipt ends registered with the control unit, whatever
// order the concurrent registrations reach it in.
//
// Regression: before 44528b9, CompleteSale registered outside its
// transaction with no ordering, so serial n+1 could reach the unit before
// n; the unit refused n for ever ("Sequence number goes backwards") and
// the receipt.register job retried it without end (failed about 1 run in 8).
func TestConcurrentSalesAllRegistered(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	e.concurrentSales(ctx, 10)
	e.waitAllRegistered(20)
}

// TestControlUnitOutageBacklogRegistered: receipts issued while the unit
// is down are registered once it is back, even when a new sale completes
// (and registers at once) before the job gets to them; the unit receives
// the serials in order.
//
// Regression: before 44528b9 the new sale's serial 3 was registered first;
// the unit then refused serials 1 and 2 and they stayed pending for ever.
func TestControlUnitOutageBacklogRegistered(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	e.cu.SetDown(true)
	r1 := e.cashSale(ctx, till1, 1000)
	r2 := e.cashSale(ctx, till1, 2000)
	if r1.Registration != kvitt.RegistrationPending || r2.Registration != kvitt.RegistrationPending {
		t.Fatalf("receipts while the unit is down: %s %s", r1.Registration, r2.Registration)
	}
	e.cu.SetDown(false)
	r3 := e.cashSale(ctx, till1, 3000) // the unit is back: the next sale completes at once
	if r3.Serial != 3 {
		t.Fatalf("serial %d, want 3", r3.Serial)
	}
	e.waitAllRegistered(3)
	var serials []int64
	for _, en := range e.cu.Entries() {
		var d struct {
			Serial int64 `json:"serial"`
		}
		_ = json.Unmarshal([]byte(en.Data), &d)
		serials = append(serials, d.Serial)
	}
	if !slices.Equal(serials, []int64{1, 2, 3}) {
		t.Errorf("the unit registered serials %v, want 1, 2, 3 in order", serials)
	}
}

// TestXAndZReports: an X report reads without changing anything; the first
// Z report has serial 1 and covers the sales so far; the second has serial
// 2 and covers only the sales after the first; grand totals run on.
func TestXAndZReports(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	for _, price := range []int64{10000, 2500, 4000} {
		e.cashSale(ctx, till1, price)
	}
	e.cashSale(ctx, till2, 99900) // another till's sale is in neither report

	x, err := e.h.Report(ctx, till1, report.X)
	if err != nil {
		t.Fatal(err)
	}
	if x.Serial != 0 || x.Sales.Count != 3 || x.Sales.Amount != 16500 {
		t.Errorf("X: serial %d sales %+v, want 0 and 3 for 16500", x.Serial, x.Sales)
	}
	z1, err := e.h.Report(ctx, till1, report.Z)
	if err != nil {
		t.Fatal(err)
	}
	if z1.Serial != 1 || z1.Sales.Count != 3 || z1.Sales.Amount != 16500 || z1.GrandTotals.Sales != 16500 {
		t.Errorf("Z1: serial %d sales %+v grand %+v, want 1, 3 for 16500, grand 16500", z1.Serial, z1.Sales, z1.GrandTotals)
	}
	if len(z1.Payments) != 1 || z1.Payments[0].Method != "cash" || z1.Payments[0].Amount != 16500 {
		t.Errorf("Z1 payments %+v, want cash 16500", z1.Payments)
	}
	if x2, err := e.h.Report(ctx, till1, report.X); err != nil || x2.Sales.Count != 0 || x2.Serial != 0 {
		t.Errorf("X after Z: %+v %v, want no sales", x2, err)
	}

	for _, price := range []int64{700, 1300} {
		e.cashSale(ctx, till1, price)
	}
	z2, err := e.h.Report(ctx, till1, report.Z)
	if err != nil {
		t.Fatal(err)
	}
	if z2.Serial != 2 || z2.Sales.Count != 2 || z2.Sales.Amount != 2000 || z2.GrandTotals.Sales != 18500 {
		t.Errorf("Z2: serial %d sales %+v grand %+v, want 2, 2 for 2000, grand 18500", z2.Serial, z2.Sales, z2.GrandTotals)
	}
	if !z2.PeriodStart.Equal(z1.PeriodEnd) && z2.PeriodStart.Before(z1.PeriodEnd) {
		t.Errorf("Z2 starts %v before Z1 ends %v", z2.PeriodStart, z1.PeriodEnd)
	}
	stored, err := e.h.ZReport(ctx, till1, 1)
	if err != nil || stored.Serial != 1 || stored.Sales.Amount != 16500 {
		t.Errorf("stored Z1: %+v %v", stored, err)
	}
	if zt2, err := e.h.Report(ctx, till2, report.Z); err != nil || zt2.Serial != 1 || zt2.Sales.Amount != 99900 {
		t.Errorf("till 2's first Z: %+v %v, want serial 1 with 99900", zt2, err)
	}

	// The journal chain verifies and holds every receipt and Z report.
	e.verifyJournal()
	k := e.journalKinds("")
	if k["receipt.issued"] != 6 || k["z_report"] != 3 {
		t.Errorf("journal kinds %v, want 6 receipts issued and 3 Z reports", k)
	}
	eventually(t, "all receipts registered", func() string {
		if n := e.journalKinds("")["receipt.registered"]; n != 6 {
			return fmt.Sprintf("%d registered", n)
		}
		return ""
	})
	e.verifyJournal()
}
