package controlunit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
	"github.com/kvitt-hub/kvitt/controlunit"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

// unit is a control unit that answers every request with one status and body.
type unit struct {
	status int
	body   string
}

func (u *unit) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: u.status, Body: io.NopCloser(strings.NewReader(u.body)), Header: http.Header{}}, nil
}

// FuzzRegisterAnswer feeds the control unit's XML answer to Register. It
// never panics; an error is unavailable (retry) or unprocessable (refused),
// never anything else, and a 5xx is never a refusal; a control code taken
// names its unit and, for a normal receipt, carries a code.
func FuzzRegisterAnswer(f *testing.F) {
	f.Add(200, okResponse)
	f.Add(200, `<TcsResponse><ResponseCode>3</ResponseCode><ResponseMessage>Invalid</ResponseMessage><ResponseReason>OrgNr</ResponseReason></TcsResponse>`)
	f.Add(200, `<TcsResponse><ResponseCode>0</ResponseCode><ControlCode><ControlServerID>CU</ControlServerID></ControlCode></TcsResponse>`)
	f.Add(503, `<html>busy</html>`)
	f.Add(200, `<TcsResponse><ResponseCode>x</ResponseCode></TcsResponse>`)
	f.Add(200, `<!DOCTYPE x [<!ENTITY a "aaaa">]><TcsResponse><ResponseCode>0</ResponseCode><ControlCode><ControlServerID>&a;</ControlServerID><Code>&a;</Code></ControlCode></TcsResponse>`)
	u := &unit{}
	c, err := controlunit.New(controlunit.Config{URL: "https://cu.invalid", HTTPClient: &http.Client{Transport: u}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 200 || status > 599 {
			status = 200 // net/http hands no 1xx to a client as the answer
		}
		u.status, u.body = status, body
		cc, err := c.Register(context.Background(), sale())
		if err != nil {
			var ke *kvitt.Error
			if !errors.As(err, &ke) || ke.Code != kvitt.EUNAVAILABLE && ke.Code != kvitt.EUNPROCESSABLE {
				t.Fatalf("error %T %v", err, err)
			}
			if status >= 500 && ke.Code != kvitt.EUNAVAILABLE {
				t.Fatalf("HTTP %d taken as a refusal: %v", status, err)
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("HTTP %d taken as registered: %+v", status, cc)
		}
		if cc.UnitID == "" || cc.Code == "" {
			t.Fatalf("registered without a unit or code: %+v", cc)
		}
	})
}
