package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
)

// received is one request a test receiver took.
type received struct {
	header http.Header
	body   []byte
	status int
}

func (r received) id() string { return r.header.Get("webhook-id") }

func (r received) typ() string {
	var m struct{ Type string }
	json.Unmarshal(r.body, &m)
	return m.Type
}

// receiver is a merchant's endpoint: it answers with the statuses queued
// (the last one repeats) and keeps every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []received
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	if len(rc.statuses) == 0 {
		rc.statuses = []int{http.StatusNoContent}
	}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := rc.statuses[0]
		if len(rc.statuses) > 1 {
			rc.statuses = rc.statuses[1:]
		}
		rc.got = append(rc.got, received{r.Header.Clone(), body, status})
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setStatuses(s ...int) {
	rc.mu.Lock()
	rc.statuses = s
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// accepted lists the requests answered 2xx.
func (rc *receiver) accepted() []received {
	var out []received
	for _, r := range rc.requests() {
		if r.status/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

// webhookHub is a hub (fake clock, sandbox: http to loopback allowed) that
// sends webhooks with the default schedule, without jitter.
func webhookHub(t *testing.T) (*Hub, *clock) {
	h, _, clk := newHub(t)
	setupWebhooks(t, h, nil)
	return h, clk
}

func setupWebhooks(t *testing.T, h *Hub, afterSend func(d *kvitt.WebhookDelivery) bool) {
	t.Helper()
	h.Sandbox = true
	if err := h.RegisterWebhooks(ctx, WebhookOptions{Jitter: -1, Poll: time.Hour, Timeout: 5 * time.Second, afterSend: afterSend}); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, h *Hub, url string, events ...string) *kvitt.WebhookSubscription {
	t.Helper()
	in := WebhookInput{URL: &url}
	if len(events) > 0 {
		in.Events = &events
	}
	s, err := h.CreateWebhook(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pump runs the dispatcher now, then every job due, until none is due at
// the hub's clock.
func pump(t *testing.T, h *Hub) {
	t.Helper()
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		return tx.EnqueueJob(&kvitt.Job{Kind: jobWebhookDispatch, Ref: "journal", RunAt: h.now()})
	}); err != nil {
		t.Fatal(err)
	}
	drain(t, h)
}

// drain runs the jobs due at the hub's clock, one batch after the other,
// until none is due.
func drain(t *testing.T, h *Hub) {
	t.Helper()
	owner := fmt.Sprintf("test-%p", h)
	for range 200 {
		var js []*kvitt.Job
		now := h.now()
		if err := h.Store.Update(ctx, func(tx kvitt.Tx) (err error) {
			js, err = tx.ClaimJobs(owner, now, now.Add(jobLease), 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(js) == 0 {
			return
		}
		for _, j := range js {
			func() {
				defer func() {
					if v := recover(); v != nil && v != (processDied{}) {
						panic(v)
					}
				}()
				h.runJob(ctx, owner, j)
			}()
		}
	}
	t.Fatal("jobs still due after 200 rounds")
}

// processDied, panicked by a job handler, ends the job in drain as if its
// process had died: nothing of it is stored, its lease stays.
type processDied struct{}

// cashSaleWithRefund makes a paid, completed cash sale and refunds part of it.
func cashSaleWithRefund(t *testing.T, h *Hub) *kvitt.Payment {
	t.Helper()
	s := sale(t, h, 10000)
	p, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CompleteSale(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateRefund(ctx, p.ID, RefundInput{Amount: 3000}); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantedTypes maps the journal after seq to the event types a
// subscription with filters gets, in journal order.
func wantedTypes(t *testing.T, h *Hub, after int64, filters ...string) []string {
	t.Helper()
	kinds := map[string]string{"payment.state": "payment.updated", "refund.state": "refund.updated", "receipt.issued": "receipt.issued",
		"receipt.registered": "receipt.registered", "z_report": "report.z", "order.state": "order.updated"}
	var out []string
	h.Store.View(ctx, func(tx kvitt.Tx) error {
		es, err := tx.ListJournal(after, 10000)
		for _, e := range es {
			if typ, ok := kinds[e.Kind]; ok && wants(filters, typ) {
				out = append(out, typ)
			}
		}
		return err
	})
	return out
}

func typesOf(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.typ())
	}
	return out
}

func verifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// TestWebhooksDeliveredInOrder: a sale, its receipt and a refund reach the
// endpoint in journal order, each message signed as Standard Webhooks says
// (checked by its official Go library, timestamp tolerance included), in
// its shape, without card data; a filter selects; another merchant's
// subscription gets nothing.
func TestWebhooksDeliveredInOrder(t *testing.T) {
	h, _ := webhookHub(t)
	h.Now = time.Now // the library checks webhook-timestamp against the real clock
	all := newReceiver(t)
	receipts := newReceiver(t)
	other := newReceiver(t)
	sAll := subscribe(t, h, all.URL+"/hooks")
	sReceipts := subscribe(t, h, receipts.URL, "receipt", "report.z")
	if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
		return tx.CreateMerchant(&kvitt.Merchant{ID: "m2", Name: "Other AB", Country: "SE", Currency: kvitt.SEK})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateWebhook(ctx, WebhookInput{MerchantID: "m2", URL: &other.URL}); err != nil {
		t.Fatal(err)
	}
	p := cashSaleWithRefund(t, h)
	if _, err := h.Report(ctx, "1", report.Z); err != nil {
		t.Fatal(err)
	}
	pump(t, h)

	want := wantedTypes(t, h, sAll.FromSeq, "*")
	if len(want) < 5 || !slices.Contains(want, "refund.updated") || !slices.Contains(want, "report.z") {
		t.Fatalf("journal gives events %v", want)
	}
	got := all.requests()
	if !slices.Equal(typesOf(got), want) {
		t.Fatalf("received %v\nwant (journal order) %v", typesOf(got), want)
	}
	if w := wantedTypes(t, h, sReceipts.FromSeq, "receipt", "report.z"); !slices.Equal(typesOf(receipts.requests()), w) {
		t.Errorf("receipt subscription got %v, want %v", typesOf(receipts.requests()), w)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("another merchant's endpoint got %d messages", n)
	}
	wh := verifier(t, sAll.Secrets[0].Secret)
	ids := map[string]bool{}
	for _, r := range got {
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("message %s does not verify: %v", r.id(), err)
		}
		if ids[r.id()] || !strings.HasPrefix(r.id(), "msg_") {
			t.Errorf("webhook-id %q repeated or malformed", r.id())
		}
		ids[r.id()] = true
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var m struct {
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(r.body, &m); err != nil || m.Timestamp.IsZero() || len(m.Data) < 2 {
			t.Errorf("body %s: %v", r.body, err)
		}
		if b := strings.ToLower(string(r.body)); strings.Contains(b, "card") || strings.Contains(b, "pan") {
			t.Errorf("card data in %s", r.body)
		}
	}
	// The payment's events carry its ids and till, store and merchant.
	var first struct {
		Data paymentEventData `json:"data"`
	}
	json.Unmarshal(got[0].body, &first)
	if d := first.Data; d.ID != p.ID || d.TillID != "1" || d.StoreID != "s1" || d.MerchantID != "m1" || d.Currency != "SEK" || d.State == "" {
		t.Errorf("payment event %+v", d)
	}
	// A wrong secret does not verify.
	if err := verifier(t, sReceipts.Secrets[0].Secret).Verify(got[0].body, got[0].header); err == nil {
		t.Error("another subscription's secret verifies the message")
	}
	// The log: each delivered after one attempt.
	log, err := h.WebhookDeliveries(ctx, sAll.ID, "", 0)
	if err != nil || len(log) != len(want) {
		t.Fatalf("log %d entries, %v", len(log), err)
	}
	for _, d := range log {
		if d.State != kvitt.WebhookDelivered || d.Attempts != 1 || d.LastStatus != http.StatusNoContent {
			t.Errorf("log entry %+v", d)
		}
	}
	// Running the dispatcher again adds nothing.
	pump(t, h)
	if n := len(all.requests()); n != len(want) {
		t.Errorf("after another dispatch: %d messages, want %d", n, len(want))
	}
}

// TestWebhookRetriedUntilAccepted: an endpoint that fails three times gets
// the event at the fourth attempt, after the back-off, with the same
// webhook-id each time; the payment's later events wait behind it.
func TestWebhookRetriedUntilAccepted(t *testing.T) {
	h, clk := webhookHub(t)
	rc := newReceiver(t, 500, 503, 404, 204)
	sub := subscribe(t, h, rc.URL, "payment")
	s := sale(t, h, 10000)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 4000}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 6000}); err != nil {
		t.Fatal(err)
	}
	want := wantedTypes(t, h, sub.FromSeq, "payment")
	if len(want) < 2 {
		t.Fatalf("events %v", want)
	}
	pump(t, h)
	for i, wait := range DefaultWebhookSchedule[:3] {
		if n := len(rc.requests()); n != i+1 {
			t.Fatalf("after %d failures: %d requests", i, n)
		}
		clk.Advance(wait - time.Millisecond)
		drain(t, h)
		if n := len(rc.requests()); n != i+1 {
			t.Fatalf("retried before its back-off (%v): %d requests", wait, n)
		}
		clk.Advance(time.Millisecond)
		drain(t, h)
	}
	got := rc.requests()
	if len(got) != 3+len(want) {
		t.Fatalf("%d requests, want 3 failures and %d events", len(got), len(want))
	}
	wh := verifier(t, sub.Secrets[0].Secret)
	for i, r := range got {
		if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
		if i < 4 && (r.id() != got[0].id() || string(r.body) != string(got[0].body)) {
			t.Errorf("attempt %d is another message: %s", i+1, r.id())
		}
	}
	if got[0].header.Get("webhook-timestamp") == got[3].header.Get("webhook-timestamp") {
		t.Error("an attempt's timestamp is not its own")
	}
	if !slices.Equal(typesOf(rc.accepted()), want) {
		t.Errorf("accepted %v, want %v", typesOf(rc.accepted()), want)
	}
	log, _ := h.WebhookDeliveries(ctx, sub.ID, "", 0)
	d := log[len(log)-1]
	if d.ID != got[0].id() || d.State != kvitt.WebhookDelivered || d.Attempts != 4 || d.LastStatus != 204 || d.LastError != "" {
		t.Errorf("log of the retried delivery %+v", d)
	}
}

// TestWebhookResentAfterCrash: the process dies after the endpoint took a
// message and before the outcome was stored; after the job's lease runs
// out the message is sent again with the same webhook-id, and once only.
func TestWebhookResentAfterCrash(t *testing.T) {
	h, _, clk := newHub(t)
	var crashed sync.Once
	setupWebhooks(t, h, func(d *kvitt.WebhookDelivery) bool {
		die := false
		crashed.Do(func() { die = true })
		return die
	})
	send := h.jobs[jobWebhookDeliver]
	h.jobs[jobWebhookDeliver] = func(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
		next, err := send(ctx, j)
		if errors.Is(err, errSimulatedCrash) {
			panic(processDied{})
		}
		return next, err
	}
	rc := newReceiver(t)
	sub := subscribe(t, h, rc.URL, "payment")
	s := sale(t, h, 5000)
	if _, err := h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000}); err != nil {
		t.Fatal(err)
	}
	pump(t, h) // the first attempt dies after sending: its job keeps its lease
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d requests before the crash", n)
	}
	clk.Advance(jobLease / 2)
	drain(t, h)
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("sent again while the dead worker's lease held: %d requests", n)
	}
	clk.Advance(jobLease)
	drain(t, h)
	got := rc.requests()
	want := wantedTypes(t, h, sub.FromSeq, "payment")
	if len(got) != len(want)+1 || got[0].id() != got[1].id() || string(got[0].body) != string(got[1].body) {
		t.Fatalf("after the crash: %v", typesOf(got))
	}
	if !slices.Equal(typesOf(got[1:]), want) {
		t.Errorf("received %v, want %v", typesOf(got[1:]), want)
	}
	d, _ := h.WebhookDeliveries(ctx, sub.ID, "", 0)
	if first := d[len(d)-1]; first.State != kvitt.WebhookDelivered || first.ID != got[0].id() {
		t.Errorf("log %+v", first)
	}
}

