package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/crashpoint"
)

// After payment (issue 10): the paid order follows Svea's order
// administration (Payment Admin API): deliver it (the invoice goes out, a
// card reservation is captured), annul it while undelivered (the
// reservation is released; the order leaves the picking list), credit it
// (Instore return, read back from Payment Admin after a lost answer).
//
// CancelOrder stays the cancel of an unpaid link; a paid order is annulled
// with AnnulOrder, a separate call, so that a cancel meant for a link
// never releases a paid reservation by accident.
//
// The rules, as for links:
//
//   - The action is stored (requested) under the order's lock before
//     anything is sent; Svea's order is read first, so a delivered order
//     is not delivered again (Svea delivers by itself unless deferred
//     delivery is on) and an annul of a delivered order is refused.
//   - The request is claimed (requested → sent) in the database before it
//     leaves, so the API, the poller and other nodes send it once.
//   - A lost answer leaves it sent: the poller reads Svea's order once the
//     request can no longer be on its way, and sends it again only when
//     the read shows it did not happen. An answer Svea gave (accepted) is
//     never followed by a second request.
//   - Deliver and annul exclude each other: only one may be under way, and
//     neither after the other is done. A race ends with one of them
//     refused (409) and the order in one state at kvitt and at Svea.

// maxAdminSends bounds how often a deliver or annul whose answers are lost
// (and that Svea's order shows not done) is sent before a person is asked.
const maxAdminSends = 5

// adminCreditReadBack is how long the poller keeps reading Svea's Payment
// Admin for a credit whose answer was lost.
const adminCreditReadBack = time.Hour

type adminKind int

const (
	adminDeliver adminKind = iota + 1
	adminAnnul
)

func (k adminKind) action(o *kvitt.Order) *kvitt.AdminAction {
	if k == adminDeliver {
		return &o.Delivery
	}
	return &o.Annulment
}

func (k adminKind) String() string {
	if k == adminDeliver {
		return "deliver"
	}
	return "annul"
}

// errUnchanged ends a mutateOrder without storing anything.
var errUnchanged = errors.New("unchanged")

// orderAdmin returns the configured admin, or an error saying what to configure.
func (h *Hub) orderAdmin() (kvitt.OrderAdmin, error) {
	os, err := h.orders()
	if err != nil {
		return nil, err
	}
	if os.Admin == nil {
		return nil, kvitt.Errorf(kvitt.EUNAVAILABLE, "the order provider %s cannot deliver or annul orders", os.provider.Method())
	}
	if err := os.Admin.AdminAvailable(); err != nil {
		return nil, err
	}
	return os.Admin, nil
}

func paidForAdmin(o *kvitt.Order) error {
	if o.PaidLink == 0 {
		return kvitt.Errorf(kvitt.ECONFLICT, "order %s is not paid: there is nothing to deliver or annul at Svea (cancel the link instead)", o.Number)
	}
	if o.Link(o.PaidLink).ProviderRef == "" {
		return kvitt.Errorf(kvitt.ECONFLICT, "order %s has no Svea reference yet: sync it first", o.Number)
	}
	return nil
}

// DeliverOrder delivers the paid order at the provider (Svea: the invoice
// goes out). Delivering a delivered order succeeds and changes nothing.
// The order is returned as it is after: with a lost answer the delivery
// is "sent" and the poller reads Svea again. Errors: ECONFLICT (not paid,
// annulled, an annulment under way, or Svea shows the order cancelled),
// EPROVIDER (Svea refused, in its words), EUNAVAILABLE (Payment Admin not
// configured: the message says what to set).
func (h *Hub) DeliverOrder(ctx context.Context, id string) (*kvitt.Order, error) {
	return h.adminRequest(ctx, id, adminDeliver)
}

// AnnulOrder cancels the paid, undelivered order at the provider (Svea:
// the reservation is released): the order is cancelled (black icon) and
// off the picking list. Annulling an annulled order succeeds and changes
// nothing. Errors: ECONFLICT (not paid, delivered: credit it instead, a
// delivery under way, credits undecided), EPROVIDER, EUNAVAILABLE.
func (h *Hub) AnnulOrder(ctx context.Context, id string) (*kvitt.Order, error) {
	return h.adminRequest(ctx, id, adminAnnul)
}

