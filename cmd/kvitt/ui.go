package main

import "net/http"

// ui returns the web pages (nil until they exist).
func (m *Main) ui() http.Handler { return nil }
