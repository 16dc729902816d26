package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// served is a running "kvitt serve" binary in sandbox mode (the real
// cmd/kvitt Main: package main cannot be imported, so it is built and run).
type served struct {
	t    *testing.T
	base string
	key  string
	log  *syncBuffer
}

const adminKey = "e2e-admin-key-0123456789abcdef"

var urlRE = regexp.MustCompile(`msg="kvitt is running" url=(http://\S+)`)

// serve builds cmd/kvitt and runs "kvitt serve --data DIR --addr 127.0.0.1:0".
func serve(t *testing.T) *served {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the kvitt binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kvitt")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kvitt")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kvitt: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "KVITT_ADMIN_KEY="+adminKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{t: t, key: adminKey, log: &syncBuffer{}}
	found := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.log.Write([]byte(line + "\n"))
			if m := urlRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { wg.Wait(); done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kvitt serve exited: %v", err)
			}
		case <-time.After(waitLimit):
			cmd.Process.Kill()
			t.Errorf("kvitt serve did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("kvitt serve log:\n%s", s.log.String())
		}
	})
	select {
	case s.base = <-found:
	case <-time.After(waitLimit):
		t.Fatalf("kvitt serve did not start:\n%s", s.log.String())
	}
	eventually(t, "healthz", func() string {
		resp, err := http.Get(s.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return ""
	})
	return s
}

// do sends a request with the admin key and decodes a JSON answer into out
// (if not nil); it returns the status and the raw body.
func (s *served) do(method, path string, body any, out any) (int, string) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (s *served) must(method, path string, body any, out any) {
	s.t.Helper()
	if code, b := s.do(method, path, body, out); code >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
}

type apiPayment struct {
	ID        string            `json:"id"`
	State     string            `json:"state"`
	Amount    int64             `json:"amount"`
	Tip       int64             `json:"tip"`
	Reference string            `json:"reference"`
	Provider  map[string]string `json:"provider"`
	Action    *struct {
		Type   string `json:"type"`
		QRData string `json:"qr_data"`
	} `json:"action"`
	Card *struct {
		MaskedPAN string `json:"masked_pan"`
	} `json:"card"`
}

type apiReceipt struct {
	ID           string `json:"id"`
	Serial       int64  `json:"serial"`
	Total        int64  `json:"total"`
	Tip          int64  `json:"tip"`
	Registration string `json:"registration"`
	ControlCode  string `json:"control_code"`
}

// walkthrough: a sale of price on till 1, paid by method, approved through
// the sandbox endpoint (with tip), completed; returns the payment, the
// receipt and its text.
func (s *served) walkthrough(method string, price, tip int64) (apiPayment, apiReceipt, string) {
	s.t.Helper()
	var sale struct {
		ID    string `json:"id"`
		Total int64  `json:"total"`
	}
	s.must("POST", "/v1/sales", map[string]any{"till_id": "1", "currency": "SEK",
		"lines": []map[string]any{{"name": "Kaffe", "quantity": 1, "unit_price": price, "vat_rate": 25}}}, &sale)
	if sale.Total != price {
		s.t.Fatalf("sale total %d, want %d", sale.Total, price)
	}
	var p apiPayment
	s.must("POST", "/v1/sales/"+sale.ID+"/payments", map[string]any{"method": method, "amount": price}, &p)
	if p.State != "pending" || p.Action == nil {
		s.t.Fatalf("%s payment: %+v, want pending with an action", method, p)
	}
	var body any
	if tip > 0 {
		body = map[string]any{"tip": tip}
	}
	s.must("POST", "/v1/sandbox/payments/"+p.ID+"/approve", body, nil)
	eventually(s.t, method+" payment paid", func() string {
		var cur apiPayment // fresh: fields the answer omits must not linger
		s.must("GET", "/v1/payments/"+p.ID, nil, &cur)
		if cur.State != "paid" {
			return cur.State
		}
		p = cur
		return ""
	})
	var rc apiReceipt
	s.must("POST", "/v1/sales/"+sale.ID+"/complete", nil, &rc)
	code, text := s.do("GET", "/v1/receipts/"+rc.ID+"?format=text", nil, nil)
	if code != http.StatusOK {
		s.t.Fatalf("receipt text: %d %s", code, text)
	}
	return p, rc, text
}

// TestServeSandboxSwish: kvitt serve in sandbox mode, a Swish payment
// through the HTTP API: QR, approved by the sandbox customer, receipt
// registered with the sandbox control unit. A forged callback is a 401.
func TestServeSandboxSwish(t *testing.T) {
	s := serve(t)
	p, rc, text := s.walkthrough("swish", 12500, 0)
	if p.Provider["payment_reference"] == "" || p.Action != nil {
		t.Errorf("paid swish payment %+v, want its Swish payment reference and no action left", p)
	}
	if rc.Serial != 1 || rc.Total != 12500 || rc.Registration != "registered" || rc.ControlCode == "" {
		t.Errorf("receipt %+v, want serial 1 of 12500 registered with a code", rc)
	}
	if !strings.Contains(text, "Swish") || !strings.Contains(text, "125,00") {
		t.Errorf("receipt text:\n%s", text)
	}
	code, body := s.do("POST", "/v1/callbacks/swish/"+p.Reference+"-AAAAAAAAAAAAAAAAAAAAAAAAAA", map[string]any{"id": p.Reference, "status": "PAID"}, nil)
	if code != http.StatusUnauthorized {
		t.Errorf("forged callback: %d %s, want 401", code, body)
	}
}

// TestServeSandboxCard: kvitt serve in sandbox mode, a card payment with a
// tip through the HTTP API; the receipt shows the card and the tip.
func TestServeSandboxCard(t *testing.T) {
	s := serve(t)
	p, rc, text := s.walkthrough("card", 20000, 2500)
	if p.Tip != 2500 || p.Card == nil || p.Card.MaskedPAN == "" {
		t.Errorf("card payment %+v, want tip 2500 and card data", p)
	}
	if rc.Serial != 1 || rc.Total != 20000 || rc.Tip != 2500 || rc.Registration != "registered" {
		t.Errorf("receipt %+v, want serial 1 of 20000 with tip 2500, registered", rc)
	}
	for _, w := range []string{"Kort", "Dricks", "225,00", "25,00", fmt.Sprint(p.Card.MaskedPAN)} {
		if !strings.Contains(text, w) {
			t.Errorf("receipt text lacks %q:\n%s", w, text)
		}
	}
}
