package http

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/kvitt-hub/kvitt"
)

// statusOf maps kvitt error codes to HTTP statuses: the one place that does.
var statusOf = map[string]int{
	kvitt.EINVALID:       http.StatusBadRequest,
	kvitt.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	kvitt.EUNAUTHORIZED:  http.StatusUnauthorized,
	kvitt.EFORBIDDEN:     http.StatusForbidden,
	kvitt.ENOTFOUND:      http.StatusNotFound,
	kvitt.ECONFLICT:      http.StatusConflict,
	kvitt.EPROVIDER:      http.StatusBadGateway,
	kvitt.EUNAVAILABLE:   http.StatusServiceUnavailable,
	kvitt.EINTERNAL:      http.StatusInternalServerError,
	EMETHOD:              http.StatusMethodNotAllowed,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError writes err in the contract's shape. Internal errors are logged
// and their details hidden.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := kvitt.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := kvitt.ErrorMessage(err)
	if code == kvitt.EINTERNAL {
		logger.Error("internal error", "request_id", requestIDOf(r.Context()), "method", r.Method, "route", r.Pattern, "err", err)
		msg = "Internal error; it has been logged."
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kvitt"`)
	}
	writeJSON(w, status, errorBody{errorDetail{Code: code, Message: msg, Field: kvitt.ErrorField(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}
