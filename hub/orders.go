package hub

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Orders (seed 004, issue 10): back-office orders paid by a payment link
// (Svea Instore) that an OrderProvider makes. The hub never imports the
// provider's package; cmd/kvitt registers it with RegisterOrderProvider.
//
// Every change of an order is made under the order's lock, on the order as
// just read, so the API, a callback and the poller (on any node) may race:
// each provider answer is applied as a transition of the link it concerns
// (created → pending → paid | cancelled | expired | failed), never as a
// blind overwrite. The rules that keep the money right:
//
//   - A link, with its merchant order number and callback secret, is
//     committed before its create request leaves (Sent), and after a lost
//     answer only its status is asked; it is created again only with the
//     same reference, once the provider says it has none.
//   - Only the last link may be paid: a new link is sent only once every
//     earlier one is closed (cancelled, expired, failed) at the provider,
//     and the status is read before a cancel (the seed's flow).
//   - If an earlier link is nonetheless paid, the order is paid by it and
//     goes back to its content; a second paid link is given back in full
//     and the order carries Attention for a person.
//   - Svea allows one status call per link per 5 seconds: the time of the
//     last call is stored on the link and claimed in the database before the
//     call, so no two nodes call within the interval.

// Job kind of the order follow-up: poll for lost callbacks, resend a lost
// create, finish a cancel, expire a link, give back a second payment.
const jobOrderSync = "order.sync"

// OrderOptions configure the order provider registration.
type OrderOptions struct {
	// MerchantID owns orders created without one.
	MerchantID string
	// Customer acts on links in the sandbox (a simulator's checkout page).
	Customer kvitt.OrderCustomer
	// PollInterval is how often the poller asks about a link waiting for
	// the customer, in case its callback is lost (default 30 s; never below
	// the provider's StatusInterval).
	PollInterval time.Duration
	// ExpiryGrace is how long after its expiry a link still open is
	// cancelled at the provider and shown as expired (default 1 minute).
	ExpiryGrace time.Duration
	// Admin delivers and annuls paid orders (default: the provider, if it
	// implements kvitt.OrderAdmin).
	Admin kvitt.OrderAdmin
}

type orderSetup struct {
	OrderOptions
	provider kvitt.OrderProvider
}

// RegisterOrderProvider enables orders paid by p's links.
func (h *Hub) RegisterOrderProvider(p kvitt.OrderProvider, opts OrderOptions) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 30 * time.Second
	}
	opts.PollInterval = max(opts.PollInterval, p.StatusInterval())
	if opts.ExpiryGrace <= 0 {
		opts.ExpiryGrace = time.Minute
	}
	if a, ok := p.(kvitt.OrderAdmin); ok && opts.Admin == nil {
		opts.Admin = a
	}
	h.orderSetup = &orderSetup{OrderOptions: opts, provider: p}
	h.HandleJob(jobOrderSync, h.runOrderSync)
}

func (h *Hub) orders() (*orderSetup, error) {
	if h.orderSetup == nil {
		return nil, kvitt.Errorf(kvitt.EUNAVAILABLE, "orders are not enabled: no order payment provider (Svea Instore) is configured")
	}
	return h.orderSetup, nil
}

func orderLock(id string) string { return "order:" + id }

// OrderInput is what the back office sends to create an order.
type OrderInput struct {
	MerchantID     string
	Number         string
	Currency       kvitt.Currency
	Customer       kvitt.CustomerCard
	Lines          []kvitt.OrderLine
	IdempotencyKey string
}

// CreateOrder validates the order, stores it with its first link and sends
// the link (the provider sends the SMS). Errors: EUNPROCESSABLE naming the
// field (nothing is sent), ECONFLICT (the number exists), EUNAVAILABLE (no
// provider). A provider that cannot be reached leaves the order creating;
// the poller finds out.
func (h *Hub) CreateOrder(ctx context.Context, in OrderInput) (*kvitt.Order, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	if in.MerchantID == "" {
		in.MerchantID = os.MerchantID
	}
	o := &kvitt.Order{ID: kvitt.NewID("ord"), MerchantID: in.MerchantID, Number: in.Number, Method: os.provider.Method(),
		Currency: in.Currency, Customer: in.Customer, Lines: in.Lines, IdempotencyKey: in.IdempotencyKey}
	if err := h.validateOrder(ctx, os, o); err != nil {
		return nil, err
	}
	now := h.now()
	err = h.update(ctx, func(tx kvitt.Tx) error {
		if in.IdempotencyKey != "" {
			if prev, err := tx.OrderByIdempotencyKey(in.IdempotencyKey); err == nil {
				o = prev
				return nil
			}
		}
		addLink(o, os, now)
		o.UpdateState()
		if err := journalOrder(tx, now, o); err != nil {
			return err
		}
		if err := tx.CreateOrder(o); err != nil {
			return err
		}
		return tx.EnqueueJob(&kvitt.Job{Kind: jobOrderSync, Ref: o.ID, RunAt: now.Add(h.ProviderTimeout + h.InFlightGrace)})
	})
	if err != nil {
		return nil, err
	}
	o2, err := h.driveOrder(ctx, o.ID, driveOpts{wait: true})
	return h.unanswered(ctx, o.ID, o2, err, "")
}

