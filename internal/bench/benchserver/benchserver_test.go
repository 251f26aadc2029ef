package benchserver

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 400)
	log := "\n  \n" + `level=WARN msg="benchmark ingest mode" mode=naive` + "\n" + long + "\nsecond\n"
	for _, tc := range []struct {
		ignore    string
		wantN     int
		wantFirst string
	}{
		{`msg="benchmark ingest mode`, 2, strings.Repeat("x", 300) + "…"},
		{"", 3, `level=WARN msg="benchmark ingest mode" mode=naive`},
	} {
		n, first := summarize(log, tc.ignore)
		if n != tc.wantN || first != tc.wantFirst {
			t.Errorf("summarize(ignore %q) = %d, %q; want %d, %q", tc.ignore, n, first, tc.wantN, tc.wantFirst)
		}
	}
	if n, first := summarize("", ""); n != 0 || first != "" {
		t.Errorf("summarize of an empty log = %d, %q", n, first)
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	if got := Truncate("abc", 3); got != "abc" {
		t.Errorf("Truncate(abc, 3) = %q", got)
	}
	if got := Truncate("abcd", 3); got != "abc…" {
		t.Errorf("Truncate(abcd, 3) = %q", got)
	}
}

func TestRandomHex(t *testing.T) {
	t.Parallel()
	a, b := RandomHex(6), RandomHex(6)
	if len(a) != 12 || a == b {
		t.Errorf("RandomHex(6) = %q, %q", a, b)
	}
}
