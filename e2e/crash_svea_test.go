package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
)

// Svea Instore's crash points (seed 004, issue 10), as e2e/crash_test.go
// does for the card and Swish: kvitt runs as its own process in live mode
// against "kvitt sim svea", a process of its own that outlives kvitt as
// Svea would, and is killed with SIGKILL at the worst moments. The
// simulator holds a request on the test's word (sim/svea/hold.go), so kvitt
// dies while its create, cancel or return is at Svea; the test then lets
// the request take effect (it arrived) or drops it (it never did). Every
// callback is lost: the svea section's callback_url leads nowhere, so only
// what kvitt stored and its poller bring the truth back. Each scenario
// ends with the simulator's own ledger (per merchant order number: the
// order's status, how many creates and returns arrived and were carried
// out, how many status calls were refused for the 5-second limit) and
// kvitt's API agreeing.
//
// Each scenario is a subtest with its own simulator and kvitt, all run at
// once: a create whose answer was lost is asked about only once it can no
// longer be on its way (kvitt's provider timeout plus grace, 30 s), and a
// waiting link is polled every 5.5 s (Svea's 5-second limit plus a tenth;
// the configuration cannot go lower), so the scenarios wait in parallel.
//
// The svea section has no key for a CA to trust (the Instore client uses
// the system roots): kvitt gets the simulator's CA as its only root through
// SSL_CERT_FILE, which Go's crypto/x509 reads on Linux.
func TestCrashSvea(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and the Svea Instore simulator as processes")
	}
	bin := buildKvitt(t)
	// The scenarios run side by side, each in its own goroutine rather
	// than with t.Parallel, which would run only GOMAXPROCS of them at once
	// though they mostly wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	run := func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() { defer wg.Done(); t.Run(name, f) }()
	}

	// 1. kvitt dies while its create is at Svea; the create takes effect.
	// After the restart kvitt finds the order by a status read of the same
	// merchant order number, never a second create, and the customer pays.
	run("CreateHeldArrives", func(t *testing.T) {
		c := newSvCrash(t, bin)
		c.sim.hold("create")
		cut := c.postLater("/v1/orders", svOrderBody("6101", 1))
		h := c.sim.waitHeld("create", 1)[0]
		c.kill()
		<-cut
		c.sim.release("create", h.MerchantOrderNumber, "process")
		if l := c.sim.ledger().byNumber("6101"); len(l) != 1 || l[0].Status != "Active" {
			t.Fatalf("Svea's ledger after the held create took effect: %+v", l)
		}
		c.start()
		o := c.find("6101")
		if len(o.Links) != 1 || o.Links[0].MerchantOrderNumber != h.MerchantOrderNumber {
			t.Fatalf("kvitt's links %+v; the create at Svea was %s", o.Links, h.MerchantOrderNumber)
		}
		o = c.waitOrder(o.ID, "awaiting_payment", 50*time.Second)
		lo := c.onlyAtSvea("6101", h.MerchantOrderNumber)
		if lo.Creates != 1 || lo.Status != "Active" || o.Link.URL != lo.URL {
			t.Fatalf("at Svea %+v; kvitt's link %+v: want one create, the order active, the same link", lo, o.Link)
		}
		c.sim.pay(lo.URL)
		c.waitOrder(o.ID, "paid", 20*time.Second)
		c.onPickingList("6101")
		c.checkOrder("6101", o.ID)
	})

	// 2. kvitt dies while its create is at Svea; the create never arrives.
	// After the restart kvitt sends it again, with the same merchant order
	// number, once it can no longer be on its way; one order at Svea, and
	// the link works.
	run("CreateHeldNeverArrives", func(t *testing.T) {
		c := newSvCrash(t, bin)
		c.sim.hold("create")
		cut := c.postLater("/v1/orders", svOrderBody("6102", 1))
		h := c.sim.waitHeld("create", 1)[0]
		c.kill()
		<-cut
		c.sim.release("create", h.MerchantOrderNumber, "drop")
		if l := c.sim.ledger().byNumber("6102"); len(l) != 0 {
			t.Fatalf("the dropped create is at Svea: %+v", l)
		}
		c.start()
		o := c.find("6102")
		if len(o.Links) != 1 || o.Links[0].MerchantOrderNumber != h.MerchantOrderNumber || o.State != "creating" {
			t.Fatalf("kvitt's order %s, links %+v; the create lost was %s", o.State, o.Links, h.MerchantOrderNumber)
		}
		o = c.waitOrder(o.ID, "awaiting_payment", 55*time.Second)
		lo := c.onlyAtSvea("6102", h.MerchantOrderNumber)
		if lo.Creates != 1 || lo.CreatesOK != 1 || o.Link.MerchantOrderNumber != h.MerchantOrderNumber || o.Link.URL != lo.URL {
			t.Fatalf("at Svea %+v; kvitt's link %+v: want the create sent once more, same number, same link", lo, o.Link)
		}
		// The customer pays through the link kvitt shows (the SMS's).
		c.sim.pay(o.Link.URL)
		c.waitOrder(o.ID, "paid", 20*time.Second)
		c.onPickingList("6102")
		c.checkOrder("6102", o.ID)
	})

	// 3. kvitt is dead while the customer pays; Svea's callback is lost.
	// After the restart the poller finds the order paid, within Svea's
	// status limit.
	run("PaidWhileDead", func(t *testing.T) {
		c := newSvCrash(t, bin)
		o := c.create("6103")
		c.kill()
		c.sim.pay(o.Link.URL)
		if lo := c.onlyAtSvea("6103", o.Link.MerchantOrderNumber); lo.Status != "Completed" || lo.Callbacks != 1 || lo.CallbacksDelivered != 0 {
			t.Fatalf("at Svea %+v: want completed, the callback lost", lo)
		}
		c.start()
		o = c.waitOrder(o.ID, "paid", 20*time.Second)
		c.onPickingList("6103")
		if lo := c.onlyAtSvea("6103", o.Link.MerchantOrderNumber); o.Reference != fmt.Sprint(lo.PaymentOrderID) || lo.StatusCalls == 0 {
			t.Fatalf("kvitt's reference %q; at Svea %+v", o.Reference, lo)
		}
		c.checkOrder("6103", o.ID)
	})

	// 4. kvitt dies during two changes, each with the cancel of the old
	// link at Svea. Order 6104's customer pays the old link meanwhile and
	// the cancel then arrives (refused: paid); order 6105's cancel arrives
	// and is carried out. After the restart never two paid links for one
	// order: 6104 is paid by its old link with the content paid for, its
	// new link never sent; 6105's new link is sent, once, and paid.
	run("ChangeCancelHeld", func(t *testing.T) {
		c := newSvCrash(t, bin)
		a, b := c.create("6104"), c.create("6105")
		c.sim.hold("cancel")
		c.sim.hold("cancel")
		cutA := c.postLater("/v1/orders/"+a.ID+"/change", svChangeBody(2))
		cutB := c.postLater("/v1/orders/"+b.ID+"/change", svChangeBody(3))
		c.sim.waitHeld("cancel", 2)
		c.kill()
		<-cutA
		<-cutB
		c.sim.pay(a.Link.URL)
		c.sim.release("cancel", a.Link.MerchantOrderNumber, "process")
		c.sim.release("cancel", b.Link.MerchantOrderNumber, "process")
		c.start()

		a = c.waitOrder(a.ID, "paid", 30*time.Second)
		if a.Total != 59800 || len(a.Links) != 2 || a.Links[0].State != "paid" || a.Links[1].State != "cancelled" {
			t.Fatalf("order 6104: total %d, links %+v; want paid by link 1 with its content (598 SEK), link 2 never sent", a.Total, a.Links)
		}
		c.onPickingList("6104")
		c.checkOrder("6104", a.ID)
		if lo := c.sim.ledger().byNumber("6104"); len(lo) != 1 || lo[0].Cancels != 1 || lo[0].CancelsOK != 0 {
			t.Fatalf("6104 at Svea: %+v; want one order, its cancel refused", lo)
		}

		b = c.waitOrder(b.ID, "awaiting_payment", 30*time.Second)
		if len(b.Links) != 2 || b.Links[0].State == "paid" || b.Link.Seq != 2 || b.Total != 3*49900+9900 {
			t.Fatalf("order 6105: total %d, links %+v; want the old link cancelled, the new one sent", b.Total, b.Links)
		}
		c.sim.pay(b.Link.URL)
		b = c.waitOrder(b.ID, "paid", 20*time.Second)
		c.onPickingList("6105")
		c.checkOrder("6105", b.ID)
		old := c.onlyAtSvea("6105", b.Links[0].MerchantOrderNumber)
		if old.Status != "Canceled" || old.CancelsOK != 1 {
			t.Fatalf("6105's old link at Svea: %+v", old)
		}
	})

	// 5. kvitt dies while a credit's return is at Svea; it takes effect.
	// After the restart the credit is never sent again: one return at Svea,
	// and kvitt's credit is succeeded, or unknown with a message for a
	// person (Svea's Instore API cannot read a return back).
	run("CreditHeldArrives", func(t *testing.T) {
		c := newSvCrash(t, bin)
		o := c.create("6106")
		c.sim.pay(o.Link.URL)
		c.waitOrder(o.ID, "paid", 20*time.Second)
		c.sim.hold("return")
		cut := c.postLater("/v1/orders/"+o.ID+"/credits", `{"lines":[{"row_number":1}]}`)
		c.sim.waitHeld("return", 1)
		c.kill()
		<-cut
		c.sim.release("return", o.Link.MerchantOrderNumber, "process")
		c.start()
		// Well past kvitt's in-flight window (30 s from the credit).
		var cr svcCredit
		for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			o = c.order(o.ID)
			if len(o.Credits) != 1 {
				t.Fatalf("credits %+v", o.Credits)
			}
			if cr = o.Credits[0]; cr.State == "succeeded" || cr.State == "unknown" && cr.Message != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("40 s after the restart the credit is still %s %q (amount %d): neither succeeded nor unknown with a message for a person", cr.State, cr.Message, cr.Amount)
				break
			}
		}
		lo := c.onlyAtSvea("6106", o.Link.MerchantOrderNumber)
		if lo.Returns != 1 || lo.ReturnsOK != 1 || lo.Returned != 49900 {
			t.Fatalf("at Svea %+v; want one return of 499 SEK", lo)
		}
		if cr.State == "succeeded" && o.Credited != 49900 {
			t.Fatalf("credit succeeded, order credited %d", o.Credited)
		}
		c.checkOrder("6106", o.ID)
	})
}

