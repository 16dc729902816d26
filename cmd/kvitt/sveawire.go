package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt/hub"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

// Svea Instore (seed 004): back-office orders paid by a link Svea sends by
// SMS. In the sandbox the Instore simulator runs in-process; live, the
// configuration's "svea" section names the Instore account (docs/svea.md).

func init() {
	sandboxProviders = append(sandboxProviders, sandboxSvea)
	liveProviders = append(liveProviders, func(ctx context.Context, m *Main, publicURL string) error {
		return liveSvea(ctx, m, sveaSection(&m.Config), publicURL)
	})
}

// SveaConfig is the Svea Instore account (the "svea" section).
type SveaConfig struct {
	// BaseURL is the Instore API: https://webpayinstoreapi.svea.com
	// (default), or https://webpayinstoreapistage.svea.com for Svea's stage.
	BaseURL string `json:"base_url"`
	// MerchantID and Password are the Instore account's Basic auth
	// credentials (a separate account from a web shop's Checkout).
	// PasswordEnv names an environment variable to read the password from.
	MerchantID  string `json:"merchant_id"`
	Password    string `json:"password"`
	PasswordEnv string `json:"password_env"`
	// Country is the account's country (default: the merchant's).
	Country string `json:"country"`
	// TermsURI is the merchant's terms, shown in Svea's checkout (required).
	TermsURI string `json:"terms_uri"`
	// CallbackURL is kvitt's public https base URL Svea calls back
	// (default public_url); "" with no public_url: polling only.
	CallbackURL string `json:"callback_url"`
	// LinkLifetime is how long a link is valid (ParseDuration: "48h", "2d"); default 48h.
	LinkLifetime string `json:"link_lifetime"`
	// PollInterval is how often an order waiting for the customer is asked
	// about, in case a callback is lost (default 30s; at least 5s).
	PollInterval string `json:"poll_interval"`
	// DeferredDelivery leaves orders undelivered at Svea (default false).
	DeferredDelivery bool `json:"deferred_delivery"`
	// RequireBankID false lets customers complete without BankID (Svea's default is true).
	RequireBankID *bool  `json:"require_bankid"`
	MerchantName  string `json:"merchant_name"`
	// MerchantRef is the kvitt merchant that owns orders (default: the configured merchant).
	MerchantRef string `json:"merchant"`
	// Svea's Payment Admin API delivers and annuls paid orders and reads
	// credits back. AdminBaseURL: https://paymentadminapi.svea.com
	// (default; https://paymentadminapistage.svea.com when base_url is
	// Svea's stage). AdminMerchantID defaults to merchant_id (Svea's
	// WooCommerce plugin uses the Instore merchant id); AdminSecret (or
	// AdminSecretEnv) is the Instore Payment Admin secret from Svea. No
	// secret: deliver and annul are refused, saying what to set.
	AdminBaseURL    string `json:"admin_base_url"`
	AdminMerchantID string `json:"admin_merchant_id"`
	AdminSecret     string `json:"admin_secret"`
	AdminSecretEnv  string `json:"admin_secret_env"`
}

// sveaSection returns the configuration's "svea" section, nil if absent.
// It reads the field by name so that this file builds before Config has it.
// TODO: once cmd/kvitt/config.go has the field Svea (type *SveaConfig,
// JSON key "svea"), replace the body with: return c.Svea
func sveaSection(c *Config) *SveaConfig { return c.Svea }

// sandboxSvea runs the Instore simulator and registers Svea Instore
// against it; its callbacks come to kvitt's own API (publicURL).
func sandboxSvea(ctx context.Context, sb *sandbox, c *Config, h *hub.Hub, publicURL string, logger *slog.Logger) error {
	country := c.Merchant.Country
	if country == "" {
		country = "SE"
	}
	sim, err := simsvea.New(simsvea.Options{CountryCode: country})
	if err != nil {
		return err
	}
	sb.closers = append(sb.closers, sim.Close)
	// Deferred delivery, so that deliver and annul (Payment Admin) can be
	// tried in the sandbox: Svea leaves paid orders undelivered.
	p, err := svea.NewProvider(svea.Config{
		Client:      &svea.Client{BaseURL: sim.URL(), MerchantID: sim.MerchantID(), Password: sim.Password(), HTTP: sim.HTTPClient()},
		Admin:       &svea.AdminClient{BaseURL: sim.AdminURL(), MerchantID: sim.AdminMerchantID(), Secret: sim.AdminSecret(), HTTP: sim.HTTPClient()},
		CountryCode: country, TermsURI: publicURL + "/terms", CallbackBaseURL: publicURL, MerchantName: c.Merchant.Name,
		DeferredDelivery: true,
	})
	if err != nil {
		return err
	}
	h.RegisterOrderProvider(p, hub.OrderOptions{MerchantID: c.Merchant.ID, Customer: sim.Customer(), PollInterval: 10 * time.Second})
	logger.Info("sandbox svea", "api", sim.URL(), "payment_admin", sim.AdminURL(), "sms_outbox", sim.URL()+"/sim/sms")
	return nil
}

