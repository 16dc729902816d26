package hub

import "sync"

// broadcaster wakes the subscribers of a payment when it changes. It carries
// no data: subscribers read the durable events from the store, so a missed
// wake-up loses nothing and a second node's changes are found by re-reading.
type broadcaster struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: map[string]map[chan struct{}]struct{}{}}
}

// Subscribe returns a channel that receives (coalesced) wake-ups for key, and a
// function to unsubscribe.
func (b *broadcaster) Subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	if b.subs[key] == nil {
		b.subs[key] = map[chan struct{}]struct{}{}
	}
	b.subs[key][ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs[key], ch)
		if len(b.subs[key]) == 0 {
			delete(b.subs, key)
		}
		b.mu.Unlock()
	}
}

func (b *broadcaster) Publish(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe wakes the caller whenever the payment changes (key: its id),
// a payment of the sale ("sale:<id>") or of the till (TillKey) changes.
func (h *Hub) Subscribe(paymentID string) (<-chan struct{}, func()) {
	return h.events.Subscribe(paymentID)
}
