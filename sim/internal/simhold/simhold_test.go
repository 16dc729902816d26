package simhold

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

type view struct {
	ID  int
	Op  string
	Key string
}

func newSet(c Config[view]) *Set[view] {
	if c.Name == "" {
		c.Name = "simtest"
	}
	if c.Ops == nil {
		c.Ops = []string{"create", "refund"}
	}
	if c.Noun == "" {
		c.Noun = "requests"
	}
	c.View = func(r Request) view {
		if r.Since.IsZero() {
			panic("a held request without its time")
		}
		return view{r.ID, r.Op, r.Key}
	}
	return New(c)
}

// arrive calls Arrive in the background; the channel gets its answer.
func arrive(s *Set[view], op, key string) <-chan bool {
	out := make(chan bool, 1)
	go func() { out <- s.Arrive(op, key) }()
	return out
}

func waitHeld(t *testing.T, s *Set[view], op string, n int) []view {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	held, err := s.WaitHeld(ctx, op, n)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func answer(t *testing.T, ch <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("a held request was never let go")
		return false
	}
}

func still(t *testing.T, ch <-chan bool) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("a held request went on (%v) before it was let go", v)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestHoldReleaseDrop(t *testing.T) {
	s := newSet(Config[view]{})
	defer s.Close()
	if !s.Arrive("create", "a") {
		t.Fatal("a request with no hold pending was not let through")
	}
	if err := s.Hold("status"); err == nil || err.Error() != `simtest: cannot hold "status" (create, refund)` {
		t.Fatalf("hold of an unknown op: %v", err)
	}
	if err := s.ValidOp("refund"); err != nil {
		t.Fatal(err)
	}
	if h := s.Held(); h == nil || len(h) != 0 {
		t.Fatalf("held %#v, want an empty list", h)
	}
	s.Hold("create")
	s.Hold("create")
	s.Hold("refund")
	a := arrive(s, "create", "a")
	waitHeld(t, s, "create", 1)
	b := arrive(s, "create", "b")
	waitHeld(t, s, "create", 2)
	c := arrive(s, "refund", "c")
	held := waitHeld(t, s, "", 3)
	if held[0] != (view{1, "create", "a"}) || held[1] != (view{2, "create", "b"}) || held[2] != (view{3, "refund", "c"}) {
		t.Fatalf("held %+v", held)
	}
	// The holds are used up: the next create goes through.
	if !answer(t, arrive(s, "create", "d")) {
		t.Fatal("a fourth create was held")
	}
	still(t, a)
	if s.Release("create", "c", true) || s.Release("refund", "a", true) || s.ReleaseID(99, true) {
		t.Fatal("released a request that is not held")
	}
	if !s.Release("create", "b", true) || !answer(t, b) {
		t.Fatal("b, released to take effect, did not")
	}
	if !s.ReleaseID(1, false) || answer(t, a) {
		t.Fatal("a, dropped, took effect")
	}
	if !s.Release("refund", "", true) || !answer(t, c) {
		t.Fatal("the oldest refund, released, did not take effect")
	}
	if s.Release("create", "", true) {
		t.Fatal("released a request twice")
	}
	if h := s.Held(); len(h) != 0 {
		t.Fatalf("held after all were let go: %+v", h)
	}
}

func TestReleaseOldestFirst(t *testing.T) {
	s := newSet(Config[view]{})
	defer s.Close()
	var chans []<-chan bool
	for i := range 3 {
		s.Hold("create")
		chans = append(chans, arrive(s, "create", "same"))
		waitHeld(t, s, "create", i+1)
	}
	for i := range 3 {
		if !s.Release("create", "same", i != 1) {
			t.Fatalf("release %d", i)
		}
		if got := answer(t, chans[i]); got != (i != 1) {
			t.Fatalf("request %d got %v", i, got)
		}
	}
}

