// Package nexo speaks nexo Retailer (Sale-to-POI) as JSON over HTTPS to an
// integrated card terminal, in the dialect of Adyen's Terminal API and
// Westpay's nexo endpoint, and provides the "card" payment provider.
//
// The wire types below use the published field names verbatim (note
// "MaskedPan", as Adyen spells it). Amounts are JSON numbers holding decimals
// ("RequestedAmount": 12.50); they are formatted from and parsed into int64
// minor units exactly, never through float64.
package nexo

import (
	"encoding/json"
	"fmt"

	"github.com/kvitt-hub/kvitt"
)

// ProtocolVersion is the nexo protocol version kvitt sends.
const ProtocolVersion = "3.0"

// Message categories (MessageHeader.MessageCategory).
const (
	CategoryLogin             = "Login"
	CategoryPayment           = "Payment"
	CategoryAbort             = "Abort"
	CategoryTransactionStatus = "TransactionStatus"
	CategoryReversal          = "Reversal"
)

// Results (Response.Result).
const (
	ResultSuccess = "Success"
	ResultFailure = "Failure"
	ResultPartial = "Partial"
)

// Payment types (PaymentData.PaymentType).
const (
	PaymentTypeNormal = "Normal"
	PaymentTypeRefund = "Refund"
)

// Message is the outer JSON object of every exchange: a request from the
// till or a response from the terminal.
type Message struct {
	SaleToPOIRequest  *SaleToPOIRequest  `json:"SaleToPOIRequest,omitempty"`
	SaleToPOIResponse *SaleToPOIResponse `json:"SaleToPOIResponse,omitempty"`
}

// MessageHeader names a request/response pair: ServiceID (≤10 characters)
// is chosen by the till and stored before the request is sent.
type MessageHeader struct {
	ProtocolVersion string `json:"ProtocolVersion,omitempty"`
	MessageClass    string `json:"MessageClass"`
	MessageCategory string `json:"MessageCategory"`
	MessageType     string `json:"MessageType"`
	ServiceID       string `json:"ServiceID,omitempty"`
	SaleID          string `json:"SaleID"`
	POIID           string `json:"POIID"`
}

// SaleToPOIRequest carries exactly one request body.
type SaleToPOIRequest struct {
	MessageHeader            MessageHeader             `json:"MessageHeader"`
	LoginRequest             *LoginRequest             `json:"LoginRequest,omitempty"`
	PaymentRequest           *PaymentRequest           `json:"PaymentRequest,omitempty"`
	AbortRequest             *AbortRequest             `json:"AbortRequest,omitempty"`
	TransactionStatusRequest *TransactionStatusRequest `json:"TransactionStatusRequest,omitempty"`
	ReversalRequest          *ReversalRequest          `json:"ReversalRequest,omitempty"`
}

// SaleToPOIResponse carries exactly one response body.
type SaleToPOIResponse struct {
	MessageHeader             MessageHeader              `json:"MessageHeader"`
	LoginResponse             *LoginResponse             `json:"LoginResponse,omitempty"`
	PaymentResponse           *PaymentResponse           `json:"PaymentResponse,omitempty"`
	TransactionStatusResponse *TransactionStatusResponse `json:"TransactionStatusResponse,omitempty"`
	ReversalResponse          *ReversalResponse          `json:"ReversalResponse,omitempty"`
}

// Response is the result of a request: Success, or Failure with an ErrorCondition.
type Response struct {
	Result         string `json:"Result"`
	ErrorCondition string `json:"ErrorCondition,omitempty"`
	// AdditionalResponse is free text; Adyen and the simulator send
	// URL-encoded key=value pairs (refusalReason, AID, applicationLabel...).
	AdditionalResponse string `json:"AdditionalResponse,omitempty"`
}

// TransactionID identifies a transaction on one side, with its time.
type TransactionID struct {
	TransactionID string `json:"TransactionID"`
	TimeStamp     string `json:"TimeStamp"`
}

// LoginRequest opens a session between the till and the terminal.
type LoginRequest struct {
	DateTime         string           `json:"DateTime"`
	SaleSoftware     SaleSoftware     `json:"SaleSoftware"`
	SaleTerminalData SaleTerminalData `json:"SaleTerminalData"`
	OperatorLanguage string           `json:"OperatorLanguage"`
}

