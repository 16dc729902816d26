package main

import (
	"strings"
	"testing"
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
