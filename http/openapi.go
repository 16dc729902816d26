package http

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 document of this API. http/openapi.yaml
// is its one source (docs/openapi.yaml links to it); http/openapi_test.go
// keeps it in step with the routes and the JSON types.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// handleOpenAPI serves the document, without a key like /healthz.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPIDocument)
}
