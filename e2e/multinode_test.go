package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read the ledger's tables
	"github.com/kvitt-hub/kvitt/postgres/pgtest"
)

// Several kvitt nodes on one PostgreSQL (issue 14): three "kvitt serve"
// processes in live mode share one database; the control unit, the Swish
// simulator and one card terminal simulator per till run as processes of
// their own, as real providers outlive kvitt. Nine tills sell concurrently,
// each request going to any live node as a load balancer would send it: six
// pay in turn with cash, Swish (the customer scans the QR code the till
// shows: the simulator's customer hook with the token) and card (the
// terminal approves every card by itself); three more pay with Swish and
// cash, and their first customers wait until the kill, so that their
// payments are polled by the sync jobs meanwhile.
// Mid-run one node is killed with SIGKILL while requests are in flight: just
// before the kill, the node's connection to Swish is held by a proxy of the
// test, so that its Swish requests (creates of tills' payments, polls of
// its leased sync jobs of the slow customers' payments) are on their way
// when it dies; afterwards the held requests either reach Swish (carried out
// with nobody left to hear the answer) or are dropped (they never arrived).
// Swish's callbacks go through the test's HTTPS "load balancer" to a live
// node, half of them are lost, so polling and lease takeover must do.
//
// Afterwards: every payment is final or in its till's recovery list; what the
// card terminals' ledgers and Swish hold matches kvitt exactly (one charge per
// payment, none kvitt does not know, nothing taken that kvitt booked as not
// taken); receipt serials run 1..n per till with no gap or repeat, and the
// control unit registered each receipt once; the jobs the dead node had
// leased were run by another node after the lease ran out; and `kvitt
// journal verify` passes. A till's server-sent event streams opened on one
// node see a payment made through another.
//
// MobilePay is not in the mix: a kvitt configuration has one merchant with
// one currency, and MobilePay takes DKK, NOK and EUR while Swish takes SEK
// only (e2e/crash_mobilepay_test.go and TestMobilePayWebhookOnAnotherNode
// cover MobilePay on its own and across nodes).

const (
	mnTills = 6
	// mnDisplayTill is the till of the server-sent events test.
	mnDisplayTill = "7"
	mnLoad        = 5 * time.Second // selling on three nodes before the kill
	// The Swish customers of the first sale of mnSlowTills more tills (8, 9,
	// 10: Swish and cash, no terminal) scan only after the kill: meanwhile their sync jobs poll Swish every 2 s, so that
	// the node to be killed holds such a job. A payment whose poll the dead
	// node holds is paid only once the job's lease ran out, so that the
	// takeover is what follows it up.
	mnSlowTills = 3
	// mnHold bounds how long the node's Swish traffic is held before the kill.
	mnHold = 8 * time.Second
	mnTail = 5 * time.Second // selling on the two left after it
	// mnSaleWait bounds how long a till waits for one payment to be decided
	// (a slow customer's payment followed by the dead node's job: until its
	// lease ran out, about 70 s in).
	mnSaleWait = 85 * time.Second
)

var mnMethods = []string{"cash", "swish", "card"}

func TestMultiNodeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three kvitt nodes and the simulators as processes on PostgreSQL")
	}
	dsn := pgtest.FreshDatabase(t)
	began := time.Now()
	bin := buildKvitt(t)
	t.Logf("built in %v", time.Since(began).Round(time.Millisecond))
	dir := t.TempDir()

	// The simulators, each a process of its own.
	cuAddr, swishAddr := freeAddr(t), freeAddr(t)
	cuJournal := filepath.Join(dir, "cu.jsonl")
	startProc(t, nil, bin, "sim", "controlunit", "--addr", cuAddr, "--certs", filepath.Join(dir, "cu"), "--journal", cuJournal)
	lb := &loadBalancer{}
	cb := newCallbackLB(t, dir, lb)
	swishCerts := filepath.Join(dir, "swish")
	startProc(t, nil, bin, "sim", "swish", "--addr", swishAddr, "--certs", swishCerts, "--callback-ca", cb.caFile)
	terms := make([]mnTerminal, mnTills)
	for i := range terms {
		terms[i] = mnTerminal{addr: freeAddr(t), ca: filepath.Join(dir, fmt.Sprintf("nexo-%d-ca.pem", i+1)), poiid: fmt.Sprintf("KVITTSIM-MN-%02d", i+1)}
		startProc(t, nil, bin, "sim", "nexo", "--addr", terms[i].addr, "--poiid", terms[i].poiid, "--ca-out", terms[i].ca,
			"--auto", "approve", "--processing", "800ms")
	}
	eventually(t, "control unit certificates", fileExists(filepath.Join(dir, "cu", "client-key.pem")))
	eventually(t, "swish certificates", fileExists(filepath.Join(swishCerts, "merchant.pem")))
	var cas []byte
	for _, tm := range terms {
		eventually(t, "nexo CA "+tm.poiid, fileExists(tm.ca))
		b, err := os.ReadFile(tm.ca)
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, b...)
	}
	termCAs := filepath.Join(dir, "terminal-cas.pem")
	if err := os.WriteFile(termCAs, cas, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Logf("simulators up after %v", time.Since(began).Round(time.Millisecond))
	// Node C reaches Swish through a proxy that can hold its traffic.
	proxy := newHoldProxy(t, swishAddr)

	// Three nodes, one configuration each (only C's Swish address differs),
	// one database.
	const nodes = 3
	names := []string{"A", "B", "C"}
	var tillsCfg []any
	for i, tm := range terms {
		tillsCfg = append(tillsCfg, map[string]any{"id": fmt.Sprint(i + 1), "name": fmt.Sprintf("Kassa %d", i+1),
			"register_id": fmt.Sprintf("MN-%04d", i+1), "control_unit": "cu",
			"terminal": map[string]any{"poiid": tm.poiid, "url": "https://" + tm.addr + "/nexo"}})
	}
	tillsCfg = append(tillsCfg, map[string]any{"id": mnDisplayTill, "name": "Kassa 7", "register_id": "MN-0007", "control_unit": "cu"})
	for i := range mnSlowTills {
		n := mnTills + 2 + i
		tillsCfg = append(tillsCfg, map[string]any{"id": fmt.Sprint(n), "name": fmt.Sprintf("Kassa %d", n), "register_id": fmt.Sprintf("MN-%04d", n), "control_unit": "cu"})
	}
	procs := make([]*proc, nodes)
	starts := make([]func() *proc, nodes)
	for i := range nodes {
		swishBase := "https://" + swishAddr + "/swish-cpcapi/api/"
		if i == nodes-1 {
			swishBase = "https://" + proxy.addr() + "/swish-cpcapi/api/"
		}
		cfg := map[string]any{
			"sandbox":  false,
			"database": dsn,
			"merchant": map[string]any{"id": "m1", "name": "Flernod AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
				"store": map[string]any{"id": "s1", "name": "Flernod", "address": "Storgatan 1, 111 22 Stockholm"}},
			"tills": tillsCfg,
			"control_units": map[string]any{"cu": map[string]any{"url": "https://" + cuAddr,
				"cert_file": filepath.Join(dir, "cu", "client.pem"), "key_file": filepath.Join(dir, "cu", "client-key.pem"), "ca_file": filepath.Join(dir, "cu", "ca.pem")}},
			"swish": map[string]any{"base_url": swishBase, "payee_alias": "1234679304",
				"cert_file": filepath.Join(swishCerts, "merchant.pem"), "ca_file": filepath.Join(swishCerts, "ca.pem"),
				"callback_url": cb.url},
			"card": map[string]any{"ca_file": termCAs},
		}
		b, _ := json.Marshal(cfg)
		path := filepath.Join(dir, "kvitt-"+names[i]+".json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		lb.add(names[i], "http://"+addr)
		starts[i] = func() *proc {
			return startProc(t, []string{"KVITT_ADMIN_KEY=" + adminKey}, bin, "serve", "--config", path, "--data", filepath.Join(dir, "data-"+names[i]), "--addr", addr)
		}
	}
	// All three start at once on the empty database: their migrations and
	// their first start's bootstrap (merchant, store, tills) race.
	for i := range nodes {
		procs[i] = starts[i]()
	}
	var failedAtStart []int
	for i := range nodes {
		if why := mnStarted(t, procs[i], "node "+names[i]); why != "" {
			failedAtStart = append(failedAtStart, i)
			t.Logf("node %s did not start: %s", names[i], why)
		}
	}
	t.Run("FirstStartAtOnce", func(t *testing.T) {
		for _, i := range failedAtStart {
			t.Errorf("node %s did not start:\n%s", names[i], procs[i].out.String())
		}
	})
	for _, i := range failedAtStart { // as systemd's Restart=on-failure would
		procs[i].kill9()
		procs[i] = starts[i]()
		if why := mnStarted(t, procs[i], "node "+names[i]+" (restarted)"); why != "" {
			t.Fatalf("node %s did not start again: %s", names[i], why)
		}
	}
	t.Logf("three nodes up after %v", time.Since(began).Round(time.Millisecond))

	sw := &swishCustomer{t: t, base: "https://" + swishAddr + "/", http: tlsClient(t, filepath.Join(swishCerts, "ca.pem"))}
	api := &mnAPI{t: t, lb: lb, http: &http.Client{Timeout: 60 * time.Second}, done: make(chan struct{})}

	// 1. The load, and the kill.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(api.done); wg.Wait() }() // a test that stops early stops its tills
	tills := make([]*mnTill, mnTills+mnSlowTills)
	gate := &mnGate{open: make(chan struct{}), notBefore: map[string]time.Time{}}
	loadStart := time.Now()
	for i := range tills {
		tills[i] = &mnTill{id: fmt.Sprint(i + 1), idx: i, api: api, sw: sw, methods: mnMethods}
		if i >= mnTills {
			tills[i].id = fmt.Sprint(i + 2) // after the display's till
			tills[i].gate, tills[i].methods = gate, []string{"swish", "cash"}
		}
		wg.Add(1)
		go func() { defer wg.Done(); tills[i].run(stop) }()
	}
	// 2. Meanwhile, a till's server-sent event streams on node A see a
	// payment made through node B: the display stream and the payment's own
	// stream (till 7 serves the display test only).
	t.Run("EventsAcrossNodes", func(t *testing.T) {
		mnEventsAcrossNodes(t, api, sw, lb.nodes[0].base, lb.nodes[1].base)
	})

	// The slow customers' payments are polled every 2 s. The node's Swish traffic is held, and the node is killed
	// once it holds a leased job that hangs on Swish (a job of a live node
	// hands itself back in milliseconds) and a till waits on it, or after mnHold.
	time.Sleep(time.Until(loadStart.Add(mnLoad)))
	victim := lb.nodes[nodes-1]
	proxy.hold()
	heldBy := time.Now().Add(mnHold)
	firstSeen := map[mnJob]time.Time{}
	for time.Now().Before(heldBy) {
		now := time.Now()
		leased, err := mnLeasedJobs(db, now)
		if err != nil {
			t.Fatal(err)
		}
		stuck := false
		for _, j := range leased {
			if _, ok := firstSeen[j]; !ok {
				firstSeen[j] = now
			}
			stuck = stuck || now.Sub(firstSeen[j]) > 700*time.Millisecond
		}
		if stuck && len(api.inFlightAt(victim.base)) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	held := time.Since(heldBy.Add(-mnHold)).Round(time.Millisecond)
	inFlight := api.inFlightAt(victim.base)
	lb.down(victim.name)
	killAt := time.Now()
	atKill, err := mnLeasedJobs(db, killAt)
	if err != nil {
		t.Fatal(err)
	}
	procs[nodes-1].kill9()
	delivered, dropped := proxy.release()
	t.Logf("killed node %s with SIGKILL %v into the load, its Swish traffic held for %v: %d Swish connections held at the proxy (%d then delivered, %d dropped), till requests to it cut: %v, %d jobs leased by any node at that moment",
		victim.name, killAt.Sub(loadStart).Round(time.Millisecond), held, delivered+dropped, delivered, dropped, inFlight, len(atKill))

	// The jobs still leased, unchanged, 3 s after the kill are the dead
	// node's (a live node's job hands itself back in milliseconds).
	time.Sleep(3 * time.Second)
	stillLeased, err := mnLeasedJobs(db, killAt)
	if err != nil {
		t.Fatal(err)
	}
	var orphans []mnJob
	for id, j := range atKill {
		if j2, ok := stillLeased[id]; ok && j2.owner == j.owner && j2.leaseUntil == j.leaseUntil {
			orphans = append(orphans, j)
		}
	}
	sort.Slice(orphans, func(i, k int) bool { return orphans[i].id < orphans[k].id })
	for _, j := range orphans {
		t.Logf("the dead node's job %d (%s %s) is leased until %v", j.id, j.kind, j.ref, j.leaseUntil.Sub(killAt).Round(time.Millisecond))
	}
	if len(orphans) == 0 {
		// Timing: under load the node may hold no job that hangs on Swish
		// within mnHold. Every money check below still runs; the hand-over
		// of a dead worker's lease is proven on its own by
		// hub.TestWorkerRestartMidJob.
		t.Logf("the dead node held no leased job at the kill: no hand-over to see in this run (Swish held: %d connections)", delivered+dropped)
	}
	// The customers whose payment the dead node's job follows pay only once
	// the lease ran out; the other slow customers pay now.
	for _, j := range orphans {
		gate.holdUntil(j.ref, j.leaseUntil.Add(time.Second))
	}
	close(gate.open)
	time.Sleep(time.Until(killAt.Add(mnTail)))
	close(stop)
	afterKill := make(chan struct{})
	go func() { wg.Wait(); close(afterKill) }()

	// The dead node's jobs run again elsewhere once their lease is out, not
	// before. A job is also deleted when its payment is decided (a callback
	// reached a live node): that is no run, and it is fine at any time.
	var lastLease time.Time
	for _, j := range orphans {
		if j.leaseUntil.After(lastLease) {
			lastLease = j.leaseUntil
		}
	}
	takenOver := 0
	for len(orphans) > 0 {
		var left []mnJob
		now := time.Now()
		for _, j := range orphans {
			var owner string
			var until int64
			err := db.QueryRow(`SELECT lease_owner, lease_until FROM jobs WHERE id = $1`, j.id).Scan(&owner, &until)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				t.Fatal(err)
			}
			if err == nil && owner == j.owner && until == j.leaseUntil.UnixMicro() {
				left = append(left, j) // still the dead node's
				continue
			}
			decided := false
			if errors.Is(err, sql.ErrNoRows) && j.kind == "payment.sync" {
				var state string
				if db.QueryRow(`SELECT state FROM payments WHERE id = $1`, j.ref).Scan(&state) == nil && !mnOpen(state) {
					decided = true
				}
			}
			switch {
			case !now.Before(j.leaseUntil):
				takenOver++
				t.Logf("the dead node's job %d (%s %s) was taken over %v after the kill, its lease having run out %v after it",
					j.id, j.kind, j.ref, now.Sub(killAt).Round(time.Millisecond), j.leaseUntil.Sub(killAt).Round(time.Millisecond))
			case decided:
				t.Logf("the dead node's job %d (%s %s) was cancelled %v after the kill: its payment was decided through a live node",
					j.id, j.kind, j.ref, now.Sub(killAt).Round(time.Millisecond))
			default:
				t.Errorf("the dead node's job %d (%s %s) was run again %v after the kill, before its lease ran out (%v after it)",
					j.id, j.kind, j.ref, now.Sub(killAt).Round(time.Millisecond), j.leaseUntil.Sub(killAt).Round(time.Millisecond))
			}
		}
		orphans = left
		if len(orphans) > 0 && now.After(lastLease.Add(20*time.Second)) {
			t.Errorf("jobs of the dead node never taken over, 20 s after their leases ran out: %+v", orphans)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !lastLease.IsZero() && takenOver == 0 {
		t.Errorf("none of the dead node's jobs was seen taken over after its lease")
	}
	select {
	case <-afterKill:
	case <-time.After(mnSaleWait + 10*time.Second):
		t.Fatal("the tills did not finish their last sales")
	}
	t.Logf("load over %v after it began; the tills made %d sales (%d completed after the kill)", time.Since(loadStart).Round(time.Millisecond),
		api.sales.Load(), api.completedAfter(killAt))
	if api.completedAfter(killAt) == 0 {
		t.Errorf("no sale was completed after the kill: the two nodes left did not keep serving")
	}

	// 3. Everything settles, then the books are compared.
	mnSettle(t, api, db, 30*time.Second)
	mnVerify(t, api, db, sw, swishCerts, swishAddr, terms, cuJournal)
	out, err := exec.Command(bin, "journal", "verify", "--database", dsn).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chain intact") {
		t.Errorf("journal verify: %v\n%s", err, out)
	} else {
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
	t.Logf("multi-node test done in %v", time.Since(began).Round(time.Millisecond))
}

// mnTerminal is a card terminal simulator: its address, CA file and POIID.
type mnTerminal struct{ addr, ca, poiid string }

// mnStarted waits until the node serves ("") or has given up at start (its error).
func mnStarted(t *testing.T, p *proc, what string) string {
	t.Helper()
	why := ""
	eventually(t, what+" serves", func() string {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.HasPrefix(line, "kvitt: ") { // main's last word before exit(1)
				why = line
				return ""
			}
		}
		if !strings.Contains(p.out.String(), `msg="kvitt is running"`) {
			return "not yet running"
		}
		return ""
	})
	return why
}

// loadBalancer sends each request to the next live node.
type loadBalancer struct {
	mu    sync.Mutex
	nodes []*mnNode
	next  int
}

type mnNode struct {
	name, base string
	dead       atomic.Bool
}

func (l *loadBalancer) add(name, base string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nodes = append(l.nodes, &mnNode{name: name, base: base})
}

func (l *loadBalancer) pick() *mnNode {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range l.nodes {
		n := l.nodes[l.next%len(l.nodes)]
		l.next++
		if !n.dead.Load() {
			return n
		}
	}
	return l.nodes[0]
}

func (l *loadBalancer) down(name string) {
	for _, n := range l.nodes {
		if n.name == name {
			n.dead.Store(true)
		}
	}
}

// mnAPI is the tills' HTTP access to kvitt through the load balancer.
type mnAPI struct {
	t    *testing.T
	lb   *loadBalancer
	http *http.Client

	done      chan struct{} // closed when the test ends: the tills stop at once
	sales     atomic.Int64
	mu        sync.Mutex
	inFlight  map[string]map[string]int // node base → requests under way ("POST /v1/sales/{id}/payments swish")
	completed []time.Time
}

// errTransport is a request that got no answer (the node died under it).
var errTransport = errors.New("no answer")

// do sends one request to base; a transport error is errTransport.
func (a *mnAPI) do(base, method, path, key string, body, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	what := method + " " + mnPathRE.ReplaceAllString(path, "{id}")
	if m, ok := body.(map[string]any); ok && m["method"] != nil {
		what += fmt.Sprint(" ", m["method"])
	}
	a.mu.Lock()
	if a.inFlight == nil {
		a.inFlight = map[string]map[string]int{}
	}
	if a.inFlight[base] == nil {
		a.inFlight[base] = map[string]int{}
	}
	a.inFlight[base][what]++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.inFlight[base][what]--; a.inFlight[base][what] == 0 {
			delete(a.inFlight[base], what)
		}
		a.mu.Unlock()
	}()
	res, err := a.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s %s%s: %v", errTransport, method, base, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s %s%s: %v", errTransport, method, base, path, err)
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, string(b), fmt.Errorf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return res.StatusCode, string(b), nil
}

