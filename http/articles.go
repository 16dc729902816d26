package http

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

// Articles and quick buttons: what a till's screen offers.
//
// A store's articles (the till's article grid) are kept as one JSON
// setting per store, replaced as a whole by PUT /v1/stores/{id}/articles;
// a till's quick buttons (the order of its payment method buttons) are one
// setting per till. Both are read by the till's screen through
// GET /v1/tills/{id}/articles and GET /v1/tills/{id}.

// Limits of an article list.
const (
	MaxArticles    = 500
	MaxArticleName = 40
)

// Article is one article of a store's grid, as the API shows it.
type Article struct {
	ArticleNumber string `json:"article_number,omitempty"`
	Name          string `json:"name"`
	// Price is the unit price incl. VAT in minor units.
	Price int64 `json:"price"`
	// VATRate is in percent (25, 12, 25.5).
	VATRate json.Number `json:"vat_rate"`
}

type articleRequest struct {
	ArticleNumber string          `json:"article_number"`
	Name          string          `json:"name"`
	Price         json.RawMessage `json:"price"`
	VATRate       number          `json:"vat_rate"`
}

type articleList []articleRequest

func (l *articleList) UnmarshalJSON(b []byte) (err error) {
	*l, err = decodeList[articleRequest](b, "articles")
	return err
}

type articlesRequest struct {
	Articles articleList `json:"articles"`
}

func articlesKey(storeID string) string    { return "articles:store:" + storeID }
func quickMethodsKey(tillID string) string { return "quick_methods:till:" + tillID }

// validArticles checks a list against the merchant's VAT rates; errors name
// the field ("articles[3].price").
func validArticles(req articlesRequest, m *kvitt.Merchant) ([]Article, error) {
	if len(req.Articles) > MaxArticles {
		return nil, kvitt.FieldError("articles", "has %d articles; at most %d", len(req.Articles), MaxArticles)
	}
	out := make([]Article, 0, len(req.Articles))
	for i, a := range req.Articles {
		prefix := "articles[" + itoa(i) + "]"
		err := func() error {
			if a.Name == "" {
				return kvitt.FieldError("name", "is required")
			}
			if n := utf8.RuneCountInString(a.Name); n > MaxArticleName {
				return kvitt.FieldError("name", "is %d characters; at most %d", n, MaxArticleName)
			}
			if err := kvitt.CheckText("name", a.Name); err != nil {
				return err
			}
			if n := utf8.RuneCountInString(a.ArticleNumber); n > 40 {
				return kvitt.FieldError("article_number", "is %d characters; at most 40", n)
			}
			if err := kvitt.CheckText("article_number", a.ArticleNumber); err != nil {
				return err
			}
			price, ok, err := minorUnits(a.Price, "price")
			if err != nil {
				return err
			}
			if !ok {
				return kvitt.FieldError("price", "is required (minor units, including VAT)")
			}
			if price < 0 || price > kvitt.MaxAmount {
				return kvitt.FieldError("price", "must be 0 or more, at most %s %s (an integer in minor units, including VAT)", kvitt.FormatAmount(kvitt.MaxAmount, m.Currency), m.Currency)
			}
			if a.VATRate == "" {
				return kvitt.FieldError("vat_rate", "is required (percent, e.g. 25)")
			}
			bp, err := decimal(a.VATRate, "vat_rate", 2)
			if err != nil {
				return err
			}
			if !m.AllowsVAT(bp) {
				return kvitt.FieldError("vat_rate", "%s %% is not a VAT rate of %s (%s)", kvitt.FormatRate(bp), m.Country, rateList(m.VATRates))
			}
			out = append(out, Article{ArticleNumber: a.ArticleNumber, Name: a.Name, Price: price, VATRate: json.Number(kvitt.FormatRate(bp))})
			return nil
		}()
		if err != nil {
			return nil, kvitt.WithFieldPrefix(prefix, err)
		}
	}
	return out, nil
}

func rateList(bps []int64) string {
	s := ""
	for i, r := range bps {
		if i > 0 {
			s += ", "
		}
		s += kvitt.FormatRate(r)
	}
	return s
}

// readArticles returns the store's articles (none when never set).
func readArticles(tx kvitt.Tx, storeID string) ([]Article, error) {
	v, err := tx.GetSetting(articlesKey(storeID))
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return []Article{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Article{}
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, kvitt.Errorf(kvitt.EINTERNAL, "the articles of store %s are not readable: %v", storeID, err)
	}
	return out, nil
}

