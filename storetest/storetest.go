// Package storetest is the conformance suite every kvitt.Store passes: the
// SQLite store on real files and the PostgreSQL store on a real server.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Run runs the suite. open returns a new, empty, migrated store.
func Run(t *testing.T, open func(t *testing.T) kvitt.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, kvitt.Store)
	}{
		{"Tills", testTills},
		{"Sales", testSales},
		{"Payments", testPayments},
		{"PaymentEvents", testPaymentEvents},
		{"Refunds", testRefunds},
		{"ReceiptSerials", testReceiptSerials},
		{"ConcurrentReceiptSerials", testConcurrentSerials},
		{"Receipts", testReceipts},
		{"APIKeys", testAPIKeys},
		{"Idempotency", testIdempotency},
		{"IdempotencyRace", testIdempotencyRace},
		{"Jobs", testJobs},
		{"Journal", testJournal},
		{"RollbackLeavesNothing", testRollback},
		{"ZReports", testZReports},
		{"ZReportSerials", testZReportSerials},
		{"LatestSaleAndTraining", testLatestSale},
		{"RefundReturnLines", testRefundReturnLines},
		{"PendingReceipts", testPendingReceipts},
		{"Settings", testSettings},
		{"PutSetting", testPutSetting},
		{"RecoveryQueries", testRecoveryQueries},
		{"Bookkeeping", testBookkeeping},
		{"MobilePay", testMobilePay},
		{"Orders", testOrders},
		{"Users", testUsers},
		{"Lists", testLists},
		{"Webhooks", testWebhooks},
		{"JobStats", testJobStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func update(t *testing.T, s kvitt.Store, fn func(kvitt.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := kvitt.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// Seed creates merchant "m1", store "s1" and tills "1" and "2".
func Seed(t *testing.T, s kvitt.Store) {
	t.Helper()
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.CreateMerchant(&kvitt.Merchant{ID: "m1", Name: "Demo AB", OrgNr: "5560997982", Country: "SE", Currency: kvitt.SEK, VATRates: kvitt.DefaultVATRates("SE")}); err != nil {
			return err
		}
		if err := tx.CreateShop(&kvitt.Shop{ID: "s1", MerchantID: "m1", Name: "Butiken", Address: "Storgatan 1, 111 22 Stockholm"}); err != nil {
			return err
		}
		for _, id := range []string{"1", "2"} {
			if err := tx.CreateTill(&kvitt.Till{ID: id, StoreID: "s1", Name: "Kassa " + id, RegisterID: "REG-" + id}); err != nil {
				return err
			}
		}
		return nil
	})
}

func newSale(id, key string) *kvitt.Sale {
	return &kvitt.Sale{ID: id, MerchantID: "m1", TillID: "1", Currency: kvitt.SEK, State: kvitt.SaleOpen, IdempotencyKey: key,
		Lines: []kvitt.SaleLine{{Name: "Kaffe", QuantityMilli: 2000, UnitPrice: 3500, VATRate: 1200, Total: 7000}},
		Total: 7000, VAT: []kvitt.VATTotal{{Rate: 1200, Gross: 7000, Net: 6250, VAT: 750}}}
}

func newPayment(id, saleID, ref string) *kvitt.Payment {
	return &kvitt.Payment{ID: id, SaleID: saleID, TillID: "1", Method: "swish", Amount: 7000, Currency: kvitt.SEK,
		State: kvitt.PaymentCreated, Reference: ref, Provider: map[string]string{"token": "abc"}}
}

func testTills(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	s.View(ctx, func(tx kvitt.Tx) error {
		m, err := tx.GetMerchant("m1")
		if err != nil {
			t.Fatal(err)
		}
		if m.OrgNr != "5560997982" || len(m.VATRates) != 4 || m.VATRates[0] != 2500 || m.Currency != kvitt.SEK {
			t.Errorf("merchant = %+v", m)
		}
		tills, err := tx.ListTills()
		if err != nil || len(tills) != 2 || tills[0].ID != "1" || tills[1].RegisterID != "REG-2" {
			t.Errorf("tills = %v, %v", tills, err)
		}
		_, err = tx.GetTill("nope")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	// A till with a terminal keeps it.
	update(t, s, func(tx kvitt.Tx) error {
		tl, err := tx.GetTill("2")
		if err != nil {
			return err
		}
		tl.Terminal = &kvitt.Terminal{POIID: "P400-1", URL: "https://127.0.0.1:8443/nexo", Tip: true}
		return tx.UpdateTill(tl)
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		tl, _ := tx.GetTill("2")
		if tl.Terminal == nil || !tl.Terminal.Tip || tl.Terminal.POIID != "P400-1" {
			t.Errorf("terminal = %+v", tl.Terminal)
		}
		return nil
	})
	// Duplicate ids conflict; a till in an unknown store is refused.
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateTill(&kvitt.Till{ID: "1", StoreID: "s1"}) })
	wantCode(t, err, kvitt.ECONFLICT)
	if err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateTill(&kvitt.Till{ID: "9", StoreID: "nope"}) }); err == nil {
		t.Error("till in an unknown store was stored: foreign keys are off")
	}
}

