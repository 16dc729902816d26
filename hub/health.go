package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kvitt-hub/kvitt"
)

// Dependency kinds.
const (
	DependencyControlUnit = "control_unit" // a control unit, by the name tills refer to
	DependencyProvider    = "provider"     // a payment method's provider (swish)
	DependencyTerminal    = "terminal"     // a till's card terminal
)

// Health records the outcome of the last real call to each outside
// dependency: each control unit (by name), each payment provider (by
// method) and each till's card terminal. A dependency never called is
// unknown, not failing. A failure that stops receipts or money (any failure
// of a control unit; a provider or terminal that refuses kvitt's
// certificate or credentials, or whose TLS handshake fails) is a problem
// that makes the service unready; any other failure (a provider that cannot
// be reached, a 5xx, a timeout) is a warning. The next answered call clears
// either. Every change of state is logged once: a warning when a dependency
// starts failing or fails for another reason, an info when it recovers.
//
// The hub records into a Health once WatchHealth has wrapped its control
// units and providers. A definite answer, a refusal or decline included, is
// a success of the dependency.
type Health struct {
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	logger *slog.Logger

	mu   sync.Mutex
	deps map[string]*DependencyStatus
}

// Dependency is one outside system kvitt calls.
type Dependency struct {
	// ID names it for programs (a metric label): "control_unit:cu",
	// "swish", "terminal:1:P400-1" (till, POIID).
	ID string
	// Name names it for a person: `control unit "cu"`, "swish",
	// `card terminal "P400-1" of till 1`.
	Name string
	// Kind is DependencyControlUnit, DependencyProvider or DependencyTerminal.
	Kind string
}

// DependencyStatus is what Health knows about one dependency.
type DependencyStatus struct {
	Dependency
	// OK is the last call's outcome.
	OK bool
	// Blocking is set on a failure that stops receipts or money.
	Blocking bool
	// Reason says in words why the last call failed ("" when OK).
	Reason string
	// Err is the last call's error ("" when OK).
	Err string
	// Since is when the dependency entered its state (OK, or failing for Reason).
	Since time.Time
	// LastCall is when the last call ended.
	LastCall time.Time
	// Calls and Failures count the calls recorded since start.
	Calls, Failures int64
}

// NewHealth returns an empty recorder that logs changes to logger.
func NewHealth(logger *slog.Logger) *Health {
	if logger == nil {
		logger = slog.Default()
	}
	return &Health{logger: logger, deps: map[string]*DependencyStatus{}}
}

func (hl *Health) now() time.Time {
	if hl.Now != nil {
		return hl.Now().UTC()
	}
	return time.Now().UTC()
}

// Record notes the outcome of one real call to dep: err nil for an
// answer, else the failure. Callers leave out calls that never reached the
// dependency (bad input caught before sending, a call that kvitt itself
// cancelled).
func (hl *Health) Record(dep Dependency, err error) {
	now := hl.now()
	name, kind := dep.Name, dep.Kind
	var reason string
	var blocking bool
	if err != nil {
		reason, blocking = classify(name, kind, err)
	}
	hl.mu.Lock()
	d, seen := hl.deps[dep.ID]
	if !seen {
		d = &DependencyStatus{Dependency: dep}
		hl.deps[dep.ID] = d
	}
	wasOK, wasReason := d.OK, d.Reason
	d.Calls++
	d.LastCall = now
	if err == nil {
		d.OK, d.Blocking, d.Reason, d.Err = true, false, "", ""
	} else {
		d.Failures++
		d.OK, d.Blocking, d.Reason, d.Err = false, blocking, reason, err.Error()
	}
	changed := !seen || wasOK != d.OK || wasReason != d.Reason
	if changed {
		d.Since = now
	}
	hl.mu.Unlock()

	switch {
	case !changed:
	case err != nil:
		hl.logger.Warn("dependency failing: "+name+": "+reason, "dependency", name, "kind", kind, "blocks_readiness", blocking, "err", err)
	case seen:
		hl.logger.Info("dependency recovered: "+name, "dependency", name, "kind", kind)
	}
}

