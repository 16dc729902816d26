package kvitt

import (
	"context"
	"time"
)

// Store keeps kvitt's durable state. Every Update is one durable transaction
// (SQLite synchronous=FULL, PostgreSQL commit): when it returns nil, the
// change survives a crash. Implementations: sqlite (default), postgres; both
// pass storetest.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits if fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. Getters return ENOTFOUND for a missing row. Updates
// of versioned rows compare and set: they return ECONFLICT when the stored
// Version is not the one read, and increase Version on success.
type Tx interface {
	// Lock takes an exclusive lock named key ("sale:<id>", "till:<id>")
	// that is held until the transaction ends. Every Update that checks a
	// balance (what is still due, what is left to refund, one copy only,
	// which receipts a Z report closes) locks what it checks first and reads
	// it after, so racing requests, on one node or several, check one after
	// the other. SQLite's single writer already serializes every Update;
	// PostgreSQL takes a transaction-scoped advisory lock. Lock in a View
	// returns an error.
	Lock(key string) error

	CreateMerchant(m *Merchant) error
	GetMerchant(id string) (*Merchant, error)
	CreateShop(s *Shop) error
	GetShop(id string) (*Shop, error)
	CreateTill(t *Till) error
	UpdateTill(t *Till) error
	GetTill(id string) (*Till, error)
	ListTills() ([]*Till, error)

	// CreateSale returns ECONFLICT if s.IdempotencyKey is already used; the
	// caller then looks the sale up with SaleByIdempotencyKey.
	CreateSale(s *Sale) error
	GetSale(id string) (*Sale, error)
	SaleByIdempotencyKey(key string) (*Sale, error)
	// LatestSale returns the till's most recently created sale, ENOTFOUND if none.
	LatestSale(tillID string) (*Sale, error)
	UpdateSale(s *Sale) error

	CreatePayment(p *Payment) error
	GetPayment(id string) (*Payment, error)
	PaymentByReference(method, reference string) (*Payment, error)
	PaymentByIdempotencyKey(key string) (*Payment, error)
	ListSalePayments(saleID string) ([]*Payment, error)
	// ListPayments lists payments in the states given, oldest first.
	ListPayments(states []PaymentState, limit int) ([]*Payment, error)
	UpdatePayment(p *Payment) error
	// RecoveryPayments lists, oldest first, the till's payments a person may
	// have to decide on: unknown ones, ones with Attention set, open ones
	// (created, pending, authorized: the caller checks their follow-up), and
	// captured ones of sales still open. Its cost follows the number of such
	// payments, not the size of the ledger.
	RecoveryPayments(tillID string) ([]*Payment, error)
	AppendPaymentEvent(e *PaymentEvent) error
	ListPaymentEvents(paymentID string, afterSeq int64) ([]*PaymentEvent, error)

	CreateRefund(r *Refund) error
	GetRefund(id string) (*Refund, error)
	RefundByIdempotencyKey(key string) (*Refund, error)
	RefundByReference(method, reference string) (*Refund, error)
	ListRefunds(paymentID string) ([]*Refund, error)
	UpdateRefund(r *Refund) error
	// RecoveryRefunds lists, oldest first, the till's refunds that are
	// unknown, not yet decided (created, pending), or have Attention set.
	RecoveryRefunds(tillID string) ([]*Refund, error)

	// NextReceiptSerial allocates the till's next receipt serial number:
	// 1, 2, 3… per till, never reused, even if the transaction that took the
	// previous one committed a receipt that was later voided.
	NextReceiptSerial(tillID string) (int64, error)
	CreateReceipt(r *Receipt) error
	GetReceipt(id string) (*Receipt, error)
	UpdateReceipt(r *Receipt) error
	ListReceipts(f ReceiptFilter) ([]*Receipt, error)

	// CreateZReport stores a Z report; ECONFLICT if the till already has that serial.
	CreateZReport(z *ZReport) error
	// LastZReport returns the till's latest Z report, ENOTFOUND if none.
	LastZReport(tillID string) (*ZReport, error)
	GetZReport(tillID string, serial int64) (*ZReport, error)
	// LastReceiptSerial returns the last serial NextReceiptSerial handed
	// out for the till in a committed transaction (0 if none). Serials are
	// taken under the till row's lock, so every receipt with a serial up to
	// it is committed and visible to the statements that follow: a Z report
	// that holds Lock("till:<id>") closes exactly the serials after the
	// previous Z's LastSerial up to this one.
	LastReceiptSerial(tillID string) (int64, error)

	// Bookkeeping (issue 16; hub/bookkeeping.go, docs/bookkeeping.md):
	// each Z report goes into the merchant's books once, and the accounts
	// it goes to are set per store. The data blobs are the hub's JSON.
	//
	// ListZReportsEnded lists the Z reports of every till whose PeriodEnd
	// is in [from, to), by till and serial.
	ListZReportsEnded(from, to time.Time) ([]*ZReport, error)
	// MarkZReportExported records that the Z report went out in export
	// exportID at at. ECONFLICT if it is marked already: of racing exports
	// of one Z report, on one node or several, exactly one marks it.
	MarkZReportExported(tillID string, serial int64, exportID string, at time.Time) error
	// ZReportExport returns the export the Z report went out in and when;
	// ENOTFOUND if it never did.
	ZReportExport(tillID string, serial int64) (exportID string, at time.Time, err error)
	// PutBookkeepingExport stores an export (its file and facts) under its
	// id, ECONFLICT if the id is taken; GetBookkeepingExport reads it
	// back, ENOTFOUND if unknown.
	PutBookkeepingExport(id string, created time.Time, data []byte) error
	GetBookkeepingExport(id string) ([]byte, error)
	// BookkeepingAccounts returns the store's account settings, ENOTFOUND
	// if none were set; PutBookkeepingAccounts sets (replaces) them.
	BookkeepingAccounts(storeID string) ([]byte, error)
	PutBookkeepingAccounts(storeID string, data []byte) error

	// Staff users and their sessions (user.go). Usernames are unique
	// (ECONFLICT); UpdateUser compares and sets Version. GetSession returns
	// ENOTFOUND for an unknown or expired session.
	CreateUser(u *User) error
	GetUser(id string) (*User, error)
	GetUserByUsername(username string) (*User, error)
	ListUsers() ([]*User, error)
	UpdateUser(u *User) error
	CreateSession(s *Session) error
	GetSession(id string, now time.Time) (*Session, error)
	DeleteSession(id string) error
	// DeleteUserSessions signs the user out everywhere.
	DeleteUserSessions(userID string) error

	CreateAPIKey(k *APIKey) error
	GetAPIKey(id string) (*APIKey, error)
	ListAPIKeys() ([]*APIKey, error)
	UpdateAPIKey(k *APIKey) error

	// GetIdempotency returns ENOTFOUND when the key is unknown.
	GetIdempotency(key string) (*IdempotencyRecord, error)
	// PutIdempotency stores r; if the key exists already it returns ECONFLICT.
	// A record with Status 0 reserves the key for a request in progress: of
	// racing reservations of one key exactly one succeeds. r.Created is
	// filled in when zero.
	PutIdempotency(r *IdempotencyRecord) error
	// CompleteIdempotency stores the response (r.Status, not 0, and r.Body)
	// in the reservation r: the record of r.Key still in progress with
	// r.RequestHash and r.Created. ECONFLICT if it is gone or was taken over.
	CompleteIdempotency(r *IdempotencyRecord) error
	// ReleaseIdempotency deletes the reservation r (matched as by
	// CompleteIdempotency): the answer is not kept and the key is free
	// again. ECONFLICT if it is gone or was taken over.
	ReleaseIdempotency(r *IdempotencyRecord) error
	// TakeOverIdempotency takes over a reservation left by a crashed
	// process: compare and set on the record r as read (in progress, with
	// r.RequestHash and r.Created), setting its Created, and r.Created, to
	// now. Of racing take-overs one succeeds; the others get ECONFLICT.
	TakeOverIdempotency(r *IdempotencyRecord) error
	DeleteIdempotencyBefore(t time.Time) (int, error)

	// EnqueueJob adds a job, or, if one with the same Kind and Ref is queued,
	// moves its RunAt earlier to j.RunAt when that is earlier.
	EnqueueJob(j *Job) error
	// ClaimJobs leases up to limit due jobs (RunAt ≤ now, no live lease) to owner until leaseUntil.
	ClaimJobs(owner string, now, leaseUntil time.Time, limit int) ([]*Job, error)
	// FinishJob deletes a job the owner holds the lease of.
	FinishJob(id int64, owner string) error
	// RetryJob releases the lease and schedules the next attempt; dead marks
	// a job given up. With lastErr "" (the run succeeded, more is to come)
	// the job's Attempts start again from zero: they count failures in a row.
	RetryJob(id int64, owner string, runAt time.Time, lastErr string, dead bool) error
	ListJobs() ([]*Job, error)
	// JobFor returns the job of that kind and ref, dead or alive; ENOTFOUND if none.
	JobFor(kind, ref string) (*Job, error)
	// CancelJob deletes the job of that kind and ref, if any, leased or not:
	// the work it stood for is done. A worker still running it finds it gone.
	CancelJob(kind, ref string) error

	// Setting returns the shared value stored under key. If there is none,
	// it stores init first: of nodes racing, the first one's init wins and
	// every one gets that value.
	Setting(key, init string) (string, error)
	// GetSetting returns the value stored under key, ENOTFOUND if none;
	// PutSetting stores (replaces) it. For settings a person changes (a
	// store's articles, a till's quick buttons), where the last write wins.
	GetSetting(key string) (string, error)
	PutSetting(key, value string) error

	// AppendJournal adds an entry at the end of the hash chain, filling Seq,
	// PrevHash and Hash.
	AppendJournal(e *JournalEntry) error
	ListJournal(afterSeq int64, limit int) ([]*JournalEntry, error)

	// Webhook state every node shares (MobilePay, seed 001). A webhook
	// reaches whichever node the load balancer picks: a customer's scan of
	// a till's QR must reach the payment waiting at that till on any node,
	// and a delivery one node took is a replay on every other. Kept here,
	// not in a process's memory.

	// PutCheckin records a customer's scan of a till's QR (c.Reference is
	// ignored: a new check-in is unclaimed). It reports false, changing
	// nothing, when that scan (method, beacon id, token and time) is
	// recorded already: a repeated delivery is one customer.
	PutCheckin(c *Checkin) (bool, error)
	// ClaimCheckin returns the method's check-in at beaconID that
	// reference has claimed; if there is none, it claims for reference the
	// newest unclaimed check-in at beaconID made at or after since and
	// returns that. ENOTFOUND when there is none. Claims of one beacon are
	// made one at a time (on every node): a check-in is never given to two
	// references, and a reference never claims two.
	ClaimCheckin(method, beaconID, reference string, since time.Time) (*Checkin, error)
	// DeleteCheckinsBefore deletes the check-ins made before t.
	DeleteCheckinsBefore(t time.Time) (int, error)
	// SeeOnce records key (a webhook delivery's signature) until expires.
	// It reports true if key was not recorded, or its record had expired
	// at now; false if it was: a replay. Of racing calls with one key,
	// exactly one gets true.
	SeeOnce(key string, now, expires time.Time) (bool, error)
	// DeleteSeenBefore deletes the records SeeOnce keeps that expired before t.
	DeleteSeenBefore(t time.Time) (int, error)

	// Orders (seed 004, issue 10): back-office orders paid by a payment
	// link (Svea Instore). An order is one row; its links and credits are
	// part of it, so every change of an order is one compare-and-set on
	// its Version, whichever of the API, a callback or the poller makes it.
	//
	// CreateOrder returns ECONFLICT if the merchant already has an order
	// with o.Number, or o.IdempotencyKey is used; Version becomes 1.
	CreateOrder(o *Order) error
	GetOrder(id string) (*Order, error)
	OrderByNumber(merchantID, number string) (*Order, error)
	OrderByIdempotencyKey(key string) (*Order, error)
	// UpdateOrder compares and sets o.Version (ECONFLICT if the stored
	// order changed since it was read), increases it and fills o.Updated.
	UpdateOrder(o *Order) error
	// ListOrders lists orders, newest first, as f selects.
	ListOrders(f OrderFilter) ([]*Order, error)

	// Back-office lists (issue 12; http/lists.go, docs/api.md "Lists"):
	// payments, refunds and receipts, newest first, one page at a time.
	// A page holds at most f.Limit rows; f.After, the id of the last row of
	// the previous page, continues after it (by time, then id, both
	// descending), so rows added meanwhile neither repeat nor shift a page.
	// An After that is not in the list as f selects it is ENOTFOUND. Each
	// query walks an index in that order (migration 013_lists.sql): its
	// cost follows the page, not the size of the ledger.
	//
	// FindPayments selects by till, state, method, created time and Query
	// (the payment's id, its sale's id or its provider reference).
	FindPayments(f ListFilter) ([]*Payment, error)
	// FindRefunds selects by till and method (the refund's payment's),
	// state, created time and Query (the refund's id, its payment's id or
	// its reference).
	FindRefunds(f ListFilter) ([]*Refund, error)
	// FindReceipts selects by till, issue time (From, To), Serial and
	// Query (the receipt's id or its sale's id), newest issued first.
	FindReceipts(f ListFilter) ([]*Receipt, error)

	// Outgoing webhooks (issue 14; hub/webhooks.go, docs/webhooks.md):
	// the merchant's subscriptions, and one delivery per subscription and
	// journal entry it wants, sent in journal order (webhook.go).
	//
	// CreateWebhook stores a subscription (Version becomes 1);
	// UpdateWebhook compares and sets s.Version (ECONFLICT if it changed
	// since it was read), increases it and fills s.Updated. DeleteWebhook
	// deletes the subscription and its deliveries (ENOTFOUND if unknown).
	CreateWebhook(s *WebhookSubscription) error
	GetWebhook(id string) (*WebhookSubscription, error)
	ListWebhooks() ([]*WebhookSubscription, error)
	UpdateWebhook(s *WebhookSubscription) error
	DeleteWebhook(id string) error
	// AddWebhookDelivery stores d as pending and reports true, or reports
	// false, storing nothing, when the subscription has a delivery of that
	// journal entry (d.Seq) already: a dispatcher that runs again, on this
	// node or another, adds no second one.
	AddWebhookDelivery(d *WebhookDelivery) (bool, error)
	GetWebhookDelivery(id string) (*WebhookDelivery, error)
	// NextWebhookDelivery returns the subscription's pending delivery with
	// the lowest Seq (the one to send next), ENOTFOUND if none is pending.
	NextWebhookDelivery(subscriptionID string) (*WebhookDelivery, error)
	// UpdateWebhookDelivery compares and sets d.Version (ECONFLICT if the
	// delivery changed since it was read) and increases it.
	UpdateWebhookDelivery(d *WebhookDelivery) error
	// ListWebhookDeliveries lists a subscription's deliveries, the newest
	// journal entry first: at most limit, after the delivery afterID (""
	// = from the newest; ENOTFOUND if it is not the subscription's).
	ListWebhookDeliveries(subscriptionID, afterID string, limit int) ([]*WebhookDelivery, error)
	// PendingWebhooks lists the subscriptions that have a pending delivery.
	PendingWebhooks() ([]string, error)
	// DeleteWebhookDeliveriesBefore deletes the delivered deliveries
	// created before t (the delivery log's retention).
	DeleteWebhookDeliveriesBefore(t time.Time) (int, error)
	// LastJournalSeq returns the Seq of the journal's last entry (0 if none).
	LastJournalSeq() (int64, error)

	// Job queue metrics (issue 14; http/metrics.go, docs/operations.md
	// "Metrics"), read at each scrape of /metrics on every node, so cheap:
	// the jobs table holds open work and dead jobs only (a finished job is
	// deleted), and the due jobs are found on the jobs_due index as
	// ClaimJobs finds them.
	//
	// JobStats returns, per kind with at least one job, what the queue
	// holds at now, sorted by kind.
	JobStats(now time.Time) ([]JobStats, error)
}

