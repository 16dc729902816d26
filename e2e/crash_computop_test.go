package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
)

// The kill -9 suite for Swish through the Computop Paygate: kvitt runs as
// its own process in live mode against `kvitt sim computop`, a process of
// its own that outlives kvitt as the real Paygate does, and is killed with
// SIGKILL
//
//	(a) while its swish.aspx request is at the Paygate, after the payment
//	    row was stored: the Paygate carries the request out with nobody left
//	    to hear the answer, or never gets it;
//	(b) after the request reached Swish: the customer approves while kvitt
//	    is dead, so the Paygate's notification is lost (its next try is an
//	    hour away);
//	(c) while its credit.aspx request is at the Paygate: carried out with the
//	    answer lost, or never arrived.
//
// After each restart kvitt must find out by inquiry, never by a blind
// resubmission: a lost answer resubmitted while the first payment is open is
// a second payment under the same ReqID (seed 003). In the end the
// simulator's own books hold exactly one payment per TransID and per ReqID,
// each paid once, exactly one credit per refund, every receipt is
// registered, nothing waits for a cashier, and `kvitt journal verify` passes.
//
// The waits for kvitt's own in-flight window (a lost request is resent only
// once it can no longer arrive: the provider timeout plus a grace, 30 s)
// run side by side.
func TestKill9Computop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary, the Paygate and control unit simulators as processes")
	}
	bin := buildKvitt(t)
	dir := t.TempDir()
	ctAddr, cuAddr, kvAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctCerts := filepath.Join(dir, "computop")
	// Notifications go to URLNotify's path on kvitt, as a reverse proxy on
	// https://127.0.0.1 (port 443, as the Paygate requires) would forward them.
	startProc(t, nil, bin, "sim", "computop", "--addr", ctAddr, "--certs", ctCerts,
		"--notify-forward", "http://"+kvAddr, "--retry-unit", "1h")
	startProc(t, nil, bin, "sim", "controlunit", "--addr", cuAddr, "--certs", filepath.Join(dir, "cu"), "--journal", filepath.Join(dir, "cu.jsonl"))
	eventually(t, "Paygate simulator CA", fileExists(filepath.Join(ctCerts, "ca.pem")))
	eventually(t, "control unit certificates", fileExists(filepath.Join(dir, "cu", "client-key.pem")))

	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":    []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-0002", "control_unit": "cu"}},
		"control_units": map[string]any{"cu": map[string]any{"url": "https://" + cuAddr,
			"cert_file": filepath.Join(dir, "cu", "client.pem"), "key_file": filepath.Join(dir, "cu", "client-key.pem"), "ca_file": filepath.Join(dir, "cu", "ca.pem")}},
		"computop": map[string]any{"base_url": "https://" + ctAddr + "/", "merchant_id": simcomputop.DefaultMerchantID,
			"password": simcomputop.DefaultPassword, "hmac_key": simcomputop.DefaultHMACKey,
			"ca_file": filepath.Join(ctCerts, "ca.pem"), "callback_url": "https://127.0.0.1", "order_desc": "Krasch"},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "kvitt.json")
	os.WriteFile(cfgPath, b, 0o600)
	data := filepath.Join(dir, "data")
	var kv *proc
	s := &served{t: t, key: adminKey, base: "http://" + kvAddr}
	startKvitt := func() {
		kv = startProc(t, []string{"KVITT_ADMIN_KEY=" + adminKey}, bin, "serve", "--config", cfgPath, "--data", data, "--addr", kvAddr)
		s.log = kv.out
		eventually(t, "kvitt healthz", func() string {
			res, err := http.Get(s.base + "/healthz")
			if err != nil {
				return err.Error()
			}
			res.Body.Close()
			return ""
		})
	}
	pg := &paygate{t: t, base: "https://" + ctAddr + "/", http: tlsClient(t, filepath.Join(ctCerts, "ca.pem"))}
	startKvitt()

	newSale := func(price int64) string {
		var sale map[string]any
		s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Vara", "unit_price": price, "vat_rate": 25}}}, &sale)
		return sale["id"].(string)
	}
	payment := func(id string) map[string]any {
		var p map[string]any
		s.must("GET", "/v1/payments/"+id, nil, &p)
		return p
	}
	waitPayment := func(id, state string, within time.Duration) map[string]any {
		var p map[string]any
		eventuallyWithin(t, within, "payment "+id+" "+state, func() string {
			if p = payment(id); p["state"] != state {
				return fmt.Sprintf("state %v (%v)", p["state"], p["message"])
			}
			return ""
		})
		return p
	}
	// salePayment is the one payment of a sale, whose POST never answered.
	salePayment := func(saleID string) map[string]any {
		var sale struct {
			Payments []map[string]any `json:"payments"`
		}
		s.must("GET", "/v1/sales/"+saleID, nil, &sale)
		if len(sale.Payments) != 1 {
			t.Fatalf("sale %s has %d payments; want the one whose answer was lost", saleID, len(sale.Payments))
		}
		return sale.Payments[0]
	}
	complete := func(saleID string) map[string]any {
		var rc map[string]any
		s.must("POST", "/v1/sales/"+saleID+"/complete", nil, &rc)
		return rc
	}
	waitRegistered := func(receiptID string) {
		eventually(t, "receipt "+receiptID+" registered", func() string {
			var r map[string]any
			s.must("GET", "/v1/receipts/"+receiptID, nil, &r)
			if r["registration"] != "registered" || r["control_code"] == "" {
				return fmt.Sprintf("registration %v", r["registration"])
			}
			return ""
		})
	}
	// post sends a request whose answer kvitt's death will cut off.
	post := func(path string, body any) <-chan string {
		done := make(chan string, 1)
		go func() {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", s.base+path, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err.Error()
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			done <- res.Status
		}()
		return done
	}

	// A paid and receipted sale, to credit in (c).
	saleA := newSale(25000)
	var payA map[string]any
	s.must("POST", "/v1/sales/"+saleA+"/payments", map[string]any{"method": "computop", "amount": 25000}, &payA)
	if payA["state"] != "pending" {
		t.Fatalf("payment A: %v", payA)
	}
	pg.customer(payA["reference"].(string), "approve")
	waitPayment(payA["id"].(string), "paid", waitLimit)
	rcA := complete(saleA)
	waitRegistered(rcA["id"].(string))

	// (a) kvitt dies while its two payment requests are at the Paygate.
	// The Paygate carries out B's after kvitt is gone (the answer is lost;
	// the payment is open at Swish) and never gets C's.
	saleB, saleC := newSale(10000), newSale(12000)
	pg.fault("swish.aspx", "hold")
	pg.fault("swish.aspx", "hold")
	cutB := post("/v1/sales/"+saleB+"/payments", map[string]any{"method": "computop", "amount": 10000})
	cutC := post("/v1/sales/"+saleC+"/payments", map[string]any{"method": "computop", "amount": 12000})
	held := pg.waitHeld(2)
	kv.kill9()
	<-cutB
	<-cutC
	for _, h := range held {
		pg.release(h.ID, map[string]string{"10000": "process", "12000": "drop"}[h.Amount])
	}
	startKvitt()
	payB, payC := salePayment(saleB), salePayment(saleC)
	// B is found by inquiry, open: never sent again (that would be a
	// second payment under its ReqID); the customer approves it.
	waitPayment(payB["id"].(string), "pending", time.Minute)
	pg.customer(payB["reference"].(string), "approve")
	waitPayment(payB["id"].(string), "paid", waitLimit)
	rcB := complete(saleB)

	// (c) kvitt dies while two credits of A are at the Paygate: the first
	// is carried out with the answer lost, the second never arrives.
	pg.fault("credit.aspx", "hold")
	pg.fault("credit.aspx", "hold")
	cut1 := post("/v1/payments/"+payA["id"].(string)+"/refunds", map[string]any{"amount": 5000})
	cut2 := post("/v1/payments/"+payA["id"].(string)+"/refunds", map[string]any{"amount": 3000})
	held = pg.waitHeld(2)
	kv.kill9()
	<-cut1
	<-cut2
	for _, h := range held {
		pg.release(h.ID, map[string]string{"5000": "process", "3000": "drop"}[h.Amount])
	}
	startKvitt()

	// (b) kvitt dies after D's request reached Swish; the customer approves
	// while it is down; the notification is lost.
	saleD := newSale(8000)
	var payD map[string]any
	s.must("POST", "/v1/sales/"+saleD+"/payments", map[string]any{"method": "computop", "amount": 8000}, &payD)
	if payD["state"] != "pending" {
		t.Fatalf("payment D: %v", payD)
	}
	kv.kill9()
	pg.customer(payD["reference"].(string), "approve")
	startKvitt()
	waitPayment(payD["id"].(string), "paid", time.Minute)
	rcD := complete(saleD)

	// C never reached the Paygate: once it can no longer arrive, kvitt
	// sends it again with the same TransID and ReqID, and it runs.
	waitPayment(payC["id"].(string), "pending", time.Minute)
	pg.customer(payC["reference"].(string), "approve")
	waitPayment(payC["id"].(string), "paid", waitLimit)
	rcC := complete(saleC)

	// The credits: both end succeeded, with their return receipts.
	var refunds struct {
		Refunds []map[string]any `json:"refunds"`
	}
	eventuallyWithin(t, time.Minute, "both credits of A succeeded", func() string {
		s.must("GET", "/v1/payments/"+payA["id"].(string)+"/refunds", nil, &refunds)
		if len(refunds.Refunds) != 2 {
			return fmt.Sprintf("%d refunds", len(refunds.Refunds))
		}
		for _, r := range refunds.Refunds {
			if r["state"] != "succeeded" || r["receipt_id"] == nil {
				return fmt.Sprintf("refund %v %v (%v)", r["amount"], r["state"], r["message"])
			}
		}
		return ""
	})
	for _, rc := range []map[string]any{rcB, rcC, rcD, {"id": refunds.Refunds[0]["receipt_id"]}, {"id": refunds.Refunds[1]["receipt_id"]}} {
		waitRegistered(rc["id"].(string))
	}
	if p := payment(payA["id"].(string)); p["state"] != "partially_refunded" {
		t.Errorf("payment A %v after 80 SEK of credits", p["state"])
	}

	// The Paygate's own books: one payment per TransID and per ReqID, each
	// paid once for its amount; one credit per refund.
	l := pg.ledger()
	want := map[string]int64{payA["reference"].(string): 25000, payB["reference"].(string): 10000,
		payC["reference"].(string): 12000, payD["reference"].(string): 8000}
	byTrans, byReq := map[string]int{}, map[string]int{}
	for _, p := range l.Payments {
		byTrans[p.TransID]++
		byReq[p.ReqID]++
		if p.Status != "OK" || p.AmountCap != want[p.TransID] {
			t.Errorf("Paygate payment %s: %s, captured %d; want OK, %d", p.TransID, p.Status, p.AmountCap, want[p.TransID])
		}
		if p.TransID == payA["reference"] && p.AmountCred != 8000 {
			t.Errorf("payment A credited %d at the Paygate, want 8000", p.AmountCred)
		}
		if p.TransID == payD["reference"] && p.Notified {
			t.Error("payment D's notification reached kvitt: (b) did not lose it")
		}
	}
	if len(l.Payments) != 4 || len(byTrans) != 4 || len(byReq) != 4 {
		t.Errorf("the Paygate holds %d payments for %d TransIDs and %d ReqIDs; want 4, one each: %+v", len(l.Payments), len(byTrans), len(byReq), l.Payments)
	}
	credits := map[string]int{}
	for _, c := range l.Credits {
		credits[c.RefNr]++
	}
	for _, r := range refunds.Refunds {
		if n := credits[r["id"].(string)]; n != 1 {
			t.Errorf("refund %s credited %d times at the Paygate", r["id"], n)
		}
	}
	if len(l.Credits) != 2 {
		t.Errorf("%d credits at the Paygate, want 2: %+v", len(l.Credits), l.Credits)
	}

	var rec map[string]any
	s.must("GET", "/v1/tills/1/recovery", nil, &rec)
	if items := rec["items"].([]any); len(items) != 0 {
		t.Errorf("recovery list after all: %v", items)
	}
	kv.kill9()
	out, err := exec.Command(bin, "journal", "verify", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("journal verify: %v\n%s", err, out)
	}
}

