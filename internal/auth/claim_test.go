package auth

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClaimRuleCheck runs the admin rule on claims as identity providers
// send them (decoded from JSON, as both JWTs and OIDC ID tokens are): flat,
// nested (Supabase's app_metadata.role), list-valued (groups, roles), and
// the near misses that must not match.
func TestClaimRuleCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule, claims string
		admin        bool
	}{
		{"role=admin", `{"role":"admin"}`, true},
		{"role=admin", `{"role":"Admin"}`, false}, // exact, case-sensitive
		{"role=admin", `{"role":"administrator"}`, false},
		{"role=admin", `{}`, false},
		{"role=admin", `{"role":null}`, false},
		{"role=admin", `{"role":true}`, false},
		// Supabase: the role an admin gives with the service key.
		{"app_metadata.role=admin", `{"role":"authenticated","app_metadata":{"provider":"email","role":"admin"}}`, true},
		{"app_metadata.role=admin", `{"role":"admin","app_metadata":{"provider":"email"}}`, false}, // the top-level role is Supabase's own
		{"app_metadata.role=admin", `{"app_metadata":"role=admin"}`, false},
		{"app_metadata.role=admin", `{"user_metadata":{"role":"admin"}}`, false}, // users may edit user_metadata
		{"app_metadata.roles=admin", `{"app_metadata":{"roles":["viewer","admin"]}}`, true},
		// Keycloak, Dex, Okta: a list of groups.
		{"groups=callbackd-admins", `{"groups":["staff","callbackd-admins"]}`, true},
		{"groups=callbackd-admins", `{"groups":["staff"]}`, false},
		{"groups=callbackd-admins", `{"groups":[]}`, false},
		{"groups=callbackd-admins", `{"groups":[["callbackd-admins"]]}`, false}, // only direct members
		{"groups=callbackd-admins", `{"groups":["callbackd-admins-old"]}`, false},
		{"groups=1", `{"groups":[1]}`, false}, // a number is not the string "1"
		// Keycloak's realm roles: a list inside an object.
		{"realm_access.roles=callbackd-admin", `{"realm_access":{"roles":["offline_access","callbackd-admin"]}}`, true},
		{"realm_access.roles=callbackd-admin", `{"realm_access":["callbackd-admin"]}`, false},
		// Three levels.
		{"a.b.c=x", `{"a":{"b":{"c":"x"}}}`, true},
		{"a.b.c=x", `{"a":{"b":{"c":{"x":true}}}}`, false},
		// A claim name with a dot cannot be reached by a path: it is
		// not the nested claim.
		{"a.b=x", `{"a.b":"x"}`, false},
		// Google Workspace: the hosted domain.
		{"hd=example.com", `{"hd":"example.com","email":"a@example.com"}`, true},
		{"hd=example.com", `{"email":"a@example.com"}`, false},
	}
	for _, c := range cases {
		rule, err := ParseClaimRule(c.rule)
		require.NoError(t, err)
		var claims map[string]any
		require.NoError(t, json.Unmarshal([]byte(c.claims), &claims))
		err = rule.Check(claims)
		if c.admin {
			require.NoError(t, err, "%s on %s", c.rule, c.claims)
		} else {
			require.Error(t, err, "%s on %s", c.rule, c.claims)
		}
	}
}

// TestDisplayNameAndSubjectID: the name shown in views, and the identity a
// subject gets (the same from a JWT and from an OIDC ID token).
func TestDisplayNameAndSubjectID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a@example.com", DisplayName(map[string]any{"email": "a@example.com", "name": "Ada"}, "sub"))
	require.Equal(t, "Ada", DisplayName(map[string]any{"email": "", "name": "Ada"}, "sub"))
	require.Equal(t, "ada", DisplayName(map[string]any{"preferred_username": "ada", "email": 7}, "sub"))
	require.Equal(t, "sub", DisplayName(map[string]any{}, "sub"))
	const supabase = "2f1d0c9e-4a3b-4c5d-8e7f-1a2b3c4d5e6f"
	require.Equal(t, supabase, SubjectID(supabase).String())
	require.NotEqual(t, SubjectID("x"), SubjectID("{x}"))
	require.Equal(t, SubjectID("google-oauth2|123"), SubjectID("google-oauth2|123"))
}
