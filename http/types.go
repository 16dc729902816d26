package http

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

var typeOfString = reflect.TypeOf("")

// Request bodies.

type saleRequest struct {
	TillID   flexString `json:"till_id"`
	Currency string     `json:"currency"`
	Lines    saleLines  `json:"lines"`
	Training bool       `json:"training"`
}

// saleLines and returnLineList decode their elements one by one, so that an
// error names the line's index (decodeList).
type saleLines []lineRequest

func (l *saleLines) UnmarshalJSON(b []byte) (err error) {
	*l, err = decodeList[lineRequest](b, "lines")
	return err
}

type returnLineList []returnLineRequest

func (l *returnLineList) UnmarshalJSON(b []byte) (err error) {
	*l, err = decodeList[returnLineRequest](b, "lines")
	return err
}

type lineRequest struct {
	ArticleNumber string `json:"article_number"`
	Name          string `json:"name"`
	Quantity      number `json:"quantity"`
	// UnitPrice and Discount are decoded here, not by encoding/json, so a
	// wrong type is reported with the line's index ("lines[1].unit_price").
	UnitPrice json.RawMessage `json:"unit_price"`
	VATRate   number          `json:"vat_rate"`
	Discount  json.RawMessage `json:"discount"`
}

func (r *saleRequest) toInput() (hub.SaleInput, error) {
	in := hub.SaleInput{TillID: string(r.TillID), Currency: kvitt.Currency(r.Currency), Training: r.Training}
	if r.Currency != "" && !in.Currency.Valid() {
		return in, kvitt.FieldError("currency", "%q is not a supported currency (SEK, NOK, DKK, EUR, ISK)", r.Currency)
	}
	for i, l := range r.Lines {
		prefix := "lines[" + itoa(i) + "]"
		q := l.Quantity
		if q == "" {
			q = "1"
		}
		qty, err := decimal(q, "quantity", 3)
		if err != nil {
			return in, kvitt.WithFieldPrefix(prefix, err)
		}
		price, ok, err := minorUnits(l.UnitPrice, "unit_price")
		if err != nil {
			return in, kvitt.WithFieldPrefix(prefix, err)
		}
		if !ok {
			return in, kvitt.WithFieldPrefix(prefix, kvitt.FieldError("unit_price", "is required (minor units, including VAT)"))
		}
		discount, _, err := minorUnits(l.Discount, "discount")
		if err != nil {
			return in, kvitt.WithFieldPrefix(prefix, err)
		}
		if l.VATRate == "" {
			return in, kvitt.WithFieldPrefix(prefix, kvitt.FieldError("vat_rate", "is required (percent, e.g. 25)"))
		}
		vat, err := decimal(l.VATRate, "vat_rate", 2)
		if err != nil {
			return in, kvitt.WithFieldPrefix(prefix, err)
		}
		in.Lines = append(in.Lines, kvitt.SaleLine{ArticleNumber: l.ArticleNumber, Name: l.Name, QuantityMilli: qty,
			UnitPrice: price, VATRate: vat, Discount: discount})
	}
	return in, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// minorUnits decodes a JSON integer amount; ok is false when it is absent or null.
func minorUnits(raw json.RawMessage, field string) (v int64, ok bool, err error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, false, nil
	}
	v, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		return 0, false, &kvitt.Error{Code: kvitt.EINVALID, Field: field, Message: "must be an integer in minor units (öre, cents), within ±9223372036854775807"}
	}
	return v, true, nil
}

type paymentRequest struct {
	Method     string `json:"method"`
	Amount     int64  `json:"amount"`
	Tendered   int64  `json:"tendered"`
	PayerAlias string `json:"payer_alias"`
	// Confirmed is the cashier's confirmation of a manual Swish payment.
	Confirmed bool `json:"confirmed"`
}

type refundRequest struct {
	Amount int64          `json:"amount"`
	Lines  returnLineList `json:"lines"`
}

type returnLineRequest struct {
	Line     *int   `json:"line"`
	Quantity number `json:"quantity"`
}