// paygate drives the Computop simulator process through its test controls.
type paygate struct {
	t    *testing.T
	base string
	http *http.Client
}

func (g *paygate) post(path string) {
	g.t.Helper()
	res, err := g.http.Post(g.base+path, "", nil)
	if err != nil {
		g.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 {
		g.t.Fatalf("POST %s: %s %s", path, res.Status, b)
	}
}

// customer acts as the Swish customer on the payment with this TransID.
func (g *paygate) customer(transID, action string) { g.post("sim/customer/" + transID + "/" + action) }

// fault makes the next request to endpoint fail as fault (hold, lose-request, lose-response).
func (g *paygate) fault(endpoint, fault string) { g.post("sim/faults/" + endpoint + "/" + fault) }

// release handles a held request (process) or drops it unhandled (drop).
func (g *paygate) release(id int, action string) {
	if action == "" {
		g.t.Fatalf("held request %d: which one is it?", id)
	}
	g.post(fmt.Sprintf("sim/held/%d/%s", id, action))
}

func (g *paygate) ledger() simcomputop.Ledger {
	g.t.Helper()
	res, err := g.http.Get(g.base + "sim/ledger.json")
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	var l simcomputop.Ledger
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		g.t.Fatal(err)
	}
	return l
}

// waitHeld waits until n requests are held and returns them.
func (g *paygate) waitHeld(n int) []simcomputop.HeldRequest {
	g.t.Helper()
	var held []simcomputop.HeldRequest
	eventually(g.t, fmt.Sprintf("%d requests held at the Paygate", n), func() string {
		if held = g.ledger().Held; len(held) != n {
			return fmt.Sprintf("%d held", len(held))
		}
		return ""
	})
	return held
}

// eventuallyWithin is eventually with its own bound, for a wait that
// includes kvitt's in-flight window (30 s) by design.
func eventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v: %s", what, limit, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