var mnPathRE = regexp.MustCompile(`(sale|pay|rcp)_[0-9a-z]+`)

// inFlightAt lists the requests under way at the node.
func (a *mnAPI) inFlightAt(base string) map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for k, n := range a.inFlight[base] {
		out[k] = n
	}
	return out
}

// read sends a GET to live nodes until one answers.
func (a *mnAPI) read(path string, out any) (int, string) {
	for try := 0; ; try++ {
		code, body, err := a.do(a.lb.pick().base, "GET", path, "", nil, out)
		if err == nil {
			return code, body
		}
		if try > 20 {
			a.t.Errorf("GET %s: %v", path, err)
			return 0, ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *mnAPI) completedAfter(at time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.completed {
		if c.After(at) {
			n++
		}
	}
	return n
}

type mnPayment struct {
	ID        string `json:"id"`
	SaleID    string `json:"sale_id"`
	Method    string `json:"method"`
	State     string `json:"state"`
	Amount    int64  `json:"amount"`
	Reference string `json:"reference"`
	Attention string `json:"attention"`
	Message   string `json:"message"`
	Action    *struct {
		Type   string `json:"type"`
		QRData string `json:"qr_data"`
	} `json:"action"`
}

type mnSale struct {
	ID        string      `json:"id"`
	TillID    string      `json:"till_id"`
	State     string      `json:"state"`
	Total     int64       `json:"total"`
	ReceiptID string      `json:"receipt_id"`
	Payments  []mnPayment `json:"payments"`
}

func mnOpen(state string) bool {
	switch state {
	case "created", "pending", "authorized", "unknown":
		return true
	}
	return false
}

// mnTill is one till: it sells, pays with the next method, follows the
// payment until it is decided, and completes the sale. After a lost answer
// it reads the sale from another node, as docs/api.md tells a till to.
type mnTill struct {
	id  string
	idx int
	api *mnAPI
	sw  *swishCustomer
	k   int
	// methods are what its customers pay with, in turn.
	methods []string
	// gate, if set, holds back the Swish customer of the till's first sale.
	gate *mnGate
}

func (tl *mnTill) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-tl.api.done:
			return
		default:
		}
		tl.k++
		method := tl.methods[(tl.idx+tl.k)%len(tl.methods)]
		if tl.k == 1 && tl.gate != nil {
			method = "swish"
		}
		// Whole kronor, so that cash needs no rounding.
		tl.sale(method, int64(100+10*tl.idx+tl.k%20)*100)
	}
}