func testSales(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	sale := newSale("sale_1", "k:1")
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateSale(sale) })
	if sale.Version != 1 {
		t.Fatalf("version = %d", sale.Version)
	}
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateSale(newSale("sale_2", "k:1")) })
	wantCode(t, err, kvitt.ECONFLICT)
	// Sales without key do not collide with each other.
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateSale(newSale("sale_3", "")) })
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateSale(newSale("sale_4", "")) })

	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.SaleByIdempotencyKey("k:1")
		if err != nil || got.ID != "sale_1" {
			t.Fatalf("by key = %v, %v", got, err)
		}
		if len(got.Lines) != 1 || got.Lines[0].QuantityMilli != 2000 || got.VAT[0].VAT != 750 || got.Total != 7000 {
			t.Errorf("sale = %+v", got)
		}
		return nil
	})
	// Compare and set: a stale version is refused.
	stale := *sale
	sale.State = kvitt.SaleCompleted
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateSale(sale) })
	stale.State = kvitt.SaleCancelled
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateSale(&stale) })
	wantCode(t, err, kvitt.ECONFLICT)
	s.View(ctx, func(tx kvitt.Tx) error {
		got, _ := tx.GetSale("sale_1")
		if got.State != kvitt.SaleCompleted || got.Version != 2 {
			t.Errorf("sale after CAS = %s v%d", got.State, got.Version)
		}
		return nil
	})
}

func testPayments(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateSale(newSale("sale_1", "")) })
	p := newPayment("pay_1", "sale_1", "REF1")
	p.IdempotencyKey = "k:p1"
	update(t, s, func(tx kvitt.Tx) error { return tx.CreatePayment(p) })
	// The provider reference is unique per method: a second charge with one reference cannot be stored.
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreatePayment(newPayment("pay_2", "sale_1", "REF1")) })
	wantCode(t, err, kvitt.ECONFLICT)
	// A payment for an unknown sale is refused.
	if err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreatePayment(newPayment("pay_3", "nope", "REF3")) }); err == nil {
		t.Error("payment for an unknown sale was stored")
	}
	p.State = kvitt.PaymentPaid
	p.Card = &kvitt.CardData{MaskedPAN: "************1234", Brand: "VISA"}
	p.Tip = 500
	p.Provider["payment_reference"] = "BANKREF"
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdatePayment(p) })
	s.View(ctx, func(tx kvitt.Tx) error {
		for _, get := range []func() (*kvitt.Payment, error){
			func() (*kvitt.Payment, error) { return tx.GetPayment("pay_1") },
			func() (*kvitt.Payment, error) { return tx.PaymentByReference("swish", "REF1") },
			func() (*kvitt.Payment, error) { return tx.PaymentByIdempotencyKey("k:p1") },
		} {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if got.State != kvitt.PaymentPaid || got.Tip != 500 || got.Card == nil || got.Card.Brand != "VISA" ||
				got.Provider["payment_reference"] != "BANKREF" || got.Version != 2 {
				t.Errorf("payment = %+v", got)
			}
		}
		_, err := tx.PaymentByReference("card", "REF1")
		wantCode(t, err, kvitt.ENOTFOUND)
		list, err := tx.ListPayments([]kvitt.PaymentState{kvitt.PaymentPaid, kvitt.PaymentPending}, 10)
		if err != nil || len(list) != 1 {
			t.Errorf("list = %v, %v", list, err)
		}
		list, _ = tx.ListSalePayments("sale_1")
		if len(list) != 1 {
			t.Errorf("sale payments = %d", len(list))
		}
		return nil
	})
	stale := *p
	stale.Version = 1
	stale.State = kvitt.PaymentDeclined
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdatePayment(&stale) })
	wantCode(t, err, kvitt.ECONFLICT)
}