// SaleSoftware describes the till software.
type SaleSoftware struct {
	ManufacturerID    string `json:"ManufacturerID"`
	ApplicationName   string `json:"ApplicationName"`
	SoftwareVersion   string `json:"SoftwareVersion"`
	CertificationCode string `json:"CertificationCode"`
}

// SaleTerminalData says what the till can do; with only PrinterReceipt the
// terminal never calls the till back ("client-only").
type SaleTerminalData struct {
	TerminalEnvironment string   `json:"TerminalEnvironment"`
	SaleCapabilities    []string `json:"SaleCapabilities"`
}

// LoginResponse answers a LoginRequest.
type LoginResponse struct {
	Response      Response       `json:"Response"`
	POISystemData *POISystemData `json:"POISystemData,omitempty"`
}

// POISystemData describes the terminal.
type POISystemData struct {
	DateTime  string     `json:"DateTime"`
	POIStatus *POIStatus `json:"POIStatus,omitempty"`
}

// POIStatus is the terminal's global status.
type POIStatus struct {
	GlobalStatus string `json:"GlobalStatus"`
}

// PaymentRequest asks the terminal to take (or, with PaymentType Refund, give back) money.
type PaymentRequest struct {
	SaleData           SaleData           `json:"SaleData"`
	PaymentTransaction PaymentTransaction `json:"PaymentTransaction"`
	PaymentData        *PaymentData       `json:"PaymentData,omitempty"`
}

// SaleData identifies the sale transaction on the till's side.
type SaleData struct {
	SaleTransactionID  TransactionID `json:"SaleTransactionID"`
	SaleToAcquirerData string        `json:"SaleToAcquirerData,omitempty"`
}

// PaymentTransaction holds the amounts.
type PaymentTransaction struct {
	AmountsReq AmountsReq `json:"AmountsReq"`
}

// AmountsReq is what the till asks for, in decimals of Currency.
type AmountsReq struct {
	Currency        string      `json:"Currency"`
	RequestedAmount json.Number `json:"RequestedAmount"`
	TipAmount       json.Number `json:"TipAmount,omitempty"`
}

// PaymentData says what kind of payment it is.
type PaymentData struct {
	PaymentType string `json:"PaymentType"`
}

// PaymentResponse is the terminal's answer to a PaymentRequest.
type PaymentResponse struct {
	Response       Response         `json:"Response"`
	SaleData       *SaleData        `json:"SaleData,omitempty"`
	POIData        *POIData         `json:"POIData,omitempty"`
	PaymentResult  *PaymentResult   `json:"PaymentResult,omitempty"`
	PaymentReceipt []PaymentReceipt `json:"PaymentReceipt,omitempty"`
}

// POIData identifies the transaction on the terminal's side (needed for a reversal).
type POIData struct {
	POITransactionID    TransactionID `json:"POITransactionID"`
	POIReconciliationID string        `json:"POIReconciliationID,omitempty"`
}

// PaymentResult is what happened with the card.
type PaymentResult struct {
	PaymentType           string                 `json:"PaymentType,omitempty"`
	PaymentInstrumentData *PaymentInstrumentData `json:"PaymentInstrumentData,omitempty"`
	AmountsResp           *AmountsResp           `json:"AmountsResp,omitempty"`
	PaymentAcquirerData   *PaymentAcquirerData   `json:"PaymentAcquirerData,omitempty"`
	AuthenticationMethod  []string               `json:"AuthenticationMethod,omitempty"`
	OnlineFlag            *bool                  `json:"OnlineFlag,omitempty"`
}

// PaymentInstrumentData describes the card.
type PaymentInstrumentData struct {
	PaymentInstrumentType string    `json:"PaymentInstrumentType,omitempty"`
	CardData              *CardData `json:"CardData,omitempty"`
}

// CardData is the card as the terminal saw it.
type CardData struct {
	PaymentBrand string   `json:"PaymentBrand,omitempty"`
	MaskedPan    string   `json:"MaskedPan,omitempty"`
	EntryMode    []string `json:"EntryMode,omitempty"`
}

// AmountsResp is what was authorised; TipAmount is included in AuthorizedAmount.
type AmountsResp struct {
	Currency         string      `json:"Currency,omitempty"`
	AuthorizedAmount json.Number `json:"AuthorizedAmount"`
	TipAmount        json.Number `json:"TipAmount,omitempty"`
	// CashBackAmount is cash handed to the customer on top (included in
	// AuthorizedAmount); kvitt asks for none and refuses an approval with it.
	CashBackAmount json.Number `json:"CashBackAmount,omitempty"`
}

