package main

import (
	"context"
	"log/slog"
	"net/url"

	"github.com/callbackd/callbackd/internal/auth"
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
