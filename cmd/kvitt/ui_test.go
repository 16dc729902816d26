package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startServe runs the real "kvitt serve" in sandbox mode on a free port.
func startServe(t *testing.T) (*Main, string) {
	t.Helper()
	getenv := func(k string) string {
		if k == "KVITT_ADMIN_KEY" {
			return "ui-test-key"
		}
		return ""
	}
	m := NewMain(getenv, io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, "http://" + m.Addr
}

func call(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ui-test-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	var out map[string]any
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
	return out
}

// browser starts headless Chromium. Browser tests run wherever Chromium is
// installed (make test installs it); in CI a missing browser is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; make test installs it")
		}
		t.Skip("chromium is not installed (make test installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(900, 1100),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestCustomerDisplayShowsQRThenPaid drives the customer display in a real
// browser: the QR code of a pending Swish payment appears with the amount,
// and after the customer approves, the display says it is paid.
func TestCustomerDisplayShowsQRThenPaid(t *testing.T) {
	ctx := browser(t)
	_, base := startServe(t)
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Glass","quantity":2,"unit_price":4500,"vat_rate":12},{"name":"Kaffe","quantity":1,"unit_price":3450,"vat_rate":12}]}`)
	pay := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"swish","amount":12450}`)

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/display/1#key=ui-test-key"),
		chromedp.WaitVisible(chromedp.CSS(`#qr svg`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	amount, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#amount`)))
	if err != nil {
		t.Fatal(err)
	}
	message, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#message`)))
	if err != nil {
		t.Fatal(err)
	}
	if amount != "124,50 kr" || !strings.Contains(message, "Swish") {
		t.Errorf("display shows amount %q, message %q", amount, message)
	}

	call(t, "POST", base+"/v1/sandbox/payments/"+pay["id"].(string)+"/approve", "")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.status.paid`))); err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatal(err)
	}
	if status != "Betalningen är klar" {
		t.Errorf("after approval the display says %q", status)
	}
	qrHidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("qr").hidden`))
	if err != nil {
		t.Fatal(err)
	}
	if !qrHidden {
		t.Error("the QR code is still shown after the payment was paid")
	}
}

// TestCashierDisplayCancels: the cashier display's cancel button aborts the
// pending payment through the API.
func TestCashierDisplayCancels(t *testing.T) {
	ctx := browser(t)
	_, base := startServe(t)
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Bulle","quantity":1,"unit_price":2500,"vat_rate":12}]}`)
	pay := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"swish","amount":2500}`)
	id := pay["id"].(string)
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/cashier/1#key=ui-test-key"),
		chromedp.WaitVisible(chromedp.CSS(`#cancel`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	shownID, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#payment-id`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#cancel`)), chromedp.WaitVisible(chromedp.CSS(`.status.failed`))); err != nil {
		t.Fatal(err)
	}
	if shownID != id {
		t.Errorf("cashier display shows payment %q, want %q", shownID, id)
	}
	if got := call(t, "GET", base+"/v1/payments/"+id, "")["state"]; got != "cancelled" {
		t.Errorf("payment is %v after the cashier cancelled it", got)
	}
}

// newRequest sends an authenticated request and returns the status.
func newRequest(method, url, key string) (int, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
