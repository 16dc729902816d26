package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests of the back office (/admin/, docs/backoffice.md): each
// signs in as the sandbox's demo admin and works the screens as a person
// would, checking the result through the API as well, with a screenshot
// of every screen it passes.

// waitJS polls a JavaScript condition on the page until it is true.
// A page that navigates meanwhile (a sign-in, a form that leads on) ends
// a poll: it is polled again on the new page.
func adminWait(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("adm-error")||{}).textContent + " | " + (document.querySelector("main")||document.body).innerText.slice(0, 1500)`))
		t.Fatalf("waiting for %s (%s): %v\npage: %s", what, cond, err, html)
	}
}

func adminDo(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// adminSignIn signs the demo admin in and opens the back office's section.
func adminSignIn(t *testing.T, ctx context.Context, m *Main, base, path, section string, sh *shots) {
	t.Helper()
	signInAs(t, ctx, base, "demo", demoPassword(t, m), "/admin/"+path, sh)
	adminWait(t, ctx, "the back office", `document.getElementById("admin") !== null && document.getElementById("admin").dataset.section === "`+section+`"`)
}

// TestAdminPaymentsReportsTills: a payment made through the API is in the
// payments list and its search finds it alone, with its receipt; every
// list section shows; a Z report is made from the reports section; a till
// is paired with MobilePay by typing the beacon id and Enter, as a
// barcode scanner does.
func TestAdminPaymentsReportsTills(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	var pays []string
	for _, till := range []string{"1", "1", "dk-1"} {
		sale := call(t, "POST", base+"/v1/sales", `{"till_id":"`+till+`","lines":[{"name":"Kanelbulle","quantity":2,"unit_price":3500,"vat_rate":25}]}`)
		pay := call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"cash","amount":7000,"tendered":10000}`)
		call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/complete", "")
		pays = append(pays, pay["id"].(string))
	}
	call(t, "POST", base+"/v1/payments/"+pays[0]+"/refunds", `{"amount":1000}`)

	adminSignIn(t, ctx, m, base, "payments", "payments", sh)
	adminWait(t, ctx, "three payments, newest first", `document.querySelectorAll("#rows tr").length === 3 && document.querySelector("#rows tr").dataset.id === "`+pays[2]+`"`)
	sh.take(ctx, "payments")

	// Search by the payment's id: it alone, and the URL keeps the filter.
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#f-q`), pays[1]), chromedp.Click(chromedp.CSS(`#f-search`)))
	adminWait(t, ctx, "the payment searched for", `document.querySelectorAll("#rows tr").length === 1 && document.querySelector("#rows tr").dataset.id === "`+pays[1]+`"`)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "q="+pays[1]) {
		t.Errorf("the search is not in the URL: %s", loc)
	}
	sh.take(ctx, "payments searched")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#rows tr button`)))
	if txt := text(t, ctx, `#receipt-text`); !strings.Contains(txt, "Kanelbulle") {
		t.Errorf("the payment's receipt shows %q", txt)
	}
	sh.take(ctx, "payment receipt")

	// Filter by till: a deep link with the filter.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/payments?till=dk-1"))
	adminWait(t, ctx, "till dk-1's payment", `document.querySelectorAll("#rows tr").length === 1 && document.querySelector("#rows tr").dataset.id === "`+pays[2]+`" && document.getElementById("f-till").value === "dk-1"`)
	sh.take(ctx, "payments till dk-1")
	// A bad filter value is shown next to its field.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/receipts"))
	adminWait(t, ctx, "the receipts", `document.querySelectorAll("#rows tr").length === 4`)
	sh.take(ctx, "receipts")
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#f-serial`), "x"), chromedp.Click(chromedp.CSS(`#f-search`)))
	adminWait(t, ctx, "the serial's error next to it", `document.querySelector("#f-serial + .field-error") !== null`)
	sh.take(ctx, "receipts bad serial")
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/refunds"))
	adminWait(t, ctx, "the refund", `document.querySelectorAll("#rows tr").length === 1`)
	sh.take(ctx, "refunds")

	// A Z report of till 1, asked to confirm first.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/reports?till=1"))
	adminWait(t, ctx, "the till chosen", `document.getElementById("r-till").value === "1"`)
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#r-z`)), chromedp.WaitVisible(chromedp.CSS(`#r-z-confirm`)))
	sh.take(ctx, "z report confirm")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#r-z-confirm`)))
	if txt := text(t, ctx, `#report-text`); !strings.Contains(txt, "Z") {
		t.Errorf("the Z report shows %q", txt)
	}
	sh.take(ctx, "z report")
	z := call(t, "GET", base+"/v1/tills/1/reports/z/1", "")
	if z["kind"] != "Z" || z["receipts"] != 3.0 {
		t.Errorf("stored Z report: kind %v, receipts %v", z["kind"], z["receipts"])
	}

	// Pair the Danish till dk-2 by typing its QR's id and Enter.
	const beacon = "9b2f6c1e-3d4a-4f5b-8c7d-1e2f3a4b5c6d"
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/tills?till=dk-2"))
	adminWait(t, ctx, "dk-2 chosen", `document.getElementById("p-till").value === "dk-2"`)
	sh.take(ctx, "tills")
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#p-beacon`), beacon+"\r"))
	adminWait(t, ctx, "dk-2 paired", `(document.querySelector('#rows tr[data-id="dk-2"] code.beacon')||{}).textContent === "`+beacon+`"`)
	sh.take(ctx, "tills paired")
	if got := call(t, "GET", base+"/v1/tills/dk-2", "")["mobilepay_beacon_id"]; got != beacon {
		t.Errorf("dk-2's beacon id = %v", got)
	}
	// A beacon id of another form is refused next to the field.
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#p-beacon`), "not-a-beacon\r"))
	adminWait(t, ctx, "the beacon id's error", `document.querySelector("#p-beacon + .field-error") !== null`)
	sh.take(ctx, "tills bad beacon")
}

