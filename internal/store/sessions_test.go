package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/session"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestSessions runs the session manager over the real store on both
// databases: a session opens what its cookie names and nothing else, ends
// at its lifetime, when idle and at logout; a login flow is taken once.
func TestSessions(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.OpenURL(t, d.url(t))
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			clock := func() time.Time { return now }
			m, err := session.NewManager(s, session.Config{Lifetime: time.Hour, IdleTimeout: 10 * time.Minute}, clock)
			require.NoError(t, err)

			admin := session.Identity{AdminID: uuid.New(), AdminName: "Ada \x00Lovelace", Source: session.SourceOIDC, Subject: "sub-1"}
			cookie, created, err := m.Create(ctx, admin)
			require.NoError(t, err)
			require.NotContains(t, created.IDHash, cookie, "the store keeps a hash, not the id")
			require.Equal(t, session.Hash(cookie), created.IDHash)

			got, err := m.Lookup(ctx, cookie)
			require.NoError(t, err)
			require.Equal(t, admin.AdminID, got.AdminID)
			require.Equal(t, "Ada \uFFFDLovelace", got.AdminName, "names follow the column rule")
			require.Equal(t, session.SourceOIDC, got.Source)
			require.Equal(t, "sub-1", got.Subject)
			require.True(t, got.ExpiresAt.Equal(now.Add(time.Hour)))

			// Another cookie, a malformed one, or the stored hash itself
			// opens nothing.
			other, _, err := m.Create(ctx, session.Identity{AdminID: uuid.New(), AdminName: "Bob", Source: session.SourceToken})
			require.NoError(t, err)
			// other with its last character changed (to one it is not).
			changed := other[:len(other)-1] + map[bool]string{true: "B", false: "A"}[other[len(other)-1] == 'A']
			for _, bad := range []string{"", "x", created.IDHash, cookie + "A", changed} {
				_, err := m.Lookup(ctx, bad)
				require.ErrorIs(t, err, session.ErrNotFound, "%q", bad)
			}

			// Use within the idle timeout keeps it alive...
			now = now.Add(9 * time.Minute)
			_, err = m.Lookup(ctx, cookie)
			require.NoError(t, err)
			now = now.Add(9 * time.Minute)
			_, err = m.Lookup(ctx, cookie)
			require.NoError(t, err, "the previous use was recorded")
			// ...and the other session, unused for 18 minutes, has ended.
			_, err = m.Lookup(ctx, other)
			require.ErrorIs(t, err, session.ErrNotFound)

			// The lifetime ends it however used.
			for now.Before(created.ExpiresAt) {
				_, err = m.Lookup(ctx, cookie)
				require.NoError(t, err)
				now = now.Add(5 * time.Minute)
			}
			_, err = m.Lookup(ctx, cookie)
			require.ErrorIs(t, err, session.ErrNotFound)

			// Logout ends a session at once; creating one prunes what
			// expired (the two above).
			third, _, err := m.Create(ctx, admin)
			require.NoError(t, err)
			require.Equal(t, 1, countRows(t, s, "admin_sessions"))
			require.NoError(t, m.End(ctx, third))
			_, err = m.Lookup(ctx, third)
			require.ErrorIs(t, err, session.ErrNotFound)
			require.NoError(t, m.End(ctx, third), "ending twice is not an error")

			// A flow is taken once, with its own state only.
			fc, flow, err := m.BeginFlow(ctx)
			require.NoError(t, err)
			require.Len(t, flow.CodeVerifier, 43)
			require.NotEqual(t, flow.State, flow.Nonce)
			_, err = m.TakeFlow(ctx, fc, "forged-state")
			require.ErrorIs(t, err, session.ErrFlowUnknown)
			_, err = m.TakeFlow(ctx, fc, flow.State)
			require.ErrorIs(t, err, session.ErrFlowUnknown, "a wrong state used the flow up")

			fc, flow, err = m.BeginFlow(ctx)
			require.NoError(t, err)
			var wg sync.WaitGroup
			wins := make(chan session.Flow, 4)
			for range 4 {
				wg.Go(func() {
					if f, err := m.TakeFlow(ctx, fc, flow.State); err == nil {
						wins <- f
					}
				})
			}
			wg.Wait()
			close(wins)
			require.Len(t, wins, 1, "a replayed state is refused")
			got1 := <-wins
			require.Equal(t, flow.Nonce, got1.Nonce)
			require.Equal(t, flow.CodeVerifier, got1.CodeVerifier)

			fc, flow, err = m.BeginFlow(ctx)
			require.NoError(t, err)
			now = now.Add(session.FlowLifetime)
			_, err = m.TakeFlow(ctx, fc, flow.State)
			require.ErrorIs(t, err, session.ErrFlowUnknown, "an expired flow")
		})
	}
}
