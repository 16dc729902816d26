package http

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// openAPIDocument is the OpenAPI 3.1 document of this API. http/openapi.yaml
// is its one source (docs/openapi.yaml links to it); http/openapi_test.go
// keeps it in step with the routes and the JSON types.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// openAPIJSON is the same document as JSON, converted once at start.
var openAPIJSON = mustYAMLToJSON(openAPIDocument)

// handleOpenAPI serves the document, without a key like /healthz.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPIDocument)
}

// handleOpenAPIJSON serves the document as JSON (GET /openapi.json and
// GET /v1/openapi.json), without a key.
func (s *Server) handleOpenAPIJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIJSON)
}

func mustYAMLToJSON(y []byte) []byte {
	b, err := yamlToJSON(y)
	if err != nil {
		panic("http/openapi.yaml: " + err.Error())
	}
	return b
}

// yamlToJSON converts a YAML document to indented JSON, keeping the order
// of the keys and every key a string as written (a status code "200", or
// one left unquoted, stays the key "200").
func yamlToJSON(y []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(y, &n); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := yamlNodeJSON(&buf, &n); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func yamlNodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: %d documents, want 1", n.Line, len(n.Content))
		}
		return yamlNodeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return yamlNodeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("line %d: a key that is not a plain scalar", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: key %q twice", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, err := marshalJSON(k.Value)
			if err != nil {
				return err
			}
			buf.Write(kb)
			buf.WriteByte(':')
			if err := yamlNodeJSON(buf, v); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := yamlNodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!null":
			v = nil
		case "!!bool", "!!int", "!!float":
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return fmt.Errorf("line %d: %s has no JSON", n.Line, n.Value)
			}
		default: // !!str, !!timestamp, !!binary: the text as written
			v = n.Value
		}
		b, err := marshalJSON(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

// marshalJSON is json.Marshal without escaping <, > and & (the document's
// prose has them).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