func (tl *mnTill) key(what string, n int) string {
	return fmt.Sprintf("mn-%s-%d-%s-%d", tl.id, tl.k, what, n)
}

func (tl *mnTill) sale(method string, price int64) {
	a, t := tl.api, tl.api.t
	// Open the sale. A lost answer: a new sale with a new key (the old
	// one, if it was made, holds no money: the key's reservation by the
	// dead node would answer 409 for two minutes).
	var s mnSale
	for n := 0; ; n++ {
		code, body, err := a.do(a.lb.pick().base, "POST", "/v1/sales", tl.key("sale", n),
			map[string]any{"till_id": tl.id, "lines": []any{map[string]any{"name": "Vara", "unit_price": price, "vat_rate": 25}}}, &s)
		if err == nil && code == 201 {
			break
		}
		if err == nil || n > 5 {
			t.Errorf("till %s: open a sale: %d %s %v", tl.id, code, body, err)
			return
		}
	}
	a.sales.Add(1)
	deadline := time.Now().Add(mnSaleWait)
	paid := false
	for attempt := 0; attempt < 4 && !paid && time.Now().Before(deadline); attempt++ {
		m := method
		if attempt > 0 {
			m = "cash" // the customer pays otherwise
		}
		p, ok := tl.pay(s.ID, m, price, attempt)
		if !ok {
			return
		}
		state, done := tl.follow(p, deadline)
		if !done {
			return // still undecided: the checks afterwards find it final or listed
		}
		paid = state == "paid"
	}
	if !paid {
		return
	}
	// Complete. A lost answer: read the sale; complete again if it has no receipt.
	for n := 0; n < 6; n++ {
		var rc struct {
			Serial int64 `json:"serial"`
		}
		code, body, err := a.do(a.lb.pick().base, "POST", "/v1/sales/"+s.ID+"/complete", tl.key("complete", n), nil, &rc)
		if err == nil && code == 200 {
			a.mu.Lock()
			a.completed = append(a.completed, time.Now())
			a.mu.Unlock()
			return
		}
		if err == nil {
			t.Errorf("till %s: complete %s: %d %s", tl.id, s.ID, code, body)
			return
		}
		var cur mnSale
		a.read("/v1/sales/"+s.ID, &cur)
		if cur.ReceiptID != "" {
			a.mu.Lock()
			a.completed = append(a.completed, time.Now())
			a.mu.Unlock()
			return
		}
	}
	t.Errorf("till %s: sale %s could not be completed", tl.id, s.ID)
}

