package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HealthcheckCmd asks a running callbackd whether it is ready, for a
// container's HEALTHCHECK: the image has no shell or curl, only the binary.
type HealthcheckCmd struct {
	URL     string        `help:"URL to probe. Default: /readyz on the loopback address of --addr (https with --tls-cert)."`
	Timeout time.Duration `help:"Give up after this long." default:"3s"`
}

// Run GETs the URL and succeeds on 200. The default URL is derived from the
// server's own flags (the same environment), so that a container's
// HEALTHCHECK needs no arguments. Over TLS it does not verify the
// certificate of that loopback address, whose name the certificate rarely
// holds; it reads nothing but the status.
func (c *HealthcheckCmd) Run(ctx context.Context, serve *ServeFlags, out io.Writer) error {
	url, client := c.URL, &http.Client{Timeout: c.Timeout}
	if url == "" {
		host, port, err := net.SplitHostPort(serve.Addr)
		if err != nil {
			return fmt.Errorf("healthcheck: --addr %q: %w", serve.Addr, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		scheme := "http"
		if serve.TLSCert != "" {
			scheme = "https"
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a loopback probe that reads only the status
		}
		url = scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	fmt.Fprintf(out, "%s: %s\n", url, res.Status)
	return nil
}
