// Package errdocs reads the status tables of docs/errors.md, for the
// tests that hold the error table, the docs and the bad-input tests equal.
package errdocs

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/apierror"
)

// Row is one row of a status table.
type Row struct {
	// Line is the row's line number in the file.
	Line int
	// Section is the heading ("## ...") the row is under.
	Section string
	// HTTP is the status the row's HTTP cell starts with; 0 when the cell
	// is not a status ("stream ends").
	HTTP int
	// Code is the gRPC code as written ("INVALID_ARGUMENT", "OK").
	Code string
	// Reason is the first word of the reason cell, "—" for a success.
	Reason apierror.Reason
}

// Rows reads every status-table row of the markdown file at path.
func Rows(tb testing.TB, path string) []Row {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	var rows []Row
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
			continue
		}
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 || strings.TrimSpace(cells[1]) == "HTTP" {
			continue // not a status table, or its header
		}
		httpCell := strings.TrimSpace(cells[1])
		row := Row{
			Line:    i + 1,
			Section: section,
			Code:    strings.TrimSpace(cells[2]),
			Reason:  apierror.Reason(strings.Trim(strings.Fields(cells[3] + " —")[0], "`")),
		}
		if digits := httpCell[:len(httpCell)-len(strings.TrimLeft(httpCell, "0123456789"))]; digits != "" {
			row.HTTP, err = strconv.Atoi(digits)
			require.NoError(tb, err)
		}
		rows = append(rows, row)
	}
	require.NotEmpty(tb, rows, "%s has no status table", path)
	return rows
}
