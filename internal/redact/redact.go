// Package redact hides the credentials that a configured URL carries (a
// database URL, a JWKS URL) before the URL, or an error that quotes it,
// reaches a log line or an error message: logs are shipped to log stores
// that more people can read than the server's configuration.
package redact

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Mask replaces each credential.
const Mask = "xxxxx"

// Unparsable replaces a URL that does not parse, since its credentials
// cannot be told from the rest.
const Unparsable = "(unparsable URL)"

// secretParams are fragments of query parameter names whose values are
// credentials: PostgreSQL's password and sslpassword, and the usual names of
// API keys and tokens in HTTP URLs.
var secretParams = []string{"pass", "pwd", "secret", "token", "key", "sig", "auth", "credential"}

// databaseSchemes are the schemes whose user name is a role, not a
// credential; elsewhere (http, https) userinfo is only ever a credential.
var databaseSchemes = []string{"postgres", "postgresql"}

// URL returns raw with every credential replaced by Mask: the userinfo
// password; the user name too, unless the scheme is a database's (where it
// names a role); the value of each query parameter whose name says it holds
// a secret (password, sslpassword, token, api_key, ...); and the fragment. A
// URL that does not parse is replaced whole by Unparsable.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Unparsable
	}
	if u.User != nil {
		user := u.User.Username()
		if !slices.Contains(databaseSchemes, strings.ToLower(u.Scheme)) {
			user = Mask
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			u.User = url.UserPassword(user, Mask)
		} else {
			u.User = url.User(user)
		}
	}
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		for i, pair := range pairs {
			name, _, hasValue := strings.Cut(pair, "=")
			if hasValue && isSecretParam(name) {
				pairs[i] = name + "=" + Mask
			}
		}
		u.RawQuery = strings.Join(pairs, "&")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Mask, ""
	}
	return u.String()
}

// Error returns err with every credential of the URL raw masked in its
// message, wherever the message quotes them (as net/http and url.Parse do,
// and libraries that wrap their errors); errors.Is and errors.As still see
// err. nil stays nil.
func Error(err error, raw string) error {
	if err == nil {
		return nil
	}
	return &redacted{err: err, msg: text(err.Error(), raw)}
}

type redacted struct {
	err error
	msg string
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// text masks, in s, the URL raw whole and each credential it carries, in
// both its escaped and unescaped forms.
func text(s, raw string) string {
	if raw == "" {
		return s
	}
	// Quoted first: url.Error quotes the URL with %q, which escapes what
	// an unparsable URL may hold.
	s = strings.ReplaceAll(s, strconv.Quote(raw), strconv.Quote(URL(raw)))
	s = strings.ReplaceAll(s, raw, URL(raw))
	for _, c := range credentials(raw) {
		s = strings.ReplaceAll(s, c, Mask)
	}
	return s
}

// minCredential is the shortest credential masked inside free text: shorter
// strings are no secret worth the name, and masking them would garble the
// message.
const minCredential = 4

// credentials lists what URL masks in raw, longest first so that a
// credential containing another is masked whole.
func credentials(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var found []string
	add := func(escaped, unescaped string) {
		for _, c := range []string{escaped, unescaped} {
			if len(c) >= minCredential && c != Mask && !slices.Contains(found, c) {
				found = append(found, c)
			}
		}
	}
	if u.User != nil {
		if password, ok := u.User.Password(); ok {
			add(url.PathEscape(password), password)
			add(url.QueryEscape(password), password)
		}
		if !slices.Contains(databaseSchemes, strings.ToLower(u.Scheme)) {
			add(url.PathEscape(u.User.Username()), u.User.Username())
		}
	}
	for _, pair := range strings.Split(u.RawQuery, "&") {
		name, value, hasValue := strings.Cut(pair, "=")
		if hasValue && isSecretParam(name) {
			unescaped, err := url.QueryUnescape(value)
			if err != nil {
				unescaped = value
			}
			add(value, unescaped)
		}
	}
	if u.Fragment != "" {
		add(u.EscapedFragment(), u.Fragment)
	}
	slices.SortFunc(found, func(a, b string) int { return len(b) - len(a) })
	return found
}

// isSecretParam reports whether a query parameter's (escaped) name says its
// value is a credential.
func isSecretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	return slices.ContainsFunc(secretParams, func(s string) bool { return strings.Contains(name, s) })
}
