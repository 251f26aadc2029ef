package callbackdtest

import (
	"slices"
	"testing"
)

func TestChildEnv(t *testing.T) {
	t.Parallel()
	environ := []string{
		"PATH=/bin",
		"CALLBACKD_ADMIN_TOKENS=x=y",
		"DATABASE_URL=postgres://elsewhere",
		"LLM_WEBHOOK_SECRET=a=b",
		"DATABASE_URLS=kept",
		"HOME=/root",
	}
	want := []string{"PATH=/bin", "DATABASE_URLS=kept", "HOME=/root"}
	if got := childEnv(environ); !slices.Equal(got, want) {
		t.Errorf("childEnv = %q, want %q", got, want)
	}
}
