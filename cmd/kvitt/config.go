package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/nexo"
)

// Config is kvitt's configuration: defaults, then a JSON file (--config),
// then flags. See docs/configuration.md.
type Config struct {
	Addr string `json:"addr"`
	Data string `json:"data"`
	// Database is a PostgreSQL URL (postgres://…) to keep the ledger in
	// PostgreSQL instead of the embedded SQLite file in Data.
	Database string `json:"database"`
	// Sandbox runs every provider's simulator in-process and points the adapters at them.
	Sandbox bool `json:"sandbox"`
	// PublicURL is how tills reach kvitt (for QR image links), default http://<addr>.
	PublicURL string `json:"public_url"`

	Merchant MerchantConfig `json:"merchant"`
	Tills    []TillConfig   `json:"tills"`

	// ControlUnits are the Swedish control units tills register receipts with, by name.
	ControlUnits map[string]ControlUnitConfig `json:"control_units"`
	Swish        *SwishConfig                 `json:"swish"`
	// Computop is Swish through the Computop Paygate (docs/computop.md).
	Computop *ComputopConfig `json:"computop"`
	// MobilePay is one sales unit of the Vipps MobilePay platform (docs/mobilepay.md).
	MobilePay *MobilePayConfig `json:"mobilepay"`
	// Svea is Svea Instore: back-office orders paid by an SMS link (docs/svea.md).
	Svea *SveaConfig `json:"svea"`
	// Card enables the integrated card terminals configured on the tills.
	Card *CardConfig `json:"card"`
}

// MerchantConfig describes the merchant created on first start.
type MerchantConfig struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	OrgNr    string      `json:"org_nr"`
	Country  string      `json:"country"`
	Currency string      `json:"currency"`
	Store    StoreConfig `json:"store"`
}

// StoreConfig is the point of sale.
type StoreConfig struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

// TillConfig is a till, created on first start and kept in step after.
type TillConfig struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	RegisterID  string          `json:"register_id"`
	ControlUnit string          `json:"control_unit"`
	Terminal    *kvitt.Terminal `json:"terminal"`
}

func (tc TillConfig) till(storeID string) *kvitt.Till {
	var term *kvitt.Terminal
	if tc.Terminal != nil {
		t := *tc.Terminal
		term = &t
	}
	return &kvitt.Till{ID: tc.ID, StoreID: storeID, Name: tc.Name, RegisterID: tc.RegisterID, ControlUnit: tc.ControlUnit, Terminal: term}
}

// ControlUnitConfig is a cloud control unit reached over mutual TLS.
type ControlUnitConfig struct {
	URL      string `json:"url"`
	CertFile string `json:"cert_file"` // client certificate chain (PEM)
	KeyFile  string `json:"key_file"`
	CAFile   string `json:"ca_file"` // CA bundle to trust (PEM); system roots when empty
}

// SwishConfig is the Swish Commerce API connection.
type SwishConfig struct {
	BaseURL      string `json:"base_url"`    // https://cpc.getswish.net/swish-cpcapi/api/
	PayeeAlias   string `json:"payee_alias"` // the merchant's Swish number, 123xxxxxxx
	CertFile     string `json:"cert_file"`   // PEM chain with key, or PKCS#12 (.p12/.pfx)
	KeyFile      string `json:"key_file"`
	P12Password  string `json:"p12_password"`
	CAFile       string `json:"ca_file"`
	CallbackURL  string `json:"callback_url"` // public https base URL Swish calls back, e.g. https://pay.example.se
	Message      string `json:"message"`
	ExpiryWarnIn string `json:"expiry_warning"` // duration before expiry to warn (ParseDuration: "30d", "720h"), default 30d
}

// CardConfig configures the card terminal connection.
type CardConfig struct {
	CAFile string `json:"ca_file"` // CA that signed the terminals' certificates
	SaleID string `json:"sale_id"` // the till software's nexo SaleID
}

