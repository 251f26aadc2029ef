package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/oidc"
	"github.com/callbackd/callbackd/internal/session"
)

// Routes of browser sign-in besides oidc.LoginPath and oidc.CallbackPath.
const (
	// sessionPath: GET tells the console who is signed in (and its CSRF
	// token); POST exchanges a bearer credential (the token form) for a
	// session cookie.
	sessionPath = "/auth/session"
	// logoutPath: POST ends the session.
	logoutPath = "/auth/logout"
)

// CSRFHeader carries the session's CSRF token on every request that a
// session cookie authenticates.
const CSRFHeader = "X-CSRF-Token"

// Cookie names. With TLS they take the __Host- prefix, which browsers
// accept only from a secure origin, with Path=/ and no Domain: no other
// host (a sibling subdomain) and no plain-HTTP page can set or shadow them.
const (
	sessionCookie = "callbackd-session"
	flowCookie    = "callbackd-login"
	hostPrefix    = "__Host-"
)

// signIn serves the browser's sign-in routes and authenticates requests by
// their session cookie. Sessions are server-side (session.Manager, in the
// database); the cookie holds only a random id.
//
// CSRF: a request that a cookie authenticates must come from the console's
// own origin (its Origin, and Sec-Fetch-Site, when the browser sends them)
// and carry the session's CSRF token in X-CSRF-Token. The token is given
// only by GET /auth/session, which other origins cannot read; a custom
// header also makes any cross-origin fetch need a CORS preflight, which
// this server never grants. The session cookie is SameSite=Strict, so
// other sites' requests do not even carry it.
type signIn struct {
	sessions *session.Manager
	oidc     *oidc.Provider // nil: OIDC sign-in is off
	gate     *authGate
	log      *slog.Logger
	// providerName names the provider on the sign-in button.
	providerName string
	// tokenForm offers the token form (always when OIDC is off).
	tokenForm bool
	// secure: the console is served over TLS (here, or at a proxy that
	// PublicURL names), so cookies are Secure and __Host- prefixed.
	secure bool
	// origin is the console's origin from PublicURL, or "" to take the
	// request's own (its Host, over TLS or not).
	origin string
}

// cookieName is name with the __Host- prefix when cookies are secure.
func (si *signIn) cookieName(name string) string {
	if si.secure {
		return hostPrefix + name
	}
	return name
}

// setCookie sets (or, with value "", clears) one of our cookies. Every
// one is HttpOnly: no script, ours included, ever reads a session id.
func (si *signIn) setCookie(w http.ResponseWriter, name, value string, maxAge int, sameSite http.SameSite) {
	c := &http.Cookie{
		Name:     si.cookieName(name),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   si.secure,
		SameSite: sameSite,
		MaxAge:   maxAge,
	}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// cookie returns the value of one of our cookies, or "".
func (si *signIn) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(si.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// expectedOrigin is the console's origin for r.
func (si *signIn) expectedOrigin(r *http.Request) string {
	if si.origin != "" {
		return si.origin
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// sameOrigin reports whether r, as far as the browser tells, was sent by a
// page of the console's own origin. Browsers send Origin on every POST and
// cross-origin request, and Sec-Fetch-Site on every request (Chromium,
// Firefox, Safari); a client that sends neither is not a browser, and must
// still present the CSRF token to use a cookie.
func (si *signIn) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != si.expectedOrigin(r) {
		return false
	}
	return true
}

// fromCookie authenticates r by its session cookie, for an admin RPC: the
// request must be same-origin and carry the CSRF token. ok is false when r
// has no session cookie at all (another credential may then be checked).
func (si *signIn) fromCookie(r *http.Request) (_ auth.Identity, ok bool, _ error) {
	value := si.cookie(r, sessionCookie)
	if value == "" {
		return auth.Identity{}, false, nil
	}
	if !si.sameOrigin(r) || !session.CheckCSRF(value, r.Header.Get(CSRFHeader)) {
		return auth.Identity{}, true, session.ErrCSRF
	}
	s, err := si.sessions.Lookup(r.Context(), value)
	if errors.Is(err, session.ErrNotFound) {
		return auth.Identity{}, true, &auth.Error{Kind: auth.ErrUnauthenticated, Detail: auth.DetailUnknownSession, Cause: err}
	}
	if err != nil {
		return auth.Identity{}, true, err
	}
	return auth.Identity{ID: s.AdminID, Name: s.AdminName, Admin: true, Source: s.Source}, true, nil
}

// routes registers the sign-in routes on mux.
func (si *signIn) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+sessionPath, si.state)
	mux.HandleFunc("POST "+sessionPath, si.tokenLogin)
	mux.HandleFunc("POST "+logoutPath, si.logout)
	mux.HandleFunc("GET "+oidc.LoginPath, si.login)
	mux.HandleFunc("GET "+oidc.CallbackPath, si.callback)
}

// sessionState is the answer of GET and POST /auth/session.
type sessionState struct {
	// Admin is who is signed in, or null.
	Admin *sessionAdmin `json:"admin"`
	// CSRFToken goes in X-CSRF-Token on every request of this session.
	CSRFToken string `json:"csrf_token,omitempty"`
	// SessionEnded: the browser's cookie names a session that has ended
	// (expired, idle, or logged out elsewhere).
	SessionEnded bool `json:"session_ended,omitempty"`
	// OIDCProvider names the provider of "Sign in with ...", or "" when
	// OIDC sign-in is off.
	OIDCProvider string `json:"oidc_provider"`
	// TokenLogin: the console offers the token form.
	TokenLogin bool `json:"token_login"`
}

type sessionAdmin struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Source string `json:"source"`
}

