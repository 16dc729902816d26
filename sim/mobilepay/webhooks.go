package simmobilepay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// webhook is one registration.
type webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	secret string
}

// knownEvents are the event types the simulator sends.
var knownEvents = []string{
	"epayments.payment.created.v1", "epayments.payment.aborted.v1", "epayments.payment.expired.v1",
	"epayments.payment.cancelled.v1", "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
	"epayments.payment.authorized.v1", "epayments.payment.terminated.v1", "user.checked-in.v1",
}

func (s *Sim) registerWebhook(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var b struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decodeStrict(raw, &b, webhookKeys); err != nil {
		badField(w, r, "body", err.Error())
		return
	}
	u, err := url.Parse(b.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		badField(w, r, "Url", "The URL must be an absolute URL using HTTPS.")
		return
	}
	if len(b.Events) == 0 {
		badField(w, r, "Events", "At least one event is required.")
		return
	}
	for _, e := range b.Events {
		if !slices.Contains(knownEvents, e) {
			badField(w, r, "Events", fmt.Sprintf("Unknown event type %q.", e))
			return
		}
	}
	h := &webhook{ID: randomUUID(), URL: b.URL, Events: b.Events, secret: randomBase64(64)}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, h)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]string{"id": h.ID, "secret": h.secret})
}

func (s *Sim) listWebhooks(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := make([]webhook, len(s.webhooks))
	for i, h := range s.webhooks {
		list[i] = *h
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}

func (s *Sim) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.webhooks {
		if h.ID == id {
			s.webhooks = slices.Delete(s.webhooks, i, i+1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeProblem(w, r, http.StatusNotFound, "Not Found", "No webhook "+id+".", "")
}

// sign computes the delivery headers as the Webhooks API documents them:
// Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=
// base64(HMAC-SHA256(secret, "POST\n{pathAndQuery}\n{date};{host};{contentHash}")).
func sign(secret, rawURL string, date time.Time, body []byte) (http.Header, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "443" {
		host = u.Hostname()
	}
	pq := u.EscapedPath()
	if pq == "" {
		pq = "/"
	}
	if u.RawQuery != "" {
		pq += "?" + u.RawQuery
	}
	sum := sha256.Sum256(body)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	d := date.UTC().Format(http.TimeFormat)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "POST\n%s\n%s;%s;%s", pq, d, host, hash)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("x-ms-date", d)
	h.Set("x-ms-content-sha256", hash)
	h.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return h, nil
}

// deliverLocked sends event to every registration for its type, signed with
// the registration's secret. Called with s.mu held.
func (s *Sim) deliverLocked(eventType string, event any) {
	if s.closed {
		return
	}
	body, _ := json.Marshal(event)
	for _, h := range s.webhooks {
		if !slices.Contains(h.Events, eventType) {
			continue
		}
		hdr, err := sign(h.secret, h.URL, s.opts.Now(), body)
		i := len(s.deliveries)
		s.deliveries = append(s.deliveries, Delivery{EventType: eventType, URL: h.URL, Header: hdr, Body: body, Dropped: s.drop})
		if err != nil {
			s.deliveries[i].Err = err.Error()
			continue
		}
		if s.drop {
			continue
		}
		s.wg.Add(1)
		go func(url string) {
			defer s.wg.Done()
			if !s.waitDone(context.Background(), s.opts.WebhookDelay) {
				return
			}
			code, err := s.post(url, hdr, body)
			s.mu.Lock()
			s.deliveries[i].StatusCode = code
			if err != nil {
				s.deliveries[i].Err = err.Error()
			}
			s.mu.Unlock()
		}(h.URL)
	}
}

func (s *Sim) post(url string, hdr http.Header, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = hdr.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Replay is a test hook: it sends delivery i again exactly as it was first
// sent (same headers, same signature), as an attacker who recorded it
// would. It returns the receiver's status code.
func (s *Sim) Replay(i int) (int, error) {
	s.mu.Lock()
	if i < 0 || i >= len(s.deliveries) {
		s.mu.Unlock()
		return 0, fmt.Errorf("simmobilepay: no delivery %d", i)
	}
	d := s.deliveries[i]
	s.mu.Unlock()
	return s.post(d.URL, d.Header, d.Body)
}

// Redeliver is a test hook: it sends delivery i's event again, freshly
// signed (as the platform's retries do), and returns the receiver's status.
func (s *Sim) Redeliver(i int) (int, error) {
	s.mu.Lock()
	if i < 0 || i >= len(s.deliveries) {
		s.mu.Unlock()
		return 0, fmt.Errorf("simmobilepay: no delivery %d", i)
	}
	d := s.deliveries[i]
	var secret string
	for _, h := range s.webhooks {
		if h.URL == d.URL && slices.Contains(h.Events, d.EventType) {
			secret = h.secret
		}
	}
	s.mu.Unlock()
	hdr, err := sign(secret, d.URL, s.opts.Now(), d.Body)
	if err != nil {
		return 0, err
	}
	return s.post(d.URL, hdr, d.Body)
}
