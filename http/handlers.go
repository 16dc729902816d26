package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
	"github.com/kvitt-hub/kvitt/qr"
	"github.com/kvitt-hub/kvitt/receipt"
)

var errNoRoute = kvitt.Errorf(kvitt.ENOTFOUND, "no such endpoint; see docs/api.md")

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("ok\n"))
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if s.Ready != nil {
		problems = s.Ready(r.Context())
	}
	body := map[string]any{"ready": len(problems) == 0}
	if len(problems) > 0 {
		body["problems"] = problems
	}
	if s.Warnings != nil {
		if ws := s.Warnings(r.Context()); len(ws) > 0 {
			body["warnings"] = ws
		}
	}
	status := http.StatusOK
	if len(problems) > 0 {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// Sales.

func (s *Server) handleCreateSale(w http.ResponseWriter, r *http.Request) error {
	var req saleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p := principalOf(r.Context())
	if err := require(p, kvitt.ScopeAdmin, kvitt.ScopeBackOffice, kvitt.ScopeTill); err != nil {
		return err
	}
	if p.Scope == kvitt.ScopeTill && req.TillID == "" {
		req.TillID = flexString(p.TillID)
	}
	if p.Scope == kvitt.ScopeTill && canTill(p, string(req.TillID)) != nil {
		return &kvitt.Error{Code: kvitt.EFORBIDDEN, Field: "till_id", Message: "you may work at till " + strings.Join(p.tills(), ", ") + " only"}
	}
	in, err := req.toInput()
	if err != nil {
		return err
	}
	in.IdempotencyKey = idempotencyKeyOf(r.Context())
	sale, err := s.Hub.CreateSale(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSaleJSON(sale))
	return nil
}

// saleFor loads a sale the caller may see.
func (s *Server) saleFor(r *http.Request) (*kvitt.Sale, error) {
	sale, err := s.Hub.GetSale(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := canTill(principalOf(r.Context()), sale.TillID); err != nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "sale %q not found", r.PathValue("id"))
	}
	return sale, nil
}

func (s *Server) handleGetSale(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.saleFor(r); err != nil {
		return err
	}
	v, err := s.Hub.ViewSale(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSaleViewJSON(v, s.qrURL, audienceOf(principalOf(r.Context()))))
	return nil
}

func (s *Server) handleCreatePayment(w http.ResponseWriter, r *http.Request) error {
	var req paymentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	sale, err := s.saleFor(r)
	if err != nil {
		return err
	}
	p, err := s.Hub.CreatePayment(r.Context(), sale.ID, hub.PaymentInput{Method: req.Method, Amount: req.Amount, Tendered: req.Tendered,
		PayerAlias: req.PayerAlias, Confirmed: req.Confirmed, ConfirmedBy: confirmedBy(r, req.Confirmed), IdempotencyKey: idempotencyKeyOf(r.Context())})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleCompleteSale(w http.ResponseWriter, r *http.Request) error {
	sale, err := s.saleFor(r)
	if err != nil {
		return err
	}
	rc, err := s.Hub.CompleteSale(r.Context(), sale.ID)
	if err != nil {
		return err
	}
	writeReceiptJSON(w, http.StatusOK, rc)
	return nil
}

func (s *Server) handleCancelSale(w http.ResponseWriter, r *http.Request) error {
	sale, err := s.saleFor(r)
	if err != nil {
		return err
	}
	sale, err = s.Hub.CancelSale(r.Context(), sale.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSaleJSON(sale))
	return nil
}

// Payments.

// paymentJSON is the payment as the request's principal may see it.
func (s *Server) paymentJSON(r *http.Request, p *kvitt.Payment) paymentJSON {
	return toPaymentJSONFor(p, s.qrURL, audienceOf(principalOf(r.Context())))
}

func (s *Server) paymentFor(r *http.Request) (*kvitt.Payment, error) {
	p, err := s.Hub.GetPayment(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := canTill(principalOf(r.Context()), p.TillID); err != nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "payment %q not found", r.PathValue("id"))
	}
	return p, nil
}

