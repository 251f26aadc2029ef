package callbackd

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers orders every package of the module from the top down: an import
// may point only to a lower layer, so the table below has no arrow back up.
// cmd → server → domain → storage → vocabulary → error vocabulary → ent, gen.
var layers = [][]string{
	// Programs, load generators, fault tests and the module's own tests
	// (this file): nothing imports them.
	{".", "cmd/callbackd", "cmd/callbackctl", "internal/bench/ingestload", "internal/bench/watchload", "internal/bench/historyload", "internal/faults"},
	// What a test binary needs and lacks on this machine, said once.
	{"internal/testenv"},
	// The benchmarks' readings of the machine, the database and the server
	// process, over the harness below.
	{"internal/bench/benchserver"},
	// Harnesses that build, run or open a real callbackd or database for
	// tests and benchmarks.
	{"clients/go/callbackdtest", "internal/store/storetest", "internal/errdocs", "internal/mailpittest"},
	// Transports and clients: the one port, the embedded UI, the Go client,
	// the TypeScript client's test.
	{"server", "web", "clients/go", "clients/ts"},
	// Sign-in through an identity provider, over auth's claim rules and
	// the sessions' vocabulary.
	{"internal/oidc"},
	// Domain services: they depend on small interfaces, never on storage.
	{"internal/ingest", "internal/watch", "internal/retention", "internal/auth", "internal/replay"},
	// Storage: the store, its PostgreSQL replica link, and alerting's
	// durable queue (River's jobs and the rules' state, in the database).
	{"internal/store", "internal/store/pgnotify", "internal/alert/queue"},
	// Alerting's senders, then its vocabulary (configuration, rules,
	// evaluation as a pure state machine).
	{"internal/alert/channel"},
	{"internal/alert/rules"},
	// The domain's vocabulary and leaf helpers.
	// The OpenTelemetry SDK's wiring is one of them: only the program uses
	// it; every other package sees the otel/trace interfaces.
	{"internal/callback", "internal/webhook", "internal/session", "internal/redact", "internal/failurelimit", "internal/buildinfo", "internal/telemetry"},
	// The error vocabulary: every refusal names its reason, which decides
	// its code and status.
	{"internal/apierror"},
	// Generated code; its packages import each other as their generators
	// decide.
	{
		"ent", "ent/enttest", "ent/hook", "ent/llmcallback", "ent/llmcallbackview", "ent/migrate",
		"ent/predicate", "ent/runtime", "ent/schema",
		"gen/callbacks/v1", "gen/callbacks/v1/callbacksv1connect",
	},
}

