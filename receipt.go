package kvitt

import (
	"context"
	"time"
)

// ReceiptType is the kind of receipt, as SKVFS 2014:9 and the control unit name them.
type ReceiptType string

const (
	ReceiptNormal   ReceiptType = "normal"
	ReceiptCopy     ReceiptType = "copy"     // marked KOPIA; at most one per receipt
	ReceiptTraining ReceiptType = "training" // marked ÖVNING
	ReceiptProForma ReceiptType = "proforma" // marked EJ KVITTO
)

// ReceiptKind tells a sale from a return: a return gets its own receipt with negative VAT.
type ReceiptKind string

const (
	ReceiptSale   ReceiptKind = "sale"
	ReceiptReturn ReceiptKind = "return"
)

// RegistrationState is where the receipt is with the control unit.
type RegistrationState string

const (
	// RegistrationPending: the control unit has not answered yet; the receipt
	// must not be printed as a kassakvitto until it is registered.
	RegistrationPending    RegistrationState = "pending"
	RegistrationRegistered RegistrationState = "registered"
	// RegistrationNotRequired: the till has no control unit (sandbox without one, non-Swedish stores).
	RegistrationNotRequired RegistrationState = "not_required"
)

// Receipt is a kassakvitto: everything SKVFS 2014:9 7 kap. 1 § asks printed,
// frozen at issue time so later changes to the merchant or till never alter it.
type Receipt struct {
	ID         string
	MerchantID string
	TillID     string
	SaleID     string
	// Serial is the till's receipt number from an unbroken series, never reused.
	Serial int64
	Type   ReceiptType
	Kind   ReceiptKind
	// CopyOf is the original receipt of a copy; CopySerial and CopyTime name it.
	CopyOf     string
	CopySerial int64
	CopyTime   time.Time
	Issued     time.Time

	MerchantName string
	OrgNr        string
	StoreName    string
	Address      string
	RegisterID   string

	Currency Currency
	Lines    []SaleLine
	// Total is the sale amount, or the return amount (positive) for a return.
	Total   int64
	VAT     []VATTotal
	Tenders []Tender
	// Tip is the sum of the tenders' tips: paid on top, not part of Total.
	Tip int64

	Registration  RegistrationState
	ControlUnitID string
	ControlCode   string
	Created       time.Time
	Version       int64
}

// Tender is one means of payment on a receipt.
type Tender struct {
	PaymentID string
	Method    string
	Amount    int64 // what the means of payment took, cash rounding included (Amount − Rounding is the sale's share)
	Tip       int64
	Tendered  int64 // cash handed over
	Change    int64 // cash given back
	Rounding  int64 // öresavrundning
	Reference string
	Card      *CardData
}

// Registration is the receipt data sent to the control unit (kvittodata, SKVFS 2009:2).
type Registration struct {
	Time       time.Time
	OrgNr      string
	RegisterID string
	// Address is the point of sale's address (TCS RegisterAddress).
	Address string
	Serial  int64
	Type    ReceiptType
	Kind    ReceiptKind
	// Amount is the sale amount, or for a return the absolute return amount.
	Amount int64
	// VAT per rate (at most four); for a return the VAT amounts are negative.
	VAT        []VATTotal
	CopyTime   time.Time
	CopySerial int64
}

// ControlCode is what the control unit returns for a registered receipt.
type ControlCode struct {
	UnitID string // the control unit's manufacturing number, printed on the receipt
	Code   string
}

// ControlUnit registers receipts. Register is idempotent per register and
// serial: sending the same registration again returns the same code, so a
// lost answer is retried safely. Errors: EUNAVAILABLE when the unit cannot be
// reached (kvitt retries as a durable job), EUNPROCESSABLE when it refuses
// the data.
type ControlUnit interface {
	Register(ctx context.Context, r *Registration) (ControlCode, error)
}

// JournalEntry is one link in the hash chain of registrations and state changes.
type JournalEntry struct {
	Seq      int64
	At       time.Time
	Kind     string // "payment.state", "receipt.registered", "z_report", ...
	Ref      string // the object it concerns
	Data     string // canonical JSON of the facts
	PrevHash string // hex SHA-256 of the previous entry
	Hash     string // hex SHA-256(PrevHash | Seq | At | Kind | Ref | Data)
}