// pay starts a payment of the sale's whole total; after a lost answer it
// takes the payment the sale holds, or starts again if it holds none.
func (tl *mnTill) pay(saleID, method string, amount int64, attempt int) (mnPayment, bool) {
	a, t := tl.api, tl.api.t
	body := map[string]any{"method": method, "amount": amount}
	if method == "cash" {
		body["tendered"] = amount
	}
	for n := 0; n < 6; n++ {
		var p mnPayment
		code, raw, err := a.do(a.lb.pick().base, "POST", "/v1/sales/"+saleID+"/payments", tl.key(fmt.Sprintf("pay%d", attempt), n), body, &p)
		if err == nil && code == 201 {
			return p, true
		}
		if err == nil && code != 409 {
			t.Errorf("till %s: %s payment on %s: %d %s", tl.id, method, saleID, code, raw)
			return p, false
		}
		// No answer, or "a payment is in progress": the sale says what there is.
		var s mnSale
		a.read("/v1/sales/"+saleID, &s)
		for i := len(s.Payments) - 1; i >= 0; i-- {
			if q := s.Payments[i]; mnOpen(q.State) || q.State == "paid" {
				return q, true
			}
		}
		if err == nil {
			t.Errorf("till %s: %s payment on %s: %d %s, and the sale holds no payment in progress", tl.id, method, saleID, code, raw)
			return p, false
		}
	}
	t.Errorf("till %s: no %s payment on %s after six tries", tl.id, method, saleID)
	return mnPayment{}, false
}

// follow reads the payment until it is decided, playing the customer: a
// Swish QR code is scanned and approved; a Swish payment whose QR code was
// lost (its create's answer died with a node) is cancelled by the cashier.
func (tl *mnTill) follow(p mnPayment, deadline time.Time) (string, bool) {
	a := tl.api
	approved, cancelled := false, false
	for time.Now().Before(deadline) {
		if !mnOpen(p.State) {
			return p.State, true
		}
		select {
		case <-a.done:
			return p.State, false
		default:
		}
		if p.Method == "swish" && p.State == "pending" {
			switch {
			case p.Action != nil && strings.HasPrefix(p.Action.QRData, "D") && !approved && (tl.k > 1 || tl.gate == nil || tl.gate.mayScan(p.ID)):
				tl.sw.approve(strings.TrimPrefix(p.Action.QRData, "D"))
				approved = true
			case (p.Action == nil || p.Action.QRData == "") && !approved && !cancelled && strings.Contains(p.Message, "QR code"):
				for n := 0; n < 6; n++ {
					if _, _, err := a.do(a.lb.pick().base, "POST", "/v1/payments/"+p.ID+"/cancel", tl.key("cancel", n), nil, nil); err == nil {
						break
					}
				}
				cancelled = true
			}
		}
		time.Sleep(100 * time.Millisecond)
		var cur mnPayment
		if code, _ := a.read("/v1/payments/"+p.ID, &cur); code == 200 {
			p = cur
		}
	}
	return p.State, false
}

// mnGate holds back the slow Swish customers until it opens, and those
// whose payment is followed by a job of the dead node until its lease ran out.
type mnGate struct {
	open      chan struct{}
	mu        sync.Mutex
	notBefore map[string]time.Time // payment id → when its customer may scan
}

func (g *mnGate) mayScan(paymentID string) bool {
	select {
	case <-g.open:
	default:
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Now().After(g.notBefore[paymentID])
}

func (g *mnGate) holdUntil(paymentID string, t time.Time) {
	g.mu.Lock()
	g.notBefore[paymentID] = t
	g.mu.Unlock()
}

// swishCustomer is the Swish customer: it scans a QR code and approves.
type swishCustomer struct {
	t    *testing.T
	base string
	http *http.Client

	mu       sync.Mutex
	approved map[string]int64 // instructionUUID → amount (öre) Swish answered PAID for
}

func (c *swishCustomer) approve(token string) {
	res, err := c.http.Post(c.base+"sim/customer/paymentrequests/"+token+"/approve", "application/json", nil)
	if err != nil {
		c.t.Errorf("swish customer approve: %v", err)
		return
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return // no longer open (cancelled, expired): nothing taken
	}
	var pr struct {
		ID     string      `json:"id"`
		Status string      `json:"status"`
		Amount json.Number `json:"amount"`
	}
	json.Unmarshal(b, &pr)
	if pr.Status == "PAID" {
		c.mu.Lock()
		if c.approved == nil {
			c.approved = map[string]int64{}
		}
		c.approved[pr.ID] = oreOf(pr.Amount)
		c.mu.Unlock()
	}
}

func oreOf(n json.Number) int64 {
	s := n.String()
	i, f, _ := strings.Cut(s, ".")
	f = (f + "00")[:2]
	var v int64
	fmt.Sscan(i+f, &v)
	return v
}

// holdProxy forwards TCP to target; hold makes it keep what either side
// sends until release, which then delivers what each held connection
// carried, or drops it (every other connection).
type holdProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu      sync.Mutex
	held    bool
	gate    chan struct{} // closed while traffic flows
	waiting map[*holdConn]bool
	n       int
}

