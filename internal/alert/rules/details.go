package rules

import (
	"encoding/json"
	"strings"
)

// ParseDetails reads the error object of a workflow.failed payload:
// error.category, error.retryable and error.message (an error that is a
// plain string is its message). A payload without one, or that does not
// parse, has no details: it then matches no rule that asks for them.
func ParseDetails(payload []byte) Details {
	var p struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(payload, &p) != nil || len(p.Error) == 0 {
		return Details{}
	}
	var e struct {
		Category  any    `json:"category"`
		Retryable any    `json:"retryable"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(p.Error, &e) != nil {
		var s string
		if json.Unmarshal(p.Error, &s) == nil {
			return Details{Message: bounded(s)}
		}
		return Details{}
	}
	d := Details{Message: bounded(e.Message)}
	if c, ok := e.Category.(string); ok {
		d.Category = bounded(strings.TrimSpace(c))
	}
	switch v := e.Retryable.(type) {
	case bool:
		d.Retryable = &v
	case string: // "true" / "false", as some senders write booleans
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			t := true
			d.Retryable = &t
		case "false":
			f := false
			d.Retryable = &f
		}
	}
	return d
}
