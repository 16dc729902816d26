package ui

import (
	"net/http"

	kvitthttp "github.com/kvitt-hub/kvitt/http"
)

// The till (/till/{id}): the article grid, the basket, one button per
// payment method of the till, the payment dialog that follows the
// payment's events, the receipt, returns, copies, X and Z reports and the
// recovery prompt (docs/screens.md). The page is a frame; till.js does
// everything through the JSON API with the session, so the API's rules
// decide what the cashier may do.

func init() {
	pageRegistry = append(pageRegistry, func(h *handler) {
		h.mux.HandleFunc("GET /till/{id}", h.till)
	})
	words(tillWords)
}

func (h *handler) till(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, ok := h.staff(w, r, func(p kvitthttp.Principal) bool { return kvitthttp.CanTill(p, id) })
	if !ok {
		return
	}
	h.render(w, r, "till.html", &Page{Title: "till.title", User: p, CSRF: p.CSRF, Till: id})
}

var tillWords = map[string][2]string{
	"till.title":        {"Kassa", "Till"},
	"till.articles":     {"Artiklar", "Articles"},
	"till.search":       {"Sök eller skanna artikel", "Search or scan an article"},
	"till.search.hint":  {"Enter lägger till", "Enter adds"},
	"till.free":         {"Fritt pris", "Free price"},
	"till.free.name":    {"Benämning", "Description"},
	"till.free.price":   {"Pris (kr)", "Price"},
	"till.free.vat":     {"Moms %", "VAT %"},
	"till.free.add":     {"Lägg till", "Add"},
	"till.basket":       {"Kundkorg", "Basket"},
	"till.col.name":     {"Vara", "Item"},
	"till.col.qty":      {"Antal", "Qty"},
	"till.col.price":    {"À-pris", "Unit price"},
	"till.col.vat":      {"Moms %", "VAT %"},
	"till.col.discount": {"Rabatt %", "Discount %"},
	"till.col.total":    {"Summa", "Total"},
	"till.total":        {"Att betala", "To pay"},
	"till.pay":          {"Betala", "Pay"},
	"till.new":          {"Ny försäljning", "New sale"},
	"till.tools":        {"Kassafunktioner", "Till functions"},
	"till.return":       {"Retur", "Return"},
	"till.xreport":      {"X-rapport", "X report"},
	"till.zreport":      {"Z-rapport (dagsavslut)", "Z report (close the day)"},
	"till.recovery":     {"Att åtgärda", "To resolve"},
	"till.display":      {"Kunddisplay", "Customer display"},
	"till.terminal":     {"Kortterminal (sandlåda)", "Card terminal (sandbox)"},
	"till.close":        {"Stäng", "Close"},
	"till.print":        {"Skriv ut", "Print"},
	"till.copy":         {"Kopia", "Copy"},

	"js.till.empty":           {"Kundkorgen är tom. Välj en artikel.", "The basket is empty. Choose an article."},
	"js.till.remove":          {"Ta bort", "Remove"},
	"js.till.qty":             {"Antal för {name}", "Quantity of {name}"},
	"js.till.price":           {"Pris för {name}", "Price of {name}"},
	"js.till.vat":             {"Moms för {name}", "VAT of {name}"},
	"js.till.discount":        {"Rabatt i procent för {name}", "Discount in percent on {name}"},
	"js.till.vatrow":          {"Moms {rate} %: {vat} av {gross}", "VAT {rate} %: {vat} of {gross}"},
	"js.till.paid":            {"Betalt {paid}, kvar {due}", "Paid {paid}, left {due}"},
	"js.till.locked":          {"Försäljningen har betalningar: korgen kan inte ändras.", "The sale has payments: the basket cannot be changed."},
	"js.till.nomatch":         {"Ingen artikel matchar {q}.", "No article matches {q}."},
	"js.till.added":           {"{name} tillagd.", "{name} added."},
	"js.err.qty":              {"Antal måste vara större än 0 (högst tre decimaler).", "Quantity must be above 0 (at most three decimals)."},
	"js.err.price":            {"Ange ett pris, t.ex. 49,90.", "Enter a price, e.g. 49.90."},
	"js.err.discount":         {"Rabatten måste vara 0–100 %.", "The discount must be 0–100 %."},
	"js.err.name":             {"Ange en benämning.", "Enter a description."},
	"js.err.amount":           {"Ange ett belopp, t.ex. 100 eller 49,50.", "Enter an amount, e.g. 100 or 49.50."},
	"js.err.tendered":         {"Kunden måste lämna minst beloppet.", "The customer must hand over at least the amount."},
	"js.err.confirm":          {"Bekräfta att du sett betalningen i kundens Swish-app.", "Confirm that you saw the payment in the customer's Swish app."},
	"js.method.cash":          {"Kontant", "Cash"},
	"js.method.card":          {"Kort", "Card"},
	"js.method.swish":         {"Swish", "Swish"},
	"js.method.swish_manual":  {"Swish (manuell)", "Swish (manual)"},
	"js.method.mobilepay":     {"MobilePay", "MobilePay"},
	"js.method.computop":      {"Swish (Computop)", "Swish (Computop)"},
	"js.pay.title":            {"Betalning: {method}", "Payment: {method}"},
	"js.pay.amount":           {"Belopp", "Amount"},
	"js.pay.amount.hint":      {"Hela beloppet, eller en del (resten med ett annat betalsätt).", "The whole amount, or a part (the rest with another method)."},
	"js.pay.whole":            {"{method} tar hela beloppet: ingen delbetalning.", "{method} takes the whole amount: no split."},
	"js.pay.tendered":         {"Mottaget", "Tendered"},
	"js.pay.change":           {"Växel: {change}", "Change: {change}"},
	"js.pay.confirm":          {"Jag har sett betalningen på {amount} till butikens Swish-nummer som genomförd i kundens Swish-app.", "I have seen the payment of {amount} to the store's Swish number as completed in the customer's Swish app."},
	"js.pay.manual.help":      {"Kunden swishar beloppet till butikens nummer i sin egen app. Titta på kundens skärm: belopp, mottagare och att betalningen är genomförd.", "The customer swishes the amount to the store's number in their own app. Look at the customer's screen: amount, recipient, and that the payment is completed."},
	"js.pay.start":            {"Betala {amount}", "Pay {amount}"},
	"js.pay.cancel":           {"Avbryt betalningen", "Cancel the payment"},
	"js.pay.close":            {"Stäng", "Close"},
	"js.pay.state.created":    {"Skickar till betaltjänsten…", "Sending to the provider…"},
	"js.pay.state.pending":    {"Väntar på kunden…", "Waiting for the customer…"},
	"js.pay.state.authorized": {"Reserverad, dras nu…", "Authorised, capturing…"},
	"js.pay.state.paid":       {"Betald", "Paid"},
	"js.pay.state.declined":   {"Nekad", "Declined"},
	"js.pay.state.cancelled":  {"Avbruten", "Cancelled"},
	"js.pay.state.expired":    {"Tiden gick ut", "Expired"},
	"js.pay.state.failed":     {"Misslyckades", "Failed"},
	"js.pay.state.unknown":    {"Okänt utfall: kontrollera hos betaltjänsten", "Outcome unknown: check with the provider"},
	"js.pay.qr":               {"QR-kod att skanna med appen (visas även på kunddisplayen)", "QR code to scan with the app (also on the customer display)"},
	"js.pay.tillqr":           {"Kunden skannar kassans MobilePay-QR-kod.", "The customer scans the till's MobilePay QR code."},
	"js.pay.tip":              {"Dricks: {tip}", "Tip: {tip}"},
	"js.pay.rest":             {"Kvar att betala: {due}. Välj betalsätt för resten.", "Left to pay: {due}. Choose a method for the rest."},
	"js.pay.retry":            {"Försäljningen är kvar: välj ett betalsätt igen.", "The sale is still open: choose a method again."},
	"js.pay.completing":       {"Betald. Skriver kvitto…", "Paid. Issuing the receipt…"},
	"js.sb.title":             {"Sandlåda: agera som kunden", "Sandbox: act as the customer"},
	"js.sb.approve":           {"Kunden godkänner", "Customer approves"},
	"js.sb.decline":           {"Kunden nekar", "Customer declines"},
	"js.sb.cancel":            {"Kunden avbryter", "Customer cancels"},
	"js.sb.timeout":           {"Kunden går därifrån", "Customer walks away"},
	"js.sb.tip":               {"Dricks på terminalen (kr)", "Tip on the terminal"},
	"js.sb.scenario":          {"Kort", "Card"},
	"js.sb.sc.approve":        {"Godkänns", "Approved"},
	"js.sb.sc.insufficient":   {"Otillräckligt saldo", "Insufficient funds"},
	"js.sb.sc.wrongpin":       {"Fel PIN", "Wrong PIN"},
	"js.sb.sc.signature":      {"Godkänns med signatur", "Approved with signature"},
	"js.sb.terminal":          {"Öppna terminalens skärm", "Open the terminal's screen"},
	"js.sb.refund":            {"Kunden visar kortet", "Customer presents the card"},
	"js.rc.title":             {"Kvitto", "Receipt"},
	"js.rc.pending":           {"Kontrollenheten har inte svarat: lämna inte ut kvittot förrän det är registrerat.", "The control unit has not answered: do not hand out the receipt until it is registered."},
	"js.rc.merchant":          {"Terminalen bad om signatur: skriv ut butikens exemplar och låt kunden signera.", "The terminal asked for a signature: print the merchant copy and have the customer sign it."},
	"js.rc.newsale":           {"Ny försäljning", "New sale"},
	"js.rc.copydone":          {"Kopia utskriven (KOPIA).", "Copy issued (KOPIA)."},
	"js.ret.title":            {"Retur", "Return"},
	"js.ret.receipt":          {"Kvitto-id (rcp_…)", "Receipt id (rcp_…)"},
	"js.ret.find":             {"Hämta kvitto", "Load receipt"},
	"js.ret.recent":           {"Senaste kvitton i den här kassan", "Recent receipts at this till"},
	"js.ret.none":             {"Inga kvitton än i den här webbläsaren.", "No receipts yet in this browser."},
	"js.ret.qty":              {"Antal tillbaka av {name} (såld {sold})", "Quantity back of {name} (sold {sold})"},
	"js.ret.payment":          {"Återbetala med", "Pay back by"},
	"js.ret.submit":           {"Gör retur", "Make the return"},
	"js.ret.nothing":          {"Välj minst en vara att ta tillbaka.", "Choose at least one item to take back."},
	"js.ret.state.pending":    {"Väntar…", "Waiting…"},
	"js.ret.state.succeeded":  {"Returen är klar", "The return is done"},
	"js.ret.state.failed":     {"Returen misslyckades: inget betalades tillbaka", "The return failed: nothing was paid back"},
	"js.ret.state.unknown":    {"Okänt utfall: kontrollera", "Outcome unknown: check"},
	"js.rep.x":                {"X-rapport", "X report"},
	"js.rep.z":                {"Z-rapport", "Z report"},
	"js.rep.zconfirm":         {"Stäng dagen med en Z-rapport? Den kan inte ångras.", "Close the day with a Z report? It cannot be undone."},
	"js.rep.zrecovery":        {"Det finns {n} saker att åtgärda i kassan: pengar på dem finns inte med i Z-rapporten förrän de är lösta.", "There are {n} things to resolve at the till: money on them is not in the Z report until they are resolved."},
	"js.rep.zgo":              {"Ta Z-rapport", "Make the Z report"},
	"js.rec.title":            {"Att åtgärda i kassan", "To resolve at the till"},
	"js.rec.none":             {"Inget att åtgärda.", "Nothing to resolve."},
	"js.rec.complete":         {"Slutför köpet", "Complete the sale"},
	"js.rec.refund":           {"Återbetala {amount}", "Refund {amount}"},
	"js.rec.keep":             {"Behåll betalningen för köpet", "Keep the payment for the sale"},
	"js.rec.resolve":          {"Utfall enligt betaltjänsten:", "Outcome according to the provider:"},
	"js.rec.note":             {"Anteckning (vem kontrollerade, hur)", "Note (who checked, how)"},
	"js.rec.set":              {"Spara utfall", "Save outcome"},
	"js.rec.cancel":           {"Avbryt betalningen", "Cancel the payment"},
	"js.rec.known":            {"{method} {amount}, {state}, referens {reference}, skapad {created}", "{method} {amount}, {state}, reference {reference}, created {created}"},
	"js.rec.done":             {"Klart.", "Done."},
	"js.rec.receipt":          {"Kvitto nr {serial} väntar på kontrollenheten.", "Receipt no. {serial} is waiting for the control unit."},
	"js.rec.open":             {"{n} att åtgärda", "{n} to resolve"},
}
