package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testSettings: a shared value is made once; of racing writers, every one
// reads the first one's value.
func testSettings(t *testing.T, s kvitt.Store) {
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx kvitt.Tx) (err error) {
				got[i], err = tx.Setting("k", fmt.Sprint("init-", i))
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if got[i] != got[0] || got[i] == "" {
			t.Fatalf("settings read %v, want one value", got)
		}
	}
	update(t, s, func(tx kvitt.Tx) error {
		v, err := tx.Setting("k", "other")
		if err == nil && v != got[0] {
			t.Errorf("setting changed to %q", v)
		}
		return err
	})
}

// testPutSetting: GetSetting finds nothing before a value is stored;
// PutSetting stores and replaces (the last write wins), also over a value
// Setting made, and a rolled-back PutSetting leaves the old value.
func testPutSetting(t *testing.T, s kvitt.Store) {
	view(t, s, func(tx kvitt.Tx) error {
		_, err := tx.GetSetting("p")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	for _, v := range []string{"one", "two", ""} {
		update(t, s, func(tx kvitt.Tx) error { return tx.PutSetting("p", v) })
		view(t, s, func(tx kvitt.Tx) error {
			got, err := tx.GetSetting("p")
			if err != nil || got != v {
				t.Errorf("after PutSetting(%q): %q, %v", v, got, err)
			}
			return nil
		})
	}
	update(t, s, func(tx kvitt.Tx) error {
		if v, err := tx.Setting("q", "init"); err != nil || v != "init" {
			t.Errorf("Setting: %q, %v", v, err)
		}
		return tx.PutSetting("q", "changed")
	})
	errRollback := fmt.Errorf("roll back")
	if err := s.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.PutSetting("q", "lost"); err != nil {
			return err
		}
		return errRollback
	}); err != errRollback {
		t.Fatalf("rolled back update: %v", err)
	}
	update(t, s, func(tx kvitt.Tx) error {
		v, err := tx.Setting("q", "init again")
		if err != nil || v != "changed" {
			t.Errorf("Setting after PutSetting and a rollback: %q, %v; want changed", v, err)
		}
		return err
	})
}

func view(t *testing.T, s kvitt.Store, fn func(kvitt.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// testRecoveryQueries: what may need a person, per till; RetryJob without
// an error starts the failure count again; JobFor finds a job by kind and ref.
func testRecoveryQueries(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	update(t, s, func(tx kvitt.Tx) error {
		open, done := newSale("sale_open", ""), newSale("sale_done", "")
		done.State = kvitt.SaleCompleted
		for _, x := range []*kvitt.Sale{open, done} {
			if err := tx.CreateSale(x); err != nil {
				return err
			}
		}
		mk := func(id, sale string, st kvitt.PaymentState, attention string) error {
			p := newPayment(id, sale, "ref_"+id)
			p.State, p.Attention = st, attention
			return tx.CreatePayment(p)
		}
		for _, c := range []struct {
			id, sale  string
			st        kvitt.PaymentState
			attention string
		}{
			{"p_paid_open", "sale_open", kvitt.PaymentPaid, ""},
			{"p_paid_done", "sale_done", kvitt.PaymentPaid, ""},
			{"p_unknown", "sale_done", kvitt.PaymentUnknown, ""},
			{"p_late", "sale_done", kvitt.PaymentPaid, kvitt.AttentionPaidAfterCancelled},
			{"p_failed", "sale_done", kvitt.PaymentFailed, ""},
			{"p_pending", "sale_open", kvitt.PaymentPending, ""},
		} {
			if err := mk(c.id, c.sale, c.st, c.attention); err != nil {
				return err
			}
		}
		for _, r := range []*kvitt.Refund{
			{ID: "r_unknown", PaymentID: "p_paid_done", Amount: 1, Currency: kvitt.SEK, State: kvitt.RefundUnknown, Reference: "rr1"},
			{ID: "r_done", PaymentID: "p_paid_done", Amount: 1, Currency: kvitt.SEK, State: kvitt.RefundSucceeded, Reference: "rr2"},
			{ID: "r_late", PaymentID: "p_paid_done", Amount: 1, Currency: kvitt.SEK, State: kvitt.RefundSucceeded, Reference: "rr3", Attention: kvitt.AttentionRefundedAfterFailed},
		} {
			if err := tx.CreateRefund(r); err != nil {
				return err
			}
		}
		ps, err := tx.RecoveryPayments("1")
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if want := "[p_paid_open p_unknown p_late p_pending]"; fmt.Sprint(ids) != want {
			t.Errorf("RecoveryPayments = %v, want %s", ids, want)
		}
		if ps, err := tx.RecoveryPayments("2"); err != nil || len(ps) != 0 {
			t.Errorf("till 2: %d payments, %v", len(ps), err)
		}
		rs, err := tx.RecoveryRefunds("1")
		if err != nil {
			return err
		}
		ids = nil
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if want := "[r_unknown r_late]"; fmt.Sprint(ids) != want {
			t.Errorf("RecoveryRefunds = %v, want %s", ids, want)
		}
		return nil
	})
	now := time.Now().UTC().Truncate(time.Microsecond)
	update(t, s, func(tx kvitt.Tx) error {
		return tx.EnqueueJob(&kvitt.Job{Kind: "payment.sync", Ref: "p_pending", RunAt: now})
	})
	// A failure, then a success: the count of failures in a row goes 1, 2, then back to 0.
	for i, lastErr := range []string{"boom", ""} {
		update(t, s, func(tx kvitt.Tx) error {
			js, err := tx.ClaimJobs("w", now, now.Add(time.Minute), 1)
			if err != nil || len(js) != 1 {
				return fmt.Errorf("claim: %d jobs, %v", len(js), err)
			}
			if js[0].Attempts != i+1 {
				t.Errorf("claim %d: attempts %d, want %d", i, js[0].Attempts, i+1)
			}
			return tx.RetryJob(js[0].ID, "w", now, lastErr, false)
		})
	}
	update(t, s, func(tx kvitt.Tx) error {
		j, err := tx.JobFor("payment.sync", "p_pending")
		if err != nil {
			return err
		}
		if j.Attempts != 0 || j.LastError != "" {
			t.Errorf("after a successful run: attempts %d, last error %q; want 0 and none", j.Attempts, j.LastError)
		}
		_, err = tx.JobFor("payment.sync", "nothing")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
}
