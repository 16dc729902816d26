package mobilepay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

const webhooksPath = "/webhooks/v1/webhooks"

// RegisterWebhook sends POST /webhooks/v1/webhooks. The answer's Secret
// keys the signature of every delivery to webhookURL; keep it.
func (c *Client) RegisterWebhook(ctx context.Context, webhookURL string, events []string) (*RegisterWebhookResponse, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, kvitt.FieldError("url", "%q must be an absolute https URL the platform can reach", webhookURL)
	}
	if len(events) == 0 {
		return nil, kvitt.FieldError("events", "name at least one event type")
	}
	var out RegisterWebhookResponse
	err = c.do(ctx, call{method: http.MethodPost, path: webhooksPath, body: &RegisterWebhookRequest{URL: webhookURL, Events: events},
		out: &out, want: []int{http.StatusCreated, http.StatusOK}})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks sends GET /webhooks/v1/webhooks.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out WebhookList
	if err := c.do(ctx, call{method: http.MethodGet, path: webhooksPath, out: &out}); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// DeleteWebhook sends DELETE /webhooks/v1/webhooks/{id}.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: webhooksPath + "/" + url.PathEscape(id), want: []int{http.StatusNoContent, http.StatusOK}})
}

// authPrefix is how the Authorization header of a delivery starts.
const authPrefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="

// ContentHash is the x-ms-content-sha256 of body: base64 of its SHA-256.
func ContentHash(body []byte) string {
	h := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(h[:])
}

// Signature computes a delivery's signature as the Webhooks API documents
// it: base64(HMAC-SHA256(secret, "POST\n{pathAndQuery}\n{x-ms-date};{host};{x-ms-content-sha256}")),
// with the secret's text as the key.
func Signature(secret, method, pathAndQuery, date, host, contentHash string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + pathAndQuery + "\n" + date + ";" + host + ";" + contentHash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verifier authenticates webhook deliveries: the HMAC signature with the
// registration's secret (compared in constant time), the body's hash, a
// date no further than MaxSkew from now, and no signature seen twice.
type Verifier struct {
	secret  string
	host    string // the registered URL's host (authority), default port dropped
	path    string // its path and query
	maxSkew time.Duration
	now     func() time.Time

	mu    sync.Mutex
	seen  map[string]time.Time // signature → when it was first accepted
	guard ReplayGuard          // shared by every node; nil = seen alone
}

// ReplayGuard remembers the signatures of the deliveries taken, so that a
// replayed delivery is refused. With several kvitt nodes it must be shared
// (StoreReplays): a delivery one node took is a replay on every other.
type ReplayGuard interface {
	// FirstSeen records signature until until and reports whether it was
	// new (not recorded, or recorded with an expiry before now).
	FirstSeen(ctx context.Context, signature string, now, until time.Time) (bool, error)
}

// ShareReplays makes v record the signatures it accepts in g as well as
// in its own memory, and refuse one that g has seen. It returns v.
func (v *Verifier) ShareReplays(g ReplayGuard) *Verifier {
	v.guard = g
	return v
}

// NewVerifier returns a verifier for deliveries to webhookURL signed with
// secret. maxSkew bounds how far x-ms-date may be from now (0 means 5
// minutes); now nil means time.Now.
func NewVerifier(secret, webhookURL string, maxSkew time.Duration, now func() time.Time) (*Verifier, error) {
	if secret == "" {
		return nil, kvitt.FieldError("webhook_secret", "is required: the secret the Webhooks API returned at registration")
	}
	u, err := url.Parse(webhookURL)
	if err != nil || u.Host == "" {
		return nil, kvitt.FieldError("webhook_url", "%q must be the absolute URL registered with the Webhooks API", webhookURL)
	}
	if maxSkew <= 0 {
		maxSkew = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: secret, host: authority(u), path: pathAndQuery(u), maxSkew: maxSkew, now: now, seen: map[string]time.Time{}}, nil
}

// authority is the URL's host with the default https port dropped, as the
// platform signs it (.NET's Uri.Authority).
func authority(u *url.URL) string {
	if u.Port() == "443" && u.Scheme == "https" || u.Port() == "80" && u.Scheme == "http" {
		return u.Hostname()
	}
	return u.Host
}

func pathAndQuery(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// Errors of Verify, by what was wrong. Each is a *kvitt.Error: a forged or
// stale delivery is EUNAUTHORIZED, a replayed one ECONFLICT.
var (
	errUnsigned = kvitt.Errorf(kvitt.EUNAUTHORIZED, "MobilePay webhook without the x-ms-date, x-ms-content-sha256 and HMAC-SHA256 Authorization headers")
	errForged   = kvitt.Errorf(kvitt.EUNAUTHORIZED, "MobilePay webhook with a wrong signature: not from MobilePay, or signed with another webhook secret")
	errHash     = kvitt.Errorf(kvitt.EUNAUTHORIZED, "MobilePay webhook whose body does not match its x-ms-content-sha256")
)

// Verify authenticates one delivery of body. The signed host and path are
// taken both from the registered URL and from the request as received (a
// reverse proxy may rewrite either); one of them must match.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	date := r.Header.Get("x-ms-date")
	hash := r.Header.Get("x-ms-content-sha256")
	auth := r.Header.Get("Authorization")
	if date == "" || hash == "" || !strings.HasPrefix(auth, authPrefix) {
		return errUnsigned
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(ContentHash(body))) != 1 {
		return errHash
	}
	got := []byte(strings.TrimPrefix(auth, authPrefix))
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	ok := false
	for _, hp := range [][2]string{{v.host, v.path}, {r.Host, r.URL.RequestURI()}} {
		want := Signature(v.secret, method, hp[1], date, hp[0], hash)
		// Every candidate is compared, so the time taken says nothing of which matched.
		if subtle.ConstantTimeCompare(got, []byte(want)) == 1 {
			ok = true
		}
	}
	if !ok {
		return errForged
	}
	at, err := http.ParseTime(date)
	now := v.now()
	if err != nil {
		return kvitt.Errorf(kvitt.EUNAUTHORIZED, "MobilePay webhook with an unreadable x-ms-date %q", date)
	}
	if d := now.Sub(at); d > v.maxSkew || d < -v.maxSkew {
		return kvitt.Errorf(kvitt.EUNAUTHORIZED, "stale MobilePay webhook: x-ms-date %s is %s from now, more than the %s allowed", date, d.Round(time.Second), v.maxSkew)
	}
	sig := string(got)
	replay := kvitt.Errorf(kvitt.ECONFLICT, "replayed MobilePay webhook: this signature (x-ms-date %s) was accepted before", date)
	v.mu.Lock()
	for s, t := range v.seen {
		if now.Sub(t) > 2*v.maxSkew {
			delete(v.seen, s)
		}
	}
	_, dup := v.seen[sig]
	if !dup {
		v.seen[sig] = now
	}
	v.mu.Unlock()
	if dup {
		return replay
	}
	if v.guard == nil {
		return nil
	}
	// A signature is accepted while its date is within maxSkew of the
	// clock: it is remembered twice that long, on every node.
	first, err := v.guard.FirstSeen(r.Context(), sig, now, now.Add(2*v.maxSkew))
	if err != nil {
		v.mu.Lock()
		delete(v.seen, sig) // not recorded: the platform's retry must pass
		v.mu.Unlock()
		return kvitt.Errorf(kvitt.EUNAVAILABLE, "recording the MobilePay webhook's signature: %v", err)
	}
	if !first {
		return replay
	}
	return nil
}
