package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRead: a test binary has no linker stamp, so Read falls back to what
// the go command recorded, and always names the running toolchain.
func TestRead(t *testing.T) {
	t.Parallel()
	info := Read()
	require.Equal(t, runtime.Version(), info.GoVersion)
	require.NotEmpty(t, info.Version)
	require.NotEmpty(t, info.Commit)
	require.Equal(t, info.Version+" (commit "+info.Commit+", "+runtime.Version()+")", info.String())
}

func TestVCSCommit(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings []debug.BuildSetting
		want     string
	}{
		"none":     {nil, "unknown"},
		"clean":    {[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}, "abc"},
		"modified": {[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}, "abc-dirty"},
	} {
		require.Equal(t, tc.want, vcsCommit(tc.settings), name)
	}
}