// receiptFor loads a receipt the caller may see.
func (s *Server) receiptFor(r *http.Request) (*kvitt.Receipt, error) {
	rc, err := s.Hub.GetReceipt(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := canTill(principalOf(r.Context()), rc.TillID); err != nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "receipt %q not found", rc.ID)
	}
	return rc, nil
}

// refundFor loads a refund the caller may see (by its payment's till).
func (s *Server) refundFor(r *http.Request) (*kvitt.Refund, error) {
	ref, err := s.Hub.GetRefund(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	p, err := s.Hub.GetPayment(r.Context(), ref.PaymentID)
	if err != nil {
		return nil, err
	}
	if err := canTill(principalOf(r.Context()), p.TillID); err != nil {
		return nil, kvitt.Errorf(kvitt.ENOTFOUND, "refund %q not found", ref.ID)
	}
	return ref, nil
}

func (s *Server) handleGetPayment(w http.ResponseWriter, r *http.Request) error {
	p, err := s.paymentFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleCancelPayment(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.paymentFor(r); err != nil {
		return err
	}
	p, err := s.Hub.CancelPayment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleSyncPayment(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.paymentFor(r); err != nil {
		return err
	}
	p, err := s.Hub.SyncPayment(r.Context(), r.PathValue("id"), hub.CauseAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleResolvePayment(w http.ResponseWriter, r *http.Request) error {
	var req resolveRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	p, err := s.Hub.ResolvePayment(r.Context(), r.PathValue("id"), kvitt.PaymentState(req.State), req.Note, actor(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleCreateRefund(w http.ResponseWriter, r *http.Request) error {
	var req refundRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := s.paymentFor(r); err != nil {
		return err
	}
	lines, err := req.returnLines()
	if err != nil {
		return err
	}
	ref, err := s.Hub.CreateRefund(r.Context(), r.PathValue("id"), hub.RefundInput{Amount: req.Amount, Lines: lines, IdempotencyKey: idempotencyKeyOf(r.Context())})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toRefundJSON(ref))
	return nil
}

func (s *Server) handleListRefunds(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.paymentFor(r); err != nil {
		return err
	}
	rs, err := s.Hub.ListRefunds(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := []refundJSON{}
	for _, x := range rs {
		out = append(out, toRefundJSON(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"refunds": out})
	return nil
}

func (s *Server) handleGetRefund(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.refundFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRefundJSON(ref))
	return nil
}

// handleQR renders the payment's QR code (unique to the payment, never reused).
// qrRoute serves a payment's QR code: to a request with a valid signed
// link (qrlink.go) without a key, otherwise as any API call.
func (s *Server) qrRoute(format string) http.Handler {
	authed := s.api(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.paymentFor(r)
		if err != nil {
			return err
		}
		return renderQR(w, r, p, format)
	})
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		signed, err := s.qrSigned(r, r.PathValue("id"), format)
		if err != nil {
			return err
		}
		if !signed {
			authed.ServeHTTP(w, r)
			return nil
		}
		p, err := s.Hub.GetPayment(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return renderQR(w, r, p, format)
	})
}

func renderQR(w http.ResponseWriter, r *http.Request, p *kvitt.Payment, format string) error {
	if p.Action == nil || p.Action.QRData == "" {
		return kvitt.Errorf(kvitt.ENOTFOUND, "payment %s has no QR code to show (state %s)", p.ID, p.State)
	}
	size := 512
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 128 || n > 2048 {
			return &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "size", Message: "must be a whole number of pixels from 128 to 2048"}
		}
		size = n
	}
	var b []byte
	var err error
	if format == "svg" {
		b, err = qr.SVG(p.Action.QRData, size)
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		b, err = qr.PNG(p.Action.QRData, size)
		w.Header().Set("Content-Type", "image/png")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "private, no-store")
	w.Write(b)
	return nil
}

// Receipts.

func writeReceiptJSON(w http.ResponseWriter, status int, rc *kvitt.Receipt) {
	writeJSON(w, status, receipt.ToJSON(rc))
}

func (s *Server) handleGetReceipt(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.receiptFor(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	width := 42
	if v := q.Get("width"); v != "" {
		if v != "42" && v != "48" {
			return &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "width", Message: "must be 42 or 48 (printer columns)"}
		}
		width, _ = strconv.Atoi(v)
	}
	switch q.Get("format") {
	case "", "json":
		writeReceiptJSON(w, http.StatusOK, rc)
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(receipt.Text(rc, width)))
	case "html":
		b, err := receipt.HTML(rc)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	case "escpos":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(receipt.ESCPOS(rc, width))
	default:
		return &kvitt.Error{Code: kvitt.EUNPROCESSABLE, Field: "format", Message: "must be text, html, json or escpos"}
	}
	return nil
}

// Tills.

func (s *Server) handleListTills(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r.Context())
	var tills []*kvitt.Till
	if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { tills, err = tx.ListTills(); return err }); err != nil {
		return err
	}
	out := []tillJSON{}
	for _, t := range tills {
		if canTill(p, t.ID) == nil {
			out = append(out, s.tillView(r.Context(), t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tills": out})
	return nil
}

func (s *Server) handleGetTill(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := canTill(principalOf(r.Context()), id); err != nil {
		return kvitt.Errorf(kvitt.ENOTFOUND, "till %q not found", id)
	}
	var t *kvitt.Till
	if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { t, err = tx.GetTill(id); return err }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.tillView(r.Context(), t))
	return nil
}

// API keys.

type apiKeyRequest struct {
	Scope  string     `json:"scope"`
	TillID flexString `json:"till_id"`
	Name   string     `json:"name"`
}

type apiKeyJSON struct {
	ID        string     `json:"id"`
	Key       string     `json:"key,omitempty"`
	Scope     string     `json:"scope"`
	TillID    string     `json:"till_id,omitempty"`
	Name      string     `json:"name,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toAPIKeyJSON(k *kvitt.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Scope: string(k.Scope), TillID: k.TillID, Name: k.Name, CreatedAt: k.Created, RevokedAt: k.Revoked}
}

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req apiKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	k, secret, err := CreateAPIKey(r.Context(), s.Store, kvitt.Scope(req.Scope), string(req.TillID), req.Name)
	if err != nil {
		return err
	}
	j := toAPIKeyJSON(k)
	j.Key = secret
	noReplay(r.Context())
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// MaxAPIKeyName bounds an API key's name, in characters.
const MaxAPIKeyName = 100

// CreateAPIKey validates and stores a new key, returning the secret to show once.
func CreateAPIKey(ctx context.Context, store kvitt.Store, scope kvitt.Scope, tillID, name string) (*kvitt.APIKey, string, error) {
	// The name is optional; it is shown in key lists and logs.
	if n := utf8.RuneCountInString(name); n > MaxAPIKeyName {
		return nil, "", kvitt.FieldError("name", "is %d characters; at most %d", n, MaxAPIKeyName)
	}
	if err := kvitt.CheckText("name", name); err != nil {
		return nil, "", err
	}
	switch scope {
	case kvitt.ScopeAdmin, kvitt.ScopeBackOffice:
		if tillID != "" {
			return nil, "", kvitt.FieldError("till_id", "is only for till keys")
		}
	case kvitt.ScopeTill, kvitt.ScopeDisplay:
		if tillID == "" {
			return nil, "", kvitt.FieldError("till_id", "is required for a %s key", scope)
		}
	default:
		return nil, "", kvitt.FieldError("scope", "must be admin, backoffice, till or display")
	}
	k, secret := NewAPIKey(scope, tillID, name)
	err := store.Update(ctx, func(tx kvitt.Tx) error {
		if tillID != "" {
			if _, err := tx.GetTill(tillID); err != nil {
				return kvitt.FieldError("till_id", "no till %q", tillID)
			}
		}
		return tx.CreateAPIKey(k)
	})
	return k, secret, err
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var ks []*kvitt.APIKey
	if err := s.Store.View(r.Context(), func(tx kvitt.Tx) (err error) { ks, err = tx.ListAPIKeys(); return err }); err != nil {
		return err
	}
	out := []apiKeyJSON{}
	for _, k := range ks {
		out = append(out, toAPIKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
	return nil
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var k *kvitt.APIKey
	err := s.Store.Update(r.Context(), func(tx kvitt.Tx) (err error) {
		if k, err = tx.GetAPIKey(r.PathValue("id")); err != nil {
			return err
		}
		if k.Revoked == nil {
			now := time.Now().UTC()
			k.Revoked = &now
			return tx.UpdateAPIKey(k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPIKeyJSON(k))
	return nil
}

// Sandbox and callbacks.

func (s *Server) handleSandbox(w http.ResponseWriter, r *http.Request) error {
	var req sandboxRequest
	if r.ContentLength > 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	p, err := s.paymentFor(r)
	if err != nil {
		return err
	}
	// The customer enters amount + tip on the terminal: both together stay
	// within what kvitt accepts as an amount.
	if req.Tip < 0 {
		return kvitt.FieldError("tip", "must not be negative")
	}
	if _, ok := kvitt.AddAmounts(p.Amount, req.Tip); !ok {
		return kvitt.FieldError("tip", "amount + tip must be at most %s", kvitt.FormatAmount(kvitt.MaxAmount, p.Currency))
	}
	p, err = s.Hub.ActAsCustomer(r.Context(), r.PathValue("id"), kvitt.CustomerAction(r.PathValue("action")), kvitt.CustomerOptions{Tip: req.Tip, Scenario: req.Scenario})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.paymentJSON(r, p))
	return nil
}

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := s.Hub.Callback(r.Context(), r.PathValue("method"), r); err != nil {
		s.Logger.Warn("callback refused", "method", r.PathValue("method"), "remote", r.RemoteAddr, "err", err)
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleSandboxRefund(w http.ResponseWriter, r *http.Request) error {
	var req sandboxRequest
	if r.ContentLength > 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	ref, err := s.refundFor(r)
	if err != nil {
		return err
	}
	ref, err = s.Hub.ActOnRefund(r.Context(), ref.ID, kvitt.CustomerAction(r.PathValue("action")), kvitt.CustomerOptions{Scenario: req.Scenario})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRefundJSON(ref))
	return nil
}

// handleDisplay is what the till's customer and cashier displays show.
func (s *Server) handleDisplay(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	out, err := s.displayJSON(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) displayJSON(r *http.Request, id string) (map[string]any, error) {
	d, err := s.Hub.TillDisplay(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"till_id": id}
	if d.Sale != nil {
		out["sale"] = toSaleViewJSON(d.Sale, s.qrURL, tillAudience)
	}
	if d.Payment != nil {
		out["payment"] = toPaymentJSONFor(d.Payment, s.qrURL, tillAudience)
	}
	return out, nil
}

// handleDisplayEvents streams the display as server-sent events: the whole
// display ("event: display") at once and whenever it changes, woken by any
// payment of the till on this node and re-read every two seconds (a change
// made on another node, a new sale).
func (s *Server) handleDisplayEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := s.tillFor(r)
	if err != nil {
		return err
	}
	var last []byte
	seq := 0
	return s.stream(w, r, hub.TillKey(id), func(w io.Writer) bool {
		out, err := s.displayJSON(r, id)
		if err != nil {
			return true // the client reconnects
		}
		b, _ := json.Marshal(out)
		if !bytes.Equal(b, last) {
			seq++
			fmt.Fprintf(w, "id: %d\nevent: display\ndata: %s\n\n", seq, b)
			last = b
		}
		return false
	})
}
