package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/report"
	"github.com/kvitt-hub/kvitt/sqlite"
)

// A ledger seeded fast for the growth benchmarks (bench/growth_test.go,
// docs/benchmarks.md "Growth"): a SQLite file made by kvitt's own migrations
// (sqlite.Open), then filled with direct SQL, not through the API, with the
// rows kvitt's own flows write. Each sale is paid and completed at one of
// Tills tills, PerTillDay sales per till and day, day after day, and each
// till's day is closed by a Z report. A sale has:
//
//   - its sales row (completed, with its receipt id, version 2);
//   - its payment (cash 80 %, Swish 15 %, card 5 %), paid, with the two
//     payment events and the two "payment.state" journal entries of
//     hub.recordTransition (created, then paid); 2 % of the sales first
//     have a Swish payment the customer declined (two more events and
//     entries);
//   - its receipt, with the till's next serial (unbroken per till), and the
//     "receipt.issued" journal entry of hub/receipts.go journalReceipt;
//
// and each Z report is report.Compute over the till's day, stored with its
// serial range and its "z_report" journal entry, grand totals carried from
// the previous Z. The journal is one hash chain (kvitt.JournalHash), so
// `kvitt journal verify` accepts it. IDs carry their row's time as
// kvitt.NewID makes them (they sort by time). The last day (the 12 hours
// before Now) is left open, no Z: what the next X or Z report of each till
// covers.
//
// The merchant, store and tills are those the bench server bootstraps
// (merchant "demo", store "demo-store", tills "1".."N", no control unit),
// made through the store, so that a ledger can be opened by the bench
// server as it is.

// SeedConfig says what ledger to make.
type SeedConfig struct {
	Payments   int       // sales (each paid once) in the closed days, before the open day
	Tills      int       // 0 = 50
	PerTillDay int       // sales per till and day; 0 = 200
	Now        time.Time // the open day ends here; zero = time.Now()
	Seed       uint64    // of the random choices (methods, lines)
}

// SeedStats says what was made.
type SeedStats struct {
	Sales, Payments, Receipts, ZReports, Journal int64
	Days                                         int
	Elapsed                                      time.Duration
}

func (s SeedStats) String() string {
	return fmt.Sprintf("sales=%d payments=%d receipts=%d z=%d journal=%d days=%d in %s",
		s.Sales, s.Payments, s.Receipts, s.ZReports, s.Journal, s.Days, s.Elapsed.Round(time.Millisecond))
}

func (c *SeedConfig) defaults() {
	if c.Tills <= 0 {
		c.Tills = 50
	}
	if c.PerTillDay <= 0 {
		c.PerTillDay = 200
	}
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	c.Now = c.Now.UTC()
}

// SeedMerchant is the merchant of the seeded ledger (and of the bench server).
func SeedMerchant() *kvitt.Merchant {
	return &kvitt.Merchant{ID: "demo", Name: "Demobutiken AB", OrgNr: "5566778899", Country: "SE",
		Currency: "SEK", VATRates: kvitt.DefaultVATRates("SE")}
}

