package mobilepay

import (
	"context"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// CheckinTTL is how long a customer token from user.checked-in.v1 is valid.
const CheckinTTL = 15 * time.Minute

// Checkin is a customer who scanned a till's static QR.
type Checkin struct {
	BeaconID      string
	CustomerToken string
	// At is when the customer scanned (the event's initiatedAt).
	At time.Time
	// Reference is the payment that claimed the check-in ("" = unclaimed).
	Reference string
}

// CheckinStore keeps check-ins until a payment claims them. With several
// kvitt nodes it must be shared (the webhook may reach one node and the
// payment run on another): StoreCheckins keeps them in kvitt's database;
// MemoryCheckins serves one process.
type CheckinStore interface {
	// PutCheckin records a check-in. It reports false, changing nothing,
	// when the same check-in (beacon, token and time) is already recorded:
	// a repeated delivery must not become a second customer.
	PutCheckin(ctx context.Context, c Checkin) (bool, error)
	// ClaimCheckin returns the check-in claimed by reference if there is
	// one; otherwise it claims, for reference, the newest unclaimed check-in
	// at beaconID made at or after since and not older than CheckinTTL. A
	// claimed check-in is never given to another payment.
	ClaimCheckin(ctx context.Context, beaconID, reference string, since, now time.Time) (Checkin, bool, error)
}

// MemoryCheckins is a CheckinStore in this process's memory.
type MemoryCheckins struct {
	mu sync.Mutex
	cs []Checkin
}

// NewMemoryCheckins returns an empty store.
func NewMemoryCheckins() *MemoryCheckins { return &MemoryCheckins{} }

// PutCheckin implements CheckinStore.
func (m *MemoryCheckins) PutCheckin(_ context.Context, c Checkin) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked(time.Now())
	for _, x := range m.cs {
		if x.BeaconID == c.BeaconID && x.CustomerToken == c.CustomerToken && x.At.Equal(c.At) {
			return false, nil
		}
	}
	c.Reference = ""
	m.cs = append(m.cs, c)
	return true, nil
}

// ClaimCheckin implements CheckinStore.
func (m *MemoryCheckins) ClaimCheckin(_ context.Context, beaconID, reference string, since, now time.Time) (Checkin, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.cs {
		if x.Reference == reference && x.BeaconID == beaconID {
			return x, true, nil
		}
	}
	best := -1
	for i, x := range m.cs {
		if x.BeaconID != beaconID || x.Reference != "" || x.At.Before(since) || now.Sub(x.At) > CheckinTTL {
			continue
		}
		if best < 0 || x.At.After(m.cs[best].At) {
			best = i
		}
	}
	if best < 0 {
		return Checkin{}, false, nil
	}
	m.cs[best].Reference = reference
	return m.cs[best], true, nil
}

func (m *MemoryCheckins) pruneLocked(now time.Time) {
	kept := m.cs[:0]
	for _, x := range m.cs {
		if now.Sub(x.At) <= 2*CheckinTTL {
			kept = append(kept, x)
		}
	}
	m.cs = kept
}

// StoreCheckins is a CheckinStore in kvitt's database (kvitt.Tx
// PutCheckin and ClaimCheckin): every node sees every check-in, whichever
// node the webhook reached, and claims of one till's scans are made one at
// a time across the nodes.
type StoreCheckins struct {
	store kvitt.Store
	now   func() time.Time
	prune pruner
}

// NewStoreCheckins returns a CheckinStore over store.
func NewStoreCheckins(store kvitt.Store) *StoreCheckins {
	return &StoreCheckins{store: store, now: time.Now}
}

// PutCheckin implements CheckinStore.
func (s *StoreCheckins) PutCheckin(ctx context.Context, c Checkin) (bool, error) {
	var added bool
	err := s.store.Update(ctx, func(tx kvitt.Tx) (err error) {
		if s.prune.due(s.now()) {
			// Tokens are valid 15 minutes; older scans can pay nothing.
			if _, err := tx.DeleteCheckinsBefore(s.now().Add(-2 * CheckinTTL)); err != nil {
				return err
			}
		}
		added, err = tx.PutCheckin(&kvitt.Checkin{Method: Method, BeaconID: c.BeaconID, CustomerToken: c.CustomerToken, At: c.At})
		return err
	})
	return added, err
}

// ClaimCheckin implements CheckinStore.
func (s *StoreCheckins) ClaimCheckin(ctx context.Context, beaconID, reference string, since, now time.Time) (Checkin, bool, error) {
	if oldest := now.Add(-CheckinTTL); since.Before(oldest) {
		since = oldest // the customer's token has expired
	}
	var c *kvitt.Checkin
	err := s.store.Update(ctx, func(tx kvitt.Tx) (err error) {
		c, err = tx.ClaimCheckin(Method, beaconID, reference, since)
		return err
	})
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return Checkin{}, false, nil
	}
	if err != nil {
		return Checkin{}, false, err
	}
	return Checkin{BeaconID: c.BeaconID, CustomerToken: c.CustomerToken, At: c.At, Reference: c.Reference}, true, nil
}

// StoreReplays is a ReplayGuard in kvitt's database (kvitt.Tx SeeOnce):
// a delivery one node took is a replay on every node.
type StoreReplays struct {
	store kvitt.Store
	prune pruner
}

// NewStoreReplays returns a ReplayGuard over store.
func NewStoreReplays(store kvitt.Store) *StoreReplays { return &StoreReplays{store: store} }

// FirstSeen implements ReplayGuard.
func (s *StoreReplays) FirstSeen(ctx context.Context, signature string, now, until time.Time) (bool, error) {
	var first bool
	err := s.store.Update(ctx, func(tx kvitt.Tx) (err error) {
		if s.prune.due(now) {
			if _, err := tx.DeleteSeenBefore(now); err != nil {
				return err
			}
		}
		first, err = tx.SeeOnce(Method+":"+signature, now, until)
		return err
	})
	return first, err
}

// pruner spaces out the deletion of stale rows: once a minute per process.
type pruner struct {
	mu   sync.Mutex
	next time.Time
}

func (p *pruner) due(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.next) {
		return false
	}
	p.next = now.Add(time.Minute)
	return true
}
