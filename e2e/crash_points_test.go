package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/computop"
	"github.com/kvitt-hub/kvitt/internal/crashpoint"
	simcomputop "github.com/kvitt-hub/kvitt/sim/computop"
	simmobilepay "github.com/kvitt-hub/kvitt/sim/mobilepay"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// TestCrashPoints kills kvitt with SIGKILL at its named crash points
// (internal/crashpoint, issue 15): kvitt runs as its own process in live
// mode, started with KVITT_CRASHPOINT naming one point; the test drives
// the flow until kvitt writes "kvitt: crash point <name> reached" (it
// then stands still there), kills it, starts it again without the
// variable, and checks the invariants at the provider's side (the
// simulators count) and at kvitt's: nothing lost, nothing charged or
// given back twice, every paid payment receipted, the journal intact,
// serials unbroken, Z totals equal to the ledger.
//
// The simulators are processes of their own ("kvitt sim …") that outlive
// kvitt, as the real providers do; Svea's is run inside the test process
// (also not kvitt's), because "kvitt sim svea" does not tell where its
// Payment Admin listens.
//
// Each point is a subtest with its own kvitt and simulators, all run at
// once: most of the time is spent waiting for kvitt's in-flight windows
// (a card Start: 160 s; a provider call: 30 s), which overlap.
func TestCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and the simulators as processes")
	}
	bin := buildKvitt(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Side by side in goroutines rather than with t.Parallel, which would
	// run only GOMAXPROCS of them at once though they mostly wait.
	run := func(t *testing.T, name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() { defer wg.Done(); t.Run(name, f) }()
	}

	run(t, "payment.before-start", func(t *testing.T) {
		var wg sync.WaitGroup
		defer wg.Wait()
		sub := func(name string, f func(t *testing.T)) {
			wg.Add(1)
			go func() { defer wg.Done(); t.Run(name, f) }()
		}
		sub("card", func(t *testing.T) { cpCardBeforeStart(t, bin) })
		sub("swish", func(t *testing.T) { cpSwishBeforeStart(t, bin) })
		sub("mobilepay", func(t *testing.T) { cpMobilePayBeforeStart(t, bin) })
	})
	run(t, "z.before-commit", func(t *testing.T) { cpZBeforeCommit(t, bin) })
	run(t, "batch.between-lines", func(t *testing.T) { cpBatchBetweenLines(t, bin) })
	run(t, "svea.deliver.before-call", func(t *testing.T) { cpSveaDeliver(t, bin, "svea.deliver.before-call") })
	run(t, "svea.deliver.after-call", func(t *testing.T) { cpSveaDeliver(t, bin, "svea.deliver.after-call") })
}

// cpKvitt is one subtest's "kvitt serve" in live mode on its own data.
type cpKvitt struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	data    string
	env     []string
	kv      *proc
	s       *served
}

