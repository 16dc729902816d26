package kvitt

import "time"

// WebhookSubscription is a merchant's endpoint for outgoing webhooks
// (Standard Webhooks, docs/webhooks.md): which events of the merchant go to
// which URL, signed with which secrets.
type WebhookSubscription struct {
	ID          string // "wh_…"
	MerchantID  string
	URL         string
	Description string
	// Events are the event filters: a family ("payment", "refund",
	// "receipt", "report", "order"), an event type ("payment.updated"), or
	// "*" for every event.
	Events []string
	// Secrets sign each message: Secrets[0] is the current one; older ones
	// (after a rotation) sign too until they expire.
	Secrets []WebhookSecret
	// Enabled: deliveries are sent. A disabled subscription still gets its
	// events queued, in order, and sends them once enabled again.
	Enabled bool
	// Notice, on a subscription kvitt disabled, says why (deliveries kept
	// failing for the whole retry window, or the endpoint answered 410
	// Gone); "" when enabled or disabled by a person.
	Notice     string
	DisabledAt time.Time
	// FromSeq: the subscription gets the journal entries after this one
	// (the journal's end when it was made).
	FromSeq int64
	Created time.Time
	Updated time.Time
	Version int64
}

// WebhookSecret is one signing secret, "whsec_" + base64 of 32 random bytes.
type WebhookSecret struct {
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	// Expires is when a replaced secret stops signing (zero: the current one).
	Expires time.Time `json:"expires,omitzero"`
}

// Webhook delivery states.
const (
	WebhookPending   = "pending"   // to be sent (again)
	WebhookDelivered = "delivered" // the endpoint answered 2xx
)

// WebhookDelivery is one event (a journal entry) for one subscription: its
// message, made once, and the attempts to send it.
type WebhookDelivery struct {
	// ID is the message id sent as webhook-id, the same on every attempt
	// and redelivery: receivers deduplicate on it.
	ID             string // "msg_…"
	SubscriptionID string
	Seq            int64  // the journal entry
	Type           string // "payment.updated", …
	Ref            string // the object the event is about (a payment id, …)
	Payload        []byte // the body, signed as sent: {"type","timestamp","data"}
	State          string // WebhookPending or WebhookDelivered
	// Attempts counts the attempts since the delivery was (re)queued.
	Attempts    int
	LastStatus  int    // the last attempt's HTTP status (0: no answer)
	LastError   string // why the last attempt failed ("" if it did not)
	LastAttempt time.Time
	NextAttempt time.Time // when a pending delivery is sent next
	// FirstFailure is when the current run of failed attempts began (zero
	// after a success): the retry window is counted from it.
	FirstFailure time.Time
	Delivered    time.Time
	Created      time.Time
	Version      int64
}