// unanswered is the answer to the back office once an order's change is
// stored and the provider did not answer a call it needed (a lost answer,
// a refused connection, a 5xx: an error that is no *kvitt.Error): the
// change stands, and the poller carries it out. A create is answered with
// the order as stored (creating); a change or cancel (what) with 503 saying so.
func (h *Hub) unanswered(ctx context.Context, id string, o *kvitt.Order, err error, what string) (*kvitt.Order, error) {
	var ke *kvitt.Error
	if err == nil || errors.As(err, &ke) || ctx.Err() != nil {
		return o, err
	}
	h.Logger.Warn("order: the provider did not answer; the poller carries on", "order", id, "err", err)
	h.scheduleOrder(ctx, id, h.ProviderTimeout+h.InFlightGrace)
	if cur, gerr := h.GetOrder(ctx, id); gerr == nil {
		o = cur
	}
	if what == "" {
		return o, nil
	}
	return o, kvitt.Errorf(kvitt.EUNAVAILABLE, "Svea did not answer (%v): the %s is stored, and kvitt carries it out once Svea answers; the order shows the outcome", err, what)
}

func (h *Hub) validateOrder(ctx context.Context, os *orderSetup, o *kvitt.Order) error {
	if o.MerchantID == "" {
		return kvitt.FieldError("merchant_id", "is required")
	}
	var m *kvitt.Merchant
	if err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { m, err = tx.GetMerchant(o.MerchantID); return err }); err != nil {
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			return kvitt.FieldError("merchant_id", "%q is not a merchant here", o.MerchantID)
		}
		return err
	}
	if err := o.ComputeTotals(); err != nil {
		return err
	}
	if m.Country != "" && o.Customer.Country != m.Country {
		return kvitt.FieldError("customer.country", "%s does not match the merchant's country %s", o.Customer.Country, m.Country)
	}
	return os.provider.ValidateOrder(o)
}

// addLink appends a new link carrying the order's content, with a new
// merchant order number and callback secret. It is sent by driveOrder.
func addLink(o *kvitt.Order, os *orderSetup, now time.Time) *kvitt.OrderLink {
	prev, seq := "", 1
	if l := o.CurrentLink(); l != nil {
		prev, seq = l.MerchantOrderNumber, l.Seq+1
	}
	o.Links = append(o.Links, kvitt.OrderLink{
		Seq:                 seq,
		MerchantOrderNumber: kvitt.NewMerchantOrderNumber(o.Number, now, prev),
		Secret:              kvitt.RandomToken(20),
		State:               kvitt.PaymentCreated,
		Lines:               append([]kvitt.OrderLine(nil), o.Lines...),
		Customer:            o.Customer,
		Total:               o.Total,
		ExpiresAt:           now.Add(os.provider.LinkLifetime()),
		Created:             now,
	})
	return o.CurrentLink()
}

// GetOrder returns an order.
func (h *Hub) GetOrder(ctx context.Context, id string) (*kvitt.Order, error) {
	var o *kvitt.Order
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { o, err = tx.GetOrder(id); return err })
	return o, err
}

// ListOrders lists orders as f selects.
func (h *Hub) ListOrders(ctx context.Context, f kvitt.OrderFilter) ([]*kvitt.Order, error) {
	for _, s := range f.States {
		if !s.Valid() {
			return nil, kvitt.FieldError("state", "%q is not an order state", string(s))
		}
	}
	var out []*kvitt.Order
	err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { out, err = tx.ListOrders(f); return err })
	return out, err
}

// PickingList lists the orders the provider reports paid or reserved, and
// no other: never one waiting, failed, cancelled, expired or credited.
func (h *Hub) PickingList(ctx context.Context, merchantID string, limit int) ([]*kvitt.Order, error) {
	return h.ListOrders(ctx, kvitt.OrderFilter{MerchantID: merchantID, States: []kvitt.OrderState{kvitt.OrderPaid}, Limit: limit})
}

