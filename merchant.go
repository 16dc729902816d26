package kvitt

import "time"

// Merchant is the legal entity that sells: its name and organisation number
// are printed on every receipt and registered with the control unit.
type Merchant struct {
	ID       string
	Name     string
	OrgNr    string // Swedish organisationsnummer, "5560997982"
	Country  string // ISO 3166 alpha-2: SE, NO, DK, FI
	Currency Currency
	// VATRates are the rates the merchant's sales may use, in basis points
	// (2500 = 25 %). Swedish control units take at most four.
	VATRates []int64
	Created  time.Time
}

// DefaultVATRates returns the VAT rates in force in a Nordic country, in basis points.
func DefaultVATRates(country string) []int64 {
	switch country {
	case "NO":
		return []int64{2500, 1500, 1200, 0}
	case "DK":
		return []int64{2500, 0}
	case "FI":
		return []int64{2550, 1400, 1000, 0}
	default: // SE
		return []int64{2500, 1200, 600, 0}
	}
}

// AllowsVAT reports whether rate (basis points) is one of the merchant's rates.
func (m *Merchant) AllowsVAT(rate int64) bool {
	for _, r := range m.VATRates {
		if r == rate {
			return true
		}
	}
	return false
}

// Shop is a store, a point of sale: its address is printed on receipts.
// (The name Store is kept for the persistence interface.)
type Shop struct {
	ID         string
	MerchantID string
	Name       string
	Address    string // street, postal code and town, one line
	Created    time.Time
}

// Till is one cash register (a PC till or a mobile POS device).
type Till struct {
	ID      string // short, chosen by the merchant: "1", "kassa-2"
	StoreID string
	Name    string
	// RegisterID is the register designation (tillverkningsnummer) registered
	// with Skatteverket and printed on every receipt.
	RegisterID string
	// ControlUnit names the control unit the till registers receipts with ("" = none configured).
	ControlUnit string
	// Terminal is the integrated card terminal, if any.
	Terminal *Terminal
	// MobilePayPosID is the PoS id MobilePay returned when the till's beacon was registered.
	MobilePayBeaconID string
	MobilePayPosID    string
	Created           time.Time
}

// Terminal is an integrated card terminal paired with a till.
type Terminal struct {
	POIID string `json:"poiid"` // the terminal's nexo POIID
	URL   string `json:"url"`   // where the terminal's nexo endpoint listens, "https://10.0.0.12:8443/nexo"
	// Tip enables "Extra": the customer enters the total (amount + tip) on the terminal.
	Tip bool `json:"tip"`
	// Profile is how the terminal behaves: "westpay" (the default: Login
	// required before a payment) or "adyen" (no Login; messages encrypted).
	Profile string `json:"profile,omitempty"`
	// Passphrase, KeyIdentifier and KeyVersion are the shared key that
	// protects the messages (Adyen's local Terminal API encryption); no
	// passphrase means the messages go in clear (inside TLS).
	Passphrase    string `json:"passphrase,omitempty"`
	KeyIdentifier string `json:"key_identifier,omitempty"`
	KeyVersion    int    `json:"key_version,omitempty"`
	// RootCAFile is a PEM file with the root (the vendor's terminal root)
	// that the terminal's TLS certificate must chain to; it replaces the
	// card section's ca_file for this terminal.
	RootCAFile string `json:"root_ca_file,omitempty"`
	// CertificateName is the name the terminal's certificate must carry
	// (its Common Name or a DNS name), checked instead of the URL's host:
	// terminals are reached by IP address but named after themselves.
	CertificateName string `json:"certificate_name,omitempty"`
	// Environment is Adyen's "test" or "live": with the adyen profile and
	// no CertificateName, the certificate must be named
	// <POIID>.<environment>.terminal.adyen.com.
	Environment string `json:"environment,omitempty"`
}

// Validate checks the merchant's texts, which are printed on every receipt:
// a name is required and no text may hold a control character (CheckText).
func (m *Merchant) Validate() error {
	if m.Name == "" {
		return FieldError("name", "is required")
	}
	return firstError(CheckText("id", m.ID), CheckText("name", m.Name), CheckText("org_nr", m.OrgNr), CheckText("country", m.Country))
}

// Validate checks the store's texts, which are printed on every receipt.
func (s *Shop) Validate() error {
	return firstError(CheckText("id", s.ID), CheckText("name", s.Name), CheckText("address", s.Address))
}

// Validate checks the till's texts: its id, name and register id are shown
// on displays and printed on every receipt.
func (t *Till) Validate() error {
	if t.ID == "" {
		return FieldError("id", "is required")
	}
	err := firstError(CheckText("id", t.ID), CheckText("name", t.Name), CheckText("register_id", t.RegisterID),
		CheckText("control_unit", t.ControlUnit))
	if err == nil && t.Terminal != nil {
		err = WithFieldPrefix("terminal", firstError(CheckText("poiid", t.Terminal.POIID), CheckText("url", t.Terminal.URL)))
	}
	return err
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
