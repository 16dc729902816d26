package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// errPermanent marks a job error that no retry can fix: the job is kept
// as dead for a person to look at.
var errPermanent = errors.New("permanent")

// Job kinds.
const (
	jobPaymentSync     = "payment.sync"
	jobRefundSync      = "refund.sync"
	jobReceiptRegister = "receipt.register"
	jobIdempotencyGC   = "idempotency.gc"
)

// JobFunc runs one job. It returns next > 0 to run the job again after next,
// or an error to retry it with backoff; nil and 0 finish it. Jobs are leased,
// so one whose worker died runs again: a JobFunc must be idempotent.
type JobFunc func(ctx context.Context, j *kvitt.Job) (next time.Duration, err error)

// HandleJob registers a job kind (later issues add their own).
func (h *Hub) HandleJob(kind string, fn JobFunc) { h.jobs[kind] = fn }

// Enqueue adds a durable job.
func (h *Hub) Enqueue(ctx context.Context, kind, ref string, payload []byte, at time.Time) error {
	err := h.update(ctx, func(tx kvitt.Tx) error {
		return tx.EnqueueJob(&kvitt.Job{Kind: kind, Ref: ref, Payload: payload, RunAt: at})
	})
	h.wakeWorker()
	return err
}

func (h *Hub) wakeWorker() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Worker settings.
const (
	jobLease       = 60 * time.Second
	jobConcurrency = 8
	jobPoll        = 500 * time.Millisecond
	jobMaxBackoff  = 5 * time.Minute
	jobMaxAttempts = 500
	// jobShutdownWait bounds how long a stopping worker waits for running jobs.
	jobShutdownWait = 10 * time.Second
)

// RunWorker runs due jobs until ctx ends. owner names this worker's leases;
// a restarted process uses a new owner and takes over expired leases.
func (h *Hub) RunWorker(ctx context.Context, owner string) {
	sem := make(chan struct{}, jobConcurrency)
	tick := time.NewTicker(jobPoll)
	defer tick.Stop()
	h.Enqueue(ctx, jobIdempotencyGC, "gc", nil, h.now())
	for {
		if free := cap(sem) - len(sem); free > 0 {
			var jobs []*kvitt.Job
			now := h.now()
			err := h.update(ctx, func(tx kvitt.Tx) (err error) {
				jobs, err = tx.ClaimJobs(owner, now, now.Add(jobLease), free)
				return err
			})
			if err != nil && ctx.Err() == nil {
				h.Logger.Error("claim jobs", "err", err)
			}
			for _, j := range jobs {
				sem <- struct{}{}
				go func(j *kvitt.Job) {
					defer func() {
						<-sem
						h.wakeWorker() // a slot is free: claim more now, not at the next tick
					}()
					h.runJob(ctx, owner, j)
				}(j)
			}
			if len(jobs) == free && ctx.Err() == nil {
				continue // a full batch: more may be due
			}
		}
		select {
		case <-ctx.Done():
			// Let running jobs end and hand themselves back, for a while: a
			// handler that ignores its context keeps its lease, which runs out.
			drained := make(chan struct{})
			go func() {
				for i := 0; i < cap(sem); i++ {
					sem <- struct{}{}
				}
				close(drained)
			}()
			select {
			case <-drained:
			case <-time.After(jobShutdownWait):
				h.Logger.Warn("job worker: stopped with jobs still running; their leases will run out")
			}
			return
		case <-h.wake:
		case <-tick.C:
		}
	}
}

func (h *Hub) runJob(ctx context.Context, owner string, j *kvitt.Job) {
	fn, ok := h.jobs[j.Kind]
	var next time.Duration
	var err error
	if !ok {
		err = kvitt.Errorf(kvitt.EINTERNAL, "no handler for job kind %q", j.Kind)
	} else {
		jctx, cancel := context.WithTimeout(ctx, jobLease-5*time.Second)
		next, err = fn(jctx, j)
		cancel()
	}
	h.metrics.JobRun(j.Kind, err)
	bg := context.Background()
	now := h.now()
	if ctx.Err() != nil {
		// Shutting down: hand the job back at once, so the next process (or
		// another node) runs it now rather than when the lease runs out.
		if err := h.update(bg, func(tx kvitt.Tx) error {
			return tx.RetryJob(j.ID, owner, now, "interrupted by shutdown", false)
		}); err != nil && kvitt.ErrorCode(err) != kvitt.ECONFLICT {
			h.Logger.Error("release job", "kind", j.Kind, "ref", j.Ref, "err", err)
		}
		return
	}
	switch {
	case err != nil:
		backoff := time.Second << min(j.Attempts, 12)
		dead := !ok || j.Attempts >= jobMaxAttempts || errors.Is(err, errPermanent)
		h.Logger.Warn("job failed", "kind", j.Kind, "ref", j.Ref, "attempt", j.Attempts, "err", err, "dead", dead)
		err = h.update(bg, func(tx kvitt.Tx) error {
			return tx.RetryJob(j.ID, owner, now.Add(min(backoff, jobMaxBackoff)), err.Error(), dead)
		})
	case next > 0:
		err = h.update(bg, func(tx kvitt.Tx) error { return tx.RetryJob(j.ID, owner, now.Add(next), "", false) })
	default:
		err = h.update(bg, func(tx kvitt.Tx) error { return tx.FinishJob(j.ID, owner) })
	}
	if err != nil && kvitt.ErrorCode(err) != kvitt.ECONFLICT {
		h.Logger.Error("job bookkeeping", "kind", j.Kind, "ref", j.Ref, "err", err)
	}
}

