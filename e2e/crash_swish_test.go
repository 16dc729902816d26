package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	simswish "github.com/kvitt-hub/kvitt/sim/swish"
)

// Swish's crash points with a request at Swish (issue 15), as
// e2e/crash_svea_test.go does for Svea: kvitt runs as its own process in
// live mode against "kvitt sim swish", a process of its own that outlives
// kvitt as Swish would, and is killed with SIGKILL while its payment
// request's PUT or its refund's PUT is at Swish. The simulator holds the
// request on the test's word (sim/swish/holdhttp.go); the test then lets it
// take effect (it arrived; nobody hears the answer) or drops it (it never
// arrived). Every callback is lost (callback_url leads nowhere), so only
// what kvitt stored, its instructionUUID, and its poller bring the truth
// back. Each scenario ends on the simulator's own ledger (per
// instructionUUID: the request's status, how many creates arrived and were
// answered 201) and kvitt's API agreeing: one payment request per payment,
// under the instructionUUID kvitt stored before it sent; one refund per
// refund; every paid payment and every refund receipted and registered.
//
// The scenarios run side by side, each with its own simulator and kvitt
// (one control unit simulator serves them all, a register each): a lost
// refund is asked about only by the refund's sync job, 30 s after it was
// made (kvitt's provider timeout plus grace), so the waits overlap.
func TestKill9Swish(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary, the Swish and control unit simulators as processes")
	}
	bin := buildKvitt(t)
	dir := t.TempDir()
	cuAddr := freeAddr(t)
	startProc(t, nil, bin, "sim", "controlunit", "--addr", cuAddr, "--certs", filepath.Join(dir, "cu"), "--journal", filepath.Join(dir, "cu.jsonl"))
	eventually(t, "control unit certificates", fileExists(filepath.Join(dir, "cu", "client-key.pem")))
	cu := map[string]any{"url": "https://" + cuAddr, "cert_file": filepath.Join(dir, "cu", "client.pem"),
		"key_file": filepath.Join(dir, "cu", "client-key.pem"), "ca_file": filepath.Join(dir, "cu", "ca.pem")}

	var wg sync.WaitGroup
	defer wg.Wait()
	register := 10
	run := func(name string, f func(t *testing.T, c *swCrash)) {
		register++
		reg := fmt.Sprintf("KR-%04d", register)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, func(t *testing.T) { f(t, newSwCrash(t, bin, cu, reg)) })
		}()
	}

	// 1. kvitt dies while its PUT of the payment request is at Swish; the
	// PUT takes effect. After the restart kvitt finds the request by the
	// instructionUUID it stored (a GET, never a second PUT); the customer
	// pays it; the payment is paid and receipted.
	run("CreateHeldArrives", func(t *testing.T, c *swCrash) {
		sale := c.newSale(4500)
		c.sim.hold("create")
		cut := c.postLater("/v1/sales/"+sale+"/payments", `{"method":"swish","amount":4500}`)
		h := c.sim.waitHeld("create")
		c.kill()
		<-cut
		c.sim.letGo("release", "create", h.InstructionID)
		c.eventuallyAtSwish("the released PUT took effect", func(l simswish.Ledger) string {
			if len(l.PaymentRequests) != 1 || l.PaymentRequests[0].Status != "CREATED" || l.PaymentRequests[0].CreatesOK != 1 {
				return fmt.Sprintf("%+v", l.PaymentRequests)
			}
			return ""
		})
		c.start()
		p := c.salePayment(sale)
		if p["reference"] != h.InstructionID {
			t.Fatalf("kvitt's payment %v has reference %v; the PUT at Swish was %s", p["id"], p["reference"], h.InstructionID)
		}
		// Give the poller time to ask (its first sync is due 10 s after the
		// payment was made), then the customer pays by the instructionUUID
		// (the QR code's token was in the lost answer).
		c.waitPaymentOK(p["id"].(string), func(p map[string]any) string {
			if p["state"] != "pending" {
				return fmt.Sprintf("state %v (%v)", p["state"], p["message"])
			}
			return ""
		}, 20*time.Second)
		c.sim.approve(h.InstructionID)
		c.waitPayment(p["id"].(string), "paid", 20*time.Second)
		c.completeRegistered(sale)
		c.onlyPaymentRequest(h.InstructionID, 4500, 1)
	})

	// 2. kvitt dies while its PUT is at Swish; the PUT never arrives. After
	// the restart kvitt's GET finds nothing and it sends the PUT again with
	// the same instructionUUID: one payment request at Swish, which the
	// customer pays.
	run("CreateHeldNeverArrives", func(t *testing.T, c *swCrash) {
		sale := c.newSale(3900)
		c.sim.hold("create")
		sent := time.Now()
		cut := c.postLater("/v1/sales/"+sale+"/payments", `{"method":"swish","amount":3900}`)
		h := c.sim.waitHeld("create")
		c.kill()
		<-cut
		c.sim.letGo("drop", "create", h.InstructionID)
		if l := c.sim.ledger(); len(l.PaymentRequests) != 0 {
			t.Fatalf("the dropped PUT is at Swish: %+v", l.PaymentRequests)
		}
		c.start()
		p := c.salePayment(sale)
		if p["reference"] != h.InstructionID {
			t.Fatalf("kvitt's payment %v has reference %v; the PUT lost was %s", p["id"], p["reference"], h.InstructionID)
		}
		var again time.Time
		c.eventuallyAtSwish("the PUT sent again", func(l simswish.Ledger) string {
			if len(l.PaymentRequests) == 0 || l.PaymentRequests[0].CreatesOK == 0 {
				return fmt.Sprintf("%+v", l.PaymentRequests)
			}
			again = l.PaymentRequests[0].Arrivals[0]
			return ""
		})
		t.Logf("the lost PUT was sent again %s after the first", again.Sub(sent).Round(100*time.Millisecond))
		c.waitPayment(p["id"].(string), "pending", 20*time.Second)
		c.sim.approve(h.InstructionID)
		c.waitPayment(p["id"].(string), "paid", 20*time.Second)
		c.completeRegistered(sale)
		c.onlyPaymentRequest(h.InstructionID, 3900, 1)
	})

	// 2b. As 2, but the first PUT is still held when kvitt, restarted,
	// sends it again (its poller does so at the first 404 once the
	// payment's in-flight window of 30 s is over: a 404 inside it decides
	// nothing), and arrives after that: Swish keeps one payment request per
	// instructionUUID, so the late PUT is a replay and nothing more.
	run("CreateHeldArrivesAfterResend", func(t *testing.T, c *swCrash) {
		sale := c.newSale(2900)
		c.sim.hold("create")
		cut := c.postLater("/v1/sales/"+sale+"/payments", `{"method":"swish","amount":2900}`)
		h := c.sim.waitHeld("create")
		c.kill()
		<-cut
		c.start()
		p := c.salePayment(sale)
		c.eventuallyAtSwish("the PUT sent again while the first is held", func(l simswish.Ledger) string {
			if len(l.PaymentRequests) == 0 || l.PaymentRequests[0].CreatesOK == 0 {
				return fmt.Sprintf("%+v", l.PaymentRequests)
			}
			return ""
		})
		c.sim.letGo("release", "create", h.InstructionID)
		c.eventuallyAtSwish("the late PUT answered", func(l simswish.Ledger) string {
			if len(l.PaymentRequests) != 1 || l.PaymentRequests[0].Creates != 2 || len(l.Held) != 0 {
				return fmt.Sprintf("%+v", l)
			}
			return ""
		})
		if p["reference"] != h.InstructionID {
			t.Fatalf("kvitt's payment %v has reference %v; the PUT held was %s", p["id"], p["reference"], h.InstructionID)
		}
		c.waitPayment(p["id"].(string), "pending", 20*time.Second)
		c.sim.approve(h.InstructionID)
		c.waitPayment(p["id"].(string), "paid", 20*time.Second)
		c.completeRegistered(sale)
		c.onlyPaymentRequest(h.InstructionID, 2900, 2)
	})

	// 3. kvitt dies while a refund's PUT is at Swish; it takes effect.
	// After the restart kvitt reads the refund by its instructionUUID: one
	// refund at Swish, kvitt's refund succeeded, its return receipt registered.
	run("RefundHeldArrives", func(t *testing.T, c *swCrash) {
		c.refundScenario("release", 5900, 2000)
	})

	// 4. kvitt dies while a refund's PUT is at Swish; it never arrives.
	// After the restart kvitt sends it again with the same instructionUUID:
	// one refund at Swish, succeeded, its return receipt registered.
	run("RefundHeldNeverArrives", func(t *testing.T, c *swCrash) {
		c.refundScenario("drop", 6900, 6900)
	})
}