// ChangeOrder replaces the order's customer card and lines before payment:
// the current link's status is read, the link cancelled, and a new link
// (new merchant order number, new SMS) sent. Errors: ECONFLICT once the
// order is paid (including when the customer pays the old link meanwhile:
// the order is then paid with its earlier content), cancelled or credited;
// EUNPROCESSABLE naming the field.
func (h *Hub) ChangeOrder(ctx context.Context, id string, customer kvitt.CustomerCard, lines []kvitt.OrderLine) (*kvitt.Order, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	cur, err := h.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	next := &kvitt.Order{MerchantID: cur.MerchantID, Number: cur.Number, Currency: cur.Currency, Customer: customer, Lines: lines}
	if err := h.validateOrder(ctx, os, next); err != nil {
		return nil, err
	}
	var newSeq int
	_, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		if err := changeable(o); err != nil {
			return err
		}
		for i := range o.Links {
			if l := &o.Links[i]; l.Open() {
				l.CancelRequested = true
			}
		}
		o.Customer, o.Lines, o.Total, o.Message = next.Customer, next.Lines, next.Total, ""
		newSeq = addLink(o, os, h.now()).Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.scheduleOrder(ctx, id, h.ProviderTimeout+h.InFlightGrace)
	o, err := h.driveOrder(ctx, id, driveOpts{wait: true})
	if err != nil {
		return h.unanswered(ctx, id, o, err, "change")
	}
	if o.PaidLink != 0 && o.PaidLink < newSeq {
		return o, kvitt.Errorf(kvitt.ECONFLICT, "the customer paid order %s (link %d) before the change reached Svea; the order is paid with its earlier content and the change was not sent", o.Number, o.PaidLink)
	}
	return o, nil
}

func changeable(o *kvitt.Order) error {
	switch {
	case o.PaidLink != 0:
		return kvitt.Errorf(kvitt.ECONFLICT, "order %s is paid (Svea reference %s): it can no longer be changed; credit rows instead", o.Number, o.Reference)
	case o.CancelRequested:
		return kvitt.Errorf(kvitt.ECONFLICT, "order %s is cancelled", o.Number)
	}
	return nil
}

// CancelOrder cancels an order before payment: its link is cancelled at the
// provider (after a status read), so it can no longer be paid. Errors:
// ECONFLICT once paid (credit it instead).
func (h *Hub) CancelOrder(ctx context.Context, id string) (*kvitt.Order, error) {
	if _, err := h.orders(); err != nil {
		return nil, err
	}
	_, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		if o.PaidLink != 0 {
			return kvitt.Errorf(kvitt.ECONFLICT, "order %s is paid (Svea reference %s): annul it while it is undelivered (POST /v1/orders/%s/annul), or credit it", o.Number, o.Reference, o.ID)
		}
		o.CancelRequested = true
		for i := range o.Links {
			if l := &o.Links[i]; l.Open() {
				l.CancelRequested = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.scheduleOrder(ctx, id, h.ProviderTimeout)
	o, err := h.driveOrder(ctx, id, driveOpts{wait: true})
	if err == nil && o.PaidLink != 0 {
		return o, kvitt.Errorf(kvitt.ECONFLICT, "the customer paid order %s before the cancel reached Svea; credit it instead", o.Number)
	}
	return h.unanswered(ctx, id, o, err, "cancel")
}

// SyncOrder asks the provider about the order's open links now, waiting
// out the status interval if needed.
func (h *Hub) SyncOrder(ctx context.Context, id string) (*kvitt.Order, error) {
	if _, err := h.orders(); err != nil {
		return nil, err
	}
	return h.driveOrder(ctx, id, driveOpts{wait: true, status: true})
}

// OrderCallback takes the provider's callback for a link. It carries only
// the merchant order number, so kvitt authenticates it by the per-link
// secret in its URL (token) and then reads the status from the provider: a
// forged callback gets ENOTFOUND and changes nothing; a duplicate or late
// one only causes a status read (at most one per status interval).
func (h *Hub) OrderCallback(ctx context.Context, token string) error {
	if _, err := h.orders(); err != nil {
		return err
	}
	id, seq, secret, ok := kvitt.ParseOrderCallbackToken(token)
	forged := kvitt.Errorf(kvitt.ENOTFOUND, "unknown callback")
	if !ok {
		return forged
	}
	o, err := h.GetOrder(ctx, id)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return forged
	}
	if err != nil {
		return err
	}
	l := o.Link(seq)
	if l == nil || subtle.ConstantTimeCompare([]byte(l.Secret), []byte(secret)) != 1 {
		h.Logger.Warn("order callback with a wrong secret", "order", id, "link", seq)
		return forged
	}
	_, err = h.driveOrder(ctx, id, driveOpts{status: true, only: seq})
	if err != nil {
		// The provider is asked later; the callback itself is taken.
		h.Logger.Warn("order callback: status read failed", "order", id, "err", err)
		h.scheduleOrder(ctx, id, 0)
	}
	return nil
}

// ActOnOrder acts as the customer on the order's current link in the
// sandbox (the simulator's checkout page), then reads the outcome.
func (h *Hub) ActOnOrder(ctx context.Context, id string, action kvitt.CustomerAction) (*kvitt.Order, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	if !h.Sandbox || os.Customer == nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "the sandbox customer is only available in sandbox mode")
	}
	o, err := h.GetOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	l := o.CurrentLink()
	if l == nil || l.URL == "" {
		return nil, kvitt.Errorf(kvitt.ECONFLICT, "order %s has no link to act on", o.Number)
	}
	if err := os.Customer.ActOnLink(ctx, o, l, action); err != nil {
		return nil, err
	}
	return h.driveOrder(ctx, id, driveOpts{status: true, wait: true})
}

