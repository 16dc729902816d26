package receipt

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// JSONReceipt is the JSON form of a receipt: snake_case fields, amounts as
// integers in minor units of Currency (a return's amounts positive, as
// stored, with kind "return"). Quantities and VAT rates are written as the
// sale's JSON writes them (http's lineJSON and vatJSON): quantities as
// decimal numbers (2, 0.35), VAT rates in percent (25, 12.5), so a till
// reads a receipt line as it reads the sale line it came from. The stored
// receipt keeps thousandths and basis points.
type JSONReceipt struct {
	ID           string       `json:"id"`
	MerchantID   string       `json:"merchant_id,omitempty"`
	TillID       string       `json:"till_id,omitempty"`
	SaleID       string       `json:"sale_id,omitempty"`
	Serial       int64        `json:"serial"`
	Type         string       `json:"type"`
	Kind         string       `json:"kind"`
	Mark         string       `json:"mark,omitempty"`
	CopyOf       string       `json:"copy_of,omitempty"`
	CopySerial   int64        `json:"copy_serial,omitempty"`
	CopyTime     *time.Time   `json:"copy_time,omitempty"`
	Issued       time.Time    `json:"issued"`
	MerchantName string       `json:"merchant_name"`
	OrgNr        string       `json:"org_nr"`
	StoreName    string       `json:"store_name,omitempty"`
	Address      string       `json:"address"`
	RegisterID   string       `json:"register_id"`
	Currency     string       `json:"currency"`
	Lines        []JSONLine   `json:"lines"`
	Total        int64        `json:"total"`
	VAT          []JSONVAT    `json:"vat"`
	Tenders      []JSONTender `json:"tenders"`
	Tip          int64        `json:"tip"`
	TotalCharged int64        `json:"total_charged"`
	Registration string       `json:"registration"`
	// MerchantCopy: the terminal asked for a signature; print the merchant copy too.
	MerchantCopy  bool   `json:"merchant_copy_required,omitempty"`
	ControlUnitID string `json:"control_unit_id,omitempty"`
	ControlCode   string `json:"control_code,omitempty"`
}

// JSONLine is one article line.
type JSONLine struct {
	ArticleNumber string      `json:"article_number,omitempty"`
	Name          string      `json:"name"`
	Quantity      json.Number `json:"quantity"` // a decimal number: 2, 0.35
	UnitPrice     int64       `json:"unit_price"`
	VATRate       json.Number `json:"vat_rate"` // percent: 25, 12, 6, 0
	Discount      int64       `json:"discount"`
	Total         int64       `json:"total"`
}

// JSONVAT is the VAT split for one rate.
type JSONVAT struct {
	Rate  json.Number `json:"rate"` // percent
	Gross int64       `json:"gross"`
	Net   int64       `json:"net"`
	VAT   int64       `json:"vat"`
}

// JSONTender is one means of payment.
type JSONTender struct {
	PaymentID string          `json:"payment_id,omitempty"`
	Method    string          `json:"method"`
	Amount    int64           `json:"amount"`
	Tip       int64           `json:"tip"`
	Tendered  int64           `json:"tendered,omitempty"`
	Change    int64           `json:"change,omitempty"`
	Rounding  int64           `json:"rounding,omitempty"`
	Reference string          `json:"reference,omitempty"`
	Card      *kvitt.CardData `json:"card,omitempty"`
}

// ToJSON converts r to its JSON form.
func ToJSON(r *kvitt.Receipt) *JSONReceipt {
	r = safe(r)
	j := &JSONReceipt{
		ID: r.ID, MerchantID: r.MerchantID, TillID: r.TillID, SaleID: r.SaleID,
		Serial: r.Serial, Type: string(r.Type), Kind: string(r.Kind), Mark: Mark(r.Type),
		CopyOf: r.CopyOf, CopySerial: r.CopySerial, Issued: r.Issued,
		MerchantName: r.MerchantName, OrgNr: r.OrgNr, StoreName: r.StoreName, Address: r.Address,
		RegisterID: r.RegisterID, Currency: string(r.Currency),
		Lines: []JSONLine{}, Total: r.Total, VAT: []JSONVAT{}, Tenders: []JSONTender{},
		Tip: r.Tip, TotalCharged: totalCharged(r),
		Registration: string(r.Registration), ControlUnitID: r.ControlUnitID, ControlCode: r.ControlCode,
		MerchantCopy: needsMerchantCopy(r),
	}
	if !r.CopyTime.IsZero() {
		t := r.CopyTime
		j.CopyTime = &t
	}
	for _, l := range r.Lines {
		j.Lines = append(j.Lines, JSONLine{
			ArticleNumber: l.ArticleNumber, Name: l.Name,
			Quantity: decimalNumber(l.QuantityMilli, 3), UnitPrice: l.UnitPrice,
			VATRate: decimalNumber(l.VATRate, 2), Discount: l.Discount, Total: l.Total,
		})
	}
	for _, v := range r.VAT {
		j.VAT = append(j.VAT, JSONVAT{Rate: decimalNumber(v.Rate, 2), Gross: v.Gross, Net: v.Net, VAT: v.VAT})
	}
	for _, t := range r.Tenders {
		j.Tenders = append(j.Tenders, JSONTender{
			PaymentID: t.PaymentID, Method: t.Method, Amount: t.Amount, Tip: t.Tip,
			Tendered: t.Tendered, Change: t.Change, Rounding: t.Rounding, Reference: t.Reference, Card: t.Card,
		})
	}
	return j
}

// JSON renders r as indented JSON (see JSONReceipt).
func JSON(r *kvitt.Receipt) ([]byte, error) {
	b, err := json.MarshalIndent(ToJSON(r), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func needsMerchantCopy(r *kvitt.Receipt) bool {
	for _, t := range r.Tenders {
		if t.Card != nil && t.Card.SignatureRequired {
			return true
		}
	}
	return false
}

// decimalNumber writes v / 10^decimals as a JSON number without trailing
// zeros: (350, 3) → 0.35, (2500, 2) → 25, (1250, 2) → 12.5. It is what
// kvitt.FormatQuantity and kvitt.FormatRate write for the sale, and it is
// a valid JSON number for every v, negative ones included, so a receipt
// always renders.
func decimalNumber(v int64, decimals int) json.Number {
	u, sign := uint64(v), ""
	if v < 0 {
		u, sign = -u, "-"
	}
	scale := uint64(1)
	for range decimals {
		scale *= 10
	}
	whole, frac := u/scale, u%scale
	if frac == 0 {
		return json.Number(sign + strconv.FormatUint(whole, 10))
	}
	f := strconv.FormatUint(frac+scale, 10)[1:] // zero-padded to decimals
	return json.Number(sign + strconv.FormatUint(whole, 10) + "." + strings.TrimRight(f, "0"))
}