// InitArticles gives a store its articles unless it has some already (an
// article list set earlier, even an empty one, is kept): the sandbox's demo
// articles. They are validated as PUT /v1/stores/{id}/articles validates.
func InitArticles(tx kvitt.Tx, storeID string, articles []Article) error {
	shop, err := tx.GetShop(storeID)
	if err != nil {
		return err
	}
	m, err := tx.GetMerchant(shop.MerchantID)
	if err != nil {
		return err
	}
	b, err := json.Marshal(map[string]any{"articles": articles})
	if err != nil {
		return err
	}
	var req articlesRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return err
	}
	valid, err := validArticles(req, m)
	if err != nil {
		return err
	}
	b, err = json.Marshal(valid)
	if err != nil {
		return err
	}
	_, err = tx.Setting(articlesKey(storeID), string(b))
	return err
}

// handleTillArticles is GET /v1/tills/{id}/articles: the articles of the till's store.
func (s *Server) handleTillArticles(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice, kvitt.ScopeTill); err != nil {
		return err
	}
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	var t *kvitt.Till
	var arts []Article
	err = s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) {
		if t, err = tx.GetTill(id); err != nil {
			return err
		}
		arts, err = readArticles(tx, t.StoreID)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"till_id": t.ID, "store_id": t.StoreID, "articles": arts})
	return nil
}

// handleGetStoreArticles is GET /v1/stores/{id}/articles (admin, back office).
func (s *Server) handleGetStoreArticles(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	id := r.PathValue("id")
	var arts []Article
	err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) {
		if _, err = tx.GetShop(id); err != nil {
			return err
		}
		arts, err = readArticles(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"store_id": id, "articles": arts})
	return nil
}

// handlePutStoreArticles is PUT /v1/stores/{id}/articles (admin): replaces the store's articles.
func (s *Server) handlePutStoreArticles(w http.ResponseWriter, r *http.Request) error {
	var req articlesRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	if req.Articles == nil {
		return kvitt.FieldError("articles", "is required (an array; [] removes every article)")
	}
	id := r.PathValue("id")
	var arts []Article
	err := s.Store.Update(r.Context(), func(tx kvitt.Tx) error {
		shop, err := tx.GetShop(id)
		if err != nil {
			return err
		}
		m, err := tx.GetMerchant(shop.MerchantID)
		if err != nil {
			return err
		}
		if arts, err = validArticles(req, m); err != nil {
			return err
		}
		b, err := json.Marshal(arts)
		if err != nil {
			return err
		}
		return tx.PutSetting(articlesKey(id), string(b))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"store_id": id, "articles": arts})
	return nil
}

// Payment methods of a till.

type tillMethodJSON struct {
	Method string `json:"method"`
	// WholeAmountOnly: the method takes the whole sale alone (no split tender).
	WholeAmountOnly bool `json:"whole_amount_only,omitempty"`
	// CashierConfirms: the payment needs "confirmed": true (manual Swish).
	CashierConfirms bool `json:"cashier_confirms,omitempty"`
}

// methodOrder is the default order of a till's payment buttons.
var methodOrder = []string{"cash", "card", "swish", "swish_manual", "mobilepay", "computop"}

// tillMethods lists the methods the hub has registered that take payments
// at the till: in the merchant's currency (the provider's own check), and
// card only with a terminal paired, less those disabled at the till
// (disabled: PUT /v1/tills/{id}/disabled-methods). quick orders them.
func (s *Server) tillMethods(t *kvitt.Till, m *kvitt.Merchant, quick, disabled []string) []tillMethodJSON {
	var names []string
	for _, name := range s.Hub.Methods() {
		prov, ok := s.Hub.Provider(name)
		if !ok || slices.Contains(disabled, name) {
			continue
		}
		if name == "card" && t.Terminal == nil {
			continue
		}
		if v, ok := prov.(kvitt.PaymentValidator); ok {
			probe := &kvitt.Payment{Method: name, Currency: m.Currency, Amount: 10000, TillID: t.ID, Provider: map[string]string{}}
			if err := v.ValidatePayment(probe); err != nil && kvitt.ErrorField(err) == "method" {
				continue // not in this currency
			}
		}
		names = append(names, name)
	}
	rank := func(n string) int {
		if i := slices.Index(quick, n); i >= 0 {
			return i
		}
		if i := slices.Index(methodOrder, n); i >= 0 {
			return len(quick) + i
		}
		return len(quick) + len(methodOrder)
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if a < b {
			return -1
		}
		return 1
	})
	out := make([]tillMethodJSON, 0, len(names))
	for _, n := range names {
		prov, _ := s.Hub.Provider(n)
		j := tillMethodJSON{Method: n}
		if w, ok := prov.(kvitt.WholeAmountOnly); ok && w.WholeAmountOnly() {
			j.WholeAmountOnly = true
		}
		if c, ok := prov.(interface{ CashierConfirms() bool }); ok && c.CashierConfirms() {
			j.CashierConfirms = true
		}
		out = append(out, j)
	}
	return out
}

