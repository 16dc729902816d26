package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testZReportSerials checks what a Z report relies on to close every
// receipt exactly once: Z reports keep their serial bounds; ListReceipts
// selects by serial; and, with Lock("till:<id>") held, LastReceiptSerial
// names a serial up to which every receipt is visible, while receipts are
// being issued on other connections.
func testZReportSerials(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	s.View(ctx, func(tx kvitt.Tx) error {
		n, err := tx.LastReceiptSerial("1")
		if err != nil || n != 0 {
			t.Errorf("last serial of a new till = %d, %v; want 0", n, err)
		}
		_, err = tx.LastReceiptSerial("nope")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	update(t, s, func(tx kvitt.Tx) error {
		return tx.CreateZReport(&kvitt.ZReport{TillID: "2", Serial: 1, FirstSerial: 1, LastSerial: 7, Data: []byte(`{}`)})
	})
	s.View(ctx, func(tx kvitt.Tx) error {
		z, err := tx.LastZReport("2")
		if err != nil || z.FirstSerial != 1 || z.LastSerial != 7 {
			t.Errorf("Z = %+v, %v; want serials 1–7", z, err)
		}
		return nil
	})

	// Receipts issued on many connections at once (each holding its serial
	// a moment before it commits) race Z reports that close by serial.
	const issues, zs = 40, 10
	issue := func() error {
		return s.Update(ctx, func(tx kvitt.Tx) error {
			n, err := tx.NextReceiptSerial("1")
			if err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
			return tx.CreateReceipt(&kvitt.Receipt{ID: fmt.Sprint("rcp_", n), MerchantID: "m1", TillID: "1", SaleID: "sale", Serial: n,
				Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: time.Now(), Currency: kvitt.SEK, Total: 100,
				Registration: kvitt.RegistrationNotRequired})
		})
	}
	closeZ := func() error {
		return s.Update(ctx, func(tx kvitt.Tx) error {
			if err := tx.Lock("till:1"); err != nil {
				return err
			}
			serial, from := int64(1), int64(1)
			last, err := tx.LastZReport("1")
			switch {
			case err == nil:
				serial, from = last.Serial+1, last.LastSerial+1
			case kvitt.ErrorCode(err) != kvitt.ENOTFOUND:
				return err
			}
			upTo, err := tx.LastReceiptSerial("1")
			if err != nil {
				return err
			}
			if upTo >= from {
				rs, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: "1", FromSerial: from, ToSerial: upTo})
				if err != nil {
					return err
				}
				if int64(len(rs)) != upTo-from+1 {
					return fmt.Errorf("Z %d: %d receipts visible with serials %d–%d", serial, len(rs), from, upTo)
				}
				for i, r := range rs {
					if r.Serial != from+int64(i) {
						return fmt.Errorf("Z %d: receipt %d at place %d of %d–%d", serial, r.Serial, i, from, upTo)
					}
				}
			}
			return tx.CreateZReport(&kvitt.ZReport{TillID: "1", Serial: serial, FirstSerial: from, LastSerial: upTo, Data: []byte(`{}`)})
		})
	}
	var wg sync.WaitGroup
	errs := make(chan error, issues+zs)
	for i := range issues + zs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%5 == 2 {
				errs <- closeZ()
			} else {
				errs <- issue()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := closeZ(); err != nil {
		t.Fatal(err)
	}
	s.View(ctx, func(tx kvitt.Tx) error {
		last, err := tx.LastZReport("1")
		if err != nil || last.Serial != zs+1 || last.LastSerial != issues {
			t.Fatalf("last Z = %+v, %v; want Z %d closing up to %d", last, err, zs+1, issues)
		}
		next := int64(1)
		for n := int64(1); n <= last.Serial; n++ {
			z, err := tx.GetZReport("1", n)
			if err != nil {
				t.Fatal(err)
			}
			if z.FirstSerial != next || z.LastSerial < z.FirstSerial-1 {
				t.Errorf("Z %d closes %d–%d; want it to start at %d", n, z.FirstSerial, z.LastSerial, next)
			}
			next = z.LastSerial + 1
		}
		rs, err := tx.ListReceipts(kvitt.ReceiptFilter{TillID: "1", FromSerial: 5, ToSerial: 7})
		if err != nil || len(rs) != 3 || rs[0].Serial != 5 || rs[2].Serial != 7 {
			t.Errorf("serials 5–7 = %d receipts, %v", len(rs), err)
		}
		return nil
	})
}
