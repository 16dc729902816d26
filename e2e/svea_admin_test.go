package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/kvitt-hub/kvitt/svea"
)

// Issue 10, after payment: the paid order follows Svea's order
// administration (Payment Admin) through kvitt's API, against the
// simulator's Instore and Payment Admin APIs over HTTPS, with deferred
// delivery (Svea leaves paid orders undelivered until kvitt delivers).

// newSvAdminEnv is newSvEnv with Svea's Payment Admin configured and
// deferred delivery on.
func newSvAdminEnv(t *testing.T) *svEnv {
	t.Helper()
	e := &svEnv{t: t, dir: t.TempDir(), log: &syncBuffer{}}
	e.target.Store(&handlerBox{downHandler{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.target.Load().h.ServeHTTP(w, r) })}
	go srv.Serve(ln)
	e.url = "http://" + ln.Addr().String()
	if e.sim, err = simsvea.New(simsvea.Options{StatusInterval: 50 * time.Millisecond}); err != nil {
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
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "kvitt.db"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(e.log, nil))
	h := hub.New(db, logger)
	h.Sandbox = true
	h.ProviderTimeout = 2 * time.Second
	h.InFlightGrace = 100 * time.Millisecond
	p, err := svea.NewProvider(svea.Config{
		Client: &svea.Client{BaseURL: e.sim.URL(), MerchantID: e.sim.MerchantID(), Password: e.sim.Password(), HTTP: e.sim.HTTPClient()},
		Admin: &svea.AdminClient{BaseURL: e.sim.AdminURL(), MerchantID: e.sim.AdminMerchantID(), Secret: e.sim.AdminSecret(),
			HTTP: e.sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", CallbackBaseURL: e.url, StatusInterval: e.sim.StatusInterval(), DeferredDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	h.RegisterOrderProvider(p, hub.OrderOptions{MerchantID: merchantID, Customer: e.sim.Customer(),
		PollInterval: 100 * time.Millisecond, ExpiryGrace: 50 * time.Millisecond})
	err = db.Update(ctx, func(tx kvitt.Tx) error {
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
	go func() { defer close(done); h.RunWorker(wctx, "svea-admin-e2e") }()
	e.stopWorker = func() { cancel(); <-done }
	return e
}

// svAdminOrder is the order's JSON with what Svea's Payment Admin adds.
type svAdminOrder struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Icon      string `json:"icon"`
	Reference string `json:"reference"`
	Delivered bool   `json:"delivered"`
	Delivery  *struct {
		State   string `json:"state"`
		Message string `json:"message"`
		Sends   int    `json:"sends"`
	} `json:"delivery"`
	Annulment *struct {
		State string `json:"state"`
	} `json:"annulment"`
	ProviderOrder *struct {
		Status string `json:"status"`
	} `json:"provider_order"`
}

// post calls the API and returns the status, the order (2xx) and the error body.
func (e *svEnv) post(path string) (int, svAdminOrder, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var o svAdminOrder
	if res.StatusCode < 300 {
		if err := json.Unmarshal(b, &o); err != nil {
			e.t.Fatal(err)
		}
	}
	return res.StatusCode, o, string(b)
}

func (e *svEnv) adminOrder(id string) svAdminOrder {
	var o svAdminOrder
	if st := e.call("GET", "/v1/orders/"+id, "", &o); st != 200 {
		e.t.Fatalf("GET order: %d", st)
	}
	return o
}

// paid creates an order and has the customer pay it through the SMS's link.
func (e *svEnv) paid(number string) svOrder {
	e.t.Helper()
	var o svOrder
	if st := e.call("POST", "/v1/orders", svOrderBody(number, 1), &o); st != 201 {
		e.t.Fatal(st)
	}
	res, err := e.sim.HTTPClient().Post(o.Link.URL+"/complete", "", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return e.waitOrder(o.ID, "paid")
}

func (e *svEnv) atSvea(ref string) simsvea.AdminOrderInfo {
	e.t.Helper()
	id, _ := strconv.ParseInt(ref, 10, 64)
	info, ok := e.sim.AdminOrder(id)
	if !ok {
		e.t.Fatalf("Svea's Payment Admin has no order %s", ref)
	}
	return info
}

// TestSveaDeliverAfterPayment: pay → deliver → Svea shows the order
// delivered; kvitt shows it paid (still picked) and delivered; annul after
// delivery is a 409 saying to credit; nothing is cancelled at Svea.
func TestSveaDeliverAfterPayment(t *testing.T) {
	e := newSvAdminEnv(t)
	o := e.paid("6001")
	if info := e.atSvea(o.Reference); info.Status != "Open" {
		t.Fatalf("deferred delivery: Svea shows %s", info.Status)
	}
	st, d, body := e.post("/v1/orders/" + o.ID + "/deliver")
	if st != 200 || !d.Delivered || d.State != "paid" || d.Delivery == nil || d.Delivery.State != "done" || d.ProviderOrder == nil || d.ProviderOrder.Status != "Delivered" {
		t.Fatalf("deliver: %d %s", st, body)
	}
	if info := e.atSvea(o.Reference); info.Status != "Delivered" || info.Deliveries != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
	if got := e.picking(); len(got) != 1 || got[0] != "6001" {
		t.Fatalf("picking list %v", got)
	}
	st, _, body = e.post("/v1/orders/" + o.ID + "/annul")
	if st != 409 || !strings.Contains(body, `"code":"conflict"`) || !strings.Contains(body, "credit it instead") {
		t.Fatalf("annul after delivery: %d %s", st, body)
	}
	if info := e.atSvea(o.Reference); info.Status != "Delivered" || info.CancelCalls != 0 {
		t.Fatalf("at Svea: %+v", info)
	}
}

// TestSveaAnnulAfterPayment: pay → annul → cancelled (black), off the
// picking list, Cancelled at Svea; deliver is then a 409.
func TestSveaAnnulAfterPayment(t *testing.T) {
	e := newSvAdminEnv(t)
	o := e.paid("6002")
	if got := e.picking(); len(got) != 1 {
		t.Fatalf("picking list %v", got)
	}
	st, a, body := e.post("/v1/orders/" + o.ID + "/annul")
	if st != 200 || a.State != "cancelled" || a.Icon != "black" || a.Annulment == nil || a.Annulment.State != "done" {
		t.Fatalf("annul: %d %s", st, body)
	}
	if got := e.picking(); len(got) != 0 {
		t.Fatalf("an annulled order is on the picking list: %v", got)
	}
	if info := e.atSvea(o.Reference); info.Status != "Cancelled" {
		t.Fatalf("at Svea: %+v", info)
	}
	if st, _, body := e.post("/v1/orders/" + o.ID + "/deliver"); st != 409 {
		t.Fatalf("deliver after annul: %d %s", st, body)
	}
	if info := e.atSvea(o.Reference); info.DeliverCalls != 0 {
		t.Fatal("a deliver was sent for an annulled order")
	}
}

// TestSveaDeliverAnswerLost: Svea delivers but the answer never comes
// back. The API answers with the delivery "sent"; the poller (kvitt's
// worker) reads Svea's order once the request can no longer be on its
// way: delivered, exactly once at Svea, never sent again.
func TestSveaDeliverAnswerLost(t *testing.T) {
	e := newSvAdminEnv(t)
	o := e.paid("6003")
	e.sim.AdminFail(simsvea.AdminLoseAnswer)
	st, d, body := e.post("/v1/orders/" + o.ID + "/deliver")
	if st != 200 || d.Delivery == nil || d.Delivery.State != "sent" || d.Delivered || !strings.Contains(d.Delivery.Message, "No answer from Svea") {
		t.Fatalf("deliver with a lost answer: %d %s", st, body)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		got := e.adminOrder(o.ID)
		if got.Delivered {
			if got.Delivery.Sends != 1 || got.State != "paid" {
				t.Fatalf("%+v", got.Delivery)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never read back: %+v", got.Delivery)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info := e.atSvea(o.Reference); info.Deliveries != 1 || info.DeliverCalls != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
	// Asking again changes nothing at Svea.
	if st, _, body := e.post("/v1/orders/" + o.ID + "/deliver"); st != 200 {
		t.Fatal(st, body)
	}
	if info := e.atSvea(o.Reference); info.DeliverCalls != 1 {
		t.Fatalf("a second deliver was sent: %+v", info)
	}
}
