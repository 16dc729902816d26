package http

import (
	"context"
	"net/http"
	"slices"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

// The back office's settings (issue 12; docs/backoffice.md): what the
// settings page reads in one request each. Changes go through the routes
// that own them (PUT /v1/tills/{id}/quick-methods and disabled-methods,
// PUT /v1/bookkeeping/stores/{id}/accounts, /v1/swish/…).

// methodSettingsJSON is GET /v1/settings/methods: the payment methods of
// this server and, per till, which it offers.
type methodSettingsJSON struct {
	// Methods are every method this server takes, in kvitt's button order.
	Methods []string                 `json:"methods"`
	Stores  []storeSettingsJSON      `json:"stores"`
	Tills   []tillMethodSettingsJSON `json:"tills"`
}

type storeSettingsJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	MerchantID string `json:"merchant_id"`
	Currency   string `json:"currency,omitempty"`
}

type tillMethodSettingsJSON struct {
	TillID   string `json:"till_id"`
	Name     string `json:"name,omitempty"`
	StoreID  string `json:"store_id"`
	Currency string `json:"currency,omitempty"`
	// Available are the methods the till can take when enabled (its
	// currency; card only with a terminal), in its button order.
	Available []string `json:"available"`
	// Offered are the till's buttons: Available less Disabled.
	Offered         []string `json:"offered"`
	QuickMethods    []string `json:"quick_methods"`
	DisabledMethods []string `json:"disabled_methods"`
}

// sortedMethods is the hub's methods in kvitt's order.
func (s *Server) sortedMethods() []string {
	ms := s.Hub.Methods()
	rank := func(n string) int {
		if i := slices.Index(methodOrder, n); i >= 0 {
			return i
		}
		return len(methodOrder)
	}
	slices.SortFunc(ms, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return ms
}

func methodNames(ms []tillMethodJSON) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Method)
	}
	return out
}

// handleMethodSettings is GET /v1/settings/methods (admin, back office).
func (s *Server) handleMethodSettings(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	out := methodSettingsJSON{Methods: s.sortedMethods(), Stores: []storeSettingsJSON{}, Tills: []tillMethodSettingsJSON{}}
	err := s.Store.View(r.Context(), func(tx kvitt.Tx) error {
		tills, err := tx.ListTills()
		if err != nil {
			return err
		}
		merchants := map[string]*kvitt.Merchant{}
		shops := map[string]*kvitt.Shop{}
		for _, t := range tills {
			shop, ok := shops[t.StoreID]
			if !ok {
				if shop, err = tx.GetShop(t.StoreID); err != nil {
					return err
				}
				shops[t.StoreID] = shop
				if merchants[shop.MerchantID] == nil {
					if merchants[shop.MerchantID], err = tx.GetMerchant(shop.MerchantID); err != nil {
						return err
					}
				}
				out.Stores = append(out.Stores, storeSettingsJSON{ID: shop.ID, Name: shop.Name, MerchantID: shop.MerchantID,
					Currency: string(merchants[shop.MerchantID].Currency)})
			}
			m := merchants[shop.MerchantID]
			quick, err := readQuickMethods(tx, t.ID)
			if err != nil {
				return err
			}
			disabled, err := hub.DisabledMethods(tx, t.ID)
			if err != nil {
				return err
			}
			j := tillMethodSettingsJSON{TillID: t.ID, Name: t.Name, StoreID: t.StoreID, Currency: string(m.Currency),
				Available:       methodNames(s.tillMethods(t, m, quick, nil)),
				Offered:         methodNames(s.tillMethods(t, m, quick, disabled)),
				QuickMethods:    nonNil(quick),
				DisabledMethods: nonNil(disabled)}
			out.Tills = append(out.Tills, j)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// ProviderSettings reports how the providers whose credentials live in
// the configuration file are set up (Computop, Svea), never their secrets.
type ProviderSettings interface {
	Providers(ctx context.Context) []ProviderStatus
}

// ProviderStatus is one provider's set-up as GET /v1/settings/providers
// shows it: whether it is configured, its merchant id and environment, and
// which secrets are set, never their values.
type ProviderStatus struct {
	// Provider is the configuration file's section: "computop", "svea".
	Provider   string `json:"provider"`
	Name       string `json:"name"`
	Configured bool   `json:"configured"`
	// Sandbox: the sandbox's simulator stands in for the provider.
	Sandbox    bool   `json:"sandbox"`
	MerchantID string `json:"merchant_id,omitempty"`
	// Environment is "live" (the provider's production host), "test" (its
	// test or stage host, or another) or "sandbox".
	Environment string `json:"environment,omitempty"`
	Host        string `json:"host,omitempty"`
	// Secrets name each secret setting and whether it has a value.
	Secrets []ProviderSecret `json:"secrets"`
	// Keys are the configuration file's keys of the section.
	Keys []string `json:"keys"`
	// Doc is the documentation of the section (docs/configuration.md, docs/svea.md…).
	Doc string `json:"doc"`
}

// ProviderSecret says whether a secret setting is set, and from where
// ("file" or "environment"); never its value.
type ProviderSecret struct {
	Key  string `json:"key"`
	Set  bool   `json:"set"`
	From string `json:"from,omitempty"`
}

type providerSettingsJSON struct {
	Providers []ProviderStatus `json:"providers"`
}

// handleProviderSettings is GET /v1/settings/providers (admin, back office).
func (s *Server) handleProviderSettings(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	out := providerSettingsJSON{Providers: []ProviderStatus{}}
	if s.Providers != nil {
		for _, p := range s.Providers.Providers(r.Context()) {
			if p.Secrets == nil {
				p.Secrets = []ProviderSecret{}
			}
			if p.Keys == nil {
				p.Keys = []string{}
			}
			out.Providers = append(out.Providers, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