func (h *Hub) adminRequest(ctx context.Context, id string, kind adminKind) (*kvitt.Order, error) {
	if _, err := h.orderAdmin(); err != nil {
		return nil, err
	}
	now := h.now()
	_, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		if err := paidForAdmin(o); err != nil {
			return err
		}
		a := kind.action(o)
		switch kind {
		case adminDeliver:
			switch {
			case o.Annulment.Done():
				return kvitt.Errorf(kvitt.ECONFLICT, "order %s is annulled at Svea: it can no longer be delivered", o.Number)
			case o.Annulment.Pending():
				return kvitt.Errorf(kvitt.ECONFLICT, "order %s is being annulled at Svea: it cannot be delivered", o.Number)
			case o.Total > 0 && o.Credited >= o.Total:
				return kvitt.Errorf(kvitt.ECONFLICT, "order %s is credited in full: there is nothing to deliver", o.Number)
			}
		case adminAnnul:
			switch {
			case o.Delivery.Done():
				return kvitt.Errorf(kvitt.ECONFLICT, "order %s is delivered at Svea: it can no longer be annulled; credit it instead (POST /v1/orders/%s/credits)", o.Number, o.ID)
			case o.Delivery.Pending():
				return kvitt.Errorf(kvitt.ECONFLICT, "order %s is being delivered at Svea: it cannot be annulled; credit it once delivered", o.Number)
			}
			for _, c := range o.Credits {
				if c.State == kvitt.RefundCreated || c.State == kvitt.RefundUnknown {
					return kvitt.Errorf(kvitt.ECONFLICT, "order %s has a credit whose outcome is not known yet: settle it before annulling", o.Number)
				}
			}
		}
		if a.Done() || a.Pending() {
			return errUnchanged // done: nothing to do; under way: drive it
		}
		*a = kvitt.AdminAction{State: kvitt.AdminRequested, RequestedAt: now, Sends: a.Sends}
		return nil
	})
	if err != nil && err != errUnchanged {
		return nil, err
	}
	// If this process stops before the answer, the poller carries on.
	h.scheduleOrder(ctx, id, h.ProviderTimeout+h.InFlightGrace)
	o, err := h.driveAdmin(ctx, id)
	if err != nil {
		return o, err
	}
	o = h.awaitAdminAnswer(ctx, o, kind)
	a := kind.action(o)
	if a.State == kvitt.AdminRefused && a.RequestedAt.Equal(now) {
		code := kvitt.EPROVIDER
		if (kind == adminDeliver && o.Admin.Cancelled) || (kind == adminAnnul && o.Admin.Delivered) {
			code = kvitt.ECONFLICT
		}
		return o, kvitt.Errorf(code, "%s", a.Message)
	}
	return o, nil
}

// awaitAdminAnswer waits, within the in-flight window, while another
// caller (the poller, another node) is sending the action and has not had
// its answer yet, so the API answers with the outcome rather than "sent".
func (h *Hub) awaitAdminAnswer(ctx context.Context, o *kvitt.Order, kind adminKind) *kvitt.Order {
	for {
		a := kind.action(o)
		if a.State != kvitt.AdminSent || a.Message != "" || !h.now().Before(a.InFlightUntil) {
			return o
		}
		select {
		case <-ctx.Done():
			return o
		case <-time.After(20 * time.Millisecond):
		}
		o2, err := h.GetOrder(ctx, o.ID)
		if err != nil {
			return o
		}
		o = o2
	}
}

// pendingAdmin returns the deliver or annul under way (at most one).
func pendingAdmin(o *kvitt.Order) adminKind {
	switch {
	case o.Annulment.Pending():
		return adminAnnul
	case o.Delivery.Pending():
		return adminDeliver
	}
	return 0
}

// unknownCredits reports whether a credit's outcome is unknown and still
// worth reading back.
func unknownCredits(o *kvitt.Order, now time.Time) bool {
	for _, c := range o.Credits {
		if c.State == kvitt.RefundUnknown && now.Sub(c.Created) < adminCreditReadBack {
			return true
		}
	}
	return false
}

// adminFollowUp reports whether the poller has admin work on the order.
func adminFollowUp(o *kvitt.Order, now time.Time) bool {
	return o.PaidLink != 0 && (pendingAdmin(o) != 0 || unknownCredits(o, now))
}

// adminNext is when the poller should look again.
func (h *Hub) adminNext(o *kvitt.Order) time.Duration {
	os, _ := h.orders()
	next := 30 * time.Second
	if os != nil {
		next = os.PollInterval
	}
	if k := pendingAdmin(o); k != 0 {
		if a := k.action(o); a.State == kvitt.AdminSent {
			if d := a.InFlightUntil.Sub(h.now()); d > 0 && d < next {
				next = d + 10*time.Millisecond
			}
		}
	}
	return max(next, 10*time.Millisecond)
}

