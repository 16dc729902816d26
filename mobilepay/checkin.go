package mobilepay

import (
	"context"
	"sync"
	"time"
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
// payment run on another); MemoryCheckins serves one process.
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
