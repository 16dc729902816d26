package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Browser test of the back office's webhooks section (/admin/webhooks,
// docs/backoffice.md, docs/webhooks.md), with a receiver on 127.0.0.1 (the
// sandbox allows http there).

// webhookReceived is one request the test's receiver got.
type webhookReceived struct {
	body   []byte
	header http.Header
}

// TestAdminWebhooks: a bad URL is refused next to its field; a
// subscription to payments shows its secret once; a cash sale made through
// the API reaches the receiver, signed with that secret, and is in the
// delivery log as delivered; redeliver sends it again with its webhook-id;
// a new secret is shown once; disable; a back-office user sees the list
// and is refused a change in the API's words; delete asks first.
func TestAdminWebhooks(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)

	received := make(chan webhookReceived, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- webhookReceived{body: b, header: r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	if !strings.HasPrefix(recv.URL, "http://127.0.0.1:") {
		t.Fatalf("the receiver is not on 127.0.0.1: %s", recv.URL)
	}
	// next waits for a request the receiver got that ok accepts.
	next := func(what string, ok func(webhookReceived) bool) webhookReceived {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case got := <-received:
				if ok(got) {
					return got
				}
			case <-timeout:
				t.Fatalf("the receiver did not get %s", what)
			}
		}
	}

	adminSignIn(t, ctx, m, base, "webhooks", "webhooks", sh)
	adminWait(t, ctx, "the form and the empty list", `!document.getElementById("empty").hidden && document.querySelectorAll("input.wh-ev").length >= 6 && document.querySelector('input.wh-ev[value="*"]').checked`)
	sh.take(ctx, "webhooks")

	// A URL that is not https: the API's error next to the field.
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#wh-url`), "ftp://x"), chromedp.Click(chromedp.CSS(`#wh-submit`)))
	msg := text(t, ctx, `#wh-url + .field-error`)
	sh.take(ctx, "webhooks bad url")
	if !strings.Contains(msg, "https") {
		t.Errorf("the bad URL's error: %q", msg)
	}
	if n := len(call(t, "GET", base+"/v1/webhooks", "")["webhooks"].([]any)); n != 0 {
		t.Fatalf("a bad URL made %d subscriptions", n)
	}

	// The sandbox has two merchants (SE and DK): till 1's is chosen.
	var merchant string
	settings := call(t, "GET", base+"/v1/settings/methods", "")
	for _, st := range settings["stores"].([]any) {
		for _, tl := range settings["tills"].([]any) {
			if tl.(map[string]any)["till_id"] == "1" && tl.(map[string]any)["store_id"] == st.(map[string]any)["id"] {
				merchant = st.(map[string]any)["merchant_id"].(string)
			}
		}
	}
	adminWait(t, ctx, "the merchants to choose from", `!document.getElementById("wh-merchant-fld").hidden && document.querySelector('#wh-merchant option[value="`+merchant+`"]') !== null`)

	// Payments only, to the receiver: the secret is shown once.
	adminDo(t, ctx, chromedp.SetValue(chromedp.CSS(`#wh-url`), recv.URL+"/kvitt/webhooks"), chromedp.SendKeys(chromedp.CSS(`#wh-desc`), "ERP"),
		chromedp.SetValue(chromedp.CSS(`#wh-merchant`), merchant),
		chromedp.Click(chromedp.CSS(`input.wh-ev[value="*"]`)), chromedp.Click(chromedp.CSS(`input.wh-ev[value="payment"]`)),
		chromedp.Click(chromedp.CSS(`#wh-submit`)))
	adminWait(t, ctx, "the secret and the subscription", `document.getElementById("wh-secret-value").value.indexOf("whsec_") === 0 && document.querySelectorAll("#rows tr").length === 1 && document.querySelector("#wh-url + .field-error") === null`)
	secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#wh-secret-value`)))
	if err != nil {
		t.Fatal(err)
	}
	sh.take(ctx, "webhook created")
	subs := call(t, "GET", base+"/v1/webhooks", "")["webhooks"].([]any)
	sub := subs[0].(map[string]any)
	id := sub["id"].(string)
	if sub["url"] != recv.URL+"/kvitt/webhooks" || sub["merchant_id"] != merchant || sub["description"] != "ERP" || len(sub["events"].([]any)) != 1 || sub["events"].([]any)[0] != "payment" || sub["secret"] != nil {
		t.Errorf("the subscription made: %v", sub)
	}

	// A cash sale: the receiver gets its payment event, signed with the secret shown.
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kanelbulle","quantity":2,"unit_price":3500,"vat_rate":25}]}`)
	pay := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"cash","amount":7000,"tendered":10000}`)
	call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/complete", "")
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := next("the payment's event", func(r webhookReceived) bool {
		var msg struct {
			Type string `json:"type"`
			Data struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"data"`
		}
		json.Unmarshal(r.body, &msg)
		return msg.Type == "payment.updated" && msg.Data.ID == pay["id"] && msg.Data.State == "paid"
	})
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("the event does not verify with the secret shown: %v", err)
	}

	// The delivery log: delivered (refreshed until the page shows it).
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+id+`"] button.wh-logbtn`)))
	delivered := `#wh-log-rows tr[data-state="delivered"][data-event="payment.updated"]`
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+delivered+`') !== null`))
		if ok {
			break
		}
		if time.Now().After(deadline) {
			adminWait(t, ctx, "the delivery delivered in the log", `document.querySelector('`+delivered+`') !== null`)
		}
		adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#wh-log-refresh`)))
		time.Sleep(300 * time.Millisecond)
	}
	adminWait(t, ctx, "the last delivery in the list", `(document.querySelector('#rows tr[data-id="`+id+`"] td.wh-last')||{dataset:{}}).dataset.state === "delivered"`)
	sh.take(ctx, "webhook delivery log")
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/admin/webhooks?id="+id) {
		t.Errorf("the log is not in the URL: %s", loc)
	}
	if seq := text(t, ctx, delivered+` td:nth-child(3)`); seq == "" || seq == "0" {
		t.Errorf("the delivery's journal seq: %q", seq)
	}

	// Redeliver: the same message again, with its webhook-id.
	msgID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+delivered+`').dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(delivered+` button.wh-redeliver`)))
	again := next("the redelivery", func(r webhookReceived) bool { return r.header.Get("webhook-id") == msgID })
	if err := wh.Verify(again.body, again.header); err != nil {
		t.Errorf("the redelivery does not verify: %v", err)
	}

	// A new secret, shown once; both sign for 24 hours.
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+id+`"] button.wh-rotate`)))
	adminWait(t, ctx, "the new secret", `document.getElementById("wh-secret-value").value.indexOf("whsec_") === 0 && document.getElementById("wh-secret-value").value !== "`+secret+`" && !document.getElementById("wh-rotated").hidden`)
	sh.take(ctx, "webhook secret rotated")
	if until := text(t, ctx, `#wh-rotated-until`); until == "" {
		t.Error("the rotation does not say until when the old secret signs")
	}
	if got := call(t, "GET", base+"/v1/webhooks/"+id, ""); got["previous_secret_expires_at"] == nil {
		t.Errorf("no previous secret after the rotation: %v", got)
	}

	// Disable.
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+id+`"] button.wh-toggle`)))
	adminWait(t, ctx, "the subscription disabled", `(document.querySelector('#rows tr[data-id="`+id+`"]')||{dataset:{}}).dataset.enabled === "false"`)
	sh.take(ctx, "webhook disabled")
	if got := call(t, "GET", base+"/v1/webhooks/"+id, ""); got["enabled"] != false {
		t.Errorf("the subscription after Disable: %v", got)
	}

	// A back-office user reads the list; the API refuses it a change, in its words.
	call(t, "POST", base+"/v1/users", `{"username":"kontor","name":"Kim Kontor","role":"backoffice","password":"kontor-lösen-123"}`)
	bctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	signInAs(t, bctx, base, "kontor", "kontor-lösen-123", "/admin/webhooks", nil)
	adminWait(t, bctx, "the list for the back office", `document.querySelector('#rows tr[data-id="`+id+`"] td.wh-last[data-state]') !== null`)
	adminDo(t, bctx, chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+id+`"] button.wh-toggle`)))
	adminWait(t, bctx, "the API's refusal", `!document.getElementById("adm-error").hidden`)
	refusal := text(t, bctx, `#adm-error`)
	sh.take(bctx, "webhooks back office refused")
	if !strings.Contains(refusal, "may not") {
		t.Errorf("the back office's change shows %q", refusal)
	}
	if got := call(t, "GET", base+"/v1/webhooks/"+id, ""); got["enabled"] != false {
		t.Errorf("the back office changed the subscription: %v", got)
	}

	// Delete, after the confirm step.
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+id+`"] button.wh-delete`)), chromedp.WaitVisible(chromedp.CSS(`#wh-confirm-yes`)))
	sh.take(ctx, "webhook delete confirm")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#wh-confirm-yes`)))
	adminWait(t, ctx, "the list empty", `document.querySelectorAll("#rows tr").length === 0 && !document.getElementById("empty").hidden && document.getElementById("wh-log").hidden`)
	sh.take(ctx, "webhook deleted")
	if n := len(call(t, "GET", base+"/v1/webhooks", "")["webhooks"].([]any)); n != 0 {
		t.Errorf("%d subscriptions after Delete", n)
	}
}
