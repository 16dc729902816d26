package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/hub"
)

// Outgoing webhooks (issue 14, docs/webhooks.md): the merchant's
// subscriptions, their delivery log and redelivery. An admin key manages
// them; a back-office key may read them. A secret is shown once: in the
// answer that made it (create, rotate-secret).

type webhookJSON struct {
	ID          string   `json:"id"`
	MerchantID  string   `json:"merchant_id"`
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Events      []string `json:"events"`
	Enabled     bool     `json:"enabled"`
	// Notice says why kvitt disabled the subscription.
	Notice     string     `json:"notice,omitempty"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// Secret is the signing secret, only in the answer that made it.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt: a replaced secret signs beside the new one until then.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

func toWebhookJSON(s *kvitt.WebhookSubscription, withSecret bool) webhookJSON {
	j := webhookJSON{ID: s.ID, MerchantID: s.MerchantID, URL: s.URL, Description: s.Description, Events: s.Events, Enabled: s.Enabled,
		Notice: s.Notice, CreatedAt: s.Created.UTC(), UpdatedAt: s.Updated.UTC()}
	if j.Events == nil {
		j.Events = []string{}
	}
	if !s.DisabledAt.IsZero() {
		t := s.DisabledAt.UTC()
		j.DisabledAt = &t
	}
	if withSecret && len(s.Secrets) > 0 {
		j.Secret = s.Secrets[0].Secret
	}
	now := time.Now()
	for _, old := range s.Secrets[min(1, len(s.Secrets)):] {
		if old.Expires.After(now) && (j.PreviousSecretExpiresAt == nil || old.Expires.After(*j.PreviousSecretExpiresAt)) {
			t := old.Expires.UTC()
			j.PreviousSecretExpiresAt = &t
		}
	}
	return j
}

type webhookRequest struct {
	MerchantID  *string   `json:"merchant_id"`
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
}

func (req webhookRequest) input() hub.WebhookInput {
	in := hub.WebhookInput{URL: req.URL, Description: req.Description, Events: req.Events, Enabled: req.Enabled}
	if req.MerchantID != nil {
		in.MerchantID = *req.MerchantID
	}
	return in
}

type webhookDeliveryJSON struct {
	ID            string          `json:"id"`
	Event         string          `json:"event"`
	Ref           string          `json:"ref"`
	JournalSeq    int64           `json:"journal_seq"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	LastStatus    int             `json:"last_status,omitempty"`
	LastError     string          `json:"last_error,omitempty"`
	LastAttemptAt *time.Time      `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"payload"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toDeliveryJSON(d *kvitt.WebhookDelivery) webhookDeliveryJSON {
	j := webhookDeliveryJSON{ID: d.ID, Event: d.Type, Ref: d.Ref, JournalSeq: d.Seq, State: d.State, Attempts: d.Attempts, LastStatus: d.LastStatus,
		LastError: d.LastError, LastAttemptAt: optTime(d.LastAttempt), DeliveredAt: optTime(d.Delivered), CreatedAt: d.Created.UTC(),
		Payload: json.RawMessage(d.Payload)}
	if d.State == kvitt.WebhookPending {
		j.NextAttemptAt = optTime(d.NextAttempt)
	}
	if !json.Valid(j.Payload) {
		j.Payload = json.RawMessage("null")
	}
	return j
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in := req.input()
	if req.MerchantID != nil && *req.MerchantID == "" {
		return kvitt.FieldError("merchant_id", "must not be empty (leave it out for the server's only merchant)")
	}
	if req.Enabled != nil && !*req.Enabled {
		return kvitt.FieldError("enabled", "a new webhook is enabled; disable it afterwards with PATCH")
	}
	sub, err := s.Hub.CreateWebhook(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toWebhookJSON(sub, true))
	return nil
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	subs, err := s.Hub.ListWebhooks(r.Context())
	if err != nil {
		return err
	}
	out := []webhookJSON{}
	for _, sub := range subs {
		out = append(out, toWebhookJSON(sub, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	sub, err := s.Hub.GetWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWebhookJSON(sub, false))
	return nil
}

// handleUpdateWebhook is PATCH /v1/webhooks/{id}: url, description,
// events, enabled. Enabling a webhook kvitt disabled sends what was queued
// meanwhile, in order.
func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	var req webhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.MerchantID != nil {
		return kvitt.FieldError("merchant_id", "cannot be changed; make a new webhook")
	}
	sub, err := s.Hub.UpdateWebhook(r.Context(), r.PathValue("id"), req.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWebhookJSON(sub, false))
	return nil
}

// handleRotateWebhookSecret is POST /v1/webhooks/{id}/rotate-secret: a new
// secret, shown once; the old one keeps signing beside it for 24 hours.
func (s *Server) handleRotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	sub, err := s.Hub.RotateWebhookSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWebhookJSON(sub, true))
	return nil
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	if err := s.Hub.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleWebhookDeliveries is GET /v1/webhooks/{id}/deliveries?limit=&after=:
// the delivery log, the newest event first.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin, kvitt.ScopeBackOffice); err != nil {
		return err
	}
	q := r.URL.Query()
	for k := range q {
		if k != "limit" && k != "after" {
			return kvitt.FieldError(k, "is not a known parameter (limit, after)")
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return kvitt.FieldError("limit", "must be a whole number from 1 to 1000")
		}
		limit = n
	}
	id := r.PathValue("id")
	ds, err := s.Hub.WebhookDeliveries(r.Context(), id, q.Get("after"), limit+1)
	if kvitt.ErrorCode(err) == kvitt.ENOTFOUND && q.Get("after") != "" {
		if _, gerr := s.Hub.GetWebhook(r.Context(), id); gerr == nil {
			return kvitt.FieldError("after", "is not a delivery of this webhook (give the id of the last delivery of the previous page)")
		}
	}
	if err != nil {
		return err
	}
	out := struct {
		Deliveries []webhookDeliveryJSON `json:"deliveries"`
		NextAfter  string                `json:"next_after,omitempty"`
	}{Deliveries: []webhookDeliveryJSON{}}
	ds, out.NextAfter = nextAfter(ds, limit, func(d *kvitt.WebhookDelivery) string { return d.ID })
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, toDeliveryJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRedeliverWebhook is POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver:
// the delivery is sent again now, with its webhook-id.
func (s *Server) handleRedeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := require(principalOf(r.Context()), kvitt.ScopeAdmin); err != nil {
		return err
	}
	d, err := s.Hub.RedeliverWebhook(r.Context(), r.PathValue("id"), r.PathValue("delivery"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toDeliveryJSON(d))
	return nil
}