// tillView is the till as GET /v1/tills/{id} shows it: with its currency,
// VAT rates and payment methods.
func (s *Server) tillView(ctx context.Context, t *kvitt.Till) tillJSON {
	j := toTillJSON(t)
	var m *kvitt.Merchant
	var quick, disabled []string
	err := s.Store.View(ctx, func(tx kvitt.Tx) error {
		shop, err := tx.GetShop(t.StoreID)
		if err != nil {
			return err
		}
		if m, err = tx.GetMerchant(shop.MerchantID); err != nil {
			return err
		}
		if quick, err = readQuickMethods(tx, t.ID); err != nil {
			return err
		}
		disabled, err = hub.DisabledMethods(tx, t.ID)
		return err
	})
	if err != nil {
		s.Logger.Warn("till view", "till", t.ID, "err", err)
		return j
	}
	j.Currency = string(m.Currency)
	for _, r := range m.VATRates {
		j.VATRates = append(j.VATRates, json.Number(kvitt.FormatRate(r)))
	}
	j.Methods = s.tillMethods(t, m, quick, disabled)
	j.QuickMethods = quick
	return j
}

func readQuickMethods(tx kvitt.Tx, tillID string) ([]string, error) {
	v, err := tx.GetSetting(quickMethodsKey(tillID))
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, kvitt.Errorf(kvitt.EINTERNAL, "the quick buttons of till %s are not readable: %v", tillID, err)
	}
	return out, nil
}

type quickMethodsRequest struct {
	Methods []string `json:"methods"`
}

// handlePutQuickMethods is PUT /v1/tills/{id}/quick-methods (admin): the
// payment methods whose buttons come first at the till, in this order (the
// others follow in kvitt's order). [] restores kvitt's order.
func (s *Server) handlePutQuickMethods(w http.ResponseWriter, r *http.Request) error {
	return s.putTillMethods(w, r, quickMethodsKey, "[] restores kvitt's order")
}

// handlePutDisabledMethods is PUT /v1/tills/{id}/disabled-methods
// (admin): the payment methods the till does not offer. They leave the
// till's methods (its buttons), and a payment by one of them at the till
// is refused (422 on method, hub.CreatePayment). [] enables every method.
func (s *Server) handlePutDisabledMethods(w http.ResponseWriter, r *http.Request) error {
	return s.putTillMethods(w, r, hub.DisabledMethodsKey, "[] enables every method")
}

// putTillMethods stores a till's list of methods (each a method of this
// server, each once) under key(till id) and answers the till.
func (s *Server) putTillMethods(w http.ResponseWriter, r *http.Request, key func(tillID string) string, empty string) error {
	var req quickMethodsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	if req.Methods == nil {
		return kvitt.FieldError("methods", "is required (an array of methods; %s)", empty)
	}
	known := s.Hub.Methods()
	for i, m := range req.Methods {
		field := "methods[" + itoa(i) + "]"
		if !slices.Contains(known, m) {
			slices.Sort(known)
			return kvitt.FieldError(field, "%q is not a payment method of this server (%s)", m, strings.Join(known, ", "))
		}
		if slices.Contains(req.Methods[:i], m) {
			return kvitt.FieldError(field, "%q is listed twice", m)
		}
	}
	id := r.PathValue("id")
	var t *kvitt.Till
	err := s.Store.Update(r.Context(), func(tx kvitt.Tx) (err error) {
		if t, err = tx.GetTill(id); err != nil {
			return err
		}
		b, err := json.Marshal(req.Methods)
		if err != nil {
			return err
		}
		return tx.PutSetting(key(id), string(b))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.tillView(r.Context(), t))
	return nil
}

// confirmedBy names who confirmed a payment by hand (manual Swish).
func confirmedBy(r *http.Request, confirmed bool) string {
	if !confirmed {
		return ""
	}
	return actor(r)
}