// runPaymentSync asks the provider about an open payment until it is decided.
// Past its deadline (plus grace) with no answer, the payment becomes unknown,
// for a person to resolve: kvitt never guesses and never charges again.
func (h *Hub) runPaymentSync(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	p, err := h.GetPayment(ctx, j.Ref)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if !p.State.Open() || p.State == kvitt.PaymentUnknown {
		return 0, nil
	}
	if _, ok := waiting.Load(p.ID); ok {
		return 5 * time.Second, nil // this process is still waiting for the provider's answer
	}
	// While kvitt's own Start may still be on its way (p.InFlightUntil),
	// asking is fine: a "paid" is taken at once, and a "nothing here" waits
	// for the flight to end (applyTo).
	prov, till, err := h.providerFor(ctx, p)
	if err != nil {
		return 0, err
	}
	if !p.CancelRequested.IsZero() && p.State != kvitt.PaymentUnknown {
		// The cashier cancelled while the Start was on its way: send the
		// cancel now that the provider can take it.
		start := time.Now()
		u, err := prov.Cancel(ctx, till, p)
		h.providerCalled(ctx, p.Method, "cancel", start, err, u.ErrorCode)
		if err == nil && u.State != "" {
			if p, err = h.apply(ctx, p.ID, u, CausePoller); err != nil || !p.State.Open() {
				return 0, err
			}
		}
	}
	start := time.Now()
	u, err := prov.Status(ctx, till, p)
	h.providerCalled(ctx, p.Method, "status", start, err, u.ErrorCode)
	if err != nil {
		if !p.Deadline.IsZero() && h.now().After(p.Deadline.Add(h.SyncGrace)) {
			_, aerr := h.apply(ctx, p.ID, kvitt.Update{State: kvitt.PaymentUnknown,
				Message: "No answer from " + p.Method + " about this payment. Check with the provider (or the customer's bank) before taking the money again."}, CausePoller)
			return 0, aerr
		}
		return 0, err
	}
	p, err = h.apply(ctx, p.ID, u, CausePoller)
	if err != nil {
		return 0, err
	}
	if p.State.Open() && p.State != kvitt.PaymentUnknown {
		if u.Retry > 0 {
			return u.Retry, nil
		}
		return 3 * time.Second, nil
	}
	return 0, nil
}

// runRefundSync asks the provider about an undecided refund until it is
// decided, backing off as it ages: 5 s at first, at most an hour apart. A
// refund in unknown also shows in the till's recovery list, where a person
// can resolve it.
func (h *Hub) runRefundSync(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	r, err := h.GetRefund(ctx, j.Ref)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if _, ok := waiting.Load(r.ID); ok {
		return 5 * time.Second, nil
	}
	if r, err = h.SyncRefund(ctx, j.Ref, CausePoller); err != nil {
		return 0, err
	}
	if r.State == kvitt.RefundSucceeded || r.State == kvitt.RefundFailed {
		return 0, nil
	}
	return refundBackoff(h.now().Sub(r.Created)), nil
}

// refundBackoff is how long to wait before asking again about a refund of that age.
func refundBackoff(age time.Duration) time.Duration {
	return min(max(age/10, 5*time.Second), time.Hour)
}

func (h *Hub) runReceiptRegister(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	_, err := h.RegisterReceipt(ctx, j.Ref)
	switch kvitt.ErrorCode(err) {
	case kvitt.ENOTFOUND:
		return 0, nil
	case kvitt.EUNPROCESSABLE:
		// The control unit refused the data: retrying sends the same data.
		// The receipt stays pending and shows in the till's recovery list.
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	return 0, err
}

// IdempotencyTTL is how long Idempotency-Key responses are kept (at least 24 h).
const IdempotencyTTL = 48 * time.Hour

func (h *Hub) runIdempotencyGC(ctx context.Context, j *kvitt.Job) (time.Duration, error) {
	err := h.update(ctx, func(tx kvitt.Tx) error {
		_, err := tx.DeleteIdempotencyBefore(h.now().Add(-IdempotencyTTL))
		return err
	})
	return time.Hour, err
}