func testPaymentEvents(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.CreateSale(newSale("sale_1", "")); err != nil {
			return err
		}
		if err := tx.CreatePayment(newPayment("pay_1", "sale_1", "R")); err != nil {
			return err
		}
		for _, e := range []*kvitt.PaymentEvent{
			{PaymentID: "pay_1", From: "", To: kvitt.PaymentCreated, Cause: "api"},
			{PaymentID: "pay_1", From: kvitt.PaymentCreated, To: kvitt.PaymentPending, Cause: "provider"},
			{PaymentID: "pay_1", From: kvitt.PaymentPending, To: kvitt.PaymentPaid, Cause: "callback", Message: "Paid"},
		} {
			if err := tx.AppendPaymentEvent(e); err != nil {
				return err
			}
		}
		return nil
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		evs, err := tx.ListPaymentEvents("pay_1", 1)
		if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[1].To != kvitt.PaymentPaid || evs[1].Cause != "callback" {
			t.Errorf("events = %v, %v", evs, err)
		}
		return nil
	})
}

func testRefunds(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.CreateSale(newSale("sale_1", "")); err != nil {
			return err
		}
		return tx.CreatePayment(newPayment("pay_1", "sale_1", "R"))
	})
	r := &kvitt.Refund{ID: "ref_1", PaymentID: "pay_1", Amount: 1000, Currency: kvitt.SEK, State: kvitt.RefundCreated, Reference: "RR", IdempotencyKey: "k:r"}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateRefund(r) })
	r.State = kvitt.RefundSucceeded
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateRefund(r) })
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.RefundByIdempotencyKey("k:r")
		if err != nil || got.State != kvitt.RefundSucceeded || got.Amount != 1000 || got.Version != 2 {
			t.Errorf("refund = %+v, %v", got, err)
		}
		list, _ := tx.ListRefunds("pay_1")
		if len(list) != 1 {
			t.Errorf("refunds = %d", len(list))
		}
		return nil
	})
}

func testReceiptSerials(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	var got []int64
	for i := 0; i < 3; i++ {
		update(t, s, func(tx kvitt.Tx) error {
			n, err := tx.NextReceiptSerial("1")
			got = append(got, n)
			return err
		})
	}
	// A rolled-back allocation is not taken: the series stays unbroken.
	s.Update(ctx, func(tx kvitt.Tx) error { tx.NextReceiptSerial("1"); return fmt.Errorf("rollback") })
	update(t, s, func(tx kvitt.Tx) error {
		n, err := tx.NextReceiptSerial("1")
		got = append(got, n)
		return err
	})
	update(t, s, func(tx kvitt.Tx) error {
		n, err := tx.NextReceiptSerial("2")
		got = append(got, n)
		return err
	})
	want := []int64{1, 2, 3, 4, 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("serials = %v, want %v", got, want)
	}
	err := s.Update(ctx, func(tx kvitt.Tx) error { _, err := tx.NextReceiptSerial("nope"); return err })
	wantCode(t, err, kvitt.ENOTFOUND)
}

func testConcurrentSerials(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	const n = 40
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx kvitt.Tx) error {
				v, err := tx.NextReceiptSerial("1")
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[v] {
					return fmt.Errorf("serial %d handed out twice", v)
				}
				seen[v] = true
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := int64(1); i <= n; i++ {
		if !seen[i] {
			t.Errorf("serial %d missing: series broken", i)
		}
	}
}

func testReceipts(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	issued := time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC)
	r := &kvitt.Receipt{ID: "rcp_1", MerchantID: "m1", TillID: "1", SaleID: "sale_1", Serial: 1, Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale,
		Issued: issued, MerchantName: "Demo AB", Currency: kvitt.SEK, Total: 7000, Registration: kvitt.RegistrationPending,
		Tenders: []kvitt.Tender{{Method: "card", Amount: 7000, Tip: 1000, Card: &kvitt.CardData{MaskedPAN: "****1234"}}}}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateReceipt(r) })
	dup := *r
	dup.ID = "rcp_2"
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.CreateReceipt(&dup) })
	wantCode(t, err, kvitt.ECONFLICT) // one serial, one receipt
	r.Registration, r.ControlUnitID, r.ControlCode = kvitt.RegistrationRegistered, "CU1", "CODE"
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateReceipt(r) })
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.GetReceipt("rcp_1")
		if err != nil || got.ControlCode != "CODE" || got.Registration != kvitt.RegistrationRegistered || got.Tenders[0].Card.MaskedPAN != "****1234" || !got.Issued.Equal(issued) {
			t.Errorf("receipt = %+v, %v", got, err)
		}
		list, _ := tx.ListReceipts(kvitt.ReceiptFilter{TillID: "1", From: issued, To: issued.Add(time.Hour)})
		if len(list) != 1 {
			t.Errorf("in range = %d", len(list))
		}
		list, _ = tx.ListReceipts(kvitt.ReceiptFilter{TillID: "1", From: issued.Add(time.Second)})
		if len(list) != 0 {
			t.Errorf("after range = %d", len(list))
		}
		return nil
	})
}

