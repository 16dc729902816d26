package ui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
)

// The back office (/admin/…, issue 12; docs/backoffice.md): payments,
// refunds, receipts, Svea Instore orders, the picking list, X/Z reports,
// tills and MobilePay pairing, the settings (payment methods per till,
// accounts, the Swish certificate, Computop and Svea), the outgoing webhook
// subscriptions, API keys, users and, in the sandbox, the
// customer's side of an order. One page, one section per URL
// (/admin/payments, /admin/orders/new…). The page is only a frame: its
// script (admin.js) reads and changes everything through the JSON API
// with the session, so what a user may see or do is decided by the API's
// rules alone. The page handler only decides whether to show a section
// at all, with the API's own Can.

// adminSection is one section of the back office.
type adminSection struct {
	ID    string // the URL's last part and the template's section
	Label string // dictionary key
	// Admin: the API lets only admins use it (API keys, users).
	Admin bool
	// Sandbox: shown only in the sandbox.
	Sandbox bool
	// Hidden: reached from another section, not listed in the menu.
	Hidden bool
}

var adminSections = []adminSection{
	{ID: "payments", Label: "admin.payments"},
	{ID: "refunds", Label: "admin.refunds"},
	{ID: "receipts", Label: "admin.receipts"},
	{ID: "orders", Label: "admin.orders"},
	{ID: "neworder", Label: "admin.neworder", Hidden: true},
	{ID: "picking", Label: "admin.picking"},
	{ID: "reports", Label: "admin.reports"},
	{ID: "tills", Label: "admin.tills"},
	{ID: "settings", Label: "admin.settings"},
	{ID: "webhooks", Label: "admin.webhooks"},
	{ID: "keys", Label: "admin.keys", Admin: true},
	{ID: "users", Label: "admin.users", Admin: true},
	{ID: "sms", Label: "admin.sms", Sandbox: true},
}

// adminData is what admin.html gets.
type adminData struct {
	Section  adminSection
	Sections []adminSection // the menu: what this user may open
	// The choices of the filters and forms.
	PaymentStates, RefundStates, OrderStates, Methods, Scopes, Roles []string
	// WebhookEvents are the event filters the webhook API takes.
	WebhookEvents []webhookEventChoice
}

// webhookEventChoice is one event filter of a new webhook subscription:
// "*", a family ("payment") or, where a family has several, an event
// type ("receipt.registered").
type webhookEventChoice struct {
	Value string
	Label string // dictionary key
	Types string // the event types it selects
	Type  bool   // an event type (indented under its family)
}

// webhookEventChoices are the filters the API accepts (hub.WebhookEventTypes
// and their families), for the form's checkboxes.
func webhookEventChoices() []webhookEventChoice {
	out := []webhookEventChoice{{Value: "*", Label: "admin.wh.ev.all"}}
	types := hub.WebhookEventTypes()
	byFamily := map[string][]string{}
	var families []string
	for _, typ := range types {
		f, _, _ := strings.Cut(typ, ".")
		if byFamily[f] == nil {
			families = append(families, f)
		}
		byFamily[f] = append(byFamily[f], typ)
	}
	// docs/webhooks.md's order; a family it does not know yet comes last.
	rank := func(f string) int {
		if i := slices.Index([]string{"payment", "refund", "receipt", "report", "order"}, f); i >= 0 {
			return i
		}
		return 99
	}
	slices.SortStableFunc(families, func(a, b string) int { return rank(a) - rank(b) })
	for _, f := range families {
		out = append(out, webhookEventChoice{Value: f, Label: "admin.wh.ev." + f, Types: strings.Join(byFamily[f], ", ")})
		if len(byFamily[f]) > 1 {
			for _, typ := range byFamily[f] {
				out = append(out, webhookEventChoice{Value: typ, Label: "admin.wh.ev." + typ, Types: typ, Type: true})
			}
		}
	}
	return out
}

var (
	adminPaymentStates = []string{"paid", "partially_refunded", "refunded", "pending", "created", "authorized", "unknown", "declined", "cancelled", "expired", "failed"}
	adminRefundStates  = []string{"succeeded", "pending", "created", "unknown", "failed"}
	adminOrderStates   = []string{"awaiting_payment", "creating", "link_failed", "paid", "cancelled", "expired", "credited"}
	adminMethods       = []string{"cash", "card", "swish", "mobilepay"}
	adminScopes        = []string{"till", "display", "backoffice", "admin"}
	adminRoles         = []string{"cashier", "backoffice", "admin"}
)