// driveAdmin does what the order's deliver or annul needs now, one step at
// a time, each as read → claim → call → apply, and reads credits back. It
// returns the order as it is after; an error only when the order cannot
// be read or stored.
func (h *Hub) driveAdmin(ctx context.Context, id string) (*kvitt.Order, error) {
	adm, err := h.orderAdmin()
	if err != nil {
		return nil, err
	}
	for step := 0; step < 8; step++ {
		o, err := h.GetOrder(ctx, id)
		if err != nil {
			return nil, err
		}
		kind := pendingAdmin(o)
		if kind == 0 {
			if unknownCredits(o, h.now()) {
				if o2 := h.readBackCredits(ctx, id); o2 != nil {
					o = o2
				}
			}
			return o, nil
		}
		a := kind.action(o)
		l := o.Link(o.PaidLink)
		now := h.now()
		switch a.State {
		case kvitt.AdminRequested:
			// Read first: Svea may have done it already (or made it impossible).
			u, err := h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) { return adm.AdminOrder(ctx, o, l) })
			if err != nil {
				return h.adminLost(ctx, id, kind, a.State, "Svea's Payment Admin did not answer the read before the "+kind.String()+" ("+err.Error()+"); kvitt asks again.", orderSetupOf(h).PollInterval)
			}
			o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
				applyAdminRead(o, u, now)
				if a := kind.action(o); a.State == kvitt.AdminRequested && !u.Read && u.Refused != "" {
					a.State, a.Message = kvitt.AdminRefused, u.Refused
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if a := kind.action(o); a.State != kvitt.AdminRequested {
				continue
			}
			// Claim the send in the database: only one caller sends.
			claimed := false
			o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
				a := kind.action(o)
				if a.State != kvitt.AdminRequested || pendingAdmin(o) != kind {
					return nil
				}
				if a.Sends >= maxAdminSends {
					a.State = kvitt.AdminRefused
					a.Message = fmt.Sprintf("Sent to Svea %d times without an answer, and Svea's order still shows it not done: check the order in Svea's admin.", a.Sends)
					return nil
				}
				a.State, a.Sends, a.Message, claimed = kvitt.AdminSent, a.Sends+1, "", true
				a.InFlightUntil = now.Add(h.ProviderTimeout + h.InFlightGrace)
				return nil
			})
			if err != nil {
				return nil, err
			}
			if !claimed {
				continue
			}
			l = o.Link(o.PaidLink)
			u, err = h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) {
				if kind == adminDeliver {
					crashpoint.Hit("svea.deliver.before-call") // the send is claimed (sent) and committed
					return adm.Deliver(ctx, o, l)
				}
				return adm.Annul(ctx, o, l)
			})
			if err != nil {
				h.Logger.Warn("order "+kind.String()+": answer lost; the poller reads Svea's order", "order", id, "err", err)
				until := kind.action(o).InFlightUntil
				return h.adminLost(ctx, id, kind, kvitt.AdminSent,
					"No answer from Svea ("+err.Error()+"); kvitt reads the order at Svea and sends again only if Svea shows it not done.", until.Sub(h.now()))
			}
			if kind == adminDeliver {
				crashpoint.Hit("svea.deliver.after-call") // Svea has answered; the answer is not stored yet
			}
			if _, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
				applyAdminAnswer(o, kind, u, h.now())
				return nil
			}); err != nil {
				return nil, err
			}
			if u.Refused != "" && !u.Read {
				// Refused: read once more, so the order shows Svea's truth
				// (delivered by Svea itself, cancelled in Svea's admin).
				if r, err := h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) { return adm.AdminOrder(ctx, o, l) }); err == nil {
					o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error { applyAdminRead(o, r, h.now()); return nil })
					if err != nil {
						return nil, err
					}
				}
				return h.GetOrder(ctx, id)
			}
		case kvitt.AdminSent:
			if now.Before(a.InFlightUntil) {
				// It may still be on its way: nothing is decided before it can no longer arrive.
				h.scheduleOrder(ctx, id, a.InFlightUntil.Sub(now)+10*time.Millisecond)
				return o, nil
			}
			u, err := h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) { return adm.AdminOrder(ctx, o, l) })
			if err != nil {
				return h.adminLost(ctx, id, kind, kvitt.AdminSent, "Svea's Payment Admin did not answer ("+err.Error()+"); kvitt asks again.", orderSetupOf(h).PollInterval)
			}
			o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
				applyAdminRead(o, u, now)
				a := kind.action(o)
				if a.State == kvitt.AdminSent && u.Read && !u.Delivered && !u.Cancelled {
					// Svea shows it not done, and the request can no longer
					// be on its way: it never arrived. Send it again.
					a.State, a.Message = kvitt.AdminRequested, "Svea's order shows the earlier request did not arrive; sending it again."
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if kind.action(o).State == kvitt.AdminSent {
				// Not found or unreadable: ask again later.
				h.scheduleOrder(ctx, id, orderSetupOf(h).PollInterval)
				return o, nil
			}
		case kvitt.AdminAccepted:
			u, err := h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) { return adm.AdminOrder(ctx, o, l) })
			if err != nil {
				h.scheduleOrder(ctx, id, orderSetupOf(h).PollInterval)
				return o, nil
			}
			o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error { applyAdminRead(o, u, now); return nil })
			if err != nil {
				return nil, err
			}
			if kind.action(o).State == kvitt.AdminAccepted {
				// Svea took it and is carrying it out: read again later, never send again.
				h.scheduleOrder(ctx, id, orderSetupOf(h).PollInterval)
				return o, nil
			}
		}
	}
	return h.GetOrder(ctx, id)
}

