package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/alecthomas/kong"

	callbackclient "github.com/callbackd/callbackd/clients/go"
	"github.com/callbackd/callbackd/internal/buildinfo"
)

// Exit codes; the package doc and --help list them.
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitAuth         = 3
	exitNotFound     = 4
	exitVerifyFailed = 5
)

// description heads --help.
const description = `Command-line client of callbackd: list, show and watch callbacks; send, verify, forward and replay signed webhooks.

Exit codes: 0 success, 1 error, 2 usage (bad command, flags or arguments), 3 authentication failed (missing or bad token, not an admin, or a webhook rejected for its signature), 4 not found, 5 verification failed (verify).`

// CLI is callbackctl's command line.
type CLI struct {
	Globals
	Version kong.VersionFlag `help:"Print the version, commit and Go version, and exit."`

	List    ListCmd    `cmd:"" help:"List callbacks, newest first."`
	Get     GetCmd     `cmd:"" help:"Show one callback as JSON; --raw prints its exact body."`
	View    ViewCmd    `cmd:"" help:"Mark a callback viewed by you."`
	ViewAll ViewAllCmd `cmd:"" name:"view-all" help:"Mark every callback matching the filters viewed by you."`
	Stats   StatsCmd   `cmd:"" help:"Counts, failures, tokens, cost and durations per time bucket and per workflow."`
	Watch   WatchCmd   `cmd:"" help:"Print each event as it happens; resumes after disconnects."`
	Alerts  AlertsCmd  `cmd:"" help:"Show the server's alert rules and recent alert deliveries."`
	Send    SendCmd    `cmd:"" help:"Sign and deliver a callback exactly as the LLM job service does."`
	Verify  VerifyCmd  `cmd:"" help:"Check a webhook signature; when it fails, say why."`
	Forward ForwardCmd `cmd:"" help:"Re-deliver each new callback's exact body to a URL, re-signed with your secret."`
	Replay  ReplayCmd  `cmd:"" help:"Have the server POST one stored callback's exact body to a URL, and show the answer."`
}

// Globals are the flags every command shares, and the process's streams.
type Globals struct {
	Server   string `help:"callbackd's address: http://host:port or https://host:port." default:"http://127.0.0.1:8080" env:"CALLBACKCTL_SERVER"`
	Token    string `help:"Admin bearer token: a static admin token or a JWT." env:"CALLBACKCTL_TOKEN"`
	Protocol string `help:"Admin API protocol: grpc or connect." enum:"grpc,connect" default:"grpc" env:"CALLBACKCTL_PROTOCOL"`
	CACert   string `name:"ca-cert" help:"PEM file of the CA of an https:// server's certificate (default: the system's roots)." env:"CALLBACKCTL_CA_CERT" type:"existingfile"`
	Output   string `short:"o" help:"Output format: table (for people) or json (for scripts)." enum:"table,json" default:"table" env:"CALLBACKCTL_OUTPUT"`

	stdin          io.Reader
	stdout, stderr io.Writer
}

// run parses args, runs the command and returns the exit code. It is main
// without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cli := CLI{Globals: Globals{stdin: stdin, stdout: stdout, stderr: stderr}}
	exited := -1
	parser, err := kong.New(&cli,
		kong.Name("callbackctl"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exited = code }),
		kong.Vars{"columns": columnNames(), "route": webhookRoute, "version": "callbackctl " + buildinfo.Read().String()},
	)
	if err != nil {
		fmt.Fprintln(stderr, "callbackctl:", err)
		return exitError
	}
	kctx, err := parser.Parse(args)
	if exited >= 0 { // --help printed usage, or --version the version
		return exited
	}
	if err != nil {
		fmt.Fprintf(stderr, "callbackctl: %v\nRun 'callbackctl --help' for usage.\n", err)
		return exitUsage
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&cli.Globals)
	code := exitCode(err)
	if code != exitOK && !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "callbackctl:", err)
	}
	return code
}

// codedError carries the exit code of a failure that is not an RPC error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// usageErrorf reports a bad combination of flags or arguments.
func usageErrorf(format string, args ...any) error {
	return &codedError{exitUsage, fmt.Errorf(format, args...)}
}

// errReported is a failure the command already explained on its output.
var errReported = errors.New("reported")

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	if ce := new(codedError); errors.As(err, &ce) {
		return ce.code
	}
	switch {
	case err == nil, errors.Is(err, context.Canceled): // Ctrl-C ends watch and forward
		return exitOK
	}
	switch callbackclient.Code(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return exitAuth
	case connect.CodeNotFound:
		return exitNotFound
	}
	return exitError
}

// client connects to the server of the global flags.
func (g *Globals) client() (*callbackclient.Client, error) {
	// Trimmed: a token read from a file ($(cat data/admin-token)) may keep its newline.
	o := callbackclient.Options{Protocol: callbackclient.Protocol(g.Protocol), Token: strings.TrimSpace(g.Token)}
	if g.CACert != "" {
		pem, err := os.ReadFile(g.CACert)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-cert %s: no PEM certificate", g.CACert)
		}
		o.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	c, err := callbackclient.New(g.Server, o)
	if err != nil {
		return nil, &codedError{exitUsage, err}
	}
	return c, nil
}