// allowedImports is the import direction of the module, written down and
// enforced: each package may import only the module packages listed (by
// prefix). Every package of the module has an entry.
var allowedImports = map[string][]string{
	".":                          {},
	"cmd/callbackd":              {"internal/alert/channel", "internal/alert/queue", "internal/alert/rules", "internal/auth", "internal/oidc", "internal/replay", "internal/session", "internal/buildinfo", "internal/callback", "internal/ingest", "internal/retention", "server", "internal/store", "internal/telemetry", "internal/watch", "web", "internal/webhook"},
	"cmd/callbackctl":            {"internal/buildinfo", "internal/callback", "clients/go", "gen", "internal/webhook"},
	"internal/bench/ingestload":  {"internal/bench/benchserver", "clients/go/callbackdtest", "internal/webhook"},
	"internal/bench/watchload":   {"internal/bench/benchserver", "clients/go/callbackdtest", "gen", "internal/webhook"},
	"internal/bench/historyload": {"internal/bench/benchserver", "clients/go", "gen", "ent", "internal/auth", "internal/callback", "internal/webhook"},
	"internal/faults":            {},
	"internal/testenv":           {"internal/store/storetest"},
	"internal/bench/benchserver": {"clients/go/callbackdtest"},
	"clients/go/callbackdtest":   {},
	"internal/store/storetest":   {"internal/callback", "internal/store"},
	"internal/errdocs":           {"internal/apierror"},
	"internal/mailpittest":       {"clients/go/callbackdtest"},
	"server":                     {"internal/alert/rules", "internal/apierror", "internal/auth", "internal/oidc", "internal/replay", "internal/session", "internal/buildinfo", "internal/callback", "internal/failurelimit", "internal/ingest", "internal/watch", "internal/webhook", "gen"},
	"web":                        {},
	"clients/go":                 {"gen"},
	"clients/ts":                 {},
	"internal/oidc":              {"internal/apierror", "internal/auth", "internal/redact", "internal/session"},
	"internal/ingest":            {"internal/apierror", "internal/callback", "internal/failurelimit", "internal/webhook"},
	"internal/watch":             {"internal/apierror", "internal/callback"},
	"internal/retention":         {"internal/callback"},
	"internal/auth":              {"internal/apierror", "internal/redact"},
	"internal/replay":            {"internal/apierror", "internal/webhook"},
	"internal/store":             {"internal/callback", "internal/session", "ent", "internal/redact"},
	"internal/store/pgnotify":    {"internal/callback"},
	"internal/alert/queue":       {"internal/alert/rules", "internal/apierror", "internal/callback"},
	"internal/alert/channel":     {"internal/alert/rules", "internal/webhook"},
	"internal/alert/rules":       {"internal/callback", "internal/webhook"},
	"internal/callback":          {"internal/apierror"},
	"internal/webhook":           {"internal/apierror"},
	"internal/session":           {"internal/apierror"},
	"internal/redact":            {},
	"internal/failurelimit":      {},
	"internal/buildinfo":         {},
	"internal/telemetry":         {},
	"internal/apierror":          {},

	"ent":                                 {"ent"},
	"ent/enttest":                         {"ent"},
	"ent/hook":                            {"ent"},
	"ent/llmcallback":                     {"ent"},
	"ent/llmcallbackview":                 {"ent"},
	"ent/migrate":                         {"ent"},
	"ent/predicate":                       {"ent"},
	"ent/runtime":                         {"ent"},
	"ent/schema":                          {"ent"},
	"gen/callbacks/v1":                    {"gen"},
	"gen/callbacks/v1/callbacksv1connect": {"gen"},
}

// testHarnesses may be imported by any package's tests: they exist to build
// real servers and databases for them.
var testHarnesses = []string{"internal/store/storetest", "clients/go/callbackdtest", "internal/testenv", "internal/errdocs", "internal/mailpittest"}

// allowedTestImports lists what a package's tests import beyond what the
// package itself may and the harnesses; none points up.
var allowedTestImports = map[string][]string{
	"internal/callback":    {"internal/webhook"},      // samples are signed and serialised as the sender does
	"internal/ingest":      {"internal/store", "gen"}, // the real store; the admin API's messages in fuzz cases
	"cmd/callbackd":        {"gen"},                   // the generated clients, on every protocol
	"internal/faults":      {"internal/callback", "gen", "internal/watch", "internal/webhook"},
	"internal/alert/queue": {"internal/alert/channel", "internal/store"}, // real senders and the real store
	"internal/telemetry":   {"gen", "internal/webhook"},                  // a real callbackd, signed deliveries, watch clients
}

// modulePackage is one package of the module as `go list` sees it.
type modulePackage struct {
	rel          string   // path inside the module, "." for the root
	imports      []string // module packages, relative
	testImports  []string // module packages imported by its tests, relative
	layer, order int
}

