package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/callbackd/callbackd/auth"
)

// authenticator builds the admin authenticator from the flags. With no admin
// credential configured at all, it uses a token generated once and kept in
// dataDir (0600), and returns it so that a login URL can be printed.
func (c *ServeFlags) authenticator(ctx context.Context, log *slog.Logger, dataDir string) (_ *auth.Authenticator, generated string, _ error) {
	var problems []error
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
	if err := errors.Join(problems...); err != nil {
		return nil, "", fmt.Errorf("invalid configuration:\n%w", err)
	}
	if len(c.AdminToken) == 0 && c.AdminTokenFile == "" && c.JWTHS256Secret == "" && c.JWKSURL == "" {
		tok, created, err := auth.EnsureGeneratedToken(dataDir)
		if err != nil {
			return nil, "", err
		}
		if created {
			log.Info("generated an admin token", "dir", dataDir)
		}
		tokens, generated = append(tokens, tok), tok.Secret
	}
	a, err := auth.New(ctx, auth.Config{
		Tokens:         tokens,
		JWTHS256Secret: c.JWTHS256Secret,
		JWKSURL:        c.JWKSURL,
		Issuer:         c.JWTIssuer,
		Audience:       c.JWTAudience,
		AdminClaim:     c.JWTAdminClaim,
	}, log)
	if err != nil {
		return nil, "", fmt.Errorf("invalid configuration:\n%w", err)
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