// svCrash is one scenario's world: "kvitt sim svea" and "kvitt serve" as processes.
type svCrash struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	ca      string
	kvAddr  string
	kv      *proc
	s       *served
	sim     *sveaSimProc
}

func newSvCrash(t *testing.T, bin string) *svCrash {
	t.Helper()
	c := &svCrash{t: t, bin: bin, dir: t.TempDir(), kvAddr: freeAddr(t)}
	simAddr := freeAddr(t)
	certs := filepath.Join(c.dir, "svea")
	// Svea's own 5-second status limit: kvitt's live provider cannot be told
	// another, and the test checks that kvitt never trips it.
	startProc(t, nil, bin, "sim", "svea", "--addr", simAddr, "--certs", certs, "--status-interval", "5s")
	c.ca = filepath.Join(certs, "ca.pem")
	eventually(t, "Svea simulator CA", fileExists(c.ca))
	c.sim = &sveaSimProc{t: t, base: "https://" + simAddr, http: tlsClient(t, c.ca)}
	cfg := map[string]any{
		"sandbox": false,
		"merchant": map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
			"store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-0003"}},
		"svea": map[string]any{"base_url": "https://" + simAddr, "merchant_id": simsvea.DefaultMerchantID, "password": simsvea.DefaultPassword,
			"terms_uri": "https://butiken.example/villkor", "link_lifetime": "1h", "poll_interval": "5s",
			// Nobody listens there: every callback is lost, and the poller must do.
			"callback_url": "https://127.0.0.1:1"},
	}
	b, _ := json.Marshal(cfg)
	c.cfgPath = filepath.Join(c.dir, "kvitt.json")
	if err := os.WriteFile(c.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.s = &served{t: t, key: adminKey, base: "http://" + c.kvAddr}
	c.start()
	return c
}

