package simsvea

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simhold"
)

// Held requests let a test stop the world at the worst moment (the kill -9
// suite, e2e/crash_svea_test.go): the next create, status, cancel or return
// waits in the simulator until the test releases it, and meanwhile the test
// kills kvitt. Released with "process", the request is handled as if it had
// just arrived (kvitt, dead, never hears the answer); with "drop", the
// connection is closed unhandled (the request never arrived). The ledger
// counts, per merchant order number, the requests that arrived and what
// they did: a test ends on these counters, Svea's own.
//
// The holding is sim/internal/simhold's; Svea's own are here: its
// operations, its HeldRequest, its ledger and its routes. The state lives
// beside the Sim (holdStates), reached from one line at the start of each
// API handler: w = s.arrival(w, r, op).

// Operations that can be held.
var holdOps = []string{"create", "status", "cancel", "return"}

// holdLimit is how long a request is held at most; then it is dropped (a
// test that forgot it; the simulator closing drops it at once).
const holdLimit = 10 * time.Minute

// HeldRequest is a request waiting in the simulator.
type HeldRequest struct {
	ID int    `json:"id"`
	Op string `json:"op"`
	// MerchantOrderNumber is the order it is about (a create's, read from its body).
	MerchantOrderNumber string    `json:"merchant_order_number"`
	Since               time.Time `json:"since"`
}

// opCounts are the requests about one merchant order number.
type opCounts struct {
	creates, createsOK       int
	statusCalls, statusLimit int
	cancels, cancelsOK       int
	returns, returnsOK       int
}

type holdState struct {
	held   *simhold.Set[HeldRequest] // keyed by merchant order number
	mu     sync.Mutex
	counts map[string]*opCounts
}

// holdStates maps each *Sim to its *holdState.
var holdStates sync.Map

func (s *Sim) holdState() *holdState {
	if v, ok := holdStates.Load(s); ok {
		return v.(*holdState)
	}
	v, _ := holdStates.LoadOrStore(s, &holdState{held: simhold.New(simhold.Config[HeldRequest]{
		Name: "simsvea", Ops: holdOps, Noun: "requests", Limit: holdLimit,
		View: func(r simhold.Request) HeldRequest {
			return HeldRequest{ID: r.ID, Op: r.Op, MerchantOrderNumber: r.Key, Since: r.Since}
		},
	}), counts: map[string]*opCounts{}})
	return v.(*holdState)
}

// closeHolds drops the requests held (Close).
func (s *Sim) closeHolds() { s.holdState().held.Close() }

func (st *holdState) countsLocked(mon string) *opCounts {
	c := st.counts[mon]
	if c == nil {
		c = &opCounts{}
		st.counts[mon] = c
	}
	return c
}

// validOp reports an error unless op can be held.
func validOp(op string) error { return simhold.ValidOp("simsvea", holdOps, op) }

// Hold makes the next request of op (create, status, cancel, return) wait
// until Release.
func (s *Sim) Hold(op string) error { return s.holdState().held.Hold(op) }

// Held lists the requests waiting, oldest first.
func (s *Sim) Held() []HeldRequest { return s.holdState().held.Held() }

// WaitHeld waits until at least n requests of op ("" = any) are held, or
// ctx ends; it returns the requests held then, oldest first.
func (s *Sim) WaitHeld(ctx context.Context, op string, n int) ([]HeldRequest, error) {
	return s.holdState().held.WaitHeld(ctx, op, n)
}

// Release lets the oldest held request of op (about merchantOrderNumber,
// if not "") go on: handled if process, else dropped unanswered.
func (s *Sim) Release(op, merchantOrderNumber string, process bool) error {
	if !s.holdState().held.Release(op, merchantOrderNumber, process) {
		return fmt.Errorf("simsvea: no %s request %s is held", op, merchantOrderNumber)
	}
	return nil
}

// ReleaseID lets the held request with this id go on (see Release).
func (s *Sim) ReleaseID(id int, process bool) error {
	if !s.holdState().held.ReleaseID(id, process) {
		return fmt.Errorf("simsvea: no request %d is held", id)
	}
	return nil
}

// arrival is called first thing by each API handler: it holds the request
// if a hold of op is pending (and drops it, closing the connection, if the
// test says so), counts it as arrived, and returns the writer to answer
// with, which counts what the request did.
func (s *Sim) arrival(w http.ResponseWriter, r *http.Request, op string) http.ResponseWriter {
	mon := r.PathValue("mon")
	// Read the body now, so that the request can still be handled after
	// its client died, and a create's merchant order number is known while
	// held.
	b := simhold.KeepBody(r, 1<<20+1)
	if op == "create" {
		var v struct {
			MerchantOrderNumber string `json:"merchantOrderNumber"`
		}
		json.Unmarshal(b, &v)
		mon = v.MerchantOrderNumber
	}
	st := s.holdState()
	if !st.held.Arrive(op, mon) {
		panic(http.ErrAbortHandler) // dropped: it never arrived
	}
	st.mu.Lock()
	c := st.countsLocked(mon)
	switch op {
	case "create":
		c.creates++
	case "status":
		c.statusCalls++
	case "cancel":
		c.cancels++
	case "return":
		c.returns++
	}
	st.mu.Unlock()
	return simhold.OnStatus(w, func(code int) { st.answered(mon, op, code) })
}

// answered books what a request did when its status is written. It never
// takes the Sim's lock (handlers answer holding it).
func (st *holdState) answered(mon, op string, code int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.countsLocked(mon)
	ok := code >= 200 && code < 300
	switch op {
	case "create":
		if ok {
			c.createsOK++
		}
	case "status":
		if code == http.StatusForbidden {
			c.statusLimit++
		}
	case "cancel":
		if ok {
			c.cancelsOK++
		}
	case "return":
		if ok {
			c.returnsOK++
		}
	}
}

