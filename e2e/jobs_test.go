package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// hangingUnit is a control unit that never answers: each Register waits
// until its context ends.
type hangingUnit struct{ calls atomic.Int32 }

func (u *hangingUnit) Register(ctx context.Context, r *kvitt.Registration) (kvitt.ControlCode, error) {
	u.calls.Add(1)
	<-ctx.Done()
	return kvitt.ControlCode{}, kvitt.Errorf(kvitt.EUNAVAILABLE, "control unit did not answer: %v", ctx.Err())
}

// TestGracefulRestartReleasesRunningJob: kvitt is shut down (as Main.Close
// does) while a job is running; the new process with its new worker runs
// the job again at once, not after the old worker's lease (60 s) runs out.
// (It failed before runJob handed an interrupted job back: the job kept the
// stopped worker's lease, and a receipt stayed unregistered for a minute.)
func TestGracefulRestartReleasesRunningJob(t *testing.T) {
	e := newEnv(t, options{}, true)
	ctx := ctxT(t)
	hang := &hangingUnit{}
	e.h.ControlUnits[cuName] = hang
	e.h.ControlUnitTimeout = 200 * time.Millisecond
	rc := e.cashSale(ctx, till1, 1000)
	if rc.Registration != kvitt.RegistrationPending {
		t.Fatalf("receipt %s, want pending (the unit hangs)", rc.Registration)
	}
	// The first call is CompleteSale's own attempt; the second is the job's.
	eventually(t, "the registration job is running", func() string {
		if hang.calls.Load() < 2 {
			return "not yet"
		}
		return ""
	})
	e.restart(true) // the new process has the working control unit
	eventually(t, "receipt registered by the new worker", func() string {
		if r := e.receipt(rc.ID); r.Registration != kvitt.RegistrationRegistered {
			js := e.jobs("receipt.register", rc.ID)
			if len(js) == 1 {
				return fmt.Sprintf("receipt %s; its job is leased by %q until %s (attempts %d)", r.Registration,
					js[0].LeaseOwner, js[0].LeaseUntil.Format(time.RFC3339), js[0].Attempts)
			}
			return fmt.Sprintf("receipt %s; %d jobs", r.Registration, len(js))
		}
		return ""
	})
	if n := e.cu.Registrations(); n != 1 {
		t.Errorf("control unit holds %d registrations, want 1", n)
	}
}
