// Package simhold holds a simulator's requests until a test lets them go:
// the machinery behind the test hooks with which the kill -9 suites stop
// the world at the worst moment (POST /sim/hold/{op}, GET /sim/held, and
// each simulator's release and drop routes).
//
// A test asks to hold the next request of an operation (Hold); when one
// arrives, the simulator's handler calls Arrive, which keeps it waiting
// until the test releases it (it takes effect, as if it had just arrived,
// even if its client is gone) or drops it (it never arrived). A request
// not let go within Config.Limit, or still held when the simulator closes,
// is dropped: no handler outlives its simulator.
//
// What is a simulator's own stays there: its operations, how a held
// request is listed (Config.View, its HeldRequest and JSON), its ledger,
// what it counts of the answers (OnStatus), its routes and their messages.
package simhold

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Config is one simulator's set of held requests.
type Config[T any] struct {
	// Name prefixes the errors: the simulator's package, "simsvea".
	Name string
	// Ops are the operations that can be held.
	Ops []string
	// Noun is what WaitHeld's error calls the held requests: "requests".
	Noun string
	// Limit is how long a request is held at most; then it is dropped (a
	// test that forgot it). 0: no limit.
	Limit time.Duration
	// Done, closed when the simulator closes, drops every held request, as
	// Close does. nil: only Close.
	Done <-chan struct{}
	// View is how a held request is listed (Held, WaitHeld, GET /sim/held).
	View func(Request) T
}

// Request is a request held.
type Request struct {
	ID  int    // 1, 2, … in the order they were held
	Op  string // the operation
	Key string // what it is about (an order number, an instructionUUID…): the simulator's
	// Since is when it was held.
	Since time.Time
}

// Set is the requests a simulator holds, and the holds still to come.
type Set[T any] struct {
	c       Config[T]
	mu      sync.Mutex
	pending map[string]int // operation → requests still to hold
	held    []*held        // oldest first
	nextID  int
	changed chan struct{} // closed (and replaced) whenever held changes
	closed  chan struct{}
	once    sync.Once
}

type held struct {
	Request
	release chan bool // true: take effect; false: drop. Sent once, with mu held, as it leaves held.
}

// New makes an empty set.
func New[T any](c Config[T]) *Set[T] {
	return &Set[T]{c: c, pending: map[string]int{}, changed: make(chan struct{}), closed: make(chan struct{})}
}

// Close drops every request held, and every one held from now on.
func (s *Set[T]) Close() { s.once.Do(func() { close(s.closed) }) }

// ValidOp reports an error unless op is one of Config.Ops.
func (s *Set[T]) ValidOp(op string) error { return ValidOp(s.c.Name, s.c.Ops, op) }

// ValidOp reports an error, prefixed with name, unless op is one of ops.
func ValidOp(name string, ops []string, op string) error {
	for _, o := range ops {
		if o == op {
			return nil
		}
	}
	return fmt.Errorf("%s: cannot hold %q (%s)", name, op, strings.Join(ops, ", "))
}

// Hold makes the next request of op that arrives wait (see Arrive). Holds
// add up: called twice, it holds the next two.
func (s *Set[T]) Hold(op string) error {
	if err := s.ValidOp(op); err != nil {
		return err
	}
	s.mu.Lock()
	s.pending[op]++
	s.mu.Unlock()
	return nil
}

// Arrive is called when a request of op about key arrives. Unless a hold of
// op is pending, it reports true at once. Otherwise the request is held
// until it is released (true: it takes effect) or dropped, held for
// Config.Limit, or the set closed (false: the caller drops it unhandled).
func (s *Set[T]) Arrive(op, key string) bool {
	s.mu.Lock()
	if s.pending[op] <= 0 {
		s.mu.Unlock()
		return true
	}
	s.pending[op]--
	s.nextID++
	h := &held{Request: Request{ID: s.nextID, Op: op, Key: key, Since: time.Now()}, release: make(chan bool, 1)}
	s.held = append(s.held, h)
	s.changedLocked()
	s.mu.Unlock()
	var limit <-chan time.Time
	if s.c.Limit > 0 {
		t := time.NewTimer(s.c.Limit)
		defer t.Stop()
		limit = t.C
	}
	select {
	case process := <-h.release:
		return process
	case <-limit:
	case <-s.c.Done:
	case <-s.closed:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takeLocked(func(x *held) bool { return x == h }) != nil {
		return false
	}
	return <-h.release // let go meanwhile: as the test said
}

// Release lets the oldest held request of op about key (any, if key is "")
// go: it takes effect if process, else it is dropped. It reports whether
// one was held.
func (s *Set[T]) Release(op, key string, process bool) bool {
	return s.letGo(func(h *held) bool { return h.Op == op && (key == "" || h.Key == key) }, process)
}

// ReleaseID lets the held request with this ID go (see Release).
func (s *Set[T]) ReleaseID(id int, process bool) bool {
	return s.letGo(func(h *held) bool { return h.ID == id }, process)
}

func (s *Set[T]) letGo(match func(*held) bool, process bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.takeLocked(match)
	if h != nil {
		h.release <- process
	}
	return h != nil
}

// takeLocked removes the oldest held request that matches from held and
// returns it (nil if none does). Called with s.mu held.
func (s *Set[T]) takeLocked(match func(*held) bool) *held {
	for i, h := range s.held {
		if match(h) {
			s.held = append(s.held[:i:i], s.held[i+1:]...)
			s.changedLocked()
			return h
		}
	}
	return nil
}

// changedLocked wakes the waiters of WaitHeld. Called with s.mu held.
func (s *Set[T]) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Held lists the requests held, oldest first (never nil: JSON []).
func (s *Set[T]) Held() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewLocked()
}

func (s *Set[T]) viewLocked() []T {
	out := []T{}
	for _, h := range s.held {
		out = append(out, s.c.View(h.Request))
	}
	return out
}

// WaitHeld waits until at least n requests of op ("" = any) are held, or
// ctx ends; it returns the requests held then, oldest first.
func (s *Set[T]) WaitHeld(ctx context.Context, op string, n int) ([]T, error) {
	for {
		s.mu.Lock()
		list, changed, k := s.viewLocked(), s.changed, 0
		for _, h := range s.held {
			if op == "" || h.Op == op {
				k++
			}
		}
		s.mu.Unlock()
		if k >= n {
			return list, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return list, fmt.Errorf("%s: %d %s %s held, not %d: %w", s.c.Name, k, op, s.c.Noun, n, ctx.Err())
		}
	}
}