func (c *svCrash) start() {
	c.kv = startProc(c.t, []string{"KVITT_ADMIN_KEY=" + adminKey, "SSL_CERT_FILE=" + c.ca}, c.bin,
		"serve", "--config", c.cfgPath, "--data", filepath.Join(c.dir, "data"), "--addr", c.kvAddr)
	c.s.log = c.kv.out
	eventually(c.t, "kvitt healthz", func() string {
		res, err := http.Get(c.s.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		return ""
	})
}

func (c *svCrash) kill() { c.kv.kill9() }

// postLater sends a request whose answer kvitt's death will cut off.
func (c *svCrash) postLater(path, body string) <-chan string {
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", c.s.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- res.Status + " " + string(b)
	}()
	return done
}

type svcLink struct {
	Seq                 int    `json:"seq"`
	MerchantOrderNumber string `json:"merchant_order_number"`
	State               string `json:"state"`
	URL                 string `json:"url"`
	ProviderRef         string `json:"provider_ref"`
}

type svcCredit struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Message string `json:"message"`
	Amount  int64  `json:"amount"`
}

type svcOrder struct {
	ID        string      `json:"id"`
	Number    string      `json:"number"`
	State     string      `json:"state"`
	Total     int64       `json:"total"`
	Credited  int64       `json:"credited"`
	Reference string      `json:"reference"`
	Message   string      `json:"message"`
	Attention string      `json:"attention"`
	Link      svcLink     `json:"link"`
	Links     []svcLink   `json:"links"`
	Credits   []svcCredit `json:"credits"`
}