func (r *refundRequest) returnLines() ([]kvitt.ReturnLine, error) {
	var out []kvitt.ReturnLine
	for i, l := range r.Lines {
		prefix := "lines[" + itoa(i) + "]"
		if l.Line == nil {
			return nil, kvitt.WithFieldPrefix(prefix, kvitt.FieldError("line", "is required: the index of the sold line"))
		}
		q := l.Quantity
		if q == "" {
			q = "1"
		}
		qty, err := decimal(q, "quantity", 3)
		if err != nil {
			return nil, kvitt.WithFieldPrefix(prefix, err)
		}
		out = append(out, kvitt.ReturnLine{Line: *l.Line, QuantityMilli: qty})
	}
	return out, nil
}

type resolveRequest struct {
	State string `json:"state"`
	Note  string `json:"note"`
}

type sandboxRequest struct {
	Tip      int64  `json:"tip"`
	Scenario string `json:"scenario"`
}

// Responses.

type saleJSON struct {
	ID        string        `json:"id"`
	TillID    string        `json:"till_id"`
	Currency  string        `json:"currency"`
	State     string        `json:"state"`
	Training  bool          `json:"training,omitempty"`
	Lines     []lineJSON    `json:"lines"`
	Total     int64         `json:"total"`
	VAT       []vatJSON     `json:"vat"`
	Paid      *int64        `json:"paid,omitempty"`
	Due       *int64        `json:"due,omitempty"`
	Payments  []paymentJSON `json:"payments,omitempty"`
	ReceiptID string        `json:"receipt_id,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

type lineJSON struct {
	ArticleNumber string      `json:"article_number,omitempty"`
	Name          string      `json:"name"`
	Quantity      json.Number `json:"quantity"`
	UnitPrice     int64       `json:"unit_price"`
	VATRate       json.Number `json:"vat_rate"`
	Discount      int64       `json:"discount,omitempty"`
	Total         int64       `json:"total"`
}

type vatJSON struct {
	Rate  json.Number `json:"rate"`
	Gross int64       `json:"gross"`
	Net   int64       `json:"net"`
	VAT   int64       `json:"vat"`
}

func linesJSON(ls []kvitt.SaleLine) []lineJSON {
	out := make([]lineJSON, len(ls))
	for i, l := range ls {
		out[i] = lineJSON{l.ArticleNumber, l.Name, json.Number(kvitt.FormatQuantity(l.QuantityMilli)), l.UnitPrice,
			json.Number(kvitt.FormatRate(l.VATRate)), l.Discount, l.Total}
	}
	return out
}

func vatsJSON(vs []kvitt.VATTotal) []vatJSON {
	out := make([]vatJSON, len(vs))
	for i, v := range vs {
		out[i] = vatJSON{json.Number(kvitt.FormatRate(v.Rate)), v.Gross, v.Net, v.VAT}
	}
	return out
}

func toSaleJSON(s *kvitt.Sale) saleJSON {
	return saleJSON{ID: s.ID, TillID: s.TillID, Currency: string(s.Currency), State: string(s.State), Training: s.Training, Lines: linesJSON(s.Lines),
		Total: s.Total, VAT: vatsJSON(s.VAT), ReceiptID: s.ReceiptID, CreatedAt: s.Created, UpdatedAt: s.Updated}
}

func toSaleViewJSON(v *hub.SaleView, qrURL qrLinker, a audience) saleJSON {
	j := toSaleJSON(v.Sale)
	j.Paid, j.Due = &v.Paid, &v.Due
	for _, p := range v.Payments {
		j.Payments = append(j.Payments, toPaymentJSONFor(p, qrURL, a))
	}
	return j
}

// audience is who a payment is shown to: it decides which of the
// provider's data the payment JSON carries (docs/api.md, "Who sees what").
type audience int

const (
	// tillAudience: till keys, the till's displays (GET
	// /v1/tills/{id}/display, whatever the key) and the event stream. The
	// customer display runs on a till key in a shop, in view of customers:
	// the payer's phone number is masked to its last four digits, and
	// Swish's internal URL of the payment is left out.
	tillAudience audience = iota
	// backOfficeAudience: admin and back-office keys on the payment and
	// sale endpoints: the payer's number in full (to call the customer
	// back, to match a bank statement), and the provider's location.
	backOfficeAudience
)

// audienceOf is the audience of a request's principal.
func audienceOf(p Principal) audience {
	if p.Scope == kvitt.ScopeAdmin || p.Scope == kvitt.ScopeBackOffice {
		return backOfficeAudience
	}
	return tillAudience
}

// Provider data keys the payment JSON treats specially. Keys starting with
// "_" are the adapter's private bookkeeping and never shown.
const (
	// providerCallbackURL carries the callback's secret token: shown to no one.
	providerCallbackURL = "callback_url"
	// providerLocation is the provider's own URL of the payment: back office only.
	providerLocation = "location"
	// providerPayerAlias is the customer's phone number: masked for tills.
	providerPayerAlias = "payer_alias"
)

// maskAlias keeps the last four characters of a payer alias: "46701234567" → "*******4567".
func maskAlias(s string) string {
	r := []rune(s)
	keep := 4
	if len(r) <= keep {
		keep = 0
	}
	for i := range len(r) - keep {
		r[i] = '*'
	}
	return string(r)
}

type paymentJSON struct {
	ID         string          `json:"id"`
	SaleID     string          `json:"sale_id"`
	TillID     string          `json:"till_id"`
	Method     string          `json:"method"`
	Amount     int64           `json:"amount"`
	Currency   string          `json:"currency"`
	State      string          `json:"state"`
	Reference  string          `json:"reference"`
	Action     *kvitt.Action   `json:"action"`
	Tendered   int64           `json:"tendered,omitempty"`
	Change     int64           `json:"change,omitempty"`
	Rounding   int64           `json:"rounding,omitempty"`
	Tip        int64           `json:"tip,omitempty"`
	Card       *kvitt.CardData `json:"card,omitempty"`
	Refunded   int64           `json:"refunded"`
	Refundable int64           `json:"refundable"`
	ErrorCode  string          `json:"error_code,omitempty"`
	Message    string          `json:"message,omitempty"`
	// Attention, when set, says why a person must decide on the payment.
	Attention string            `json:"attention,omitempty"`
	Provider  map[string]string `json:"provider,omitempty"`
	Deadline  *time.Time        `json:"deadline,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// toPaymentJSON is the payment as a till sees it (tillAudience): the event
// stream's view, and the safe default.
func toPaymentJSON(p *kvitt.Payment, qrURL qrLinker) paymentJSON {
	return toPaymentJSONFor(p, qrURL, tillAudience)
}

// toPaymentJSONFor is the payment as audience a sees it.
// qrLinker returns the link to a payment's QR code in a format ("svg", "png").
type qrLinker func(p *kvitt.Payment, format string) string

// toPaymentJSONFor is the payment as audience a sees it.
func toPaymentJSONFor(p *kvitt.Payment, qrURL qrLinker, a audience) paymentJSON {
	j := paymentJSON{ID: p.ID, SaleID: p.SaleID, TillID: p.TillID, Method: p.Method, Amount: p.Amount, Currency: string(p.Currency),
		State: string(p.State), Reference: p.Reference, Action: p.Action, Tendered: p.Tendered, Change: p.Change, Rounding: p.Rounding,
		Tip: p.Tip, Card: p.Card, Refunded: p.Refunded, Refundable: p.Refundable(), ErrorCode: p.ErrorCode, Message: p.Message,
		Attention: p.Attention, CreatedAt: p.Created, UpdatedAt: p.Updated}
	if len(p.Provider) > 0 {
		j.Provider = map[string]string{}
		for k, v := range p.Provider {
			switch {
			case k == "" || k[0] == '_' || k == providerCallbackURL:
				continue
			case k == providerLocation && a != backOfficeAudience:
				continue
			case k == providerPayerAlias && a != backOfficeAudience:
				v = maskAlias(v)
			}
			j.Provider[k] = v
		}
	}
	if !p.Deadline.IsZero() && p.State.Open() {
		d := p.Deadline
		j.Deadline = &d
	}
	if j.Action != nil && j.Action.QRData != "" && qrURL != nil {
		a := *j.Action
		a.QRSVGURL = qrURL(p, "svg")
		a.QRPNGURL = qrURL(p, "png")
		j.Action = &a
	}
	return j
}

type refundJSON struct {
	ID        string           `json:"id"`
	PaymentID string           `json:"payment_id"`
	Amount    int64            `json:"amount"`
	Currency  string           `json:"currency"`
	State     string           `json:"state"`
	Reference string           `json:"reference"`
	ErrorCode string           `json:"error_code,omitempty"`
	Message   string           `json:"message,omitempty"`
	Lines     []returnLineJSON `json:"lines,omitempty"`
	ReceiptID string           `json:"receipt_id,omitempty"`
	// Tip and Rounding are the parts of Amount that give back the tip and
	// the cash rounding; the rest is the goods.
	Tip       int64     `json:"tip,omitempty"`
	Rounding  int64     `json:"rounding,omitempty"`
	Attention string    `json:"attention,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type returnLineJSON struct {
	Line     int         `json:"line"`
	Quantity json.Number `json:"quantity"`
}

func toRefundJSON(r *kvitt.Refund) refundJSON {
	j := refundJSON{ID: r.ID, PaymentID: r.PaymentID, Amount: r.Amount, Currency: string(r.Currency), State: string(r.State), Reference: r.Reference,
		ErrorCode: r.ErrorCode, Message: r.Message, ReceiptID: r.ReceiptID, Tip: r.Tip, Rounding: r.Rounding, Attention: r.Attention, CreatedAt: r.Created, UpdatedAt: r.Updated}
	for _, l := range r.Lines {
		j.Lines = append(j.Lines, returnLineJSON{l.Line, json.Number(kvitt.FormatQuantity(l.QuantityMilli))})
	}
	return j
}

type eventJSON struct {
	Seq     int64       `json:"seq"`
	From    string      `json:"from,omitempty"`
	To      string      `json:"to"`
	Cause   string      `json:"cause"`
	Message string      `json:"message,omitempty"`
	At      time.Time   `json:"at"`
	Payment paymentJSON `json:"payment"`
}

type tillJSON struct {
	ID                string        `json:"id"`
	StoreID           string        `json:"store_id"`
	Name              string        `json:"name"`
	RegisterID        string        `json:"register_id"`
	ControlUnit       string        `json:"control_unit,omitempty"`
	Terminal          *terminalJSON `json:"terminal,omitempty"`
	MobilePayBeaconID string        `json:"mobilepay_beacon_id,omitempty"`
	MobilePayPosID    string        `json:"mobilepay_pos_id,omitempty"`
	// Currency and VATRates (percent) are the till's merchant's; Methods
	// the payment methods the till offers, in the order of its buttons
	// (QuickMethods first, as set with PUT /v1/tills/{id}/quick-methods).
	// Filled on GET /v1/tills and GET /v1/tills/{id} (articles.go).
	Currency     string           `json:"currency,omitempty"`
	VATRates     []json.Number    `json:"vat_rates,omitempty"`
	Methods      []tillMethodJSON `json:"methods,omitempty"`
	QuickMethods []string         `json:"quick_methods,omitempty"`
}

// terminalJSON is a till's card terminal as the API shows it: never the
// passphrase that protects its messages, only whether there is one.
type terminalJSON struct {
	POIID         string `json:"poiid"`
	URL           string `json:"url"`
	Tip           bool   `json:"tip"`
	Profile       string `json:"profile,omitempty"`
	Encrypted     bool   `json:"encrypted"`
	KeyIdentifier string `json:"key_identifier,omitempty"`
	KeyVersion    int    `json:"key_version,omitempty"`
}

func toTillJSON(t *kvitt.Till) tillJSON {
	j := tillJSON{ID: t.ID, StoreID: t.StoreID, Name: t.Name, RegisterID: t.RegisterID, ControlUnit: t.ControlUnit,
		MobilePayBeaconID: t.MobilePayBeaconID, MobilePayPosID: t.MobilePayPosID}
	if tm := t.Terminal; tm != nil {
		j.Terminal = &terminalJSON{POIID: tm.POIID, URL: tm.URL, Tip: tm.Tip, Profile: tm.Profile, Encrypted: tm.Passphrase != "",
			KeyIdentifier: tm.KeyIdentifier, KeyVersion: tm.KeyVersion}
	}
	return j
}