// newCPKvitt writes cfg to a new directory; start runs kvitt on it.
func newCPKvitt(t *testing.T, bin string, cfg map[string]any, env ...string) *cpKvitt {
	t.Helper()
	k := &cpKvitt{t: t, bin: bin, dir: t.TempDir(), env: env}
	k.data = filepath.Join(k.dir, "data")
	k.cfgPath = filepath.Join(k.dir, "kvitt.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(k.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	k.s = &served{t: t, key: adminKey, base: "http://" + freeAddr(t)}
	return k
}

// start runs kvitt, armed at point (none if "").
func (k *cpKvitt) start(point string) {
	k.t.Helper()
	env := append([]string{"KVITT_ADMIN_KEY=" + adminKey, crashpoint.EnvVar + "=" + point}, k.env...)
	k.kv = startProc(k.t, env, k.bin, "serve", "--config", k.cfgPath, "--data", k.data, "--addr", strings.TrimPrefix(k.s.base, "http://"))
	k.s.log = k.kv.out
	eventually(k.t, "kvitt healthz", func() string {
		res, err := http.Get(k.s.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		return ""
	})
}

// waitPoint waits until p has written that it stands at the crash point.
func waitPoint(t *testing.T, p *proc, point string) {
	t.Helper()
	line := "kvitt: crash point " + point + " reached\n"
	eventually(t, "crash point "+point, func() string {
		if !strings.Contains(p.out.String(), line) {
			return "not reached"
		}
		return ""
	})
}

// crashAt waits for kvitt at the crash point and kills it there.
func (k *cpKvitt) crashAt(point string) {
	k.t.Helper()
	waitPoint(k.t, k.kv, point)
	k.kv.kill9()
}

// postLater sends a request whose answer kvitt's death will cut off.
func (k *cpKvitt) postLater(path string, body any) <-chan string {
	done := make(chan string, 1)
	go func() {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest("POST", k.s.base+path, rd)
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

// cut waits for the request cut off by the kill; an answer means kvitt
// answered before the crash point, which the test does not expect.
func (k *cpKvitt) cut(ch <-chan string) {
	k.t.Helper()
	if got := <-ch; strings.HasPrefix(got, "2") {
		k.t.Fatalf("the request was answered before the kill: %s", got)
	}
}

func (k *cpKvitt) newSale(price, vat int64) string {
	k.t.Helper()
	var sale map[string]any
	k.s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Vara", "unit_price": price, "vat_rate": vat}}}, &sale)
	return sale["id"].(string)
}

// salePayment is the one payment of a sale, whose POST never answered.
func (k *cpKvitt) salePayment(saleID string) apiPayment {
	k.t.Helper()
	var sale struct {
		Payments []apiPayment `json:"payments"`
	}
	k.s.must("GET", "/v1/sales/"+saleID, nil, &sale)
	if len(sale.Payments) != 1 {
		k.t.Fatalf("sale %s has %d payments; want the one stored before the kill", saleID, len(sale.Payments))
	}
	return sale.Payments[0]
}

type cpPayment struct {
	apiPayment
	Method    string `json:"method"`
	Refunded  int64  `json:"refunded"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	Attention string `json:"attention"`
}

func (k *cpKvitt) payment(id string) cpPayment {
	k.t.Helper()
	var p cpPayment
	k.s.must("GET", "/v1/payments/"+id, nil, &p)
	return p
}

func (k *cpKvitt) waitPayment(id, state string, within time.Duration) cpPayment {
	k.t.Helper()
	var p cpPayment
	eventuallyWithin(k.t, within, "payment "+id+" "+state, func() string {
		if p = k.payment(id); p.State != state {
			return fmt.Sprintf("state %s (%s)", p.State, p.Message)
		}
		return ""
	})
	return p
}

func (k *cpKvitt) complete(saleID string) apiReceipt {
	k.t.Helper()
	var rc apiReceipt
	k.s.must("POST", "/v1/sales/"+saleID+"/complete", nil, &rc)
	return rc
}

// noRecovery checks that nothing waits for a person at till 1.
func (k *cpKvitt) noRecovery() {
	k.t.Helper()
	var rec struct {
		Items []any `json:"items"`
	}
	k.s.must("GET", "/v1/tills/1/recovery", nil, &rec)
	if len(rec.Items) != 0 {
		k.t.Errorf("recovery list: %v", rec.Items)
	}
}

// stop kills kvitt and checks its journal's hash chain with "kvitt journal verify".
func (k *cpKvitt) stopAndVerify() {
	k.t.Helper()
	k.kv.kill9()
	out, err := exec.Command(k.bin, "journal", "verify", "--data", k.data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		k.t.Errorf("journal verify: %v\n%s", err, out)
	}
}

// view reads kvitt's database (kvitt stopped).
func (k *cpKvitt) view(fn func(tx kvitt.Tx) error) {
	k.t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(k.data, "kvitt.db"))
	if err != nil {
		k.t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(ctx, fn); err != nil {
		k.t.Fatal(err)
	}
}

// journal reads kvitt's journal (kvitt stopped) and counts its entries by kind.
func (k *cpKvitt) journal() (map[string]int, []*kvitt.JournalEntry) {
	k.t.Helper()
	kinds := map[string]int{}
	var all []*kvitt.JournalEntry
	k.view(func(tx kvitt.Tx) (err error) {
		all, err = tx.ListJournal(0, 1_000_000)
		for _, e := range all {
			kinds[e.Kind]++
		}
		return err
	})
	return kinds, all
}

var cpMerchantSE = map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
	"store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}}

// payment.before-start, card: the payment row (with its nexo ServiceID)
// is committed, the PaymentRequest not sent. The terminal never saw it.
// After the restart the hub has a payment "created" whose Start may, as
// far as it can know, still be on its way for the card's long-running
// window (150 s + 10 s grace from the payment's creation): its sync job
// asks the terminal (TransactionStatus by the ServiceID, which answers
// NotFound) and concludes nothing until that window is over; then the
// payment fails cleanly ("the card terminal never received the payment;
// nothing was charged"). The Start is never sent again. The test acts as
// a customer at the terminal throughout, so a Start sent again would be
// paid, and would have to be under the same ServiceID and charged once.
func cpCardBeforeStart(t *testing.T, bin string) {
	dir := t.TempDir()
	nexoAddr := freeAddr(t)
	nexoCA := filepath.Join(dir, "nexo-ca.pem")
	startProc(t, nil, bin, "sim", "nexo", "--addr", nexoAddr, "--ca-out", nexoCA, "--processing", "20ms")
	eventually(t, "nexo CA", fileExists(nexoCA))
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false, "merchant": cpMerchantSE,
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-CP01",
			"terminal": map[string]any{"poiid": "KVITTSIM-0001", "url": "https://" + nexoAddr + "/nexo"}}},
		"card": map[string]any{"ca_file": nexoCA},
	})
	nexo := tlsClient(t, nexoCA)
	get := func(path string, out any) {
		t.Helper()
		res, err := nexo.Get("https://" + nexoAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	type entry struct{ Kind, ServiceID string }
	ledger := func() []entry { var l []entry; get("/ledger.json", &l); return l }
	type screen struct{ Stage, LastText string }
	screenNow := func() screen { var s screen; get("/screen.json", &s); return s }

	k.start("payment.before-start")
	sale := k.newSale(12900, 12)
	cut := k.postLater("/v1/sales/"+sale+"/payments", map[string]any{"method": "card", "amount": 12900})
	k.crashAt("payment.before-start")
	k.cut(cut)
	if sc, l := screenNow(), ledger(); sc.Stage != "idle" || sc.LastText != "" || len(l) != 0 {
		t.Fatalf("the terminal got the payment before the crash point: screen %+v, ledger %+v", sc, l)
	}

	k.start("")
	p := k.salePayment(sale)
	if p.State != "created" || p.Reference == "" {
		t.Fatalf("the stored payment %+v: want created, with its ServiceID", p)
	}
	began := time.Now()
	var final cpPayment
	eventuallyWithin(t, 200*time.Second, "the card payment ends in a definite state", func() string {
		if sc := screenNow(); sc.Stage == "card" {
			// A Start reached the terminal: the customer pays it.
			res, err := nexo.PostForm("https://"+nexoAddr+"/customer/card", url.Values{"scenario": {"approve"}})
			if err == nil {
				res.Body.Close()
			}
		}
		final = k.payment(p.ID)
		switch final.State {
		case "created", "pending", "unknown":
			return fmt.Sprintf("state %s (%s)", final.State, final.Message)
		}
		return ""
	})
	t.Logf("after the restart the card payment ended %s (%s: %s) %s later", final.State, final.ErrorCode, final.Message, time.Since(began).Round(time.Second))
	var charges int
	for _, e := range ledger() {
		if e.Kind == "payment" {
			charges++
			if e.ServiceID != p.Reference {
				t.Errorf("the terminal charged ServiceID %s; kvitt's payment is %s", e.ServiceID, p.Reference)
			}
		}
	}
	switch final.State {
	case "paid":
		// The Start was sent again under the same ServiceID: charged once.
		if charges != 1 {
			t.Fatalf("payment paid, the terminal charged %d times: %+v", charges, ledger())
		}
	case "failed", "cancelled", "declined":
		if charges != 0 || final.Attention != "" {
			t.Fatalf("payment %s (attention %q), the terminal charged %d times", final.State, final.Attention, charges)
		}
		// Nothing was taken: the sale is paid another way.
		var cash cpPayment
		k.s.must("POST", "/v1/sales/"+sale+"/payments", map[string]any{"method": "cash", "amount": 12900}, &cash)
		if cash.State != "paid" {
			t.Fatalf("cash payment after the failed card: %+v", cash)
		}
	default:
		t.Fatalf("payment %s (%s)", final.State, final.Message)
	}
	if rc := k.complete(sale); rc.Serial != 1 || rc.Total != 12900 {
		t.Errorf("receipt %+v, want serial 1 of 12900", rc)
	}
	k.noRecovery()
	k.stopAndVerify()
}

// payment.before-start, Swish: the payment row with its instructionUUID
// is committed, the PUT not sent. After the restart the sync job (due
// 10 s after the payment was made) reads the payment request and finds
// nothing (404); once kvitt's own PUT can no longer be on its way (the
// payment's in-flight window, 30 s) it sends the create with the same
// instructionUUID; the customer pays it: one payment request at Swish,
// paid once, receipted.
func cpSwishBeforeStart(t *testing.T, bin string) {
	dir := t.TempDir()
	simAddr := freeAddr(t)
	certs := filepath.Join(dir, "swish")
	startProc(t, nil, bin, "sim", "swish", "--addr", simAddr, "--certs", certs)
	eventually(t, "swish certificates", fileExists(filepath.Join(certs, "merchant.pem")))
	sim := &swishSimProc{t: t, base: "https://" + simAddr + "/", http: tlsClient(t, filepath.Join(certs, "ca.pem"))}
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false, "merchant": cpMerchantSE,
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-CP02"}},
		"swish": map[string]any{"base_url": "https://" + simAddr + "/swish-cpcapi/api/", "payee_alias": simswish.DefaultPayeeAlias,
			"cert_file": filepath.Join(certs, "merchant.pem"), "ca_file": filepath.Join(certs, "ca.pem"),
			// Nobody listens there: every callback is lost, and the poller must do.
			"callback_url": "https://127.0.0.1:1"},
	})

	k.start("payment.before-start")
	sale := k.newSale(4500, 12)
	cut := k.postLater("/v1/sales/"+sale+"/payments", map[string]any{"method": "swish", "amount": 4500})
	k.crashAt("payment.before-start")
	k.cut(cut)
	if l := sim.ledger(); len(l.PaymentRequests) != 0 {
		t.Fatalf("Swish got the payment request before the crash point: %+v", l.PaymentRequests)
	}

	k.start("")
	p := k.salePayment(sale)
	if p.State != "created" || p.Reference == "" {
		t.Fatalf("the stored payment %+v: want created, with its instructionUUID", p)
	}
	eventuallyWithin(t, time.Minute, "the create sent after the restart", func() string {
		l := sim.ledger()
		if len(l.PaymentRequests) == 0 || l.PaymentRequests[0].CreatesOK == 0 {
			return fmt.Sprintf("%+v", l.PaymentRequests)
		}
		return ""
	})
	k.waitPayment(p.ID, "pending", 20*time.Second)
	sim.approve(p.Reference)
	k.waitPayment(p.ID, "paid", 20*time.Second)
	if rc := k.complete(sale); rc.Serial != 1 || rc.Total != 4500 {
		t.Errorf("receipt %+v, want serial 1 of 4500", rc)
	}
	l := sim.ledger()
	if len(l.PaymentRequests) != 1 {
		t.Fatalf("Swish holds %d payment requests, want one: %+v", len(l.PaymentRequests), l.PaymentRequests)
	}
	if pr := l.PaymentRequests[0]; pr.InstructionID != p.Reference || pr.Status != "PAID" || pr.Amount != "45.00" || pr.Creates != 1 || pr.CreatesOK != 1 {
		t.Fatalf("Swish's payment request %+v; want kvitt's %s PAID for 45.00, created once", pr, p.Reference)
	}
	k.noRecovery()
	k.stopAndVerify()
}

// payment.before-start, MobilePay: the payment row with its reference
// and idempotency key is committed, the create not sent. After the
// restart the sync job reads the payment (not found) and creates it with
// the same reference and key (MobilePay keeps one payment per key); the
// customer approves; kvitt captures once.
func cpMobilePayBeforeStart(t *testing.T, bin string) {
	dir := t.TempDir()
	mpAddr := freeAddr(t)
	certs := filepath.Join(dir, "mobilepay")
	startProc(t, nil, bin, "sim", "mobilepay", "--addr", mpAddr, "--certs", certs)
	ca := filepath.Join(certs, "ca.pem")
	eventually(t, "mobilepay CA", fileExists(ca))
	sim := &mpSim{t: t, base: "https://" + mpAddr + "/", http: tlsClient(t, ca)}
	hookURL := "https://127.0.0.1:1/v1/callbacks/mobilepay/webhook" // every webhook is lost
	out, err := exec.Command(bin, "mobilepay", "webhook", "register", "--url", hookURL, "--base-url", "https://"+mpAddr, "--ca", ca,
		"--client-id", simmobilepay.DefaultClientID, "--client-secret", simmobilepay.DefaultClientSecret,
		"--subscription-key", simmobilepay.DefaultSubscriptionKey, "--msn", simmobilepay.DefaultMSN).CombinedOutput()
	if err != nil {
		t.Fatalf("kvitt mobilepay webhook register: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false,
		"merchant": map[string]any{"id": "dk", "name": "Krak ApS", "org_nr": "12345678", "country": "DK", "currency": "DKK",
			"store": map[string]any{"id": "dk-s", "name": "Krak", "address": "Strøget 1, 1160 København K"}},
		"tills": []any{map[string]any{"id": "1", "name": "Kasse 1", "register_id": "KRAK-CP01"}},
		"mobilepay": map[string]any{"base_url": "https://" + mpAddr, "client_id": simmobilepay.DefaultClientID,
			"client_secret": simmobilepay.DefaultClientSecret, "subscription_key": simmobilepay.DefaultSubscriptionKey,
			"merchant_serial_number": simmobilepay.DefaultMSN, "webhook_url": hookURL, "webhook_secret": lines[len(lines)-1], "ca_file": ca},
	})

	k.start("payment.before-start")
	sale := k.newSale(12500, 25)
	cut := k.postLater("/v1/sales/"+sale+"/payments", map[string]any{"method": "mobilepay", "amount": 12500, "payer_alias": "4512345678"})
	k.crashAt("payment.before-start")
	k.cut(cut)
	if l := sim.ledger(); len(l) != 0 {
		t.Fatalf("MobilePay got the payment before the crash point: %+v", l)
	}

	k.start("")
	p := k.salePayment(sale)
	if p.State != "created" || p.Reference == "" {
		t.Fatalf("the stored payment %+v: want created, with its reference", p)
	}
	eventuallyWithin(t, time.Minute, "the create sent after the restart", func() string {
		if _, ok := sim.ledger()[p.Reference]; !ok {
			return "not at MobilePay"
		}
		return ""
	})
	sim.customer(p.Reference, "approve")
	k.waitPayment(p.ID, "paid", 30*time.Second)
	if rc := k.complete(sale); rc.Serial != 1 || rc.Total != 12500 {
		t.Errorf("receipt %+v, want serial 1 of 12500", rc)
	}
	l := sim.ledger()
	if mp, ok := l[p.Reference]; len(l) != 1 || !ok || mp.Captured != 12500 || mp.Captures != 1 || mp.Refunded != 0 {
		t.Fatalf("MobilePay's ledger %+v; want kvitt's %s alone, captured once for 12500", l, p.Reference)
	}
	k.noRecovery()
	k.stopAndVerify()
}

// cpZ is the JSON of an X or Z report, as far as the test reads it.
type cpZ struct {
	Serial      int64 `json:"serial"`
	FirstSerial int64 `json:"first_serial"`
	LastSerial  int64 `json:"last_serial"`
	Receipts    int64 `json:"receipts"`
	Sales       struct {
		Count, Amount int64
	} `json:"sales"`
	Returns struct {
		Count, Amount int64
	} `json:"returns"`
	NetSales int64 `json:"net_sales"`
	Payments []struct {
		Method string `json:"method"`
		Count  int64  `json:"count"`
		Amount int64  `json:"amount"`
	} `json:"payments"`
	GrandTotals struct {
		Sales, Returns, Net int64
	} `json:"grand_totals"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
}

// z.before-commit: kvitt dies inside the Z report's transaction, after
// the report, its serial range and its journal entry were written and
// before the commit. None of it survives: after the restart there is no
// Z report 1, the next Z is number 1 and covers every receipt exactly
// once, its totals equal the ledger (the payments taken less the refunds
// given, by means of payment; the sales' totals; the refunds), the
// receipt serials run unbroken across the following Z, the journal holds
// one z_report entry per Z report and verifies.
func cpZBeforeCommit(t *testing.T, bin string) {
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false, "merchant": cpMerchantSE,
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-CP03"}},
	})
	k.start("z.before-commit")
	var sales []string
	var serials []int64
	sell := func(price, vat int64) string {
		t.Helper()
		sale := k.newSale(price, vat)
		var p cpPayment
		k.s.must("POST", "/v1/sales/"+sale+"/payments", map[string]any{"method": "cash", "amount": price}, &p)
		if p.State != "paid" {
			t.Fatalf("cash payment %+v", p)
		}
		sales = append(sales, sale)
		serials = append(serials, k.complete(sale).Serial)
		return p.ID
	}
	sell(12900, 12)
	returned := sell(4500, 25)
	sell(9900, 25)
	var refund struct {
		State     string `json:"state"`
		ReceiptID string `json:"receipt_id"`
	}
	k.s.must("POST", "/v1/payments/"+returned+"/refunds", map[string]any{"amount": 4500}, &refund)
	if refund.State != "succeeded" || refund.ReceiptID == "" {
		t.Fatalf("cash refund %+v: want succeeded with a return receipt", refund)
	}
	var ret apiReceipt
	k.s.must("GET", "/v1/receipts/"+refund.ReceiptID, nil, &ret)
	serials = append(serials, ret.Serial)

	cut := k.postLater("/v1/tills/1/reports/z", nil)
	k.crashAt("z.before-commit")
	k.cut(cut)
	if kinds, _ := k.journal(); kinds["z_report"] != 0 {
		t.Fatalf("the killed Z report is in the journal: %v", kinds)
	}

	k.start("")
	if st, body := k.s.do("GET", "/v1/tills/1/reports/z/1", nil, nil); st != http.StatusNotFound {
		t.Fatalf("Z report 1 after the kill mid-report: %d %s; want none", st, body)
	}
	// The ledger: what the payments took less what their refunds gave back.
	var ledgerNet, salesTotal int64
	for _, id := range sales {
		var sale struct {
			Total    int64       `json:"total"`
			Payments []cpPayment `json:"payments"`
		}
		k.s.must("GET", "/v1/sales/"+id, nil, &sale)
		salesTotal += sale.Total
		for _, p := range sale.Payments {
			if p.Method != "cash" {
				t.Fatalf("payment %+v", p)
			}
			ledgerNet += p.Amount - p.Refunded
		}
	}
	var z1 cpZ
	k.s.must("POST", "/v1/tills/1/reports/z", nil, &z1)
	if z1.Serial != 1 || z1.FirstSerial != 1 || z1.LastSerial != 4 || z1.Receipts != 4 {
		t.Fatalf("the Z report after the restart: %+v; want Z 1 over receipts 1–4", z1)
	}
	if z1.Sales.Count != 3 || z1.Sales.Amount != salesTotal || z1.Returns.Count != 1 || z1.Returns.Amount != 4500 ||
		z1.NetSales != ledgerNet || len(z1.Payments) != 1 || z1.Payments[0].Method != "cash" || z1.Payments[0].Amount != ledgerNet ||
		z1.GrandTotals.Sales != salesTotal || z1.GrandTotals.Returns != 4500 || z1.GrandTotals.Net != ledgerNet {
		t.Fatalf("Z 1 %+v; the ledger: sales %d, returns 4500, net %d (cash)", z1, salesTotal, ledgerNet)
	}
	sell(5000, 25)
	var z2 cpZ
	k.s.must("POST", "/v1/tills/1/reports/z", nil, &z2)
	if z2.Serial != 2 || z2.FirstSerial != 5 || z2.LastSerial != 5 || z2.Receipts != 1 || !z2.PeriodStart.Equal(z1.PeriodEnd) ||
		z2.Sales.Amount != 5000 || z2.GrandTotals.Sales != salesTotal+5000 || z2.GrandTotals.Net != ledgerNet+5000 {
		t.Fatalf("Z 2 %+v after Z 1 %+v", z2, z1)
	}
	for i, s := range serials {
		if s != int64(i+1) {
			t.Fatalf("receipt serials %v: want 1, 2, 3, … unbroken", serials)
		}
	}
	k.stopAndVerify()
	kinds, entries := k.journal()
	type zEntry struct {
		Serial      int64 `json:"serial"`
		FirstSerial int64 `json:"first_serial"`
		LastSerial  int64 `json:"last_serial"`
	}
	var zs []zEntry
	for _, e := range entries {
		if e.Kind == "z_report" {
			var z zEntry
			if err := json.Unmarshal([]byte(e.Data), &z); err != nil {
				t.Fatal(err)
			}
			zs = append(zs, z)
		}
	}
	if want := []zEntry{{1, 1, 4}, {2, 5, 5}}; fmt.Sprint(zs) != fmt.Sprint(want) {
		t.Fatalf("z_report journal entries %+v; want Z 1 over 1–4 and Z 2 over 5 (journal kinds %v)", zs, kinds)
	}
}

// batch.between-lines: "kvitt computop batch apply" dies after the
// first result line's transaction committed, before the second. Three
// refunds of one Computop payment were made while the Paygate got none
// of their online credits, then carried out by the Paygate's Batch
// Manager from a batch file. Applying the same response file again
// applies the two lines left and finds the first applied already; a
// third time changes nothing. kvitt: each refund succeeded once, the
// payment refunded by their sum, one return receipt each; the Paygate:
// one credit per refund, all by the batch, none online after the restart.
func cpBatchBetweenLines(t *testing.T, bin string) {
	dir := t.TempDir()
	ctAddr := freeAddr(t)
	ctCerts := filepath.Join(dir, "computop")
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false, "merchant": cpMerchantSE,
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-CP04"}},
		"computop": map[string]any{"base_url": "https://" + ctAddr + "/", "merchant_id": simcomputop.DefaultMerchantID,
			"password": simcomputop.DefaultPassword, "hmac_key": simcomputop.DefaultHMACKey,
			"ca_file": filepath.Join(ctCerts, "ca.pem"), "callback_url": "https://127.0.0.1", "order_desc": "Krasch"},
	})
	// Notifications go to URLNotify's path on kvitt, as a reverse proxy on
	// https://127.0.0.1 would forward them: the Paygate credits a payment
	// only once its notification was acknowledged.
	startProc(t, nil, bin, "sim", "computop", "--addr", ctAddr, "--certs", ctCerts, "--notify-forward", k.s.base, "--retry-unit", "1h")
	eventually(t, "Paygate simulator CA", fileExists(filepath.Join(ctCerts, "ca.pem")))
	pg := &paygate{t: t, base: "https://" + ctAddr + "/", http: tlsClient(t, filepath.Join(ctCerts, "ca.pem"))}

	k.start("")
	sale := k.newSale(30000, 25)
	var pay cpPayment
	k.s.must("POST", "/v1/sales/"+sale+"/payments", map[string]any{"method": "computop", "amount": 30000}, &pay)
	if pay.State != "pending" {
		t.Fatalf("computop payment %+v", pay)
	}
	pg.customer(pay.Reference, "approve")
	pay = k.waitPayment(pay.ID, "paid", waitLimit)
	eventually(t, "the Paygate's notification acknowledged", func() string {
		for _, p := range pg.ledger().Payments {
			if p.TransID == pay.Reference && p.Notified {
				return ""
			}
		}
		return "not yet"
	})
	k.complete(sale)
	// Three refunds whose online credits never reach the Paygate.
	amounts := []int64{5000, 3000, 2000}
	var refunds []string
	for _, a := range amounts {
		pg.fault("credit.aspx", "lose-request")
		var r struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		k.s.must("POST", "/v1/payments/"+pay.ID+"/refunds", map[string]any{"amount": a}, &r)
		if r.State == "succeeded" || r.State == "failed" {
			t.Fatalf("refund %+v: want it undecided (its credit lost)", r)
		}
		refunds = append(refunds, r.ID)
	}
	if l := pg.ledger(); len(l.Credits) != 0 {
		t.Fatalf("credits at the Paygate: %+v", l.Credits)
	}
	// kvitt serve stays down while the batch carries the refunds: their own
	// follow-up would send the online credits again, and a batch record
	// carries no ReqID (docs/computop.md, "Batch refunds").
	k.kv.kill9()

	// The batch file, carried out by the Paygate's Batch Manager.
	var csv strings.Builder
	for i, id := range refunds {
		fmt.Fprintf(&csv, "%s,%s,%d,%s\n", pay.Provider[computop.KeyPayID], pay.Reference, amounts[i], id)
	}
	csvPath := filepath.Join(dir, "credits.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)
	name := "T20250314" + simcomputop.DefaultMerchantID + "001.dat"
	batch := filepath.Join(dir, name)
	if out, err := exec.Command(bin, "computop", "batch", "build", "--merchant-id", simcomputop.DefaultMerchantID,
		"--date", "20250314", "--out", batch, csvPath).CombinedOutput(); err != nil {
		t.Fatalf("batch build: %v\n%s", err, out)
	}
	body, _ := os.ReadFile(batch)
	req, _ := http.NewRequest(http.MethodPut, pg.base+"sim/batch/"+name, strings.NewReader(string(body)))
	res, err := pg.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("batch upload: %s %s", res.Status, answer)
	}
	response := filepath.Join(dir, "P20250314"+simcomputop.DefaultMerchantID+"001.dat")
	os.WriteFile(response, answer, 0o644)

	apply := []string{"computop", "batch", "apply", "--data", k.data, response}
	cp := startProc(t, []string{crashpoint.EnvVar + "=batch.between-lines"}, bin, apply...)
	waitPoint(t, cp, "batch.between-lines")
	cp.kill9()
	summary := func(want string) {
		t.Helper()
		out, err := exec.Command(bin, apply...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("batch apply again: %v\n%s\nwant %q", err, out, want)
		}
	}
	summary("3 records: 2 applied, 1 already applied, 0 unknown, 0 failed")
	summary("3 records: 0 applied, 3 already applied, 0 unknown, 0 failed")
	// Decided, the refunds have no follow-up left that could send their
	// online credits when kvitt serve runs again.
	k.view(func(tx kvitt.Tx) error {
		js, err := tx.ListJobs()
		for _, j := range js {
			if j.Kind == "refund.sync" {
				t.Errorf("a refund follow-up is left: %+v", j)
			}
		}
		return err
	})

	k.start("")
	var rs struct {
		Refunds []struct {
			ID        string `json:"id"`
			State     string `json:"state"`
			Amount    int64  `json:"amount"`
			ReceiptID string `json:"receipt_id"`
		} `json:"refunds"`
	}
	k.s.must("GET", "/v1/payments/"+pay.ID+"/refunds", nil, &rs)
	receipts := map[string]bool{}
	for _, r := range rs.Refunds {
		if r.State != "succeeded" || r.ReceiptID == "" || receipts[r.ReceiptID] {
			t.Errorf("refund %+v: want succeeded with a return receipt of its own", r)
		}
		receipts[r.ReceiptID] = true
	}
	if p := k.payment(pay.ID); len(rs.Refunds) != 3 || p.State != "partially_refunded" || p.Refunded != 10000 {
		t.Fatalf("payment %s refunded %d in %d refunds; want partially_refunded, 10000 in 3", p.State, p.Refunded, len(rs.Refunds))
	}
	l := pg.ledger()
	byRef := map[string]int{}
	for _, c := range l.Credits {
		byRef[c.RefNr]++
		if !strings.HasPrefix(c.Via, "batch ") {
			t.Errorf("credit %+v not by the batch", c)
		}
	}
	for _, id := range refunds {
		if byRef[id] != 1 {
			t.Errorf("refund %s credited %d times at the Paygate", id, byRef[id])
		}
	}
	for _, p := range l.Payments {
		if p.TransID == pay.Reference && p.AmountCred != 10000 {
			t.Errorf("the Paygate credited %d of the payment, want 10000", p.AmountCred)
		}
	}
	if len(l.Credits) != 3 {
		t.Errorf("%d credits at the Paygate, want 3: %+v", len(l.Credits), l.Credits)
	}
	k.noRecovery()
	k.stopAndVerify()
	if kinds, _ := k.journal(); kinds["receipt.issued"] != 4 {
		t.Errorf("journal %v: want 4 receipts issued (the sale's and three returns)", kinds)
	}
}

