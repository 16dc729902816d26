package swish

// Codes lists every Swish error code kvitt knows, in the order of the
// provider notes (create refusals, payment outcomes, refund and payout
// refusals). A guard test checks that each one has a cashier message.
var Codes = []string{
	"FF08", "RP03", "BE18", "RP01", "PA02", "AM02", "AM03", "AM06", "RP02", "RP06",
	"ACMT03", "ACMT01", "ACMT07", "VR01", "VR02", "RP04", "RP09",
	"RF07", "BANKIDCL", "BANKIDONGOING", "BANKIDUNKN", "FF10", "TM01", "DS24",
	"RF02", "RF03", "RF04", "RF06", "RF08", "PA01",
}

var codeMessages = map[string]string{
	"FF08":          "The payment reference was not accepted by Swish.",
	"RP03":          "The callback address is missing or is not https. Check the Swish settings.",
	"BE18":          "The customer's Swish number is not valid. Check the phone number.",
	"RP01":          "The shop's Swish number is missing. Check the Swish settings.",
	"PA02":          "The amount is missing or not a valid amount.",
	"AM02":          "The amount is too large for Swish.",
	"AM03":          "Swish only takes payments in Swedish kronor (SEK).",
	"AM06":          "The amount is below the shop's Swish minimum.",
	"RP02":          "The payment message contains characters Swish does not allow.",
	"RP06":          "The customer already has an open Swish payment. Ask them to finish or cancel it in the app, then try again.",
	"ACMT03":        "The customer's number is not connected to Swish.",
	"ACMT01":        "The customer's Swish is not activated.",
	"ACMT07":        "The shop's Swish number is not enrolled with Swish. Contact the bank.",
	"VR01":          "The customer is below the age limit for this purchase.",
	"VR02":          "The customer's Swish number does not match the given personal number.",
	"RP04":          "Swish found no payment for this QR code.",
	"RP09":          "Swish already has a payment with this reference.",
	"RF07":          "The customer's bank declined the payment.",
	"BANKIDCL":      "The customer cancelled in BankID. No money was taken.",
	"BANKIDONGOING": "The customer is already signing something else with BankID. Ask them to try again.",
	"BANKIDUNKN":    "BankID could not confirm the customer. No money was taken.",
	"FF10":          "The bank had a problem and did not take the payment. Try again or use another method.",
	"TM01":          "The customer did not approve in time. No money was taken.",
	"DS24":          "The bank did not answer in time: it is not known whether the money was taken. Ask the customer to check the Swish app or the bank before anything else.",
	"RF02":          "The original payment cannot be refunded: it was not found or is older than 13 months.",
	"RF03":          "The refund must be paid from the Swish number that received the payment.",
	"RF04":          "The refund's organisation number does not match the original payment.",
	"RF06":          "The customer's personal number does not match the original payment.",
	"RF08":          "The refund is larger than what is left of the payment.",
	"PA01":          "Swish refused a parameter of the payout.",
}

// CodeMessage returns the sentence a cashier reads for a Swish error code.
func CodeMessage(code string) string {
	if m, ok := codeMessages[code]; ok {
		return m
	}
	if code == "" {
		return "Swish reported an error."
	}
	return "Swish reported error " + code + "."
}
