// Command callbackd receives signed callbacks from an LLM job service, keeps
// every one of them, and serves them to admins over gRPC, Connect, REST and
// (later) a web UI, all on one port.
//
//	callbackd                 # serve (the default command)
//	callbackd migrate status  # show schema migrations
//
// Every flag has an environment variable; see `callbackd --help`.
// `callbackd --version` prints the version, commit and Go version.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/callbackd/callbackd/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "callbackd:", err)
		os.Exit(1)
	}
}

// run parses args and executes the chosen command. It is main without the
// process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cli CLI
	exitCode := -1
	parser, err := newParser(&cli, stdout, stderr, kong.Exit(func(code int) { exitCode = code }))
	if err != nil {
		return err
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help printed usage, or --version the version
		return nil
	}
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cli.LogFormat, cli.LogLevel)
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.BindTo(stdout, (*io.Writer)(nil))
	con := console{}
	if isTerminal(stderr) {
		con.w = stderr
	}
	return kctx.Run(logger, &cli.DatabaseFlags, &cli.ServeFlags, con)
}

// console is the terminal a person started callbackd from: standard error
// when it is a terminal, else nothing (w nil). What only that person may
// read (the generated admin token's login URL) goes there, as plain text,
// never to the structured logs, which are shipped to log stores.
type console struct{ w io.Writer }

// isTerminal reports whether w is a terminal (a character device; /dev/null
// is one too, harmlessly).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newParser builds the command-line parser for cli.
func newParser(cli *CLI, stdout, stderr io.Writer, options ...kong.Option) (*kong.Kong, error) {
	options = append([]kong.Option{
		kong.Name("callbackd"),
		kong.Description("Receive, keep and stream signed LLM job callbacks."),
		kong.Writers(stdout, stderr),
		kong.UsageOnError(),
		kong.Vars{"version": "callbackd " + buildinfo.Read().String()},
	}, options...)
	parser, err := kong.New(cli, options...)
	if err != nil {
		return nil, fmt.Errorf("build flag parser: %w", err)
	}
	return parser, nil
}

// newLogger builds the process logger.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
