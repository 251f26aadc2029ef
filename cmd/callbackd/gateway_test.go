package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestRESTCallsShareTheInternalConnection drives the REST gateway's one
// in-memory connection to the handlers hard: REST watches stream every
// callback posted meanwhile, in order, while hundreds of REST calls run at
// once and all answer.
func TestRESTCallsShareTheInternalConnection(t *testing.T) {
	t.Parallel()
	const (
		watches   = 8
		callers   = 16
		perCaller = 16
		posts     = 20
	)
	srv := startServer(t, "")
	watchers := make([]watcher, watches)
	for i := range watchers {
		watchers[i] = openWatch(t, srv, "rest", "")
		firstCursor(t, watchers[i])
		t.Cleanup(watchers[i].close)
	}

	transport := &http.Transport{MaxIdleConnsPerHost: callers}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	var wg sync.WaitGroup
	errs := make(chan error, callers*perCaller+posts)
	for c := range callers {
		wg.Go(func() {
			for i := range perCaller {
				path := "/api/admin/llm-callbacks?page_size=5"
				if (c+i)%2 == 1 {
					path = "/api/admin/server-info"
				}
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+path, nil)
				req.Header.Set("Authorization", "Bearer "+srv.token)
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("GET %s: HTTP %d: %s", path, res.StatusCode, b)
				}
			}
		})
	}
	var posted []string
	for range posts {
		body, sig := signedBody(t, uuid.NewString())
		res := delivery{body: body, headers: map[string]string{"X-Webhook-Signature": sig, "X-Webhook-Event": "workflow.completed"}}.send(t, srv.base)
		require.Equal(t, http.StatusOK, res.status, res.body)
		var ok struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
		posted = append(posted, ok.ID)
	}
	for _, w := range watchers {
		ids, _ := collect(t, w, posts)
		require.True(t, slices.Equal(posted, ids), "a REST watch got %v, want %v", ids, posted)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