// CreditInput says what to credit on a paid order: rows (a quantity of
// an order row, default all of it), or an amount at one VAT rate.
type CreditInput struct {
	Rows    []CreditRow
	Amount  int64
	VATRate int64
	Name    string // the amount row's name (default "Kreditering")
}

// CreditRow credits Quantity (hundredths; 0 = the whole row) of an order row.
type CreditRow struct {
	RowNumber int
	Quantity  int64
}

// CreditOrder gives back rows (or parts of them), or an amount, of a paid
// order: the credit is stored before the provider is called. Svea's
// Instore API has no call that reads a credit back, so a lost answer
// leaves the credit unknown; when Svea's Payment Admin is configured, the
// order is read there and the credit settled once Svea's credited amount
// shows it (now, or by the poller), else it stays unknown for a person.
// Errors: ECONFLICT (not paid, annulled or being annulled),
// EUNPROCESSABLE (a row that is not on the order, more than is left).
func (h *Hub) CreditOrder(ctx context.Context, id string, in CreditInput) (*kvitt.Order, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	var credit kvitt.OrderCredit
	// The poller's job is committed with the credit: if this process stops
	// while the return is at Svea, the credit is not left "created".
	followUp := &kvitt.Job{Kind: jobOrderSync, Ref: id, RunAt: h.now().Add(h.ProviderTimeout + h.InFlightGrace)}
	o, err := h.mutateOrderJob(ctx, id, followUp, func(o *kvitt.Order) error {
		if o.PaidLink == 0 {
			return kvitt.Errorf(kvitt.ECONFLICT, "order %s is not paid; cancel it instead", o.Number)
		}
		if o.Annulment.Done() || o.Annulment.Pending() {
			return kvitt.Errorf(kvitt.ECONFLICT, "order %s is annulled at Svea (or being annulled): nothing is charged, so there is nothing to credit", o.Number)
		}
		lines, err := creditLines(o, in)
		if err != nil {
			return err
		}
		var sum int64
		for i := range lines {
			sum += lines[i].Total
		}
		left := o.Total - o.Credited
		for _, c := range o.Credits {
			if c.State != kvitt.RefundSucceeded && c.State != kvitt.RefundFailed {
				left -= c.Amount // undecided credits count until decided
			}
		}
		if sum <= 0 || sum > left {
			return kvitt.FieldError("lines", "credits %s; %s is left to credit", kvitt.FormatAmount(sum, o.Currency), kvitt.FormatAmount(left, o.Currency))
		}
		credit = kvitt.OrderCredit{ID: kvitt.NewID("ocr"), Lines: lines, Amount: sum, State: kvitt.RefundCreated, Created: h.now()}
		o.Credits = append(o.Credits, credit)
		return nil
	})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	state, msg, perr := os.provider.Credit(pctx, o, o.Link(o.PaidLink), &credit)
	cancel()
	if perr != nil {
		state, msg = kvitt.RefundUnknown, "No answer from Svea about this credit; check it in Svea's admin before crediting again: "+perr.Error()
		if os.Admin != nil && os.Admin.AdminAvailable() == nil {
			msg = "No answer from Svea about this credit (" + perr.Error() + "); kvitt reads the order in Svea's Payment Admin and settles the credit when Svea shows it. Until then, do not credit again."
		}
	}
	o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		for i := range o.Credits {
			if c := &o.Credits[i]; c.ID == credit.ID && c.State == kvitt.RefundCreated {
				c.State, c.Message = state, msg
				if state == kvitt.RefundSucceeded {
					o.Credited += c.Amount
				}
			}
		}
		return nil
	})
	if err != nil || state != kvitt.RefundUnknown {
		return o, err
	}
	// The answer was lost: read Svea's credited amount back.
	if o2 := h.readBackCredits(ctx, id); o2 != nil {
		o = o2
	}
	return o, nil
}

// mutateOrder changes an order under its lock and stores it.
func (h *Hub) mutateOrder(ctx context.Context, id string, fn func(o *kvitt.Order) error) (*kvitt.Order, error) {
	return h.mutateOrderJob(ctx, id, nil, fn)
}

