package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// Token is a static API token bound to an admin identity.
type Token struct {
	// Name is the admin's display name, unique among tokens.
	Name string
	// Secret is the bearer token itself.
	Secret string
	// ID is the admin's UUID; zero means DeriveID(Name).
	ID uuid.UUID
}

// String names the token without revealing its secret, so that a Token in a
// log line or error message does not leak.
func (t Token) String() string { return "admin token " + t.Name }

// GoString is String, for %#v.
func (t Token) GoString() string { return t.String() }

// DeriveID returns the stable UUID (v5, in IdentityNamespace) of the admin
// named name, used for tokens configured without an explicit ID.
func DeriveID(name string) uuid.UUID {
	return uuid.NewSHA1(IdentityNamespace, []byte(name))
}

func (t Token) identity() Identity {
	id := t.ID
	if id == uuid.Nil {
		id = DeriveID(t.Name)
	}
	return Identity{ID: id, Name: t.Name, Admin: true, Source: SourceToken}
}

// ParseTokens parses NAME=TOKEN entries, as given by repeated
// --admin-token flags or by CALLBACKD_ADMIN_TOKENS split on commas.
// Surrounding whitespace is trimmed and blank entries are skipped; the token
// is everything after the first '='. All malformed entries are reported at
// once, by position and never by content, since an entry may be a secret.
// Lengths and duplicates are checked by New.
func ParseTokens(entries []string) ([]Token, error) {
	var tokens []Token
	var problems []error
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		t, err := parseToken(e)
		if err != nil {
			problems = append(problems, fmt.Errorf("admin token entry %d: %w", i+1, err))
			continue
		}
		tokens = append(tokens, t)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return tokens, nil
}

func parseToken(entry string) (Token, error) {
	name, secret, ok := strings.Cut(entry, "=")
	if !ok {
		return Token{}, errors.New(`no "=" (want NAME=TOKEN)`)
	}
	name, secret = strings.TrimSpace(name), strings.TrimSpace(secret)
	switch {
	case name == "":
		return Token{}, errors.New("empty name (want NAME=TOKEN)")
	case secret == "":
		return Token{}, fmt.Errorf("%q: empty token (want NAME=TOKEN)", name)
	}
	return Token{Name: name, Secret: secret}, nil
}

// LoadTokenFile reads static tokens from a file holding one NAME=TOKEN per
// line; blank lines and lines starting with '#' are ignored. All malformed
// lines are reported at once.
func LoadTokenFile(path string) ([]Token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load admin tokens: %w", err)
	}
	var tokens []Token
	var problems []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := parseToken(line)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s:%d: %w", path, n, err))
			continue
		}
		tokens = append(tokens, t)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", path, err))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("load admin tokens: %w", err)
	}
	return tokens, nil
}

// GeneratedTokenFile is the name, in the data directory, of the admin token
// that EnsureGeneratedToken creates.
const GeneratedTokenFile = "admin-token"

// GeneratedTokenName is the name of the admin that EnsureGeneratedToken's
// token is bound to.
const GeneratedTokenName = "admin"

// EnsureGeneratedToken returns the admin token kept in
// dataDir/admin-token, creating it with 32 random bytes (base64url, no
// padding) and mode 0600 when it does not exist; created reports whether it
// did. An existing file that group or others may read is refused rather than
// silently fixed: its token may already have leaked, so the operator should
// decide (chmod 600 it, or delete it to get a new token).
func EnsureGeneratedToken(dataDir string) (tok Token, created bool, err error) {
	path := filepath.Join(dataDir, GeneratedTokenFile)
	defer func() {
		if err != nil {
			err = fmt.Errorf("generated admin token %s: %w", path, err)
		}
	}()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Token{}, false, err
	}
	tok = Token{Name: GeneratedTokenName}

	// O_EXCL makes creation atomic: of two processes starting at once, one
	// creates the file and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		tok.Secret = base64.RawURLEncoding.EncodeToString(randomBytes(32))
		_, err = f.WriteString(tok.Secret + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return Token{}, false, err
		}
		return tok, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return Token{}, false, err
	}

	fi, err := os.Lstat(path)
	if err != nil {
		return Token{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return Token{}, false, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Token{}, false, fmt.Errorf("mode %#o lets group or others read it: run chmod 600 %s, or delete it to generate a new token", perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Token{}, false, err
	}
	tok.Secret = strings.TrimSpace(string(data))
	if len(tok.Secret) < MinTokenLength || strings.ContainsFunc(tok.Secret, isSpaceOrControl) {
		return Token{}, false, fmt.Errorf("does not hold a token of at least %d bytes without spaces: delete it to generate a new one", MinTokenLength)
	}
	return tok, false, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead).
	return b
}