// JobStats is what the job queue holds of one kind (Tx.JobStats).
type JobStats struct {
	Kind string
	// Queued counts the jobs not dead: due, running, or waiting for their
	// time (a poll's next try, a back-off).
	Queued int
	// Due counts the jobs not dead that are due and not leased: waiting
	// for a worker, as ClaimJobs would take them at now.
	Due int
	// OldestDue is the earliest RunAt of those (zero when Due is 0).
	OldestDue time.Time
	// Dead counts the jobs given up, kept for a person.
	Dead int
}

// Checkin is a customer who scanned a till's QR code with a payment app
// (MobilePay's user.checked-in.v1): the provider's token for the customer,
// with which the till's next payment is sent to their phone.
type Checkin struct {
	Method        string // the provider: "mobilepay"
	BeaconID      string // the till's QR
	CustomerToken string
	At            time.Time // when the customer scanned
	// Reference is the payment that claimed the check-in ("" = unclaimed).
	Reference string
}

// ReceiptFilter selects receipts for reports.
type ReceiptFilter struct {
	TillID string
	From   time.Time // inclusive; zero = no bound
	To     time.Time // exclusive; zero = no bound
	SaleID string
	// Registration, when set, keeps receipts in that registration state.
	Registration RegistrationState
	// FromSerial and ToSerial keep receipts with a serial in
	// [FromSerial, ToSerial]; zero = no bound. A Z report selects by serial.
	FromSerial, ToSerial int64
}

