package simswish

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt/sim/internal/simhold"
)

// HTTP test hooks for the kill -9 suite (e2e/crash_swish_test.go), as
// sim/svea/hold.go has them: kvitt runs as a process of its own against
// "kvitt sim swish", and a test stops the world at the worst moment. The
// next payment request create (PUT v2/paymentrequests/{id}, op "create")
// or refund create (PUT v2/refunds/{id}, op "refund") waits in the
// simulator until the test releases it, and meanwhile the test kills kvitt.
// Released, the request is handled as if it had just arrived, and answered
// even if its client is gone; dropped, its connection is closed unhandled
// (it never arrived). The ledger counts, per instructionUUID, the creates
// that arrived and those answered 201: a test ends on Swish's own books.
//
// The routes live under /sim/ on the API's port, beside /sim/customer/:
// no client certificate is needed (the server asks for one but does not
// require it; the API's routes do). The holding is sim/internal/simhold's;
// Swish's own are here: its operations, its HeldRequest, its ledger and its
// routes. The state lives beside the Sim (swishHolds), reached from one
// line at the start of each create handler: w = s.arrival(w, r, op).

// swishHoldOps are the operations that can be held.
var swishHoldOps = []string{"create", "refund"}

// swishHoldLimit is how long a request is held at most; then it is dropped.
const swishHoldLimit = 10 * time.Minute

// HeldRequest is a create waiting in the simulator.
type HeldRequest struct {
	ID int    `json:"id"`
	Op string `json:"op"` // create or refund
	// InstructionID is the instructionUUID in the request's path.
	InstructionID string    `json:"instruction_id"`
	Since         time.Time `json:"since"`
}

// idCounts are the creates with one instructionUUID.
type idCounts struct {
	arrived, ok int
	arrivals    []time.Time
}

type swishHoldState struct {
	held   *simhold.Set[HeldRequest] // keyed by instructionUUID
	mu     sync.Mutex
	counts map[string]*idCounts // op + " " + instructionUUID → counts
}

// swishHolds maps each *Sim to its *swishHoldState.
var swishHolds sync.Map

func (s *Sim) holdHTTP() *swishHoldState {
	if v, ok := swishHolds.Load(s); ok {
		return v.(*swishHoldState)
	}
	v, _ := swishHolds.LoadOrStore(s, &swishHoldState{held: simhold.New(simhold.Config[HeldRequest]{
		Name: "simswish", Ops: swishHoldOps, Noun: "creates", Limit: swishHoldLimit, Done: s.done,
		View: func(r simhold.Request) HeldRequest {
			return HeldRequest{ID: r.ID, Op: r.Op, InstructionID: r.Key, Since: r.Since}
		},
	}), counts: map[string]*idCounts{}})
	return v.(*swishHoldState)
}

func (st *swishHoldState) countsLocked(op, id string) *idCounts {
	c := st.counts[op+" "+id]
	if c == nil {
		c = &idCounts{}
		st.counts[op+" "+id] = c
	}
	return c
}

// Hold makes the next create of op ("create": a payment request; "refund":
// a refund) wait until Release or Drop.
func (s *Sim) Hold(op string) error { return s.holdHTTP().held.Hold(op) }

// Held lists the creates waiting, oldest first.
func (s *Sim) Held() []HeldRequest { return s.holdHTTP().held.Held() }

// WaitHeld waits until at least n creates of op ("" = any) are held, or ctx
// ends; it returns the creates held then, oldest first.
func (s *Sim) WaitHeld(ctx context.Context, op string, n int) ([]HeldRequest, error) {
	return s.holdHTTP().held.WaitHeld(ctx, op, n)
}

// Release lets the oldest held create of op (with this instructionUUID, if
// not "") take effect: it is handled and answered, even if its client is
// gone.
func (s *Sim) Release(op, instructionID string) error { return s.letGo(op, instructionID, 0, true) }

// Drop closes the connection of the oldest held create of op (with this
// instructionUUID, if not ""): it never arrived.
func (s *Sim) Drop(op, instructionID string) error { return s.letGo(op, instructionID, 0, false) }

// letGo ends the hold of a create, picked by op and instructionUUID or by
// its id (if not 0).
func (s *Sim) letGo(op, instructionID string, id int, process bool) error {
	held := s.holdHTTP().held
	switch {
	case id != 0 && !held.ReleaseID(id, process):
		return fmtErr("no create %d is held", id)
	case id == 0 && !held.Release(op, instructionID, process):
		return fmtErr("no %s %s is held", op, instructionID)
	}
	return nil
}

// arrival is called first thing by each create handler: it reads the body
// (so that a released create is handled after its client died), holds the
// request if a hold of op is pending (and drops it, closing the connection,
// if the test says so), counts it as arrived, and returns the writer to
// answer with, which counts a 201.
func (s *Sim) arrival(w http.ResponseWriter, r *http.Request, op string) http.ResponseWriter {
	simhold.KeepBody(r, 1<<16+1)
	id := r.PathValue("id")
	st := s.holdHTTP()
	if !st.held.Arrive(op, id) {
		panic(http.ErrAbortHandler) // dropped: it never arrived
	}
	st.mu.Lock()
	c := st.countsLocked(op, id)
	c.arrived++
	c.arrivals = append(c.arrivals, time.Now())
	st.mu.Unlock()
	// Count a create answered 201. It never takes the Sim's lock (the
	// handlers answer holding it).
	return simhold.OnStatus(w, func(code int) {
		if code == http.StatusCreated {
			st.mu.Lock()
			st.countsLocked(op, id).ok++
			st.mu.Unlock()
		}
	})
}

