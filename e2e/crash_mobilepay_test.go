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

	simmobilepay "github.com/kvitt-hub/kvitt/sim/mobilepay"
)

// MobilePay's crash points (seed 001), as e2e/crash_test.go does for the
// card and Swish: kvitt runs as its own process in live mode against "kvitt
// sim mobilepay", a process of its own that outlives kvitt as the platform
// would, and is killed with SIGKILL at the worst moments. The simulator
// holds a request on the test's word, so kvitt dies while its create,
// capture or refund is at MobilePay; the test then lets the request take
// effect (it arrived) or drops it (it never did). Every webhook is lost:
// kvitt's webhook URL leads nowhere, so only what kvitt stored and asks
// again brings the truth back. After each restart, the simulator's own
// ledger shows one payment per sale and one capture per payment, each
// paid payment is receipted or in the till's recovery list, and the
// journal verifies.

// mpSim drives "kvitt sim mobilepay" over its test hooks.
type mpSim struct {
	t    *testing.T
	base string // https://host:port/
	http *http.Client
}

func (s *mpSim) post(path string) {
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

func (s *mpSim) get(path string, out any) {
	s.t.Helper()
	res, err := s.http.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
}

// ledger is the simulator's book of payments by reference.
func (s *mpSim) ledger() map[string]simmobilepay.LedgerPayment {
	s.t.Helper()
	var l []simmobilepay.LedgerPayment
	s.get("sim/ledger", &l)
	out := map[string]simmobilepay.LedgerPayment{}
	for _, p := range l {
		out[p.Reference] = p
	}
	return out
}

// hold makes the simulator hold the next request of op; waitHeld waits
// until it is there.
func (s *mpSim) hold(op string) { s.post("sim/hold/" + op) }

func (s *mpSim) waitHeld(op string, n int) {
	s.t.Helper()
	eventually(s.t, fmt.Sprintf("%d %s requests held at MobilePay", n, op), func() string {
		var held []simmobilepay.HeldRequest
		s.get("sim/held", &held)
		k := 0
		for _, h := range held {
			if h.Op == op {
				k++
			}
		}
		if k < n {
			return fmt.Sprintf("held: %v", held)
		}
		return ""
	})
}

// release lets the held request of op (about reference, if not "") take
// effect ("process") or drops it ("drop").
func (s *mpSim) release(op, reference, action string) {
	s.post("sim/held/" + op + "/" + action + "?reference=" + reference)
}

func (s *mpSim) customer(ref, action string) { s.post("sim/customer/payments/" + ref + "/" + action) }

// mpEventuallyWithin is eventually with another bound, for waits that
// include a job's first run (a refund is first asked about 30 s after it
// was made).
func mpEventuallyWithin(t *testing.T, limit time.Duration, what string, cond func() string) {
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

func TestKill9MobilePay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and the MobilePay simulator as processes")
	}
	bin := buildKvitt(t)
	dir := t.TempDir()
	mpAddr, kvAddr := freeAddr(t), freeAddr(t)
	certs := filepath.Join(dir, "mobilepay")
	startProc(t, nil, bin, "sim", "mobilepay", "--addr", mpAddr, "--certs", certs)
	ca := filepath.Join(certs, "ca.pem")
	eventually(t, "mobilepay CA", fileExists(ca))
	sim := &mpSim{t: t, base: "https://" + mpAddr + "/", http: tlsClient(t, ca)}

	// Register kvitt's webhook as docs/mobilepay.md says, at a URL nobody
	// listens on: every webhook is lost.
	hookURL := "https://127.0.0.1:1/v1/callbacks/mobilepay/webhook"
	creds := []string{"--base-url", "https://" + mpAddr, "--ca", ca, "--client-id", simmobilepay.DefaultClientID,
		"--client-secret", simmobilepay.DefaultClientSecret, "--subscription-key", simmobilepay.DefaultSubscriptionKey, "--msn", simmobilepay.DefaultMSN}
	out, err := exec.Command(bin, append([]string{"mobilepay", "webhook", "register", "--url", hookURL}, creds...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kvitt mobilepay webhook register: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	secret := lines[len(lines)-1]

	cfg := map[string]any{
		"sandbox": false,
		"merchant": map[string]any{"id": "dk", "name": "Krak ApS", "org_nr": "12345678", "country": "DK", "currency": "DKK",
			"store": map[string]any{"id": "dk-s", "name": "Krak", "address": "Strøget 1, 1160 København K"}},
		"tills": []any{map[string]any{"id": "1", "name": "Kasse 1", "register_id": "KRAK-0001"}},
		"mobilepay": map[string]any{"base_url": "https://" + mpAddr, "client_id": simmobilepay.DefaultClientID,
			"client_secret": simmobilepay.DefaultClientSecret, "subscription_key": simmobilepay.DefaultSubscriptionKey,
			"merchant_serial_number": simmobilepay.DefaultMSN, "webhook_url": hookURL, "webhook_secret": secret, "ca_file": ca},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "kvitt.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
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
	startKvitt()

	type sale struct {
		ID       string       `json:"id"`
		State    string       `json:"state"`
		Payments []apiPayment `json:"payments"`
	}
	newSale := func(price int64) string {
		var sl sale
		s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Kaffe", "unit_price": price, "vat_rate": 25}}}, &sl)
		return sl.ID
	}
	// payLater sends the payment in the background: its create is held at
	// MobilePay, so the answer only comes if kvitt lives.
	payLater := func(saleID string, amount int64) {
		go func() {
			body, _ := json.Marshal(map[string]any{"method": "mobilepay", "amount": amount, "payer_alias": "4512345678"})
			req, _ := http.NewRequest("POST", s.base+"/v1/sales/"+saleID+"/payments", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	// stored reads the sale's one payment as kvitt stored it.
	stored := func(saleID string) apiPayment {
		var sl sale
		s.must("GET", "/v1/sales/"+saleID, nil, &sl)
		if len(sl.Payments) != 1 {
			t.Fatalf("sale %s has %d payments, want 1: %+v", saleID, len(sl.Payments), sl.Payments)
		}
		return sl.Payments[0]
	}
	waitPaid := func(id string) {
		mpEventuallyWithin(t, time.Minute, "payment "+id+" paid after the restart", func() string {
			var p apiPayment
			s.must("GET", "/v1/payments/"+id, nil, &p)
			return map[bool]string{true: "", false: "state " + p.State}[p.State == "paid"]
		})
	}
	onceAtMobilePay := func(ref string, captured, refunded int64, refunds int) {
		t.Helper()
		l := sim.ledger()
		p, ok := l[ref]
		if !ok || p.Captured != captured || p.Captures != 1 || p.Refunded != refunded || p.Refunds != refunds {
			t.Fatalf("MobilePay's ledger for %s: %+v (of %d payments); want %d captured once, %d refunded in %d", ref, p, len(l), captured, refunded, refunds)
		}
	}

	// 1. kvitt dies while its create is at MobilePay; the create takes
	// effect and the customer approves while kvitt is dead.
	sale1 := newSale(12500)
	sim.hold("create")
	payLater(sale1, 12500)
	sim.waitHeld("create", 1)
	kv.kill9()
	sim.release("create", "", "process")
	var ref1 string
	for ref := range sim.ledger() {
		ref1 = ref
	}
	sim.customer(ref1, "approve")
	startKvitt()
	p1 := stored(sale1)
	if p1.Reference != ref1 {
		t.Fatalf("payment %+v stored; MobilePay holds %s", p1, ref1)
	}
	waitPaid(p1.ID)
	onceAtMobilePay(p1.Reference, 12500, 0, 0)
	var rc1 apiReceipt
	s.must("POST", "/v1/sales/"+sale1+"/complete", nil, &rc1)

	// 2. One kill, three requests at MobilePay (the waits after a restart
	// run side by side):
	//   - a payment stored whose create has not reached MobilePay: it never
	//     does; after the restart kvitt sends it, same reference and key;
	//   - the customer approved with every webhook lost, and kvitt's
	//     capture is at MobilePay: it takes effect (the poll that sent it
	//     is leased by the dead process: the restart takes it over when
	//     the lease runs out);
	//   - two refunds of the first payment: one takes effect, one never
	//     arrives; kvitt finds the first in the payment's events by its
	//     key and sends the second again.
	sale3 := newSale(8000)
	var p3 apiPayment
	s.must("POST", "/v1/sales/"+sale3+"/payments", map[string]any{"method": "mobilepay", "amount": 8000, "payer_alias": "4512345678"}, &p3)
	sim.hold("capture")
	sim.customer(p3.Reference, "approve")
	sim.waitHeld("capture", 1)
	sale2 := newSale(4500)
	sim.hold("create")
	payLater(sale2, 4500)
	sim.waitHeld("create", 1)
	refundLater := func(paymentID string, amount int64) {
		go func() {
			body, _ := json.Marshal(map[string]any{"amount": amount})
			req, _ := http.NewRequest("POST", s.base+"/v1/payments/"+paymentID+"/refunds", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+adminKey)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
	}
	sim.hold("refund")
	sim.hold("refund")
	refundLater(p1.ID, 3000)
	refundLater(p1.ID, 2500)
	sim.waitHeld("refund", 2)
	kv.kill9()
	sim.release("create", "", "drop")
	sim.release("capture", p3.Reference, "process")
	sim.release("refund", p1.Reference, "process")
	sim.release("refund", p1.Reference, "drop")
	if n := len(sim.ledger()); n != 2 {
		t.Fatalf("MobilePay holds %d payments; the dropped create must not be there", n)
	}
	startKvitt()
	p2 := stored(sale2)
	mpEventuallyWithin(t, time.Minute, "the create sent again after the restart", func() string {
		if _, ok := sim.ledger()[p2.Reference]; !ok {
			return "not at MobilePay"
		}
		return ""
	})
	sim.customer(p2.Reference, "approve")
	waitPaid(p2.ID)
	waitPaid(p3.ID)
	mpEventuallyWithin(t, time.Minute, "both refunds succeeded after the restart", func() string {
		var rs struct {
			Refunds []struct {
				State string `json:"state"`
			} `json:"refunds"`
		}
		s.must("GET", "/v1/payments/"+p1.ID+"/refunds", nil, &rs)
		if len(rs.Refunds) != 2 || rs.Refunds[0].State != "succeeded" || rs.Refunds[1].State != "succeeded" {
			return fmt.Sprintf("%+v", rs.Refunds)
		}
		return ""
	})
	onceAtMobilePay(p1.Reference, 12500, 5500, 2)
	onceAtMobilePay(p2.Reference, 4500, 0, 0)
	onceAtMobilePay(p3.Reference, 8000, 0, 0)
	var rc3 apiReceipt
	s.must("POST", "/v1/sales/"+sale3+"/complete", nil, &rc3)
	// Serials run on without a gap: the two refunds' return receipts came between.
	if rc3.Serial != rc1.Serial+3 || rc3.Registration != "not_required" {
		t.Errorf("receipt %+v after %+v and two returns: want serial %d, no control unit (a Danish till)", rc3, rc1, rc1.Serial+3)
	}
	// The till never completed sale 2: its paid payment is in the recovery list.
	if why := mpRecoveryReason(s, "1", p2.ID); !strings.Contains(why, "no receipt") {
		t.Fatalf("recovery reason for %s: %q, want money without a receipt", p2.ID, why)
	}

	// The cashier completes the sale left without a receipt; then nothing
	// needs a person, MobilePay holds one payment per sale, and the journal
	// survived every kill.
	s.must("POST", "/v1/sales/"+sale2+"/complete", nil, nil)
	var rec struct {
		Items []any `json:"items"`
	}
	s.must("GET", "/v1/tills/1/recovery", nil, &rec)
	if len(rec.Items) != 0 {
		t.Errorf("recovery list after all: %v", rec.Items)
	}
	if n := len(sim.ledger()); n != 3 {
		t.Errorf("MobilePay holds %d payments for 3 sales", n)
	}
	kv.kill9()
	out, err = exec.Command(bin, "journal", "verify", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("journal verify: %v\n%s", err, out)
	}
}

// mpRecoveryReason is the reason of the till's recovery item for the payment ("" = not listed).
func mpRecoveryReason(s *served, till, paymentID string) string {
	var page struct {
		Items []struct {
			Reason  string `json:"reason"`
			Payment *struct {
				ID string `json:"id"`
			} `json:"payment"`
		} `json:"items"`
	}
	s.must("GET", "/v1/tills/"+till+"/recovery", nil, &page)
	for _, it := range page.Items {
		if it.Payment != nil && it.Payment.ID == paymentID {
			return it.Reason
		}
	}
	return ""
}
