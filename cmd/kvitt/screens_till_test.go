package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests of the till (/till/{id}) and the customer display
// (/display/{till}) against a real "kvitt serve" sandbox: every payment
// method the sandbox has, a return, a copy, X and Z reports, a cashier kept
// out of another till and the back office, and a bad entry. Each asserts
// what the screen shows and what the API then holds.

// openTill signs the demo user (an admin) in and opens the till.
func openTill(t *testing.T, till string) (context.Context, *Main, string, *shots) {
	t.Helper()
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	signInAs(t, ctx, base, "demo", demoPassword(t, m), "/till/"+till, sh)
	waitTill(t, ctx)
	sh.take(ctx, "till")
	return ctx, m, base, sh
}

func waitTill(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"]`)))
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// js evaluates an expression in the page.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition to be true.
func until(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// scan adds articles by typing their numbers into the search field, as a
// barcode scanner does (each ends with Enter).
func scan(t *testing.T, ctx context.Context, numbers ...string) {
	t.Helper()
	for _, n := range numbers {
		do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#search`), n+"\r"))
	}
}

// payWith clicks the method's button and pays the amount shown with Enter.
func payWith(t *testing.T, ctx context.Context, sh *shots, method string) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pay-`+method)), chromedp.WaitVisible(chromedp.CSS(`#pay-start`)))
	sh.take(ctx, "pay "+method)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#pay-amount`), "\r"))
}

// receiptShown waits for the receipt dialog and returns the receipt's id and text.
func receiptShown(t *testing.T, ctx context.Context, sh *shots, name string) (string, string) {
	t.Helper()
	until(t, ctx, `document.getElementById("receipt-dialog").open && !!document.getElementById("receipt-text").dataset.receipt`)
	sh.take(ctx, name)
	id := js[string](t, ctx, `document.getElementById("receipt-text").dataset.receipt`)
	return id, js[string](t, ctx, `document.getElementById("receipt-text").textContent`)
}

// see is text with no-break spaces (kvitt.money's) as plain spaces.
func see(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.ReplaceAll(text(t, ctx, sel), "\u00a0", " ")
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func firstTender(rc map[string]any) map[string]any {
	ts, _ := rc["tenders"].([]any)
	if len(ts) == 0 {
		return map[string]any{}
	}
	return ts[0].(map[string]any)
}

func getText(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer ui-test-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

// TestTillSwishSaleWithCustomerDisplay: a basket of three articles paid
// with Swish; the QR shows in the payment dialog and, in a second tab, on
// the customer display opened with a display key; the customer approves;
// the sale completes, the receipt prints, and the display says paid.
func TestTillSwishSaleWithCustomerDisplay(t *testing.T) {
	ctx, _, base, sh := openTill(t, "1")
	key := call(t, "POST", base+"/v1/api-keys", `{"scope":"display","till_id":"1","name":"Kunddisplay 1"}`)["key"].(string)

	dctx, cancel := chromedp.NewContext(ctx)
	defer cancel()
	do(t, dctx, chromedp.Navigate(base+"/display/1#key="+key), chromedp.WaitVisible(chromedp.CSS(`#cd-welcome-text`)))
	until(t, dctx, `!!document.body.dataset.updated`)
	if loc := js[string](t, dctx, `location.href`); strings.Contains(loc, key) {
		t.Errorf("the display key stays in the address bar: %s", loc)
	}
	sh.take(dctx, "display idle")

	scan(t, ctx, "101", "101", "102") // 2 × Kaffe 34,50 + Kanelbulle 25,25
	if got := see(t, ctx, `#total`); got != "94,25 kr" {
		t.Fatalf("total %q, want 94,25 kr", got)
	}
	if got := js[int](t, ctx, `document.querySelectorAll("#basket-lines tr").length`); got != 2 {
		t.Fatalf("%d basket lines, want 2 (Kaffe × 2, Kanelbulle)", got)
	}
	if got := js[string](t, ctx, `document.getElementById("q0").value`); got != "2" {
		t.Errorf("Kaffe quantity %q, want 2", got)
	}
	sh.take(ctx, "basket")
	payWith(t, ctx, sh, "swish")
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#pay-qr`)))
	until(t, ctx, `document.getElementById("pay-qr").complete && document.getElementById("pay-qr").naturalWidth > 0`)
	if st := js[string](t, ctx, `document.getElementById("pay-state").className`); !strings.Contains(st, "state-pending") {
		t.Errorf("payment dialog state %q, want pending", st)
	}
	sh.take(ctx, "swish qr")

	until(t, dctx, `!document.getElementById("cd-qr").hidden && document.getElementById("cd-qr").naturalWidth > 0`)
	if got := see(t, dctx, `#cd-amount`); got != "94,25 kr" {
		t.Errorf("display amount %q, want 94,25 kr", got)
	}
	if got := js[int](t, dctx, `document.querySelectorAll("#cd-lines tbody tr").length`); got != 2 {
		t.Errorf("display shows %d lines, want 2", got)
	}
	sh.take(dctx, "display qr")

	js[bool](t, ctx, `window.__printed = 0; window.print = function () { window.__printed++; }; true`)
	do(t, ctx, chromedp.Click(chromedp.CSS(`#sb-approve`)))
	id, txt := receiptShown(t, ctx, sh, "receipt")
	if !strings.Contains(txt, "Swish") || !strings.Contains(txt, "94,25") {
		t.Errorf("receipt text lacks Swish or 94,25:\n%s", txt)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#receipt-print`)))
	if n := js[int](t, ctx, `window.__printed`); n != 1 {
		t.Errorf("print called %d times", n)
	}
	rc := call(t, "GET", base+"/v1/receipts/"+id, "")
	if num(rc["total"]) != 9425 || firstTender(rc)["method"] != "swish" || rc["registration"] != "registered" {
		t.Errorf("receipt: total %v, tender %v, registration %v", rc["total"], firstTender(rc)["method"], rc["registration"])
	}
	pay := call(t, "GET", base+"/v1/payments/"+firstTender(rc)["payment_id"].(string), "")
	if pay["state"] != "paid" || num(pay["amount"]) != 9425 {
		t.Errorf("payment %v %v", pay["state"], pay["amount"])
	}

	until(t, dctx, `document.getElementById("cd-status").classList.contains("paid")`)
	if !js[bool](t, dctx, `document.getElementById("cd-qr").hidden`) {
		t.Error("the display still shows the QR code after the payment")
	}
	sh.take(dctx, "display paid")

	// Closing the receipt starts a new sale with the search field focused.
	do(t, ctx, chromedp.Click(chromedp.CSS(`#receipt-close`)))
	until(t, ctx, `document.activeElement.id === "search" && document.querySelectorAll("#basket-lines tr").length === 0`)
}

// TestTillCardWithTip: a card payment; the customer adds a tip on the
// (sandbox) terminal; the receipt and the payment carry it.
func TestTillCardWithTip(t *testing.T) {
	ctx, _, base, sh := openTill(t, "1")
	scan(t, ctx, "104") // Smörgås 65,00
	payWith(t, ctx, sh, "card")
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#sb-tip`)))
	if st := js[string](t, ctx, `document.getElementById("pay-state").className`); !strings.Contains(st, "state-pending") {
		t.Errorf("state %q, want pending (the terminal waits for the card)", st)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#sb-tip`), "10"))
	sh.take(ctx, "terminal waits")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#sb-approve`)))
	id, txt := receiptShown(t, ctx, sh, "receipt with tip")
	if !strings.Contains(txt, "75,00") {
		t.Errorf("receipt lacks the charged total 75,00:\n%s", txt)
	}
	rc := call(t, "GET", base+"/v1/receipts/"+id, "")
	if num(rc["total"]) != 6500 || num(rc["tip"]) != 1000 || num(rc["total_charged"]) != 7500 || firstTender(rc)["method"] != "card" {
		t.Errorf("receipt total %v tip %v charged %v method %v", rc["total"], rc["tip"], rc["total_charged"], firstTender(rc)["method"])
	}
}

// TestTillCashWithChangeAndCopy: cash with the amount handed over; the
// dialog shows the change before paying; the receipt says it; one copy.
func TestTillCashWithChangeAndCopy(t *testing.T) {
	ctx, _, base, sh := openTill(t, "1")
	scan(t, ctx, "102") // Kanelbulle 25,25, rounded to 25,00 in cash
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pay-cash`)), chromedp.WaitVisible(chromedp.CSS(`#pay-tendered`)),
		chromedp.SendKeys(chromedp.CSS(`#pay-tendered`), "50"))
	if got := see(t, ctx, `#pay-change`); !strings.Contains(got, "25,00 kr") {
		t.Errorf("change shown %q, want 25,00 kr", got)
	}
	sh.take(ctx, "cash tendered")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#pay-tendered`), "\r"))
	id, _ := receiptShown(t, ctx, sh, "cash receipt")
	if got := see(t, ctx, `#receipt-note`); !strings.Contains(got, "25,00 kr") {
		t.Errorf("receipt note %q lacks the change", got)
	}
	p := call(t, "GET", base+"/v1/payments/"+firstTender(call(t, "GET", base+"/v1/receipts/"+id, ""))["payment_id"].(string), "")
	if num(p["change"]) != 2500 || num(p["rounding"]) != -25 || num(p["tendered"]) != 5000 {
		t.Errorf("payment change %v rounding %v tendered %v", p["change"], p["rounding"], p["tendered"])
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#receipt-copy`)))
	until(t, ctx, `document.getElementById("receipt-text").dataset.receipt !== "`+id+`" && document.getElementById("receipt-text").textContent.indexOf("K O P I A") >= 0`)
	sh.take(ctx, "copy")
	cp := call(t, "GET", base+"/v1/receipts/"+js[string](t, ctx, `document.getElementById("receipt-text").dataset.receipt`), "")
	if cp["type"] != "copy" || cp["copy_of"] != id {
		t.Errorf("the copy is %v of %v, want a copy of %s", cp["type"], cp["copy_of"], id)
	}
	if !js[bool](t, ctx, `document.getElementById("receipt-copy").disabled`) {
		t.Error("a copy of a copy is offered")
	}
}

// TestTillReturnAndReports: a sale, then the return of one of its lines
// from the recent receipts, the return receipt, an X and a Z report.
func TestTillReturnAndReports(t *testing.T) {
	ctx, _, base, sh := openTill(t, "1")
	scan(t, ctx, "101", "301") // Kaffe 34,50 + Mugg 129,00
	payWith(t, ctx, sh, "cash")
	saleReceipt, _ := receiptShown(t, ctx, sh, "sale receipt")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#receipt-close`)), chromedp.Click(chromedp.CSS(`#open-return`)),
		chromedp.WaitVisible(chromedp.CSS(`#return-recent button`)))
	sh.take(ctx, "return: receipts")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#return-recent button`)), chromedp.WaitVisible(chromedp.CSS(`#ret-q1`)))
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`#ret-q1`), "1"))
	sh.take(ctx, "return: lines")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#return-submit`)))
	id, txt := receiptShown(t, ctx, sh, "return receipt")
	if id == saleReceipt || !strings.Contains(txt, "129,00") {
		t.Errorf("return receipt %s:\n%s", id, txt)
	}
	rc := call(t, "GET", base+"/v1/receipts/"+id, "")
	lines, _ := rc["lines"].([]any)
	if rc["kind"] != "return" || num(rc["total"]) != 12900 || len(lines) != 1 {
		t.Errorf("return receipt kind %v total %v lines %d", rc["kind"], rc["total"], len(lines))
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#receipt-close`)), chromedp.Click(chromedp.CSS(`#open-x`)))
	until(t, ctx, `document.getElementById("report-text").textContent.length > 0`)
	sh.take(ctx, "x report")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#report-close`)), chromedp.Click(chromedp.CSS(`#open-z`)), chromedp.WaitVisible(chromedp.CSS(`#report-go`)))
	sh.take(ctx, "z confirm")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#report-go`)))
	until(t, ctx, `document.getElementById("report-text").textContent.length > 0`)
	sh.take(ctx, "z report")
	z := call(t, "GET", base+"/v1/tills/1/reports/z/1", "")
	sales, _ := z["sales"].(map[string]any)
	returns, _ := z["returns"].(map[string]any)
	if z["kind"] != "Z" || num(sales["amount"]) != 16350 || num(returns["amount"]) != 12900 {
		t.Errorf("Z report: kind %v sales %v returns %v", z["kind"], sales, returns)
	}
}

// TestTillManualSwish: manual Swish (seed 000) needs the cashier's
// confirmation; it is receipted and reported under its own name.
func TestTillManualSwish(t *testing.T) {
	ctx, _, base, sh := openTill(t, "1")
	scan(t, ctx, "105") // Glass 45,00
	payWith(t, ctx, sh, "swish_manual")
	// Without the confirmation: refused next to the checkbox, nothing paid.
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#pay-confirmed-error`)))
	sh.take(ctx, "manual swish unconfirmed")
	if js[bool](t, ctx, `document.getElementById("pay-progress").hidden === false`) {
		t.Fatal("an unconfirmed manual Swish payment was sent")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pay-confirmed`)), chromedp.SendKeys(chromedp.CSS(`#pay-amount`), "\r"))
	id, txt := receiptShown(t, ctx, sh, "manual swish receipt")
	if !strings.Contains(txt, "Swish (manuell)") {
		t.Errorf("receipt does not name manual Swish:\n%s", txt)
	}
	rc := call(t, "GET", base+"/v1/receipts/"+id, "")
	if firstTender(rc)["method"] != "swish_manual" || num(rc["total"]) != 4500 {
		t.Errorf("tender %v total %v", firstTender(rc)["method"], rc["total"])
	}
	p := call(t, "GET", base+"/v1/payments/"+firstTender(rc)["payment_id"].(string), "")
	prov, _ := p["provider"].(map[string]any)
	if p["state"] != "paid" || prov["confirmed"] != "true" || prov["confirmed_by"] != "user demo" {
		t.Errorf("payment %v, provider %v", p["state"], prov)
	}
	if x := getText(t, base+"/v1/tills/1/reports/x?format=text"); !strings.Contains(x, "Swish (manuell) (1)") {
		t.Errorf("X report does not list manual Swish apart:\n%s", x)
	}
}

// TestTillMobilePay: the Danish sandbox till dk-1, paired with a MobilePay
// QR: the whole amount only; the customer scans the till's QR and approves.
func TestTillMobilePay(t *testing.T) {
	ctx, _, base, sh := openTill(t, sandboxDKTill)
	scan(t, ctx, "101") // Kaffe 35,00 kr.
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pay-mobilepay`)), chromedp.WaitVisible(chromedp.CSS(`#pay-start`)))
	if !js[bool](t, ctx, `document.getElementById("pay-amount").readOnly`) {
		t.Error("MobilePay takes the whole amount: the amount should not be editable")
	}
	sh.take(ctx, "mobilepay")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#pay-amount`), "\r"), chromedp.WaitVisible(chromedp.CSS(`#sb-approve`)))
	sh.take(ctx, "mobilepay waits")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#sb-approve`)))
	id, txt := receiptShown(t, ctx, sh, "mobilepay receipt")
	if !strings.Contains(txt, "MobilePay") {
		t.Errorf("receipt lacks MobilePay:\n%s", txt)
	}
	rc := call(t, "GET", base+"/v1/receipts/"+id, "")
	if firstTender(rc)["method"] != "mobilepay" || num(rc["total"]) != 3500 || rc["currency"] != "DKK" {
		t.Errorf("tender %v total %v currency %v", firstTender(rc)["method"], rc["total"], rc["currency"])
	}
}

// TestTillCashierAndBadEntry: a cashier of till 1 works there, is kept out
// of another till and the back office, and a discount of 150 % is refused
// next to its field.
func TestTillCashierAndBadEntry(t *testing.T) {
	ctx := browser(t)
	_, base := startServe(t)
	sh := newShots(t)
	call(t, "POST", base+"/v1/users", `{"username":"kassor","name":"Kim Kassör","role":"cashier","tills":["1"],"password":"kassa-lösen-123"}`)
	signInAs(t, ctx, base, "kassor", "kassa-lösen-123", "/till/1", sh)
	waitTill(t, ctx)
	sh.take(ctx, "cashier till")
	scan(t, ctx, "101")
	js[bool](t, ctx, `document.getElementById("d0").value = ""; true`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#d0`), "150\t"), chromedp.WaitVisible(chromedp.CSS(`#d0-error`)))
	sh.take(ctx, "discount 150")
	if js[string](t, ctx, `document.getElementById("d0").getAttribute("aria-invalid")`) != "true" {
		t.Error("the discount field is not marked invalid")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pay-cash`)))
	if js[bool](t, ctx, `document.getElementById("pay-dialog").open`) {
		t.Error("the payment dialog opened with a bad discount in the basket")
	}
	// 15 % is taken: 34,50 − 5,18 = 29,32.
	js[bool](t, ctx, `document.getElementById("d0").value = ""; true`)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`#d0`), "15\t"))
	until(t, ctx, `!document.getElementById("d0-error") && document.getElementById("total").textContent.replace(/\u00a0/g, " ") === "29,32 kr"`)

	// A tablet (768 px) and a phone (390 px): nothing wider than the screen.
	for _, w := range []int64{768, 390} {
		do(t, ctx, chromedp.EmulateViewport(w, 1000))
		until(t, ctx, fmt.Sprintf(`innerWidth === %d`, w))
		sh.take(ctx, fmt.Sprintf("till %d px", w))
		if over := js[bool](t, ctx, `document.documentElement.scrollWidth > innerWidth`); over {
			t.Errorf("at %d px the till is %d px wide: %s", w, js[int](t, ctx, `document.documentElement.scrollWidth`),
				js[string](t, ctx, `Array.from(document.querySelectorAll("body *")).filter(n => n.getBoundingClientRect().right > innerWidth + 1).map(n => n.tagName + "#" + n.id + "." + n.className).slice(0, 8).join(" ")`))
		}
	}
	do(t, ctx, chromedp.EmulateReset())

	for _, path := range []string{"/till/" + sandboxDKTill, "/admin/"} {
		do(t, ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(`main.narrow h1`)))
		sh.take(ctx, "denied "+strings.Trim(path, "/"))
		if got := js[bool](t, ctx, `!!document.getElementById("grid")`); got {
			t.Errorf("%s shows the till to a cashier of till 1", path)
		}
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q).then(r => r.status)`, "/v1/tills/"+sandboxDKTill), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if status != 404 {
			t.Errorf("the cashier's session reads till %s: %d", sandboxDKTill, status)
		}
	}
}