func orderSetupOf(h *Hub) *orderSetup {
	s, _ := h.orders()
	if s == nil {
		return &orderSetup{OrderOptions: OrderOptions{PollInterval: 30 * time.Second}}
	}
	return s
}

// adminCall calls the admin with the provider timeout.
func (h *Hub) adminCall(ctx context.Context, fn func(ctx context.Context) (kvitt.AdminUpdate, error)) (kvitt.AdminUpdate, error) {
	pctx, cancel := context.WithTimeout(ctx, h.ProviderTimeout)
	defer cancel()
	return fn(pctx)
}

// adminLost records that Svea did not answer and schedules the poller.
func (h *Hub) adminLost(ctx context.Context, id string, kind adminKind, state kvitt.AdminActionState, msg string, after time.Duration) (*kvitt.Order, error) {
	o, err := h.mutateOrder(ctx, id, func(o *kvitt.Order) error {
		if a := kind.action(o); a.State == state {
			a.Message = msg
		}
		return nil
	})
	h.scheduleOrder(ctx, id, max(after, 10*time.Millisecond))
	return o, err
}

// readBackCredits reads Svea's order and settles credits whose answers
// were lost; nil when nothing could be read.
func (h *Hub) readBackCredits(ctx context.Context, id string) *kvitt.Order {
	adm, err := h.orderAdmin()
	if err != nil {
		return nil
	}
	o, err := h.GetOrder(ctx, id)
	if err != nil || o.PaidLink == 0 {
		return nil
	}
	u, err := h.adminCall(ctx, func(ctx context.Context) (kvitt.AdminUpdate, error) {
		return adm.AdminOrder(ctx, o, o.Link(o.PaidLink))
	})
	if err != nil {
		h.scheduleOrder(ctx, id, orderSetupOf(h).PollInterval)
		return nil
	}
	o, err = h.mutateOrder(ctx, id, func(o *kvitt.Order) error { applyAdminRead(o, u, h.now()); return nil })
	if err != nil {
		return nil
	}
	if unknownCredits(o, h.now()) {
		h.scheduleOrder(ctx, id, orderSetupOf(h).PollInterval)
	}
	return o
}

