// Package oidc signs admins in to the web console through an OpenID Connect
// provider (Google, Keycloak, Dex, Okta, Auth0, Supabase...): the
// authorization-code flow with PKCE, a state and a nonce, and ID tokens
// verified against the provider's discovered issuer, the client id as
// audience, their expiry and the provider's JWKS. Whether the person is an
// admin is decided by the same claim rule as JWT bearer tokens
// (auth.ClaimRule).
//
// It knows nothing of HTTP routes or cookies: package server keeps the
// login's state in a session.Flow and asks this package for the provider's
// URL and, on the callback, for the identity.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	coreos "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/redact"
	"github.com/callbackd/callbackd/internal/session"
)

// DefaultScopes are asked for when Config.Scopes is empty: the ID token's
// subject, and a name to show.
var DefaultScopes = []string{coreos.ScopeOpenID, "profile", "email"}

// httpTimeout bounds one request to the provider (discovery, keys, token).
const httpTimeout = 10 * time.Second

// Refusals of a sign-in (docs/errors.md).
var (
	// ErrSignInFailed: the provider refused, or what it returned did not
	// verify.
	ErrSignInFailed = apierror.New(apierror.SignInFailed, "sign-in failed")
	// ErrProviderUnavailable: the provider could not be reached.
	ErrProviderUnavailable = apierror.New(apierror.Unavailable, "the identity provider cannot be reached; try again")
)

// NotAdminError is the refusal of a sign-in that verified, of a person the
// admin rule excludes. It names them, so that the console can say who is
// signed in at the provider.
type NotAdminError struct {
	// Name is the person's display name.
	Name string
	// Cause says which claim failed the rule (for logs).
	Cause error
}

// Error says who is not an admin.
func (e *NotAdminError) Error() string { return fmt.Sprintf("%s is not an admin of callbackd", e.Name) }

// Reason is sign_in_not_admin.
func (e *NotAdminError) Reason() apierror.Reason { return apierror.SignInNotAdmin }

// Unwrap returns the rule's failure.
func (e *NotAdminError) Unwrap() error { return e.Cause }

// Config configures sign-in through one provider.
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// Issuer/.well-known/openid-configuration and the ID token's iss must
	// equal it.
	Issuer string
	// ClientID and ClientSecret are the client registered at the provider.
	// The secret may be empty for a public client (PKCE alone).
	ClientID, ClientSecret string
	// RedirectURL is the callback URL registered at the provider, ending
	// in /auth/callback.
	RedirectURL string
	// Scopes are requested; empty means DefaultScopes. openid is added
	// when missing.
	Scopes []string
	// AdminClaim is the admin rule (auth.ParseClaimRule).
	AdminClaim string
	// HTTPClient talks to the provider; nil means one with a 10 s timeout.
	HTTPClient *http.Client
}

// Validate reports every problem of cfg at once, without contacting the
// provider.
func (cfg Config) Validate() error {
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	checkURL := func(name, raw string) {
		u, err := url.Parse(raw)
		switch {
		case raw == "":
			problem("%s: required", name)
		case err != nil:
			problem("%s: %w", name, redact.Error(err, raw))
		case u.Scheme != "https" && u.Scheme != "http":
			problem("%s %q: scheme must be https (or http on a loopback host)", name, redact.URL(raw))
		case u.Host == "":
			problem("%s %q: no host", name, redact.URL(raw))
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			problem("%s %q: plain http is allowed only on a loopback host: the code and tokens would cross the network in clear", name, redact.URL(raw))
		case u.User != nil:
			problem("%s %q: must not hold credentials", name, redact.URL(raw))
		}
	}
	checkURL("OIDC issuer", cfg.Issuer)
	checkURL("OIDC redirect URL", cfg.RedirectURL)
	if u, err := url.Parse(cfg.RedirectURL); err == nil && cfg.RedirectURL != "" && u.Path != CallbackPath {
		problem("OIDC redirect URL %q: its path must be %s (the route that completes the sign-in)", redact.URL(cfg.RedirectURL), CallbackPath)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		problem("OIDC client id: required")
	}
	for _, s := range cfg.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			problem("OIDC scope %q: empty or holds spaces", s)
		}
	}
	if _, err := auth.ParseClaimRule(cfg.AdminClaim); err != nil {
		problem("OIDC admin claim: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("OIDC configuration: %w", errors.Join(problems...))
	}
	return nil
}

// Paths of the sign-in routes, which package server serves.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
)

// Provider signs admins in through one OIDC provider. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	rule   auth.ClaimRule
	client *http.Client
	log    *slog.Logger
	// base is the context discovery's key set fetches with: it must
	// outlive requests, so it is the server's.
	base context.Context

	mu         sync.Mutex
	discovered *discovery // nil until discovery succeeds
}

// discovery is what the provider's metadata gave.
type discovery struct {
	oauth      oauth2.Config
	verifier   *coreos.IDTokenVerifier
	endSession string
}

