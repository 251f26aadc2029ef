package main

import (
	"time"

	"github.com/alecthomas/kong"
)

// CLI is callbackd's command line. Every flag has an environment variable so
// that containers and systemd units configure it without arguments.
type CLI struct {
	Version kong.VersionFlag `help:"Print the version, commit and Go version, and exit."`

	LogFormat string `help:"Log format: text or json." enum:"text,json" default:"text" env:"CALLBACKD_LOG_FORMAT"`
	LogLevel  string `help:"Log level: debug, info, warn or error." enum:"debug,info,warn,error" default:"info" env:"CALLBACKD_LOG_LEVEL"`

	DatabaseFlags
	ServeFlags

	Serve       ServeCmd       `cmd:"" default:"withargs" help:"Run the server (the default command; its flags are the global flags above)."`
	Migrate     MigrateCmd     `cmd:"" help:"Apply, revert or list database schema migrations."`
	Healthcheck HealthcheckCmd `cmd:"" help:"Exit 0 if the callbackd of these flags answers /readyz with 200 (a container HEALTHCHECK)."`
}

// DatabaseFlags choose the database; shared by serve and migrate.
type DatabaseFlags struct {
	DatabaseURL string `help:"PostgreSQL URL (postgres://user@host:5432/db?sslmode=disable). Empty: an embedded SQLite file in --data-dir." env:"DATABASE_URL"`
	DataDir     string `help:"Directory for the SQLite database and generated credentials." default:"./data" env:"CALLBACKD_DATA_DIR"`
}

// ServeCmd runs the server with the global flags.
type ServeCmd struct{}

// ServeFlags configure the server. They are global so that `callbackd
// --help` lists them all; migrate ignores them.
type ServeFlags struct {
	Addr            string        `help:"Address to listen on (gRPC, Connect, gRPC-Web, REST, health and metrics share it)." default:"127.0.0.1:8080" env:"CALLBACKD_ADDR"`
	TLSCert         string        `name:"tls-cert" help:"TLS certificate file (PEM). With --tls-key, serves HTTPS and HTTP/2 over TLS." env:"CALLBACKD_TLS_CERT" type:"path"`
	TLSKey          string        `name:"tls-key" help:"TLS private key file (PEM)." env:"CALLBACKD_TLS_KEY" type:"path"`
	TrustedProxy    []string      `help:"CIDR of a load balancer whose X-Forwarded-For is trusted to name the client (repeatable)." env:"CALLBACKD_TRUSTED_PROXIES" sep:","`
	ShutdownTimeout time.Duration `help:"How long SIGTERM waits for in-flight requests before closing connections." default:"15s" env:"CALLBACKD_SHUTDOWN_TIMEOUT"`
	NoMigrate       bool          `help:"Do not apply pending migrations at start; fail if the schema is not current." env:"CALLBACKD_NO_MIGRATE"`
	GCHeapFloor     int64         `name:"gc-heap-floor" help:"Smallest heap, in bytes, at which the garbage collector runs: a small live heap is then not collected every few milliseconds under load (0: Go's default; ignored when GOGC is set)." default:"16777216" env:"CALLBACKD_GC_HEAP_FLOOR"`

	WebhookFlags
	AdminFlags
	WatchFlags
	RetentionFlags
	AlertsFlags
	ReplayFlags
	BenchFlags
}

// ReplayFlags bound ReplayCallback, the console's "Replay to…" (README,
// "Replay to a URL").
type ReplayFlags struct {
	NoReplay      bool          `name:"no-replay" help:"Turn ReplayCallback (the console's \"Replay to…\") off: every replay is refused with replay_disabled." env:"CALLBACKD_NO_REPLAY"`
	ReplayAllow   []string      `name:"replay-allow" help:"CIDR ranges that replays may reach although they are not public (loopback, private, link-local, ...), e.g. 127.0.0.0/8 for a receiver on this host; repeat or separate with commas. Default: none, public addresses only." env:"CALLBACKD_REPLAY_ALLOW" sep:","`
	ReplayTimeout time.Duration `help:"Longest one replay may take, from dialling to the start of the answer's body." default:"10s" env:"CALLBACKD_REPLAY_TIMEOUT"`
}

// AlertsFlags configure alerting (README, "Alerts").
type AlertsFlags struct {
	// Alert messages link to --public-url (SessionFlags), or to
	// http(s)://--addr without it.
	AlertsConfig string `name:"alerts-config" help:"Alert rules and channels (YAML, see README \"Alerts\"); checked at start. Empty: no alerts." env:"CALLBACKD_ALERTS_CONFIG" type:"path"`
}

// MigrateCmd manages the schema.
type MigrateCmd struct {
	Up     MigrateUpCmd     `cmd:"" help:"Apply all pending migrations."`
	Down   MigrateDownCmd   `cmd:"" help:"Revert the most recent migration."`
	Status MigrateStatusCmd `cmd:"" help:"List migrations and whether each is applied."`
}

