package ui

import (
	"net/http"
)

// The customer display (/display/{till}): the basket, the amount, the QR
// code of the current Swish or MobilePay payment and the result, live from
// GET /v1/tills/{id}/display/events. It needs no staff sign-in: it is
// opened with a display key in the URL fragment (/display/1#key=…), which
// never reaches the server in a URL; customer.js sends it in the
// Authorization header (fetch and a stream parser, since EventSource sends
// no headers). A signed-in staff user may open it without a key: the
// session's cookie is used. The page itself holds no data.

func init() {
	pageRegistry = append(pageRegistry, func(h *handler) {
		h.mux.HandleFunc("GET /display/{till}", h.customerDisplay)
	})
	words(displayWords)
}

func (h *handler) customerDisplay(w http.ResponseWriter, r *http.Request) {
	page := &Page{Title: "display.title", Till: r.PathValue("till")}
	if p, ok := h.WhoIs(r); ok {
		page.User, page.CSRF = &p, p.CSRF
	}
	h.render(w, r, "customer.html", page)
}

var displayWords = map[string][2]string{
	"display.title":        {"Kunddisplay", "Customer display"},
	"js.cd.welcome":        {"Välkommen!", "Welcome!"},
	"js.cd.total":          {"Att betala", "To pay"},
	"js.cd.due":            {"Kvar att betala: {due}", "Left to pay: {due}"},
	"js.cd.scan.swish":     {"Skanna QR-koden med Swish-appen", "Scan the QR code with the Swish app"},
	"js.cd.scan.mobilepay": {"Skanna QR-koden med MobilePay-appen", "Scan the QR code with the MobilePay app"},
	"js.cd.scan.till":      {"Skanna kassans MobilePay-kod med appen", "Scan the till's MobilePay code with the app"},
	"js.cd.app":            {"Godkänn betalningen i appen på din telefon", "Approve the payment in the app on your phone"},
	"js.cd.terminal":       {"Följ instruktionerna på kortterminalen", "Follow the instructions on the card terminal"},
	"js.cd.waiting":        {"Väntar på betalningen…", "Waiting for the payment…"},
	"js.cd.paid":           {"Betalningen är klar", "The payment is done"},
	"js.cd.thanks":         {"Tack för ditt köp!", "Thank you for your purchase!"},
	"js.cd.tip":            {"Dricks: {tip}", "Tip: {tip}"},
	"js.cd.failed":         {"Betalningen gick inte igenom", "The payment did not go through"},
	"js.cd.cancelled":      {"Betalningen avbröts", "The payment was cancelled"},
	"js.cd.expired":        {"Tiden för betalningen gick ut", "The time for the payment ran out"},
	"js.cd.unknown":        {"Betalningen kontrolleras av personalen", "The staff are checking the payment"},
	"js.cd.nokey":          {"Öppna displayen med en displaynyckel: /display/{till}#key=…", "Open the display with a display key: /display/{till}#key=…"},
	"js.cd.badkey":         {"Displaynyckeln gäller inte för den här kassan. Skapa en ny i backoffice.", "The display key is not valid for this till. Make a new one in the back office."},
	"js.cd.offline":        {"Ingen kontakt med kvitt, försöker igen…", "No connection to kvitt, trying again…"},
	"js.cd.qr":             {"QR-kod för betalningen", "QR code of the payment"},
	"js.cd.col.item":       {"Vara", "Item"},
	"js.cd.col.total":      {"Summa", "Total"},
}