// New validates cfg and returns a Provider. It runs discovery once; a
// failure is logged and discovery is tried again at the next sign-in, so
// that a provider outage does not stop the server (bearer tokens keep
// working). ctx must last as long as the Provider: the provider's keys are
// fetched with it.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rule, _ := auth.ParseClaimRule(cfg.AdminClaim) // Validate parsed it
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if !slices.Contains(cfg.Scopes, coreos.ScopeOpenID) {
		cfg.Scopes = append([]string{coreos.ScopeOpenID}, cfg.Scopes...)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: httpTimeout}
	}
	p := &Provider{cfg: cfg, rule: rule, client: client, log: log, base: ctx}
	if _, err := p.discover(); err != nil {
		log.WarnContext(ctx, "OIDC discovery failed; it is tried again at the next sign-in", "issuer", redact.URL(cfg.Issuer), "error", err)
	}
	log.InfoContext(ctx, "OIDC sign-in configured", "issuer", redact.URL(cfg.Issuer), "client_id", cfg.ClientID,
		"redirect_url", cfg.RedirectURL, "scopes", strings.Join(cfg.Scopes, " "), "admin_claim", rule.String())
	return p, nil
}

// discover returns the provider's metadata, fetching it the first time it
// is needed (and again after a failure).
func (p *Provider) discover() (*discovery, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.discovered != nil {
		return p.discovered, nil
	}
	ctx := coreos.ClientContext(p.base, p.client)
	dctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	// NewProvider fetches with dctx; the key set it makes keeps ctx, which
	// lasts as long as the server.
	prov, err := coreos.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrProviderUnavailable, redact.URL(p.cfg.Issuer), redact.Error(err, p.cfg.Issuer))
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = prov.Claims(&meta) // optional metadata: without it, logout is local only
	d := &discovery{
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.cfg.ClientSecret,
			Endpoint:     prov.Endpoint(),
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.cfg.Scopes,
		},
		// The verifier checks the signature with the provider's JWKS
		// (fetched and cached by go-oidc, refreshed for an unknown key
		// id), the issuer, the client id among the audiences, and the
		// expiry.
		verifier:   prov.VerifierContext(ctx, &coreos.Config{ClientID: p.cfg.ClientID}),
		endSession: meta.EndSession,
	}
	p.discovered = d
	return d, nil
}

// AuthCodeURL is where the browser is sent to sign in for flow: the
// provider's authorization endpoint with the flow's state, nonce and PKCE
// challenge (S256).
func (p *Provider) AuthCodeURL(flow session.Flow) (string, error) {
	d, err := p.discover()
	if err != nil {
		return "", err
	}
	return d.oauth.AuthCodeURL(flow.State, oauth2.S256ChallengeOption(flow.CodeVerifier), coreos.Nonce(flow.Nonce)), nil
}

// Identity is a person the provider vouched for.
type Identity struct {
	// Subject is the ID token's sub.
	Subject string
	// Identity is the admin: the subject's ID (auth.SubjectID), the
	// token's email, name or preferred_username (auth.DisplayName), Admin
	// true (Exchange refuses non-admins) and Source session.SourceOIDC.
	auth.Identity
}

// Exchange completes flow's sign-in with the code the provider returned:
// it redeems the code with the flow's PKCE verifier, verifies the ID token
// (signature, issuer, audience, expiry) and its nonce, and applies the
// admin rule. It fails with ErrSignInFailed, ErrProviderUnavailable or a
// *NotAdminError.
func (p *Provider) Exchange(ctx context.Context, flow session.Flow, code string) (Identity, error) {
	d, err := p.discover()
	if err != nil {
		return Identity{}, err
	}
	if code == "" {
		return Identity{}, fmt.Errorf("%w: no code", ErrSignInFailed)
	}
	ctx = coreos.ClientContext(ctx, p.client)
	tok, err := d.oauth.Exchange(ctx, code, oauth2.VerifierOption(flow.CodeVerifier))
	if err != nil {
		if _, refused := errors.AsType[*oauth2.RetrieveError](err); refused {
			return Identity{}, fmt.Errorf("%w: the provider refused the code: %w", ErrSignInFailed, err)
		}
		return Identity{}, fmt.Errorf("%w: redeem code: %w", ErrProviderUnavailable, redact.Error(err, p.cfg.Issuer))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the token response has no ID token", ErrSignInFailed)
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: ID token: %w", ErrSignInFailed, err)
	}
	if idt.Nonce != flow.Nonce {
		return Identity{}, fmt.Errorf("%w: ID token nonce does not match the login's", ErrSignInFailed)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: ID token claims: %w", ErrSignInFailed, err)
	}
	if idt.Subject == "" {
		return Identity{}, fmt.Errorf("%w: ID token has no subject", ErrSignInFailed)
	}
	name := auth.DisplayName(claims, idt.Subject)
	if err := p.rule.Check(claims); err != nil {
		return Identity{}, &NotAdminError{Name: name, Cause: err}
	}
	return Identity{
		Subject:  idt.Subject,
		Identity: auth.Identity{ID: auth.SubjectID(idt.Subject), Name: name, Admin: true, Source: session.SourceOIDC},
	}, nil
}

// EndSessionURL is the provider's end-session endpoint (RP-initiated
// logout), asking it to return to postLogout afterwards, or "" when the
// provider has none (or discovery has not succeeded): logout is then local.
func (p *Provider) EndSessionURL(postLogout string) string {
	d, err := p.discover()
	if err != nil || d.endSession == "" {
		return ""
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	if postLogout != "" {
		q.Set("post_logout_redirect_uri", postLogout)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
