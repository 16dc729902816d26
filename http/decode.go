package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields, trailing data, wrong
// types and bodies over 1 MiB are refused with an error naming the field.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return kvitt.Errorf(kvitt.EINVALID, "reading the body: %v", err)
	}
	if len(body) > maxBody {
		return kvitt.Errorf(kvitt.EINVALID, "the body is larger than 1 MiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return kvitt.Errorf(kvitt.EINVALID, "the body is empty; send a JSON object")
	}
	// The Content-Type is not checked: the body must be JSON whatever it says
	// (curl -d sends form encoding by default).
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// More would let a stray "}" or "]" through; only the end of the body may follow.
	if _, err := dec.Token(); err != io.EOF {
		return kvitt.Errorf(kvitt.EINVALID, "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var fe *kvitt.Error
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &syn):
		return &kvitt.Error{Code: kvitt.EINVALID, Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ) && typ.Field == "" && typ.Type.Kind() == reflect.Struct:
		return &kvitt.Error{Code: kvitt.EINVALID, Message: fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)}
	case errors.As(err, &typ):
		field := typ.Field
		want := typ.Type.String()
		switch want {
		case "int64", "int":
			want = "an integer"
			if strings.HasPrefix(typ.Value, "number") {
				return &kvitt.Error{Code: kvitt.EINVALID, Field: field, Message: "must be an integer in minor units (öre, cents), within ±9223372036854775807"}
			}
		case "float64":
			want = "a number"
		case "string":
			want = "a string"
		}
		return &kvitt.Error{Code: kvitt.EINVALID, Field: field, Message: fmt.Sprintf("must be %s, not %s", want, typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return kvitt.Errorf(kvitt.EINVALID, "malformed JSON: the body ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &kvitt.Error{Code: kvitt.EINVALID, Field: name, Message: "is not a known field"}
	}
	return &kvitt.Error{Code: kvitt.EINVALID, Message: "malformed JSON: " + err.Error()}
}

// decodeList decodes the JSON array b element by element, as strictly as
// decode, so that an error names the element with its index, 0-based:
// "lines[1].quantity" (encoding/json's own errors leave the index out:
// "lines.quantity"). name is the array's field.
func decodeList[T any](b []byte, name string) ([]T, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, &kvitt.Error{Code: kvitt.EINVALID, Field: name, Message: "must be an array"}
	}
	if raws == nil { // null
		return nil, nil
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			return nil, kvitt.WithFieldPrefix(name+"["+strconv.Itoa(i)+"]", jsonError(err))
		}
	}
	return out, nil
}

// flexString accepts a JSON string or an integer (till ids are "1" or 1).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if _, err := strconv.ParseInt(string(b), 10, 64); err != nil {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: typeOfString}
	}
	*f = flexString(b)
	return nil
}

// number is a JSON number kept as its text for exact parsing; unlike
// json.Number it refuses a quoted string ("2"): a number must be a number.
type number string

func (n *number) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeOf(0.0)}
	}
	var v json.Number
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = number(v)
	return nil
}

// decimal parses a JSON number exactly into an integer scaled by 10^places
// (quantity 0.35 with 3 places → 350; vat_rate 12.5 with 2 places → 1250).
func decimal(n number, field string, places int) (int64, error) {
	s := string(n)
	if s == "" {
		return 0, kvitt.FieldError(field, "is required")
	}
	if strings.ContainsAny(s, "eE") {
		return 0, &kvitt.Error{Code: kvitt.EINVALID, Field: field, Message: "must be a plain decimal number, without an exponent"}
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	if len(fp) > places {
		return 0, kvitt.FieldError(field, "has more than %d decimals", places)
	}
	fp += strings.Repeat("0", places-len(fp))
	v, err := strconv.ParseInt(ip+fp, 10, 64)
	if err != nil || v > 1e15 {
		return 0, kvitt.FieldError(field, "is too large")
	}
	if neg {
		v = -v
	}
	return v, nil
}
