package computop

import "github.com/kvitt-hub/kvitt"

// Class is the first character of an A4 code (Computop "A4 Error codes").
type Class byte

const (
	ClassOK      Class = '0' // success
	ClassError   Class = '2' // error: the transaction failed
	ClassFatal   Class = '4' // fatal error, such as a missing mandatory parameter
	ClassPending Class = '6' // continue: the final status comes later
	Class3DS     Class = '7' // EMV 3-D Secure intermediate status
)

// CodeClass returns the class of an A4 code, or 0 for anything that is not
// eight characters of 0-9 and A-Z. The result of a transaction is read from
// Code, never from Description (seed 003).
func CodeClass(code string) Class {
	if len(code) != 8 {
		return 0
	}
	for i := 0; i < 8; i++ {
		c := code[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return 0
		}
	}
	switch Class(code[0]) {
	case ClassOK, ClassError, ClassFatal, ClassPending, Class3DS:
		return Class(code[0])
	}
	return 0
}

// unknownValue reports whether an A4 error code says a value is unknown
// (digits 2-4 "016"): an inquiry for a TransID or PayID the Paygate does not
// have.
func unknownValue(code string) bool {
	c := CodeClass(code)
	return (c == ClassError || c == ClassFatal) && code[1:4] == "016"
}

// SwishCodes are the Swish error codes the Paygate passes on in CodeExt
// (Swish's own codes; "Nutzung nur in Abstimmung mit dem Computop Support").
// A guard test checks each has a cashier message and a state.
var SwishCodes = []string{"RF07", "BANKIDCL", "TM01", "DS24", "FF10", "RP06", "ACMT03", "ACMT01", "BE18", "AM06", "VR01", "VR02", "BANKIDONGOING", "BANKIDUNKN"}

var swishMessages = map[string]string{
	"RF07":          "The customer's bank declined the payment. No money was taken.",
	"BANKIDCL":      "The customer cancelled in BankID. No money was taken.",
	"TM01":          "The customer did not approve in time. No money was taken.",
	"DS24":          "The bank did not answer in time: it is not known whether the money was taken. Ask the customer to check the Swish app before anything else.",
	"FF10":          "The bank had a problem and did not take the payment. Try again or use another method.",
	"RP06":          "The customer already has an open Swish payment. Ask them to finish or cancel it, then try again.",
	"ACMT03":        "The customer's number is not connected to Swish.",
	"ACMT01":        "The customer's Swish is not activated.",
	"BE18":          "The customer's Swish number is not valid. Check the phone number.",
	"AM06":          "The amount is below the shop's Swish minimum.",
	"VR01":          "The customer is below the age limit for this purchase.",
	"VR02":          "The customer's Swish number does not match the given personal number.",
	"BANKIDONGOING": "The customer is already signing something else with BankID. Ask them to try again.",
	"BANKIDUNKN":    "BankID could not confirm the customer. No money was taken.",
}

// failureState maps a failed payment's Swish code to kvitt's state.
func failureState(codeExt string) kvitt.PaymentState {
	switch codeExt {
	case "RF07":
		return kvitt.PaymentDeclined
	case "BANKIDCL":
		return kvitt.PaymentCancelled
	case "TM01":
		return kvitt.PaymentExpired
	case "DS24":
		return kvitt.PaymentUnknown // never guessed: a person checks with the customer's bank
	}
	return kvitt.PaymentFailed
}

// CashierMessage says in words a cashier understands why the Paygate
// refused or failed, from CodeExt (Swish's code) when there is one, then
// ErrorText, then the A4 class of Code.
func CashierMessage(code, codeExt, errorText string) string {
	if m, ok := swishMessages[codeExt]; ok {
		return m
	}
	suffix := ""
	if errorText != "" {
		suffix = " Swish said: " + errorText + "."
	}
	if codeExt != "" {
		return "Swish refused the payment (" + codeExt + ")." + suffix
	}
	switch CodeClass(code) {
	case ClassOK:
		return "Computop accepted the request."
	case ClassFatal:
		return "Computop refused the request as malformed (" + code + "). Contact support." + suffix
	case ClassError:
		return "Computop reported the payment failed (" + code + "). No money was taken." + suffix
	case ClassPending, Class3DS:
		return "Computop is still processing the payment (" + code + ")."
	}
	return "Computop answered with an unknown code " + code + "." + suffix
}

// RefundMessage says in words why the Paygate refused a credit. Computop
// refuses a credit until the payment's first notification was
// acknowledged, which can take a moment after the payment is paid; its
// code for that is not published, so every refusal says so.
func RefundMessage(code, codeExt, errorText string) string {
	suffix := ""
	if errorText != "" {
		suffix = " Computop said: " + errorText + "."
	}
	if codeExt != "" {
		return "Swish refused the refund (" + codeExt + "). Nothing was refunded." + suffix
	}
	switch CodeClass(code) {
	case ClassFatal:
		return "Computop refused the refund as malformed (" + code + "). Nothing was refunded. Contact support." + suffix
	case ClassError:
		return "Computop refused the refund (" + code + "). Nothing was refunded. If the payment was paid a moment ago, Computop may not have confirmed it to kvitt yet: refund again in a minute." + suffix
	}
	return CashierMessage(code, codeExt, errorText)
}