func init() {
	pageRegistry = append(pageRegistry, func(h *handler) {
		h.mux.HandleFunc("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) { h.admin(w, r, "payments") })
		h.mux.HandleFunc("GET /admin/orders/new", func(w http.ResponseWriter, r *http.Request) { h.admin(w, r, "neworder") })
		h.mux.HandleFunc("GET /admin/{section}", func(w http.ResponseWriter, r *http.Request) { h.admin(w, r, r.PathValue("section")) })
	})
}

// backOffice is who may open the back office: the API's admin and
// back-office scopes (a cashier's till scope may not).
func backOffice(p kvitthttp.Principal) bool {
	return kvitthttp.Can(p, kvitt.ScopeAdmin, kvitt.ScopeBackOffice)
}

func (h *handler) admin(w http.ResponseWriter, r *http.Request, id string) {
	var sec *adminSection
	for i := range adminSections {
		if adminSections[i].ID == id {
			sec = &adminSections[i]
		}
	}
	if sec == nil || (sec.Sandbox && !h.Sandbox) || (sec.ID == "neworder" && r.URL.Path != "/admin/orders/new") {
		http.NotFound(w, r)
		return
	}
	p, ok := h.staff(w, r, func(p kvitthttp.Principal) bool {
		if sec.Admin {
			return kvitthttp.Can(p, kvitt.ScopeAdmin)
		}
		return backOffice(p)
	})
	if !ok {
		return
	}
	d := adminData{Section: *sec, PaymentStates: adminPaymentStates, RefundStates: adminRefundStates, OrderStates: adminOrderStates,
		Methods: adminMethods, Scopes: adminScopes, Roles: adminRoles}
	if sec.ID == "webhooks" {
		d.WebhookEvents = webhookEventChoices()
	}
	for _, s := range adminSections {
		if s.Hidden || (s.Sandbox && !h.Sandbox) || (s.Admin && !kvitthttp.Can(*p, kvitt.ScopeAdmin)) {
			continue
		}
		d.Sections = append(d.Sections, s)
	}
	h.render(w, r, "admin.html", &Page{Title: sec.Label, User: p, CSRF: p.CSRF, Data: d})
}

func init() {
	// Names the page and its script share: the script gets them as "state.paid"….
	shared := map[string][2]string{
		"state.paid":               {"Betald", "Paid"},
		"state.partially_refunded": {"Delvis återbetald", "Partly refunded"},
		"state.refunded":           {"Återbetald", "Refunded"},
		"state.pending":            {"Väntar", "Pending"},
		"state.created":            {"Skapad", "Created"},
		"state.authorized":         {"Reserverad", "Authorized"},
		"state.unknown":            {"Okänt utfall", "Unknown"},
		"state.declined":           {"Nekad", "Declined"},
		"state.cancelled":          {"Avbruten", "Cancelled"},
		"state.expired":            {"Utgången", "Expired"},
		"state.failed":             {"Misslyckad", "Failed"},
		"state.succeeded":          {"Genomförd", "Succeeded"},
		"method.cash":              {"Kontant", "Cash"},
		"method.card":              {"Kort", "Card"},
		"method.swish":             {"Swish", "Swish"},
		"method.mobilepay":         {"MobilePay", "MobilePay"},
		"method.swish_manual":      {"Swish (manuell)", "Swish (manual)"},
		"method.computop":          {"Swish via Computop", "Swish via Computop"},
		"method.svea":              {"Svea", "Svea"},
		"order.awaiting_payment":   {"Inväntar kundens köp", "Waiting for the customer"},
		"order.creating":           {"Betallänken skapas", "Creating the link"},
		"order.link_failed":        {"Betallänken kunde inte skapas", "The link could not be created"},
		"order.paid":               {"Betald", "Paid"},
		"order.cancelled":          {"Avbruten hos Svea", "Cancelled at Svea"},
		"order.expired":            {"Inte längre giltig hos Svea", "No longer valid at Svea"},
		"order.credited":           {"Krediterad", "Credited"},
		"scope.till":               {"Kassa", "Till"},
		"scope.display":            {"Kundskärm", "Customer display"},
		"scope.backoffice":         {"Backoffice", "Back office"},
		"scope.admin":              {"Administratör", "Administrator"},
		"role.cashier":             {"Kassör", "Cashier"},
		"role.backoffice":          {"Backoffice", "Back office"},
		"role.admin":               {"Administratör", "Administrator"},
	}
	all := map[string][2]string{
		"admin.title":         {"Backoffice", "Back office"},
		"admin.menu":          {"Backoffice", "Back office"},
		"admin.payments":      {"Betalningar", "Payments"},
		"admin.refunds":       {"Återbetalningar", "Refunds"},
		"admin.receipts":      {"Kvitton", "Receipts"},
		"admin.orders":        {"Ordrar", "Orders"},
		"admin.neworder":      {"Ny order", "New order"},
		"admin.picking":       {"Plocklista", "Picking list"},
		"admin.reports":       {"X- och Z-rapporter", "X and Z reports"},
		"admin.tills":         {"Kassor", "Tills"},
		"admin.keys":          {"API-nycklar", "API keys"},
		"admin.users":         {"Användare", "Users"},
		"admin.sms":           {"SMS-utkorg (sandlåda)", "SMS outbox (sandbox)"},
		"admin.filters":       {"Sök och filter", "Search and filters"},
		"admin.till":          {"Kassa", "Till"},
		"admin.all":           {"Alla", "All"},
		"admin.state":         {"Status", "State"},
		"admin.status":        {"Status", "Status"},
		"admin.method":        {"Betalsätt", "Method"},
		"admin.serial":        {"Kvittonr", "Receipt no."},
		"admin.from":          {"Från datum", "From date"},
		"admin.to":            {"Till och med", "To date"},
		"admin.q.payments":    {"Betalnings-id eller referens", "Payment id or reference"},
		"admin.q.refunds":     {"Återbetalnings-id, betalnings-id eller referens", "Refund id, payment id or reference"},
		"admin.q.receipts":    {"Kvitto-id eller köp-id", "Receipt id or sale id"},
		"admin.q.orders":      {"Ordernr, namn, mobilnr eller e-post", "Order no., name, mobile or e-mail"},
		"admin.search":        {"Sök", "Search"},
		"admin.time":          {"Tid", "Time"},
		"admin.amount":        {"Belopp", "Amount"},
		"admin.idref":         {"Id och referens", "Id and reference"},
		"admin.actions":       {"Åtgärder", "Actions"},
		"admin.kind":          {"Typ", "Kind"},
		"admin.registration":  {"Kontrollenhet", "Control unit"},
		"admin.empty":         {"Inget hittades.", "Nothing found."},
		"admin.more":          {"Visa fler", "Show more"},
		"admin.receipt":       {"Kvitto", "Receipt"},
		"admin.close":         {"Stäng", "Close"},
		"admin.cancel":        {"Avbryt", "Cancel"},
		"admin.number":        {"Ordernr", "Order no."},
		"admin.customer":      {"Kund", "Customer"},
		"admin.linkref":       {"Betallänk eller referens", "Payment link or reference"},
		"admin.credit":        {"Kreditera order", "Credit the order"},
		"admin.credit.hint":   {"Kreditera ett belopp (inkl. moms) eller hela ordern.", "Credit an amount (incl. VAT) or the whole order."},
		"admin.vat":           {"Moms %", "VAT %"},
		"admin.credit.amount": {"Kreditera beloppet", "Credit the amount"},
		"admin.credit.all":    {"Kreditera allt", "Credit everything"},
		"admin.order":         {"Order", "Order"},
		"admin.order.changehint": {"Ändrad order: kunden får en ny betallänk i ett nytt SMS.",
			"Changed order: the customer gets a new payment link in a new SMS."},
		"admin.customercard":    {"Kundkort", "Customer card"},
		"admin.name":            {"Namn", "Name"},
		"admin.mobile":          {"Mobilnummer", "Mobile number"},
		"admin.country":         {"Land", "Country"},
		"admin.nationalid":      {"Personnummer/orgnr", "National id / org. no."},
		"admin.email":           {"E-post", "E-mail"},
		"admin.postal":          {"Postnummer", "Postal code"},
		"admin.company":         {"Företag", "Company"},
		"admin.lines":           {"Orderrader", "Order lines"},
		"admin.addline":         {"Lägg till rad", "Add a line"},
		"admin.order.sms":       {"Kunden får ett SMS med en betallänk från Svea.", "The customer gets an SMS with a payment link from Svea."},
		"admin.order.create":    {"Skapa order och skicka SMS", "Create the order and send the SMS"},
		"admin.reference":       {"Sveas referens", "Svea's reference"},
		"admin.picking.empty":   {"Inga betalda ordrar att plocka.", "No paid orders to pick."},
		"admin.report.x":        {"X-rapport", "X report"},
		"admin.report.z":        {"Z-rapport (dagsavslut)", "Z report (close the day)"},
		"admin.report.serial":   {"Z-rapport nr", "Z report no."},
		"admin.report.get":      {"Visa Z-rapport", "Show Z report"},
		"admin.report.zconfirm": {"Ja, gör Z-rapporten", "Yes, make the Z report"},
		"admin.store":           {"Butik", "Store"},
		"admin.register":        {"Kassaregister", "Register"},
		"admin.devices":         {"Kontrollenhet och terminal", "Control unit and terminal"},
		"admin.methods":         {"Betalsätt", "Methods"},
		"admin.pair":            {"Parkoppla MobilePay", "Pair MobilePay"},
		"admin.pair.hint":       {"Välj kassan och skanna QR-koden på kassans MobilePay-skylt med streckkodsläsaren (eller skriv dess id) och tryck Enter.", "Choose the till, then scan the QR code of the till's MobilePay sign with the barcode scanner (or type its id) and press Enter."},
		"admin.pair.beacon":     {"QR-kodens id (beacon id)", "The QR code's id (beacon id)"},
		"admin.pair.sticker":    {"Flytta en befintlig MobilePay PoS-skylt", "Move an existing MobilePay PoS sticker"},
		"admin.pair.submit":     {"Registrera", "Register"},
		"admin.config":          {"Betalsätt och avtal", "Payment methods and accounts"},
		"admin.config.text":     {"Betalsätt per kassa, snabbknappar, bokföringskonton och Swish-certifikatet ställs in under", "Payment methods per till, quick buttons, accounting accounts and the Swish certificate are set under"},
		"admin.config.file":     {"Computop- och Svea-uppgifter, kassor och terminaler står i kvitts konfigurationsfil, se", "Computop and Svea credentials, tills and terminals are in kvitt's configuration file, see"},
		"admin.settings":        {"Inställningar", "Settings"},
		"admin.set.methods":     {"Betalsätt per kassa", "Payment methods per till"},
		"admin.set.methods.hint": {"Bocka ur ett betalsätt för att ta bort det från kassan (knappen försvinner och kassan kan inte ta betalt med det). Snabbknapparna kommer först, i nummerordning; tomt = kvitts ordning.",
			"Untick a method to take it off the till (its button goes and the till cannot take payments with it). Quick buttons come first, in the order of their numbers; empty = kvitt's order."},
		"admin.set.accounts": {"Bokföringskonton", "Accounting accounts"},
		"admin.set.accounts.hint": {"Kontona i Z-rapporternas bokföringsexport (SIE och CSV), per butik. Ett konto är fyra siffror (BAS). Tomt fält = standardkontot.",
			"The accounts of the Z reports' bookkeeping export (SIE and CSV), per store. An account is four digits (BAS). An empty field = the default account."},
		"admin.set.acc.methods": {"Betalsätt", "Means of payment"},
		"admin.set.acc.sales":   {"Försäljning per momssats", "Sales per VAT rate"},
		"admin.set.acc.vat":     {"Utgående moms per momssats", "Output VAT per rate"},
		"admin.set.acc.returns": {"Returer per momssats (tomt = försäljningskontot)", "Returns per VAT rate (empty = the sales account)"},
		"admin.set.acc.other":   {"Övrigt", "Other"},
		"admin.set.tips":        {"Dricks", "Tips"},
		"admin.set.rounding":    {"Öresavrundning", "Cash rounding"},
		"admin.set.series":      {"Verifikationsserie", "Voucher series"},
		"admin.set.save":        {"Spara kontona", "Save the accounts"},
		"admin.swish":           {"Swish-certifikat", "Swish certificate"},
		"admin.swish.hint": {"Swish kräver ett certifikat för butikens Swishnummer: gör en begäran här, ladda upp den i Swish Certificate Management (portal.swish.nu) med Mobilt BankID, och ladda upp det signerade certifikatet här (PEM eller PKCS#7). Nyckeln stannar på servern.",
			"Swish needs a certificate for the store's Swish number: make a request here, upload it at Swish Certificate Management (portal.swish.nu) with Mobile BankID, and upload the signed certificate here (PEM or PKCS#7). The key stays on the server."},
		"admin.swish.restart": {"kvitt läser certifikatet när det startar: starta om kvitt för att använda det nya certifikatet.", "kvitt reads the certificate when it starts: restart kvitt to use the new certificate."},
		"admin.swish.sandbox": {"Sandlådan behöver inget certifikat: dess Swish-simulator har ett eget. Här kan du öva stegen: simulatorns CA signerar begäran i stället för Swish.",
			"The sandbox needs no certificate: its Swish simulator has its own. You can rehearse the steps here: the simulator's CA signs the request instead of Swish."},
		"admin.swish.step1":      {"1. Gör en certifikatbegäran (CSR)", "1. Make the certificate request (CSR)"},
		"admin.swish.org":        {"Organisation (valfri)", "Organisation (optional)"},
		"admin.swish.number":     {"Swishnummer (valfritt)", "Swish number (optional)"},
		"admin.swish.make":       {"Gör begäran", "Make the request"},
		"admin.swish.csr":        {"Begäran att ladda upp hos Swish", "The request to upload at Swish"},
		"admin.swish.download":   {"Ladda ner swish.csr", "Download swish.csr"},
		"admin.swish.simsign":    {"Signera med sandlådans Swish-CA", "Sign with the sandbox's Swish CA"},
		"admin.swish.step2":      {"2. Ladda upp det signerade certifikatet", "2. Upload the signed certificate"},
		"admin.swish.file":       {"Fil från Swish (.pem, .p7b)", "File from Swish (.pem, .p7b)"},
		"admin.swish.paste":      {"eller klistra in PEM", "or paste the PEM"},
		"admin.swish.incomplete": {"Importera utan mellanliggande certifikat (Swish nekar det)", "Import without the intermediate (Swish refuses it)"},
		"admin.swish.upload":     {"Ladda upp certifikatet", "Upload the certificate"},
		"admin.prov":             {"Computop och Svea", "Computop and Svea"},
		"admin.prov.hint": {"Uppgifterna ställs in i kvitts konfigurationsfil (avsnitten computop och svea, se docs/configuration.md) och läses när kvitt startar. Hemligheter visas aldrig, bara om de är satta.",
			"The credentials are set in kvitt's configuration file (the computop and svea sections, see docs/configuration.md) and read when kvitt starts. Secrets are never shown, only whether they are set."},
		"admin.prov.provider":  {"Tjänst", "Service"},
		"admin.prov.merchant":  {"Handlar-id", "Merchant id"},
		"admin.prov.env":       {"Miljö", "Environment"},
		"admin.prov.secrets":   {"Hemligheter", "Secrets"},
		"admin.prov.keys":      {"Nycklar i konfigurationsfilen", "Keys in the configuration file"},
		"admin.key.new":        {"Ny API-nyckel", "New API key"},
		"admin.scope":          {"Behörighet", "Scope"},
		"admin.key.create":     {"Skapa nyckel", "Create the key"},
		"admin.key.once":       {"Nyckeln visas bara nu. Kopiera den.", "The key is shown only now. Copy it."},
		"admin.key":            {"Nyckel", "Key"},
		"admin.copy":           {"Kopiera", "Copy"},
		"admin.key.displayurl": {"Kundskärmens adress", "The customer display's address"},
		"admin.created":        {"Skapad", "Created"},
		"admin.user.new":       {"Ny användare", "New user"},
		"admin.username":       {"Användarnamn", "Username"},
		"admin.role":           {"Roll", "Role"},
		"admin.password":       {"Lösenord", "Password"},
		"admin.user.create":    {"Skapa användare", "Create the user"},
		"admin.sms.hint":       {"Sandlåda: SMS:en som Sveas simulator skickat till kunderna, ett per betallänk.", "Sandbox: the SMS Svea's simulator sent to the customers, one per payment link."},
		"admin.recipient":      {"Till", "To"},
		"admin.sms.text":       {"Meddelande", "Message"},
		"admin.sms.sent":       {"Skickat", "Sent"},
		"js.a.receipt":         {"Kvitto", "Receipt"},
		"js.a.noreceipt":       {"Köpet har inget kvitto (än).", "The sale has no receipt (yet)."},
		"js.a.show":            {"Visa", "Show"},
		"js.a.copy":            {"Kopiera länk", "Copy link"},
		"js.a.copied":          {"Kopierat.", "Copied."},
		"js.a.change":          {"Ändra", "Change"},
		"js.a.cancel":          {"Avbryt länken", "Cancel the link"},
		"js.a.credit":          {"Kreditera", "Credit"},
		"js.a.sync":            {"Fråga Svea", "Ask Svea"},
		"js.a.approve":         {"Kunden betalar (sandlåda)", "Customer pays (sandbox)"},
		"js.a.abandon":         {"Kunden stänger (sandlåda)", "Customer closes (sandbox)"},
		"js.a.timeout":         {"Länken går ut (sandlåda)", "Link runs out (sandbox)"},
		"js.a.smssent":         {"SMS skickat", "SMS sent"},
		"js.a.smsnot":          {"SMS ej bekräftat", "SMS not confirmed"},
		"js.a.created":         {"Order {number} skapad.", "Order {number} created."},
		"js.a.changed":         {"Order {number} ändrad; ny länk skickad.", "Order {number} changed; new link sent."},
		"js.a.done":            {"Klart.", "Done."},
		"js.a.loading":         {"Hämtar…", "Loading…"},
		"js.a.count":           {"{n} rader", "{n} rows"},
		"js.a.remove":          {"Ta bort rad", "Remove the line"},
		"js.a.article":         {"Artikelnr", "Article no."},
		"js.a.linename":        {"Benämning", "Description"},
		"js.a.qty":             {"Antal", "Quantity"},
		"js.a.price":           {"Pris inkl. moms", "Price incl. VAT"},
		"js.a.discount":        {"Rabatt %", "Discount %"},
		"js.a.vat":             {"Moms %", "VAT %"},
		"js.a.unit":            {"Enhet", "Unit"},
		"js.a.line":            {"Rad {n}", "Line {n}"},
		"js.a.zsure":           {"Z-rapporten stänger perioden för kassa {till}. Den kan inte göras om.", "The Z report closes the period of till {till}. It cannot be undone."},
		"js.a.xtitle":          {"X-rapport kassa {till}", "X report till {till}"},
		"js.a.ztitle":          {"Z-rapport nr {serial} kassa {till}", "Z report no. {serial} till {till}"},
		"js.a.paired":          {"Kassa {till} är parkopplad med MobilePay.", "Till {till} is paired with MobilePay."},
		"js.a.unpair":          {"Koppla bort", "Unpair"},
		"js.a.unpaired":        {"Kassa {till} är bortkopplad från MobilePay.", "Till {till} is unpaired from MobilePay."},
		"js.a.notpaired":       {"Ej parkopplad", "Not paired"},
		"js.a.qr":              {"QR-kod att skriva ut", "QR code to print"},
		"js.a.revoke":          {"Återkalla", "Revoke"},
		"js.a.revoked":         {"Återkallad", "Revoked"},
		"js.a.active":          {"Aktiv", "Active"},
		"js.a.disabled":        {"Avstängd", "Disabled"},
		"js.a.locked":          {"Låst till {t}", "Locked until {t}"},
		"js.a.disable":         {"Stäng av", "Disable"},
		"js.a.enable":          {"Aktivera", "Enable"},
		"js.a.unlock":          {"Lås upp", "Unlock"},
		"js.a.save":            {"Spara roll och kassor", "Save role and tills"},
		"js.a.newpassword":     {"Nytt lösenord", "New password"},
		"js.a.setpassword":     {"Byt lösenord", "Set the password"},
		"js.a.edit":            {"Ändra {user}", "Edit {user}"},
		"js.a.usercreated":     {"Användare {user} skapad.", "User {user} created."},
		"js.a.keycreated":      {"Nyckel {id} skapad.", "Key {id} created."},
		"js.a.badmoney":        {"Skriv ett belopp, t.ex. 499,00.", "Type an amount, e.g. 499.00."},
		"js.a.receiptof":       {"Kvitto nr {serial}, kassa {till}", "Receipt no. {serial}, till {till}"},
		"js.a.kind.sale":       {"Försäljning", "Sale"},
		"js.a.kind.return":     {"Retur", "Return"},
		"js.a.registered":      {"Registrerat", "Registered"},
		"js.a.pending":         {"Ej registrerat", "Not registered"},
		"js.a.not_required":    {"Behövs ej", "Not required"},
		"js.a.none":            {"–", "–"},
		"js.a.terminal":        {"Terminal", "Terminal"},
		"js.a.controlunit":     {"Kontrollenhet", "Control unit"},
		"js.a.configured":      {"(konfigurationsfilen)", "(configuration file)"},
		"js.s.method":          {"Betalsätt", "Method"},
		"js.s.on":              {"Erbjuds i kassan", "Offered at the till"},
		"js.s.quick":           {"Snabbknapp nr", "Quick button no."},
		"js.s.save":            {"Spara kassa {till}", "Save till {till}"},
		"js.s.saved":           {"Kassa {till} sparad.", "Till {till} saved."},
		"js.s.na":              {"kan inte tas här (valuta eller terminal saknas)", "not possible here (currency, or no terminal)"},
		"js.s.tilltitle":       {"Kassa {till}", "Till {till}"},
		"js.s.accsaved":        {"Kontona för {store} sparade.", "The accounts of {store} saved."},
		"js.s.inuse":           {"I bruk", "In use"},
		"js.s.imported":        {"Uppladdat", "Uploaded"},
		"js.s.request":         {"Begäran som väntar", "Request waiting"},
		"js.s.none":            {"Inget certifikat", "No certificate"},
		"js.s.expires":         {"går ut {date}, om {days} dagar", "expires {date}, in {days} days"},
		"js.s.expired":         {"gick ut {date}", "expired {date}"},
		"js.s.number":          {"Swishnummer {n}", "Swish number {n}"},
		"js.s.made":            {"gjord {t}", "made {t}"},
		"js.s.csrmade":         {"Begäran gjord. Ladda upp den hos Swish.", "Request made. Upload it at Swish."},
		"js.s.signed":          {"Signerad av sandlådans Swish-CA. Ladda nu upp certifikatet nedan.", "Signed by the sandbox's Swish CA. Now upload the certificate below."},
		"js.s.certok":          {"Certifikatet är uppladdat.", "The certificate is uploaded."},
		"js.s.working":         {"Arbetar… (en 4096-bitars nyckel tar några sekunder)", "Working… (a 4096-bit key takes a few seconds)"},
		"js.s.configured":      {"Konfigurerad", "Configured"},
		"js.s.notconfigured":   {"Inte konfigurerad", "Not configured"},
		"js.s.sandbox":         {"Sandlåda (simulator)", "Sandbox (simulator)"},
		"js.s.set":             {"satt", "set"},
		"js.s.notset":          {"inte satt", "not set"},
		"js.s.env.live":        {"skarp", "live"},
		"js.s.env.test":        {"test", "test"},
		"js.s.env.sandbox":     {"sandlåda", "sandbox"},
	}
	for k, v := range shared {
		all[k] = v
		all["js."+k] = v
	}
	words(all)
}

// The webhooks section's words (docs/webhooks.md).
func init() {
	words(map[string][2]string{
		"admin.webhooks": {"Webhooks", "Webhooks"},
		"admin.wh.hint": {"kvitt skickar händelser (betalningar, returer, kvitton, Z-rapporter, ordrar) till era egna system som signerade HTTP-anrop enligt Standard Webhooks. Se",
			"kvitt sends events (payments, refunds, receipts, Z reports, orders) to your own systems as signed HTTP requests, as Standard Webhooks do. See"},
		"admin.wh.new":                   {"Ny prenumeration", "New subscription"},
		"admin.wh.url":                   {"Mottagarens adress (https://…)", "The receiver's URL (https://…)"},
		"admin.wh.desc":                  {"Beskrivning (valfri)", "Description (optional)"},
		"admin.wh.merchant":              {"Handlare", "Merchant"},
		"admin.wh.choose":                {"Välj…", "Choose…"},
		"admin.wh.events":                {"Händelser", "Events"},
		"admin.wh.create":                {"Skapa prenumerationen", "Create the subscription"},
		"admin.wh.ev.all":                {"Alla händelser (*)", "Every event (*)"},
		"admin.wh.ev.payment":            {"Betalningar", "Payments"},
		"admin.wh.ev.refund":             {"Returer och återbetalningar", "Refunds"},
		"admin.wh.ev.receipt":            {"Kvitton", "Receipts"},
		"admin.wh.ev.report":             {"Z-rapporter", "Z reports"},
		"admin.wh.ev.order":              {"Ordrar (Svea)", "Orders (Svea)"},
		"admin.wh.ev.receipt.issued":     {"bara utfärdade", "issued only"},
		"admin.wh.ev.receipt.registered": {"bara registrerade i kontrollenheten", "registered by the control unit only"},
		"admin.wh.once":                  {"Hemligheten visas bara nu. Kopiera den till mottagaren.", "The secret is shown only now. Copy it to the receiver."},
		"admin.wh.secret":                {"Signeringshemlighet", "Signing secret"},
		"admin.wh.verify": {"Mottagaren kontrollerar varje anrops signatur (huvudena webhook-id, webhook-timestamp och webhook-signature) med hemligheten, helst med ett Standard Webhooks-bibliotek, innan den läser innehållet. Så här:",
			"The receiver checks each request's signature (the headers webhook-id, webhook-timestamp and webhook-signature) with the secret, best with a Standard Webhooks library, before it reads the body. How:"},
		"admin.wh.rotated":   {"Den gamla hemligheten signerar också i 24 timmar till, så båda gäller under tiden: byt hemlighet hos mottagaren före", "The old secret keeps signing for 24 hours too, so both are valid meanwhile: deploy the new one to the receiver before"},
		"admin.wh.list":      {"Prenumerationer", "Subscriptions"},
		"admin.wh.empty":     {"Inga prenumerationer än.", "No subscriptions yet."},
		"admin.wh.last":      {"Senaste leverans", "Last delivery"},
		"admin.wh.log":       {"Leveranslogg", "Delivery log"},
		"admin.wh.event":     {"Händelse", "Event"},
		"admin.wh.seq":       {"Journal nr", "Journal seq."},
		"admin.wh.attempts":  {"Försök", "Attempts"},
		"admin.wh.result":    {"Senaste svar", "Last answer"},
		"admin.wh.next":      {"Nästa försök", "Next attempt"},
		"admin.wh.refresh":   {"Uppdatera", "Refresh"},
		"admin.wh.logempty":  {"Inga leveranser än: prenumerationen får händelserna som sker efter att den skapades.", "No deliveries yet: the subscription gets the events that happen after it was made."},
		"admin.wh.delete":    {"Ja, ta bort", "Yes, delete it"},
		"js.wh.created":      {"Prenumeration {id} skapad.", "Subscription {id} created."},
		"js.wh.rotatedok":    {"Ny hemlighet för {url}.", "New secret for {url}."},
		"js.wh.deleted":      {"Prenumerationen är borttagen.", "The subscription is deleted."},
		"js.wh.enabled":      {"Aktiv", "Enabled"},
		"js.wh.disabled":     {"Avstängd", "Disabled"},
		"js.wh.disabledby":   {"Avstängd av kvitt", "Disabled by kvitt"},
		"js.wh.enable":       {"Aktivera", "Enable"},
		"js.wh.disable":      {"Stäng av", "Disable"},
		"js.wh.rotate":       {"Ny hemlighet", "Rotate the secret"},
		"js.wh.delete":       {"Ta bort", "Delete"},
		"js.wh.log":          {"Leveranslogg", "Delivery log"},
		"js.wh.logof":        {"Leveranslogg för {url}", "Delivery log of {url}"},
		"js.wh.sure":         {"Ta bort prenumerationen till {url}? Leveransloggen tas bort och det som väntar skickas inte.", "Delete the subscription to {url}? Its delivery log goes too, and what is queued is not sent."},
		"js.wh.redeliver":    {"Skicka igen", "Redeliver"},
		"js.wh.redelivered":  {"Händelsen skickas igen.", "The event is sent again."},
		"js.wh.merchant":     {"Handlare {id}", "Merchant {id}"},
		"js.wh.none":         {"Ingen än", "None yet"},
		"js.wh.st.delivered": {"Levererad", "Delivered"},
		"js.wh.st.pending":   {"Väntar", "Pending"},
		"js.wh.http":         {"HTTP {status}", "HTTP {status}"},
		"js.wh.noanswer":     {"inget svar", "no answer"},
		"js.wh.since":        {"sedan {t}", "since {t}"},
	})
}
