package kvitt

import (
	"errors"
	"fmt"
)

// Error codes. Code decides with ErrorCode(err); the HTTP layer maps each code
// to a status in one place (http/error.go).
const (
	EINVALID       = "invalid"        // malformed request: bad JSON, unknown field, wrong type (400)
	EUNPROCESSABLE = "unprocessable"  // well-formed but breaks a rule: negative amount, refund above what is left (422)
	EUNAUTHORIZED  = "unauthorized"   // no or unknown credentials (401)
	EFORBIDDEN     = "forbidden"      // credentials lack the scope (403)
	ENOTFOUND      = "not_found"      // no such resource, or not visible to the caller (404)
	ECONFLICT      = "conflict"       // the resource's state forbids the operation (409)
	EPROVIDER      = "provider_error" // the payment provider refused or failed (502)
	EUNAVAILABLE   = "unavailable"    // a dependency cannot be reached; try again (503)
	EINTERNAL      = "internal"       // a bug or an unexpected failure (500)
)

// Error is kvitt's domain error: a code for programs, a message for people and,
// for validation errors, the request field at fault (dotted JSON path such as
// "lines[2].unit_price").
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("kvitt: %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("kvitt: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns a validation error (EUNPROCESSABLE) naming the field and the rule it breaks.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EUNPROCESSABLE, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of an *Error, or "Internal error." for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the field named by an *Error, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// WithFieldPrefix returns err with its field prefixed ("lines[0]" + "quantity").
func WithFieldPrefix(prefix string, err error) error {
	var e *Error
	if !errors.As(err, &e) || prefix == "" {
		return err
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else if c.Field[0] == '[' {
		c.Field = prefix + c.Field
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}