func testAPIKeys(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	k := &kvitt.APIKey{ID: "key_1", Hash: []byte{1, 2, 3}, Scope: kvitt.ScopeTill, TillID: "1", Name: "Kassa 1"}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateAPIKey(k) })
	now := time.Now().UTC().Truncate(time.Microsecond)
	k.Revoked = &now
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateAPIKey(k) })
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.GetAPIKey("key_1")
		if err != nil || !bytes.Equal(got.Hash, []byte{1, 2, 3}) || got.Scope != kvitt.ScopeTill || got.TillID != "1" || got.Revoked == nil || !got.Revoked.Equal(now) {
			t.Errorf("key = %+v, %v", got, err)
		}
		return nil
	})
}

func testIdempotency(t *testing.T, s kvitt.Store) {
	old := &kvitt.IdempotencyRecord{Key: "a:1", RequestHash: "h", Status: 201, Body: []byte(`{"id":"x"}`), Created: time.Now().Add(-48 * time.Hour)}
	update(t, s, func(tx kvitt.Tx) error { return tx.PutIdempotency(old) })
	err := s.Update(ctx, func(tx kvitt.Tx) error {
		return tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: "a:1", RequestHash: "other"})
	})
	wantCode(t, err, kvitt.ECONFLICT)
	update(t, s, func(tx kvitt.Tx) error {
		return tx.PutIdempotency(&kvitt.IdempotencyRecord{Key: "a:2", RequestHash: "h2", Status: 200})
	})
	update(t, s, func(tx kvitt.Tx) error {
		n, err := tx.DeleteIdempotencyBefore(time.Now().Add(-24 * time.Hour))
		if n != 1 {
			t.Errorf("deleted %d, want 1", n)
		}
		return err
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		_, err := tx.GetIdempotency("a:1")
		wantCode(t, err, kvitt.ENOTFOUND)
		r, err := tx.GetIdempotency("a:2")
		if err != nil || r.Status != 200 || r.RequestHash != "h2" {
			t.Errorf("record = %+v, %v", r, err)
		}
		return nil
	})
}