// MigrateUpCmd applies pending migrations.
type MigrateUpCmd struct{}

// MigrateDownCmd reverts one migration.
type MigrateDownCmd struct{}

// MigrateStatusCmd lists migrations.
type MigrateStatusCmd struct{}

// WebhookFlags configure signature verification and delivery limits.
type WebhookFlags struct {
	WebhookSecret          []string      `name:"webhook-secret" help:"Secret(s) of the LLM service's X-Webhook-Signature scheme, NAME=SECRET or SECRET; repeat the flag or separate with commas. Any match verifies. Default: the LLM service's public development secret (with a warning)." env:"LLM_WEBHOOK_SECRET" sep:","`
	StandardWebhooksSecret []string      `name:"standard-webhooks-secret" help:"Enable Standard Webhooks (webhook-id/-timestamp/-signature) with these whsec_ secrets." env:"CALLBACKD_STANDARD_WEBHOOKS_SECRET" sep:","`
	GitHubSecret           []string      `name:"github-secret" help:"Enable GitHub's X-Hub-Signature-256 with these secrets." env:"CALLBACKD_GITHUB_SECRET" sep:","`
	StripeSecret           []string      `name:"stripe-secret" help:"Enable Stripe's Stripe-Signature with these secrets." env:"CALLBACKD_STRIPE_SECRET" sep:","`
	SignatureTolerance     time.Duration `help:"Accepted clock difference for timestamped schemes, in both directions." default:"5m" env:"CALLBACKD_SIGNATURE_TOLERANCE"`
	AllowUnsigned          bool          `help:"DANGEROUS, local experiments only: store deliveries that carry no signature at all (marked unverified)." env:"CALLBACKD_ALLOW_UNSIGNED"`
	MaxBodyBytes           int64         `help:"Largest accepted webhook body in bytes; larger ones get 413." default:"1048576" env:"CALLBACKD_MAX_BODY_BYTES"`
	WebhookFailureRate     float64       `help:"Failed (unauthenticated) deliveries allowed per second per remote address; beyond it the address gets 429 until it slows down (0: no limit)." default:"5" env:"CALLBACKD_WEBHOOK_FAILURE_RATE"`
	WebhookFailureBurst    int           `help:"Burst of failed deliveries allowed per remote address." default:"20" env:"CALLBACKD_WEBHOOK_FAILURE_BURST"`
	MaxJSONDepth           int           `name:"max-json-depth" help:"Deepest accepted JSON nesting of a payload." default:"32" env:"CALLBACKD_MAX_JSON_DEPTH"`
}

