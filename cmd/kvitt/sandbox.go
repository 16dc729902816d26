package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/controlunit"
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

// bootstrap creates the Danish demo merchant, store and tills on first
// start. A till kept from an earlier start keeps its pairing as the user
// left it.
func (sb *sandbox) bootstrap(tx kvitt.Tx) error {
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
