package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

// adminProvider is the real Svea adapter (Instore and Payment Admin
// against the simulator) that can lose a credit's answer.
type adminProvider struct {
	*svea.Provider
	loseCredit  atomic.Bool // the return is made, its answer lost
	dropCredit  atomic.Bool // the return never arrives
	creditCalls atomic.Int32
}

func (p *adminProvider) Credit(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink, c *kvitt.OrderCredit) (kvitt.RefundState, string, error) {
	p.creditCalls.Add(1)
	if p.dropCredit.CompareAndSwap(true, false) {
		return "", "", errors.New("connection refused")
	}
	st, msg, err := p.Provider.Credit(ctx, o, l, c)
	if p.loseCredit.CompareAndSwap(true, false) {
		return "", "", errors.New("connection reset after the request was sent")
	}
	return st, msg, err
}

type adminRig struct {
	h   *Hub
	sim *simsvea.Sim
	p   *adminProvider
}

// newAdminNode is a hub over store with Svea Instore and Payment Admin
// against sim; deferred leaves paid orders undelivered at Svea.
func newAdminNode(t *testing.T, store kvitt.Store, sim *simsvea.Sim, deferred, admin bool) *adminRig {
	t.Helper()
	c := svea.Config{Client: &svea.Client{BaseURL: sim.URL(), MerchantID: sim.MerchantID(), Password: sim.Password(), HTTP: sim.HTTPClient()},
		TermsURI: "https://butiken.example/villkor", StatusInterval: 10 * time.Millisecond, DeferredDelivery: deferred}
	if admin {
		c.Admin = &svea.AdminClient{BaseURL: sim.AdminURL(), MerchantID: sim.AdminMerchantID(), Secret: sim.AdminSecret(), HTTP: sim.HTTPClient()}
	}
	p, err := svea.NewProvider(c)
	if err != nil {
		t.Fatal(err)
	}
	h := New(store, testLogger())
	h.Sandbox = true
	h.InFlightGrace = 50 * time.Millisecond
	h.ProviderTimeout = 2 * time.Second
	ap := &adminProvider{Provider: p}
	h.RegisterOrderProvider(ap, OrderOptions{MerchantID: "m1", Customer: sim.Customer(), PollInterval: 10 * time.Millisecond})
	t.Cleanup(h.Close)
	return &adminRig{h: h, sim: sim, p: ap}
}