// PaymentAcquirerData is the acquirer's side of the transaction.
type PaymentAcquirerData struct {
	AcquirerPOIID         string         `json:"AcquirerPOIID,omitempty"`
	MerchantID            string         `json:"MerchantID,omitempty"`
	AcquirerTransactionID *TransactionID `json:"AcquirerTransactionID,omitempty"`
	ApprovalCode          string         `json:"ApprovalCode,omitempty"`
}

// PaymentReceipt is a receipt the terminal wants printed.
type PaymentReceipt struct {
	DocumentQualifier     string        `json:"DocumentQualifier"`
	RequiredSignatureFlag bool          `json:"RequiredSignatureFlag,omitempty"`
	OutputContent         OutputContent `json:"OutputContent"`
}

// OutputContent is receipt text.
type OutputContent struct {
	OutputFormat string       `json:"OutputFormat"`
	OutputText   []OutputText `json:"OutputText,omitempty"`
}

// OutputText is one line of a receipt (Adyen: "key=...&name=...&value=...").
type OutputText struct {
	Text string `json:"Text"`
}

// MessageReference names an earlier request by its ServiceID.
type MessageReference struct {
	MessageCategory string `json:"MessageCategory,omitempty"`
	SaleID          string `json:"SaleID,omitempty"`
	ServiceID       string `json:"ServiceID,omitempty"`
	POIID           string `json:"POIID,omitempty"`
}

// AbortRequest stops a running request; the aborted request answers Failure/Aborted.
type AbortRequest struct {
	AbortReason      string           `json:"AbortReason"`
	MessageReference MessageReference `json:"MessageReference"`
}

// TransactionStatusRequest asks what became of an earlier request.
type TransactionStatusRequest struct {
	MessageReference   *MessageReference `json:"MessageReference,omitempty"`
	ReceiptReprintFlag bool              `json:"ReceiptReprintFlag,omitempty"`
	DocumentQualifier  []string          `json:"DocumentQualifier,omitempty"`
}

// TransactionStatusResponse answers Success with the original response
// repeated, or Failure with InProgress/Busy (still running) or NotFound.
type TransactionStatusResponse struct {
	Response                Response                 `json:"Response"`
	MessageReference        *MessageReference        `json:"MessageReference,omitempty"`
	RepeatedMessageResponse *RepeatedMessageResponse `json:"RepeatedMessageResponse,omitempty"`
}

// RepeatedMessageResponse is the original response with its header.
type RepeatedMessageResponse struct {
	MessageHeader               MessageHeader               `json:"MessageHeader"`
	RepeatedResponseMessageBody RepeatedResponseMessageBody `json:"RepeatedResponseMessageBody"`
}

// RepeatedResponseMessageBody holds the original response body.
type RepeatedResponseMessageBody struct {
	PaymentResponse  *PaymentResponse  `json:"PaymentResponse,omitempty"`
	ReversalResponse *ReversalResponse `json:"ReversalResponse,omitempty"`
}

// ReversalRequest cancels an approved transaction.
type ReversalRequest struct {
	OriginalPOITransaction OriginalPOITransaction `json:"OriginalPOITransaction"`
	ReversalReason         string                 `json:"ReversalReason"`
}

// OriginalPOITransaction names the transaction to reverse.
type OriginalPOITransaction struct {
	SaleID           string        `json:"SaleID,omitempty"`
	POIID            string        `json:"POIID,omitempty"`
	POITransactionID TransactionID `json:"POITransactionID"`
}

// ReversalResponse answers a ReversalRequest.
type ReversalResponse struct {
	Response       Response    `json:"Response"`
	POIData        *POIData    `json:"POIData,omitempty"`
	ReversedAmount json.Number `json:"ReversedAmount,omitempty"`
}

// FormatAmount renders minor units as a JSON decimal number ("12.50").
func FormatAmount(amount int64, c kvitt.Currency) json.Number {
	return json.Number(kvitt.FormatAmount(amount, c))
}

// ParseAmount reads a JSON decimal number into minor units exactly. It
// refuses more decimals than the currency has and exponents.
func ParseAmount(n json.Number, c kvitt.Currency) (int64, error) {
	if n == "" {
		return 0, fmt.Errorf("nexo: amount missing")
	}
	return kvitt.ParseAmount(string(n), c)
}
