package sqlstore

import (
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// Orders (seed 004): one row per order; links and credits live in its
// JSON document, so a change is one compare-and-set on version.

const orderCols = `id, merchant_id, number, state, search, idempotency_key, data, created, updated, version`

// orderSearch is what the back office's search matches: the order number
// and the customer's name, mobile number and e-mail, lower-cased here (the
// databases' lower() differ outside ASCII).
func orderSearch(o *kvitt.Order) string {
	return strings.ToLower(strings.Join([]string{o.Number, o.Customer.Name, o.Customer.MobileNumber, o.Customer.Email}, "\x1f"))
}

func (t *tx) CreateOrder(o *kvitt.Order) error {
	now := t.db.now()
	if o.Created.IsZero() {
		o.Created = now
	}
	o.Updated, o.Version = o.Created, 1
	if _, err := t.OrderByNumber(o.MerchantID, o.Number); err == nil {
		return kvitt.Errorf(kvitt.ECONFLICT, "order %s already exists", o.Number)
	}
	return t.insert("order "+o.Number, `INSERT INTO orders (`+orderCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		o.ID, o.MerchantID, o.Number, string(o.State), orderSearch(o), nullable(o.IdempotencyKey), toJSON(o),
		micros(o.Created), micros(o.Updated), o.Version)
}

func scanOrder(sc interface{ Scan(...any) error }) (*kvitt.Order, error) {
	var id, merchant, number, state, search, data string
	var key *string
	var created, updated, version int64
	if err := sc.Scan(&id, &merchant, &number, &state, &search, &key, &data, &created, &updated, &version); err != nil {
		return nil, err
	}
	var o kvitt.Order
	if err := fromJSON(data, &o); err != nil {
		return nil, err
	}
	// The columns are the truth for what compare-and-set decides on.
	o.ID, o.MerchantID, o.Number, o.State, o.Version = id, merchant, number, kvitt.OrderState(state), version
	o.Created, o.Updated = fromMicros(created), fromMicros(updated)
	return &o, nil
}

func (t *tx) GetOrder(id string) (*kvitt.Order, error) {
	o, err := scanOrder(t.row(`SELECT `+orderCols+` FROM orders WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "order %q not found", id)
	}
	return o, nil
}

func (t *tx) OrderByNumber(merchantID, number string) (*kvitt.Order, error) {
	o, err := scanOrder(t.row(`SELECT `+orderCols+` FROM orders WHERE merchant_id = $1 AND number = $2`, merchantID, number))
	if err != nil {
		return nil, notFound(err, "order %q not found", number)
	}
	return o, nil
}

func (t *tx) OrderByIdempotencyKey(key string) (*kvitt.Order, error) {
	o, err := scanOrder(t.row(`SELECT `+orderCols+` FROM orders WHERE idempotency_key = $1`, key))
	if err != nil {
		return nil, notFound(err, "no order with that idempotency key")
	}
	return o, nil
}

func (t *tx) UpdateOrder(o *kvitt.Order) error {
	updated := t.db.now()
	prev := o.Updated
	o.Updated = updated
	err := t.casUpdate("order "+o.ID, `UPDATE orders SET state=$3, search=$4, data=$5, updated=$6, version=version+1 WHERE id=$1 AND version=$2`,
		o.ID, o.Version, string(o.State), orderSearch(o), toJSON(o), micros(updated))
	if err != nil {
		o.Updated = prev
		return err
	}
	o.Version++
	return nil
}

// likeEscaper escapes LIKE's wildcards in a search text.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (t *tx) ListOrders(f kvitt.OrderFilter) ([]*kvitt.Order, error) {
	q := `SELECT ` + orderCols + ` FROM orders WHERE 1=1`
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	if f.MerchantID != "" {
		q += " AND merchant_id = " + arg(f.MerchantID)
	}
	if len(f.States) > 0 {
		var ph []string
		for _, s := range f.States {
			ph = append(ph, arg(string(s)))
		}
		q += " AND state IN (" + strings.Join(ph, ",") + ")"
	}
	if f.Query != "" {
		q += " AND search LIKE " + arg("%"+likeEscaper.Replace(strings.ToLower(f.Query))+"%") + ` ESCAPE '\'`
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q += " ORDER BY created DESC, id DESC LIMIT " + arg(limit)
	return scanAll(t, scanOrder, q, args...)
}
