package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/cash"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/internal/sqlstore"
	"github.com/kvitt-hub/kvitt/postgres"
	"github.com/kvitt-hub/kvitt/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

// Main is the running service: "kvitt serve".
type Main struct {
	Config Config
	// Addr is where the API listens once Run has returned (with port 0 resolved).
	Addr string

	getenv         func(string) string
	stdout, stderr io.Writer
	logger         *slog.Logger

	db       *sqlstore.DB
	hub      *hub.Hub
	server   *http.Server
	ln       net.Listener
	sandbox  *sandbox
	cancel   context.CancelFunc
	workerWG chan struct{}
	closers  []func() error

	// registry holds the metrics; certExpiry is a provider certificate's
	// expiry (Unix time), certs each loaded certificate's, exported as the
	// seconds left.
	registry   *prometheus.Registry
	certExpiry *prometheus.GaugeVec
	certs      *kvitthttp.Certificates
	// readyChecks fail /readyz; warnings show there without failing it.
	readyChecks []func() []string
	warnings    []func() []string
	// health records the last real outcome of each control unit, provider
	// and card terminal: a failure that stops receipts or money fails
	// /readyz, any other is a warning there.
	health *hub.Health
}

// NewMain returns a Main with the defaults of the contract.
func NewMain(getenv func(string) string, stdout, stderr io.Writer) *Main {
	return &Main{Config: DefaultConfig(), getenv: getenv, stdout: stdout, stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
}

// ParseFlags reads the config file (if any) and then the flags, which win.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.stderr)
	configPath := fs.String("config", "", "JSON configuration file (see docs/configuration.md)")
	data := fs.String("data", "", "data directory (default ./kvitt-data)")
	addr := fs.String("addr", "", "HTTP listen address (default 127.0.0.1:8080)")
	live := fs.Bool("live", false, "live mode: real providers from the config file, no simulators")
	database := fs.String("database", "", "PostgreSQL URL (postgres://…); default: SQLite in the data directory")
	logFormat := fs.String("log-format", "", "text (default) or json, one object per line ($KVITT_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *logFormat == "" {
		*logFormat = m.getenv("KVITT_LOG_FORMAT")
	}
	switch *logFormat {
	case "", "text":
	case "json":
		m.logger = slog.New(slog.NewJSONHandler(m.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	default:
		return fmt.Errorf("serve: --log-format %q: use text or json", *logFormat)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if *configPath != "" {
		c, err := LoadConfig(*configPath)
		if err != nil {
			return err
		}
		m.Config = c
	}
	if *data != "" {
		m.Config.Data = *data
	}
	if *addr != "" {
		m.Config.Addr = *addr
	}
	if *live {
		m.Config.Sandbox = false
	}
	if *database != "" {
		m.Config.Database = *database
	}
	if env := m.getenv("KVITT_DATABASE"); env != "" && m.Config.Database == "" {
		m.Config.Database = env
	}
	return m.Config.Validate()
}

// Run opens the store, starts the simulators (sandbox), the job worker and
// the HTTP server, and returns once kvitt takes requests.
func (m *Main) Run(ctx context.Context) error {
	start := time.Now()
	c := &m.Config
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	m.db = db
	m.registry = prometheus.NewRegistry()
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kvitt_certificate_expiry_timestamp_seconds",
		Help: "When a provider's client certificate expires (Unix time)."}, []string{"provider"})
	m.certs = &kvitthttp.Certificates{}
	m.registry.MustRegister(m.certExpiry, m.certs, kvitthttp.JobsCollector(db, m.logger))
	m.hub = hub.New(db, m.logger)
	m.hub.Sandbox = c.Sandbox
	m.hub.Register(cash.Provider{}, nil)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", c.Addr, err)
	}
	m.ln = ln
	m.Addr = ln.Addr().String()
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = "http://" + m.Addr
	}

	if c.Sandbox {
		sb, err := startSandbox(ctx, c, m.hub, publicURL, m.logger)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		m.sandbox = sb
		m.closers = append(m.closers, sb.Close)
	} else if err := m.configureLive(ctx, publicURL); err != nil {
		return err
	}
	m.health = hub.NewHealth(m.logger)
	m.hub.WatchHealth(m.health)
	m.readyChecks = append(m.readyChecks, m.health.Problems)
	m.warnings = append(m.warnings, m.health.Warnings)
	m.warnings = append(m.warnings, m.webhookWarnings)
	m.registry.MustRegister(kvitthttp.HealthCollector(m.health))
	if err := m.bootstrap(ctx); err != nil {
		return err
	}

	var adminHash []byte
	if k := m.getenv("KVITT_ADMIN_KEY"); k != "" {
		sum := sha256.Sum256([]byte(k))
		adminHash = sum[:]
	} else if err := m.ensureAdminKey(ctx); err != nil {
		return err
	}

	var api *kvitthttp.Server
	whoIs := func(r *http.Request) (kvitthttp.Principal, bool) { return api.WhoIs(r) }
	api = kvitthttp.NewServer(&kvitthttp.Server{Hub: m.hub, Store: db, Logger: m.logger, AdminKeyHash: adminHash,
		PublicURL: publicURL, Ready: m.ready, Warnings: m.currentWarnings, Registry: m.registry, UI: m.ui(whoIs),
		SwishCert: newSwishCertAPI(m), Providers: providerSettings{c}})
	var demoPassword string
	if c.Sandbox {
		if demoPassword, err = m.ensureDemoUser(ctx); err != nil {
			return err
		}
	}
	if m.sandbox != nil {
		m.sandbox.callbacks.Store(http.Handler(api))
	}
	for _, w := range m.currentWarnings(ctx) {
		m.logger.Warn(w)
	}
	m.server = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}

	wctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.workerWG = make(chan struct{})
	go func() {
		defer close(m.workerWG)
		m.hub.RunWorker(wctx, kvitt.NewID("worker"))
	}()
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.logger.Error("http server", "err", err)
		}
	}()
	mode := "live"
	if c.Sandbox {
		mode = "sandbox"
	}
	m.logger.Info("kvitt is running", "url", publicURL, "mode", mode, "data", c.Data, "startup", time.Since(start).Round(time.Millisecond))
	if c.Sandbox {
		signIn := "user " + demoUser + ", password " + demoPassword
		if demoPassword == "" {
			signIn = "user " + demoUser + " (its password file demo-user.txt was removed; make a user with POST /v1/users)"
		}
		fmt.Fprintf(m.stdout, "\nkvitt sandbox: open %s and sign in\n  sign in:          %s\n"+
			"  till 1:           %s/till/1\n  back office:      %s/admin/\n  customer display: %s/display/1 (with a display key: %s/display/1#key=<key>)\n"+
			"  card terminal:    %s/ui/terminal/screen\n  Danish till %s (DKK, MobilePay QR paired): %s/till/%s\n\n",
			publicURL, signIn, publicURL, publicURL, publicURL, publicURL, publicURL, sandboxDKTill, publicURL, sandboxDKTill)
	}
	return nil
}

