package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testLists: the back office's lists (FindPayments, FindRefunds,
// FindReceipts) are newest first, filter by till, state, method, time,
// id or reference and serial, and page with the last row's id without
// repeating or skipping a row, also among rows created in one instant; a
// cursor outside the filtered list is not found.
func testLists(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	base := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	// 12 payments: tills 1 and 2 in turn, one minute apart, except that
	// the last four share one instant (the id breaks the tie).
	var payIDs []string
	update(t, s, func(tx kvitt.Tx) error {
		for i := range 12 {
			till := []string{"1", "2"}[i%2]
			sale := newSale(fmt.Sprintf("sale_%02d", i), "")
			sale.TillID = till
			if err := tx.CreateSale(sale); err != nil {
				return err
			}
			at := base.Add(time.Duration(min(i, 8)) * time.Minute)
			p := newPayment(fmt.Sprintf("pay_%02d", i), sale.ID, fmt.Sprintf("REF%02d", i))
			p.TillID, p.Created = till, at
			p.Method = []string{"swish", "cash", "card"}[i%3]
			p.State = []kvitt.PaymentState{kvitt.PaymentPaid, kvitt.PaymentDeclined}[i%4/3]
			if err := tx.CreatePayment(p); err != nil {
				return err
			}
			payIDs = append(payIDs, p.ID)
			if err := tx.CreateRefund(&kvitt.Refund{ID: fmt.Sprintf("ref_%02d", i), PaymentID: p.ID, Amount: 100, Currency: kvitt.SEK,
				State: kvitt.RefundSucceeded, Reference: fmt.Sprintf("RR%02d", i), Created: at}); err != nil {
				return err
			}
			serial, err := tx.NextReceiptSerial(till)
			if err != nil {
				return err
			}
			if err := tx.CreateReceipt(&kvitt.Receipt{ID: fmt.Sprintf("rcp_%02d", i), MerchantID: "m1", TillID: till, SaleID: sale.ID, Serial: serial,
				Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: at, Currency: kvitt.SEK, Total: 7000, Registration: kvitt.RegistrationRegistered}); err != nil {
				return err
			}
		}
		return nil
	})
	newest := slices.Clone(payIDs)
	slices.Reverse(newest)

	ids := func(f kvitt.ListFilter, list string) []string {
		t.Helper()
		var out []string
		err := s.View(ctx, func(tx kvitt.Tx) error {
			switch list {
			case "payments":
				ps, err := tx.FindPayments(f)
				for _, p := range ps {
					out = append(out, p.ID)
				}
				return err
			case "refunds":
				rs, err := tx.FindRefunds(f)
				for _, r := range rs {
					out = append(out, r.PaymentID)
				}
				return err
			default:
				rs, err := tx.FindReceipts(f)
				for _, r := range rs {
					out = append(out, "pay_"+r.ID[4:])
				}
				return err
			}
		})
		if err != nil {
			t.Fatalf("%s %+v: %v", list, f, err)
		}
		return out
	}
	want := func(got, want []string, what string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	keep := func(pred func(i int) bool) []string {
		var out []string
		for _, id := range newest {
			var i int
			fmt.Sscanf(id, "pay_%d", &i)
			if pred(i) {
				out = append(out, id)
			}
		}
		return out
	}

	for _, list := range []string{"payments", "refunds", "receipts"} {
		want(ids(kvitt.ListFilter{}, list), newest, list+": all, newest first")
		// Pages of 5 with the cursor: every row once, in order.
		var paged []string
		after := ""
		for range 10 {
			pg := ids(kvitt.ListFilter{Limit: 5, After: after}, list)
			if len(pg) == 0 {
				break
			}
			paged = append(paged, pg...)
			after = pg[len(pg)-1]
			switch list {
			case "refunds":
				after = "ref_" + after[4:]
			case "receipts":
				after = "rcp_" + after[4:]
			}
		}
		want(paged, newest, list+": paged by 5")
		till2 := keep(func(i int) bool { return i%2 == 1 })
		want(ids(kvitt.ListFilter{Tills: []string{"2"}}, list), till2, list+": till 2")
		want(ids(kvitt.ListFilter{Tills: []string{"1", "2"}}, list), newest, list+": tills 1 and 2")
		// From inclusive, To exclusive.
		want(ids(kvitt.ListFilter{From: base.Add(2 * time.Minute), To: base.Add(5 * time.Minute)}, list),
			keep(func(i int) bool { return i >= 2 && i < 5 }), list+": from 09:02 to 09:05")
		// A cursor of another till's row is not in till 2's list.
		var err error
		cursor := map[string]string{"payments": "pay_00", "refunds": "ref_00", "receipts": "rcp_00"}[list]
		s.View(ctx, func(tx kvitt.Tx) error {
			f := kvitt.ListFilter{Tills: []string{"2"}, After: cursor}
			switch list {
			case "payments":
				_, err = tx.FindPayments(f)
			case "refunds":
				_, err = tx.FindRefunds(f)
			default:
				_, err = tx.FindReceipts(f)
			}
			return nil
		})
		if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
			t.Errorf("%s: a cursor outside the list: %v", list, err)
		}
	}
	want(ids(kvitt.ListFilter{States: []string{"declined"}}, "payments"), keep(func(i int) bool { return i%4 == 3 }), "declined payments")
	want(ids(kvitt.ListFilter{Methods: []string{"cash", "card"}}, "payments"), keep(func(i int) bool { return i%3 != 0 }), "cash and card payments")
	want(ids(kvitt.ListFilter{Methods: []string{"card"}, Tills: []string{"1"}}, "refunds"), keep(func(i int) bool { return i%3 == 2 && i%2 == 0 }), "refunds of card payments at till 1")
	want(ids(kvitt.ListFilter{States: []string{"failed"}}, "refunds"), nil, "failed refunds")
	for _, q := range []string{"pay_07", "sale_07", "REF07", "ref07"} {
		want(ids(kvitt.ListFilter{Query: q}, "payments"), []string{"pay_07"}, "payments q="+q)
	}
	for _, q := range []string{"ref_07", "pay_07", "RR07"} {
		want(ids(kvitt.ListFilter{Query: q}, "refunds"), []string{"pay_07"}, "refunds q="+q)
	}
	want(ids(kvitt.ListFilter{Query: "pay_07", Tills: []string{"1"}}, "payments"), nil, "till 1's payments q=pay_07")
	// Receipt serials count per till: serial 3 is the 5th row at till 1 and the 6th at till 2.
	want(ids(kvitt.ListFilter{Serial: 3}, "receipts"), []string{"pay_05", "pay_04"}, "receipts with serial 3")
	want(ids(kvitt.ListFilter{Serial: 3, Tills: []string{"2"}}, "receipts"), []string{"pay_05"}, "till 2's receipt 3")
	want(ids(kvitt.ListFilter{Query: "sale_07"}, "receipts"), []string{"pay_07"}, "receipts q=sale_07")
	want(ids(kvitt.ListFilter{Limit: 3}, "payments"), newest[:3], "a page of 3")
}
