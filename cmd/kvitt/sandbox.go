package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/controlunit"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	simcontrolunit "github.com/kvitt-hub/kvitt/sim/controlunit"
)

// sandbox holds the simulators that kvitt serve runs in-process in sandbox
// mode. Each speaks its provider's real protocol over HTTPS on loopback; the
// adapters talk to them exactly as they would to the real thing.
type sandbox struct {
	controlUnit *simcontrolunit.Unit
	closers     []func() error
	// terminal is the simulated card terminal paired with the demo tills (nil = none).
	terminal *kvitt.Terminal
	// terminalScreen is the simulated terminal's screen page; terminalUI serves it under kvitt's /ui/terminal/.
	terminalScreen string
	terminalUI     http.Handler
	// callbacks is the API, once it exists, for the HTTPS callback listener (an http.Handler).
	callbacks atomic.Value
	// afterBootstrap run once the merchants and tills exist (the sandbox
	// registers the tills' MobilePay QRs with its simulator, which forgets
	// them at every start).
	afterBootstrap []func(ctx context.Context, h *hub.Hub) error
}

// sandboxControlUnit is the name tills use for the simulated control unit.
const sandboxControlUnit = "sandbox"

func startSandbox(ctx context.Context, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) (*sandbox, error) {
	sb := &sandbox{}
	ok := false
	defer func() {
		if !ok {
			sb.Close()
		}
	}()

	// The control unit keeps its record next to kvitt's data, so receipts
	// registered before a restart are still known to it afterwards.
	cu, err := simcontrolunit.New(simcontrolunit.Config{JournalPath: filepath.Join(c.Data, "sim-controlunit.jsonl")})
	if err != nil {
		return nil, err
	}
	if err := cu.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	sb.controlUnit = cu
	sb.closers = append(sb.closers, cu.Close)
	cuc, err := controlunit.New(controlunit.Config{URL: cu.URL(), TLS: cu.ClientTLS()})
	if err != nil {
		return nil, err
	}
	h.ControlUnits[sandboxControlUnit] = cuc

	for _, start := range sandboxProviders {
		if err := start(ctx, sb, c, h, publicURL, logger); err != nil {
			return nil, err
		}
	}
	ok = true
	return sb, nil
}