// InstoreLedger is the simulator's book of Instore orders (GET /sim/ledger).
type InstoreLedger struct {
	Orders []LedgerOrder `json:"orders"`
	Held   []HeldRequest `json:"held"`
	// StatusTooSoon is how many status calls were refused (403) for coming
	// within the status interval, of all orders.
	StatusTooSoon int `json:"status_too_soon"`
}

// LedgerOrder is one merchant order number as Svea books it: the order
// (if a create of it was carried out) and how many requests about it
// arrived and were carried out.
type LedgerOrder struct {
	MerchantOrderNumber string `json:"merchant_order_number"`
	// Status is Active, Completed or Canceled; "" when no order has that
	// number (every create refused or dropped, or calls about a number
	// Svea never knew).
	Status         string `json:"status"`
	URL            string `json:"url,omitempty"` // the checkout link the SMS carried
	PaymentOrderID int64  `json:"payment_order_id,omitempty"`
	Total          int64  `json:"total"`
	// Returned is the amount returned (credited), in minor units.
	Returned int64 `json:"returned"`
	// Creates counts the create requests with this number that arrived
	// (a refused duplicate included); CreatesOK those that made the order.
	Creates   int `json:"creates"`
	CreatesOK int `json:"creates_ok"`
	// StatusCalls counts the status calls that arrived; StatusRefused the
	// ones answered 403 for the 5-second limit.
	StatusCalls   int `json:"status_calls"`
	StatusRefused int `json:"status_refused"`
	Cancels       int `json:"cancels"`
	CancelsOK     int `json:"cancels_ok"`
	// Returns counts the return requests that arrived; ReturnsOK those
	// carried out (each took money back).
	Returns   int `json:"returns"`
	ReturnsOK int `json:"returns_ok"`
	// Callbacks counts the callbacks made; CallbacksDelivered those kvitt answered 2xx.
	Callbacks          int `json:"callbacks"`
	CallbacksDelivered int `json:"callbacks_delivered"`
}

// Ledger returns every merchant order number the simulator knows, sorted.
func (s *Sim) Ledger() InstoreLedger {
	st := s.holdState()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	by := map[string]*LedgerOrder{}
	get := func(mon string) *LedgerOrder {
		l := by[mon]
		if l == nil {
			l = &LedgerOrder{MerchantOrderNumber: mon}
			by[mon] = l
		}
		return l
	}
	for mon, o := range s.orders {
		s.expire(o)
		l := get(mon)
		l.Status, l.URL, l.PaymentOrderID, l.Total, l.Returned = o.status, s.checkoutURL(o), o.id, o.total, o.returned
	}
	for mon, c := range st.counts {
		l := get(mon)
		l.Creates, l.CreatesOK, l.StatusCalls, l.StatusRefused = c.creates, c.createsOK, c.statusCalls, c.statusLimit
		l.Cancels, l.CancelsOK, l.Returns, l.ReturnsOK = c.cancels, c.cancelsOK, c.returns, c.returnsOK
	}
	for _, cb := range s.callbacks {
		l := get(cb.MerchantOrderNumber)
		l.Callbacks++
		if cb.Status >= 200 && cb.Status < 300 {
			l.CallbacksDelivered++
		}
	}
	out := InstoreLedger{Orders: []LedgerOrder{}, Held: st.held.Held(), StatusTooSoon: s.tooSoon}
	for _, l := range by {
		out.Orders = append(out.Orders, *l)
	}
	sort.Slice(out.Orders, func(i, j int) bool { return out.Orders[i].MerchantOrderNumber < out.Orders[j].MerchantOrderNumber })
	return out
}

// simLedger is GET /sim/ledger.
func (s *Sim) simLedger(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Ledger())
}

// simHeld is GET /sim/held[?op=…&n=…&wait=…]: the requests held; with
// wait (a duration, at most a minute), it first waits until n (default
// 1) requests of op (default any) are held, and answers 408 with the
// list if they are not in time.
func (s *Sim) simHeld(w http.ResponseWriter, r *http.Request) {
	s.holdState().held.ServeHeld(w, r, writeJSON)
}

// simRelease serves POST /sim/held/{op}/{process|drop} (as the MobilePay
// simulator), POST /sim/release/{op} and POST /sim/drop/{op}, each with
// ?merchant_order_number=… to pick one of several, or ?id=….
func (s *Sim) simRelease(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act := action
		if act == "" {
			act = r.PathValue("action")
		}
		process, ok := simhold.Action(w, act, "release")
		if !ok {
			return
		}
		var err error
		if id := r.URL.Query().Get("id"); id != "" {
			n, _ := strconv.Atoi(id)
			err = s.ReleaseID(n, process)
		} else {
			err = s.Release(r.PathValue("op"), r.URL.Query().Get("merchant_order_number"), process)
		}
		simhold.Reply(w, err, http.StatusConflict)
	}
}

// holdRoutes registers the test hooks.
func (s *Sim) holdRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /sim/ledger", s.simLedger)
	m.HandleFunc("POST /sim/hold/{op}", s.holdState().held.ServeHold)
	m.HandleFunc("GET /sim/held", s.simHeld)
	m.HandleFunc("POST /sim/held/{op}/{action}", s.simRelease(""))
	m.HandleFunc("POST /sim/release/{op}", s.simRelease("process"))
	m.HandleFunc("POST /sim/drop/{op}", s.simRelease("drop"))
}