// TestAdminSveaOrder: an order with a bad mobile number shows the API's
// error next to that field; the corrected order waits with its link to
// copy; the sandbox customer pays; the order is paid and on the picking
// list.
func TestAdminSveaOrder(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	adminSignIn(t, ctx, m, base, "orders/new", "neworder", sh)
	adminDo(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#o-number`), "1001"),
		chromedp.SendKeys(chromedp.CSS(`#o-name`), "Anna Svensson"),
		chromedp.SendKeys(chromedp.CSS(`#o-mobile`), "123"),
		chromedp.SendKeys(chromedp.CSS(`#l0-name`), "Stol"),
		chromedp.SendKeys(chromedp.CSS(`#l0-quantity`), "2"),
		chromedp.SendKeys(chromedp.CSS(`#l0-unit_price`), "499,00"),
	)
	sh.take(ctx, "new order")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#o-submit`)))
	msg := text(t, ctx, `#o-mobile + .field-error`)
	sh.take(ctx, "new order bad mobile")
	if msg == "" {
		t.Error("no error next to the mobile number")
	}
	if inv, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("o-mobile").getAttribute("aria-invalid") || ""`)); inv != "true" {
		t.Errorf("the mobile number is not marked invalid (%q)", inv)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("o-mobile").value = "", true`)); err != nil {
		t.Fatal(err)
	}
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#o-mobile`), "070-123 45 67"), chromedp.Click(chromedp.CSS(`#o-submit`)))

	// The order list: waiting, with the link to copy.
	row := `#rows tr[data-number="1001"]`
	adminWait(t, ctx, "the order waiting", `(document.querySelector('`+row+`')||{dataset:{}}).dataset.icon === "waiting"`)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+row+` a.order-link').href`))
	if err != nil || !strings.HasPrefix(href, "http") {
		t.Fatalf("the waiting order's link: %q, %v", href, err)
	}
	label := text(t, ctx, row+` .oi-label`)
	if label == "" {
		t.Error("the status icon has no words")
	}
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(row+` button.copy-link`)))
	sh.take(ctx, "order waiting")
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/sms"))
	adminWait(t, ctx, "the SMS in the outbox", `document.querySelectorAll("#rows tr").length === 1`)
	sh.take(ctx, "sms outbox")

	// Act as the customer (sandbox): the order is paid.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/orders?q=1001"))
	adminWait(t, ctx, "the order", `document.querySelector('`+row+` button.sandbox-approve') !== null`)
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(row+` button.sandbox-approve`)))
	adminWait(t, ctx, "the order paid", `(document.querySelector('`+row+`')||{dataset:{}}).dataset.state === "paid" && document.querySelector('`+row+` code.order-ref') !== null`)
	sh.take(ctx, "order paid")

	// On the picking list.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/picking"))
	adminWait(t, ctx, "the order on the picking list", `document.querySelector('#rows tr[data-number="1001"]') !== null`)
	sh.take(ctx, "picking list")
	list := call(t, "GET", base+"/v1/picking-list", "")
	if n := len(list["orders"].([]any)); n != 1 {
		t.Errorf("picking list has %d orders", n)
	}
}

