// Package session keeps the browser sign-ins of admins: server-side
// sessions named by an opaque random id that only the browser holds (in an
// HttpOnly cookie), and the OIDC logins in progress. The store keeps the
// SHA-256 of each id, never the id, so that reading the table (a backup, a
// replica) opens no session. Sessions live in the database so that every
// replica accepts them and they survive restarts.
//
// The package knows nothing of HTTP: the transport reads and writes the
// cookie and asks the Manager what its value opens.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/apierror"
)

// Sources of a session: how the admin signed in.
const (
	// SourceOIDC: through the OpenID Connect provider.
	SourceOIDC = "oidc"
	// SourceToken: by posting a bearer credential (a static token or a
	// JWT) once, from the login form.
	SourceToken = "token"
)

// Defaults of Config.
const (
	DefaultLifetime    = 12 * time.Hour
	DefaultIdleTimeout = time.Hour
	// FlowLifetime bounds how long a login may stay at the provider before
	// its callback: long enough to type a password and a second factor.
	FlowLifetime = 10 * time.Minute
)

// idBytes is the entropy of session and flow ids: 256 bits, so that
// guessing one is hopeless whatever the number of sessions.
const idBytes = 32

// maxTouchInterval bounds how often one session's last use is written: a
// write per request would make every admin call a database write, and the
// idle timeout needs no finer precision.
const maxTouchInterval = time.Minute

// ErrNotFound: no session (or flow) has this id, or it has expired. Stores
// return it for an unknown id; the Manager for an expired one too.
var ErrNotFound = errors.New("session not found")

// Refusals of browser sign-in, each with its reason (docs/errors.md).
var (
	// ErrCSRF: a request authenticated by the session cookie lacks the
	// session's CSRF token, or comes from another origin.
	ErrCSRF = apierror.New(apierror.CSRFRefused, "cookie-authenticated request refused: wrong origin or missing CSRF token")
	// ErrFlowUnknown: the OIDC callback names no login in progress (a
	// forged or replayed state, an expired login, or a browser that did
	// not start it).
	ErrFlowUnknown = apierror.New(apierror.SignInStateMismatch, "sign-in refused: unknown, expired or already used login state")
)

// Session is one signed-in browser. Only admins get sessions.
type Session struct {
	// IDHash is the hex SHA-256 of the session id (the cookie's value).
	IDHash string
	// AdminID and AdminName are the admin's identity, as the credential
	// that opened the session gave it.
	AdminID   uuid.UUID
	AdminName string
	// Source is SourceOIDC or SourceToken.
	Source string
	// Subject is the OIDC subject (SourceOIDC), or "" (SourceToken).
	Subject string
	// CreatedAt, LastSeenAt and ExpiresAt bound its life: it ends at
	// ExpiresAt, or after the idle timeout without use.
	CreatedAt, LastSeenAt, ExpiresAt time.Time
}

// Flow is an OIDC login in progress, between the redirect to the provider
// and its callback. It is used once: taking it deletes it.
type Flow struct {
	// IDHash is the hex SHA-256 of the flow id, which the browser holds in
	// a short-lived cookie: a callback from another browser finds nothing.
	IDHash string
	// State, Nonce and CodeVerifier are the OAuth state, the OIDC nonce and
	// the PKCE verifier of this login.
	State, Nonce, CodeVerifier string
	CreatedAt, ExpiresAt       time.Time
}

// Store keeps sessions and flows; package store implements it on SQLite
// and PostgreSQL.
type Store interface {
	// CreateSession inserts s.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with this id hash, or ErrNotFound.
	Session(ctx context.Context, idHash string) (Session, error)
	// TouchSession records a use of the session at time at.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession removes the session; an unknown one is not an error.
	DeleteSession(ctx context.Context, idHash string) error
	// CreateFlow inserts f.
	CreateFlow(ctx context.Context, f Flow) error
	// TakeFlow deletes the flow with this id hash and returns it, or
	// ErrNotFound: of two callbacks with the same flow, one gets it.
	TakeFlow(ctx context.Context, idHash string) (Flow, error)
	// DeleteExpired removes sessions and flows that expired before now and
	// sessions last used before idleBefore.
	DeleteExpired(ctx context.Context, now, idleBefore time.Time) error
}

// Config sets the lifetimes of sessions.
type Config struct {
	// Lifetime is the longest a session lives, however used; zero means
	// DefaultLifetime.
	Lifetime time.Duration
	// IdleTimeout ends a session unused for this long; zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Validate reports every problem of cfg at once.
func (cfg Config) Validate() error {
	var problems []error
	if cfg.Lifetime < 0 {
		problems = append(problems, fmt.Errorf("session lifetime %v is negative", cfg.Lifetime))
	}
	if cfg.IdleTimeout < 0 {
		problems = append(problems, fmt.Errorf("session idle timeout %v is negative", cfg.IdleTimeout))
	}
	return errors.Join(problems...)
}

// Manager opens, checks and ends sessions and login flows. It is safe for
// concurrent use.
type Manager struct {
	store Store
	cfg   Config
	now   func() time.Time
}

// NewManager validates cfg and returns a Manager over store; now is the
// clock (nil: time.Now).
func NewManager(store Store, cfg Config, now func() time.Time) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if now == nil {
		now = time.Now
	}
	return &Manager{store: store, cfg: cfg, now: now}, nil
}