// Status returns what is known of every dependency called so far, by name.
func (hl *Health) Status() []DependencyStatus {
	hl.mu.Lock()
	out := make([]DependencyStatus, 0, len(hl.deps))
	for _, d := range hl.deps {
		out = append(out, *d)
	}
	hl.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Problems lists the dependencies whose last call failed in a way that
// stops receipts or money, each with the reason: the service is not ready.
func (hl *Health) Problems() []string { return hl.failing(true) }

// Warnings lists the dependencies whose last call failed otherwise.
func (hl *Health) Warnings() []string { return hl.failing(false) }

func (hl *Health) failing(blocking bool) []string {
	var out []string
	for _, d := range hl.Status() {
		if d.OK || d.Blocking != blocking {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s (failing since %s; last call %s): %s", d.Name, d.Reason,
			d.Since.Format(time.RFC3339), d.LastCall.Format(time.RFC3339), d.Err))
	}
	return out
}

var (
	httpStatusRE = regexp.MustCompile(`(?:HTTP ?|answered )([1-5][0-9][0-9])\b|\b([1-5][0-9][0-9]) (?:Unauthorized|Forbidden|Service Unavailable|Bad Gateway|Gateway Timeout|Internal Server Error|Too Many Requests|Request Timeout)\b`)
	// alertRE finds a TLS alert the server sent, as Go prints it
	// ("remote error: tls: bad certificate") or as an adapter words it
	// (`TLS alert "bad certificate"`).
	alertRE = regexp.MustCompile(`remote error: tls: ([a-z ]+)|TLS alert "([a-z_ ]+)"`)
)

// certAlerts are the TLS alerts a server sends when it does not accept the
// client's certificate (handshake failure is what Swish is reported to send).
var certAlerts = []string{"bad certificate", "unknown certificate authority", "certificate required", "expired certificate",
	"revoked certificate", "unsupported certificate", "unknown certificate", "access denied", "decrypt error", "handshake failure",
	"bad_certificate", "unknown_ca", "certificate_required", "handshake_failure"}

// refusalCodes are the ErrorCodes with which an adapter reports, as a
// definite answer, that the provider refused kvitt's certificate: an HTTP
// 401 or 403, or a TLS handshake failed over the client certificate
// (CERTIFICATE) or over the provider's server certificate
// (SERVER_CERTIFICATE), as the Swish adapter does.
var refusalCodes = map[string]bool{"HTTP401": true, "HTTP403": true, "CERTIFICATE": true, "SERVER_CERTIFICATE": true}

// refusal is a definite answer that says the provider refused kvitt's
// certificate (an Update with one of refusalCodes), as an error.
type refusal struct{ code, message string }

func (r *refusal) Error() string {
	if status, ok := strings.CutPrefix(r.code, "HTTP"); ok {
		return "HTTP " + status + ": " + r.message
	}
	return r.code + ": " + r.message
}

