package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/nexo"
	simnexo "github.com/kvitt-hub/kvitt/sim/nexo"
)

func init() {
	sandboxProviders = append(sandboxProviders, sandboxCard)
	liveProviders = append(liveProviders, liveCard)
}

// sandboxCard runs a simulated nexo terminal with tip ("Extra") on, pairs it
// with every configured till and registers the card method against it.
func sandboxCard(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
	term, err := simnexo.New(simnexo.Options{Tip: true})
	if err != nil {
		return err
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		return err
	}
	sb.closers = append(sb.closers, term.Close)
	sb.terminal = &kvitt.Terminal{POIID: term.POIID(), URL: term.URL(), Tip: true}
	sb.terminalScreen = term.ScreenURL()
	sb.terminalUI = term.Handler()
	h.Register(nexo.New(nexo.Config{RootCAs: term.CertPool()}), term.Customer())
	logger.Info("sandbox card terminal", "screen", term.ScreenURL())
	return nil
}

// liveCard registers the card method when a till has a terminal (POIID,
// URL, tip in its till configuration) or the configuration has a card
// section; the terminals' certificates are checked against card.ca_file, or
// the system's roots, unless a terminal names its own root_ca_file (the
// provider reads it, with certificate_name and environment, per terminal).
func liveCard(ctx context.Context, m *Main, publicURL string) error {
	c, h := &m.Config, m.hub
	anyTerminal := false
	for _, t := range c.Tills {
		anyTerminal = anyTerminal || t.Terminal != nil
	}
	if c.Card == nil && !anyTerminal {
		return nil
	}
	if c.Card == nil {
		c.Card = &CardConfig{}
	}
	cfg := nexo.Config{}
	if c.Card.CAFile != "" {
		pem, err := os.ReadFile(c.Card.CAFile)
		if err != nil {
			return fmt.Errorf("card: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("card: %s holds no PEM certificate", c.Card.CAFile)
		}
	}
	if c.Card.SaleID != "" {
		id := c.Card.SaleID
		cfg.SaleID = func(t *kvitt.Till) string { return id + "-" + t.ID }
	}
	h.Register(nexo.New(cfg), nil)
	return nil
}