// Scope says what an API key may do.
type Scope string

const (
	ScopeAdmin      Scope = "admin"      // everything, including keys and tills
	ScopeBackOffice Scope = "backoffice" // orders, refunds, reports; every till's data
	ScopeTill       Scope = "till"       // one till's sales and payments (APIKey.TillID)
	// ScopeDisplay only reads one till's customer display (APIKey.TillID):
	// the key a customer-facing screen holds, with no staff sign-in.
	ScopeDisplay Scope = "display"
)

// APIKey is a credential. Only a SHA-256 hash of its secret is stored; the
// secret is high-entropy random, so a slow hash adds nothing.
type APIKey struct {
	ID      string // public part, shown in lists: "key_…"
	Hash    []byte
	Scope   Scope
	TillID  string // for ScopeTill
	Name    string
	Created time.Time
	Revoked *time.Time
}

// IdempotencyRecord is the stored first response to a POST with an Idempotency-Key.
type IdempotencyRecord struct {
	Key         string // scoped: "<api key id>:<client key>"
	RequestHash string // hex SHA-256 of method, path and body
	Status      int
	Body        []byte
	Created     time.Time
}

// Job is durable follow-up work: a provider poll, a cancel, a receipt
// registration, an outgoing webhook. Workers lease jobs, so a crashed
// worker's job runs again when its lease runs out: handlers are idempotent.
type Job struct {
	ID         int64
	Kind       string // "payment.sync", "receipt.register", ...
	Ref        string // what it concerns (a payment id); unique per Kind while queued
	Payload    []byte
	RunAt      time.Time
	Attempts   int
	LeaseOwner string
	LeaseUntil time.Time
	LastError  string
	Dead       bool
	Created    time.Time
}