// classify says in words why a call failed and whether the failure stops
// receipts or money. The transport's errors are read as types where an
// adapter wrapped them (%w), else as text (%v flattens them).
func classify(name, kind string, err error) (reason string, blocking bool) {
	msg := err.Error()
	who, clientCert := "the server", "kvitt's client certificate"
	switch kind {
	case DependencyControlUnit:
		who = "the control unit"
	case DependencyTerminal:
		who = "the terminal"
	case DependencyProvider:
		who = name
		if name == "swish" {
			who, clientCert = "Swish", "the merchant certificate"
		}
	}
	untrusted := func(detail string) string {
		return "TLS handshake failed: kvitt does not trust " + who + "'s certificate (" + detail + ")"
	}
	alerted := func(alert string) (string, bool) {
		for _, a := range certAlerts {
			if alert == a {
				return "TLS handshake failed: " + who + " did not accept " + clientCert + " (TLS alert \"" + alert + "\")", true
			}
		}
		return "TLS handshake failed (TLS alert \"" + alert + "\")", true
	}
	// A control unit that fails stops receipts, whatever the reason: they
	// pile up pending and cannot be handed out.
	stopsReceipts := kind == DependencyControlUnit

	var rf *refusal
	if errors.As(err, &rf) {
		switch rf.code {
		case "CERTIFICATE":
			if m := alertRE.FindStringSubmatch(rf.message); m != nil {
				return alerted(m[1] + m[2])
			}
			return "TLS handshake failed: " + who + " did not accept " + clientCert, true
		case "SERVER_CERTIFICATE":
			return untrusted(from(rf.message, "x509:")), true
		}
	}
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return untrusted(verr.Err.Error()), true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return alerted(strings.TrimPrefix(op.Err.Error(), "tls: "))
	}
	status := 0
	if m := httpStatusRE.FindStringSubmatch(msg); m != nil {
		status, _ = strconv.Atoi(m[1] + m[2])
	}
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "failed to verify certificate"):
		return untrusted(from(msg, "x509:")), true
	case alertRE.MatchString(msg):
		m := alertRE.FindStringSubmatch(msg)
		return alerted(m[1] + m[2])
	case strings.Contains(msg, "tls:"):
		return "TLS handshake failed (" + from(msg, "tls:") + ")", true
	case status == 401 || status == 403:
		word := "HTTP " + strconv.Itoa(status)
		switch {
		case kind == DependencyControlUnit:
			return "the control unit did not accept kvitt's client certificate (" + word + ")", true
		case name == "swish" && status == 401:
			return "Swish did not accept the merchant certificate (" + word + "): check the certificate and that the Swish number is enrolled", true
		case name == "swish":
			return "Swish refused the merchant (" + word + "): the Swish number does not match the merchant certificate", true
		}
		return who + " did not accept kvitt's certificate or credentials (" + word + ")", true
	case strings.Contains(msg, "connection refused"):
		return "cannot be reached: connection refused", stopsReceipts
	case strings.Contains(msg, "no such host"):
		return "cannot be reached: host not found", stopsReceipts
	case strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "did not answer in time") ||
		errors.Is(err, context.DeadlineExceeded):
		return "no answer in time (timeout)", stopsReceipts
	case status >= 500:
		return fmt.Sprintf("%s answered HTTP %d", who, status), stopsReceipts
	case status == 408 || status == 429:
		return fmt.Sprintf("%s is busy (HTTP %d)", who, status), stopsReceipts
	case strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "EOF"):
		return "the connection was dropped", stopsReceipts
	case strings.Contains(msg, "network is unreachable") || strings.Contains(msg, "no route to host"):
		return "cannot be reached: no route to host", stopsReceipts
	}
	return "the call failed", stopsReceipts
}

// from returns msg from the first occurrence of marker on.
func from(msg, marker string) string {
	if i := strings.Index(msg, marker); i >= 0 {
		return msg[i:]
	}
	return msg
}

// answered reports whether a provider's error is nevertheless an answer of
// the dependency (an HTTP status that is neither an auth refusal, a 5xx nor
// busy: a 404 for a payment it does not know), so a success of the
// dependency.
func answered(err error) bool {
	m := httpStatusRE.FindStringSubmatch(err.Error())
	if m == nil {
		return false
	}
	s := m[1]
	if s == "" {
		s = m[2]
	}
	status, _ := strconv.Atoi(s)
	return status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 && status != 429
}

// notACall reports whether err says the call never reached the dependency:
// kvitt refused the input before sending, or kvitt cancelled the call.
func notACall(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
		return true
	}
	var ke *kvitt.Error
	return errors.As(err, &ke) && ke.Field != "" && (ke.Code == kvitt.EUNPROCESSABLE || ke.Code == kvitt.EINVALID)
}

// WatchHealth makes the hub record in hl the outcome of every call to its
// control units and to the providers of its payment methods that call out
// (see Health). Call it once, after the control units and providers are
// registered and before the hub takes requests or runs jobs.
func (h *Hub) WatchHealth(hl *Health) {
	for name, cu := range h.ControlUnits {
		if _, ok := cu.(*watchedControlUnit); !ok {
			h.ControlUnits[name] = &watchedControlUnit{cu: cu, health: hl,
				dep: Dependency{ID: "control_unit:" + name, Name: fmt.Sprintf("control unit %q", name), Kind: DependencyControlUnit}}
		}
	}
	for method, p := range h.providers {
		h.providers[method] = watchProvider(p, hl)
	}
}

type watchedControlUnit struct {
	cu     kvitt.ControlUnit
	health *Health
	dep    Dependency
}

func (w *watchedControlUnit) Register(ctx context.Context, r *kvitt.Registration) (kvitt.ControlCode, error) {
	code, err := w.cu.Register(ctx, r)
	switch {
	case err == nil:
		w.health.Record(w.dep, nil)
	case notACall(ctx, err):
	case kvitt.ErrorCode(err) == kvitt.EUNPROCESSABLE:
		// The unit answered: it refused this receipt's data, and works.
		w.health.Record(w.dep, nil)
	default:
		w.health.Record(w.dep, err)
	}
	return code, err
}

