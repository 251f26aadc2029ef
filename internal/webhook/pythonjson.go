package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// PythonJSON serialises v exactly as the LLM service serialises a callback
// body: Python's json.dumps(v, separators=(",", ":"), sort_keys=True). That
// is compact, with object keys sorted by code point, and ASCII only: every
// character outside ' '..'~' is escaped as \uXXXX in lowercase hex (DEL
// included, characters beyond the BMP as a surrogate pair), except the
// short escapes \b \f \n \r \t \" \\. Unlike encoding/json it does not escape
// '<', '>' and '&', and '/' stays as is.
//
// Values held as float64 are written as Python's float repr (1.0, 1e+16,
// 1e-05); NaN and infinities are refused. Other types (structs, typed maps,
// integers) go through encoding/json first, which keeps integers exact but
// writes an integral float inside them as 1, where Python writes 1.0. Invalid
// UTF-8 is written as U+FFFD, which a Python str cannot contain anyway.
func PythonJSON(v any) ([]byte, error) {
	return appendPython(nil, v)
}

func appendPython(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		return appendPythonString(b, v), nil
	case float64:
		return appendPythonFloat(b, v)
	case json.Number:
		if _, err := json.Marshal(v); err != nil { // validates the number
			return nil, err
		}
		return append(b, v...), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendPython(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		// Byte order of UTF-8 is code point order, Python's str order.
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendPythonString(b, k), ':')
			var err error
			if b, err = appendPython(b, v[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return nil, err
		}
		return appendPython(b, generic)
	}
}

// appendPythonString appends s as json.dumps with ensure_ascii does.
func appendPythonString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case ' ' <= r && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			b = u4(u4(b, hi), lo)
		default:
			b = u4(b, r)
		}
	}
	return append(b, '"')
}

// appendPythonFloat appends f as Python's repr: the shortest digits that
// round-trip, positional when the decimal exponent is in [-4, 16), else
// exponent notation with a sign and at least two digits.
func appendPythonFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("python json: %v is not JSON", f)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // "-d.ddde±XX", Python's exponent form too
	mantissa, exp, _ := strings.Cut(e, "e")
	mantissa, negative := strings.CutPrefix(mantissa, "-")
	digits := strings.Replace(mantissa, ".", "", 1)
	x, _ := strconv.Atoi(exp) // FormatFloat always writes a valid exponent
	point := x + 1            // digits are 0.d1d2... × 10^point
	if point <= -4 || point > 16 {
		return append(b, e...), nil
	}
	if negative {
		b = append(b, '-')
	}
	switch {
	case point <= 0:
		b = append(b, "0."...)
		b = append(b, strings.Repeat("0", -point)...)
		b = append(b, digits...)
	case point >= len(digits):
		b = append(b, digits...)
		b = append(b, strings.Repeat("0", point-len(digits))...)
		b = append(b, ".0"...)
	default:
		b = append(b, digits[:point]...)
		b = append(b, '.')
		b = append(b, digits[point:]...)
	}
	return b, nil
}