func TestWaitHeld(t *testing.T) {
	s := newSet(Config[view]{Noun: "creates"})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	held, err := s.WaitHeld(ctx, "refund", 2)
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "simtest: 0 refund creates held, not 2: context deadline exceeded" || held == nil || len(held) != 0 {
		t.Fatalf("%v %#v", err, held)
	}
	if held, err := s.WaitHeld(context.Background(), "create", 0); err != nil || len(held) != 0 {
		t.Fatalf("waiting for none: %v %v", held, err)
	}
	// Waiters wake when a request is held, and count by op.
	s.Hold("create")
	s.Hold("refund")
	woke := make(chan []view, 1)
	go func() { woke <- waitHeld(t, s, "refund", 1) }()
	arrive(s, "create", "x")
	waitHeld(t, s, "create", 1)
	select {
	case h := <-woke:
		t.Fatalf("a waiter for a refund woke for a create: %+v", h)
	case <-time.After(20 * time.Millisecond):
	}
	arrive(s, "refund", "y")
	select {
	case h := <-woke:
		if len(h) != 2 || h[1].Key != "y" {
			t.Fatalf("woke with %+v", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never woke")
	}
}

// A request held past the limit, or when the simulator closes (Done or
// Close), is dropped and leaves the list; so is one held after.
func TestDroppedByLimitDoneAndClose(t *testing.T) {
	t.Run("limit", func(t *testing.T) {
		s := newSet(Config[view]{Limit: 30 * time.Millisecond})
		defer s.Close()
		s.Hold("create")
		if answer(t, arrive(s, "create", "a")) {
			t.Fatal("took effect after the limit")
		}
		if h := s.Held(); len(h) != 0 {
			t.Fatalf("still held: %+v", h)
		}
	})
	t.Run("done", func(t *testing.T) {
		done := make(chan struct{})
		s := newSet(Config[view]{Done: done})
		s.Hold("create")
		a := arrive(s, "create", "a")
		waitHeld(t, s, "create", 1)
		close(done)
		if answer(t, a) {
			t.Fatal("took effect after the simulator closed")
		}
		if h := s.Held(); len(h) != 0 {
			t.Fatalf("still held: %+v", h)
		}
	})
	t.Run("close", func(t *testing.T) {
		s := newSet(Config[view]{})
		s.Hold("create")
		s.Hold("create")
		a := arrive(s, "create", "a")
		waitHeld(t, s, "create", 1)
		s.Close()
		s.Close()
		if answer(t, a) || answer(t, arrive(s, "create", "b")) {
			t.Fatal("took effect after the simulator closed")
		}
		if h := s.Held(); len(h) != 0 {
			t.Fatalf("still held: %+v", h)
		}
	})
}

// A release that races the limit is either reported and obeyed, or not
// reported and the request dropped: never reported and then ignored.
func TestReleaseRacesLimit(t *testing.T) {
	s := newSet(Config[view]{Limit: time.Millisecond})
	defer s.Close()
	for i := range 200 {
		s.Hold("create")
		a := arrive(s, "create", "k")
		dropped := false
		for !dropped && len(s.Held()) == 0 {
			select {
			case got := <-a: // held and dropped by the limit before this loop saw it
				if got {
					t.Fatalf("%d: took effect without a release", i)
				}
				dropped = true
			default:
				runtime.Gosched()
			}
		}
		if dropped {
			continue
		}
		released := s.Release("create", "", true)
		if got := answer(t, a); got != released {
			t.Fatalf("%d: release reported %v, the request got %v", i, released, got)
		}
	}
}

// Every held request's goroutine ends when the set closes.
func TestNoLeakOnClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s := newSet(Config[view]{Limit: time.Hour})
	var wg sync.WaitGroup
	for range 20 {
		s.Hold("refund")
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Arrive("refund", "")
		}()
	}
	waitHeld(t, s, "refund", 20)
	s.Close()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrent(t *testing.T) {
	s := newSet(Config[view]{Limit: time.Minute})
	defer s.Close()
	const n = 50
	var wg sync.WaitGroup
	got := make(chan bool, n)
	for i := range n {
		s.Hold("create")
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- s.Arrive("create", strings.Repeat("k", i%3))
		}()
	}
	waitHeld(t, s, "create", n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !s.Release("create", "", i%2 == 0) {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	close(got)
	k := 0
	for v := range got {
		if v {
			k++
		}
	}
	if k != n/2 || len(s.Held()) != 0 {
		t.Fatalf("%d of %d took effect, %d still held; want %d, 0", k, n, len(s.Held()), n/2)
	}
}
