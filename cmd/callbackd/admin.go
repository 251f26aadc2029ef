package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/oidc"
	"github.com/callbackd/callbackd/internal/session"
	"github.com/callbackd/callbackd/server"
)

// adminAuth reads the admin credentials of the flags, the token file
// included, and checks them with the JWT settings, returning every problem.
// With no admin credential configured, generate is true: open then adds a
// token generated once and kept in the data directory.
func (c *ServeFlags) adminAuth() (cfg auth.Config, generate bool, problems []error) {
	tokens, err := auth.ParseTokens(c.AdminToken)
	if err != nil {
		problems = append(problems, err)
	}
	if c.AdminTokenFile != "" {
		fromFile, err := auth.LoadTokenFile(c.AdminTokenFile)
		if err != nil {
			problems = append(problems, err)
		}
		tokens = append(tokens, fromFile...)
	}
	cfg = auth.Config{
		Tokens:         tokens,
		JWTHS256Secret: c.JWTHS256Secret,
		JWKSURL:        c.JWKSURL,
		Issuer:         c.JWTIssuer,
		Audience:       c.JWTAudience,
		AdminClaim:     c.JWTAdminClaim,
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err)
	}
	generate = len(c.AdminToken) == 0 && c.AdminTokenFile == "" && c.JWTHS256Secret == "" && c.JWKSURL == ""
	return cfg, generate, problems
}

// authenticator builds the admin authenticator, generating the admin token
// first when none is configured; it returns that token so that a login URL
// can be printed.
func (cfg *completedConfig) authenticator(ctx context.Context, log *slog.Logger) (_ *auth.Authenticator, generated string, _ error) {
	ac := cfg.auth
	if cfg.generateToken {
		tok, created, err := auth.EnsureGeneratedToken(cfg.db.DataDir)
		if err != nil {
			return nil, "", err
		}
		if created {
			log.Info("generated an admin token", "dir", cfg.db.DataDir)
		}
		ac.Tokens, generated = append(ac.Tokens, tok), tok.Secret
	}
	a, err := auth.New(ctx, ac, log)
	if err != nil {
		return nil, "", err
	}
	return a, generated, nil
}

// loginURL is the UI address with the token in the fragment: browsers do not
// send fragments to servers, so the token stays out of access logs.
func loginURL(addr string, tls bool, token string) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + addr + "/#token=" + url.QueryEscape(token)
}

// signIn is the browser sign-in configuration of the flags: the sessions'
// lifetimes and, when --oidc-issuer is set, the OIDC provider's settings
// (the client secret read from its file).
type signIn struct {
	sessions session.Config
	oidc     *oidc.Config // nil: OIDC sign-in is off
}

// signIn checks the browser sign-in flags, returning every problem.
func (c *ServeFlags) signIn() (si signIn, problems []error) {
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if c.SessionLifetime <= 0 {
		problem("--session-lifetime %s: must be positive", c.SessionLifetime)
	}
	if c.SessionIdleTimeout <= 0 {
		problem("--session-idle-timeout %s: must be positive", c.SessionIdleTimeout)
	}
	si.sessions = session.Config{Lifetime: c.SessionLifetime, IdleTimeout: c.SessionIdleTimeout}
	if _, _, err := server.ParsePublicURL(c.PublicURL); err != nil {
		problem("--public-url: %w", err)
	}
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCClientSecret != "" || c.OIDCClientSecretFile != "" || c.OIDCRedirectURL != "" || c.OIDCAdminClaim != "" {
			problem("--oidc-client-id, --oidc-client-secret(-file), --oidc-redirect-url, --oidc-admin-claim: set --oidc-issuer too, or none of them")
		}
		return si, problems
	}
	secret := c.OIDCClientSecret
	switch {
	case c.OIDCClientSecret != "" && c.OIDCClientSecretFile != "":
		problem("--oidc-client-secret, --oidc-client-secret-file: give one, not both")
	case c.OIDCClientSecretFile != "":
		b, err := os.ReadFile(c.OIDCClientSecretFile)
		if err != nil {
			problem("--oidc-client-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	redirect := c.OIDCRedirectURL
	if redirect == "" {
		if c.PublicURL == "" {
			problem("--oidc-redirect-url: required without --public-url (it is PUBLIC_URL/auth/callback by default)")
		} else {
			redirect = strings.TrimSuffix(c.PublicURL, "/") + oidc.CallbackPath
		}
	}
	cfg := &oidc.Config{
		Issuer:       c.OIDCIssuer,
		ClientID:     c.OIDCClientID,
		ClientSecret: secret,
		RedirectURL:  redirect,
		Scopes:       c.OIDCScopes,
		AdminClaim:   cmp.Or(c.OIDCAdminClaim, c.JWTAdminClaim, auth.DefaultAdminClaim),
	}
	if redirect != "" {
		if err := cfg.Validate(); err != nil {
			problems = append(problems, err)
		}
	}
	si.oidc = cfg
	return si, problems
}
