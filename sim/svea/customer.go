package simsvea

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kvitt-hub/kvitt"
)

// Customer acts on links through the checkout page over HTTPS, as a
// customer's phone would: approve completes the purchase, cancel abandons
// it (the link stays valid until it expires), timeout lets the link run out.
type Customer struct{ s *Sim }

// Customer returns the sandbox customer.
func (s *Sim) Customer() *Customer { return &Customer{s} }

var _ kvitt.OrderCustomer = (*Customer)(nil)

// ActOnLink opens l's checkout page and acts.
func (c *Customer) ActOnLink(ctx context.Context, o *kvitt.Order, l *kvitt.OrderLink, action kvitt.CustomerAction) error {
	if action == kvitt.CustomerTimeout {
		c.s.Expire(l.MerchantOrderNumber)
		return nil
	}
	act := map[kvitt.CustomerAction]string{kvitt.CustomerApprove: "complete", kvitt.CustomerCancel: "abandon", kvitt.CustomerDecline: "abandon"}[action]
	if act == "" {
		return kvitt.Errorf(kvitt.EUNPROCESSABLE, "the Svea sandbox customer can approve, cancel or timeout, not %q", action)
	}
	if !strings.HasPrefix(l.URL, c.s.URL()+"/checkout/") {
		return kvitt.Errorf(kvitt.ECONFLICT, "the link %s is not the simulator's", l.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL+"/"+act, nil)
	if err != nil {
		return err
	}
	hc := c.s.HTTPClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusSeeOther {
		return kvitt.Errorf(kvitt.ECONFLICT, "the checkout page says: %s", strings.TrimSpace(string(b)))
	}
	return nil
}

// String describes the sandbox customer.
func (c *Customer) String() string { return fmt.Sprintf("Svea Instore checkout at %s", c.s.URL()) }
