package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/svea"
)

// svEnv is a kvitt installation with Svea Instore against the simulator:
// the back office's API on a stable loopback address (Svea's callbacks go
// there too), and a process (store, hub, worker) that can be stopped
// (callbacks then fail: lost) and started again on the same SQLite file.
type svEnv struct {
	t        *testing.T
	dir      string
	log      *syncBuffer
	sim      *simsvea.Sim
	url      string
	target   atomic.Pointer[handlerBox]
	lifetime time.Duration

	db         *sqlstore.DB
	h          *hub.Hub
	stopWorker func()
	starts     int
}

func newSvEnv(t *testing.T, statusInterval, lifetime time.Duration) *svEnv {
	t.Helper()
	e := &svEnv{t: t, dir: t.TempDir(), log: &syncBuffer{}, lifetime: lifetime}
	e.target.Store(&handlerBox{downHandler{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.target.Load().h.ServeHTTP(w, r) })}
	go srv.Serve(ln)
	e.url = "http://" + ln.Addr().String()
	if e.sim, err = simsvea.New(simsvea.Options{StatusInterval: statusInterval}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.stop()
		srv.Close()
		e.sim.Close()
		if t.Failed() {
			t.Logf("kvitt log:\n%s", e.log.String())
		}
	})
	e.start()
	return e
}

