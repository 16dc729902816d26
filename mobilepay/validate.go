package mobilepay

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
)

// Rules the platform publishes for the fields kvitt sends (sources in docs/mobilepay.md).
var (
	// referenceRE is the ePayment reference: ^[a-zA-Z0-9-]{8,64}$ (older
	// spec versions: 8 to 50). kvitt's own references are 32 characters.
	referenceRE = regexp.MustCompile(`^[a-zA-Z0-9-]{8,64}$`)
	// phoneRE is the MSISDN: country code and number, digits only.
	phoneRE = regexp.MustCompile(`^[0-9]{10,15}$`)
	msnRE   = regexp.MustCompile(`^[0-9]{4,10}$`)
	guidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	digits  = regexp.MustCompile(`^[0-9]{15}$`)
)

// Limits of the platform.
const (
	MaxIdempotencyKey      = 50 // Idempotency-Key header, maxLength 50
	MaxLocationDescription = 36 // merchant callback QR locationDescription
	MaxPaymentDescription  = 100
)

// minAmount is the smallest amount the platform takes per currency:
// "NOK 100 øre, DKK 1 øre, EUR 1 cent".
var minAmount = map[string]int64{"NOK": 100, "DKK": 1, "EUR": 1}

// Currencies lists the currencies the platform takes.
var Currencies = []kvitt.Currency{kvitt.DKK, kvitt.NOK, kvitt.EUR}

// Takes reports whether MobilePay takes payments in c.
func Takes(c kvitt.Currency) bool { _, ok := minAmount[string(c)]; return ok }

// ValidateReference checks an ePayment reference.
func ValidateReference(s string) error {
	if !referenceRE.MatchString(s) {
		return kvitt.FieldError("reference", "%q must be 8 to 64 letters a-z, A-Z, digits or '-'", s)
	}
	return nil
}

// ValidateIdempotencyKey checks an Idempotency-Key: 1 to 50 visible ASCII characters.
func ValidateIdempotencyKey(s string) error {
	if s == "" || len(s) > MaxIdempotencyKey {
		return kvitt.FieldError("Idempotency-Key", "must be 1 to %d characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return kvitt.FieldError("Idempotency-Key", "may hold only visible ASCII characters")
		}
	}
	return nil
}

// ValidateMSN checks a Merchant Serial Number: digits only.
func ValidateMSN(s string) error {
	if !msnRE.MatchString(s) {
		return kvitt.FieldError("merchant_serial_number", "%q must be the sales unit's Merchant Serial Number: 4 to 10 digits", s)
	}
	return nil
}

// NormalizePhoneNumber turns what a cashier types ("+45 12 34 56 78",
// "0045-12345678") into the MSISDN the platform wants ("4512345678"). It
// does not validate; see ValidatePhoneNumber.
func NormalizePhoneNumber(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "00"):
		s = s[2:]
	}
	return s
}

// ValidatePhoneNumber checks a customer's number as MSISDN: the country
// code first, then the number, 10 to 15 digits ("4512345678").
func ValidatePhoneNumber(s string) error {
	if !phoneRE.MatchString(s) {
		return kvitt.FieldError("payer_alias", "must be the customer's mobile number with the country code first, 10 to 15 digits, such as 4512345678 (Denmark), 4791234567 (Norway) or 358401234567 (Finland)")
	}
	return nil
}

// BeaconRule is the rule a beacon id must follow, for error messages.
const BeaconRule = "a MobilePay beacon id is a GUID (8-4-4-4-12 hexadecimal digits, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6) or 15 digits (the id of a physical MobilePay box); the content of the till's QR sticker (mobilepaypos://pos?id=…) is accepted too"

// ParseBeaconID returns the beacon id typed or scanned at the till in its
// canonical form (a GUID in lower case, as MobilePay PoS stickers encode
// it). It accepts the id itself or the whole content of a MobilePay PoS
// sticker, mobilepaypos://pos?id={beaconId}&source=qr. Anything else is an
// EUNPROCESSABLE error naming the rule.
func ParseBeaconID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "mobilepaypos:") {
		u, err := url.Parse(s)
		if err != nil {
			return "", kvitt.FieldError("beacon_id", "the scanned QR content %q is not a MobilePay PoS sticker: %s", s, BeaconRule)
		}
		s = u.Query().Get("id")
	}
	if l := strings.ToLower(s); guidRE.MatchString(l) {
		return l, nil
	}
	if digits.MatchString(s) {
		return s, nil
	}
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:60]) + "…"
	}
	return "", kvitt.FieldError("beacon_id", "%q is not a beacon id: %s", s, BeaconRule)
}

// ValidateLocationDescription checks the text the app shows when the QR is
// scanned ("Kasse 1"): required, at most 36 characters.
func ValidateLocationDescription(s string) error {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > MaxLocationDescription {
		return kvitt.FieldError("location_description", "must be 1 to %d characters (the till's name shown in the app, such as \"Kasse 1\")", MaxLocationDescription)
	}
	return kvitt.CheckText("location_description", s)
}

func validateAmount(field string, a Amount) error {
	min, ok := minAmount[a.Currency]
	if !ok {
		return kvitt.FieldError(field+".currency", "MobilePay takes DKK, NOK and EUR only, not %q", a.Currency)
	}
	if a.Value < min {
		return kvitt.FieldError(field+".value", "%s is below MobilePay's minimum of %s %s",
			kvitt.FormatAmount(a.Value, kvitt.Currency(a.Currency)), kvitt.FormatAmount(min, kvitt.Currency(a.Currency)), a.Currency)
	}
	return nil
}

// Validate checks a create against the published rules before it is sent.
func (r *CreatePaymentRequest) Validate() error {
	if err := validateAmount("amount", r.Amount); err != nil {
		return err
	}
	if err := ValidateReference(r.Reference); err != nil {
		return err
	}
	if r.PaymentMethod.Type != "WALLET" {
		return kvitt.FieldError("paymentMethod.type", "must be WALLET (the app) in store")
	}
	switch r.UserFlow {
	case FlowPushMessage:
		if r.Customer == nil {
			return kvitt.FieldError("customer", "is required for userFlow PUSH_MESSAGE")
		}
	case FlowQR:
		if r.Customer != nil {
			return kvitt.FieldError("customer", "must be empty for userFlow QR: whoever scans the QR pays")
		}
	default:
		return kvitt.FieldError("userFlow", "must be PUSH_MESSAGE or QR in store, not %q", r.UserFlow)
	}
	if c := r.Customer; c != nil {
		n := 0
		for _, v := range []string{c.PhoneNumber, c.PersonalQR, c.CustomerToken} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			return kvitt.FieldError("customer", "must name the customer one way: phoneNumber, personalQr or customerToken")
		}
		if c.PhoneNumber != "" {
			if err := ValidatePhoneNumber(c.PhoneNumber); err != nil {
				return kvitt.FieldError("customer.phoneNumber", "%s", kvitt.ErrorMessage(err))
			}
		}
	}
	if r.CustomerInteraction != "" && r.CustomerInteraction != CustomerPresent && r.CustomerInteraction != "CUSTOMER_NOT_PRESENT" {
		return kvitt.FieldError("customerInteraction", "must be CUSTOMER_PRESENT or CUSTOMER_NOT_PRESENT")
	}
	if n := utf8.RuneCountInString(r.PaymentDescription); n > MaxPaymentDescription || (n > 0 && n < 3) {
		return kvitt.FieldError("paymentDescription", "must be 3 to %d characters", MaxPaymentDescription)
	}
	return nil
}