// liveSvea connects the configured Instore account (nil: not configured).
func liveSvea(ctx context.Context, m *Main, sc *SveaConfig, publicURL string) error {
	if sc == nil {
		return nil
	}
	password := sc.Password
	if sc.PasswordEnv != "" {
		password = os.Getenv(sc.PasswordEnv)
	}
	if sc.MerchantID == "" || password == "" {
		return fmt.Errorf("config: svea: merchant_id and password (or password_env) are required")
	}
	base := sc.BaseURL
	if base == "" {
		base = svea.ProductionURL
	}
	var lifetime, poll time.Duration
	var err error
	if sc.LinkLifetime != "" {
		if lifetime, err = ParseDuration("svea.link_lifetime", sc.LinkLifetime); err != nil {
			return err
		}
	}
	if sc.PollInterval != "" {
		if poll, err = ParseDuration("svea.poll_interval", sc.PollInterval); err != nil {
			return err
		}
	}
	country := sc.Country
	if country == "" {
		country = m.Config.Merchant.Country
	}
	cb := sc.CallbackURL
	if cb == "" {
		cb = m.Config.PublicURL
	}
	admin, err := sveaAdmin(sc, base)
	if err != nil {
		return err
	}
	if admin == nil {
		m.logger.Warn("svea: no admin_secret: paid orders cannot be delivered or annulled from kvitt (Svea's Payment Admin)")
	}
	p, err := svea.NewProvider(svea.Config{
		Client:      &svea.Client{BaseURL: base, MerchantID: sc.MerchantID, Password: password, HTTP: &http.Client{Timeout: 30 * time.Second}},
		Admin:       admin,
		CountryCode: country, TermsURI: sc.TermsURI, CallbackBaseURL: cb, LinkLifetime: lifetime,
		DeferredDelivery: sc.DeferredDelivery, RequireElectronicID: sc.RequireBankID, MerchantName: sc.MerchantName,
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	owner := sc.MerchantRef
	if owner == "" {
		owner = m.Config.Merchant.ID
	}
	m.hub.RegisterOrderProvider(p, hub.OrderOptions{MerchantID: owner, PollInterval: poll})
	if cb == "" {
		m.logger.Warn("svea: no callback_url or public_url: orders are found paid by polling only")
	}
	return nil
}

// sveaAdmin is the Payment Admin client of the svea section (nil: no secret configured).
func sveaAdmin(sc *SveaConfig, instoreBase string) (*svea.AdminClient, error) {
	secret := sc.AdminSecret
	if sc.AdminSecretEnv != "" {
		secret = os.Getenv(sc.AdminSecretEnv)
		if secret == "" {
			return nil, fmt.Errorf("config: svea.admin_secret_env: the environment variable %s is empty", sc.AdminSecretEnv)
		}
	}
	if secret == "" {
		if sc.AdminMerchantID != "" || sc.AdminBaseURL != "" {
			return nil, fmt.Errorf("config: svea: admin_merchant_id and admin_base_url need admin_secret (or admin_secret_env): the Instore Payment Admin secret from Svea")
		}
		return nil, nil
	}
	base := sc.AdminBaseURL
	if base == "" {
		base = svea.AdminProductionURL
		if strings.TrimRight(instoreBase, "/") == svea.StageURL {
			base = svea.AdminStageURL
		}
	}
	if !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("config: svea.admin_base_url %q must be an https URL", base)
	}
	id := sc.AdminMerchantID
	if id == "" {
		id = sc.MerchantID
	}
	return &svea.AdminClient{BaseURL: base, MerchantID: id, Secret: secret, HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}