// Ledger is the simulator's book (GET /sim/ledger): every instructionUUID
// a create arrived with or a payment request or refund is kept under.
type Ledger struct {
	PaymentRequests []LedgerPayment `json:"payment_requests"`
	Refunds         []LedgerRefund  `json:"refunds"`
	Held            []HeldRequest   `json:"held"`
}

// LedgerPayment is one payment request's instructionUUID as Swish books it.
type LedgerPayment struct {
	InstructionID string `json:"instruction_id"`
	// Status is Swish's (CREATED, PAID, ...); "" when no payment request
	// has that instructionUUID (every create refused or dropped).
	Status                string `json:"status"`
	PayeePaymentReference string `json:"payee_payment_reference,omitempty"`
	PaymentReference      string `json:"payment_reference,omitempty"`
	Amount                string `json:"amount,omitempty"`
	// Refunded is the amount refunded or being refunded, in öre.
	Refunded int64 `json:"refunded"`
	// Creates counts the creates with this instructionUUID that arrived
	// (held ones once released); CreatesOK those answered 201 (the first,
	// which made the request, and replays of the same body).
	Creates   int         `json:"creates"`
	CreatesOK int         `json:"creates_ok"`
	Arrivals  []time.Time `json:"arrivals,omitempty"`
}

// LedgerRefund is one refund's instructionUUID as Swish books it.
type LedgerRefund struct {
	InstructionID            string `json:"instruction_id"`
	Status                   string `json:"status"` // "" when no refund has that instructionUUID
	OriginalPaymentReference string `json:"original_payment_reference,omitempty"`
	PayerPaymentReference    string `json:"payer_payment_reference,omitempty"`
	Amount                   string `json:"amount,omitempty"`
	// Refunds counts the creates that arrived; RefundsOK those answered 201.
	Refunds   int         `json:"refunds"`
	RefundsOK int         `json:"refunds_ok"`
	Arrivals  []time.Time `json:"arrivals,omitempty"`
}

// Ledger returns the simulator's book, sorted by instructionUUID.
func (s *Sim) Ledger() Ledger {
	st := s.holdHTTP()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	pays, refs := map[string]*LedgerPayment{}, map[string]*LedgerRefund{}
	pay := func(id string) *LedgerPayment {
		if pays[id] == nil {
			pays[id] = &LedgerPayment{InstructionID: id}
		}
		return pays[id]
	}
	ref := func(id string) *LedgerRefund {
		if refs[id] == nil {
			refs[id] = &LedgerRefund{InstructionID: id}
		}
		return refs[id]
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for id, p := range s.payments {
		s.expireLocked(p)
		l := pay(id)
		l.Status, l.PayeePaymentReference, l.PaymentReference = p.Status, deref(p.PayeePaymentReference), deref(p.PaymentReference)
		l.Amount, l.Refunded = string(p.Amount), p.refunded
	}
	for id, rf := range s.refunds {
		s.settleLocked(rf)
		l := ref(id)
		l.Status, l.OriginalPaymentReference, l.PayerPaymentReference, l.Amount = rf.Status, rf.OriginalPaymentReference, deref(rf.PayerPaymentReference), string(rf.Amount)
	}
	for k, c := range st.counts {
		op, id, _ := strings.Cut(k, " ")
		arrivals := append([]time.Time(nil), c.arrivals...)
		if op == "create" {
			l := pay(id)
			l.Creates, l.CreatesOK, l.Arrivals = c.arrived, c.ok, arrivals
		} else {
			l := ref(id)
			l.Refunds, l.RefundsOK, l.Arrivals = c.arrived, c.ok, arrivals
		}
	}
	out := Ledger{PaymentRequests: []LedgerPayment{}, Refunds: []LedgerRefund{}, Held: st.held.Held()}
	for _, l := range pays {
		out.PaymentRequests = append(out.PaymentRequests, *l)
	}
	for _, l := range refs {
		out.Refunds = append(out.Refunds, *l)
	}
	sort.Slice(out.PaymentRequests, func(i, j int) bool {
		return out.PaymentRequests[i].InstructionID < out.PaymentRequests[j].InstructionID
	})
	sort.Slice(out.Refunds, func(i, j int) bool { return out.Refunds[i].InstructionID < out.Refunds[j].InstructionID })
	return out
}

// simHeld is GET /sim/held[?op=…&n=…&wait=…]: the creates held; with wait
// (a duration, at most a minute), it first waits until n (default 1)
// creates of op (default any) are held, and answers 408 with the list if
// they are not in time.
func (s *Sim) simHeld(w http.ResponseWriter, r *http.Request) {
	held := s.holdHTTP().held
	if op := r.URL.Query().Get("op"); op != "" {
		if err := held.ValidOp(op); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	held.ServeHeld(w, r, writeJSON)
}

// simLetGo serves POST /sim/release/{op} and POST /sim/drop/{op}, with
// ?instruction_id=… to pick one of several, or ?id=… (a held request's id).
func (s *Sim) simLetGo(process bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if err := s.holdHTTP().held.ValidOp(op); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := 0
		if v := r.URL.Query().Get("id"); v != "" {
			var err error
			if id, err = strconv.Atoi(v); err != nil || id <= 0 {
				http.Error(w, "id is a held request's id", http.StatusBadRequest)
				return
			}
		}
		simhold.Reply(w, s.letGo(op, r.URL.Query().Get("instruction_id"), id, process), http.StatusConflict)
	}
}

// holdRoutes registers the test hooks.
func (s *Sim) holdRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/hold/{op}", s.holdHTTP().held.ServeHold)
	mux.HandleFunc("GET /sim/held", s.simHeld)
	mux.HandleFunc("POST /sim/release/{op}", s.simLetGo(true))
	mux.HandleFunc("POST /sim/drop/{op}", s.simLetGo(false))
	mux.HandleFunc("GET /sim/ledger", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Ledger()) })
}