// TestWebhookRedelivery: a delivered message is sent again on request with
// its webhook-id; a disabled subscription refuses.
func TestWebhookRedelivery(t *testing.T) {
	h, _ := webhookHub(t)
	rc := newReceiver(t)
	sub := subscribe(t, h, rc.URL, "payment.updated")
	s := sale(t, h, 5000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 5000})
	pump(t, h)
	log, err := h.WebhookDeliveries(ctx, sub.ID, "", 0)
	if err != nil || len(log) == 0 {
		t.Fatal(log, err)
	}
	before := len(rc.requests())
	d := log[len(log)-1]
	if _, err := h.RedeliverWebhook(ctx, sub.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	drain(t, h)
	got := rc.requests()
	if len(got) != before+1 || got[before].id() != d.ID || string(got[before].body) != string(d.Payload) {
		t.Fatalf("redelivery: %d requests, last %s", len(got), got[len(got)-1].id())
	}
	if err := verifier(t, sub.Secrets[0].Secret).VerifyIgnoringTimestamp(got[before].body, got[before].header); err != nil {
		t.Error(err)
	}
	after, _ := h.WebhookDeliveries(ctx, sub.ID, "", 0)
	if r := after[len(after)-1]; r.State != kvitt.WebhookDelivered || r.Attempts != 1 {
		t.Errorf("redelivered %+v", r)
	}
	_, err = h.RedeliverWebhook(ctx, sub.ID, "msg_unknown")
	wantErr(t, err, kvitt.ENOTFOUND, "")
	off := false
	if _, err := h.UpdateWebhook(ctx, sub.ID, WebhookInput{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	_, err = h.RedeliverWebhook(ctx, sub.ID, d.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
}

// TestWebhookSecretRotation: during the grace period each message carries
// a signature under the new secret and one under the old, and each
// verifies with its secret; afterwards only the new one signs.
func TestWebhookSecretRotation(t *testing.T) {
	h, clk := webhookHub(t)
	rc := newReceiver(t)
	sub := subscribe(t, h, rc.URL, "payment")
	old := sub.Secrets[0].Secret
	rot, err := h.RotateWebhookSecret(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh := rot.Secrets[0].Secret
	if fresh == old || !strings.HasPrefix(fresh, "whsec_") || len(rot.Secrets) != 2 {
		t.Fatalf("rotated %+v", rot.Secrets)
	}
	pay := func() received {
		s := sale(t, h, 1000)
		h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000})
		pump(t, h)
		got := rc.requests()
		return got[len(got)-1]
	}
	during := pay()
	if n := len(strings.Fields(during.header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("during the grace period: %d signatures", n)
	}
	for _, secret := range []string{old, fresh} {
		if err := verifier(t, secret).VerifyIgnoringTimestamp(during.body, during.header); err != nil {
			t.Errorf("during the grace period: %v", err)
		}
	}
	// Each signature is the one of its secret.
	sigs := strings.Fields(during.header.Get("webhook-signature"))
	for i, secret := range []string{fresh, old} {
		h1 := during.header.Clone()
		h1.Set("webhook-signature", sigs[i])
		if err := verifier(t, secret).VerifyIgnoringTimestamp(during.body, h1); err != nil {
			t.Errorf("signature %d does not verify with its secret: %v", i, err)
		}
	}
	clk.Advance(WebhookRotationGrace + time.Second)
	after := pay()
	if err := verifier(t, fresh).VerifyIgnoringTimestamp(after.body, after.header); err != nil {
		t.Error(err)
	}
	if err := verifier(t, old).VerifyIgnoringTimestamp(after.body, after.header); err == nil {
		t.Error("the old secret still signs after the grace period")
	}
	// A second rotation drops the expired secret.
	rot, _ = h.RotateWebhookSecret(ctx, sub.ID)
	if len(rot.Secrets) != 2 || rot.Secrets[1].Secret != fresh {
		t.Errorf("second rotation keeps %d secrets", len(rot.Secrets))
	}
}

// TestWebhookDisabledAfterWindow: an endpoint that never accepts is tried
// for more than 24 hours; then the subscription is disabled with a notice
// (in its object and the warnings), later events are queued, not sent, and
// enabling it sends them all in order.
func TestWebhookDisabledAfterWindow(t *testing.T) {
	h, clk := webhookHub(t)
	rc := newReceiver(t, 500)
	sub := subscribe(t, h, rc.URL, "payment")
	s := sale(t, h, 1000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000})
	pump(t, h)
	for _, wait := range DefaultWebhookSchedule {
		if cur, _ := h.GetWebhook(ctx, sub.ID); !cur.Enabled {
			t.Fatalf("disabled after %d attempts", len(rc.requests()))
		}
		clk.Advance(wait)
		drain(t, h)
	}
	cur, err := h.GetWebhook(ctx, sub.ID)
	if err != nil || cur.Enabled || cur.Notice == "" || cur.DisabledAt.IsZero() {
		t.Fatalf("after the window: %+v %v", cur, err)
	}
	got := rc.requests()
	if len(got) != len(DefaultWebhookSchedule)+1 {
		t.Errorf("%d attempts, want %d", len(got), len(DefaultWebhookSchedule)+1)
	}
	log, _ := h.WebhookDeliveries(ctx, sub.ID, "", 0)
	head := log[len(log)-1]
	if span := head.LastAttempt.Sub(head.FirstFailure); span < 24*time.Hour || head.State != kvitt.WebhookPending {
		t.Errorf("tried for %v only (%+v)", span, head)
	}
	if ws := h.WebhookWarnings(ctx); len(ws) != 1 || !strings.Contains(ws[0], sub.ID) {
		t.Errorf("warnings %v", ws)
	}
	// Events go on being queued, and nothing is sent.
	s2 := sale(t, h, 2000)
	h.CreatePayment(ctx, s2.ID, PaymentInput{Method: "cash", Amount: 2000})
	clk.Advance(time.Hour)
	pump(t, h)
	if n := len(rc.requests()); n != len(got) {
		t.Errorf("a disabled subscription sent %d more", n-len(got))
	}
	// Fixed and enabled again: everything, in order.
	rc.setStatuses(200)
	on := true
	if cur, err = h.UpdateWebhook(ctx, sub.ID, WebhookInput{Enabled: &on}); err != nil || cur.Notice != "" {
		t.Fatal(cur, err)
	}
	drain(t, h)
	if want := wantedTypes(t, h, sub.FromSeq, "payment"); !slices.Equal(typesOf(rc.accepted()), want) {
		t.Errorf("after enabling: %v, want %v", typesOf(rc.accepted()), want)
	}
	if ws := h.WebhookWarnings(ctx); len(ws) != 0 {
		t.Errorf("warnings after enabling: %v", ws)
	}
}

// TestWebhookGoneDisables: 410 Gone disables the subscription at once.
func TestWebhookGoneDisables(t *testing.T) {
	h, _ := webhookHub(t)
	rc := newReceiver(t, http.StatusGone)
	sub := subscribe(t, h, rc.URL, "payment")
	s := sale(t, h, 1000)
	h.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000})
	pump(t, h)
	if cur, _ := h.GetWebhook(ctx, sub.ID); cur.Enabled || !strings.Contains(cur.Notice, "410") || len(rc.requests()) != 1 {
		t.Errorf("after 410: %+v, %d requests", cur, len(rc.requests()))
	}
}

