package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testBookkeeping: Z reports are listed by when they were taken; a Z
// report is marked exported once, also when exports race; an export's
// file comes back byte for byte; a store's accounts are set and replaced.
func testBookkeeping(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	t0 := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, z := range []struct {
		till   string
		serial int64
		end    time.Time
	}{{"1", 1, t0}, {"1", 2, t0.Add(day)}, {"1", 3, t0.Add(2 * day)}, {"2", 1, t0.Add(day)}} {
		update(t, s, func(tx kvitt.Tx) error {
			return tx.CreateZReport(&kvitt.ZReport{TillID: z.till, Serial: z.serial, PeriodStart: z.end.Add(-day), PeriodEnd: z.end,
				FirstSerial: 1, Data: []byte(fmt.Sprintf(`{"serial":%d}`, z.serial))})
		})
	}
	s.View(ctx, func(tx kvitt.Tx) error {
		zs, err := tx.ListZReportsEnded(t0.Add(day), t0.Add(2*day)) // the end is exclusive
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, z := range zs {
			got = append(got, fmt.Sprintf("%s/%d %s", z.TillID, z.Serial, z.Data))
		}
		if want := `[1/2 {"serial":2} 2/1 {"serial":1}]`; fmt.Sprint(got) != want {
			t.Errorf("ListZReportsEnded = %v, want %s", got, want)
		}
		if zs, err := tx.ListZReportsEnded(t0.Add(3*day), t0.Add(4*day)); err != nil || len(zs) != 0 {
			t.Errorf("empty period: %d, %v", len(zs), err)
		}
		_, _, err = tx.ZReportExport("1", 2)
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})

	at := t0.Add(3 * day).Truncate(time.Microsecond)
	update(t, s, func(tx kvitt.Tx) error { return tx.MarkZReportExported("1", 2, "exp_1", at) })
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.MarkZReportExported("1", 2, "exp_2", at) })
	wantCode(t, err, kvitt.ECONFLICT)
	// A mark in a transaction that rolls back leaves nothing.
	err = s.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.MarkZReportExported("1", 1, "exp_3", at); err != nil {
			return err
		}
		return kvitt.Errorf(kvitt.ECONFLICT, "roll back")
	})
	wantCode(t, err, kvitt.ECONFLICT)
	s.View(ctx, func(tx kvitt.Tx) error {
		id, when, err := tx.ZReportExport("1", 2)
		if err != nil || id != "exp_1" || !when.Equal(at) {
			t.Errorf("ZReportExport = %q %v %v", id, when, err)
		}
		_, _, err = tx.ZReportExport("1", 1)
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})

	// Racing exports of one Z report: exactly one marks it.
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(tx kvitt.Tx) error {
				return tx.MarkZReportExported("1", 3, fmt.Sprint("exp_race_", i), at)
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch kvitt.ErrorCode(err) {
		case "":
			ok++
		case kvitt.ECONFLICT:
		default:
			t.Errorf("racing mark: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d racing marks succeeded, want 1 (%v)", ok, errs)
	}

	// An export's data comes back byte for byte (a SIE file is code page 437).
	data := []byte("#FNAMN \"B\x94cker\"\r\n\x00\xff")
	update(t, s, func(tx kvitt.Tx) error { return tx.PutBookkeepingExport("exp_1", at, data) })
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.PutBookkeepingExport("exp_1", at, []byte("x")) })
	wantCode(t, err, kvitt.ECONFLICT)
	s.View(ctx, func(tx kvitt.Tx) error {
		got, err := tx.GetBookkeepingExport("exp_1")
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("export = %q, %v", got, err)
		}
		_, err = tx.GetBookkeepingExport("exp_none")
		wantCode(t, err, kvitt.ENOTFOUND)
		_, err = tx.BookkeepingAccounts("s1")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})

	for _, v := range []string{`{"tips":"2890"}`, `{"tips":"2820","series":"K"}`} {
		update(t, s, func(tx kvitt.Tx) error { return tx.PutBookkeepingAccounts("s1", []byte(v)) })
		s.View(ctx, func(tx kvitt.Tx) error {
			got, err := tx.BookkeepingAccounts("s1")
			if err != nil || string(got) != v {
				t.Errorf("accounts = %s, %v; want %s", got, err, v)
			}
			return nil
		})
	}
}
