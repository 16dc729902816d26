package main

import (
	"net/http"

	"github.com/kvitt-hub/kvitt/http/ui"
)

// ui returns the web pages: the displays, and in the sandbox the simulated
// card terminal's screen.
func (m *Main) ui() http.Handler {
	var terminal http.Handler
	if m.sandbox != nil {
		terminal = m.sandbox.terminalUI
	}
	return ui.Handler(terminal)
}
