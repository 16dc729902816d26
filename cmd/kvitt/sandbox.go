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

// adjustTill points a configured till at the simulators: the simulated
// control unit, and the simulated card terminal.
func (sb *sandbox) adjustTill(t *kvitt.Till) {
	if t.ControlUnit == "" {
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