// Lifetime is the configured longest life of a session, for the cookie's
// Max-Age.
func (m *Manager) Lifetime() time.Duration { return m.cfg.Lifetime }

// Identity is who a new session is for.
type Identity struct {
	AdminID   uuid.UUID
	AdminName string
	Source    string
	Subject   string
}

// Create opens a session for id and returns the cookie value that names it
// (the only copy of the id) with the session. It also removes expired
// sessions and flows, so that the tables stay bounded without a janitor.
func (m *Manager) Create(ctx context.Context, id Identity) (cookie string, _ Session, _ error) {
	now := m.now()
	m.prune(ctx, now)
	cookie = newID()
	s := Session{
		IDHash:    Hash(cookie),
		AdminID:   id.AdminID,
		AdminName: id.AdminName,
		Source:    id.Source,
		Subject:   id.Subject,
		CreatedAt: now,
		// A session never outlives its lifetime; the idle timeout ends it
		// sooner when unused.
		LastSeenAt: now,
		ExpiresAt:  now.Add(m.cfg.Lifetime),
	}
	if err := m.store.CreateSession(ctx, s); err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	return cookie, s, nil
}

// Lookup returns the live session that cookie names, or ErrNotFound (no
// such session, expired, or idle too long). A use is recorded at most once
// per touch interval.
func (m *Manager) Lookup(ctx context.Context, cookie string) (Session, error) {
	if !wellFormed(cookie) {
		return Session{}, ErrNotFound
	}
	s, err := m.store.Session(ctx, Hash(cookie))
	if err != nil {
		return Session{}, err
	}
	now := m.now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(m.cfg.IdleTimeout)) {
		return Session{}, ErrNotFound
	}
	if now.Sub(s.LastSeenAt) >= m.touchInterval() {
		if err := m.store.TouchSession(ctx, s.IDHash, now); err != nil {
			return Session{}, fmt.Errorf("record session use: %w", err)
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// touchInterval is how stale a session's last use may be before it is
// written again: a tenth of the idle timeout, at most maxTouchInterval.
func (m *Manager) touchInterval() time.Duration {
	return min(m.cfg.IdleTimeout/10, maxTouchInterval)
}

// End deletes the session that cookie names, if any.
func (m *Manager) End(ctx context.Context, cookie string) error {
	if !wellFormed(cookie) {
		return nil
	}
	return m.store.DeleteSession(ctx, Hash(cookie))
}

// BeginFlow records a new login and returns the flow cookie's value, with
// the flow (its state, nonce and PKCE verifier freshly drawn).
func (m *Manager) BeginFlow(ctx context.Context) (cookie string, _ Flow, _ error) {
	now := m.now()
	cookie = newID()
	f := Flow{
		IDHash: Hash(cookie),
		State:  newID(),
		Nonce:  newID(),
		// A PKCE verifier (RFC 7636) is 43 to 128 unreserved characters:
		// base64url of 32 random bytes is 43.
		CodeVerifier: newID(),
		CreatedAt:    now,
		ExpiresAt:    now.Add(FlowLifetime),
	}
	if err := m.store.CreateFlow(ctx, f); err != nil {
		return "", Flow{}, fmt.Errorf("begin login: %w", err)
	}
	return cookie, f, nil
}

// TakeFlow ends the login that the flow cookie names and returns it when
// state is its state: otherwise, or when it is unknown, already taken or
// expired, it fails with ErrFlowUnknown. The flow is deleted either way, so
// that a state or code is never accepted twice.
func (m *Manager) TakeFlow(ctx context.Context, cookie, state string) (Flow, error) {
	if !wellFormed(cookie) {
		return Flow{}, fmt.Errorf("%w: no login cookie", ErrFlowUnknown)
	}
	f, err := m.store.TakeFlow(ctx, Hash(cookie))
	if errors.Is(err, ErrNotFound) {
		return Flow{}, fmt.Errorf("%w: no such login", ErrFlowUnknown)
	}
	if err != nil {
		return Flow{}, fmt.Errorf("take login: %w", err)
	}
	if !m.now().Before(f.ExpiresAt) {
		return Flow{}, fmt.Errorf("%w: login expired", ErrFlowUnknown)
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return Flow{}, fmt.Errorf("%w: state does not match", ErrFlowUnknown)
	}
	return f, nil
}

// prune deletes what has expired. A failure only delays the cleanup.
func (m *Manager) prune(ctx context.Context, now time.Time) {
	_ = m.store.DeleteExpired(ctx, now, now.Add(-m.cfg.IdleTimeout))
}

// CSRFToken is the CSRF token of the session that cookie names: derived
// from the session id, so that only a page that was told it (by the
// same-origin session endpoint) can send it, and nothing need be stored.
// It is a different hash from Hash's, so the stored hash does not give it.
func CSRFToken(cookie string) string {
	sum := sha256.Sum256([]byte("callbackd csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CheckCSRF reports whether token is the CSRF token of cookie's session,
// in constant time.
func CheckCSRF(cookie, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(CSRFToken(cookie)), []byte(token)) == 1
}

// Hash is the stored name of a session or flow id: its hex SHA-256.
func Hash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// newID returns idBytes random bytes, base64url without padding.
func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// wellFormed reports whether s could be an id that newID made: a value
// from a cookie is checked before it reaches the store.
func wellFormed(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == idBytes
}
