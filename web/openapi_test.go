package web

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/midgemq/midge/broker"
)

// openAPIPath is the document that describes the Handler's routes.
const openAPIPath = "../docs/openapi.yaml"

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// docRoutes reads the OpenAPI document and returns its operations as
// "METHOD /path" with OpenAPI's {name} parameters.
func docRoutes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi version %q, want 3.0.x", doc.OpenAPI)
	}
	var routes []string
	for path, item := range doc.Paths {
		for key, v := range item {
			if !slices.Contains(openAPIMethods, key) {
				if key != "parameters" && key != "summary" && key != "description" {
					t.Errorf("%s: unexpected key %q", path, key)
				}
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s %s is not an object", key, path)
				continue
			}
			if _, ok := op["responses"].(map[string]any); !ok {
				t.Errorf("%s %s has no responses", key, path)
			}
			if op["operationId"] == nil {
				t.Errorf("%s %s has no operationId", key, path)
			}
			routes = append(routes, strings.ToUpper(key)+" "+path)
		}
	}
	slices.Sort(routes)
	return routes
}

// servedRoutes returns the Handler's patterns in OpenAPI's form: a
// "{name...}" wildcard becomes "{name}".
func servedRoutes(h *Handler) []string {
	var routes []string
	for _, p := range h.patterns {
		routes = append(routes, strings.ReplaceAll(p, "...}", "}"))
	}
	slices.Sort(routes)
	return routes
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := start(t, broker.Options{}, Options{Token: testToken})
	documented := docRoutes(t)
	served := servedRoutes(e.h)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in %s", r, openAPIPath)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in %s but not served", r, openAPIPath)
		}
	}

	// Each documented operation reaches a handler over HTTP: no 405, and no
	// 404 from the router (a 404 for an unknown client is the handler's).
	params := strings.NewReplacer("{id}", "some-client", "{topic}", "some/topic")
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		var body []byte
		if method == http.MethodPost {
			body = []byte(`{"topic":"some/topic","payload":"x"}`)
		}
		resp := e.do(t, method, params.Replace(path), testToken, body)
		if resp.status == http.StatusMethodNotAllowed {
			t.Errorf("%s: 405", r)
		}
		if resp.status == http.StatusNotFound && resp.apiErr(t).Error == "no such endpoint" {
			t.Errorf("%s: the router has no such endpoint", r)
		}
		if resp.status >= 500 {
			t.Errorf("%s: %d %s", r, resp.status, resp.body)
		}
	}
}