// create creates an order (its link sent, the SMS out) and returns it.
func (c *svCrash) create(number string) svcOrder {
	c.t.Helper()
	var o svcOrder
	c.s.must("POST", "/v1/orders", json.RawMessage(svOrderBody(number, 1)), &o)
	if o.State != "awaiting_payment" || o.Link.URL == "" {
		c.t.Fatalf("order %s: %+v", number, o)
	}
	return o
}

func (c *svCrash) order(id string) svcOrder {
	c.t.Helper()
	var o svcOrder
	c.s.must("GET", "/v1/orders/"+id, nil, &o)
	return o
}

// find is the order with this number, whose create was never answered.
func (c *svCrash) find(number string) svcOrder {
	c.t.Helper()
	var page struct {
		Orders []svcOrder `json:"orders"`
	}
	c.s.must("GET", "/v1/orders?q="+url.QueryEscape(number), nil, &page)
	if len(page.Orders) != 1 || page.Orders[0].Number != number {
		c.t.Fatalf("orders %s: %+v; want the one whose answer was lost", number, page.Orders)
	}
	return page.Orders[0]
}

func (c *svCrash) waitOrder(id, state string, within time.Duration) svcOrder {
	c.t.Helper()
	var o svcOrder
	eventuallyWithin(c.t, within, "order "+id+" "+state, func() string {
		if o = c.order(id); o.State != state {
			return fmt.Sprintf("state %s (%s), links %+v", o.State, o.Message, o.Links)
		}
		return ""
	})
	return o
}

func (c *svCrash) onPickingList(number string) {
	c.t.Helper()
	var page struct {
		Orders []svcOrder `json:"orders"`
	}
	c.s.must("GET", "/v1/picking-list", nil, &page)
	for _, o := range page.Orders {
		if o.Number == number {
			return
		}
	}
	c.t.Fatalf("order %s is not on the picking list: %+v", number, page.Orders)
}

// onlyAtSvea is the ledger's entry for mon, the one it must be.
func (c *svCrash) onlyAtSvea(number, mon string) simsvea.LedgerOrder {
	c.t.Helper()
	for _, l := range c.sim.ledger().byNumber(number) {
		if l.MerchantOrderNumber == mon {
			return l
		}
	}
	c.t.Fatalf("%s is not at Svea: %+v", mon, c.sim.ledger().Orders)
	return simsvea.LedgerOrder{}
}