// watchedProvider records the outcome of each call of its provider: an
// error (unless it is an answer, such as a 404) is a failure; an update is
// an answer, unless it says the provider refused kvitt's certificate (an
// ErrorCode of refusalCodes).
type watchedProvider struct {
	kvitt.Provider
	health *Health
}

// watched marks a provider as wrapped already (the wrappers embed it).
func (*watchedProvider) watched() {}

// ValidatePayment is the provider's, or accepts every payment when it has
// none: for the hub, the same as not offering it.
func (w *watchedProvider) ValidatePayment(p *kvitt.Payment) error {
	if v, ok := w.Provider.(kvitt.PaymentValidator); ok {
		return v.ValidatePayment(p)
	}
	return nil
}

// WholeAmountOnly is the provider's, or false when it has none: for the
// hub, the same as not offering it.
func (w *watchedProvider) WholeAmountOnly() bool {
	v, ok := w.Provider.(kvitt.WholeAmountOnly)
	return ok && v.WholeAmountOnly()
}

// capabilityHandling says, for each of kvitt's optional provider
// interfaces, what a watched provider does with it. A test holds it to the
// interfaces declared in provider.go: a new capability must be added here
// (and to watchProvider when it must be kept), or it would be hidden.
var capabilityHandling = map[string]string{
	"PaymentValidator": "always offered: the provider's, or accepts every payment",
	"WholeAmountOnly":  "always offered: the provider's, or false",
	"LongRunning":      "kept",
	"CallbackReceiver": "kept",
	"RefundStatuser":   "kept and watched",
	"RefundCanceler":   "kept and watched",
	"Instant":          "not wrapped (decides without calling out)",
	"Capturer":         "not wrapped",
	"RecoveryLister":   "not wrapped",
}

// watchProvider wraps p so its calls are recorded in hl, keeping each
// optional capability the hub asks for (see capabilityHandling). A provider
// that decides without calling out (Instant), or that has a capability the
// wrapper does not carry (Capturer, RecoveryLister), is returned as it is:
// not watched.
func watchProvider(p kvitt.Provider, hl *Health) kvitt.Provider {
	switch p.(type) {
	case kvitt.Instant, kvitt.Capturer, kvitt.RecoveryLister, interface{ watched() }:
		return p
	}
	w := &watchedProvider{Provider: p, health: hl}
	l, isL := p.(kvitt.LongRunning)
	c, isC := p.(kvitt.CallbackReceiver)
	rs, isR := p.(kvitt.RefundStatuser)
	rc, isX := p.(kvitt.RefundCanceler)
	r, x := watchedRefundStatus{w, rs}, watchedRefundCancel{w, rc}
	type (
		L = kvitt.LongRunning
		C = kvitt.CallbackReceiver
		R = watchedRefundStatus
		X = watchedRefundCancel
	)
	switch [4]bool{isL, isC, isR, isX} {
	case [4]bool{false, false, false, false}:
		return w
	case [4]bool{true, false, false, false}:
		return struct {
			*watchedProvider
			L
		}{w, l}
	case [4]bool{false, true, false, false}:
		return struct {
			*watchedProvider
			C
		}{w, c}
	case [4]bool{true, true, false, false}:
		return struct {
			*watchedProvider
			L
			C
		}{w, l, c}
	case [4]bool{false, false, true, false}:
		return struct {
			*watchedProvider
			R
		}{w, r}
	case [4]bool{true, false, true, false}:
		return struct {
			*watchedProvider
			L
			R
		}{w, l, r}
	case [4]bool{false, true, true, false}:
		return struct {
			*watchedProvider
			C
			R
		}{w, c, r}
	case [4]bool{true, true, true, false}:
		return struct {
			*watchedProvider
			L
			C
			R
		}{w, l, c, r}
	case [4]bool{false, false, false, true}:
		return struct {
			*watchedProvider
			X
		}{w, x}
	case [4]bool{true, false, false, true}:
		return struct {
			*watchedProvider
			L
			X
		}{w, l, x}
	case [4]bool{false, true, false, true}:
		return struct {
			*watchedProvider
			C
			X
		}{w, c, x}
	case [4]bool{true, true, false, true}:
		return struct {
			*watchedProvider
			L
			C
			X
		}{w, l, c, x}
	case [4]bool{false, false, true, true}:
		return struct {
			*watchedProvider
			R
			X
		}{w, r, x}
	case [4]bool{true, false, true, true}:
		return struct {
			*watchedProvider
			L
			R
			X
		}{w, l, r, x}
	case [4]bool{false, true, true, true}:
		return struct {
			*watchedProvider
			C
			R
			X
		}{w, c, r, x}
	default: // all four
		return struct {
			*watchedProvider
			L
			C
			R
			X
		}{w, l, c, r, x}
	}
}

