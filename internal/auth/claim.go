package auth

import (
	"fmt"
	"slices"
	"strings"
)

// ClaimRule is an admin rule on a JWT claim: the claim at Path must be the
// string Value, or an array holding it.
type ClaimRule struct {
	// Path is the claim's dotted path, split: ["app_metadata", "role"].
	Path []string
	// Value is the required value, compared exactly (case-sensitive).
	Value string
}

// ParseClaimRule parses "path=value", where path is dotted to reach into
// nested objects: "role=admin", "app_metadata.role=ADMIN" (Supabase),
// "roles=admin" (matches ["user", "admin"]). The value is everything after
// the first '='.
func ParseClaimRule(s string) (ClaimRule, error) {
	path, value, ok := strings.Cut(s, "=")
	if !ok {
		return ClaimRule{}, fmt.Errorf("%q: want path=value", s)
	}
	path, value = strings.TrimSpace(path), strings.TrimSpace(value)
	if path == "" {
		return ClaimRule{}, fmt.Errorf("%q: empty claim path", s)
	}
	if value == "" {
		return ClaimRule{}, fmt.Errorf("%q: empty claim value", s)
	}
	parts := strings.Split(path, ".")
	if slices.Contains(parts, "") {
		return ClaimRule{}, fmt.Errorf("%q: empty segment in claim path %q", s, path)
	}
	return ClaimRule{Path: parts, Value: value}, nil
}

// String returns the rule as ParseClaimRule accepts it.
func (r ClaimRule) String() string { return strings.Join(r.Path, ".") + "=" + r.Value }

// Check returns nil when claims satisfy the rule, and otherwise says why not.
func (r ClaimRule) Check(claims map[string]any) error {
	var v any = claims
	for i, key := range r.Path {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("claim %s is not an object", strings.Join(r.Path[:i], "."))
		}
		if v, ok = obj[key]; !ok {
			return fmt.Errorf("no claim %s", strings.Join(r.Path[:i+1], "."))
		}
	}
	switch v := v.(type) {
	case string:
		if v == r.Value {
			return nil
		}
	case []any:
		if slices.Contains(v, any(r.Value)) {
			return nil
		}
	}
	return fmt.Errorf("claim %s does not hold %q", strings.Join(r.Path, "."), r.Value)
}