// mutateOrderJob is mutateOrder that also enqueues job (if not nil) in the
// same transaction.
func (h *Hub) mutateOrderJob(ctx context.Context, id string, job *kvitt.Job, fn func(o *kvitt.Order) error) (*kvitt.Order, error) {
	var out *kvitt.Order
	err := h.update(ctx, func(tx kvitt.Tx) error {
		if err := tx.Lock(orderLock(id)); err != nil {
			return err
		}
		o, err := tx.GetOrder(id)
		if err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
		o.UpdateState()
		if err := journalOrder(tx, h.now(), o); err != nil {
			return err
		}
		if err := tx.UpdateOrder(o); err != nil {
			return err
		}
		if job != nil {
			if err := tx.EnqueueJob(job); err != nil {
				return err
			}
		}
		out = o
		return nil
	})
	if err == nil && job != nil {
		h.wakeWorker()
	}
	return out, err
}

func (h *Hub) scheduleOrder(ctx context.Context, id string, after time.Duration) {
	if err := h.Enqueue(ctx, jobOrderSync, id, nil, h.now().Add(after)); err != nil {
		h.Logger.Error("schedule order sync", "order", id, "err", err)
	}
}

// driveOpts say what a driveOrder run may do.
type driveOpts struct {
	// wait: wait out the status interval instead of leaving the status
	// read to the poller (an API call that needs the answer).
	wait bool
	// status: read the status of links waiting for the customer (a
	// callback, a poll, a sync).
	status bool
	// only limits the status reads to one link (a callback's).
	only int
}

// errLater says the step cannot run before at (the status interval).
type errLater struct{ at time.Time }

func (e errLater) Error() string { return "status interval" }

// driveOrder does whatever the order's links need now, one step at a time,
// each as read → claim → call → apply: cancels requested, a link to send
// once earlier ones are closed, a lost create to find, statuses to read,
// links past expiry, a second payment to give back. It returns the order
// as it is after.
func (h *Hub) driveOrder(ctx context.Context, id string, opts driveOpts) (*kvitt.Order, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	statusDone := map[int]bool{}
	for step := 0; step < 20; step++ {
		o, err := h.GetOrder(ctx, id)
		if err != nil {
			return nil, err
		}
		did, err := h.orderStep(ctx, os, o, opts, statusDone)
		if err != nil {
			if later, ok := err.(errLater); ok {
				h.scheduleOrder(ctx, id, later.at.Sub(h.now()))
				return h.GetOrder(ctx, id)
			}
			o2, _ := h.GetOrder(ctx, id)
			if o2 == nil {
				o2 = o
			}
			return o2, err
		}
		if !did {
			return o, nil
		}
	}
	return h.GetOrder(ctx, id)
}

// orderStep does the first thing the order needs; did is false when there is nothing to do now.
func (h *Hub) orderStep(ctx context.Context, os *orderSetup, o *kvitt.Order, opts driveOpts, statusDone map[int]bool) (did bool, err error) {
	now := h.now()
	// 1. Cancels requested, oldest first: status first, then cancel.
	for i := range o.Links {
		l := &o.Links[i]
		if !l.CancelRequested || !l.Open() {
			continue
		}
		if !l.Sent {
			return true, h.applyLinkUpdate(ctx, o.ID, l.Seq, kvitt.LinkUpdate{State: kvitt.PaymentCancelled, Message: "Not sent: replaced before it was sent."}, now)
		}
		if !statusDone[l.Seq] {
			statusDone[l.Seq] = true
			return true, h.readLinkStatus(ctx, os, o.ID, l.Seq, opts.wait)
		}
		u, err := h.callProvider(ctx, func(ctx context.Context) (kvitt.LinkUpdate, error) { return os.provider.CancelLink(ctx, o, l) })
		if err != nil {
			return false, err
		}
		if u.State == "" && u.Message != "" {
			// Refused: paid meanwhile, or ended at Svea. Read the status
			// once more (the customer may have paid a moment ago); only
			// if the link is still open is the refusal an error.
			if !statusDone[-l.Seq] {
				statusDone[-l.Seq], statusDone[l.Seq] = true, false
				return true, nil
			}
			_ = h.applyLinkUpdate(ctx, o.ID, l.Seq, u, now)
			return false, kvitt.Errorf(kvitt.EPROVIDER, "Svea refused to cancel link %s: %s", l.MerchantOrderNumber, u.Message)
		}
		return true, h.applyLinkUpdate(ctx, o.ID, l.Seq, u, now)
	}
	// 2. The current link: send it once every earlier link is closed; find a lost create.
	if l := o.CurrentLink(); l != nil && (l.State == kvitt.PaymentCreated || l.State == kvitt.PaymentUnknown) && !l.CancelRequested && o.PaidLink == 0 {
		for i := range o.Links[:len(o.Links)-1] {
			if o.Links[i].Open() {
				return false, nil // an earlier link may still be paid: wait for its cancel
			}
		}
		if !l.Sent {
			return true, h.sendLink(ctx, os, o.ID, l.Seq)
		}
		if !statusDone[l.Seq] {
			statusDone[l.Seq] = true
			return true, h.readLinkStatus(ctx, os, o.ID, l.Seq, opts.wait)
		}
	}
	// 3. Links waiting for the customer: past expiry, cancel; else read the
	// status when asked. A callback about a link kvitt had ended is read
	// too: the truth may arrive late (a second payment).
	for i := range o.Links {
		l := &o.Links[i]
		if opts.only == l.Seq && !statusDone[l.Seq] && l.Sent && l.State != kvitt.PaymentPaid && l.State != kvitt.PaymentRefunded && !l.Open() {
			statusDone[l.Seq] = true
			return true, h.readLinkStatus(ctx, os, o.ID, l.Seq, opts.wait)
		}
		if l.State != kvitt.PaymentPending || l.CancelRequested {
			continue
		}
		if now.After(l.ExpiresAt.Add(os.ExpiryGrace)) {
			_, err := h.mutateOrder(ctx, o.ID, func(o *kvitt.Order) error {
				if l := o.Link(l.Seq); l != nil && l.Open() {
					l.CancelRequested = true
				}
				return nil
			})
			return err == nil, err
		}
		if opts.status && !statusDone[l.Seq] && (opts.only == 0 || opts.only == l.Seq) {
			statusDone[l.Seq] = true
			return true, h.readLinkStatus(ctx, os, o.ID, l.Seq, opts.wait)
		}
	}
	// 4. A second paid link: give it back in full.
	for i := range o.Links {
		l := &o.Links[i]
		if l.State != kvitt.PaymentPaid || l.Seq == o.PaidLink || o.PaidLink == 0 {
			continue
		}
		c := &kvitt.OrderCredit{ID: "return-" + l.MerchantOrderNumber, Amount: l.Total, State: kvitt.RefundCreated}
		pctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
		state, msg, err := os.provider.Credit(pctx, o, l, c)
		cancel()
		if err != nil {
			return false, err
		}
		if state != kvitt.RefundSucceeded {
			return false, kvitt.Errorf(kvitt.EPROVIDER, "giving back the second payment (link %s) failed: %s", l.MerchantOrderNumber, msg)
		}
		return true, h.applyLinkUpdate(ctx, o.ID, l.Seq, kvitt.LinkUpdate{State: kvitt.PaymentRefunded, Message: "Paid after another link had paid the order; given back in full."}, now)
	}
	return false, nil
}

