package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/session"
)

var _ session.Store = (*Store)(nil)

// CreateSession inserts a browser session. See session.Store.
func (s *Store) CreateSession(ctx context.Context, ss session.Session) error {
	q := fmt.Sprintf(`INSERT INTO admin_sessions (id_hash, admin_user_id, admin_name, source, subject, created_at, last_seen_at, expires_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)`, s.placeholders(8)...)
	// The name and subject come from a credential: they follow the column
	// rule like every other stored text.
	_, err := s.db.ExecContext(ctx, q, ss.IDHash, ss.AdminID,
		callback.StorableText(ss.AdminName, callback.MaxNameBytes), ss.Source,
		callback.StorableText(ss.Subject, callback.MaxNameBytes),
		dbTime(ss.CreatedAt), dbTime(ss.LastSeenAt), dbTime(ss.ExpiresAt))
	return s.sessionError("create session", err)
}

// Session returns the session whose id hashes to idHash, or
// session.ErrNotFound. It reads the write pool: on SQLite, a session
// created a moment ago by this process must be found at once.
func (s *Store) Session(ctx context.Context, idHash string) (session.Session, error) {
	q := fmt.Sprintf(`SELECT id_hash, admin_user_id, admin_name, source, subject, created_at, last_seen_at, expires_at
FROM admin_sessions WHERE id_hash = %s`, s.placeholder(1))
	var ss session.Session
	err := s.db.QueryRowContext(ctx, q, idHash).Scan(&ss.IDHash, &ss.AdminID, &ss.AdminName, &ss.Source, &ss.Subject,
		&ss.CreatedAt, &ss.LastSeenAt, &ss.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{}, session.ErrNotFound
	}
	return ss, s.sessionError("read session", err)
}

// TouchSession records a use of the session. See session.Store.
func (s *Store) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	q := fmt.Sprintf(`UPDATE admin_sessions SET last_seen_at = %s WHERE id_hash = %s`, s.placeholder(1), s.placeholder(2))
	_, err := s.db.ExecContext(ctx, q, dbTime(at), idHash)
	return s.sessionError("touch session", err)
}

// DeleteSession removes a session. See session.Store.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM admin_sessions WHERE id_hash = `+s.placeholder(1), idHash)
	return s.sessionError("delete session", err)
}

// CreateFlow inserts an OIDC login in progress. See session.Store.
func (s *Store) CreateFlow(ctx context.Context, f session.Flow) error {
	q := fmt.Sprintf(`INSERT INTO login_flows (id_hash, state, nonce, code_verifier, created_at, expires_at)
VALUES (%s, %s, %s, %s, %s, %s)`, s.placeholders(6)...)
	_, err := s.db.ExecContext(ctx, q, f.IDHash, f.State, f.Nonce, f.CodeVerifier, dbTime(f.CreatedAt), dbTime(f.ExpiresAt))
	return s.sessionError("create login flow", err)
}

// TakeFlow deletes and returns a login in progress. DELETE ... RETURNING is
// one statement, so of two callbacks racing with the same flow exactly one
// gets it (both SQLite and PostgreSQL support it).
func (s *Store) TakeFlow(ctx context.Context, idHash string) (session.Flow, error) {
	q := `DELETE FROM login_flows WHERE id_hash = ` + s.placeholder(1) +
		` RETURNING id_hash, state, nonce, code_verifier, created_at, expires_at`
	var f session.Flow
	err := s.db.QueryRowContext(ctx, q, idHash).Scan(&f.IDHash, &f.State, &f.Nonce, &f.CodeVerifier, &f.CreatedAt, &f.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Flow{}, session.ErrNotFound
	}
	return f, s.sessionError("take login flow", err)
}

// DeleteExpired removes expired sessions and flows. See session.Store.
func (s *Store) DeleteExpired(ctx context.Context, now, idleBefore time.Time) error {
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`DELETE FROM admin_sessions WHERE expires_at <= %s OR last_seen_at <= %s`,
		s.placeholder(1), s.placeholder(2)), dbTime(now), dbTime(idleBefore)); err != nil {
		return s.sessionError("delete expired sessions", err)
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM login_flows WHERE expires_at <= `+s.placeholder(1), dbTime(now))
	return s.sessionError("delete expired login flows", err)
}

// placeholders returns the first n bind parameters, as arguments for
// fmt.Sprintf.
func (s *Store) placeholders(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = s.placeholder(i + 1)
	}
	return out
}

// sessionError wraps a failed session statement with what was being done,
// an outage classified as unavailable; nil stays nil.
func (s *Store) sessionError(doing string, err error) error {
	if err == nil {
		return nil
	}
	s.writeFailed(err)
	return fmt.Errorf("%s: %w", doing, classify(err))
}