// AdminFlags configure who may use the admin API.
type AdminFlags struct {
	AdminToken     []string `name:"admin-token" help:"Static admin API token NAME=TOKEN (at least 16 bytes); repeat, or separate with commas. Without any admin credential, a token is generated in --data-dir and a login URL printed on a terminal." env:"CALLBACKD_ADMIN_TOKENS" sep:","`
	AdminTokenFile string   `help:"File with one NAME=TOKEN admin token per line." env:"CALLBACKD_ADMIN_TOKEN_FILE" type:"path"`
	JWTHS256Secret string   `name:"jwt-hs256-secret" help:"Accept HS256 JWTs signed with this shared secret (e.g. Supabase's JWT secret)." env:"CALLBACKD_JWT_HS256_SECRET"`
	JWKSURL        string   `name:"jwks-url" help:"Accept RS256/ES256 JWTs whose keys are published at this JWKS URL (cached and refreshed)." env:"CALLBACKD_JWKS_URL"`
	JWTIssuer      string   `name:"jwt-issuer" help:"Required iss claim of JWTs." env:"CALLBACKD_JWT_ISSUER"`
	JWTAudience    string   `name:"jwt-audience" help:"Required aud claim of JWTs." env:"CALLBACKD_JWT_AUDIENCE"`
	JWTAdminClaim  string   `name:"jwt-admin-claim" help:"Admin rule on a JWT claim, path=value with a dotted path (e.g. app_metadata.role=ADMIN). A valid JWT that fails it gets 403." default:"role=admin" env:"CALLBACKD_JWT_ADMIN_CLAIM"`

	PublicURL string `name:"public-url" help:"The console's address as browsers reach it (behind a proxy, the proxy's), e.g. https://callbackd.example.com: the origin whose requests a session cookie authenticates, https makes cookies Secure, and the default OIDC redirect URL is PUBLIC_URL/auth/callback. Empty: the request's own host." env:"CALLBACKD_PUBLIC_URL"`

	SessionLifetime    time.Duration `help:"Longest life of a browser session (the token form or OIDC sign-in), however used." default:"12h" env:"CALLBACKD_SESSION_LIFETIME"`
	SessionIdleTimeout time.Duration `help:"A browser session unused for this long ends." default:"1h" env:"CALLBACKD_SESSION_IDLE_TIMEOUT"`

	OIDCIssuer           string   `name:"oidc-issuer" help:"Sign admins in to the console through this OpenID Connect provider (its issuer URL; discovery at ISSUER/.well-known/openid-configuration)." env:"CALLBACKD_OIDC_ISSUER"`
	OIDCClientID         string   `name:"oidc-client-id" help:"Client id registered at the OIDC provider." env:"CALLBACKD_OIDC_CLIENT_ID"`
	OIDCClientSecret     string   `name:"oidc-client-secret" help:"Client secret registered at the OIDC provider (empty for a public client)." env:"CALLBACKD_OIDC_CLIENT_SECRET"`
	OIDCClientSecretFile string   `name:"oidc-client-secret-file" help:"File holding the OIDC client secret (instead of --oidc-client-secret)." env:"CALLBACKD_OIDC_CLIENT_SECRET_FILE" type:"path"`
	OIDCRedirectURL      string   `name:"oidc-redirect-url" help:"Redirect URL registered at the provider, ending in /auth/callback. Default: --public-url + /auth/callback." env:"CALLBACKD_OIDC_REDIRECT_URL"`
	OIDCScopes           []string `name:"oidc-scopes" help:"Scopes to request (openid is always added)." default:"openid,profile,email" env:"CALLBACKD_OIDC_SCOPES" sep:","`
	OIDCAdminClaim       string   `name:"oidc-admin-claim" help:"Admin rule on the ID token's claims, in --jwt-admin-claim's syntax (e.g. groups=callbackd-admins; list-valued claims match when they hold the value). Default: --jwt-admin-claim." env:"CALLBACKD_OIDC_ADMIN_CLAIM"`
	OIDCProviderName     string   `name:"oidc-provider-name" help:"Name on the sign-in button: Sign in with NAME." default:"SSO" env:"CALLBACKD_OIDC_PROVIDER_NAME"`
	LoginTokenForm       bool     `name:"login-token-form" help:"With OIDC, also offer the token form on the sign-in page (without OIDC it is always offered)." env:"CALLBACKD_LOGIN_TOKEN_FORM"`

	AdminAuthFailureRate  float64 `help:"Failed admin authentications allowed per second per remote host; beyond it the host's failures get 429 until it slows down (0: no limit). Valid credentials are never throttled." default:"1" env:"CALLBACKD_ADMIN_AUTH_FAILURE_RATE"`
	AdminAuthFailureBurst int     `help:"Burst of failed admin authentications allowed per remote host." default:"20" env:"CALLBACKD_ADMIN_AUTH_FAILURE_BURST"`
}

// WatchFlags tune the WatchCallbacks stream.
type WatchFlags struct {
	Heartbeat   time.Duration `help:"Interval of heartbeats on idle watch streams." default:"15s" env:"CALLBACKD_HEARTBEAT"`
	WatchBuffer int           `help:"Recent events kept in memory, shared by all watchers; a watcher further behind (resuming, or slow) reads from the database." default:"4096" env:"CALLBACKD_WATCH_BUFFER"`
	WatchPoll   time.Duration `help:"How often the change feed is read without a notification (bounds the delay of a lost NOTIFY)." default:"1s" env:"CALLBACKD_WATCH_POLL"`

	MaxStreams                int           `help:"Most streams open at once, of every kind (watches, reflection, health Watch); beyond it 429 too_many_streams." default:"1000" env:"CALLBACKD_MAX_STREAMS"`
	MaxStreamsPerAdmin        int           `help:"Most watch streams one admin identity may hold open." default:"32" env:"CALLBACKD_MAX_STREAMS_PER_ADMIN"`
	MaxUnauthenticatedStreams int           `help:"Most streams open to anyone (gRPC reflection, health Watch) at once." default:"64" env:"CALLBACKD_MAX_UNAUTHENTICATED_STREAMS"`
	UnauthenticatedStreamIdle time.Duration `help:"An unauthenticated stream that sends and receives nothing for this long is ended." default:"30s" env:"CALLBACKD_UNAUTHENTICATED_STREAM_IDLE"`
}

// RetentionFlags bound how long callbacks are kept.
type RetentionFlags struct {
	RetentionMaxAge          time.Duration `help:"Delete callbacks first received longer ago than this (0: keep forever)." default:"0s" env:"CALLBACKD_RETENTION_MAX_AGE"`
	RetentionMaxRows         int           `help:"Keep at most this many callbacks, deleting the oldest (0: no limit)." default:"0" env:"CALLBACKD_RETENTION_MAX_ROWS"`
	RetentionIncludeUnviewed bool          `help:"Also delete callbacks that no admin has viewed (by default they are kept whatever their age)." env:"CALLBACKD_RETENTION_INCLUDE_UNVIEWED"`
	RetentionInterval        time.Duration `help:"Time between retention runs." default:"1m" env:"CALLBACKD_RETENTION_INTERVAL"`
}
