package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

func init() {
	sandboxProviders = append(sandboxProviders, sandboxSwish)
	liveProviders = append(liveProviders, liveSwish)
}

// sandboxSwish runs the Merchant Swish Simulator with its own PKI, and an
// HTTPS listener for its callbacks (Swish calls back over https only), and
// registers the swish method against it with the merchant certificate.
func sandboxSwish(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cbSrv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := sb.callbacks.Load().(http.Handler); ok {
				h.ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{pki.ServerCertificate()}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go cbSrv.ServeTLS(ln, "", "")
	sb.closers = append(sb.closers, cbSrv.Close)

	sim, err := simswish.New(simswish.Options{PKI: pki, CallbackTLS: &tls.Config{RootCAs: pki.RootPool()}, CallbackDelay: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	sb.closers = append(sb.closers, sim.Close)
	client, err := swish.NewClient(swish.ClientConfig{BaseURL: sim.URL(), TLS: pki.ClientTLSConfig()})
	if err != nil {
		return err
	}
	secret, err := callbackSecret(ctx, h.Store, c.Data)
	if err != nil {
		return err
	}
	p, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: sim.PayeeAlias(), CallbackBaseURL: "https://" + ln.Addr().String(),
		CallbackSecret: secret, Message: "Demobutiken", Logger: logger})
	if err != nil {
		return err
	}
	h.Register(p, sim.Customer())
	logger.Info("sandbox swish", "api", sim.URL(), "callbacks", "https://"+ln.Addr().String())
	return nil
}

// liveSwish connects to Swish with the merchant certificate of the configuration.
func liveSwish(ctx context.Context, m *Main, publicURL string) error {
	c, h := &m.Config, m.hub
	sc := c.Swish
	if sc == nil {
		return nil
	}
	client, expiry, err := swish.NewClientFromFiles(swish.Files{BaseURL: sc.BaseURL, CertFile: sc.CertFile, KeyFile: sc.KeyFile,
		Password: sc.P12Password, CAFile: sc.CAFile})
	if err != nil {
		return fmt.Errorf("swish: %w", err)
	}
	secret, err := callbackSecret(ctx, h.Store, c.Data)
	if err != nil {
		return err
	}
	p, err := swish.NewProvider(swish.Config{Client: client, PayeeAlias: sc.PayeeAlias, CallbackBaseURL: sc.CallbackURL,
		CallbackSecret: secret, Message: sc.Message, Logger: m.logger})
	if err != nil {
		// Name the setting in the configuration file, not the adapter's field.
		field := kvitt.ErrorField(err)
		switch field {
		case "callback_base_url":
			return fmt.Errorf("config: swish.callback_url %q must be an absolute https URL: Swish calls back over https only, "+
				"so put a TLS-terminating reverse proxy with a public https address in front of kvitt (docs/configuration.md, \"Swish callbacks\")", sc.CallbackURL)
		case "payee_alias", "message":
			return fmt.Errorf("config: swish.%s %s", field, kvitt.ErrorMessage(err))
		}
		return fmt.Errorf("swish: %s %s", field, kvitt.ErrorMessage(err))
	}
	h.Register(p, nil)
	warnIn := 30 * 24 * time.Hour
	if sc.ExpiryWarnIn != "" {
		if warnIn, err = ParseDuration("swish.expiry_warning", sc.ExpiryWarnIn); err != nil {
			return err
		}
	}
	m.certExpiry.WithLabelValues("swish").Set(float64(expiry.Unix()))
	m.certs.Set("swish", expiry)
	m.warnings = append(m.warnings, func() []string {
		switch left := time.Until(expiry); {
		case left <= 0:
			return []string{fmt.Sprintf("the Swish certificate expired on %s: renew it (kvitt swish csr)", expiry.Format("2006-01-02"))}
		case left < warnIn:
			return []string{fmt.Sprintf("the Swish certificate expires on %s, in %d days: renew it (kvitt swish csr)", expiry.Format("2006-01-02"), int(left.Hours()/24))}
		}
		return nil
	})
	m.readyChecks = append(m.readyChecks, func() []string {
		if time.Now().After(expiry) {
			return []string{"swish: the merchant certificate has expired"}
		}
		return nil
	})
	return nil
}

// callbackSecret returns the secret that keys the callback URLs' tokens. It
// lives in the database, so that every node sharing it recognises every
// callback and a restart changes nothing. A data directory from before
// (callback.secret) hands its secret over, so callbacks of payments made
// then are still recognised.
func callbackSecret(ctx context.Context, store kvitt.Store, dir string) ([]byte, error) {
	init := kvitt.RandomToken(32)
	if b, err := os.ReadFile(filepath.Join(dir, "callback.secret")); err == nil && len(b) >= 32 {
		init = string(b)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var v string
	err := store.Update(ctx, func(tx kvitt.Tx) (err error) {
		v, err = tx.Setting("swish.callback_secret", init)
		return err
	})
	return []byte(v), err
}
