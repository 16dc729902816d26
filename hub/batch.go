package hub

import (
	"context"
	"fmt"
	"strings"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/internal/crashpoint"
)

// CauseBatch is the cause of what a provider's batch response file decided.
const CauseBatch = "batch"

// Keys of Refund.Provider the hub writes when it applies a RefundResult.
const (
	// KeyResultSource names the result that decided the refund: a refund
	// showing the source of a result has had that result applied.
	KeyResultSource = "result_source"
	// KeyResultConflict names a result that could not be applied because
	// the refund had been paid back already (see ResultConflict).
	KeyResultConflict = "result_conflict"
)

// RefundResult is a provider's word on one refund that comes apart from
// kvitt's own request for it: a record of a batch response file. It names
// the refund as the batch carried it, and every part must agree with the
// stored refund and its payment before anything is applied.
type RefundResult struct {
	Method string // the payment's method ("computop")
	// PaymentReference is the payment's provider reference (Computop: the
	// TransID), compared without regard to case.
	PaymentReference string
	RefundID         string // kvitt's refund id (Computop: the RefNr)
	Amount           int64
	Currency         kvitt.Currency // "" skips the check
	// PaymentProvider holds values the payment's Provider data must carry
	// (Computop: the PayID), compared without regard to case.
	PaymentProvider map[string]string
	// Update is the result: succeeded, failed, or unknown when it cannot be read.
	Update kvitt.RefundUpdate
	// Source names this result uniquely and stably (a digest of the file and
	// the line): applying a result whose Source the refund shows already
	// changes nothing.
	Source string
	// Note says in words where the result comes from, for the payment's events.
	Note string
	// Cause is the events' cause; "" means CauseBatch.
	Cause string
}

// ResultOutcome is what ApplyRefundResult did with a result.
type ResultOutcome string

const (
	// ResultApplied: the refund moved to the result's state.
	ResultApplied ResultOutcome = "applied"
	// ResultAlreadyApplied: the refund already shows this result, or a
	// result it agrees with; nothing changed.
	ResultAlreadyApplied ResultOutcome = "already_applied"
	// ResultUnmatched: no refund matches the result; nothing changed.
	ResultUnmatched ResultOutcome = "unmatched"
	// ResultConflict: the result matches a refund but cannot be applied:
	// it pays back a refund paid back already (marked for a person with
	// kvitt.AttentionRefundedTwice), or it says failed while kvitt's own request
	// for the refund may still be on its way.
	ResultConflict ResultOutcome = "conflict"
)

// AppliedResult is the outcome of ApplyRefundResult.
type AppliedResult struct {
	Outcome ResultOutcome
	Refund  *kvitt.Refund // nil when unmatched
	Reason  string        // why it was not applied, in words
}

// ApplyRefundResult applies a provider's result for one refund that came
// apart from kvitt's own request (a batch response file), idempotently:
// matched against the refund and its payment, then applied as the
// refund's own answer would be (applyRefundTo: the payment's refunded sum,
// a return receipt where goods came back, a late "paid back" after failed
// marked for a person), under the sale's lock, with an event of cause
// in.Cause carrying in.Note. A result the refund already shows changes
// nothing; so applying a whole file twice changes nothing the second time.
//
// An unknown result (the provider's record contradicts itself) leaves the
// refund unknown and stops its follow-up job, which could otherwise send
// kvitt's own request for money the batch may have paid back already: a
// person resolves it. A result that pays back a refund paid back already
// is not applied; the refund is marked kvitt.AttentionRefundedTwice, once.
func (h *Hub) ApplyRefundResult(ctx context.Context, in RefundResult) (*AppliedResult, error) {
	if in.Source == "" {
		return nil, kvitt.FieldError("source", "is required: it makes applying a result twice change nothing")
	}
	switch in.Update.State {
	case kvitt.RefundSucceeded, kvitt.RefundFailed, kvitt.RefundUnknown:
	default:
		return nil, kvitt.FieldError("state", "a result is succeeded, failed or unknown, not %q", in.Update.State)
	}
	cause := in.Cause
	if cause == "" {
		cause = CauseBatch
	}
	for attempt := 0; ; attempt++ {
		var res *AppliedResult
		var p *kvitt.Payment
		err := h.update(ctx, func(tx kvitt.Tx) (err error) {
			res, p = nil, nil
			r, err := tx.GetRefund(in.RefundID)
			if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
				res = &AppliedResult{Outcome: ResultUnmatched, Reason: "kvitt has no refund " + in.RefundID}
				return nil
			}
			if err != nil {
				return err
			}
			if p, err = tx.GetPayment(r.PaymentID); err != nil {
				return err
			}
			if err := tx.Lock(saleLock(p.SaleID)); err != nil {
				return err
			}
			if r, err = tx.GetRefund(in.RefundID); err != nil {
				return err
			}
			if p, err = tx.GetPayment(r.PaymentID); err != nil {
				return err
			}
			if why := mismatch(in, p, r); why != "" {
				res, p = &AppliedResult{Outcome: ResultUnmatched, Reason: why}, nil
				return nil
			}
			res = &AppliedResult{Refund: r}
			res.Outcome, res.Reason, err = h.applyResultTo(tx, p, r, in, cause)
			return err
		})
		if isCode(err, kvitt.ECONFLICT) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if res.Outcome == ResultApplied {
			// As applyRefundWith: the return receipt is registered before
			// anyone is told the refund succeeded.
			h.registerReturnHere(ctx, res.Refund)
			h.notify(p)
		}
		crashpoint.Hit("batch.between-lines") // this result is committed; the batch's next line is not read yet
		return res, nil
	}
}

