package nexo

import (
	"net/url"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// ErrorConditions lists every nexo ErrorCondition the adapter maps. A guard
// test checks each has a state and a message.
var ErrorConditions = []string{
	"Aborted", "Busy", "Cancel", "DeviceOut", "InsertedCard", "InProgress",
	"LoggedOut", "MessageFormat", "NotAllowed", "NotFound", "PaymentRestriction",
	"Refusal", "UnavailableDevice", "UnavailableService", "UnreachableHost", "WrongPIN",
}

// outcome is what a failed PaymentResponse means for the payment.
type outcome struct {
	State   kvitt.PaymentState
	Refund  kvitt.RefundState
	Message string
}

// conditions maps a nexo ErrorCondition of a payment to kvitt's state and a
// sentence a cashier understands.
var conditions = map[string]outcome{
	"Aborted":            {kvitt.PaymentCancelled, kvitt.RefundFailed, "The payment was cancelled at the till before the card was charged."},
	"Busy":               {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal is busy with another transaction. Wait until it shows its start screen and try again."},
	"Cancel":             {kvitt.PaymentCancelled, kvitt.RefundFailed, "The customer cancelled the payment on the card terminal."},
	"DeviceOut":          {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal is out of order. Restart it or take another payment method."},
	"InsertedCard":       {kvitt.PaymentFailed, kvitt.RefundFailed, "A card is still inserted in the card terminal. Ask the customer to remove it and try again."},
	"InProgress":         {kvitt.PaymentPending, kvitt.RefundPending, "The card terminal is still working on the payment."},
	"LoggedOut":          {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal was not logged in; nothing was charged. Try again."},
	"MessageFormat":      {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal did not understand the request; nothing was charged. Contact support if it happens again."},
	"NotAllowed":         {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal does not allow this transaction (check its settings, e.g. refunds)."},
	"NotFound":           {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal never received the payment; nothing was charged. You can try again."},
	"PaymentRestriction": {kvitt.PaymentDeclined, kvitt.RefundFailed, "This card cannot be used for this purchase. Ask for another card or payment method."},
	"Refusal":            {kvitt.PaymentDeclined, kvitt.RefundFailed, "The card was declined. Ask for another card or payment method."},
	"UnavailableDevice":  {kvitt.PaymentFailed, kvitt.RefundFailed, "A part of the card terminal (card reader or PIN pad) is unavailable. Restart the terminal or take another payment method."},
	"UnavailableService": {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal cannot offer this service right now. Try again or take another payment method."},
	"UnreachableHost":    {kvitt.PaymentFailed, kvitt.RefundFailed, "The card terminal cannot reach the card network. Try again or take another payment method."},
	"WrongPIN":           {kvitt.PaymentDeclined, kvitt.RefundFailed, "Wrong PIN. The card was not charged; the customer can try again."},
}

// refusalReasons refine a Refusal (or any failure) by the refusalReason in
// AdditionalResponse, as Adyen and the simulator send it.
var refusalReasons = map[string]outcome{
	"Not enough balance": {kvitt.PaymentDeclined, kvitt.RefundFailed, "Insufficient funds on the card. Ask for another card or payment method."},
	"Invalid Pin":        {kvitt.PaymentDeclined, kvitt.RefundFailed, "Wrong PIN. The card was not charged; the customer can try again."},
	"Pin tries exceeded": {kvitt.PaymentDeclined, kvitt.RefundFailed, "Too many wrong PINs: the card is blocked for PIN. Ask for another card."},
	"Expired Card":       {kvitt.PaymentDeclined, kvitt.RefundFailed, "The card has expired. Ask for another card or payment method."},
	"Blocked Card":       {kvitt.PaymentDeclined, kvitt.RefundFailed, "The card is blocked. Ask for another card or payment method."},
	"Shopper Cancelled":  {kvitt.PaymentCancelled, kvitt.RefundFailed, "The customer cancelled the payment on the card terminal."},
	"Timeout":            {kvitt.PaymentCancelled, kvitt.RefundFailed, "No card was presented in time; the terminal gave up. Nothing was charged."},
}

// additional parses AdditionalResponse as URL-encoded key=value pairs
// (Adyen's form); anything else yields an empty set.
func additional(s string) url.Values {
	if s == "" || !strings.Contains(s, "=") {
		return url.Values{}
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return url.Values{}
	}
	return v
}

// failure maps a failed Response to an outcome; unknown conditions fail the
// payment with the terminal's words.
func failure(r Response) (outcome, string) {
	code := r.ErrorCondition
	add := additional(r.AdditionalResponse)
	if reason := add.Get("refusalReason"); reason != "" {
		if o, ok := refusalReasons[reason]; ok {
			return o, code
		}
	}
	if msg := add.Get("message"); msg != "" {
		if o, ok := refusalReasons[msg]; ok {
			return o, code
		}
	}
	if o, ok := conditions[code]; ok {
		return o, code
	}
	msg := "The card terminal refused the payment"
	if code != "" {
		msg += " (" + code + ")"
	}
	return outcome{kvitt.PaymentFailed, kvitt.RefundFailed, msg + ". Nothing was charged."}, code
}
