package swish

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
)

// Limits Swish sets on the fields of a payment request.
const (
	MinAmountOre     int64 = 1              // 0.01 SEK
	MaxAmountOre     int64 = 99999999999999 // 999999999999.99 SEK
	MaxMessageLength       = 50
	MaxReferenceLen        = 35
)

// FieldCodes maps each validated field to the Swish error code Swish itself
// would answer with, so a refusal found before sending reads like Swish's.
var FieldCodes = map[string]string{
	"payeePaymentReference":    "FF08",
	"payerPaymentReference":    "FF08",
	"callbackUrl":              "RP03",
	"payerAlias":               "BE18",
	"payeeAlias":               "RP01",
	"amount":                   "PA02",
	"currency":                 "AM03",
	"message":                  "RP02",
	"originalPaymentReference": "RF02",
}

func fieldErr(field, format string, args ...any) error {
	return kvitt.FieldError(field, format, args...)
}

// Validate checks every field of a create against Swish's rules.
func (r *PaymentRequest) Validate() error {
	if err := validateReference("payeePaymentReference", r.PayeePaymentReference, false); err != nil {
		return err
	}
	if err := validateCallbackURL(r.CallbackURL); err != nil {
		return err
	}
	if r.PayerAlias != "" {
		if err := ValidatePayerAlias(r.PayerAlias); err != nil {
			return err
		}
	}
	if err := ValidateMerchantNumber("payeeAlias", r.PayeeAlias); err != nil {
		return err
	}
	if err := validateAmount(r.Amount); err != nil {
		return err
	}
	if r.Currency != "SEK" {
		return fieldErr("currency", "must be SEK, not %q", r.Currency)
	}
	return ValidateMessage(r.Message)
}

// Validate checks every field of a refund against Swish's rules.
func (r *Refund) Validate() error {
	if r.OriginalPaymentReference == "" {
		return fieldErr("originalPaymentReference", "is required: the bank's reference of the paid payment")
	}
	if err := validateReference("originalPaymentReference", r.OriginalPaymentReference, true); err != nil {
		return err
	}
	if err := validateReference("payerPaymentReference", r.PayerPaymentReference, false); err != nil {
		return err
	}
	if err := validateCallbackURL(r.CallbackURL); err != nil {
		return err
	}
	if err := ValidateMerchantNumber("payerAlias", r.PayerAlias); err != nil {
		return err
	}
	if err := validateAmount(r.Amount); err != nil {
		return err
	}
	if r.Currency != "SEK" {
		return fieldErr("currency", "must be SEK, not %q", r.Currency)
	}
	return ValidateMessage(r.Message)
}

func validateReference(field, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErr(field, "is required")
		}
		return nil
	}
	if len(s) > MaxReferenceLen {
		return fieldErr(field, "is %d characters; at most %d", len(s), MaxReferenceLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fieldErr(field, "may hold only A-Z, a-z, 0-9 and '-'")
		}
	}
	return nil
}

func validateCallbackURL(s string) error {
	if s == "" {
		return fieldErr("callbackUrl", "is required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fieldErr("callbackUrl", "must be an absolute https URL")
	}
	return nil
}

// ValidatePayerAlias checks a payer's Swish number: 8–15 digits with the
// country code first (46… in Sweden), no leading 0.
func ValidatePayerAlias(s string) error {
	if len(s) < 8 || len(s) > 15 || !digits(s) {
		return fieldErr("payerAlias", "must be 8 to 15 digits with the country code first (46701234567)")
	}
	if s[0] == '0' {
		return fieldErr("payerAlias", "must start with the country code (46…), not 0")
	}
	return nil
}

// ValidateMerchantNumber checks a merchant's Swish number: 10 digits starting 123.
func ValidateMerchantNumber(field, s string) error {
	if len(s) != 10 || !digits(s) || !strings.HasPrefix(s, "123") {
		return fieldErr(field, "must be the merchant's Swish number: 10 digits starting 123")
	}
	return nil
}

func validateAmount(a Amount) error {
	s := string(a)
	if s == "" {
		return fieldErr("amount", "is required")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || !digits(intPart) || hasDot && (len(frac) != 2 || !digits(frac)) {
		return fieldErr("amount", "%q must be digits with two decimals (12.50)", s)
	}
	ore, err := a.Ore()
	if err != nil || ore > MaxAmountOre {
		return fieldErr("amount", "%q is above the maximum 999999999999.99", s)
	}
	if ore < MinAmountOre {
		return fieldErr("amount", "%q is below the minimum 0.01", s)
	}
	return nil
}

// ValidateMessage checks a payment or refund message: at most 50
// characters of letters (Latin-1), digits, space and !?=#$%&()*+,-./:;<'"@.
func ValidateMessage(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxMessageLength {
		return fieldErr("message", "is %d characters; at most %d", n, MaxMessageLength)
	}
	for _, r := range s {
		if !messageRune(r) {
			return fieldErr("message", "may not contain %q", r)
		}
	}
	return nil
}

func messageRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == ' ':
		return true
	case strings.ContainsRune(`!?=#$%&()*+,-./:;<'"@`, r):
		return true
	case r >= 0xC0 && r <= 0xFF && r != 0xD7 && r != 0xF7: // Latin-1 letters: åäöÅÄÖéü…
		return true
	}
	return false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
