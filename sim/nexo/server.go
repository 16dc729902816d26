package simnexo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/kvitt-hub/kvitt"
)

type jsonNumber = json.Number

// Handler serves the nexo endpoint (POST /nexo), the customer's endpoints
// (/customer/...) and the screen (/screen).
func (t *Terminal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /nexo", t.serveNexo)
	mux.HandleFunc("POST /nexo/{$}", t.serveNexo) // Adyen's libraries post to /nexo/
	mux.HandleFunc("GET /screen", t.serveScreen)
	mux.HandleFunc("GET /screen.json", t.serveScreenJSON)
	mux.HandleFunc("GET /ledger.json", t.serveLedger)
	mux.HandleFunc("POST /customer/total", t.serveTotal)
	mux.HandleFunc("POST /customer/card", t.serveCard)
	mux.HandleFunc("POST /customer/cancel", t.serveCustomerCancel)
	mux.HandleFunc("POST /customer/walkaway", t.serveWalkAway)
	return mux
}

// obj returns the object at the path of keys, or nil.
func obj(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		if m == nil {
			return nil
		}
		m, _ = m[k].(map[string]any)
	}
	return m
}

// str returns a string or number field as a string.
func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	}
	return ""
}

func (t *Terminal) serveNexo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		http.Error(w, "not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := obj(msg, "SaleToPOIRequest")
	if _, secured := req["SecurityTrailer"]; secured || req["NexoBlob"] != nil {
		plain, k, err := t.unseal(req)
		if err != nil {
			writeCryptoError(w, str(obj(req, "MessageHeader"), "ServiceID"), err)
			return
		}
		clear := obj(req, "MessageHeader")
		dec := json.NewDecoder(bytes.NewReader(plain))
		dec.UseNumber()
		msg = nil
		if err := dec.Decode(&msg); err != nil {
			writeCryptoError(w, str(clear, "ServiceID"), &cryptoError{cryptoParse, "NexoBlob holds no JSON"})
			return
		}
		req = obj(msg, "SaleToPOIRequest")
		a, _ := json.Marshal(clear)
		b, _ := json.Marshal(obj(req, "MessageHeader"))
		if !bytes.Equal(a, b) {
			writeCryptoError(w, str(clear, "ServiceID"), &cryptoError{cryptoHeader, "the clear MessageHeader differs from the encrypted one"})
			return
		}
		sw := &sealingWriter{ResponseWriter: w, key: k}
		defer sw.finish()
		w = sw
	} else if t.opts.RequireEncryption {
		writeCryptoError(w, str(obj(req, "MessageHeader"), "ServiceID"), &cryptoError{0, "the terminal accepts only encrypted messages"})
		return
	}
	hdr := obj(req, "MessageHeader")
	if hdr == nil {
		http.Error(w, "no SaleToPOIRequest.MessageHeader", http.StatusBadRequest)
		return
	}
	sid := str(hdr, "ServiceID")
	switch {
	case str(hdr, "MessageClass") != "Service" || str(hdr, "MessageType") != "Request":
		http.Error(w, "MessageClass must be Service and MessageType Request", http.StatusBadRequest)
		return
	case str(hdr, "ProtocolVersion") == "":
		http.Error(w, "ProtocolVersion missing", http.StatusBadRequest)
		return
	case str(hdr, "POIID") != t.opts.POIID:
		http.Error(w, "this terminal is "+t.opts.POIID, http.StatusNotFound)
		return
	case sid == "" || len(sid) > 10 || str(hdr, "SaleID") == "":
		http.Error(w, "ServiceID must have 1 to 10 characters and SaleID must be set", http.StatusBadRequest)
		return
	}
	cat := str(hdr, "MessageCategory")
	bodyName := map[string]string{
		"Login": "LoginRequest", "Payment": "PaymentRequest", "Abort": "AbortRequest",
		"TransactionStatus": "TransactionStatusRequest", "Reversal": "ReversalRequest",
	}[cat]
	if bodyName == "" || obj(req, bodyName) == nil {
		http.Error(w, "MessageCategory "+cat+" needs a "+bodyName, http.StatusBadRequest)
		return
	}
	b := obj(req, bodyName)
	switch cat {
	case "Login":
		t.login(w, hdr, b)
	case "Payment":
		t.payment(w, r, hdr, b)
	case "Abort":
		t.abort(w, hdr, b)
	case "TransactionStatus":
		t.transactionStatus(w, hdr, b)
	case "Reversal":
		t.reversal(w, hdr, b)
	}
}

// respHeader is the answer's header for a request header.
func respHeader(h map[string]any) map[string]any {
	return map[string]any{
		"ProtocolVersion": str(h, "ProtocolVersion"),
		"MessageClass":    "Service",
		"MessageCategory": str(h, "MessageCategory"),
		"MessageType":     "Response",
		"ServiceID":       str(h, "ServiceID"),
		"SaleID":          str(h, "SaleID"),
		"POIID":           str(h, "POIID"),
	}
}