// start opens the store, the hub with Svea Instore, the API and the worker.
func (e *svEnv) start() {
	t := e.t
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(e.log, nil))
	h := hub.New(db, logger)
	h.Sandbox = true
	p, err := svea.NewProvider(svea.Config{
		Client:   &svea.Client{BaseURL: e.sim.URL(), MerchantID: e.sim.MerchantID(), Password: e.sim.Password(), HTTP: e.sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", CallbackBaseURL: e.url, StatusInterval: e.sim.StatusInterval(), LinkLifetime: e.lifetime})
	if err != nil {
		t.Fatal(err)
	}
	h.RegisterOrderProvider(p, hub.OrderOptions{MerchantID: merchantID, Customer: e.sim.Customer(),
		PollInterval: 200 * time.Millisecond, ExpiryGrace: 50 * time.Millisecond})
	err = db.Update(ctx, func(tx kvitt.Tx) error {
		if _, err := tx.GetMerchant(merchantID); err == nil {
			return nil
		}
		return tx.CreateMerchant(&kvitt.Merchant{ID: merchantID, Name: "Testbutiken AB", OrgNr: "5560997982", Country: "SE",
			Currency: kvitt.SEK, VATRates: kvitt.DefaultVATRates("SE")})
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(adminKey))
	api := kvitthttp.NewServer(&kvitthttp.Server{Hub: h, Store: db, Logger: logger, AdminKeyHash: sum[:]})
	e.db, e.h = db, h
	e.target.Store(&handlerBox{api})
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.starts++
	owner := fmt.Sprintf("svea-e2e-%d", e.starts)
	go func() { defer close(done); h.RunWorker(wctx, owner) }()
	e.stopWorker = func() { cancel(); <-done }
}

// stop takes kvitt down: the API (and Svea's callbacks) answer 503.
func (e *svEnv) stop() {
	if e.h == nil {
		return
	}
	e.target.Store(&handlerBox{downHandler{}})
	e.stopWorker()
	e.h.Close()
	e.db.Close()
	e.h, e.db = nil, nil
}

type svOrder struct {
	ID        string `json:"id"`
	Number    string `json:"number"`
	State     string `json:"state"`
	Icon      string `json:"icon"`
	Display   string `json:"display"`
	Reference string `json:"reference"`
	Attention string `json:"attention"`
	Link      struct {
		MerchantOrderNumber string `json:"merchant_order_number"`
		URL                 string `json:"url"`
		SMSSent             bool   `json:"sms_sent"`
	} `json:"link"`
	Links []struct {
		MerchantOrderNumber string `json:"merchant_order_number"`
		State               string `json:"state"`
	} `json:"links"`
}

func (e *svEnv) call(method, path, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if res.StatusCode >= 300 {
		e.t.Logf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	return res.StatusCode
}

func (e *svEnv) order(id string) svOrder {
	var o svOrder
	if st := e.call("GET", "/v1/orders/"+id, "", &o); st != 200 {
		e.t.Fatalf("GET order: %d", st)
	}
	return o
}

func (e *svEnv) waitOrder(id, state string) svOrder {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		o := e.order(id)
		if o.State == state {
			return o
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order %s is %s, not %s", id, o.State, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *svEnv) picking() []string {
	var out struct {
		Orders []svOrder `json:"orders"`
	}
	e.call("GET", "/v1/picking-list", "", &out)
	var ns []string
	for _, o := range out.Orders {
		ns = append(ns, o.Number)
	}
	return ns
}

func svOrderBody(number string, qty int) string {
	return fmt.Sprintf(`{"number":%q,"customer":{"name":"Anna Svensson","mobile_number":"0701234567","country":"SE","email":"anna@example.se"},
"lines":[{"article_number":"A1","name":"Stol","quantity":%d,"unit_price":49900,"vat_rate":25},{"name":"Frakt","quantity":1,"unit_price":9900,"vat_rate":25}]}`, number, qty)
}

// TestSveaOrderToPickingList is issue 10's "done when": an order is
// created, the customer gets the SMS, pays through the link, Svea calls
// back, and the order is on the picking list with Svea's reference.
func TestSveaOrderToPickingList(t *testing.T) {
	e := newSvEnv(t, 50*time.Millisecond, 0)
	var o svOrder
	if st := e.call("POST", "/v1/orders", svOrderBody("5001", 1), &o); st != 201 {
		t.Fatal(st)
	}
	if o.State != "awaiting_payment" || o.Display != o.Link.URL || !o.Link.SMSSent || len(e.picking()) != 0 {
		t.Fatalf("%+v", o)
	}
	sms := e.sim.Outbox()
	if len(sms) != 1 || sms[0].URL != o.Link.URL {
		t.Fatalf("outbox %+v", sms)
	}
	// The customer opens the SMS's link on their phone and completes the purchase.
	res, err := e.sim.HTTPClient().Post(sms[0].URL+"/complete", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	o = e.waitOrder(o.ID, "paid")
	if o.Reference == "" || o.Display != o.Reference {
		t.Fatalf("%+v", o)
	}
	if got := e.picking(); len(got) != 1 || got[0] != "5001" {
		t.Fatalf("picking list %v", got)
	}
	if cbs := e.sim.Callbacks(); len(cbs) != 1 || cbs[0].Status != 200 {
		t.Fatalf("callbacks %+v", cbs)
	}
}

// TestSveaChangedTwice: an order changed twice before payment: three SMS,
// the old links cancelled at Svea; only the last link pays.
func TestSveaChangedTwice(t *testing.T) {
	e := newSvEnv(t, 50*time.Millisecond, 0)
	var o svOrder
	e.call("POST", "/v1/orders", svOrderBody("5002", 1), &o)
	for qty := 2; qty <= 3; qty++ {
		body := svOrderBody("5002", qty)
		body = `{` + body[strings.Index(body, `"customer"`):]
		if st := e.call("POST", "/v1/orders/"+o.ID+"/change", body, &o); st != 200 {
			t.Fatal(st)
		}
	}
	sms := e.sim.Outbox()
	if len(sms) != 3 || len(o.Links) != 3 || o.Links[0].State != "cancelled" || o.Links[1].State != "cancelled" {
		t.Fatalf("%d SMS, links %+v", len(sms), o.Links)
	}
	for _, s := range sms[:2] {
		res, err := e.sim.HTTPClient().Post(s.URL+"/complete", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusGone {
			t.Fatalf("old link %s: %d", s.MerchantOrderNumber, res.StatusCode)
		}
	}
	if st := e.call("POST", "/v1/sandbox/orders/"+o.ID+"/approve", "", &o); st != 200 || o.State != "paid" {
		t.Fatalf("%d %s", st, o.State)
	}
	if got := e.sim.Completed(); len(got) != 1 || got[0] != sms[2].MerchantOrderNumber {
		t.Fatalf("paid at Svea: %v", got)
	}
}

// TestSveaKilledWhileCustomerPays: kvitt is down while the customer pays;
// Svea's callback fails (lost). After the restart the poller asks Svea,
// within its status limit, and the order ends paid and on the picking list.
func TestSveaKilledWhileCustomerPays(t *testing.T) {
	e := newSvEnv(t, 50*time.Millisecond, 0)
	var o svOrder
	e.call("POST", "/v1/orders", svOrderBody("5003", 1), &o)
	e.stop()
	if err := e.sim.Complete(o.Link.MerchantOrderNumber); err != nil {
		t.Fatal(err)
	}
	if cbs := e.sim.Callbacks(); len(cbs) != 1 || cbs[0].Status == 200 {
		t.Fatalf("the callback reached a stopped kvitt: %+v", cbs)
	}
	e.start()
	o = e.waitOrder(o.ID, "paid")
	if got := e.picking(); len(got) != 1 || got[0] != "5003" {
		t.Fatalf("picking list %v", got)
	}
	if e.sim.TooSoon() != 0 {
		t.Fatalf("%d status calls refused for the 5-second limit", e.sim.TooSoon())
	}
}

// TestSveaExpiry: a link nobody pays expires (grey), cannot be paid, and
// never reaches the picking list.
func TestSveaExpiry(t *testing.T) {
	e := newSvEnv(t, 20*time.Millisecond, 500*time.Millisecond)
	var o svOrder
	e.call("POST", "/v1/orders", svOrderBody("5004", 1), &o)
	o = e.waitOrder(o.ID, "expired")
	if o.Icon != "grey" || len(e.picking()) != 0 {
		t.Fatalf("%+v", o)
	}
	if err := e.sim.Complete(o.Link.MerchantOrderNumber); err == nil {
		t.Fatal("an expired link was paid")
	}
}

// TestSveaCallbacksForgedAndDuplicated: a forged callback is refused; a
// duplicated one changes nothing and never trips Svea's status limit.
func TestSveaCallbacksForgedAndDuplicated(t *testing.T) {
	e := newSvEnv(t, 300*time.Millisecond, 0)
	var o svOrder
	e.call("POST", "/v1/orders", svOrderBody("5005", 1), &o)
	e.sim.SetDropCallbacks(true)
	e.sim.Complete(o.Link.MerchantOrderNumber)
	post := func(token string) int {
		res, err := http.Post(e.url+"/v1/callbacks/svea/"+token, "application/json", strings.NewReader(`{"merchantOrderNumber":"`+o.Link.MerchantOrderNumber+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post(o.ID + ".1.forged-secret"); st != 404 {
		t.Fatalf("forged: %d", st)
	}
	if got := e.order(o.ID); got.State != "awaiting_payment" {
		t.Fatal(got.State)
	}
	// The real callback's URL, as Svea would call it, three times at once.
	var token string
	e.h.Store.View(context.Background(), func(tx kvitt.Tx) error {
		ko, err := tx.GetOrder(o.ID)
		if err == nil {
			token = kvitt.OrderCallbackToken(ko, ko.CurrentLink())
		}
		return err
	})
	codes := make(chan int, 3)
	for range 3 {
		go func() { codes <- post(token) }()
	}
	for range 3 {
		if c := <-codes; c != 200 {
			t.Fatalf("callback answered %d", c)
		}
	}
	o = e.waitOrder(o.ID, "paid")
	if o.Attention != "" || e.sim.TooSoon() != 0 {
		t.Fatalf("attention %q, %d status calls refused", o.Attention, e.sim.TooSoon())
	}
}
