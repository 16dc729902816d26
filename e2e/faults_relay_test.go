package e2e

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultRelay is a plain TCP relay (no TLS termination), like faultProxy
// (e2e/faults_test.go), with the faults the Svea and card matrices need
// beyond it:
//   - an answer delivered late but delivered, decided per chunk by the
//     test (a callback, or another question, overtakes it);
//   - new connections refused while the ones open carry on (refuse), and
//     every open connection broken at once (cut): the link drops.
type faultRelay struct {
	t        *testing.T
	addr     string
	upstream atomic.Pointer[string]
	answer   atomic.Pointer[relayHook] // asked about each chunk from the provider to kvitt

	mu    sync.Mutex
	ln    net.Listener
	pairs map[*relayPair]struct{}
	wg    sync.WaitGroup
}

// relayHook is asked before a chunk of the provider's answer is relayed;
// the chunk waits for as long as it says (or for as long as it blocks).
type relayHook func() time.Duration

type relayPair struct{ client, server net.Conn }

func newFaultRelay(t *testing.T, upstream string) *faultRelay {
	t.Helper()
	r := &faultRelay{t: t, pairs: map[*relayPair]struct{}{}}
	r.upstream.Store(&upstream)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(func() { r.refuse(); r.cut(); r.wg.Wait() })
	return r
}

// onAnswer sets the answer hook (nil: relay everything at once).
func (r *faultRelay) onAnswer(h relayHook) { r.answer.Store(&h) }

// delayOnce is a hook that delays the first chunk for which cond holds by
// d (and so the rest of its connection), and relays every other at once.
func delayOnce(cond func() bool, d time.Duration) relayHook {
	var fired atomic.Bool
	return func() time.Duration {
		if cond() && fired.CompareAndSwap(false, true) {
			return d
		}
		return 0
	}
}

func (r *faultRelay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.relay(c) }()
		}
	}()
}

// refuse stops listening: new connections are refused, open ones go on.
func (r *faultRelay) refuse() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
}

// cut breaks every open connection: kvitt gets a reset, the provider sees
// its client go away.
func (r *faultRelay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.pairs {
		if tc, ok := p.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		p.client.Close()
		p.server.Close()
	}
}

// up listens again on the same address.
func (r *faultRelay) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay back up on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *faultRelay) relay(client net.Conn) {
	server, err := net.DialTimeout("tcp", *r.upstream.Load(), 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p := &relayPair{client: client, server: server}
	r.mu.Lock()
	r.pairs[p] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pairs, p)
		r.mu.Unlock()
		client.Close()
		server.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { r.pipe(client, server, &r.answer); done <- struct{}{} }()
	go func() { r.pipe(server, client, nil); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// pipe copies src to dst, asking hook (if any) about each chunk.
func (r *faultRelay) pipe(dst, src net.Conn, hook *atomic.Pointer[relayHook]) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if hook != nil {
				if h := hook.Load(); h != nil && *h != nil {
					if d := (*h)(); d > 0 {
						time.Sleep(d)
					}
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			return
		}
	}
}
