package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// testWebhooks: subscriptions round-trip and compare and set; a delivery
// is stored once per subscription and journal entry, also when dispatchers
// race; the next pending one is the lowest journal entry; the log pages
// newest first; deleting a subscription deletes its deliveries.
func testWebhooks(t *testing.T, s kvitt.Store) {
	Seed(t, s)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	sub := &kvitt.WebhookSubscription{ID: "wh_1", MerchantID: "m1", URL: "https://erp.example/hooks", Description: "ERP",
		Events: []string{"payment", "receipt.registered"}, Enabled: true, FromSeq: 7,
		Secrets: []kvitt.WebhookSecret{{Secret: "whsec_new", Created: at}, {Secret: "whsec_old", Created: at.Add(-time.Hour), Expires: at.Add(24 * time.Hour)}}}
	update(t, s, func(tx kvitt.Tx) error { return tx.CreateWebhook(sub) })
	if sub.Version != 1 || sub.Created.IsZero() {
		t.Fatalf("created %+v", sub)
	}
	view(t, s, func(tx kvitt.Tx) error {
		got, err := tx.GetWebhook("wh_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.URL != sub.URL || len(got.Events) != 2 || got.Events[1] != "receipt.registered" || !got.Enabled || got.FromSeq != 7 ||
			len(got.Secrets) != 2 || got.Secrets[1].Secret != "whsec_old" || !got.Secrets[1].Expires.Equal(at.Add(24*time.Hour)) ||
			!got.Secrets[0].Expires.IsZero() || got.MerchantID != "m1" || got.Description != "ERP" {
			t.Errorf("read back %+v", got)
		}
		_, err = tx.GetWebhook("wh_nope")
		wantCode(t, err, kvitt.ENOTFOUND)
		return nil
	})
	stale := *sub
	sub.Enabled, sub.Notice, sub.DisabledAt = false, "failing", at
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateWebhook(sub) })
	if sub.Version != 2 {
		t.Errorf("version %d after update", sub.Version)
	}
	err := s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateWebhook(&stale) })
	wantCode(t, err, kvitt.ECONFLICT)
	view(t, s, func(tx kvitt.Tx) error {
		got, err := tx.GetWebhook("wh_1")
		if err != nil || got.Enabled || got.Notice != "failing" || !got.DisabledAt.Equal(at) {
			t.Errorf("after update %+v %v", got, err)
		}
		all, err := tx.ListWebhooks()
		if err != nil || len(all) != 1 {
			t.Errorf("list %v %v", all, err)
		}
		return nil
	})

	// Racing dispatchers add each (subscription, journal entry) once.
	const racers = 6
	var wg sync.WaitGroup
	added := make([]int, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx kvitt.Tx) error {
				added[i] = 0
				for seq := int64(8); seq <= 12; seq++ {
					ok, err := tx.AddWebhookDelivery(&kvitt.WebhookDelivery{ID: kvitt.NewID("msg"), SubscriptionID: "wh_1", Seq: seq,
						Type: "payment.updated", Ref: fmt.Sprint("pay_", seq), Payload: []byte(`{"n":1}`), NextAttempt: at})
					if err != nil {
						return err
					}
					if ok {
						added[i]++
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range added {
		total += n
	}
	if total != 5 {
		t.Fatalf("racing dispatchers added %v deliveries, want 5 in all", added)
	}
	var first *kvitt.WebhookDelivery
	view(t, s, func(tx kvitt.Tx) error {
		d, err := tx.NextWebhookDelivery("wh_1")
		if err != nil || d.Seq != 8 || d.State != kvitt.WebhookPending || string(d.Payload) != `{"n":1}` || !d.NextAttempt.Equal(at) || d.Version != 1 {
			t.Fatalf("next %+v %v", d, err)
		}
		first = d
		ids, err := tx.PendingWebhooks()
		if err != nil || len(ids) != 1 || ids[0] != "wh_1" {
			t.Errorf("pending %v %v", ids, err)
		}
		return nil
	})
	// Delivered: the next one is the following entry.
	first.State, first.Attempts, first.LastStatus, first.Delivered, first.LastAttempt = kvitt.WebhookDelivered, 2, 204, at, at
	update(t, s, func(tx kvitt.Tx) error { return tx.UpdateWebhookDelivery(first) })
	stalePtr := *first
	stalePtr.Version = 1
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.UpdateWebhookDelivery(&stalePtr) })
	wantCode(t, err, kvitt.ECONFLICT)
	view(t, s, func(tx kvitt.Tx) error {
		got, err := tx.GetWebhookDelivery(first.ID)
		if err != nil || got.State != kvitt.WebhookDelivered || got.Attempts != 2 || got.LastStatus != 204 || !got.Delivered.Equal(at) {
			t.Errorf("delivered %+v %v", got, err)
		}
		d, err := tx.NextWebhookDelivery("wh_1")
		if err != nil || d.Seq != 9 {
			t.Errorf("next after delivery %+v %v", d, err)
		}
		// The log, newest first, a page at a time.
		page, err := tx.ListWebhookDeliveries("wh_1", "", 3)
		if err != nil || len(page) != 3 || page[0].Seq != 12 || page[2].Seq != 10 {
			t.Fatalf("page 1 %v %v", page, err)
		}
		page, err = tx.ListWebhookDeliveries("wh_1", page[2].ID, 3)
		if err != nil || len(page) != 2 || page[0].Seq != 9 || page[1].Seq != 8 {
			t.Errorf("page 2 %v %v", page, err)
		}
		_, err = tx.ListWebhookDeliveries("wh_1", "msg_unknown", 3)
		wantCode(t, err, kvitt.ENOTFOUND)
		head, err := tx.LastJournalSeq()
		if err != nil || head != 0 {
			t.Errorf("journal head %d %v", head, err)
		}
		return nil
	})
	update(t, s, func(tx kvitt.Tx) error {
		if err := tx.AppendJournal(&kvitt.JournalEntry{Kind: "payment.state", Ref: "pay_1", Data: "{}"}); err != nil {
			return err
		}
		head, err := tx.LastJournalSeq()
		if err == nil && head != 1 {
			t.Errorf("journal head %d", head)
		}
		return err
	})
	// Retention deletes delivered deliveries only.
	update(t, s, func(tx kvitt.Tx) error {
		n, err := tx.DeleteWebhookDeliveriesBefore(time.Now().Add(time.Hour))
		if err == nil && n != 1 {
			t.Errorf("retention deleted %d, want the one delivered", n)
		}
		return err
	})
	update(t, s, func(tx kvitt.Tx) error { return tx.DeleteWebhook("wh_1") })
	view(t, s, func(tx kvitt.Tx) error {
		_, err := tx.GetWebhook("wh_1")
		wantCode(t, err, kvitt.ENOTFOUND)
		ids, err := tx.PendingWebhooks()
		if err != nil || len(ids) != 0 {
			t.Errorf("pending after delete %v %v", ids, err)
		}
		return nil
	})
	err = s.Update(ctx, func(tx kvitt.Tx) error { return tx.DeleteWebhook("wh_1") })
	wantCode(t, err, kvitt.ENOTFOUND)
}
