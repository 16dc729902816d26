package svea_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kvitt-hub/kvitt"
	simsvea "github.com/kvitt-hub/kvitt/sim/svea"
	"github.com/kvitt-hub/kvitt/svea"
)

// TestCreateRefusesServerCertificate: a server whose certificate kvitt
// does not trust (another CA: the wrong base URL, a proxy in between) is
// a definite answer, not a lost one: the handshake failed, so the create
// never reached Svea. The link fails, saying what to check; nothing is at
// either server. Before, it was an unknown outcome: the order stayed
// "creating" for ever (and the create was answered 500), the poller
// asking the same server again and again.
func TestCreateRefusesServerCertificate(t *testing.T) {
	s, _ := newSim(t, 5*time.Second)
	impostor, err := simsvea.New(simsvea.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { impostor.Close() })
	// kvitt trusts Svea's CA and is pointed at another server.
	p, err := svea.NewProvider(svea.Config{Client: &svea.Client{BaseURL: impostor.URL(), MerchantID: s.MerchantID(), Password: s.Password(), HTTP: s.HTTPClient()},
		TermsURI: "https://butiken.example/villkor"})
	if err != nil {
		t.Fatal(err)
	}
	o, l := order("1101")
	u, err := p.CreateLink(ctx, o, l)
	if err != nil || u.State != kvitt.PaymentFailed || u.ErrorCode != svea.CodeServerCertificate ||
		!strings.Contains(u.Message, "certificate") || !strings.Contains(u.Message, "svea.base_url") {
		t.Fatalf("create: %+v %v; want a failed link naming Svea's certificate and svea.base_url", u, err)
	}
	if n := len(impostor.Ledger().Orders) + len(s.Ledger().Orders); n != 0 {
		t.Errorf("%d orders at the servers", n)
	}
	// A status read cannot be answered either: an error (the poller asks
	// again once the configuration is right), never a state.
	if u, err := p.LinkStatus(ctx, o, l); err == nil {
		t.Errorf("status through a refused certificate: %+v, want an error", u)
	}
}
