package main

import (
	"context"
	"log/slog"

	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/manualswish"
)

// Manual Swish (seed 000): the customer swishes to the store's number by
// hand and the cashier confirms it after seeing it in the customer's app.
// It calls no one, so it is the same in the sandbox and live, and needs no
// configuration; it takes SEK only, so only Swedish tills show it.
func init() {
	sandboxProviders = append(sandboxProviders, func(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
		h.Register(manualswish.Provider{}, nil)
		return nil
	})
	liveProviders = append(liveProviders, func(ctx context.Context, m *Main, publicURL string) error {
		m.hub.Register(manualswish.Provider{}, nil)
		return nil
	})
}