func (si *signIn) baseState() sessionState {
	st := sessionState{TokenLogin: si.tokenForm || si.oidc == nil}
	if si.oidc != nil {
		st.OIDCProvider = si.providerName
	}
	return st
}

// state answers who is signed in. It is the only route that tells a page
// its CSRF token; other origins cannot read the answer (no CORS).
func (si *signIn) state(w http.ResponseWriter, r *http.Request) {
	st := si.baseState()
	if value := si.cookie(r, sessionCookie); value != "" {
		s, err := si.sessions.Lookup(r.Context(), value)
		switch {
		case errors.Is(err, session.ErrNotFound):
			st.SessionEnded = true
			si.setCookie(w, sessionCookie, "", 0, http.SameSiteStrictMode)
		case err != nil:
			writeError(w, err)
			return
		default:
			st.Admin = &sessionAdmin{ID: s.AdminID.String(), Name: s.AdminName, Source: s.Source}
			st.CSRFToken = session.CSRFToken(value)
		}
	}
	writeJSON(w, st)
}

// tokenLogin exchanges the bearer credential of the token form for a
// session cookie, so that every tab of the browser is signed in. The
// credential is checked as on any admin request (failures throttled); a
// custom Authorization header cannot be sent cross-origin without a
// preflight, and the origin is checked too, so no other site can sign a
// browser in to its own account (login CSRF).
func (si *signIn) tokenLogin(w http.ResponseWriter, r *http.Request) {
	if !si.sameOrigin(r) {
		writeError(w, session.ErrCSRF)
		return
	}
	id, err := si.gate.check(r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	value, _, err := si.sessions.Create(r.Context(), session.Identity{AdminID: id.ID, AdminName: id.Name, Source: session.SourceToken})
	if err != nil {
		writeError(w, err)
		return
	}
	si.setCookie(w, sessionCookie, value, 0, http.SameSiteStrictMode)
	st := si.baseState()
	st.Admin = &sessionAdmin{ID: id.ID.String(), Name: id.Name, Source: session.SourceToken}
	st.CSRFToken = session.CSRFToken(value)
	writeJSON(w, st)
}

// logout ends the browser's session and clears its cookie. For an OIDC
// session it also answers the provider's end-session URL, which the
// console then opens, so that the provider's own session ends too.
func (si *signIn) logout(w http.ResponseWriter, r *http.Request) {
	value := si.cookie(r, sessionCookie)
	var out struct {
		EndSessionURL string `json:"end_session_url,omitempty"`
	}
	if value != "" {
		if !si.sameOrigin(r) || !session.CheckCSRF(value, r.Header.Get(CSRFHeader)) {
			writeError(w, session.ErrCSRF)
			return
		}
		s, err := si.sessions.Lookup(r.Context(), value)
		if err == nil && s.Source == session.SourceOIDC && si.oidc != nil {
			out.EndSessionURL = si.oidc.EndSessionURL(si.expectedOrigin(r) + "/")
		}
		if err := si.sessions.End(r.Context(), value); err != nil {
			writeError(w, err)
			return
		}
	}
	si.setCookie(w, sessionCookie, "", 0, http.SameSiteStrictMode)
	writeJSON(w, out)
}

// login starts an OIDC sign-in: it records the flow (state, nonce, PKCE
// verifier) and sends the browser to the provider. The flow cookie is
// SameSite=Lax because the provider's redirect back is a cross-site
// navigation, which carries Lax cookies and not Strict ones.
func (si *signIn) login(w http.ResponseWriter, r *http.Request) {
	if si.oidc == nil {
		writeRouteError(w, http.StatusNotFound)
		return
	}
	value, flow, err := si.sessions.BeginFlow(r.Context())
	if err != nil {
		si.refuseSignIn(w, r, err)
		return
	}
	target, err := si.oidc.AuthCodeURL(flow)
	if err != nil {
		si.refuseSignIn(w, r, err)
		return
	}
	si.setCookie(w, flowCookie, value, int(session.FlowLifetime.Seconds()), http.SameSiteLaxMode)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// callback completes an OIDC sign-in: the flow named by this browser's
// flow cookie, with the same state, is taken (once: a replayed or forged
// state finds nothing), its code redeemed and its ID token verified; an
// admin gets a session cookie and the console.
func (si *signIn) callback(w http.ResponseWriter, r *http.Request) {
	if si.oidc == nil {
		writeRouteError(w, http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	value := si.cookie(r, flowCookie)
	si.setCookie(w, flowCookie, "", 0, http.SameSiteLaxMode)
	q := r.URL.Query()
	flow, err := si.sessions.TakeFlow(r.Context(), value, q.Get("state"))
	if err != nil {
		si.refuseSignIn(w, r, err)
		return
	}
	if e := q.Get("error"); e != "" {
		// The provider's words, bounded: they reach a log line.
		si.refuseSignIn(w, r, errors.Join(oidc.ErrSignInFailed,
			errors.New("provider answered "+callback.StorableText(e+": "+q.Get("error_description"), 256))))
		return
	}
	id, err := si.oidc.Exchange(r.Context(), flow, q.Get("code"))
	if err != nil {
		si.refuseSignIn(w, r, err)
		return
	}
	sid, _, err := si.sessions.Create(r.Context(), session.Identity{AdminID: id.ID, AdminName: id.Name, Source: session.SourceOIDC, Subject: id.Subject})
	if err != nil {
		si.refuseSignIn(w, r, err)
		return
	}
	si.log.InfoContext(r.Context(), "admin signed in", "source", session.SourceOIDC, "admin", id.Name, "subject", id.Subject, "request_id", requestIDFrom(r.Context()))
	si.setCookie(w, sessionCookie, sid, 0, http.SameSiteStrictMode)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// refuseSignIn answers a failed sign-in. A browser navigation goes back to
// the console with the reason (and, for someone who is not an admin, the
// name the provider gave), which the sign-in page explains; other callers
// get the reason's status and JSON body.
func (si *signIn) refuseSignIn(w http.ResponseWriter, r *http.Request, err error) {
	reason := apierror.Of(err)
	si.log.WarnContext(r.Context(), "sign-in refused", "reason", reason, "error", err, "request_id", requestIDFrom(r.Context()))
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeError(w, err)
		return
	}
	q := url.Values{"signin": {string(reason)}}
	if na, ok := errors.AsType[*oidc.NotAdminError](err); ok {
		q.Set("name", callback.StorableText(na.Name, callback.MaxNameBytes))
	}
	http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
}

// writeJSON answers 200 with v, never cached: it says who is signed in.
func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
