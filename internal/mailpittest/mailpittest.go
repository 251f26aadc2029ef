// Package mailpittest runs Mailpit (https://mailpit.axllent.org), a real
// SMTP server whose HTTP API lists the mail it received, for the tests of
// alerting's e-mail channel. Mailpit is pinned in its own module
// (tools/mailpit, a tool directive) and built from the Go module proxy, so
// the tests need nothing installed.
package mailpittest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// Build builds Mailpit from tools/mailpit into a directory that t removes,
// and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	bin, err := callbackdtest.Build(t.Context(), t.TempDir(), callbackdtest.BuildOptions{Module: "tools/mailpit", Package: "github.com/axllent/mailpit"})
	require.NoError(t, err)
	return bin
}

// Server is a running Mailpit.
type Server struct {
	// Host and Port are its SMTP address.
	Host string
	Port int
	// API is its HTTP API's base URL, http://127.0.0.1:PORT.
	API string
}

// Start runs the Mailpit binary bin with the extra flags (TLS, AUTH) on two
// free loopback ports until t ends, and waits until its API answers. Its
// log is printed when t fails.
func Start(t testing.TB, bin string, flags ...string) Server {
	t.Helper()
	smtpAddr, err := callbackdtest.FreeAddr()
	require.NoError(t, err)
	httpAddr, err := callbackdtest.FreeAddr()
	require.NoError(t, err)
	dir := t.TempDir()
	args := append([]string{"--smtp", smtpAddr, "--listen", httpAddr, "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-disable-rdns", "--disable-version-check", "--quiet"}, flags...)
	cmd := exec.CommandContext(t.Context(), bin, args...)
	logFile, err := os.Create(filepath.Join(dir, "mailpit.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("mailpit %v log:\n%s", flags, b)
			}
		}
	})
	s := Server{API: "http://" + httpAddr}
	host, port, ok := strings.Cut(smtpAddr, ":")
	require.True(t, ok, smtpAddr)
	s.Host = host
	_, err = fmt.Sscan(port, &s.Port)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		res, err := http.Get(s.API + "/api/v1/messages")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "mailpit did not start")
	return s
}

// Address is an address as Mailpit's API gives it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is one message of GET /api/v1/messages.
type Summary struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
}

// Message is GET /api/v1/message/{ID}: the parsed message.
type Message struct {
	Summary
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Messages lists the messages received, newest first.
func (s Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var list struct {
		Messages []Summary `json:"messages"`
	}
	s.getJSON(t, "/api/v1/messages", &list)
	return list.Messages
}

// Message reads one received message.
func (s Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.getJSON(t, "/api/v1/message/"+id, &m)
	return m
}

// Subjects lists the subjects of the messages received.
func (s Server) Subjects(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, m := range s.Messages(t) {
		out = append(out, m.Subject)
	}
	return out
}

func (s Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(s.API + path)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, path)
	require.NoError(t, json.NewDecoder(res.Body).Decode(v))
}
