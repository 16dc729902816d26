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
	TillID   flexString    `json:"till_id"`
	Currency string        `json:"currency"`
	Lines    []lineRequest `json:"lines"`
	Training bool          `json:"training"`
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
}

type refundRequest struct {
	Amount int64               `json:"amount"`
	Lines  []returnLineRequest `json:"lines"`
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

func toSaleViewJSON(v *hub.SaleView, qrBase string) saleJSON {
	j := toSaleJSON(v.Sale)
	j.Paid, j.Due = &v.Paid, &v.Due
	for _, p := range v.Payments {
		j.Payments = append(j.Payments, toPaymentJSON(p, qrBase))
	}
	return j
}

type paymentJSON struct {
	ID         string            `json:"id"`
	SaleID     string            `json:"sale_id"`
	TillID     string            `json:"till_id"`
	Method     string            `json:"method"`
	Amount     int64             `json:"amount"`
	Currency   string            `json:"currency"`
	State      string            `json:"state"`
	Reference  string            `json:"reference"`
	Action     *kvitt.Action     `json:"action"`
	Tendered   int64             `json:"tendered,omitempty"`
	Change     int64             `json:"change,omitempty"`
	Rounding   int64             `json:"rounding,omitempty"`
	Tip        int64             `json:"tip,omitempty"`
	Card       *kvitt.CardData   `json:"card,omitempty"`
	Refunded   int64             `json:"refunded"`
	Refundable int64             `json:"refundable"`
	ErrorCode  string            `json:"error_code,omitempty"`
	Message    string            `json:"message,omitempty"`
	Provider   map[string]string `json:"provider,omitempty"`
	Deadline   *time.Time        `json:"deadline,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

func toPaymentJSON(p *kvitt.Payment, qrBase string) paymentJSON {
	j := paymentJSON{ID: p.ID, SaleID: p.SaleID, TillID: p.TillID, Method: p.Method, Amount: p.Amount, Currency: string(p.Currency),
		State: string(p.State), Reference: p.Reference, Action: p.Action, Tendered: p.Tendered, Change: p.Change, Rounding: p.Rounding,
		Tip: p.Tip, Card: p.Card, Refunded: p.Refunded, Refundable: p.Refundable(), ErrorCode: p.ErrorCode, Message: p.Message,
		CreatedAt: p.Created, UpdatedAt: p.Updated}
	if len(p.Provider) > 0 {
		j.Provider = map[string]string{}
		for k, v := range p.Provider {
			if len(k) > 0 && k[0] != '_' { // "_"-keys are the adapter's private bookkeeping
				j.Provider[k] = v
			}
		}
	}
	if !p.Deadline.IsZero() && p.State.Open() {
		d := p.Deadline
		j.Deadline = &d
	}
	if j.Action != nil && j.Action.QRData != "" && qrBase != "" {
		a := *j.Action
		a.QRSVGURL = qrBase + "/v1/payments/" + p.ID + "/qr.svg"
		a.QRPNGURL = qrBase + "/v1/payments/" + p.ID + "/qr.png"
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
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

type returnLineJSON struct {
	Line     int         `json:"line"`
	Quantity json.Number `json:"quantity"`
}

func toRefundJSON(r *kvitt.Refund) refundJSON {
	j := refundJSON{ID: r.ID, PaymentID: r.PaymentID, Amount: r.Amount, Currency: string(r.Currency), State: string(r.State), Reference: r.Reference,
		ErrorCode: r.ErrorCode, Message: r.Message, ReceiptID: r.ReceiptID, CreatedAt: r.Created, UpdatedAt: r.Updated}
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
	ID                string          `json:"id"`
	StoreID           string          `json:"store_id"`
	Name              string          `json:"name"`
	RegisterID        string          `json:"register_id"`
	ControlUnit       string          `json:"control_unit,omitempty"`
	Terminal          *kvitt.Terminal `json:"terminal,omitempty"`
	MobilePayBeaconID string          `json:"mobilepay_beacon_id,omitempty"`
	MobilePayPosID    string          `json:"mobilepay_pos_id,omitempty"`
}

func toTillJSON(t *kvitt.Till) tillJSON {
	return tillJSON{t.ID, t.StoreID, t.Name, t.RegisterID, t.ControlUnit, t.Terminal, t.MobilePayBeaconID, t.MobilePayPosID}
}
