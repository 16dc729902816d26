package nexo

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CryptoRefusal is a terminal's refusal of a protected message it could not
// authenticate. Adyen documents it as HTTP 401 with
// {"errors":["Nexo Service: crypto error (9)"],"ServiceID":"…"}
// (docs.adyen.com … local/protect-with-library, "Troubleshooting: Crypto
// errors"): the shared key in the till differs from the terminal's. Adyen
// names (1) a request it cannot parse, (2) an unknown key version and (3) a
// problem with the message header; the other numbers are not published.
//
// The terminal did not process such a message, so a refused PaymentRequest
// charged nothing, with one exception: a replayed nonce means the very same
// protected message reached the terminal before, so that one may have been
// processed (Replay: the outcome is unknown, and wraps ErrTransport).
type CryptoRefusal struct {
	Category  string // the refused request's MessageCategory
	ServiceID string
	Detail    string // the terminal's words ("Nexo Service: crypto error (2)")
	Replay    bool
}

func (e *CryptoRefusal) Error() string {
	return fmt.Sprintf("nexo: %s %s refused by the terminal (HTTP 401): %s", e.Category, e.ServiceID, e.Detail)
}

func (e *CryptoRefusal) Unwrap() []error {
	if e.Replay {
		return []error{ErrCrypto, ErrTransport}
	}
	return []error{ErrCrypto}
}

// Message is what the till shows.
func (e *CryptoRefusal) Message() string {
	if e.Replay {
		return "The card terminal refused kvitt's message as a repeat of an earlier one (" + e.Detail + "). " +
			"Check on the terminal whether the payment went through before taking it again."
	}
	return "The terminal's encryption key does not match: check the key id and version in kvitt's configuration " +
		"(the till's terminal.key_identifier, key_version and passphrase must be those of the terminal's encryption key). " +
		"Nothing was charged. (The terminal said: " + e.Detail + ")"
}

// cryptoRefusal reads a 401 answer; nil if it is not a crypto error.
func cryptoRefusal(h MessageHeader, body []byte) *CryptoRefusal {
	var ans struct {
		Errors    []string `json:"errors"`
		ServiceID string   `json:"ServiceID"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return nil
	}
	detail := strings.Join(ans.Errors, "; ")
	if !strings.Contains(strings.ToLower(detail), "crypto error") {
		return nil
	}
	low := strings.ToLower(detail)
	return &CryptoRefusal{
		Category:  h.MessageCategory,
		ServiceID: h.ServiceID,
		Detail:    detail,
		Replay:    strings.Contains(low, "replay"),
	}
}