// callProvider calls the provider with the provider timeout.
func (h *Hub) callProvider(ctx context.Context, fn func(ctx context.Context) (kvitt.LinkUpdate, error)) (kvitt.LinkUpdate, error) {
	pctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	return fn(pctx)
}

// sendLink marks the link sent (committed before the request leaves) and creates it at the provider.
func (h *Hub) sendLink(ctx context.Context, os *orderSetup, id string, seq int) error {
	var o *kvitt.Order
	claimed := false
	o, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		l := o.Link(seq)
		if l == nil || l.Sent || l.State != kvitt.PaymentCreated {
			return nil
		}
		l.Sent, claimed = true, true
		l.InFlightUntil = h.now().Add(h.ProviderTimeout + h.InFlightGrace)
		return nil
	})
	if err != nil || !claimed {
		return err
	}
	l := o.Link(seq)
	u, err := h.callProvider(ctx, func(ctx context.Context) (kvitt.LinkUpdate, error) { return os.provider.CreateLink(ctx, o, l) })
	if err != nil {
		h.Logger.Warn("order link: create answer lost; the poller asks", "order", id, "reference", l.MerchantOrderNumber, "err", err)
		h.scheduleOrder(ctx, id, h.ProviderTimeout+h.InFlightGrace)
		return nil
	}
	return h.applyLinkUpdate(ctx, id, seq, u, h.now())
}

// readLinkStatus claims the status interval, reads the link's status and
// applies it. A create the provider never received is sent again with the
// same reference once it can no longer be on its way.
func (h *Hub) readLinkStatus(ctx context.Context, os *orderSetup, id string, seq int, wait bool) error {
	// The interval counts between the calls' arrivals at the provider,
	// which kvitt does not see: the next call is claimed a tenth of the
	// interval later than the limit, counted from the last answer.
	interval := os.provider.StatusInterval()
	interval += interval / 10
	for {
		var at time.Time
		o, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
			l := o.Link(seq)
			if l == nil {
				return kvitt.Errorf(kvitt.ENOTFOUND, "no link %d", seq)
			}
			now := h.now()
			if next := l.StatusAt.Add(interval); now.Before(next) {
				at = next
				return nil
			}
			l.StatusAt = now
			return nil
		})
		if err != nil {
			return err
		}
		if !at.IsZero() {
			if !wait {
				return errLater{at}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(at.Sub(h.now())):
			}
			continue
		}
		l := o.Link(seq)
		u, err := h.callProvider(ctx, func(ctx context.Context) (kvitt.LinkUpdate, error) { return os.provider.LinkStatus(ctx, o, l) })
		if err != nil {
			return err
		}
		answered := h.now()
		if _, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
			if l := o.Link(seq); l != nil && l.StatusAt.Before(answered) {
				l.StatusAt = answered
			}
			return nil
		}); err != nil {
			return err
		}
		if u.TooSoon {
			if !wait {
				return errLater{h.now().Add(interval)}
			}
			continue
		}
		if u.NotFound {
			if l.State == kvitt.PaymentCreated && l.Sent && h.now().After(l.InFlightUntil) {
				if l.CancelRequested {
					// It never arrived and can no longer arrive: nothing to cancel.
					return h.applyLinkUpdate(ctx, id, seq, kvitt.LinkUpdate{State: kvitt.PaymentCancelled, Message: "Never reached Svea."}, h.now())
				}
				// The create never arrived: send it again with the same reference.
				u, err = h.callProvider(ctx, func(ctx context.Context) (kvitt.LinkUpdate, error) { return os.provider.CreateLink(ctx, o, l) })
				if err != nil {
					return err
				}
				return h.applyLinkUpdate(ctx, id, seq, u, h.now())
			}
			return nil
		}
		return h.applyLinkUpdate(ctx, id, seq, u, h.now())
	}
}

