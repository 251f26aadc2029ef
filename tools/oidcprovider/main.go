// Command oidcprovider is a real OpenID Provider for callbackd's sign-in
// tests: the example provider of github.com/zitadel/oidc (its op package,
// storage and login page), run on loopback with two static users and one
// web client whose redirect URLs the test gives. It is its own module so
// that callbackd's binary never links it.
//
// Users (password "password" for both):
//   - ada: name "Ada Admin", groups ["staff", "callbackd-admins"];
//   - bob: name "Bob Builder", groups ["staff"].
//
// The ID token carries the profile, email and groups claims (like Dex and
// Keycloak with a groups mapper). Once listening, it prints
// "issuer=<URL>" on standard output.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	clientID := flag.String("client-id", "callbackd", "the web client's id")
	secret := flag.String("client-secret", "callbackd-secret", "the web client's secret")
	var redirects, postLogout list
	flag.Var(&redirects, "redirect", "a redirect URL of the client (repeatable)")
	flag.Var(&postLogout, "post-logout", "a post-logout redirect URL of the client (repeatable)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "error", err)
		os.Exit(1)
	}
	issuer := fmt.Sprintf("http://%s/", ln.Addr())

	storage.RegisterClients(storage.WebClient(*clientID, *secret, redirects...))
	users := users{
		"ada": {User: storage.User{ID: "ada", Username: "ada", Password: "password", FirstName: "Ada", LastName: "Admin",
			Email: "ada@example.com", EmailVerified: true, PreferredLanguage: language.English}, groups: []string{"staff", "callbackd-admins"}},
		"bob": {User: storage.User{ID: "bob", Username: "bob", Password: "password", FirstName: "Bob", LastName: "Builder",
			Email: "bob@example.com", EmailVerified: true, PreferredLanguage: language.English}, groups: []string{"staff"}},
	}
	st := &provider{Storage: storage.NewStorage(users), users: users, postLogout: postLogout}
	router := exampleop.SetupServer(issuer, st, log, false)

	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("issuer=%s\n", issuer)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}

// user is a static user with its groups.
type user struct {
	storage.User
	groups []string
}

// users is the static user store.
type users map[string]*user

func (u users) GetUserByID(id string) *storage.User {
	if x, ok := u[id]; ok {
		return &x.User
	}
	return nil
}

func (u users) GetUserByUsername(name string) *storage.User { return u.GetUserByID(name) }

func (u users) ExampleClientID() string { return storage.ServiceUserID }

// provider is the example's in-memory storage, with the ID token carrying
// the user's profile, email and groups, and the client's post-logout
// redirect URLs.
type provider struct {
	*storage.Storage
	users      users
	postLogout []string
}

// SetUserinfoFromRequest fills the ID token's claims from every requested
// scope (the example keeps profile and email for the userinfo endpoint
// only), and adds groups.
func (p *provider) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, token op.IDTokenRequest, _ []string) error {
	scopes := token.GetScopes()
	if err := p.Storage.SetUserinfoFromRequest(ctx, ui, token, scopes); err != nil {
		return err
	}
	if u, ok := p.users[token.GetSubject()]; ok && slices.Contains(scopes, "groups") {
		ui.AppendClaims("groups", u.groups)
	}
	return nil
}

// GetClientByClientID returns the client with its post-logout redirect URLs.
func (p *provider) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := p.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return client{Client: c, postLogout: p.postLogout}, nil
}

// client adds post-logout redirect URLs to the example's client.
type client struct {
	op.Client
	postLogout []string
}

func (c client) PostLogoutRedirectURIs() []string { return c.postLogout }

// IsScopeAllowed allows the groups scope, which the provider would
// otherwise drop as unknown.
func (c client) IsScopeAllowed(scope string) bool {
	return scope == "groups" || c.Client.IsScopeAllowed(scope)
}