// TestWebhookInputChecked: the URL must be https (http to loopback in the
// sandbox only), the events known.
func TestWebhookInputChecked(t *testing.T) {
	h, _, _ := newHub(t)
	for _, u := range []string{"http://127.0.0.1:9/x", "ftp://example.com", "https://user:pw@example.com/", "/relative", "https://example.com/#frag"} {
		_, err := h.CreateWebhook(ctx, WebhookInput{URL: &u})
		wantErr(t, err, kvitt.EUNPROCESSABLE, "url")
	}
	h.Sandbox = true
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost/x", "https://erp.example.com/hooks"} {
		if _, err := h.CreateWebhook(ctx, WebhookInput{URL: &u}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	u := "http://10.0.0.1/x"
	_, err := h.CreateWebhook(ctx, WebhookInput{URL: &u})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "url")
	u = "https://erp.example.com/"
	_, err = h.CreateWebhook(ctx, WebhookInput{URL: &u, Events: &[]string{"payment", "sale"}})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "events[1]")
	_, err = h.CreateWebhook(ctx, WebhookInput{URL: &u, MerchantID: "m9"})
	wantErr(t, err, kvitt.EUNPROCESSABLE, "merchant_id")
	s, err := h.CreateWebhook(ctx, WebhookInput{URL: &u, Events: &[]string{"payment", "payment", "receipt.issued"}})
	if err != nil || !slices.Equal(s.Events, []string{"payment", "receipt.issued"}) || s.MerchantID != "m1" {
		t.Errorf("%+v %v", s, err)
	}
}