// mismatch says why a result is not for this refund, or "".
func mismatch(in RefundResult, p *kvitt.Payment, r *kvitt.Refund) string {
	switch {
	case p.Method != in.Method:
		return fmt.Sprintf("refund %s is a %s refund, not %s", r.ID, p.Method, in.Method)
	case !strings.EqualFold(p.Reference, in.PaymentReference):
		return fmt.Sprintf("refund %s belongs to payment %s with reference %s, not %s", r.ID, p.ID, p.Reference, in.PaymentReference)
	case r.Amount != in.Amount:
		return fmt.Sprintf("refund %s is %s, not %s", r.ID, kvitt.Money{Amount: r.Amount, Currency: r.Currency}, kvitt.Money{Amount: in.Amount, Currency: r.Currency})
	case in.Currency != "" && r.Currency != in.Currency:
		return fmt.Sprintf("refund %s is in %s, not %s", r.ID, r.Currency, in.Currency)
	}
	for k, v := range in.PaymentProvider {
		if got := p.Provider[k]; !strings.EqualFold(got, v) {
			if got == "" {
				return fmt.Sprintf("payment %s has no %s to compare with %s", p.ID, k, v)
			}
			return fmt.Sprintf("payment %s has %s %s, not %s", p.ID, k, got, v)
		}
	}
	return ""
}

// applyResultTo decides and applies a matched result in tx.
func (h *Hub) applyResultTo(tx kvitt.Tx, p *kvitt.Payment, r *kvitt.Refund, in RefundResult, cause string) (ResultOutcome, string, error) {
	to := in.Update.State
	if r.Provider[KeyResultSource] == in.Source {
		return ResultAlreadyApplied, "", nil
	}
	switch r.State {
	case kvitt.RefundSucceeded:
		if to != kvitt.RefundSucceeded {
			return ResultAlreadyApplied, "the refund was paid back already; this result changes nothing", nil
		}
		if r.Provider[KeyResultConflict] == in.Source {
			return ResultConflict, r.Message, nil // reported and marked when first applied
		}
		how := "by kvitt's own request"
		if src := r.Provider[KeyResultSource]; src != "" {
			how = "by an earlier result (" + src + ")"
		}
		reason := fmt.Sprintf("Refund %s had been paid back %s, and %s reports it paid back again: the customer may have got %s twice. "+
			"Check the credits in the provider's portal, settle the difference, then resolve the refund.",
			r.ID, how, in.Note, kvitt.Money{Amount: r.Amount, Currency: r.Currency})
		if r.Provider == nil {
			r.Provider = map[string]string{}
		}
		r.Provider[KeyResultConflict] = in.Source
		r.Attention, r.Message = kvitt.AttentionRefundedTwice, reason
		if err := tx.UpdateRefund(r); err != nil {
			return "", "", err
		}
		h.Logger.Warn("refund paid back twice", "refund", r.ID, "payment", p.ID, "result", in.Note)
		return ResultConflict, reason, h.recordTransition(tx, p, p.State, p.State, cause, reason)
	case kvitt.RefundFailed:
		if to != kvitt.RefundSucceeded {
			return ResultAlreadyApplied, "the refund had failed already; this result changes nothing", nil
		}
		// Money paid back after kvitt booked the refund failed: applyRefundTo
		// counts it and marks the refund for a person.
	case kvitt.RefundUnknown:
		if to == kvitt.RefundUnknown {
			return ResultAlreadyApplied, "the refund is unknown already; this result tells no more", nil
		}
	}
	if to == kvitt.RefundFailed && r.InFlightUntil.After(h.now()) {
		return ResultConflict, fmt.Sprintf("kvitt's own request for refund %s may still be on its way (until %s), so a failure decides nothing yet; "+
			"apply the result again after that", r.ID, r.InFlightUntil.Format("2006-01-02 15:04:05 MST")), nil
	}
	ru := in.Update
	ru.Provider = map[string]string{}
	for k, v := range in.Update.Provider {
		ru.Provider[k] = v
	}
	ru.Provider[KeyResultSource] = in.Source
	ru.Retry = 0
	if err := h.applyRefundTo(tx, p, r, ru); err != nil {
		return "", "", err
	}
	if r.Provider[KeyResultSource] != in.Source {
		return "", "", fmt.Errorf("hub: refund %s: the result of %s was not applied", r.ID, in.Note) // cannot happen: checked above
	}
	if r.State == kvitt.RefundUnknown {
		// A person decides; kvitt's follow-up would ask by sending its own
		// request, which may pay back what the batch paid back already.
		if err := tx.CancelJob(jobRefundSync, r.ID); err != nil {
			return "", "", err
		}
	}
	msg := fmt.Sprintf("Refund %s %s, from %s", r.ID, r.State, in.Note)
	if r.Message != "" {
		msg += ": " + r.Message
	}
	cur, err := tx.GetPayment(p.ID)
	if err != nil {
		return "", "", err
	}
	*p = *cur
	return ResultApplied, "", h.recordTransition(tx, p, p.State, p.State, cause, msg)
}

// registerReturnHere registers a refund's new return receipt at once when
// this process has the till's control unit (a command-line process has
// none: the receipt's registration job, queued with it, registers it in
// kvitt serve).
func (h *Hub) registerReturnHere(ctx context.Context, r *kvitt.Refund) {
	if r == nil || r.ReceiptID == "" {
		return
	}
	rc, err := h.GetReceipt(ctx, r.ReceiptID)
	if err != nil {
		return
	}
	var till *kvitt.Till
	if err := h.Store.View(ctx, func(tx kvitt.Tx) (err error) { till, err = tx.GetTill(rc.TillID); return err }); err != nil {
		return
	}
	if _, ok := h.ControlUnits[till.ControlUnit]; ok {
		h.registerNow(ctx, rc)
	}
}