func writeResponse(w http.ResponseWriter, h map[string]any, name string, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"SaleToPOIResponse": map[string]any{"MessageHeader": respHeader(h), name: body},
	})
}

func failure(cond, add string) map[string]any {
	r := map[string]any{"Result": "Failure", "ErrorCondition": cond}
	if add != "" {
		r["AdditionalResponse"] = add
	}
	return r
}

func (t *Terminal) login(w http.ResponseWriter, h, b map[string]any) {
	if obj(b, "SaleSoftware") == nil || str(b, "DateTime") == "" {
		writeResponse(w, h, "LoginResponse", map[string]any{"Response": failure("MessageFormat", "message=SaleSoftware and DateTime are required")})
		return
	}
	t.mu.Lock()
	t.loggedIn[str(h, "SaleID")] = true
	delete(t.dropped, str(h, "SaleID"))
	t.mu.Unlock()
	writeResponse(w, h, "LoginResponse", map[string]any{
		"Response": map[string]any{"Result": "Success"},
		"POISystemData": map[string]any{
			"DateTime":  stamp(t.opts.Now()),
			"POIStatus": map[string]any{"GlobalStatus": "OK"},
		},
	})
}

func key(saleID, serviceID string) string { return saleID + "\x00" + serviceID }

func (t *Terminal) payment(w http.ResponseWriter, r *http.Request, h, b map[string]any) {
	refuse := func(cond, add string) {
		writeResponse(w, h, "PaymentResponse", map[string]any{"Response": failure(cond, add)})
	}
	saleID, sid := str(h, "SaleID"), str(h, "ServiceID")
	ar := obj(b, "PaymentTransaction", "AmountsReq")
	saleTx := obj(b, "SaleData", "SaleTransactionID")
	if ar == nil || saleTx == nil || str(saleTx, "TransactionID") == "" || str(saleTx, "TimeStamp") == "" {
		refuse("MessageFormat", "message=PaymentTransaction.AmountsReq and SaleData.SaleTransactionID are required")
		return
	}
	cur := kvitt.Currency(str(ar, "Currency"))
	if _, ok := ar["RequestedAmount"].(json.Number); !ok || !cur.Valid() {
		refuse("MessageFormat", "message=RequestedAmount must be a number and Currency supported")
		return
	}
	amt, err := kvitt.ParseAmount(str(ar, "RequestedAmount"), cur)
	if err != nil || amt <= 0 {
		refuse("MessageFormat", "message=RequestedAmount is not a valid amount")
		return
	}
	ptype := "Normal"
	if pd := obj(b, "PaymentData"); pd != nil && str(pd, "PaymentType") != "" {
		ptype = str(pd, "PaymentType")
	}
	if ptype != "Normal" && ptype != "Refund" {
		refuse("NotAllowed", "message=PaymentType "+ptype+" is not supported")
		return
	}

	if !t.waitHold(sid) {
		return
	}
	t.mu.Lock()
	switch {
	case t.opts.Profile != ProfileAdyen && !t.loggedIn[saleID]:
		t.mu.Unlock()
		refuse("LoggedOut", "message=Login required")
		return
	case t.current != nil:
		t.mu.Unlock()
		refuse("Busy", "message=Another transaction is in progress")
		return
	case t.txns[key(saleID, sid)] != nil:
		t.mu.Unlock()
		refuse("MessageFormat", "message=Duplicate ServiceID")
		return
	}
	c := &txn{
		saleID: saleID, serviceID: sid, header: h, paymentType: ptype,
		currency: cur, amount: amt, saleTx: saleTx,
		stage: StageCard, message: "Insert or tap card", done: make(chan struct{}), link: make(chan struct{}),
	}
	if ptype == "Refund" {
		c.message = "Refund: insert or tap card"
	} else if t.opts.Tip {
		c.stage, c.message = StageTip, "Enter total (amount + Extra)"
	}
	t.current, t.last = c, c
	t.txns[key(saleID, sid)] = c
	auto, timeout := t.opts.Auto, t.opts.CustomerTimeout
	t.notify()
	t.mu.Unlock()

	if auto != "" {
		go t.PresentCard(auto)
	}
	go func() {
		select {
		case <-time.After(timeout):
		case <-c.done:
			return
		case <-t.closed:
			return
		}
		t.mu.Lock()
		if c.stage == StageTip || c.stage == StageCard {
			t.finish(c, NoAnswer)
		}
		t.mu.Unlock()
	}()

	select {
	case <-c.done:
	case <-r.Context().Done():
		// The till went away: the transaction goes on (Adyen), or is
		// aborted and the till logged out (AbortOnDrop: Westpay).
		t.linkLost(c)
		return
	case <-c.link:
		t.linkLost(c)
		dropConnection(w)
		return
	case <-t.closed:
		return
	}
	t.mu.Lock()
	drop := t.drop > 0
	if drop {
		t.drop--
	}
	res := c.result
	t.mu.Unlock()
	if drop {
		t.linkLost(c)
		dropConnection(w)
		return
	}
	writeResponse(w, h, "PaymentResponse", res)
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (t *Terminal) abort(w http.ResponseWriter, h, b map[string]any) {
	ref := obj(b, "MessageReference")
	if ref == nil || str(b, "AbortReason") == "" {
		http.Error(w, "AbortRequest needs MessageReference and AbortReason", http.StatusBadRequest)
		return
	}
	saleID := str(ref, "SaleID")
	if saleID == "" {
		saleID = str(h, "SaleID")
	}
	t.mu.Lock()
	t.aborts++
	t.notify()
	if c := t.txns[key(saleID, str(ref, "ServiceID"))]; c != nil && (c.stage == StageTip || c.stage == StageCard) {
		// During authorisation (StageProcessing) an abort comes too late.
		t.finish(c, "aborted")
	}
	t.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (t *Terminal) transactionStatus(w http.ResponseWriter, h, b map[string]any) {
	ref := obj(b, "MessageReference")
	t.mu.Lock()
	if t.dropped[str(h, "SaleID")] {
		// Logged out by the dropped link: the till must log in again first.
		t.mu.Unlock()
		writeResponse(w, h, "TransactionStatusResponse", map[string]any{"Response": failure("LoggedOut", "message=Login required")})
		return
	}
	var c *txn
	if ref == nil {
		c = t.last
	} else {
		saleID := str(ref, "SaleID")
		if saleID == "" {
			saleID = str(h, "SaleID")
		}
		c = t.txns[key(saleID, str(ref, "ServiceID"))]
		if cat := str(ref, "MessageCategory"); c != nil && cat != "" && cat != "Payment" {
			c = nil
		}
	}
	var body map[string]any
	switch {
	case c == nil:
		body = map[string]any{"Response": failure("NotFound", "message=No transaction with this reference")}
	case c.stage != StageDone:
		body = map[string]any{"Response": failure("InProgress", "message=Transaction in progress")}
	default:
		body = map[string]any{
			"Response": map[string]any{"Result": "Success"},
			"MessageReference": map[string]any{
				"MessageCategory": "Payment", "SaleID": c.saleID, "ServiceID": c.serviceID, "POIID": t.opts.POIID,
			},
			"RepeatedMessageResponse": map[string]any{
				"MessageHeader":               respHeader(c.header),
				"RepeatedResponseMessageBody": map[string]any{"PaymentResponse": c.result},
			},
		}
	}
	t.mu.Unlock()
	writeResponse(w, h, "TransactionStatusResponse", body)
}

func (t *Terminal) reversal(w http.ResponseWriter, h, b map[string]any) {
	reply := func(body map[string]any) { writeResponse(w, h, "ReversalResponse", body) }
	orig := obj(b, "OriginalPOITransaction", "POITransactionID")
	if orig == nil || str(b, "ReversalReason") == "" {
		reply(map[string]any{"Response": failure("MessageFormat", "message=OriginalPOITransaction.POITransactionID and ReversalReason are required")})
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.Profile != ProfileAdyen && !t.loggedIn[str(h, "SaleID")] {
		reply(map[string]any{"Response": failure("LoggedOut", "message=Login required")})
		return
	}
	if t.current != nil {
		reply(map[string]any{"Response": failure("Busy", "message=Another transaction is in progress")})
		return
	}
	c := t.byPOI[str(orig, "TransactionID")]
	if c == nil || !c.approved || c.paymentType != "Normal" {
		reply(map[string]any{"Response": failure("NotAllowed", "message=No approved payment with this POITransactionID")})
		return
	}
	e := &t.ledger[c.ledger]
	if e.Reversed {
		reply(map[string]any{"Response": failure("NotAllowed", "message=Already reversed")})
		return
	}
	e.Reversed = true
	t.seq++
	id := "SIM" + leftPad(t.seq)
	t.ledger = append(t.ledger, Entry{Kind: "reversal", SaleID: c.saleID, ServiceID: c.serviceID, POITransactionID: id,
		Currency: c.currency, Amount: e.Amount, Tip: e.Tip})
	t.screen = "Reversed " + kvitt.Money{Amount: e.Amount, Currency: c.currency}.String()
	t.notify()
	reply(map[string]any{
		"Response":       map[string]any{"Result": "Success"},
		"POIData":        map[string]any{"POITransactionID": map[string]any{"TransactionID": id, "TimeStamp": stamp(t.opts.Now())}},
		"ReversedAmount": amount(e.Amount, c.currency),
	})
}

func leftPad(n int) string {
	s := []byte("00000000")
	for i := len(s) - 1; i >= 0 && n > 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}
