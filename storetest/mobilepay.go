package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testMobilePay checks what MobilePay keeps in the store: a till's pairing,
// and the webhook state every node shares (check-ins and seen signatures),
// also when nodes race.
func testMobilePay(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	// A till's pairing is stored and cleared.
	update(t, s, func(tx kvitt.Tx) error {
		tl, err := tx.GetTill("1")
		if err != nil {
			return err
		}
		tl.MobilePayBeaconID, tl.MobilePayPosID = "3fa85f64-5717-4562-b3fc-2c963f66afa6", "123456"
		return tx.UpdateTill(tl)
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		tl, _ := tx.GetTill("1")
		if tl.MobilePayBeaconID != "3fa85f64-5717-4562-b3fc-2c963f66afa6" || tl.MobilePayPosID != "123456" {
			t.Errorf("paired till reads back %q %q", tl.MobilePayBeaconID, tl.MobilePayPosID)
		}
		return nil
	})

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	put := func(beacon, token string, at time.Time) bool {
		t.Helper()
		var added bool
		update(t, s, func(tx kvitt.Tx) (err error) {
			added, err = tx.PutCheckin(&kvitt.Checkin{Method: "mobilepay", BeaconID: beacon, CustomerToken: token, At: at, Reference: "ignored"})
			return err
		})
		return added
	}
	claim := func(beacon, ref string, since time.Time) (*kvitt.Checkin, error) {
		var c *kvitt.Checkin
		err := s.Update(ctx, func(tx kvitt.Tx) (err error) { c, err = tx.ClaimCheckin("mobilepay", beacon, ref, since); return err })
		return c, err
	}
	if !put("b1", "old", base) || !put("b1", "new", base.Add(time.Minute)) || !put("b2", "other", base.Add(2*time.Minute)) {
		t.Fatal("a new check-in was not added")
	}
	if put("b1", "new", base.Add(time.Minute)) {
		t.Error("a repeated check-in was added again")
	}
	if !put("b1", "new", base.Add(time.Minute+time.Microsecond)) {
		t.Error("a second scan by the same customer (another time) was not added")
	}
	_, err := claim("b1", "ref-late", base.Add(time.Hour))
	wantCode(t, err, kvitt.ENOTFOUND)
	c, err := claim("b1", "ref-1", base)
	if err != nil || c.CustomerToken != "new" || !c.At.Equal(base.Add(time.Minute+time.Microsecond)) || c.Reference != "ref-1" || c.BeaconID != "b1" {
		t.Fatalf("claim = %+v, %v; want the newest unclaimed scan at b1", c, err)
	}
	// The same payment asking again gets its check-in, whatever since says.
	if again, err := claim("b1", "ref-1", base.Add(time.Hour)); err != nil || again.CustomerToken != "new" || !again.At.Equal(c.At) {
		t.Fatalf("claim again = %+v, %v", again, err)
	}
	if c2, err := claim("b1", "ref-2", base); err != nil || !c2.At.Equal(base.Add(time.Minute)) {
		t.Fatalf("second payment's claim = %+v, %v; want the other unclaimed scan", c2, err)
	}
	if c3, err := claim("b1", "ref-3", base); err != nil || c3.CustomerToken != "old" {
		t.Fatalf("third payment's claim = %+v, %v; want the oldest scan, the last one left", c3, err)
	}
	if _, err := claim("b1", "ref-4", base); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Fatalf("fourth claim = %v; want ENOTFOUND: every scan at b1 is claimed", err)
	}
	if c, err := claim("b2", "ref-4", base); err != nil || c.CustomerToken != "other" {
		t.Fatalf("claim at b2 = %+v, %v", c, err)
	}
	var n int
	update(t, s, func(tx kvitt.Tx) (err error) {
		n, err = tx.DeleteCheckinsBefore(base.Add(90 * time.Second))
		return err
	})
	if n != 3 {
		t.Errorf("deleted %d old check-ins, want the 3 at b1", n)
	}

	// Racing claims of one beacon's scans: each scan goes to one payment,
	// and each payment gets one scan.
	const scans, payments = 5, 12
	for i := range scans {
		put("race", fmt.Sprintf("tok-%d", i), base.Add(time.Duration(i)*time.Second))
	}
	got := make([]*kvitt.Checkin, payments)
	var wg sync.WaitGroup
	for i := range payments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; ; attempt++ {
				c, err := claim("race", fmt.Sprintf("pay-%d", i%(payments-2)), base)
				if kvitt.ErrorCode(err) == kvitt.ECONFLICT && attempt < 20 {
					continue
				}
				if err == nil {
					got[i] = c
				} else if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
					t.Errorf("racing claim: %v", err)
				}
				return
			}
		}()
	}
	wg.Wait()
	byToken, byRef := map[string]string{}, map[string]string{}
	for _, c := range got {
		if c == nil {
			continue
		}
		if r, ok := byToken[c.CustomerToken]; ok && r != c.Reference {
			t.Errorf("scan %s claimed by %s and %s", c.CustomerToken, r, c.Reference)
		}
		if tok, ok := byRef[c.Reference]; ok && tok != c.CustomerToken {
			t.Errorf("payment %s claimed %s and %s", c.Reference, tok, c.CustomerToken)
		}
		byToken[c.CustomerToken], byRef[c.Reference] = c.Reference, c.CustomerToken
	}
	if len(byToken) != scans {
		t.Errorf("%d of %d scans claimed by %d racing payments", len(byToken), scans, payments-2)
	}

	// Seen signatures: once until they expire, and of racers exactly one first.
	see := func(key string, now time.Time) bool {
		t.Helper()
		var first bool
		update(t, s, func(tx kvitt.Tx) (err error) { first, err = tx.SeeOnce(key, now, now.Add(10*time.Minute)); return err })
		return first
	}
	if !see("sig-a", base) || see("sig-a", base.Add(time.Minute)) || !see("sig-b", base) {
		t.Error("a signature is not seen exactly once")
	}
	if !see("sig-a", base.Add(11*time.Minute)) || see("sig-a", base.Add(12*time.Minute)) {
		t.Error("an expired signature is not new again, or its renewal did not hold")
	}
	var firsts sync.Map
	wg = sync.WaitGroup{}
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first bool
			err := s.Update(ctx, func(tx kvitt.Tx) (err error) {
				first, err = tx.SeeOnce("sig-race", base, base.Add(time.Hour))
				return err
			})
			if err != nil && kvitt.ErrorCode(err) != kvitt.ECONFLICT {
				t.Errorf("racing SeeOnce: %v", err)
			}
			if first {
				firsts.Store(i, true)
			}
		}()
	}
	wg.Wait()
	count := 0
	firsts.Range(func(_, _ any) bool { count++; return true })
	if count != 1 {
		t.Errorf("%d racing deliveries of one signature were taken as new, want 1", count)
	}
	update(t, s, func(tx kvitt.Tx) (err error) { n, err = tx.DeleteSeenBefore(base.Add(30 * time.Minute)); return err })
	if n != 2 || see("sig-race", base.Add(time.Minute)) {
		t.Errorf("deleted %d expired signatures, want 2 (sig-a, sig-b), and sig-race kept", n)
	}
}