// Close shuts down gracefully: in-flight requests finish, background
// provider calls are cancelled (their payments are recovered at next start),
// the worker stops and the store is closed.
func (m *Main) Close() error {
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		m.server.Shutdown(ctx)
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
		<-m.workerWG
	}
	if m.hub != nil {
		m.hub.Close()
	}
	var err error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if e := m.closers[i](); e != nil && err == nil {
			err = e
		}
	}
	if m.db != nil {
		if e := m.db.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (m *Main) ready(ctx context.Context) []string {
	var problems []string
	if err := m.db.Write.PingContext(ctx); err != nil {
		problems = append(problems, "database: "+err.Error())
	}
	for _, f := range m.readyChecks {
		problems = append(problems, f()...)
	}
	return problems
}

func (m *Main) currentWarnings(ctx context.Context) []string {
	var out []string
	for _, f := range m.warnings {
		out = append(out, f()...)
	}
	return out
}

// bootstrap creates the merchant, store and tills of the configuration on
// first start (the demo merchant with till 1 in sandbox mode, and the
// sandbox's Danish demo store with tills dk-1 and dk-2).
func (m *Main) bootstrap(ctx context.Context) error {
	err := m.db.Update(ctx, func(tx kvitt.Tx) error {
		// Nodes that start at once on an empty database take turns: the
		// second finds what the first made instead of failing on its key.
		if err := tx.Lock("bootstrap"); err != nil {
			return err
		}
		if err := m.bootstrapConfigured(tx); err != nil {
			return err
		}
		if m.sandbox != nil {
			return m.sandbox.bootstrap(tx)
		}
		return nil
	})
	if err != nil || m.sandbox == nil {
		return err
	}
	return m.sandbox.started(ctx, m.hub)
}

// bootstrapConfigured creates the configured merchant, store and tills.
func (m *Main) bootstrapConfigured(tx kvitt.Tx) error {
	mc := m.Config.Merchant
	if _, err := tx.GetMerchant(mc.ID); err == nil {
		return m.ensureTills(tx)
	}
	if err := tx.CreateMerchant(&kvitt.Merchant{ID: mc.ID, Name: mc.Name, OrgNr: mc.OrgNr, Country: mc.Country, Currency: kvitt.Currency(mc.Currency),
		VATRates: kvitt.DefaultVATRates(mc.Country)}); err != nil {
		return err
	}
	if err := tx.CreateShop(&kvitt.Shop{ID: mc.Store.ID, MerchantID: mc.ID, Name: mc.Store.Name, Address: mc.Store.Address}); err != nil {
		return err
	}
	return m.ensureTills(tx)
}

// ensureTills creates configured tills that do not exist yet and updates the
// provider settings (terminal, control unit) of those that do.
func (m *Main) ensureTills(tx kvitt.Tx) error {
	for _, tc := range m.Config.Tills {
		t := tc.till(m.Config.Merchant.Store.ID)
		if m.sandbox != nil {
			m.sandbox.adjustTill(t, m.Config.Merchant.Country)
		}
		old, err := tx.GetTill(t.ID)
		if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
			if err := tx.CreateTill(t); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		old.Name, old.RegisterID, old.ControlUnit, old.Terminal = t.Name, t.RegisterID, t.ControlUnit, t.Terminal
		if err := tx.UpdateTill(old); err != nil {
			return err
		}
	}
	return nil
}

// ensureAdminKey creates an admin API key on first start and prints it once.
func (m *Main) ensureAdminKey(ctx context.Context) error {
	var keys []*kvitt.APIKey
	if err := m.db.View(ctx, func(tx kvitt.Tx) (err error) { keys, err = tx.ListAPIKeys(); return err }); err != nil {
		return err
	}
	for _, k := range keys {
		if k.Scope == kvitt.ScopeAdmin && k.Revoked == nil {
			return nil
		}
	}
	_, secret, err := kvitthttp.CreateAPIKey(ctx, m.db, kvitt.ScopeAdmin, "", "first admin key")
	if err != nil {
		return err
	}
	fmt.Fprintf(m.stdout, "\nAdmin API key (shown once; keep it safe):\n\n    %s\n\n", secret)
	return nil
}

// openStore opens PostgreSQL when a database URL is configured, else the
// SQLite file in the data directory.
func openStore(ctx context.Context, c *Config) (*sqlstore.DB, error) {
	if c.Database != "" {
		return postgres.Open(ctx, c.Database)
	}
	return sqlite.Open(ctx, filepath.Join(c.Data, "kvitt.db"))
}
