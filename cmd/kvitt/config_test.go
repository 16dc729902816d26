package main

import (
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt"
)

// Texts of the configuration are printed on every receipt: a control
// character (ESC p opens the cash drawer) is refused at start, naming the
// setting. Before, they were stored and reached the printer.
func TestConfigRefusesControlCharactersInReceiptTexts(t *testing.T) {
	for want, edit := range map[string]func(c *Config){
		"merchant.name":          func(c *Config) { c.Merchant.Name = "Demo\x1bp\x00AB" },
		"merchant.store.address": func(c *Config) { c.Merchant.Store.Address = "Storgatan 1\nTOTALT 0,00 kr" },
		"tills[0].name":          func(c *Config) { c.Tills[0].Name = "Kassa\x1dV" },
	} {
		c := DefaultConfig()
		edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming it", want, err)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("the default configuration: %v", err)
	}
}

// An Adyen terminal in live use needs its message key; an unknown profile
// is refused naming the setting.
func TestConfigTerminalProfile(t *testing.T) {
	c := DefaultConfig()
	c.Sandbox = false
	c.Tills[0].Terminal = &kvitt.Terminal{POIID: "P400-1", URL: "https://10.0.0.12:8443/nexo", Profile: "adyen"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tills[0].terminal") {
		t.Errorf("adyen without a key in live: %v", err)
	}
	c.Tills[0].Terminal.Passphrase, c.Tills[0].Terminal.KeyIdentifier, c.Tills[0].Terminal.KeyVersion = "secret", "kvitt", 1
	if err := c.Validate(); err != nil {
		t.Errorf("adyen with its key: %v", err)
	}
	c.Tills[0].Terminal.Profile = "ingenico"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tills[0].terminal.profile") {
		t.Errorf("unknown profile: %v", err)
	}
}

// Only Swedish tills register with a control unit; a Danish till with one
// is refused naming the setting.
func TestConfigControlUnitOnlyInSweden(t *testing.T) {
	c := DefaultConfig()
	c.Merchant.Country, c.Merchant.Currency = "DK", "DKK"
	c.Tills[0].ControlUnit = "cu"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tills[0].control_unit") {
		t.Errorf("a Danish till with a control unit: %v", err)
	}
	c.Tills[0].ControlUnit = ""
	if err := c.Validate(); err != nil {
		t.Errorf("a Danish till without one: %v", err)
	}
}