// applyAdminRead applies what the provider shows about the paid order, as
// transitions: delivered and cancelled are facts that end the matching
// action and refuse the other; credits whose answers were lost are settled
// when the provider's credited amount shows them.
func applyAdminRead(o *kvitt.Order, u kvitt.AdminUpdate, now time.Time) {
	if u.NotFound {
		o.Admin.Message, o.Admin.ReadAt = u.Refused, now
		return
	}
	if !u.Read {
		return
	}
	o.Admin = kvitt.AdminStatus{Status: u.Status, Delivered: u.Delivered, Cancelled: u.Cancelled, CanDeliver: u.CanDeliver,
		CanCancel: u.CanCancel, Credited: u.Credited, ReadAt: now}
	if u.Status == "" {
		o.Admin.Message = "Svea's Payment Admin gave no order status."
	}
	if u.Delivered {
		if !o.Delivery.Done() {
			msg := ""
			if !o.Delivery.Pending() {
				msg = "Delivered at Svea without a request from kvitt (Svea delivers by itself unless deferred delivery is on, or it was delivered in Svea's admin)."
			}
			o.Delivery.State, o.Delivery.DoneAt, o.Delivery.Message = kvitt.AdminDone, now, msg
		}
		if o.Annulment.Pending() {
			o.Annulment.State = kvitt.AdminRefused
			o.Annulment.Message = fmt.Sprintf("Svea shows order %s delivered: it can no longer be annulled; credit it instead.", o.Number)
		}
	}
	if u.Cancelled {
		if !o.Annulment.Done() {
			msg := ""
			if !o.Annulment.Pending() {
				msg = "Cancelled at Svea without a request from kvitt (in Svea's admin)."
			}
			o.Annulment.State, o.Annulment.DoneAt, o.Annulment.Message = kvitt.AdminDone, now, msg
		}
		if o.Delivery.Pending() {
			o.Delivery.State = kvitt.AdminRefused
			o.Delivery.Message = fmt.Sprintf("Svea shows order %s cancelled: it cannot be delivered.", o.Number)
		}
	}
	settleCredits(o, u.Credited)
}

// applyAdminAnswer applies the provider's answer to a deliver or annul.
func applyAdminAnswer(o *kvitt.Order, kind adminKind, u kvitt.AdminUpdate, now time.Time) {
	a := kind.action(o)
	switch {
	case u.Accepted:
		if a.State == kvitt.AdminSent {
			a.State, a.Message = kvitt.AdminAccepted, ""
		}
	case u.Refused != "":
		if a.State == kvitt.AdminSent || a.State == kvitt.AdminRequested {
			a.State, a.Message = kvitt.AdminRefused, u.Refused
		}
	}
	applyAdminRead(o, u, now)
}

// settleCredits settles credits whose answers were lost, oldest first, as
// far as what the provider has given back beyond kvitt's known credits
// (and beyond credits still in flight) covers them.
func settleCredits(o *kvitt.Order, credited int64) {
	extra := credited - o.Credited
	for _, c := range o.Credits {
		if c.State == kvitt.RefundCreated {
			extra -= c.Amount
		}
	}
	for i := range o.Credits {
		c := &o.Credits[i]
		if c.State != kvitt.RefundUnknown || c.Amount > extra {
			continue
		}
		c.State = kvitt.RefundSucceeded
		c.Message = "The answer was lost; Svea's Payment Admin shows the amount credited."
		o.Credited += c.Amount
		extra -= c.Amount
	}
}

// staleCredits reports whether a credit is still "created" past the time
// its request could be on its way (kvitt stopped during the call).
func staleCredits(o *kvitt.Order, now time.Time, inFlight time.Duration) bool {
	for _, c := range o.Credits {
		if c.State == kvitt.RefundCreated && now.Sub(c.Created) > inFlight {
			return true
		}
	}
	return false
}

// markStaleCredits makes such credits unknown, with a message for a
// person; with Payment Admin they are then read back like a lost answer.
func markStaleCredits(o *kvitt.Order, now time.Time, inFlight time.Duration, readBack bool) {
	for i := range o.Credits {
		c := &o.Credits[i]
		if c.State != kvitt.RefundCreated || now.Sub(c.Created) <= inFlight {
			continue
		}
		c.State = kvitt.RefundUnknown
		c.Message = "kvitt stopped while this credit was on its way to Svea; whether Svea made it is not known. Check it in Svea's admin before crediting again."
		if readBack {
			c.Message = "kvitt stopped while this credit was on its way to Svea; kvitt reads the order in Svea's Payment Admin and settles the credit when Svea shows it. Until then, do not credit again."
		}
	}
}

// creditInFlight returns how long until the youngest "created" credit can
// no longer be on its way (ok false: none).
func creditInFlight(o *kvitt.Order, now time.Time, inFlight time.Duration) (time.Duration, bool) {
	var d time.Duration
	ok := false
	for _, c := range o.Credits {
		if c.State == kvitt.RefundCreated {
			if r := c.Created.Add(inFlight).Sub(now) + 10*time.Millisecond; !ok || r > d {
				d, ok = max(r, 10*time.Millisecond), true
			}
		}
	}
	return d, ok
}