// applyLinkUpdate applies what the provider reported about a link as a
// transition of that link's state, on the order as it is now.
func (h *Hub) applyLinkUpdate(ctx context.Context, id string, seq int, u kvitt.LinkUpdate, now time.Time) error {
	o, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		applyLink(o, seq, u, now)
		return nil
	})
	if err == nil && o.OpenLinks() {
		// Keep polling while a link may still be paid.
		os, _ := h.orders()
		if os != nil {
			next := os.PollInterval
			if l := o.CurrentLink(); l != nil && l.State == kvitt.PaymentPending {
				next = min(next, max(l.ExpiresAt.Add(os.ExpiryGrace).Sub(now), time.Second))
			}
			h.scheduleOrder(ctx, id, next)
		}
	}
	return err
}

// applyLink applies u to the order's link seq. Payment wins over
// everything: a link reported paid is paid even if kvitt had cancelled or
// expired it (the truth arriving late). The first paid link pays the order;
// a later one is given back (orderStep) and the order needs a person.
func applyLink(o *kvitt.Order, seq int, u kvitt.LinkUpdate, now time.Time) {
	l := o.Link(seq)
	if l == nil {
		return
	}
	if u.URL != "" {
		l.URL = u.URL
	}
	if u.SMSSent != nil {
		l.SMSSent = *u.SMSSent
	}
	if u.ProviderRef != "" {
		l.ProviderRef = u.ProviderRef
	}
	if u.PaymentType != "" {
		l.PaymentType = u.PaymentType
	}
	if u.Message != "" || u.ErrorCode != "" {
		l.ErrorCode, l.Message = u.ErrorCode, u.Message
	}
	switch u.State {
	case kvitt.PaymentPending:
		if l.State == kvitt.PaymentCreated || l.State == kvitt.PaymentUnknown {
			l.State = kvitt.PaymentPending
		}
	case kvitt.PaymentPaid, kvitt.PaymentAuthorized:
		if l.State == kvitt.PaymentPaid || l.State == kvitt.PaymentRefunded {
			return
		}
		l.State = kvitt.PaymentPaid
		switch {
		case o.PaidLink == 0:
			o.PaidLink = seq
			if o.CancelRequested {
				// The back office cancelled while the customer paid, and
				// Svea refused the cancel: the money is taken. Never shown
				// as cancelled (that is an annulment): paid, for a person.
				o.CancelRequested = false
				o.Attention = fmt.Sprintf("The customer paid link %s before the cancel reached Svea: the order is paid. "+
					"Deliver it, or annul or credit it and tell the customer.", l.MerchantOrderNumber)
			}
			if seq != o.CurrentLink().Seq {
				// An earlier link was paid while a change was on its way:
				// the order is what the customer paid for.
				o.Lines, o.Customer, o.Total = l.Lines, l.Customer, l.Total
				o.Message = fmt.Sprintf("The customer paid link %d before the change reached Svea; the order keeps the content that was paid.", seq)
			}
			for i := range o.Links {
				if x := &o.Links[i]; x.Seq != seq && x.State == kvitt.PaymentCreated && !x.Sent {
					x.State, x.Message = kvitt.PaymentCancelled, "Not sent: an earlier link was paid."
				}
			}
		default:
			o.Attention = fmt.Sprintf("Link %s was paid after link %d had paid the order; the second payment is given back in full. Tell the customer.",
				l.MerchantOrderNumber, o.PaidLink)
		}
	case kvitt.PaymentCancelled, kvitt.PaymentExpired:
		if !l.Open() {
			return
		}
		l.State = u.State
		// A link kvitt did not cancel (Svea ended it: its own expiry, its
		// admin), or one kvitt cancelled past its lifetime, is no longer
		// valid: the grey icon. One the back office cancelled is black.
		if !o.CancelRequested && (!l.CancelRequested || !now.Before(l.ExpiresAt)) {
			l.State = kvitt.PaymentExpired
		}
	case kvitt.PaymentFailed, kvitt.PaymentDeclined:
		if l.State == kvitt.PaymentCreated || l.State == kvitt.PaymentUnknown {
			l.State = kvitt.PaymentFailed
		}
	case kvitt.PaymentRefunded:
		if l.State == kvitt.PaymentPaid && seq != o.PaidLink {
			l.State = kvitt.PaymentRefunded
		}
	}
}

