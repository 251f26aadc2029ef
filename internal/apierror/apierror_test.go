package apierror_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
)

// docRow is one row of a status table in docs/errors.md.
type docRow struct {
	line   int
	http   int // 0 when the cell is not a status ("stream ends")
	code   string
	reason apierror.Reason
}

// docRows reads every table row of docs/errors.md whose reason cell names a
// reason (a row answered 200 has "—").
func docRows(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile("../../docs/errors.md")
	require.NoError(t, err)
	var rows []docRow
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			continue
		}
		httpCell, codeCell, reasonCell := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		if httpCell == "HTTP" {
			continue // a header row
		}
		reason := strings.Trim(strings.Fields(reasonCell + " —")[0], "`")
		if reason == "—" {
			continue
		}
		row := docRow{line: i + 1, code: codeCell, reason: apierror.Reason(reason)}
		digits := httpCell[:len(httpCell)-len(strings.TrimLeft(httpCell, "0123456789"))]
		if digits != "" {
			row.http, err = strconv.Atoi(digits)
			require.NoError(t, err)
		}
		rows = append(rows, row)
	}
	require.NotEmpty(t, rows)
	return rows
}

// TestErrorTableIsDocumented: docs/errors.md and the table agree row by
// row. Every documented reason is in the table with the documented code and
// HTTP status, and every reason of the table is documented.
func TestErrorTableIsDocumented(t *testing.T) {
	t.Parallel()
	documented := map[apierror.Reason]bool{}
	for _, row := range docRows(t) {
		documented[row.reason] = true
		rule := row.reason.Rule()
		require.Contains(t, apierror.Reasons(), row.reason, "docs/errors.md:%d names a reason that is not in the table", row.line)
		require.Equal(t, strings.ToUpper(rule.Code.String()), row.code, "docs/errors.md:%d: code of %s", row.line, row.reason)
		if row.http != 0 {
			require.Equal(t, rule.HTTP, row.http, "docs/errors.md:%d: HTTP status of %s", row.line, row.reason)
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