// Seed makes a new ledger at path (which must not exist) as cfg says:
// cfg.Payments sales in closed days, then one open day of PerTillDay sales
// per till.
func Seed(ctx context.Context, path string, cfg SeedConfig) (SeedStats, error) {
	cfg.defaults()
	start := time.Now()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return SeedStats{}, err
	}
	m := SeedMerchant()
	err = db.Update(ctx, func(tx kvitt.Tx) error {
		if err := tx.CreateMerchant(m); err != nil {
			return err
		}
		if err := tx.CreateShop(&kvitt.Shop{ID: "demo-store", MerchantID: "demo", Name: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm"}); err != nil {
			return err
		}
		for i := 1; i <= cfg.Tills; i++ {
			id := strconv.Itoa(i)
			if err := tx.CreateTill(&kvitt.Till{ID: id, StoreID: "demo-store", Name: "Kassa " + id,
				RegisterID: fmt.Sprintf("KVITT-BENCH-%04d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		return SeedStats{}, err
	}
	w, err := openSeeder(ctx, path, cfg)
	if err != nil {
		return SeedStats{}, err
	}
	defer w.close()
	perDay := cfg.Tills * cfg.PerTillDay
	days := (cfg.Payments + perDay - 1) / perDay
	today := cfg.Now.Truncate(24 * time.Hour)
	left := cfg.Payments
	for d := days; d >= 1; d-- {
		n := min(left, perDay)
		day := today.AddDate(0, 0, -d)
		if err := w.day(day.Add(8*time.Hour), 12*time.Hour, n, day.Add(21*time.Hour)); err != nil {
			return SeedStats{}, err
		}
		left -= n
	}
	if err := w.openDay(); err != nil {
		return SeedStats{}, err
	}
	if err := w.finish(); err != nil {
		return SeedStats{}, err
	}
	w.stats.Days = days + 1
	w.stats.Elapsed = time.Since(start)
	return w.stats, nil
}

// AddOpenDay adds, to a ledger made by Seed whose days are all closed (a
// run of the growth benchmark took the Z reports), a new open day of
// PerTillDay sales per till (see openDay).
func AddOpenDay(ctx context.Context, path string, cfg SeedConfig) (SeedStats, error) {
	cfg.defaults()
	start := time.Now()
	w, err := openSeeder(ctx, path, cfg)
	if err != nil {
		return SeedStats{}, err
	}
	defer w.close()
	if err := w.openDay(); err != nil {
		return SeedStats{}, err
	}
	if err := w.finish(); err != nil {
		return SeedStats{}, err
	}
	w.stats.Days = 1
	w.stats.Elapsed = time.Since(start)
	return w.stats, nil
}

// OpenDayReceipts returns how many receipts of till are not in a Z report yet.
func OpenDayReceipts(ctx context.Context, path, till string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT (SELECT next_serial - 1 FROM tills WHERE id = $1) - COALESCE((SELECT MAX(last_serial) FROM z_reports WHERE till_id = $1), 0)`, till).Scan(&n)
	return n, err
}

type tillState struct {
	id, registerID string
	next           int64 // the next receipt serial
	z              *kvitt.ZReport
	grand          report.GrandTotals
}

type seeder struct {
	ctx   context.Context
	cfg   SeedConfig
	db    *sql.DB
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	m     *kvitt.Merchant
	tills []*tillState
	seq   int64
	prev  string
	rnd   *mrand.Rand
	inTx  int
	stats SeedStats
}

func openSeeder(ctx context.Context, path string, cfg SeedConfig) (*seeder, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	w := &seeder{ctx: ctx, cfg: cfg, db: db, m: SeedMerchant(), prev: kvitt.JournalGenesis,
		rnd: mrand.New(mrand.NewPCG(cfg.Seed, uint64(cfg.Payments)))}
	// A bulk load: no rollback journal, no fsync, a large page cache. The
	// file goes back to WAL in finish.
	for _, p := range []string{"PRAGMA journal_mode=DELETE", "PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF",
		"PRAGMA cache_size=-1048576", "PRAGMA temp_store=MEMORY", "PRAGMA foreign_keys=OFF"} {
		if _, err := db.ExecContext(ctx, p); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := db.QueryRowContext(ctx, `SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1`).Scan(&w.seq, &w.prev); err != nil && err != sql.ErrNoRows {
		db.Close()
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT id, register_id, next_serial FROM tills ORDER BY CAST(id AS INTEGER)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	for rows.Next() {
		t := &tillState{}
		if err := rows.Scan(&t.id, &t.registerID, &t.next); err != nil {
			rows.Close()
			db.Close()
			return nil, err
		}
		w.tills = append(w.tills, t)
	}
	rows.Close()
	for _, t := range w.tills {
		var z kvitt.ZReport
		var s, e, c int64
		var data string
		err := db.QueryRowContext(ctx, `SELECT serial, period_start, period_end, first_serial, last_serial, data, created FROM z_reports WHERE till_id = $1 ORDER BY serial DESC LIMIT 1`, t.id).
			Scan(&z.Serial, &s, &e, &z.FirstSerial, &z.LastSerial, &data, &c)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			db.Close()
			return nil, err
		}
		z.TillID, z.PeriodStart, z.PeriodEnd, z.Created = t.id, time.UnixMicro(s).UTC(), time.UnixMicro(e).UTC(), time.UnixMicro(c).UTC()
		var rep report.Report
		if err := json.Unmarshal([]byte(data), &rep); err != nil {
			db.Close()
			return nil, err
		}
		t.z, t.grand = &z, rep.GrandTotals
	}
	if len(w.tills) > cfg.Tills {
		w.tills = w.tills[:cfg.Tills]
	}
	w.stmts = map[string]*sql.Stmt{}
	for name, q := range map[string]string{
		"sale": `INSERT INTO sales (id, merchant_id, till_id, currency, lines, total, vat, state, receipt_id, idempotency_key, created, updated, version, training) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,NULL,$10,$11,$12,0)`,
		"payment": `INSERT INTO payments (id, sale_id, till_id, method, amount, currency, state, reference, provider, action, tendered, change_amount, rounding, tip, card, refunded, error_code, message, deadline, idempotency_key, created, updated, version, attention, inflight_until, cancel_requested)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,0,$14,0,$15,$16,$17,NULL,$18,$19,$20,'',$21,0)`,
		"event":   `INSERT INTO payment_events (payment_id, seq, from_state, to_state, cause, message, at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		"receipt": `INSERT INTO receipts (id, merchant_id, till_id, sale_id, serial, type, kind, copy_of, registration, control_unit_id, control_code, issued, data, created, version) VALUES ($1,$2,$3,$4,$5,$6,$7,'',$8,'','',$9,$10,$11,1)`,
		"journal": `INSERT INTO journal (seq, at, kind, ref, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		"z":       `INSERT INTO z_reports (till_id, serial, period_start, period_end, first_serial, last_serial, data, created) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
	} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		w.stmts[name] = st
	}
	return w, nil
}

func (w *seeder) close() {
	if w.tx != nil {
		w.tx.Rollback()
	}
	for _, st := range w.stmts {
		st.Close()
	}
	w.db.Close()
}

// exec runs a prepared statement in the current transaction, beginning a
// new one every 20 000 sales.
func (w *seeder) exec(name string, args ...any) error {
	if w.tx == nil {
		tx, err := w.db.BeginTx(w.ctx, nil)
		if err != nil {
			return err
		}
		w.tx = tx
	}
	if _, err := w.tx.StmtContext(w.ctx, w.stmts[name]).ExecContext(w.ctx, args...); err != nil {
		return fmt.Errorf("insert %s: %w", name, err)
	}
	return nil
}

func (w *seeder) commitEvery(n int) error {
	w.inTx++
	if w.inTx < n || w.tx == nil {
		return nil
	}
	w.inTx = 0
	err := w.tx.Commit()
	w.tx = nil
	return err
}

// finish stores the tills' next serials, commits and puts the file back in WAL mode.
func (w *seeder) finish() error {
	for _, t := range w.tills {
		if w.tx == nil {
			tx, err := w.db.BeginTx(w.ctx, nil)
			if err != nil {
				return err
			}
			w.tx = tx
		}
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE tills SET next_serial = $1 WHERE id = $2`, t.next, t.id); err != nil {
			return err
		}
	}
	if w.tx != nil {
		if err := w.tx.Commit(); err != nil {
			return err
		}
		w.tx = nil
	}
	for _, p := range []string{"PRAGMA journal_mode=WAL"} { // no ANALYZE: kvitt never runs it, so its planner has no statistics either
		if _, err := w.db.ExecContext(w.ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

var seedIDEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID is kvitt.NewID for a row made at t.
func newID(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	rand.Read(b[6:])
	return prefix + "_" + seedIDEncoding.EncodeToString(b[:])
}

func (w *seeder) journal(at time.Time, kind, ref string, data []byte) error {
	e := &kvitt.JournalEntry{Seq: w.seq + 1, At: at.Truncate(time.Microsecond), Kind: kind, Ref: ref, Data: string(data), PrevHash: w.prev}
	e.Hash = kvitt.JournalHash(e)
	if err := w.exec("journal", e.Seq, e.At.UnixMicro(), e.Kind, e.Ref, e.Data, e.PrevHash, e.Hash); err != nil {
		return err
	}
	w.seq, w.prev = e.Seq, e.Hash
	w.stats.Journal++
	return nil
}

// paymentJournal is hub.recordTransition's journal data.
type paymentJournal struct {
	Payment  string `json:"payment"`
	Sale     string `json:"sale"`
	Method   string `json:"method"`
	Amount   int64  `json:"amount"`
	Tip      int64  `json:"tip,omitempty"`
	Refunded int64  `json:"refunded,omitempty"`
	Currency string `json:"currency"`
	From     string `json:"from"`
	To       string `json:"to"`
	Cause    string `json:"cause"`
}

// receiptJournal is hub/receipts.go journalReceipt's data.
type receiptJournal struct {
	Receipt     string       `json:"receipt"`
	Till        string       `json:"till"`
	Serial      int64        `json:"serial"`
	Type        string       `json:"type"`
	Kind        string       `json:"kind"`
	Total       int64        `json:"total"`
	Currency    string       `json:"currency"`
	VAT         []vatJournal `json:"vat"`
	ControlUnit string       `json:"control_unit,omitempty"`
	ControlCode string       `json:"control_code,omitempty"`
}

type vatJournal struct {
	Rate  int64 `json:"rate"`
	Gross int64 `json:"gross"`
	VAT   int64 `json:"vat"`
}

var seedArticles = []kvitt.SaleLine{
	{ArticleNumber: "7310865004703", Name: "Kaffe", UnitPrice: 3450, VATRate: 1200},
	{ArticleNumber: "7310865001238", Name: "Kanelbulle", UnitPrice: 2525, VATRate: 1200},
	{ArticleNumber: "7311250004360", Name: "Mjölk 1,5 % 1 l", UnitPrice: 1695, VATRate: 1200},
	{ArticleNumber: "7300156486417", Name: "Dagens tidning", UnitPrice: 3500, VATRate: 600},
	{ArticleNumber: "7318690130059", Name: "Batterier AA 4-pack", UnitPrice: 8990, VATRate: 2500},
	{ArticleNumber: "7350002400103", Name: "Bärkasse", UnitPrice: 300, VATRate: 2500},
	{ArticleNumber: "2000000000015", Name: "Lösgodis", UnitPrice: 9900, VATRate: 1200},
	{ArticleNumber: "7310070765840", Name: "Juice apelsin", UnitPrice: 3295, VATRate: 1200},
}

// event appends a payment event and its journal entry (hub.recordTransition).
func (w *seeder) event(p *kvitt.Payment, seq int64, from, to kvitt.PaymentState, cause, msg string, at time.Time) error {
	if err := w.exec("event", p.ID, seq, string(from), string(to), cause, msg, at.UnixMicro()); err != nil {
		return err
	}
	data, _ := json.Marshal(paymentJournal{p.ID, p.SaleID, p.Method, p.Amount, p.Tip, p.Refunded, string(p.Currency), string(from), string(to), cause})
	return w.journal(at, "payment.state", p.ID, data)
}

func (w *seeder) payment(p *kvitt.Payment, prov, card string, msg, cause string) error {
	action := "null"
	if err := w.exec("payment", p.ID, p.SaleID, p.TillID, p.Method, p.Amount, string(p.Currency), string(p.State), p.Reference, prov, action,
		p.Tendered, p.Change, p.Rounding, card, p.ErrorCode, p.Message, micros(p.Deadline), p.Created.UnixMicro(), p.Updated.UnixMicro(), p.Version, micros(p.InFlightUntil)); err != nil {
		return err
	}
	w.stats.Payments++
	if err := w.event(p, 1, "", kvitt.PaymentCreated, "api", "", p.Created); err != nil {
		return err
	}
	return w.event(p, 2, kvitt.PaymentCreated, p.State, cause, msg, p.Updated)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// openDay makes the open day: PerTillDay sales per till, no Z report,
// spread over the 12 hours before Now, or from the ledger's last row (the
// last receipt, or the last Z) to Now if that is later.
func (w *seeder) openDay() error {
	end := w.cfg.Now.Add(-time.Minute)
	start := end.Add(-12 * time.Hour)
	if w.tx != nil { // the one connection: commit before reading
		if err := w.tx.Commit(); err != nil {
			return err
		}
		w.tx, w.inTx = nil, 0
	}
	var last int64
	if err := w.db.QueryRowContext(w.ctx, `SELECT MAX(COALESCE((SELECT MAX(issued) FROM receipts), 0), COALESCE((SELECT MAX(period_end) FROM z_reports), 0))`).Scan(&last); err != nil {
		return err
	}
	if t := time.UnixMicro(last).UTC().Add(time.Minute); t.After(start) {
		start = t
	}
	return w.day(start, max(end.Sub(start), time.Minute), w.cfg.Tills*w.cfg.PerTillDay, time.Time{})
}

// day makes n sales spread over the tills (PerTillDay each, in till
// order) over span from start, and, unless zAt is zero, closes each
// till's day with a Z report at zAt.
func (w *seeder) day(start time.Time, span time.Duration, n int, zAt time.Time) error {
	per := w.cfg.PerTillDay
	step := span / time.Duration(per)
	closed := !zAt.IsZero()
	for ti, t := range w.tills {
		if n <= 0 {
			break
		}
		k := min(n, per)
		n -= k
		var rcs []*kvitt.Receipt
		first := t.next
		for i := range k {
			at := start.Add(time.Duration(i)*step + time.Duration(ti)*time.Millisecond + time.Duration(w.rnd.IntN(1000))*time.Microsecond).Truncate(time.Microsecond)
			rc, err := w.sale(t, at)
			if err != nil {
				return err
			}
			if closed {
				rcs = append(rcs, rc)
			}
			if err := w.commitEvery(20000); err != nil {
				return err
			}
		}
		if !closed {
			continue
		}
		end := zAt
		opts := report.Options{Kind: report.Z, Serial: 1, PeriodEnd: end, Generated: end, TillID: t.id, RegisterID: t.registerID,
			MerchantName: w.m.Name, OrgNr: w.m.OrgNr, StoreName: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm", Currency: w.m.Currency}
		if t.z != nil {
			opts.PeriodStart, opts.GrandTotalsBefore, opts.Serial = t.z.PeriodEnd, t.grand, t.z.Serial+1
		}
		rep := report.Compute(rcs, opts)
		rep.FirstSerial, rep.LastSerial = first, t.next-1
		data, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		z := &kvitt.ZReport{TillID: t.id, Serial: opts.Serial, PeriodStart: opts.PeriodStart, PeriodEnd: end, FirstSerial: first, LastSerial: t.next - 1, Data: data, Created: end}
		if err := w.exec("z", z.TillID, z.Serial, micros(z.PeriodStart), micros(z.PeriodEnd), z.FirstSerial, z.LastSerial, string(z.Data), micros(z.Created)); err != nil {
			return err
		}
		j, _ := json.Marshal(map[string]any{"till": t.id, "serial": opts.Serial, "first_serial": first, "last_serial": t.next - 1,
			"sales": rep.Sales.Amount, "returns": rep.Returns.Amount, "grand_totals": rep.GrandTotals})
		if err := w.journal(end, "z_report", t.id, j); err != nil {
			return err
		}
		t.z, t.grand = z, rep.GrandTotals
		w.stats.ZReports++
	}
	return nil
}

// sale makes one completed sale at till t, started at at, and returns its receipt.
func (w *seeder) sale(t *tillState, at time.Time) (*kvitt.Receipt, error) {
	r := w.rnd
	s := &kvitt.Sale{ID: newID("sale", at), MerchantID: w.m.ID, TillID: t.id, Currency: w.m.Currency, State: kvitt.SaleCompleted}
	for range 1 + r.IntN(4) {
		l := seedArticles[r.IntN(len(seedArticles))]
		l.QuantityMilli = int64(1+r.IntN(3)) * 1000
		s.Lines = append(s.Lines, l)
	}
	if err := s.ComputeTotals(w.m); err != nil {
		return nil, err
	}
	tick := func(d time.Duration) time.Time { at = at.Add(d).Truncate(time.Microsecond); return at }
	created := at
	if r.IntN(100) < 2 { // the customer declined a Swish payment first
		pt := tick(3 * time.Second)
		p := &kvitt.Payment{ID: newID("pay", pt), SaleID: s.ID, TillID: t.id, Method: "swish", Amount: s.Total, Currency: s.Currency,
			State: kvitt.PaymentDeclined, Reference: swishRef(), Created: pt, Deadline: pt.Add(30 * time.Second), InFlightUntil: pt.Add(35 * time.Second),
			ErrorCode: "RF07", Message: "The payer declined the payment in the Swish app.", Version: 3}
		p.Updated = tick(20 * time.Second)
		prov := `{"location":"https://mss.cpc.getswish.net/swish-cpcapi/api/v2/paymentrequests/` + p.Reference + `","payment_request_token":"` + hex.EncodeToString(randBytes(16)) + `"}`
		if err := w.payment(p, prov, "null", p.Message, "callback"); err != nil {
			return nil, err
		}
	}
	pt := tick(5 * time.Second)
	p := &kvitt.Payment{ID: newID("pay", pt), SaleID: s.ID, TillID: t.id, Currency: s.Currency, State: kvitt.PaymentPaid, Created: pt, Version: 1}
	prov, card, msg, cause := "{}", "null", "", "provider"
	var cd *kvitt.CardData
	switch x := r.IntN(100); {
	case x < 80:
		p.Method, p.Reference, msg = "cash", newID("cash", pt), "Paid in cash."
		p.Amount = s.Currency.RoundCash(s.Total)
		p.Rounding = p.Amount - s.Total
		p.Tendered = (p.Amount/10000 + 1) * 10000
		p.Change = p.Tendered - p.Amount
		p.Updated = pt
	case x < 95:
		p.Method, p.Reference, p.Amount, cause = "swish", swishRef(), s.Total, "callback"
		p.Deadline, p.InFlightUntil, p.Version = pt.Add(30*time.Second), pt.Add(35*time.Second), 3
		prov = `{"location":"https://mss.cpc.getswish.net/swish-cpcapi/api/v2/paymentrequests/` + p.Reference + `","payment_reference":"` + hex.EncodeToString(randBytes(16)) + `"}`
		p.Updated = tick(12 * time.Second)
	default:
		p.Method, p.Reference, p.Amount = "card", newID("card", pt), s.Total
		p.Deadline, p.InFlightUntil, p.Version = pt.Add(120*time.Second), pt.Add(125*time.Second), 3
		cd = &kvitt.CardData{MaskedPAN: "************" + strconv.Itoa(1000+r.IntN(9000)), Brand: "VISA", ApplicationLabel: "VISA DEBIT", AID: "A0000000031010",
			EntryMode: "Contactless", Verification: "None", AuthCode: strconv.Itoa(100000 + r.IntN(900000)), TerminalID: "P400Plus-" + t.id, TransactionRef: hex.EncodeToString(randBytes(8)), ResultText: "Godkänd"}
		b, _ := json.Marshal(cd)
		card = string(b)
		prov = `{"transaction_id":"` + cd.TransactionRef + `"}`
		p.Updated = tick(9 * time.Second)
	}
	if err := w.payment(p, prov, card, msg, cause); err != nil {
		return nil, err
	}
	done := tick(2 * time.Second)
	rc := &kvitt.Receipt{ID: newID("rcp", done), MerchantID: w.m.ID, TillID: t.id, SaleID: s.ID, Serial: t.next,
		Type: kvitt.ReceiptNormal, Kind: kvitt.ReceiptSale, Issued: done,
		MerchantName: w.m.Name, OrgNr: w.m.OrgNr, StoreName: "Demobutiken", Address: "Drottninggatan 1, 111 51 Stockholm", RegisterID: t.registerID,
		Currency: s.Currency, Lines: s.Lines, Total: s.Total, VAT: s.VAT, Registration: kvitt.RegistrationNotRequired, Created: done, Version: 1,
		Tenders: []kvitt.Tender{{PaymentID: p.ID, Method: p.Method, Amount: p.Amount, Tendered: p.Tendered, Change: p.Change, Rounding: p.Rounding, Reference: p.Reference, Card: cd}}}
	t.next++
	data, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	if err := w.exec("receipt", rc.ID, rc.MerchantID, rc.TillID, rc.SaleID, rc.Serial, string(rc.Type), string(rc.Kind), string(rc.Registration), done.UnixMicro(), string(data), done.UnixMicro()); err != nil {
		return nil, err
	}
	w.stats.Receipts++
	vj := make([]vatJournal, len(rc.VAT))
	for i, v := range rc.VAT {
		vj[i] = vatJournal{v.Rate, v.Gross, v.VAT}
	}
	j, _ := json.Marshal(receiptJournal{Receipt: rc.ID, Till: rc.TillID, Serial: rc.Serial, Type: string(rc.Type), Kind: string(rc.Kind), Total: rc.Total, Currency: string(rc.Currency), VAT: vj})
	if err := w.journal(done, "receipt.issued", rc.ID, j); err != nil {
		return nil, err
	}
	lines, _ := json.Marshal(s.Lines)
	vat, _ := json.Marshal(s.VAT)
	if err := w.exec("sale", s.ID, s.MerchantID, s.TillID, string(s.Currency), string(lines), s.Total, string(vat), string(s.State), rc.ID, created.UnixMicro(), done.UnixMicro(), 2); err != nil {
		return nil, err
	}
	w.stats.Sales++
	return rc, nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// swishRef is a Swish instruction UUID as kvitt makes them: 32 upper-case hex digits.
func swishRef() string {
	const hexU = "0123456789ABCDEF"
	b := randBytes(16)
	out := make([]byte, 32)
	for i, c := range b {
		out[2*i], out[2*i+1] = hexU[c>>4], hexU[c&15]
	}
	return string(out)
}