// cpOrder is an order's JSON, as far as the test reads it.
type cpOrder struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Reference string `json:"reference"`
	Delivered bool   `json:"delivered"`
	Delivery  *struct {
		State   string `json:"state"`
		Message string `json:"message"`
		Sends   int    `json:"sends"`
	} `json:"delivery"`
	Link struct {
		URL string `json:"url"`
	} `json:"link"`
}

// svea.deliver.before-call: the deliver of a paid order (deferred
// delivery) is claimed in the database, nothing sent; kvitt dies. After
// the restart, once the request can no longer be on its way (30 s), the
// poller reads Svea's order, finds it not delivered and sends the
// deliver: delivered, one deliver at Svea.
//
// svea.deliver.after-call: Svea delivered and answered; kvitt dies before
// it stores the answer. After the restart the poller reads Svea's order:
// delivered, and never sends the deliver again.
func cpSveaDeliver(t *testing.T, bin, point string) {
	sim, err := simsvea.New(simsvea.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ca := filepath.Join(t.TempDir(), "svea-ca.pem")
	if err := os.WriteFile(ca, sim.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	k := newCPKvitt(t, bin, map[string]any{
		"sandbox": false, "merchant": cpMerchantSE,
		"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-CP05"}},
		"svea": map[string]any{"base_url": sim.URL(), "merchant_id": sim.MerchantID(), "password": sim.Password(),
			"terms_uri": "https://butiken.example/villkor", "link_lifetime": "1h", "poll_interval": "5s",
			"callback_url":      "https://127.0.0.1:1", // lost: the poller finds the order paid
			"deferred_delivery": true, "admin_base_url": sim.AdminURL(), "admin_secret": simsvea.DefaultAdminSecret},
	}, "SSL_CERT_FILE="+ca) // the svea section has no CA key: kvitt trusts the simulator as its system roots
	order := func(id string) cpOrder {
		var o cpOrder
		k.s.must("GET", "/v1/orders/"+id, nil, &o)
		return o
	}
	atSvea := func(ref string) simsvea.AdminOrderInfo {
		t.Helper()
		var id int64
		fmt.Sscan(ref, &id)
		info, ok := sim.AdminOrder(id)
		if !ok {
			t.Fatalf("Svea's Payment Admin has no order %s", ref)
		}
		return info
	}

	k.start(point)
	var o cpOrder
	k.s.must("POST", "/v1/orders", json.RawMessage(svOrderBody("7001", 1)), &o)
	if o.State != "awaiting_payment" || o.Link.URL == "" {
		t.Fatalf("order %+v", o)
	}
	res, err := sim.HTTPClient().Post(o.Link.URL+"/complete", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	eventuallyWithin(t, 30*time.Second, "the order paid", func() string {
		if o = order(o.ID); o.State != "paid" || o.Reference == "" {
			return "state " + o.State
		}
		return ""
	})
	if info := atSvea(o.Reference); info.Status != "Open" || info.DeliverCalls != 0 {
		t.Fatalf("deferred delivery: Svea shows %+v", info)
	}

	cut := k.postLater("/v1/orders/"+o.ID+"/deliver", nil)
	k.crashAt(point)
	k.cut(cut)
	info := atSvea(o.Reference)
	switch point {
	case "svea.deliver.before-call":
		if info.DeliverCalls != 0 || info.Deliveries != 0 {
			t.Fatalf("Svea got the deliver before the crash point: %+v", info)
		}
	case "svea.deliver.after-call":
		if info.DeliverCalls != 1 || info.Deliveries != 1 || info.Status != "Delivered" {
			t.Fatalf("Svea had not delivered at the crash point: %+v", info)
		}
	}

	k.start("")
	if o = order(o.ID); o.Delivered || o.Delivery == nil || o.Delivery.State != "sent" {
		t.Fatalf("the order after the restart: %+v; want the delivery sent, its outcome not stored", o.Delivery)
	}
	eventuallyWithin(t, 60*time.Second, "the delivery completed after the restart", func() string {
		if o = order(o.ID); !o.Delivered || o.Delivery == nil || o.Delivery.State != "done" {
			return fmt.Sprintf("delivered %v, %+v", o.Delivered, o.Delivery)
		}
		return ""
	})
	t.Logf("delivered; kvitt claimed the send %d times", o.Delivery.Sends)
	if info := atSvea(o.Reference); info.Status != "Delivered" || info.Deliveries != 1 || info.DeliverCalls != 1 || info.CancelCalls != 0 {
		t.Fatalf("at Svea: %+v; want delivered by exactly one deliver", info)
	}
	if o.State != "paid" {
		t.Errorf("order %s after delivery, want paid", o.State)
	}
	var picking struct {
		Orders []struct {
			ID string `json:"id"`
		} `json:"orders"`
	}
	k.s.must("GET", "/v1/picking-list", nil, &picking)
	if len(picking.Orders) != 1 || picking.Orders[0].ID != o.ID {
		t.Errorf("picking list %+v, want the order", picking.Orders)
	}
	// Asking again changes nothing at Svea.
	k.s.must("POST", "/v1/orders/"+o.ID+"/deliver", nil, nil)
	if info := atSvea(o.Reference); info.DeliverCalls != 1 {
		t.Fatalf("a second deliver was sent: %+v", info)
	}
	k.stopAndVerify()
}
