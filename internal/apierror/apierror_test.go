package apierror_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/errdocs"
)

// TestErrorTableIsDocumented: docs/errors.md and the table agree row by
// row. Every documented reason is in the table with the documented code and
// HTTP status, and every reason of the table is documented.
func TestErrorTableIsDocumented(t *testing.T) {
	t.Parallel()
	documented := map[apierror.Reason]bool{}
	for _, row := range errdocs.Rows(t, "../../docs/errors.md") {
		if row.Reason == "—" {
			continue // a success
		}
		documented[row.Reason] = true
		rule := row.Reason.Rule()
		require.Contains(t, apierror.Reasons(), row.Reason, "docs/errors.md:%d names a reason that is not in the table", row.Line)
		require.Equal(t, strings.ToUpper(rule.Code.String()), row.Code, "docs/errors.md:%d: code of %s", row.Line, row.Reason)
		if row.HTTP != 0 {
			require.Equal(t, rule.HTTP, row.HTTP, "docs/errors.md:%d: HTTP status of %s", row.Line, row.Reason)
		}
	}
	for _, r := range apierror.Reasons() {
		require.True(t, documented[r], "reason %s is in no row of docs/errors.md", r)
	}
}

func TestOf(t *testing.T) {
	t.Parallel()
	sentinel := apierror.New(apierror.InvalidCursor, "invalid cursor")
	for _, c := range []struct {
		err  error
		want apierror.Reason
	}{
		{nil, ""},
		{sentinel, apierror.InvalidCursor},
		{fmt.Errorf("cursor %q: %w", "x", sentinel), apierror.InvalidCursor},
		{errors.Join(errors.New("other"), sentinel), apierror.InvalidCursor},
		{errors.New("database exploded"), apierror.Internal},
		{apierror.New("made_up", "a reason outside the table"), apierror.Internal},
		// A caller that left is Canceled whatever the operation was doing.
		{fmt.Errorf("%w: %w", sentinel, context.Canceled), apierror.Canceled},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), apierror.DeadlineExceeded},
	} {
		require.Equal(t, c.want, apierror.Of(c.err), "%v", c.err)
	}
	require.ErrorIs(t, fmt.Errorf("wrapped: %w", sentinel), sentinel)
	require.NotErrorIs(t, apierror.New(apierror.InvalidCursor, "invalid cursor"), sentinel, "sentinels compare by identity")
}

func TestRule(t *testing.T) {
	t.Parallel()
	require.Equal(t, apierror.Rule{Code: connect.CodeInternal, HTTP: 500}, apierror.Reason("made_up").Rule())
	require.Equal(t, apierror.Rule{Code: connect.CodeResourceExhausted, HTTP: 413}, apierror.BodyTooLarge.Rule())
	// ForCode's reasons are rows of the table, with their code.
	for c := connect.Code(1); c <= 16; c++ {
		r := apierror.ForCode(c)
		require.Contains(t, apierror.Reasons(), r)
		if r != apierror.Internal {
			require.Equal(t, c, r.Rule().Code, "%s", r)
		}
	}
}