func testJobs(t *testing.T, s kvitt.Store) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.EnqueueJob(&kvitt.Job{Kind: "payment.sync", Ref: "pay_1", RunAt: t0.Add(time.Minute)}); err != nil {
			return err
		}
		// Same kind and ref: absorbed, and moved earlier.
		if err := tx.EnqueueJob(&kvitt.Job{Kind: "payment.sync", Ref: "pay_1", RunAt: t0}); err != nil {
			return err
		}
		// A later time does not postpone it.
		if err := tx.EnqueueJob(&kvitt.Job{Kind: "payment.sync", Ref: "pay_1", RunAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.EnqueueJob(&kvitt.Job{Kind: "receipt.register", Ref: "rcp_1", RunAt: t0.Add(time.Hour)})
	})
	var jobs []*kvitt.Job
	update(t, s, func(tx kvitt.Tx) (err error) {
		jobs, err = tx.ClaimJobs("w1", t0, t0.Add(30*time.Second), 10)
		return err
	})
	if len(jobs) != 1 || jobs[0].Ref != "pay_1" || jobs[0].Attempts != 1 || jobs[0].LeaseOwner != "w1" {
		t.Fatalf("claimed = %+v", jobs)
	}
	// Leased: another worker gets nothing until the lease runs out.
	update(t, s, func(tx kvitt.Tx) error {
		again, err := tx.ClaimJobs("w2", t0.Add(10*time.Second), t0.Add(40*time.Second), 10)
		if len(again) != 0 {
			t.Errorf("claimed a leased job: %+v", again)
		}
		return err
	})
	// The lease ran out (w1 died): w2 takes it over, and w1 can no longer finish it.
	update(t, s, func(tx kvitt.Tx) error {
		again, err := tx.ClaimJobs("w2", t0.Add(31*time.Second), t0.Add(61*time.Second), 10)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Errorf("takeover = %+v", again)
		}
		return err
	})
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.FinishJob(jobs[0].ID, "w1") })
	wantCode(t, err, kvitt.ECONFLICT)
	update(t, s, func(tx kvitt.Tx) error { return tx.RetryJob(jobs[0].ID, "w2", t0.Add(2*time.Minute), "timeout", false) })
	update(t, s, func(tx kvitt.Tx) error {
		none, err := tx.ClaimJobs("w3", t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
		if len(none) != 0 {
			t.Errorf("claimed before run_at: %+v", none)
		}
		return err
	})
	update(t, s, func(tx kvitt.Tx) error {
		js, err := tx.ClaimJobs("w3", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10)
		if len(js) != 1 || js[0].LastError != "timeout" || js[0].Attempts != 3 {
			t.Errorf("retry = %+v", js)
		}
		if err != nil {
			return err
		}
		return tx.RetryJob(js[0].ID, "w3", t0.Add(3*time.Minute), "gave up", true)
	})
	update(t, s, func(tx kvitt.Tx) error {
		js, err := tx.ClaimJobs("w4", t0.Add(24*time.Hour), t0.Add(25*time.Hour), 10)
		if len(js) != 1 || js[0].Kind != "receipt.register" {
			t.Errorf("a dead job was claimed, or the other was not: %+v", js)
		}
		if err != nil {
			return err
		}
		return tx.FinishJob(js[0].ID, "w4")
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		all, _ := tx.ListJobs()
		if len(all) != 1 || !all[0].Dead || all[0].LastError != "gave up" {
			t.Errorf("jobs = %+v", all)
		}
		return nil
	})
	// Cancelling removes a job even while it is leased; its worker then cannot finish it.
	update(t, s, func(tx kvitt.Tx) error { return tx.EnqueueJob(&kvitt.Job{Kind: "k", Ref: "r", RunAt: t0}) })
	var leased []*kvitt.Job
	update(t, s, func(tx kvitt.Tx) (err error) {
		leased, err = tx.ClaimJobs("w9", t0.Add(48*time.Hour), t0.Add(49*time.Hour), 10)
		return err
	})
	if len(leased) != 1 {
		t.Fatalf("claimed %d", len(leased))
	}
	update(t, s, func(tx kvitt.Tx) error { return tx.CancelJob("k", "r") })
	update(t, s, func(tx kvitt.Tx) error { return tx.CancelJob("k", "none") }) // nothing to cancel is fine
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.FinishJob(leased[0].ID, "w9") })
	wantCode(t, err, kvitt.ECONFLICT)
}

func testJournal(t *testing.T, s kvitt.Store) {
	for i := 0; i < 5; i++ {
		update(t, s, func(tx kvitt.Tx) error {
			return tx.AppendJournal(&kvitt.JournalEntry{Kind: "payment.state", Ref: fmt.Sprint("pay_", i), Data: fmt.Sprintf(`{"to":"paid","n":%d}`, i)})
		})
	}
	var v kvitt.JournalVerifier
	s.View(ctx, func(tx kvitt.Tx) error {
		es, err := tx.ListJournal(0, 100)
		if err != nil || len(es) != 5 {
			t.Fatalf("journal = %d, %v", len(es), err)
		}
		for _, e := range es {
			if err := v.Check(e); err != nil {
				t.Error(err)
			}
		}
		// Any edit breaks verification.
		es[2].Data = `{"to":"refunded","n":2}`
		var v2 kvitt.JournalVerifier
		var failed bool
		for _, e := range es {
			if v2.Check(e) != nil {
				failed = true
				break
			}
		}
		if !failed {
			t.Error("edited entry passed verification")
		}
		return nil
	})
}

