package http

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/bookkeeping"
	"github.com/kvitt-hub/kvitt/hub"
)

// Bookkeeping (docs/bookkeeping.md, docs/api.md): the period's Z reports
// as a SIE 4 or CSV file for the merchant's books, and each store's
// accounts. Admin and back-office keys only.

// bookkeepingExport answers GET /v1/bookkeeping/sie and /csv
// ?from=YYYY-MM-DD&to=YYYY-MM-DD[&merchant=ID][&skip_exported=true]: the
// file itself, marked exported. Its id is in X-Kvitt-Export-Id: a file
// that never arrived is fetched again from /v1/bookkeeping/exports/{id}.
func (s *Server) bookkeepingExport(format string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
			return err
		}
		q := r.URL.Query()
		skip := false
		if v := q.Get("skip_exported"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return kvitt.FieldError("skip_exported", "is true or false, not %q", v)
			}
			skip = b
		}
		ex, err := s.Hub.ExportBookkeeping(r.Context(), hub.BookkeepingQuery{From: q.Get("from"), To: q.Get("to"),
			MerchantID: q.Get("merchant"), Format: format, SkipExported: skip})
		if err != nil {
			return err
		}
		writeExport(w, ex)
		return nil
	}
}

// handleGetBookkeepingExport answers GET /v1/bookkeeping/exports/{id}:
// an export made before, byte for byte.
func (s *Server) handleGetBookkeepingExport(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	ex, err := s.Hub.GetBookkeepingExport(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeExport(w, ex)
	return nil
}

func writeExport(w http.ResponseWriter, ex *hub.BookkeepingExport) {
	h := w.Header()
	h.Set("Content-Type", ex.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": ex.Filename}))
	h.Set("X-Kvitt-Export-Id", ex.ID)
	h.Set("X-Kvitt-Vouchers", fmt.Sprint(ex.Vouchers))
	h.Set("X-Kvitt-Z-Reports", fmt.Sprint(len(ex.ZReports)))
	h.Set("X-Kvitt-Skipped", fmt.Sprint(len(ex.Skipped)))
	w.WriteHeader(http.StatusOK)
	w.Write(ex.Content)
}

// storeAccountsJSON is a store's accounts on the wire: the fields of
// bookkeeping.Accounts and the store's id (optional in a PUT, where it
// must match the path).
type storeAccountsJSON struct {
	StoreID string `json:"store_id,omitempty"`
	bookkeeping.Accounts
}

// handleGetBookkeepingAccounts answers GET /v1/bookkeeping/stores/{id}/accounts:
// the accounts in force, defaults included.
func (s *Server) handleGetBookkeepingAccounts(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	a, err := s.Hub.BookkeepingAccounts(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, storeAccountsJSON{StoreID: a.StoreID, Accounts: a.Accounts})
	return nil
}

// handlePutBookkeepingAccounts answers PUT /v1/bookkeeping/stores/{id}/accounts:
// the body's settings over the defaults replace the store's.
func (s *Server) handlePutBookkeepingAccounts(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	var req storeAccountsJSON
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if req.StoreID != "" && req.StoreID != id {
		return kvitt.FieldError("store_id", "is %q, the path's store is %q", req.StoreID, id)
	}
	a, err := s.Hub.SetBookkeepingAccounts(r.Context(), id, req.Accounts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, storeAccountsJSON{StoreID: a.StoreID, Accounts: a.Accounts})
	return nil
}