// ZReport is a stored daily Z report: its serial per till, the period it
// closed, the receipt serials it closed, and the report itself as JSON
// (package report's Report).
type ZReport struct {
	TillID      string
	Serial      int64
	PeriodStart time.Time // the previous Z's PeriodEnd; never after PeriodEnd
	PeriodEnd   time.Time
	// FirstSerial and LastSerial are the receipt serials the Z closed:
	// every receipt of the till with a serial in [FirstSerial, LastSerial],
	// each in exactly one Z. FirstSerial is the previous Z's LastSerial+1
	// (1 for the first Z); a Z that closed no receipt has LastSerial =
	// FirstSerial-1.
	FirstSerial, LastSerial int64
	Data                    []byte
	Created                 time.Time
}

// ListFilter selects a page of a back-office list (Tx.FindPayments,
// FindRefunds, FindReceipts). Empty fields select everything.
type ListFilter struct {
	Tills   []string // rows of these tills only
	States  []string // payment or refund states
	Methods []string // payment methods (a refund: its payment's)
	// From (inclusive) and To (exclusive) bound the time: created, or a
	// receipt's issue time.
	From, To time.Time
	Query    string // an id or reference, matched exactly
	Serial   int64  // receipts: this serial (at any till unless Tills)
	After    string // the id of the last row of the previous page
	Limit    int    // rows in the page: 1 to 1000 (0 = 100)
}