func testRollback(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	err := s.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.CreateSale(newSale("sale_x", "")); err != nil {
			return err
		}
		return kvitt.Errorf(kvitt.EUNPROCESSABLE, "refused")
	})
	wantCode(t, err, kvitt.EUNPROCESSABLE)
	s.View(ctx, func(tx kvitt.Tx) error {
		_, err := tx.GetSale("sale_x")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	// A read-only transaction refuses writes.
	err = s.View(ctx, func(tx kvitt.Tx) error { return tx.CreateSale(newSale("sale_y", "")) })
	if err == nil {
		t.Error("write in View succeeded")
	}
}

func testZReports(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	err := s.View(ctx, func(tx kvitt.Tx) error { _, err := tx.LastZReport("1"); return err })
	wantCode(t, err, kvitt.ENOTFOUND)
	t0 := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	for i := int64(1); i <= 2; i++ {
		update(t, s, func(tx kvitt.Tx) error {
			return tx.CreateZReport(&kvitt.ZReport{TillID: "1", Serial: i, PeriodStart: t0.Add(time.Duration(i-1) * 24 * time.Hour),
				PeriodEnd: t0.Add(time.Duration(i) * 24 * time.Hour), Data: []byte(fmt.Sprintf(`{"serial":%d}`, i))})
		})
	}
	err = s.Update(ctx, func(tx kvitt.Tx) error {
		return tx.CreateZReport(&kvitt.ZReport{TillID: "1", Serial: 2, Data: []byte(`{}`)})
	})
	wantCode(t, err, kvitt.ECONFLICT) // one Z serial, one report
	s.View(ctx, func(tx kvitt.Tx) error {
		last, err := tx.LastZReport("1")
		if err != nil || last.Serial != 2 || !last.PeriodEnd.Equal(t0.Add(48*time.Hour)) || string(last.Data) != `{"serial":2}` {
			t.Errorf("last Z = %+v, %v", last, err)
		}
		first, err := tx.GetZReport("1", 1)
		if err != nil || !first.PeriodStart.Equal(t0) {
			t.Errorf("Z 1 = %+v, %v", first, err)
		}
		_, err = tx.LastZReport("2")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
}

func testLatestSale(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	err := s.View(ctx, func(tx kvitt.Tx) error { _, err := tx.LatestSale("1"); return err })
	wantCode(t, err, kvitt.ENOTFOUND)
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"sale_a", "sale_b"} {
		sl := newSale(id, "")
		sl.Created = base.Add(time.Duration(i) * time.Minute)
		sl.Training = i == 1
		update(t, s, func(tx kvitt.Tx) error { return tx.CreateSale(sl) })
	}
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.LatestSale("1")
		if err != nil || got.ID != "sale_b" || !got.Training {
			t.Errorf("latest = %+v, %v", got, err)
		}
		a, _ := tx.GetSale("sale_a")
		if a.Training {
			t.Error("sale_a came back as a training sale")
		}
		return nil
	})
}

func testRefundReturnLines(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.CreateSale(newSale("sale_1", "")); err != nil {
			return err
		}
		return tx.CreatePayment(newPayment("pay_1", "sale_1", "R"))
	})
	r := &kvitt.Refund{ID: "ref_1", PaymentID: "pay_1", Amount: 3500, Currency: kvitt.SEK, State: kvitt.RefundPending, Reference: "RR1",
		Lines: []kvitt.ReturnLine{{Line: 0, QuantityMilli: 1000}}}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateRefund(r) })
	r.State, r.ReceiptID = kvitt.RefundSucceeded, "rcp_9"
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateRefund(r) })
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.RefundByReference("swish", "RR1")
		if err != nil || got.ReceiptID != "rcp_9" || len(got.Lines) != 1 || got.Lines[0].QuantityMilli != 1000 {
			t.Errorf("refund = %+v, %v", got, err)
		}
		_, err = tx.RefundByReference("card", "RR1")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
}

func testPendingReceipts(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	for i, reg := range []kvitt.RegistrationState{kvitt.RegistrationPending, kvitt.RegistrationRegistered, kvitt.RegistrationPending} {
		r := &kvitt.Receipt{ID: fmt.Sprint("rcp_", i), MerchantID: "m1", TillID: "1", SaleID: "s", Serial: int64(i + 1), Type: kvitt.ReceiptNormal,
			Kind: kvitt.ReceiptSale, Issued: time.Now(), Registration: reg}
		update(t, s, func(tx kvitt.Tx) error { return tx.CreateReceipt(r) })
	}
	s.View(ctx, func(tx kvitt.Tx) error {
		ps, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: "1", Registration: kvitt.RegistrationPending})
		if err != nil || len(ps) != 2 || ps[0].Serial != 1 || ps[1].Serial != 3 {
			t.Errorf("pending = %v, %v", ps, err)
		}
		return nil
	})
}
