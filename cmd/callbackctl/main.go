// Command callbackctl is the command-line client of callbackd: it lists,
// shows and watches the callbacks an admin sees, and it sends, verifies and
// forwards webhooks the way the LLM job service signs them.
//
//	callbackctl list --status error          # a table; -o json for scripts
//	callbackctl get ID --raw                 # the exact body received
//	callbackctl view ID                      # mark it viewed
//	callbackctl watch                        # one line per event, resumes after disconnects
//	callbackctl send --sample workflow.failed --repeat 3
//	callbackctl verify body.json --signature sha256=... --secret S
//	callbackctl forward --to http://localhost:3000/hook --secret S
//
// The server and the admin token come from --server and --token, or from
// CALLBACKCTL_SERVER and CALLBACKCTL_TOKEN.
//
// Exit codes:
//
//	0  success
//	1  error (network, server, I/O)
//	2  usage: unknown command, bad flags or arguments
//	3  authentication failed: missing or bad token, not an admin, or a
//	   webhook rejected for its signature
//	4  not found
//	5  verification failed (verify)
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
