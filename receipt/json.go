package receipt

import (
	"encoding/json"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// JSONReceipt is the JSON form of a receipt: snake_case fields, amounts as
// integers in minor units of Currency (a return's amounts positive, as
// stored, with kind "return"), VAT rates in basis points (2500 = 25 %).
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
	ArticleNumber string `json:"article_number,omitempty"`
	Name          string `json:"name"`
	QuantityMilli int64  `json:"quantity_milli"`
	Quantity      string `json:"quantity"` // decimal, dot: "0.35"
	UnitPrice     int64  `json:"unit_price"`
	VATRate       int64  `json:"vat_rate"`
	Discount      int64  `json:"discount"`
	Total         int64  `json:"total"`
}

// JSONVAT is the VAT split for one rate.
type JSONVAT struct {
	Rate  int64 `json:"rate"`
	Gross int64 `json:"gross"`
	Net   int64 `json:"net"`
	VAT   int64 `json:"vat"`
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
			ArticleNumber: l.ArticleNumber, Name: l.Name, QuantityMilli: l.QuantityMilli,
			Quantity: kvitt.FormatQuantity(l.QuantityMilli), UnitPrice: l.UnitPrice,
			VATRate: l.VATRate, Discount: l.Discount, Total: l.Total,
		})
	}
	for _, v := range r.VAT {
		j.VAT = append(j.VAT, JSONVAT{Rate: v.Rate, Gross: v.Gross, Net: v.Net, VAT: v.VAT})
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