type holdConn struct {
	client, upstream net.Conn
	drop             bool
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Which of the held connections is dropped first differs from run to run.
	p := &holdProxy{t: t, ln: ln, target: target, gate: make(chan struct{}), waiting: map[*holdConn]bool{}, n: int(time.Now().UnixNano() & 1)}
	close(p.gate)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *holdProxy) addr() string { return p.ln.Addr().String() }

func (p *holdProxy) serve(client net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	hc := &holdConn{client: client, upstream: up}
	done := make(chan struct{}, 2)
	go p.pipe(hc, client, up, done)
	go p.pipe(hc, up, client, done)
	<-done
	client.Close()
	up.Close()
}

// pipe copies src to dst chunk by chunk; while held, a chunk waits.
func (p *holdProxy) pipe(hc *holdConn, src, dst net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			if p.held {
				p.waiting[hc] = true
			}
			p.mu.Unlock()
			<-gate
			p.mu.Lock()
			drop := hc.drop
			p.mu.Unlock()
			if drop {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *holdProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
	p.gate = make(chan struct{})
}

func (p *holdProxy) heldConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// release lets traffic flow again: every other held connection delivers
// what it held, the others are dropped.
func (p *holdProxy) release() (delivered, dropped int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for hc := range p.waiting {
		p.n++
		if p.n%2 == 0 {
			hc.drop = true
			hc.client.Close()
			hc.upstream.Close()
			dropped++
		} else {
			delivered++
		}
	}
	p.waiting = map[*holdConn]bool{}
	p.held = false
	close(p.gate)
	return delivered, dropped
}

// callbackLB is the public HTTPS address Swish calls back: it notes each
// callback, loses every other payment's, and passes the rest to a live node.
type callbackLB struct {
	t      *testing.T
	url    string
	caFile string
	lb     *loadBalancer

	mu   sync.Mutex
	seen map[string][]string // instructionUUID → statuses called back
}

func newCallbackLB(t *testing.T, dir string, lb *loadBalancer) *callbackLB {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kvitt multinode callbacks"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	c := &callbackLB{t: t, lb: lb, caFile: filepath.Join(dir, "callback-ca.pem"), seen: map[string][]string{}}
	if err := os.WriteFile(c.caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: c}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.url = "https://" + ln.Addr().String()
	return c
}

func (c *callbackLB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var pr struct{ ID, Status string }
	json.Unmarshal(body, &pr)
	c.mu.Lock()
	c.seen[pr.ID] = append(c.seen[pr.ID], pr.Status)
	c.mu.Unlock()
	if pr.ID == "" || (pr.ID[len(pr.ID)-1]-'0')%2 == 0 {
		w.WriteHeader(http.StatusOK) // lost on its way to kvitt
		return
	}
	for try := 0; try < 3; try++ {
		req, _ := http.NewRequest("POST", c.lb.pick().base+r.URL.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		res.Body.Close()
		w.WriteHeader(res.StatusCode)
		return
	}
	w.WriteHeader(http.StatusBadGateway)
}

// mnJob is a leased row of the jobs table.
type mnJob struct {
	id         int64
	kind, ref  string
	owner      string
	leaseUntil time.Time
}

func mnLeasedJobs(db *sql.DB, now time.Time) (map[int64]mnJob, error) {
	rows, err := db.Query(`SELECT id, kind, ref, lease_owner, lease_until FROM jobs WHERE lease_until > $1`, now.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]mnJob{}
	for rows.Next() {
		var j mnJob
		var until int64
		if err := rows.Scan(&j.id, &j.kind, &j.ref, &j.owner, &until); err != nil {
			return nil, err
		}
		j.leaseUntil = time.UnixMicro(until)
		out[j.id] = j
	}
	return out, rows.Err()
}

// mnEventsAcrossNodes: the till's display stream and the payment's event
// stream, both on node a, follow a Swish payment made through node b.
func mnEventsAcrossNodes(t *testing.T, api *mnAPI, sw *swishCustomer, a, b string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	display := sseOpen(t, ctx, a+"/v1/tills/"+mnDisplayTill+"/display/events")
	var s mnSale
	if code, body, err := api.do(b, "POST", "/v1/sales", "", map[string]any{"till_id": mnDisplayTill,
		"lines": []any{map[string]any{"name": "Glass", "unit_price": 4500, "vat_rate": 12}}}, &s); err != nil || code != 201 {
		t.Fatalf("sale on node B: %d %s %v", code, body, err)
	}
	var p mnPayment
	if code, body, err := api.do(b, "POST", "/v1/sales/"+s.ID+"/payments", "", map[string]any{"method": "swish", "amount": 4500}, &p); err != nil || code != 201 || p.Action == nil {
		t.Fatalf("swish payment on node B: %d %s %v", code, body, err)
	}
	events := sseOpen(t, ctx, a+"/v1/payments/"+p.ID+"/events")
	start := time.Now()
	sw.approve(strings.TrimPrefix(p.Action.QRData, "D"))
	if err := events.until(func(event, data string) bool { return event == "end" && strings.Contains(data, `"paid"`) }); err != nil {
		t.Errorf("payment events on node A: %v; got:\n%s", err, events.log())
	} else {
		t.Logf("node A's payment stream ended with paid %v after the approval", time.Since(start).Round(time.Millisecond))
	}
	if err := display.until(func(event, data string) bool {
		var d struct {
			Payment *mnPayment `json:"payment"`
		}
		return event == "display" && json.Unmarshal([]byte(data), &d) == nil && d.Payment != nil && d.Payment.ID == p.ID && d.Payment.State == "paid"
	}); err != nil {
		t.Errorf("display events on node A: %v; got:\n%s", err, display.log())
	} else {
		t.Logf("node A's display stream showed the payment paid %v after the approval", time.Since(start).Round(time.Millisecond))
	}
	if code, body, err := api.do(b, "POST", "/v1/sales/"+s.ID+"/complete", "", nil, nil); err != nil || code != 200 {
		t.Errorf("complete on node B: %d %s %v", code, body, err)
	}
}

// sseStream reads server-sent events.
type sseStream struct {
	t      *testing.T
	events chan [2]string // closed when the stream ends
	mu     sync.Mutex
	seen   []string
	err    error
}

func sseOpen(t *testing.T, ctx context.Context, url string) *sseStream {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET %s: %s %s", url, res.Status, b)
	}
	s := &sseStream{t: t, events: make(chan [2]string, 64)}
	t.Cleanup(func() { res.Body.Close() })
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && event != "":
				s.mu.Lock()
				s.seen = append(s.seen, event+" "+data)
				s.mu.Unlock()
				select {
				case s.events <- [2]string{event, data}:
				case <-ctx.Done():
					return
				}
				event, data = "", ""
			}
		}
		s.mu.Lock()
		s.err = sc.Err()
		s.mu.Unlock()
	}()
	return s
}