// listModule lists every package of the module with its module imports.
func listModule(t *testing.T) []modulePackage {
	t.Helper()
	const module = "github.com/callbackd/callbackd"
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	rel := func(path string) (string, bool) {
		if path == module {
			return ".", true
		}
		return strings.CutPrefix(path, module+"/")
	}
	var pkgs []modulePackage
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		fields := strings.Split(strings.TrimSpace(line), "|")
		if len(fields) != 3 {
			t.Fatalf("go list printed %q", line)
		}
		p := modulePackage{}
		p.rel, _ = rel(fields[0])
		for _, imp := range strings.Fields(fields[1]) {
			if r, ok := rel(imp); ok {
				p.imports = append(p.imports, r)
			}
		}
		for _, imp := range strings.Fields(fields[2]) {
			if r, ok := rel(imp); ok && r != p.rel {
				p.testImports = append(p.testImports, r)
			}
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layerOf returns the layer of a package (its index in layers), or -1.
func layerOf(rel string) int {
	for i, l := range layers {
		if slices.Contains(l, rel) {
			return i
		}
	}
	return -1
}

// pointsDown reports whether an import from one package to another goes to
// a lower layer (a higher index), or stays inside generated code.
func pointsDown(from, to string) bool {
	fl, tl := layerOf(from), layerOf(to)
	if fl == len(layers)-1 && tl == fl {
		return true
	}
	return fl >= 0 && tl > fl
}

// notUp reports whether an import goes to the same layer or a lower one:
// tests may use a sibling (a real store for a domain service's test).
func notUp(from, to string) bool {
	fl, tl := layerOf(from), layerOf(to)
	return fl >= 0 && tl >= fl
}

// TestImportDirection fails when a package of the module is missing from
// the tables, when it (or its tests) imports a module package its layer may
// not depend on, or when the tables themselves allow an arrow back up.
func TestImportDirection(t *testing.T) {
	t.Parallel()
	pkgs := listModule(t)
	listed := map[string]bool{}
	for _, p := range pkgs {
		listed[p.rel] = true
		allowed, ok := allowedImports[p.rel]
		if !ok {
			t.Errorf("package %s has no entry in allowedImports: say which layer it belongs to and what it may import", p.rel)
			continue
		}
		if layerOf(p.rel) < 0 {
			t.Errorf("package %s is in no layer", p.rel)
		}
		for _, imp := range p.imports {
			if !permitted(imp, allowed) {
				t.Errorf("%s imports %s, which its layer may not depend on", p.rel, imp)
			}
		}
		testAllowed := slices.Concat(allowed, testHarnesses, allowedTestImports[p.rel])
		for _, imp := range p.testImports {
			if !permitted(imp, testAllowed) {
				t.Errorf("tests of %s import %s, which its layer may not depend on", p.rel, imp)
			}
		}
	}
	for pkg, allowed := range allowedImports {
		if !listed[pkg] {
			t.Errorf("allowedImports names %s, which is not a package of the module", pkg)
		}
		for _, a := range allowed {
			if !listedUnder(listed, a) {
				t.Errorf("allowedImports lets %s import %s, which is not a package of the module", pkg, a)
			}
			if !allBelow(listed, pkg, a, pointsDown) {
				t.Errorf("allowedImports lets %s import %s: an arrow back up (or sideways)", pkg, a)
			}
		}
	}
	for pkg, allowed := range allowedTestImports {
		if _, ok := allowedImports[pkg]; !ok {
			t.Errorf("allowedTestImports names %s, which has no entry in allowedImports", pkg)
		}
		for _, a := range allowed {
			if !listedUnder(listed, a) {
				t.Errorf("allowedTestImports lets %s import %s, which is not a package of the module", pkg, a)
			}
			if !allBelow(listed, pkg, a, notUp) {
				t.Errorf("allowedTestImports lets %s import %s: an arrow back up", pkg, a)
			}
		}
	}
}

// listedUnder reports whether prefix is a listed package or has one below it.
func listedUnder(listed map[string]bool, prefix string) bool {
	for p := range listed {
		if permitted(p, []string{prefix}) {
			return true
		}
	}
	return false
}

// allBelow reports whether every listed package that the allowed prefix
// covers, test harnesses aside, is where ok says an import from "from" may
// point.
func allBelow(listed map[string]bool, from, prefix string, ok func(from, to string) bool) bool {
	for p := range listed {
		if permitted(p, []string{prefix}) && !slices.Contains(testHarnesses, p) && !ok(from, p) {
			return false
		}
	}
	return true
}

// permitted reports whether rel is one of allowed or below one of them.
func permitted(rel string, allowed []string) bool {
	for _, a := range allowed {
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}
