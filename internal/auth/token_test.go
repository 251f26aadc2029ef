package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries []string
		want    []Token
		errs    []string
	}{
		{"flags", []string{"ops=tok1", "ci=tok2"}, []Token{{Name: "ops", Secret: "tok1"}, {Name: "ci", Secret: "tok2"}}, nil},
		{"env split on commas", strings.Split("ops=tok1, ci=tok2,", ","), []Token{{Name: "ops", Secret: "tok1"}, {Name: "ci", Secret: "tok2"}}, nil},
		{"equals in token", []string{"ops=abc=="}, []Token{{Name: "ops", Secret: "abc=="}}, nil},
		{"none", nil, nil, nil},
		{"errors all reported", []string{"ops=tok1", "bare-secret", "=tok3", "ci=", " = "}, nil, []string{
			`admin token entry 2: no "=" (want NAME=TOKEN)`,
			`admin token entry 3: empty name`,
			`admin token entry 4: "ci": empty token`,
			`admin token entry 5: empty name`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTokens(tt.entries)
			if tt.errs == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			for _, e := range tt.errs {
				require.ErrorContains(t, err, e)
			}
			require.NotContains(t, err.Error(), "bare-secret")
			require.NotContains(t, err.Error(), "tok3")
			require.Nil(t, got)
		})
	}
}

func TestLoadTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}

	good := write("good", "# admin tokens\n\nops=tok1\n  ci = tok2  \n# trailing comment\n")
	got, err := LoadTokenFile(good)
	require.NoError(t, err)
	require.Equal(t, []Token{{Name: "ops", Secret: "tok1"}, {Name: "ci", Secret: "tok2"}}, got)

	bad := write("bad", "ops=tok1\nsecret-without-name\n\n=tok3\n")
	_, err = LoadTokenFile(bad)
	require.ErrorContains(t, err, bad+`:2: no "="`)
	require.ErrorContains(t, err, bad+":4: empty name")
	require.NotContains(t, err.Error(), "secret-without-name")

	_, err = LoadTokenFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestEnsureGeneratedToken(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data") // does not exist yet
	path := filepath.Join(dataDir, GeneratedTokenFile)

	tok, created, err := EnsureGeneratedToken(dataDir)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, GeneratedTokenName, tok.Name)
	require.Len(t, tok.Secret, 43) // 32 bytes, base64url without padding
	require.NotContains(t, tok.Secret, "=")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, created, err := EnsureGeneratedToken(dataDir)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, tok, again)

	// The token works as an admin credential.
	a, err := New(t.Context(), Config{Tokens: []Token{again}}, nil)
	require.NoError(t, err)
	id, err := a.Authenticate(t.Context(), "Bearer "+tok.Secret)
	require.NoError(t, err)
	require.Equal(t, Identity{ID: DeriveID("admin"), Name: "admin", Admin: true, Source: SourceToken}, id)

	// Another data directory gets another token.
	other, created, err := EnsureGeneratedToken(t.TempDir())
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, tok.Secret, other.Secret)
}

func TestEnsureGeneratedTokenRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"world readable", "abcdefghijklmnopqrstuvwxyz0123456789", 0o644, "lets group or others read it"},
		{"group readable", "abcdefghijklmnopqrstuvwxyz0123456789", 0o640, "lets group or others read it"},
		{"empty", "", 0o600, "does not hold a token"},
		{"too short", "short\n", 0o600, "does not hold a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, GeneratedTokenFile)
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			require.NoError(t, os.Chmod(path, tt.mode))
			_, _, err := EnsureGeneratedToken(dir)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, path)
			// The file is left for the operator to inspect.
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tt.content, string(data))
		})
	}

	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		target := filepath.Join(dir, "elsewhere")
		require.NoError(t, os.WriteFile(target, []byte("abcdefghijklmnopqrstuvwxyz0123456789"), 0o600))
		require.NoError(t, os.Symlink(target, filepath.Join(dir, GeneratedTokenFile)))
		_, _, err := EnsureGeneratedToken(dir)
		require.ErrorContains(t, err, "not a regular file")
	})
}