// until reads events until one matches, or the stream ends.
func (s *sseStream) until(match func(event, data string) bool) error {
	for e := range s.events {
		if match(e[0], e[1]) {
			return nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Errorf("the stream ended (%v) without it", s.err)
}

func (s *sseStream) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.seen, "\n")
}

// mnRecovery is what the till's recovery lists name: payments, sales, receipts.
type mnRecovery struct{ payments, sales, receipts map[string]string }

func mnRecoveryLists(t *testing.T, api *mnAPI) mnRecovery {
	r := mnRecovery{payments: map[string]string{}, sales: map[string]string{}, receipts: map[string]string{}}
	for i := 1; i <= mnTills+1+mnSlowTills; i++ {
		after := ""
		for {
			var page struct {
				Items []struct {
					Reason  string `json:"reason"`
					Sale    mnSale `json:"sale"`
					Payment *struct {
						ID string `json:"id"`
					} `json:"payment"`
					Receipt *struct {
						ID string `json:"id"`
					} `json:"receipt"`
				} `json:"items"`
				Next string `json:"next"`
			}
			path := fmt.Sprintf("/v1/tills/%d/recovery", i)
			if after != "" {
				path += "?after=" + after
			}
			if code, body := api.read(path, &page); code != 200 {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
			for _, it := range page.Items {
				r.sales[it.Sale.ID] = it.Reason
				if it.Payment != nil {
					r.payments[it.Payment.ID] = it.Reason
				}
				if it.Receipt != nil {
					r.receipts[it.Receipt.ID] = it.Reason
				}
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
	}
	return r
}

type mnRow struct {
	id, saleID, tillID, method, state, reference, attention string
	amount                                                  int64
}

func mnPayments(t *testing.T, db *sql.DB) []mnRow {
	rows, err := db.Query(`SELECT id, sale_id, till_id, method, state, reference, attention, amount FROM payments ORDER BY created`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []mnRow
	for rows.Next() {
		var r mnRow
		if err := rows.Scan(&r.id, &r.saleID, &r.tillID, &r.method, &r.state, &r.reference, &r.attention, &r.amount); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// mnSettle waits until every payment is decided or listed for a person.
func mnSettle(t *testing.T, api *mnAPI, db *sql.DB, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		rec := mnRecoveryLists(t, api)
		var open []string
		for _, p := range mnPayments(t, db) {
			if mnOpen(p.state) {
				if _, listed := rec.payments[p.id]; !listed {
					open = append(open, fmt.Sprintf("%s %s %s", p.id, p.method, p.state))
				}
			}
		}
		if len(open) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("payments neither decided nor in their till's recovery list %v after the run: %v", limit, open)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// mnVerify compares kvitt's books with the providers' and checks the receipts.
func mnVerify(t *testing.T, api *mnAPI, db *sql.DB, sw *swishCustomer, swishCerts, swishAddr string, terms []mnTerminal, cuJournal string) {
	rec := mnRecoveryLists(t, api)
	pays := mnPayments(t, db)
	byRef := map[string]mnRow{}
	bySale := map[string][]mnRow{}
	counts := map[string]map[string]int{}
	for _, p := range pays {
		byRef[p.method+"/"+p.reference] = p
		bySale[p.saleID] = append(bySale[p.saleID], p)
		if counts[p.method] == nil {
			counts[p.method] = map[string]int{}
		}
		counts[p.method][p.state]++
	}
	t.Logf("payments by method and state: %v; recovery lists: %d payments, %d receipts", counts, len(rec.payments), len(rec.receipts))
	for _, m := range mnMethods {
		if counts[m]["paid"] == 0 {
			t.Errorf("no %s payment was paid", m)
		}
	}

	// Every payment is final, or in front of a person.
	type saleRow struct {
		id, till, state, receipt string
		total                    int64
	}
	sales := map[string]saleRow{}
	rows, err := db.Query(`SELECT id, till_id, state, receipt_id, total FROM sales`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s saleRow
		if err := rows.Scan(&s.id, &s.till, &s.state, &s.receipt, &s.total); err != nil {
			t.Fatal(err)
		}
		sales[s.id] = s
	}
	rows.Close()
	for _, p := range pays {
		_, listed := rec.payments[p.id]
		switch {
		case mnOpen(p.state) && !listed:
			t.Errorf("payment %s (%s) is %s and not in till %s's recovery list", p.id, p.method, p.state, p.tillID)
		case p.attention != "" && !listed:
			t.Errorf("payment %s (%s) has attention %q and is not listed", p.id, p.method, p.attention)
		case p.state == "paid" && sales[p.saleID].state != "completed" && !listed:
			t.Errorf("payment %s (%s) is paid, its sale %s is %s, and it is not listed", p.id, p.method, p.saleID, sales[p.saleID].state)
		}
	}

	// Card: each terminal's ledger holds exactly the card payments kvitt
	// booked paid on that till, each charged once, for its amount.
	for i, tm := range terms {
		till := fmt.Sprint(i + 1)
		c := tlsClient(t, tm.ca)
		res, err := c.Get("https://" + tm.addr + "/ledger.json")
		if err != nil {
			t.Fatal(err)
		}
		var ledger []struct {
			Kind, SaleID, ServiceID string
			Amount                  int64
			Reversed                bool
		}
		json.NewDecoder(res.Body).Decode(&ledger)
		res.Body.Close()
		charged := map[string]int{}
		for _, e := range ledger {
			if e.Kind != "payment" || e.Reversed {
				continue
			}
			charged[e.ServiceID]++
			p, ok := byRef["card/"+e.ServiceID]
			switch {
			case !ok:
				t.Errorf("terminal %s charged %d for ServiceID %s, which is no payment of kvitt's", tm.poiid, e.Amount, e.ServiceID)
			case charged[e.ServiceID] > 1:
				t.Errorf("terminal %s charged payment %s twice", tm.poiid, p.id)
			case p.tillID != till || p.amount != e.Amount:
				t.Errorf("terminal %s charged %d for payment %s of till %s, amount %d", tm.poiid, e.Amount, p.id, p.tillID, p.amount)
			case p.state != "paid" && p.attention == "":
				t.Errorf("terminal %s charged %d for payment %s, which kvitt has as %s", tm.poiid, e.Amount, p.id, p.state)
			}
		}
		for _, p := range pays {
			if p.method == "card" && p.tillID == till && p.state == "paid" && charged[p.reference] != 1 {
				t.Errorf("card payment %s is paid in kvitt; terminal %s charged it %d times", p.id, tm.poiid, charged[p.reference])
			}
		}
	}

	// Swish: asked with the merchant certificate, Swish holds each of
	// kvitt's payment requests in the state kvitt booked; and every one the
	// customer paid is one kvitt booked paid.
	cert, err := tls.LoadX509KeyPair(filepath.Join(swishCerts, "merchant.pem"), filepath.Join(swishCerts, "merchant.pem"))
	if err != nil {
		t.Fatal(err)
	}
	merchant := tlsClient(t, filepath.Join(swishCerts, "ca.pem"))
	merchant.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	swishPaid := map[string]int64{} // sale → öre Swish took for it
	for _, p := range pays {
		if p.method != "swish" {
			continue
		}
		res, err := merchant.Get("https://" + swishAddr + "/swish-cpcapi/api/v1/paymentrequests/" + p.reference)
		if err != nil {
			t.Fatal(err)
		}
		var pr struct {
			Status string      `json:"status"`
			Amount json.Number `json:"amount"`
		}
		json.NewDecoder(res.Body).Decode(&pr)
		res.Body.Close()
		atSwish := pr.Status
		if res.StatusCode == 404 {
			atSwish = "(never arrived)"
		}
		paidHere := p.state == "paid" || p.attention != ""
		if (atSwish == "PAID") != paidHere {
			t.Errorf("swish payment %s: kvitt has %s (attention %q), Swish %s", p.id, p.state, p.attention, atSwish)
		}
		if atSwish == "PAID" {
			swishPaid[p.saleID] += oreOf(pr.Amount)
		}
		if atSwish == "CREATED" && !mnOpen(p.state) {
			t.Errorf("swish payment %s is %s in kvitt but still payable at Swish", p.id, p.state)
		}
	}
	sw.mu.Lock()
	for id, amount := range sw.approved {
		if p, ok := byRef["swish/"+id]; !ok || p.amount != amount {
			t.Errorf("the customer paid Swish request %s (%d öre), which is no kvitt payment of that amount (%+v)", id, amount, p)
		}
	}
	nApproved := len(sw.approved)
	sw.mu.Unlock()

	// No sale took more than its total, and a completed sale took exactly it.
	for id, ps := range bySale {
		var taken int64
		for _, p := range ps {
			if p.method == "cash" && p.state == "paid" {
				taken += p.amount
			}
			if p.method == "card" && (p.state == "paid" || p.attention != "") {
				taken += p.amount
			}
		}
		taken += swishPaid[id]
		s := sales[id]
		if taken > s.total {
			t.Errorf("sale %s (total %d) took %d: %+v", id, s.total, taken, ps)
		}
		if s.state == "completed" && taken != s.total {
			t.Errorf("completed sale %s (total %d) took %d", id, s.total, taken)
		}
		if taken > 0 && s.state != "completed" {
			if _, listed := rec.sales[id]; !listed {
				t.Errorf("sale %s holds %d with no receipt and is not in the recovery list", id, taken)
			}
		}
	}

	// Receipts: serials 1..n per till, each sale at most one, each
	// registered (or listed), and the control unit registered each once.
	rrows, err := db.Query(`SELECT id, till_id, serial, sale_id, registration FROM receipts ORDER BY till_id, serial`)
	if err != nil {
		t.Fatal(err)
	}
	serials := map[string][]int64{}
	registered := 0
	nReceipts := 0
	for rrows.Next() {
		var id, till, sale, reg string
		var serial int64
		if err := rrows.Scan(&id, &till, &serial, &sale, &reg); err != nil {
			t.Fatal(err)
		}
		nReceipts++
		serials[till] = append(serials[till], serial)
		if reg == "registered" {
			registered++
		} else if _, listed := rec.receipts[id]; !listed {
			t.Errorf("receipt %s (till %s, serial %d) is %s and not listed", id, till, serial, reg)
		}
	}
	rrows.Close()
	for till, ss := range serials {
		for i, s := range ss {
			if s != int64(i+1) {
				t.Errorf("till %s: serials %v are not 1..%d", till, ss, len(ss))
				break
			}
		}
	}
	f, err := os.Open(cuJournal)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct{ Key string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Key != "" {
			keys[e.Key]++
		}
	}
	f.Close()
	for k, n := range keys {
		if n > 1 {
			t.Errorf("the control unit registered %s %d times", k, n)
		}
	}
	if len(keys) != registered {
		t.Errorf("the control unit holds %d registrations; kvitt has %d receipts registered", len(keys), registered)
	}
	t.Logf("%d receipts on %d tills, serials unbroken, %d registered with the control unit once each; Swish customers paid %d requests",
		nReceipts, len(serials), registered, nApproved)
}