// runOrderSync is the poller: it drives the order (status reads included)
// while any link may still be paid or needs a follow-up.
func (h *Hub) runOrderSync(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	os, err := h.orders()
	if err != nil {
		return 0, err
	}
	o, err := h.driveOrder(ctx, j.Ref, driveOpts{status: true})
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if staleCredits(o, h.now(), h.ProviderTimeout+h.InFlightGrace) {
		// kvitt stopped while a credit was at Svea: its outcome is not known.
		if o2, err := h.mutateOrder(ctx, j.Ref, func(o *kvitt.Order) error {
			markStaleCredits(o, h.now(), h.ProviderTimeout+h.InFlightGrace, os.Admin != nil && os.Admin.AdminAvailable() == nil)
			return nil
		}); err == nil {
			o = o2
		}
	}
	var next time.Duration
	if o.PaidLink != 0 && adminFollowUp(o, h.now()) {
		// A deliver or annul under way, or a credit to read back: read
		// Svea's Payment Admin (never send blindly again).
		if o2, err := h.driveAdmin(ctx, j.Ref); err == nil && o2 != nil {
			o = o2
		}
		if adminFollowUp(o, h.now()) {
			next = h.adminNext(o)
		}
	}
	if o.OpenLinks() || secondPaymentPending(o) {
		n := os.PollInterval
		for _, l := range o.Links {
			if l.State == kvitt.PaymentPending && !l.CancelRequested {
				n = min(n, max(l.ExpiresAt.Add(os.ExpiryGrace).Sub(h.now()), time.Second))
			}
		}
		if next == 0 || n < next {
			next = n
		}
	}
	if d, ok := creditInFlight(o, h.now(), h.ProviderTimeout+h.InFlightGrace); ok && (next == 0 || d < next) {
		next = d // a credit at Svea: look again when it can no longer be on its way
	}
	return next, nil
}

func secondPaymentPending(o *kvitt.Order) bool {
	for _, l := range o.Links {
		if l.State == kvitt.PaymentPaid && o.PaidLink != 0 && l.Seq != o.PaidLink {
			return true
		}
	}
	return false
}

// creditLines builds the rows a credit sends from the paid order's rows.
func creditLines(o *kvitt.Order, in CreditInput) ([]kvitt.OrderLine, error) {
	if len(in.Rows) == 0 && in.Amount == 0 {
		return nil, kvitt.FieldError("lines", "name the rows to credit, or an amount")
	}
	if len(in.Rows) > 0 && in.Amount != 0 {
		return nil, kvitt.FieldError("amount", "credit either rows or an amount, not both")
	}
	var out []kvitt.OrderLine
	if in.Amount != 0 {
		name := in.Name
		if name == "" {
			name = "Kreditering"
		}
		l := kvitt.OrderLine{RowNumber: len(o.Lines) + 1, Name: name, Quantity: 100, UnitPrice: in.Amount, VATRate: in.VATRate, Unit: "st"}
		probe := kvitt.Order{Number: o.Number, Currency: o.Currency, Customer: o.Customer, Lines: []kvitt.OrderLine{l}}
		if err := probe.ComputeTotals(); err != nil {
			return nil, kvitt.WithFieldPrefix("", err)
		}
		return probe.Lines, nil
	}
	for i, r := range in.Rows {
		var src *kvitt.OrderLine
		for j := range o.Lines {
			if o.Lines[j].RowNumber == r.RowNumber {
				src = &o.Lines[j]
			}
		}
		field := fmt.Sprintf("lines[%d]", i)
		if src == nil {
			return nil, kvitt.FieldError(field+".row_number", "order %s has no row %d", o.Number, r.RowNumber)
		}
		l := *src
		if r.Quantity != 0 {
			if r.Quantity < 0 || r.Quantity > src.Quantity {
				return nil, kvitt.FieldError(field+".quantity", "must be above zero and at most the row's %s", kvitt.FormatAmount(src.Quantity, kvitt.SEK))
			}
			l.Quantity = r.Quantity
		}
		total, ok := l.LineTotal()
		if !ok {
			return nil, kvitt.FieldError(field+".quantity", "is too large")
		}
		l.Total = total
		out = append(out, l)
	}
	return out, nil
}