// TestAdminUsersAndKeys: the admin makes a display key (its URL shown
// once) and a cashier; the cashier, signed in in a fresh browser, is kept
// out of the back office.
func TestAdminUsersAndKeys(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	adminSignIn(t, ctx, m, base, "keys", "keys", sh)
	adminWait(t, ctx, "the tills in the key form", `document.querySelectorAll("#k-till option").length > 1`)
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#k-name`), "Kundskärm 1"), chromedp.SetValue(chromedp.CSS(`#k-scope`), "display"),
		chromedp.SetValue(chromedp.CSS(`#k-till`), "1"), chromedp.Click(chromedp.CSS(`#k-submit`)))
	adminWait(t, ctx, "the display URL", `document.getElementById("display-url").value.indexOf("/display/1#key=key_") > 0`)
	sh.take(ctx, "display key")
	url, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#display-url`)))
	key := url[strings.Index(url, "#key=")+5:]
	req, _ := http.NewRequest("GET", base+"/v1/tills/1/display", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("the display key shown does not read the display: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	adminDo(t, ctx, chromedp.Navigate(base+"/admin/users"))
	adminWait(t, ctx, "the users", `document.querySelector('#rows tr[data-username="demo"]') !== null && document.getElementById("nt-1") !== null`)
	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#u-username`), "kassa1"), chromedp.SendKeys(chromedp.CSS(`#u-name`), "Kim Kassa"),
		chromedp.SetValue(chromedp.CSS(`#u-role`), "cashier"), chromedp.Click(chromedp.CSS(`#nt-1`)),
		chromedp.SendKeys(chromedp.CSS(`#u-password`), "kassa1-password"), chromedp.Click(chromedp.CSS(`#u-submit`)))
	adminWait(t, ctx, "the cashier", `document.querySelector('#rows tr[data-username="kassa1"]') !== null`)
	sh.take(ctx, "users")
	if got := text(t, ctx, `#rows tr[data-username="kassa1"] td:nth-child(4)`); got != "1" {
		t.Errorf("the cashier's tills: %q", got)
	}

	// A fresh browser (no cookies): the cashier is kept out of /admin/.
	cctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	signInAs(t, cctx, base, "kassa1", "kassa1-password", "/admin/payments", nil)
	adminWait(t, cctx, "the page refusing the cashier", `location.pathname === "/admin/payments" && document.querySelector("main.narrow h1") !== null`)
	h1 := text(t, cctx, `main.narrow h1`)
	sh.take(cctx, "cashier kept out")
	if h1 != "Not allowed" && h1 != "Ingen behörighet" {
		t.Errorf("the cashier at /admin/ sees %q", h1)
	}
	if n, _ := chromedp.Run(cctx, chromedp.Evaluate[int](`document.querySelectorAll("#rows").length`)); n != 0 {
		t.Error("the cashier sees the payments list")
	}
}