// checkOrder ends each scenario: Svea's ledger and kvitt's order agree.
// Every merchant order number of the order at Svea is one of kvitt's links,
// created once; at most one link is paid and kept (a second paid one is
// returned in full, and the order carries attention); no status call was
// ever refused for the 5-second limit.
func (c *svCrash) checkOrder(number, id string) {
	c.t.Helper()
	o := c.order(id)
	led := c.sim.ledger()
	links := map[string]svcLink{}
	for _, l := range o.Links {
		links[l.MerchantOrderNumber] = l
	}
	kept, givenBack := 0, 0
	for _, lo := range led.byNumber(number) {
		l, ok := links[lo.MerchantOrderNumber]
		if !ok {
			c.t.Errorf("Svea holds %s for order %s, which kvitt does not know: %+v", lo.MerchantOrderNumber, number, o.Links)
		}
		if lo.Creates > 1 || lo.CreatesOK > 1 {
			c.t.Errorf("%s was created %d times at Svea (%d made it)", lo.MerchantOrderNumber, lo.Creates, lo.CreatesOK)
		}
		if lo.StatusRefused != 0 {
			c.t.Errorf("%s: %d status calls refused for the 5-second limit", lo.MerchantOrderNumber, lo.StatusRefused)
		}
		if lo.Status == "Completed" {
			switch {
			case lo.Returned == lo.Total:
				givenBack++
				if l.State != "refunded" {
					c.t.Errorf("link %s given back at Svea, %s at kvitt", lo.MerchantOrderNumber, l.State)
				}
			default:
				kept++
				if l.State != "paid" || o.Reference != fmt.Sprint(lo.PaymentOrderID) {
					c.t.Errorf("link %s paid at Svea (payment order %d); at kvitt %s, the order's reference %q", lo.MerchantOrderNumber, lo.PaymentOrderID, l.State, o.Reference)
				}
			}
		}
	}
	if o.State == "paid" && kept != 1 || kept > 1 {
		c.t.Errorf("order %s is %s at kvitt; %d links paid and kept at Svea", number, o.State, kept)
	}
	if givenBack > 0 && o.Attention == "" {
		c.t.Errorf("order %s: a second paid link was given back but the order has no attention", number)
	}
	if led.StatusTooSoon != 0 {
		c.t.Errorf("%d status calls refused for the 5-second limit", led.StatusTooSoon)
	}
}

// svChangeBody is a change to qty chairs, shipping as before.
func svChangeBody(qty int) string {
	body := svOrderBody("", qty)
	return `{` + body[strings.Index(body, `"customer"`):]
}

// sveaSimProc drives "kvitt sim svea" over its test hooks.
type sveaSimProc struct {
	t    *testing.T
	base string // https://host:port
	http *http.Client
}

func (s *sveaSimProc) post(path string) {
	s.t.Helper()
	res, err := s.http.Post(s.base+path, "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 && res.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("POST %s: %s %s", path, res.Status, b)
	}
}

func (s *sveaSimProc) get(path string, out any) int {
	s.t.Helper()
	res, err := s.http.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, out); err != nil {
		s.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
	return res.StatusCode
}

// hold makes the simulator hold the next request of op; waitHeld waits
// until n are held and returns those of op.
func (s *sveaSimProc) hold(op string) { s.post("/sim/hold/" + op) }

func (s *sveaSimProc) waitHeld(op string, n int) []simsvea.HeldRequest {
	s.t.Helper()
	var held []simsvea.HeldRequest
	if st := s.get(fmt.Sprintf("/sim/held?op=%s&n=%d&wait=20s", op, n), &held); st != http.StatusOK {
		s.t.Fatalf("%d %s requests held at Svea, want %d: %+v", len(held), op, n, held)
	}
	var out []simsvea.HeldRequest
	for _, h := range held {
		if h.Op == op {
			out = append(out, h)
		}
	}
	return out
}

// release lets the held request of op about mon take effect ("process")
// or drops it ("drop").
func (s *sveaSimProc) release(op, mon, action string) {
	s.post("/sim/held/" + op + "/" + action + "?merchant_order_number=" + url.QueryEscape(mon))
}

// pay is the customer completing the purchase on the link's checkout page.
func (s *sveaSimProc) pay(link string) {
	s.t.Helper()
	if !strings.HasPrefix(link, s.base+"/checkout/") {
		s.t.Fatalf("%s is not the simulator's link", link)
	}
	s.post(strings.TrimPrefix(link, s.base) + "/complete")
}

type sveaLedger simsvea.InstoreLedger

func (s *sveaSimProc) ledger() sveaLedger {
	s.t.Helper()
	var l sveaLedger
	s.get("/sim/ledger", &l)
	return l
}

// byNumber is the ledger's entries for the order number (number-…).
func (l sveaLedger) byNumber(number string) []simsvea.LedgerOrder {
	var out []simsvea.LedgerOrder
	for _, o := range l.Orders {
		if strings.HasPrefix(o.MerchantOrderNumber, number+"-") {
			out = append(out, o)
		}
	}
	return out
}