// DefaultConfig is the sandbox of the contract: ./kvitt-data, 127.0.0.1:8080,
// a demo merchant with till 1.
func DefaultConfig() Config {
	return Config{
		Addr:    "127.0.0.1:8080",
		Data:    "kvitt-data",
		Sandbox: true,
		Merchant: MerchantConfig{ID: "demo", Name: "Demobutiken AB", OrgNr: "5566778899", Country: "SE", Currency: "SEK",
			Store: StoreConfig{ID: "demo-store", Name: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm"}},
		Tills: []TillConfig{{ID: "1", Name: "Kassa 1", RegisterID: "KVITT-DEMO-0001"}},
	}
}

// LoadConfig reads a JSON config file over the defaults. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("config: database must be a postgres:// URL")
	}
	if c.Addr == "" || c.Data == "" {
		return fmt.Errorf("config: addr and data are required")
	}
	m := c.Merchant
	if m.ID == "" || m.Name == "" || m.Store.ID == "" {
		return fmt.Errorf("config: merchant.id, merchant.name and merchant.store.id are required")
	}
	if !kvitt.Currency(m.Currency).Valid() {
		return fmt.Errorf("config: merchant.currency %q is not supported", m.Currency)
	}
	// Every text here is printed on receipts and shown on displays.
	if err := (&kvitt.Merchant{ID: m.ID, Name: m.Name, OrgNr: m.OrgNr, Country: m.Country}).Validate(); err != nil {
		return configError(kvitt.WithFieldPrefix("merchant", err))
	}
	if err := (&kvitt.Shop{ID: m.Store.ID, Name: m.Store.Name, Address: m.Store.Address}).Validate(); err != nil {
		return configError(kvitt.WithFieldPrefix("merchant.store", err))
	}
	seen := map[string]bool{}
	for i, t := range c.Tills {
		if t.ID == "" || seen[t.ID] {
			return fmt.Errorf("config: tills[%d].id is empty or repeated", i)
		}
		if err := t.till(m.Store.ID).Validate(); err != nil {
			return configError(kvitt.WithFieldPrefix(fmt.Sprintf("tills[%d]", i), err))
		}
		if term := t.Terminal; term != nil {
			switch term.Profile {
			case "", "westpay", "adyen":
			default:
				return fmt.Errorf("config: tills[%d].terminal.profile %q is not a terminal profile (westpay, adyen)", i, term.Profile)
			}
			if term.Profile == "adyen" && !c.Sandbox && (term.Passphrase == "" || term.KeyIdentifier == "" || term.KeyVersion == 0) {
				return fmt.Errorf("config: tills[%d].terminal: an Adyen terminal takes only encrypted messages in live use: "+
					"set passphrase, key_identifier and key_version as in the terminal's settings", i)
			}
			if term.Environment != "" && term.Environment != "test" && term.Environment != "live" {
				return fmt.Errorf("config: tills[%d].terminal.environment %q is test or live (Adyen's terminal certificate is named <poiid>.<environment>.terminal.adyen.com)", i, term.Environment)
			}
			if err := kvitt.CheckText("certificate_name", term.CertificateName); err != nil || strings.ContainsAny(term.CertificateName, " /:") {
				return fmt.Errorf("config: tills[%d].terminal.certificate_name %q is not a certificate name", i, term.CertificateName)
			}
			if term.RootCAFile != "" {
				if _, err := nexo.LoadRoots(term.RootCAFile); err != nil {
					return fmt.Errorf("config: tills[%d].terminal.root_ca_file: %v", i, err)
				}
			}
		}
		seen[t.ID] = true
		if t.ControlUnit != "" && m.Country != "SE" {
			// The control unit (kontrollenhet) is Swedish law (SKVFS 2014:9):
			// a till elsewhere keeps its serials and journal without one.
			return fmt.Errorf("config: tills[%d].control_unit: only Swedish tills register receipts with a control unit; merchant.country is %q", i, m.Country)
		}
		if t.ControlUnit != "" && !c.Sandbox {
			if _, ok := c.ControlUnits[t.ControlUnit]; !ok {
				return fmt.Errorf("config: tills[%d].control_unit %q is not in control_units", i, t.ControlUnit)
			}
		}
	}
	if c.Swish != nil && c.Swish.ExpiryWarnIn != "" {
		if _, err := ParseDuration("swish.expiry_warning", c.Swish.ExpiryWarnIn); err != nil {
			return err
		}
	}
	if !c.Sandbox && c.Swish != nil && (c.Swish.BaseURL == "" || c.Swish.PayeeAlias == "" || c.Swish.CertFile == "" || c.Swish.CallbackURL == "") {
		return fmt.Errorf("config: swish needs base_url, payee_alias, cert_file and callback_url")
	}
	if err := c.MobilePay.validate(); err != nil {
		return err
	}
	return nil
}

// configError says which setting breaks which rule.
func configError(err error) error {
	return fmt.Errorf("config: %s %s", kvitt.ErrorField(err), kvitt.ErrorMessage(err))
}

// ParseDuration reads a duration of the configuration (key names it in the
// error): Go's syntax ("720h", "1h30m", "90s") with days added: "30d",
// "1.5d", "1d12h". A day is 24 hours. Durations are never negative.
func ParseDuration(key, s string) (time.Duration, error) {
	fail := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("config: %s %q %s: write a duration such as 30d, 720h or 1d12h (units d, h, m, s, ms)", key, s, why)
	}
	rest := strings.TrimPrefix(s, "+")
	switch {
	case rest == "":
		return fail("is empty")
	case strings.HasPrefix(rest, "-"):
		return fail("is negative")
	case rest == "0":
		return 0, nil
	}
	var total time.Duration
	for rest != "" {
		// One number and its unit: digits and a dot, then letters.
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return fail("is not a duration")
		}
		var d time.Duration
		if unit == "d" {
			h, err := time.ParseDuration(num + "h")
			if err != nil || h > math.MaxInt64/24 {
				return fail("is not a duration")
			}
			d = 24 * h
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return fail("is not a duration")
			}
		}
		if total > math.MaxInt64-d {
			return fail("is too long")
		}
		total += d
	}
	return total, nil
}