// dependency is what a call to the provider for till t goes to: the
// till's card terminal for the card method, else the method's provider. It
// is false when there is none (a card payment on a till without a terminal
// fails without calling out).
func (w *watchedProvider) dependency(t *kvitt.Till) (Dependency, bool) {
	m := w.Method()
	if m == "card" {
		if t == nil || t.Terminal == nil {
			return Dependency{}, false
		}
		return Dependency{ID: "terminal:" + t.ID + ":" + t.Terminal.POIID,
			Name: fmt.Sprintf("card terminal %q of till %s", t.Terminal.POIID, t.ID), Kind: DependencyTerminal}, true
	}
	return Dependency{ID: m, Name: m, Kind: DependencyProvider}, true
}

func (w *watchedProvider) record(ctx context.Context, t *kvitt.Till, err error, errorCode, message string) {
	dep, ok := w.dependency(t)
	switch {
	case !ok:
	case err == nil && refusalCodes[errorCode]:
		w.health.Record(dep, &refusal{errorCode, message})
	case err == nil, answered(err):
		w.health.Record(dep, nil)
	case notACall(ctx, err):
	default:
		w.health.Record(dep, err)
	}
}

func (w *watchedProvider) Start(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	u, err := w.Provider.Start(ctx, t, p)
	w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

func (w *watchedProvider) Status(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	u, err := w.Provider.Status(ctx, t, p)
	w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

func (w *watchedProvider) Cancel(ctx context.Context, t *kvitt.Till, p *kvitt.Payment) (kvitt.Update, error) {
	u, err := w.Provider.Cancel(ctx, t, p)
	w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

func (w *watchedProvider) Refund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, r *kvitt.Refund) (kvitt.RefundUpdate, error) {
	u, err := w.Provider.Refund(ctx, t, p, r)
	w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

type watchedRefundStatus struct {
	w  *watchedProvider
	rs kvitt.RefundStatuser
}

func (r watchedRefundStatus) RefundStatus(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	u, err := r.rs.RefundStatus(ctx, t, p, rf)
	r.w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

type watchedRefundCancel struct {
	w  *watchedProvider
	rc kvitt.RefundCanceler
}

func (r watchedRefundCancel) CancelRefund(ctx context.Context, t *kvitt.Till, p *kvitt.Payment, rf *kvitt.Refund) (kvitt.RefundUpdate, error) {
	u, err := r.rc.CancelRefund(ctx, t, p, rf)
	r.w.record(ctx, t, err, u.ErrorCode, u.Message)
	return u, err
}

// providerCalled reports one call to a payment method's provider to the
// metrics (Metrics.ProviderCall), from when it was sent: how long it took,
// and whether it failed as Health counts failures: no answer (an error that
// is not an answer such as a 404), or an answer that says the provider
// refused kvitt's certificate. A call that never reached the provider
// (refused input, cancelled by kvitt) and a provider that decides without
// calling out (cash) are left out.
//
// It is called at each of the hub's provider call sites rather than in the
// watchedProvider wrapper: the wrapper exists only once WatchHealth has run
// (kvitt serve) and leaves out providers with capabilities it does not
// carry (a Capturer: MobilePay), while every call the hub makes passes a
// call site, whichever wrapper the provider has.
func (h *Hub) providerCalled(ctx context.Context, method, op string, start time.Time, err error, errorCode string) {
	if _, ok := h.providers[method].(kvitt.Instant); ok {
		return
	}
	if err != nil && notACall(ctx, err) {
		return
	}
	failed := (err != nil && !answered(err)) || (err == nil && refusalCodes[errorCode])
	h.metrics.ProviderCall(method, op, time.Since(start), failed)
}