// sandboxProviders start the payment simulators and register their adapters.
var sandboxProviders []func(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error

// adjustTill points a configured till of a store in country at the
// simulators: the simulated control unit (Swedish tills only: only they
// register receipts with a Swedish control unit), and the simulated card
// terminal.
func (sb *sandbox) adjustTill(t *kvitt.Till, country string) {
	if t.ControlUnit == "" && swedish(country) {
		t.ControlUnit = sandboxControlUnit
	}
	if sb.terminal != nil {
		term := *sb.terminal
		if t.Terminal != nil {
			term.Tip = t.Terminal.Tip
		}
		t.Terminal = &term
	}
}

func (sb *sandbox) Close() error {
	var err error
	for i := len(sb.closers) - 1; i >= 0; i-- {
		if e := sb.closers[i](); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// swedish reports whether a store in country registers its receipts with a
// Swedish control unit (an empty country is the default, Sweden).
func swedish(country string) bool { return country == "" || country == "SE" }

// The sandbox's Danish demo store, next to the configured (Swedish) one:
// MobilePay serves Denmark, Finland and Norway, so a new user sees it at a
// Danish till. Till dk-1 is paired with a MobilePay QR (the customer scans
// it in the simulator); dk-2 is not (a one-time QR on the customer
// display, or pair it through the API). A Danish till has no control unit:
// its receipts keep unbroken serial numbers and the journal.
const (
	sandboxDKMerchant = "demo-dk"
	sandboxDKStore    = "demo-dk-store"
	sandboxDKTill     = "dk-1"
	sandboxDKTill2    = "dk-2"
	// sandboxDKBeacon is dk-1's QR: a beacon id as MobilePay PoS printed them.
	sandboxDKBeacon = "4f0d6b2e-7a3c-4e51-9b8d-2c6a1e5f3d70"
)

// bootstrap creates the Danish demo store and gives every store with a
// till the demo articles of its till's grid.
func (sb *sandbox) bootstrap(tx kvitt.Tx) error {
	if err := sb.bootstrapDK(tx); err != nil {
		return err
	}
	return seedArticles(tx)
}

// seedArticles gives each store with a till a dozen demo articles in its
// country's VAT rates, on first start only: a list set since (even an
// empty one) is kept.
func seedArticles(tx kvitt.Tx) error {
	tills, err := tx.ListTills()
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, t := range tills {
		if done[t.StoreID] {
			continue
		}
		done[t.StoreID] = true
		shop, err := tx.GetShop(t.StoreID)
		if err != nil {
			return err
		}
		m, err := tx.GetMerchant(shop.MerchantID)
		if err != nil {
			return err
		}
		if err := kvitthttp.InitArticles(tx, t.StoreID, demoArticles(m.Country)); err != nil {
			return fmt.Errorf("demo articles of store %s: %w", t.StoreID, err)
		}
	}
	return nil
}

// demoArticles are a café's and shop's articles: food at the reduced rate,
// books and newspapers at theirs, goods at the standard rate.
func demoArticles(country string) []kvitthttp.Article {
	a := func(nr, name string, price int64, rate string) kvitthttp.Article {
		return kvitthttp.Article{ArticleNumber: nr, Name: name, Price: price, VATRate: json.Number(rate)}
	}
	if country == "DK" {
		return []kvitthttp.Article{
			a("101", "Kaffe", 3500, "25"), a("102", "Wienerbrød", 2800, "25"), a("103", "Te", 3000, "25"),
			a("104", "Sandwich", 6500, "25"), a("105", "Is", 3500, "25"), a("106", "Sodavand", 2500, "25"),
			a("107", "Vand", 2000, "25"), a("201", "Avis", 4000, "0"), a("202", "Bog", 19900, "25"),
			a("301", "Krus", 9900, "25"), a("302", "Mulepose", 4900, "25"), a("303", "Postkort", 1500, "25"),
		}
	}
	return []kvitthttp.Article{
		a("101", "Kaffe", 3450, "12"), a("102", "Kanelbulle", 2525, "12"), a("103", "Te", 2900, "12"),
		a("104", "Smörgås", 6500, "12"), a("105", "Glass", 4500, "12"), a("106", "Läsk", 2200, "12"),
		a("107", "Vatten", 1800, "12"), a("201", "Tidning", 4900, "6"), a("202", "Bok", 19900, "6"),
		a("301", "Mugg", 12900, "25"), a("302", "Tygkasse", 4900, "25"), a("303", "Vykort", 1500, "25"),
	}
}

// bootstrapDK creates the Danish demo merchant, store and tills on first
// start. A till kept from an earlier start keeps its pairing as the user
// left it.
func (sb *sandbox) bootstrapDK(tx kvitt.Tx) error {
	if _, err := tx.GetMerchant(sandboxDKMerchant); err == nil {
		return nil
	} else if kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		return err
	}
	if err := tx.CreateMerchant(&kvitt.Merchant{ID: sandboxDKMerchant, Name: "Demobutikken ApS", OrgNr: "12345678", Country: "DK",
		Currency: kvitt.DKK, VATRates: kvitt.DefaultVATRates("DK")}); err != nil {
		return err
	}
	if err := tx.CreateShop(&kvitt.Shop{ID: sandboxDKStore, MerchantID: sandboxDKMerchant, Name: "Demobutikken",
		Address: "Strøget 1, 1160 København K"}); err != nil {
		return err
	}
	for _, t := range []*kvitt.Till{
		{ID: sandboxDKTill, StoreID: sandboxDKStore, Name: "Kasse 1", RegisterID: "KVITT-DEMO-DK-0001", MobilePayBeaconID: sandboxDKBeacon},
		{ID: sandboxDKTill2, StoreID: sandboxDKStore, Name: "Kasse 2", RegisterID: "KVITT-DEMO-DK-0002"},
	} {
		if _, err := tx.GetTill(t.ID); err == nil {
			continue // a configured till of that id wins
		}
		if err := tx.CreateTill(t); err != nil {
			return err
		}
	}
	return nil
}

// started runs the hooks that need the merchants and tills.
func (sb *sandbox) started(ctx context.Context, h *hub.Hub) error {
	for _, f := range sb.afterBootstrap {
		if err := f(ctx, h); err != nil {
			return err
		}
	}
	return nil
}
