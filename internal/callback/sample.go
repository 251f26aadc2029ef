package callback

import (
	"fmt"
	"time"
)

// SamplePayload returns a realistic payload of the LLM job service for event
// (one of the known events), shaped as SPEC.md describes, for tests, the
// "send test callback" action and callbackctl. Serialise it as the sender
// does (webhook.PythonJSON) before signing. The timestamp reproduces the
// sender's malformed "+00:00Z" suffix.
func SamplePayload(event, jobID, stepID string, at time.Time) (map[string]any, error) {
	ts := at.UTC().Format("2006-01-02T15:04:05.000000") + "+00:00Z"
	p := map[string]any{"event": event, "job_id": jobID, "workflow_name": "summarise-document", "timestamp": ts}
	switch event {
	case EventWorkflowCompleted:
		p["status"] = "completed"
		p["result"] = map[string]any{"summary": "The quarterly report shows revenue up 12%.", "sections": []any{"overview", "risks"}}
		p["cost_data"] = map[string]any{"total_tokens": 1834, "cost_usd": 0.0127, "llm_calls": []any{
			map[string]any{"step_id": "extract", "model": "gpt-4o-mini", "tokens": 1210},
			map[string]any{"step_id": "summarise", "model": "gpt-4o-mini", "tokens": 624},
		}}
		p["duration_ms"] = 5230
	case EventWorkflowFailed:
		p["status"] = "failed"
		p["error_message"] = "LLM provider timed out after 3 attempts"
		p["error"] = map[string]any{"type": "TimeoutError", "category": "provider", "retryable": true, "message": "LLM provider timed out after 3 attempts"}
		p["duration_ms"] = 90120
		p["created_at"] = at.UTC().Add(-90 * time.Second).Format(time.RFC3339)
	case EventStepCompleted:
		if stepID == "" {
			stepID = "extract"
		}
		p["step_id"] = stepID
		p["result"] = map[string]any{"text": "Revenue: 12% up; risks: supply chain."}
		p["tokens"] = map[string]any{"prompt": 980, "completion": 230, "total": 1210}
		p["cost_usd"] = 0.0084
		p["duration_ms"] = 2310
		p["debug"] = map[string]any{"prompt": "Extract the key figures.", "model": "gpt-4o-mini", "temperature": 0.2}
	default:
		return nil, fmt.Errorf("no sample for event %q", event)
	}
	return p, nil
}