func newAdminRig(t *testing.T, deferred bool) *adminRig {
	t.Helper()
	store, _ := openStore(t)
	sim, err := simsvea.New(simsvea.Options{StatusInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return newAdminNode(t, store, sim, deferred, true)
}

// paidOrder creates an order and has the customer pay it.
func (r *adminRig) paidOrder(t *testing.T, number string) *kvitt.Order {
	t.Helper()
	o, err := r.h.CreateOrder(ctx, orderInput(number))
	if err != nil {
		t.Fatal(err)
	}
	if o, err = r.h.ActOnOrder(ctx, o.ID, kvitt.CustomerApprove); err != nil || o.State != kvitt.OrderPaid {
		t.Fatalf("pay %s: %v %v", number, o.State, err)
	}
	return o
}

func (r *adminRig) atSvea(t *testing.T, o *kvitt.Order) simsvea.AdminOrderInfo {
	t.Helper()
	id, _ := strconv.ParseInt(o.Reference, 10, 64)
	info, ok := r.sim.AdminOrder(id)
	if !ok {
		t.Fatalf("Svea's Payment Admin has no order %s", o.Reference)
	}
	return info
}

// poll runs the poller's job for the order once.
func (r *adminRig) poll(t *testing.T, id string) *kvitt.Order {
	t.Helper()
	if _, err := r.h.runOrderSync(ctx, &kvitt.Job{Kind: jobOrderSync, Ref: id}); err != nil {
		t.Fatal(err)
	}
	o, err := r.h.GetOrder(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDeliverOrder: with deferred delivery the paid order is Open at
// Svea; deliver makes it Delivered once; it stays paid (on the picking
// list), shown delivered; a second deliver is a no-op; annul is then a
// 409 that says to credit.
func TestDeliverOrder(t *testing.T) {
	r := newAdminRig(t, true)
	o := r.paidOrder(t, "2001")
	if info := r.atSvea(t, o); info.Status != "Open" {
		t.Fatalf("deferred delivery: Svea shows %s", info.Status)
	}
	o, err := r.h.DeliverOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Delivery.Done() || o.Delivery.Sends != 1 || o.State != kvitt.OrderPaid || !o.Admin.Delivered || o.Admin.Status != "Delivered" {
		t.Fatalf("after deliver: %s %+v %+v", o.State, o.Delivery, o.Admin)
	}
	if got := picking(t, r.h); len(got) != 1 {
		t.Fatalf("a delivered order left the picking list: %v", got)
	}
	if o, err = r.h.DeliverOrder(ctx, o.ID); err != nil || o.Delivery.Sends != 1 {
		t.Fatalf("second deliver: %v, %d sends", err, o.Delivery.Sends)
	}
	if info := r.atSvea(t, o); info.Status != "Delivered" || info.Deliveries != 1 || info.DeliverCalls != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
	_, err = r.h.AnnulOrder(ctx, o.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
	if !strings.Contains(err.Error(), "credit it instead") {
		t.Fatal(err)
	}
	if info := r.atSvea(t, o); info.CancelCalls != 0 {
		t.Fatal("an annul of a delivered order was sent to Svea")
	}
}

// TestAnnulOrder: an annulled paid order is cancelled (black), off the
// picking list and Cancelled at Svea; annulling again changes nothing;
// it can then be neither delivered nor credited.
func TestAnnulOrder(t *testing.T) {
	r := newAdminRig(t, true)
	o := r.paidOrder(t, "2002")
	if got := picking(t, r.h); len(got) != 1 {
		t.Fatal(got)
	}
	o, err := r.h.AnnulOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.State != kvitt.OrderCancelled || o.State.Icon() != "black" || !o.Annulment.Done() || !o.Admin.Cancelled {
		t.Fatalf("after annul: %s %+v", o.State, o.Annulment)
	}
	if got := picking(t, r.h); len(got) != 0 {
		t.Fatalf("an annulled order is on the picking list: %v", got)
	}
	if info := r.atSvea(t, o); info.Status != "Cancelled" || info.CancelCalls != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
	if o, err = r.h.AnnulOrder(ctx, o.ID); err != nil || o.Annulment.Sends != 1 {
		t.Fatal(err, o.Annulment)
	}
	_, err = r.h.DeliverOrder(ctx, o.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
	_, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 1}}})
	wantErr(t, err, kvitt.ECONFLICT, "")
	if info := r.atSvea(t, o); info.DeliverCalls != 0 {
		t.Fatal("a deliver of an annulled order was sent")
	}
}

// TestSveaDeliversByItself: without deferred delivery Svea delivers at
// once: deliver sends nothing and succeeds; annul reads the order first
// and is refused with a 409 (credit instead), nothing sent.
func TestSveaDeliversByItself(t *testing.T) {
	r := newAdminRig(t, false)
	o := r.paidOrder(t, "2003")
	_, err := r.h.AnnulOrder(ctx, o.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
	if !strings.Contains(err.Error(), "credit it instead") {
		t.Fatal(err)
	}
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.State != kvitt.OrderPaid || o.Annulment.State != kvitt.AdminRefused || !o.Delivery.Done() {
		t.Fatalf("%s annul %+v delivery %+v", o.State, o.Annulment, o.Delivery)
	}
	o, err = r.h.DeliverOrder(ctx, o.ID)
	if err != nil || !o.Delivery.Done() || o.Delivery.Sends != 0 {
		t.Fatal(err, o.Delivery)
	}
	if info := r.atSvea(t, o); info.DeliverCalls != 0 || info.CancelCalls != 0 || info.Deliveries != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
}

// TestDeliverAnswerLost: Svea delivers but the answer is lost. kvitt
// keeps the delivery "sent", does not decide before it can no longer be on
// its way, then reads Svea's order: delivered, exactly once, never sent again.
func TestDeliverAnswerLost(t *testing.T) {
	r := newAdminRig(t, true)
	o := r.paidOrder(t, "2004")
	r.sim.AdminFail(simsvea.AdminLoseAnswer)
	o, err := r.h.DeliverOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Delivery.State != kvitt.AdminSent || o.Delivery.Message == "" {
		t.Fatalf("after a lost answer: %+v", o.Delivery)
	}
	// A second request from the back office meanwhile sends nothing.
	if o, err = r.h.DeliverOrder(ctx, o.ID); err != nil || o.Delivery.Sends != 1 {
		t.Fatal(err, o.Delivery)
	}
	time.Sleep(r.h.ProviderTimeout + r.h.InFlightGrace)
	o = r.poll(t, o.ID)
	if !o.Delivery.Done() || o.Delivery.Sends != 1 {
		t.Fatalf("after the poller: %+v", o.Delivery)
	}
	if info := r.atSvea(t, o); info.Deliveries != 1 || info.DeliverCalls != 1 {
		t.Fatalf("at Svea: %+v", info)
	}
}

// TestDeliverRequestLost: the request never reaches Svea. Once it can no
// longer be on its way the poller reads Svea's order (still Open) and
// sends it again: one delivery at Svea.
func TestDeliverRequestLost(t *testing.T) {
	r := newAdminRig(t, true)
	o := r.paidOrder(t, "2005")
	r.sim.AdminFail(simsvea.AdminLoseRequest)
	o, err := r.h.DeliverOrder(ctx, o.ID)
	if err != nil || o.Delivery.State != kvitt.AdminSent {
		t.Fatal(err, o.Delivery)
	}
	// Before the in-flight window has passed the poller decides nothing.
	if o = r.poll(t, o.ID); o.Delivery.State != kvitt.AdminSent || o.Delivery.Sends != 1 {
		t.Fatalf("decided too early: %+v", o.Delivery)
	}
	time.Sleep(r.h.ProviderTimeout + r.h.InFlightGrace)
	o = r.poll(t, o.ID)
	if !o.Delivery.Done() || o.Delivery.Sends != 2 {
		t.Fatalf("after the poller: %+v", o.Delivery)
	}
	if info := r.atSvea(t, o); info.Deliveries != 1 || info.Status != "Delivered" {
		t.Fatalf("at Svea: %+v", info)
	}
}

// TestAnnulAnswerLost: the cancel is made at Svea, its answer lost: the
// poller reads Cancelled, and the order is cancelled; no second cancel.
func TestAnnulAnswerLost(t *testing.T) {
	r := newAdminRig(t, true)
	o := r.paidOrder(t, "2006")
	r.sim.AdminFail(simsvea.AdminLoseAnswer)
	o, err := r.h.AnnulOrder(ctx, o.ID)
	if err != nil || o.Annulment.State != kvitt.AdminSent || o.State != kvitt.OrderPaid {
		t.Fatal(err, o.State, o.Annulment)
	}
	// A delivery cannot start while the annulment is undecided.
	_, err = r.h.DeliverOrder(ctx, o.ID)
	wantErr(t, err, kvitt.ECONFLICT, "")
	time.Sleep(r.h.ProviderTimeout + r.h.InFlightGrace)
	o = r.poll(t, o.ID)
	if o.State != kvitt.OrderCancelled || o.Annulment.Sends != 1 {
		t.Fatal(o.State, o.Annulment)
	}
	if info := r.atSvea(t, o); info.CancelCalls != 1 || info.DeliverCalls != 0 {
		t.Fatalf("at Svea: %+v", info)
	}
}

// TestAdminNotConfigured: without Payment Admin credentials, deliver and
// annul are refused saying what to configure, and nothing is stored.
func TestAdminNotConfigured(t *testing.T) {
	store, _ := openStore(t)
	sim, err := simsvea.New(simsvea.Options{StatusInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	r := newAdminNode(t, store, sim, true, false)
	o := r.paidOrder(t, "2007")
	for _, f := range []func(context.Context, string) (*kvitt.Order, error){r.h.DeliverOrder, r.h.AnnulOrder} {
		_, err := f(ctx, o.ID)
		if kvitt.ErrorCode(err) != kvitt.EUNAVAILABLE || !strings.Contains(err.Error(), "admin_merchant_id") || !strings.Contains(err.Error(), "admin_secret") {
			t.Fatal(err)
		}
	}
	o, _ = r.h.GetOrder(ctx, o.ID)
	if o.Delivery.State != "" || o.Annulment.State != "" {
		t.Fatal(o.Delivery, o.Annulment)
	}
}

// TestCreditReadBack: a credit (Instore return) whose answer is lost is
// settled from Svea's Payment Admin, which shows the amount credited; a
// return that never arrived stays unknown for a person, never guessed.
func TestCreditReadBack(t *testing.T) {
	r := newAdminRig(t, false)
	o := r.paidOrder(t, "2008")
	r.p.loseCredit.Store(true)
	o, err := r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := o.Credits[0]; c.State != kvitt.RefundSucceeded || o.Credited != 9900 || o.Admin.Credited != 9900 {
		t.Fatalf("after a lost answer: %+v credited %d, Svea %d", c, o.Credited, o.Admin.Credited)
	}
	r.p.dropCredit.Store(true)
	o, err = r.h.CreditOrder(ctx, o.ID, CreditInput{Rows: []CreditRow{{RowNumber: 1, Quantity: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	c := o.Credits[1]
	if c.State != kvitt.RefundUnknown || o.Credited != 9900 || !strings.Contains(c.Message, "do not credit again") {
		t.Fatalf("a return Svea never got: %+v, credited %d", c, o.Credited)
	}
	// The poller reads again and still does not guess.
	o = r.poll(t, o.ID)
	if o.Credits[1].State != kvitt.RefundUnknown || o.Credited != 9900 {
		t.Fatal(o.Credits[1], o.Credited)
	}
	if info := r.atSvea(t, o); info.Credited != 9900 {
		t.Fatalf("Svea credited %d", info.Credited)
	}
}

// TestDeliverRacesAnnul: the warehouse delivers while the office annuls,
// on two nodes at once, on SQLite and PostgreSQL. Exactly one wins; kvitt
// and Svea agree: delivered (paid, annul refused) or cancelled (deliver
// refused), never both, never neither.
func TestDeliverRacesAnnul(t *testing.T) {
	onEachStore(t, func(t *testing.T, connect func() kvitt.Store) {
		sim, err := simsvea.New(simsvea.Options{StatusInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		a := newAdminNode(t, connect(), sim, true, true)
		b := newAdminNode(t, connect(), sim, true, true)
		delivered, annulled := 0, 0
		for i := range 6 {
			o := a.paidOrder(t, fmt.Sprintf("R%d", i))
			errs := race(2, func(n int) error {
				if n == 0 {
					_, err := a.h.DeliverOrder(ctx, o.ID)
					return err
				}
				_, err := b.h.AnnulOrder(ctx, o.ID)
				return err
			})
			if ok := accepted(t, errs); ok != 1 {
				t.Fatalf("order %d: %d of deliver and annul succeeded (%v)", i, ok, errs)
			}
			o, _ = a.h.GetOrder(ctx, o.ID)
			info := a.atSvea(t, o)
			switch {
			case errs[0] == nil:
				delivered++
				if !o.Delivery.Done() || o.Annulment.Done() || o.State != kvitt.OrderPaid || info.Status != "Delivered" || info.CancelCalls != 0 {
					t.Fatalf("deliver won: kvitt %s %+v %+v, Svea %+v", o.State, o.Delivery, o.Annulment, info)
				}
			default:
				annulled++
				if !o.Annulment.Done() || o.Delivery.Done() || o.State != kvitt.OrderCancelled || info.Status != "Cancelled" || info.DeliverCalls != 0 {
					t.Fatalf("annul won: kvitt %s %+v %+v, Svea %+v", o.State, o.Delivery, o.Annulment, info)
				}
			}
			if info.Deliveries > 1 {
				t.Fatalf("%d deliveries", info.Deliveries)
			}
		}
		t.Logf("deliver won %d, annul won %d", delivered, annulled)
	})
}

// TestCreditStoppedMidCall: kvitt stops while a credit's return is at
// Svea (the credit is stored "created", the return made). The poller,
// once the request can no longer be on its way, makes it unknown and
// reads Svea's Payment Admin: Svea shows it credited, so it succeeds,
// never sent again. Without Payment Admin it stays unknown for a person.
func TestCreditStoppedMidCall(t *testing.T) {
	for _, admin := range []bool{true, false} {
		t.Run(fmt.Sprint("admin=", admin), func(t *testing.T) {
			store, _ := openStore(t)
			sim, err := simsvea.New(simsvea.Options{StatusInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			r := newAdminNode(t, store, sim, false, admin)
			o := r.paidOrder(t, "2009")
			c := kvitt.OrderCredit{ID: "ocr_crash", Lines: o.Lines[1:], Amount: 9900, State: kvitt.RefundCreated, Created: time.Now()}
			if _, err := r.h.mutateOrder(ctx, o.ID, func(o *kvitt.Order) error { o.Credits = append(o.Credits, c); return nil }); err != nil {
				t.Fatal(err)
			}
			if st, _, err := r.p.Provider.Credit(ctx, o, o.Link(o.PaidLink), &c); err != nil || st != kvitt.RefundSucceeded {
				t.Fatal(st, err)
			}
			// Within the in-flight window nothing is decided, and the poller comes back.
			next, err := r.h.runOrderSync(ctx, &kvitt.Job{Kind: jobOrderSync, Ref: o.ID})
			if err != nil || next <= 0 {
				t.Fatalf("the poller does not come back for a credit in flight: %v %v", next, err)
			}
			if o, _ = r.h.GetOrder(ctx, o.ID); o.Credits[0].State != kvitt.RefundCreated {
				t.Fatal(o.Credits[0])
			}
			time.Sleep(r.h.ProviderTimeout + r.h.InFlightGrace)
			o = r.poll(t, o.ID)
			got := o.Credits[0]
			if admin && (got.State != kvitt.RefundSucceeded || o.Credited != 9900) {
				t.Fatalf("with Payment Admin: %+v, credited %d", got, o.Credited)
			}
			if !admin && (got.State != kvitt.RefundUnknown || got.Message == "" || o.Credited != 0) {
				t.Fatalf("without Payment Admin: %+v, credited %d", got, o.Credited)
			}
			if n := r.p.creditCalls.Load(); n != 0 {
				t.Fatalf("the credit was sent again (%d)", n)
			}
		})
	}
}
