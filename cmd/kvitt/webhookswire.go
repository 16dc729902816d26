package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/kvitt-hub/kvitt/hub"
)

// Outgoing webhooks to the merchant's systems (issue 14, docs/webhooks.md):
// every node runs the dispatcher and delivery jobs, in the sandbox and live.
// Subscriptions are made through the API (POST /v1/webhooks); nothing is
// configured here.

func init() {
	sandboxProviders = append(sandboxProviders, func(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
		return h.RegisterWebhooks(ctx, hub.WebhookOptions{})
	})
	liveProviders = append(liveProviders, func(ctx context.Context, m *Main, publicURL string) error {
		return m.hub.RegisterWebhooks(ctx, hub.WebhookOptions{})
	})
}

// webhookWarnings lists, for /readyz, the webhooks kvitt disabled after
// their deliveries failed for the whole retry window (serve.go appends it
// to m.warnings).
func (m *Main) webhookWarnings() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.hub.WebhookWarnings(ctx)
}