// TestMaskMobile: only the last two digits are kept.
func TestMaskMobile(t *testing.T) {
	for in, want := range map[string]string{"+46701234567": "**********67", "7": "7", "": ""} {
		if got := maskMobile(in); got != want {
			t.Errorf("maskMobile(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTwoDispatchersNeverDuplicate: two nodes on one database run their
// dispatchers at the same time, over and over, while both take payments;
// every event is stored and delivered exactly once, in journal order.
func TestTwoDispatchersNeverDuplicate(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		ns := nodes(t, connect, 2)
		for _, n := range ns {
			setupWebhooks(t, n.Hub, nil)
		}
		rc := newReceiver(t)
		sub := subscribe(t, ns[0].Hub, rc.URL)
		job := &kvitt.Job{Kind: jobWebhookDispatch, Ref: "journal"}
		var wg sync.WaitGroup
		for i, n := range ns {
			wg.Add(2)
			go func() { // a till at this node
				defer wg.Done()
				for k := range 5 {
					s, err := n.CreateSale(ctx, SaleInput{TillID: fmt.Sprint(i + 1), Lines: []kvitt.SaleLine{line("Vara", 1000, 1000, 2500)}})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := n.CreatePayment(ctx, s.ID, PaymentInput{Method: "cash", Amount: 1000}); err != nil {
						t.Error(k, err)
					}
				}
			}()
			go func() { // this node's dispatcher, run as if its lease overlapped the other's
				defer wg.Done()
				for range 20 {
					if _, err := n.jobs[jobWebhookDispatch](ctx, job); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		for _, n := range ns {
			if _, err := n.jobs[jobWebhookDispatch](ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		// Both nodes' workers deliver, at the same time.
		for range 3 {
			var dw sync.WaitGroup
			for _, n := range ns {
				dw.Add(1)
				go func() { defer dw.Done(); drain(t, n.Hub) }()
			}
			dw.Wait()
		}
		want := wantedTypes(t, ns[0].Hub, sub.FromSeq, "*")
		if len(want) < 10 {
			t.Fatalf("events %v", want)
		}
		got := rc.requests()
		seen := map[string]bool{}
		for _, r := range got {
			if seen[r.id()] {
				t.Errorf("message %s delivered twice", r.id())
			}
			seen[r.id()] = true
		}
		if !slices.Equal(typesOf(got), want) {
			t.Errorf("received %d %v\nwant %d %v", len(got), typesOf(got), len(want), want)
		}
		log, err := ns[1].WebhookDeliveries(ctx, sub.ID, "", 1000)
		if err != nil || len(log) != len(want) {
			t.Errorf("log holds %d deliveries, want %d (%v)", len(log), len(want), err)
		}
		// The payload follows the journal entry it came from.
		for i := 1; i < len(log); i++ {
			if log[i].Seq >= log[i-1].Seq {
				t.Errorf("log out of order at %d", i)
			}
		}
	})
}

// TestOrderWebhook: an order's change of state, journaled as hub/orders.go
// is to journal it (journalOrder before CreateOrder and UpdateOrder),
// reaches the endpoint without the national id and with the mobile number
// masked; a change that keeps the state journals nothing.
func TestOrderWebhook(t *testing.T) {
	h, _ := webhookHub(t)
	rc := newReceiver(t)
	sub := subscribe(t, h, rc.URL, "order")
	o := &kvitt.Order{ID: "ord_1", MerchantID: "m1", Number: "A-1001", Method: "svea", Currency: kvitt.SEK, State: kvitt.OrderCreating, Total: 12500,
		Customer: kvitt.CustomerCard{Name: "Anna Andersson", MobileNumber: "+46701234567", Country: "SE", NationalID: "198112289874", Email: "anna@example.com"}}
	step := func(fn func(o *kvitt.Order)) {
		t.Helper()
		if err := h.Store.Update(ctx, func(tx kvitt.Tx) error {
			cur, err := tx.GetOrder(o.ID)
			if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
				if err := journalOrder(tx, h.now(), o); err != nil {
					return err
				}
				return tx.CreateOrder(o)
			}
			if err != nil {
				return err
			}
			fn(cur)
			if err := journalOrder(tx, h.now(), cur); err != nil {
				return err
			}
			return tx.UpdateOrder(cur)
		}); err != nil {
			t.Fatal(err)
		}
	}
	step(nil)
	step(func(o *kvitt.Order) { o.State = kvitt.OrderAwaitingPayment })
	step(func(o *kvitt.Order) { o.Message = "no state change" })
	step(func(o *kvitt.Order) { o.State, o.Reference = kvitt.OrderPaid, "svea-77" })
	pump(t, h)
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d order events, want 3 (created, awaiting_payment, paid)", len(got))
	}
	wh := verifier(t, sub.Secrets[0].Secret)
	for _, r := range got {
		if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Error(err)
		}
		for _, secret := range []string{"198112289874", "8112289874", "1234567", "Anna", "anna@"} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("personal data %q in %s", secret, r.body)
			}
		}
	}
	var last struct {
		Type string       `json:"type"`
		Data orderJournal `json:"data"`
	}
	json.Unmarshal(got[2].body, &last)
	if d := last.Data; last.Type != "order.updated" || d.ID != "ord_1" || d.Number != "A-1001" || d.State != "paid" || d.PreviousState != "awaiting_payment" ||
		d.Total != 12500 || d.CustomerMobile != "**********67" || d.Reference != "svea-77" || d.MerchantID != "m1" {
		t.Errorf("order event %+v", last)
	}
}
