package webhook_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/webhook"
)

// TestPythonJSON compares PythonJSON with outputs of Python 3's
// json.dumps(v, separators=(",", ":"), sort_keys=True).
func TestPythonJSON(t *testing.T) {
	t.Parallel()
	type record struct {
		B int     `json:"b"`
		A string  `json:"a"`
		F float64 `json:"f"`
	}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"non-ASCII escaped, HTML characters and slash kept", map[string]any{"b": 1, "a": "é<>/😀"}, `{"a":"\u00e9<>/\ud83d\ude00","b":1}`},
		{"controls and DEL escaped", "\x00\x01\x1f\x7f\b\f\n\r\t\"\\ ~", `"\u0000\u0001\u001f\u007f\b\f\n\r\t\"\\ ~"`},
		{"BMP edges and surrogate pairs", "\u2028\u2029\uffff\U00010000\U0010FFFF", `"\u2028\u2029\uffff\ud800\udc00\udbff\udfff"`},
		{"keys sorted by code point", map[string]any{"é": 1, "z": 2, "A": 3, "a": 4, "😀": 5, "\uffff": 6}, `{"A":3,"a":4,"z":2,"\u00e9":1,"\uffff":6,"\ud83d\ude00":5}`},
		{"literals and empty containers", map[string]any{"list": []any{true, false, nil, []any{}, map[string]any{}}, "n": -12}, `{"list":[true,false,null,[],{}],"n":-12}`},
		{"float repr", []any{1.0, 0.1, 1e16, 1e15, 1e-05, 0.0001, math.Copysign(0, -1), 1.5e300, 2.5e-07, 123.456, 5e-324, 1.7976931348623157e308, 100.0, 0.00012345, 1234567890123456.7},
			`[1.0,0.1,1e+16,1000000000000000.0,1e-05,0.0001,-0.0,1.5e+300,2.5e-07,123.456,5e-324,1.7976931348623157e+308,100.0,0.00012345,1234567890123456.8]`},
		{"large integer exact", map[string]any{"n": int64(9007199254740993)}, `{"n":9007199254740993}`},
		{"struct through encoding/json", record{B: 1, A: "<&>", F: 2.5}, `{"a":"<&>","b":1,"f":2.5}`},
		{"json.Number as is", json.Number("12.50"), `12.50`},
		{"invalid UTF-8 as U+FFFD", "a\xffb", `"a\ufffdb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.PythonJSON(tc.v)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
		})
	}
}

func TestPythonJSONRefuses(t *testing.T) {
	t.Parallel()
	for _, v := range []any{math.NaN(), []any{math.Inf(1)}, json.Number("abc"), map[string]any{"c": make(chan int)}} {
		_, err := webhook.PythonJSON(v)
		require.Error(t, err, "%v", v)
	}
}