// swCrash is one scenario's world: "kvitt sim swish" and "kvitt serve" as processes.
type swCrash struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	kvAddr  string
	kv      *proc
	s       *served
	sim     *swishSimProc
}

func newSwCrash(t *testing.T, bin string, cu map[string]any, register string) *swCrash {
	t.Helper()
	c := &swCrash{t: t, bin: bin, dir: t.TempDir(), kvAddr: freeAddr(t)}
	simAddr := freeAddr(t)
	certs := filepath.Join(c.dir, "swish")
	startProc(t, nil, bin, "sim", "swish", "--addr", simAddr, "--certs", certs)
	eventually(t, "swish certificates", fileExists(filepath.Join(certs, "merchant.pem")))
	c.sim = &swishSimProc{t: t, base: "https://" + simAddr + "/", http: tlsClient(t, filepath.Join(certs, "ca.pem"))}
	cfg := map[string]any{
		"sandbox": false,
		"merchant": map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
			"store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":         []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": register, "control_unit": "cu"}},
		"control_units": map[string]any{"cu": cu},
		"swish": map[string]any{"base_url": "https://" + simAddr + "/swish-cpcapi/api/", "payee_alias": simswish.DefaultPayeeAlias,
			"cert_file": filepath.Join(certs, "merchant.pem"), "ca_file": filepath.Join(certs, "ca.pem"),
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

func (c *swCrash) start() {
	c.kv = startProc(c.t, []string{"KVITT_ADMIN_KEY=" + adminKey}, c.bin,
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

func (c *swCrash) kill() { c.kv.kill9() }

// postLater sends a request whose answer kvitt's death will cut off.
func (c *swCrash) postLater(path, body string) <-chan string {
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

func (c *swCrash) newSale(price int64) string {
	var sale map[string]any
	c.s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Vara", "unit_price": price, "vat_rate": 12}}}, &sale)
	return sale["id"].(string)
}

// salePayment is the one payment of a sale, whose POST never answered.
func (c *swCrash) salePayment(saleID string) map[string]any {
	c.t.Helper()
	var sale struct {
		Payments []map[string]any `json:"payments"`
	}
	c.s.must("GET", "/v1/sales/"+saleID, nil, &sale)
	if len(sale.Payments) != 1 {
		c.t.Fatalf("sale %s has %d payments; want the one whose answer was lost", saleID, len(sale.Payments))
	}
	return sale.Payments[0]
}

func (c *swCrash) payment(id string) map[string]any {
	var p map[string]any
	c.s.must("GET", "/v1/payments/"+id, nil, &p)
	return p
}

func (c *swCrash) waitPaymentOK(id string, cond func(map[string]any) string, within time.Duration) map[string]any {
	c.t.Helper()
	var p map[string]any
	eventuallyWithin(c.t, within, "payment "+id, func() string { p = c.payment(id); return cond(p) })
	return p
}

func (c *swCrash) waitPayment(id, state string, within time.Duration) map[string]any {
	c.t.Helper()
	return c.waitPaymentOK(id, func(p map[string]any) string {
		if p["state"] != state {
			return fmt.Sprintf("state %v, want %s (%v)", p["state"], state, p["message"])
		}
		return ""
	}, within)
}

func (c *swCrash) waitRegistered(receiptID string) {
	c.t.Helper()
	eventually(c.t, "receipt "+receiptID+" registered", func() string {
		var r map[string]any
		c.s.must("GET", "/v1/receipts/"+receiptID, nil, &r)
		if r["registration"] != "registered" || r["control_code"] == "" {
			return fmt.Sprintf("registration %v", r["registration"])
		}
		return ""
	})
}

// completeRegistered completes the paid sale; its receipt is registered.
func (c *swCrash) completeRegistered(saleID string) {
	c.t.Helper()
	var rc map[string]any
	c.s.must("POST", "/v1/sales/"+saleID+"/complete", nil, &rc)
	c.waitRegistered(rc["id"].(string))
}

func (c *swCrash) eventuallyAtSwish(what string, cond func(simswish.Ledger) string) {
	c.t.Helper()
	eventuallyWithin(c.t, 45*time.Second, what, func() string { return cond(c.sim.ledger()) })
}

// onlyPaymentRequest checks Swish's books: the one payment request is
// kvitt's, under its instructionUUID, paid once for the amount, its create
// arrived creates times; and nothing waits in the recovery list.
func (c *swCrash) onlyPaymentRequest(id string, ore int64, creates int) simswish.LedgerPayment {
	c.t.Helper()
	l := c.sim.ledger()
	if len(l.PaymentRequests) != 1 {
		c.t.Fatalf("Swish holds %d payment requests, want the one of %s: %+v", len(l.PaymentRequests), id, l.PaymentRequests)
	}
	p := l.PaymentRequests[0]
	if p.InstructionID != id || p.Status != "PAID" || p.Amount != fmt.Sprintf("%d.%02d", ore/100, ore%100) || p.Creates != creates || p.CreatesOK != creates {
		c.t.Fatalf("Swish's payment request %+v; want %s PAID for %d öre, %d create(s)", p, id, ore, creates)
	}
	var rec map[string]any
	c.s.must("GET", "/v1/tills/1/recovery", nil, &rec)
	if items, _ := rec["items"].([]any); len(items) != 0 {
		c.t.Errorf("recovery list: %v", items)
	}
	return p
}

// refundScenario: a paid, receipted payment; kvitt dies while the PUT of
// its refund of amount is at Swish, which then lets it take effect
// ("release") or drops it ("drop"). After the restart: one refund at
// Swish under kvitt's instructionUUID, succeeded at kvitt, its return
// receipt registered.
func (c *swCrash) refundScenario(action string, price, amount int64) {
	t := c.t
	sale := c.newSale(price)
	var p map[string]any
	c.s.must("POST", "/v1/sales/"+sale+"/payments", map[string]any{"method": "swish", "amount": price}, &p)
	if p["state"] != "pending" {
		t.Fatalf("swish payment: %v", p)
	}
	c.sim.approve(p["reference"].(string))
	c.waitPayment(p["id"].(string), "paid", 20*time.Second)
	c.completeRegistered(sale)

	c.sim.hold("refund")
	cut := c.postLater("/v1/payments/"+p["id"].(string)+"/refunds", fmt.Sprintf(`{"amount":%d}`, amount))
	h := c.sim.waitHeld("refund")
	c.kill()
	<-cut
	c.sim.letGo(action, "refund", h.InstructionID)
	if action == "drop" {
		if l := c.sim.ledger(); len(l.Refunds) != 0 {
			t.Fatalf("the dropped refund is at Swish: %+v", l.Refunds)
		}
	}
	c.start()
	var refunds struct {
		Refunds []map[string]any `json:"refunds"`
	}
	var r map[string]any
	eventuallyWithin(t, 50*time.Second, "the refund succeeded", func() string {
		c.s.must("GET", "/v1/payments/"+p["id"].(string)+"/refunds", nil, &refunds)
		if len(refunds.Refunds) != 1 {
			return fmt.Sprintf("%d refunds", len(refunds.Refunds))
		}
		r = refunds.Refunds[0]
		if r["state"] != "succeeded" || r["receipt_id"] == nil {
			return fmt.Sprintf("refund %v %v (%v)", r["amount"], r["state"], r["message"])
		}
		return ""
	})
	if r["reference"] != h.InstructionID {
		t.Fatalf("kvitt's refund %v has reference %v; the PUT held was %s", r["id"], r["reference"], h.InstructionID)
	}
	c.waitRegistered(r["receipt_id"].(string))

	l := c.sim.ledger()
	if len(l.Refunds) != 1 {
		t.Fatalf("Swish holds %d refunds, want one: %+v", len(l.Refunds), l.Refunds)
	}
	rf := l.Refunds[0]
	if rf.InstructionID != h.InstructionID || rf.Status != "PAID" || rf.Refunds != 1 || rf.RefundsOK != 1 ||
		rf.Amount != fmt.Sprintf("%d.%02d", amount/100, amount%100) {
		t.Fatalf("Swish's refund %+v; want %s PAID for %d öre, one PUT", rf, h.InstructionID, amount)
	}
	if len(l.PaymentRequests) != 1 || l.PaymentRequests[0].Refunded != amount || l.PaymentRequests[0].Creates != 1 {
		t.Fatalf("Swish's payment requests %+v; want one, %d öre refunded", l.PaymentRequests, amount)
	}
	want := "partially_refunded"
	if amount == price {
		want = "refunded"
	}
	if st := c.payment(p["id"].(string))["state"]; st != want {
		t.Errorf("payment %v after a refund of %d of %d", st, amount, price)
	}
}

// swishSimProc drives "kvitt sim swish" over its test hooks and customer interface.
type swishSimProc struct {
	t    *testing.T
	base string // https://host:port/
	http *http.Client
}

func (s *swishSimProc) post(path string) {
	s.t.Helper()
	res, err := s.http.Post(s.base+path, "application/json", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 {
		s.t.Fatalf("POST %s: %s %s", path, res.Status, b)
	}
}

func (s *swishSimProc) get(path string, out any) int {
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

func (s *swishSimProc) hold(op string) { s.post("sim/hold/" + op) }

// waitHeld waits until a create of op is held and returns it.
func (s *swishSimProc) waitHeld(op string) simswish.HeldRequest {
	s.t.Helper()
	var held []simswish.HeldRequest
	if st := s.get("sim/held?op="+op+"&wait=20s", &held); st != http.StatusOK {
		s.t.Fatalf("no %s held at Swish: %+v", op, held)
	}
	for _, h := range held {
		if h.Op == op {
			return h
		}
	}
	s.t.Fatalf("no %s held at Swish: %+v", op, held)
	return simswish.HeldRequest{}
}

// letGo releases ("release") or drops ("drop") the held create of op.
func (s *swishSimProc) letGo(action, op, id string) {
	s.post("sim/" + action + "/" + op + "?instruction_id=" + id)
}

// approve is the customer approving the payment request in their app.
func (s *swishSimProc) approve(id string) { s.post("sim/customer/paymentrequests/" + id + "/approve") }

func (s *swishSimProc) ledger() simswish.Ledger {
	s.t.Helper()
	var l simswish.Ledger
	s.get("sim/ledger", &l)
	return l
}
