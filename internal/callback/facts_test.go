package callback_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

// TestFacts covers the shapes of figures the payloads take, and that
// anything else yields no figure without refusing the payload.
func TestFacts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, members string
		want          callback.Facts
	}{
		{"none", ``, callback.Facts{}},
		{"step tokens", `"tokens":{"prompt":980,"completion":230,"total":1210},"cost_usd":0.0084,"duration_ms":2310`,
			callback.Facts{PromptTokens: ptr[int64](980), CompletionTokens: ptr[int64](230), TotalTokens: ptr[int64](1210), CostUSD: ptr(0.0084), DurationMS: ptr[int64](2310)}},
		{"openai names in tokens", `"tokens":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}`,
			callback.Facts{PromptTokens: ptr[int64](1), CompletionTokens: ptr[int64](2), TotalTokens: ptr[int64](3)}},
		{"usage object", `"usage":{"prompt_tokens":5,"completion_tokens":6}`,
			callback.Facts{PromptTokens: ptr[int64](5), CompletionTokens: ptr[int64](6), TotalTokens: ptr[int64](11)}},
		{"top-level names", `"prompt_tokens":"7","completion_tokens":8.0,"total_tokens":1.5e1`,
			callback.Facts{PromptTokens: ptr[int64](7), CompletionTokens: ptr[int64](8), TotalTokens: ptr[int64](15)}},
		{"workflow cost_data", `"cost_data":{"total_tokens":1834,"cost_usd":0.0127,"llm_calls":[{"tokens":1210,"cost_usd":9}]},"duration_ms":5230`,
			callback.Facts{TotalTokens: ptr[int64](1834), CostUSD: ptr(0.0127), DurationMS: ptr[int64](5230)}},
		{"cost_data total_cost", `"cost_data":{"total_cost":"0.5"}`, callback.Facts{CostUSD: ptr(0.5)}},
		{"top-level cost wins", `"cost_usd":1,"cost_data":{"cost_usd":2}`, callback.Facts{CostUSD: ptr(1.0)}},
		{"numeric strings with spaces", `"duration_ms":" 12.6 ","cost_usd":" 3 "`, callback.Facts{DurationMS: ptr[int64](13), CostUSD: ptr(3.0)}},
		{"unknown shapes", `"tokens":1210,"cost_usd":{"amount":1},"duration_ms":[1],"usage":"many"`, callback.Facts{}},
		{"not numbers", `"tokens":{"prompt":"abc","completion":true,"total":null},"cost_usd":"NaN","duration_ms":"Infinity"`, callback.Facts{}},
		{"hex and underscores refused", `"duration_ms":"0x10","cost_usd":"1_000"`, callback.Facts{}},
		{"negative and fractional tokens", `"tokens":{"prompt":-1,"completion":2.5,"total":3},"cost_usd":-0.1,"duration_ms":-5`, callback.Facts{TotalTokens: ptr[int64](3)}},
		{"out of range", `"tokens":{"total":1e300},"duration_ms":1e300,"cost_usd":1e999`, callback.Facts{}},
		{"error category", `"error":{"category":"  provider ","message":"m"}`, callback.Facts{ErrorCategory: "provider"}},
		{"error category not a string", `"error":{"category":7}`, callback.Facts{}},
		{"long error category cut", `"error":{"category":"` + strings.Repeat("c", 300) + `"}`, callback.Facts{ErrorCategory: strings.Repeat("c", callback.MaxErrorCategoryBytes)}},
		{"nested deeper is not read", `"result":{"tokens":{"total":9},"cost_usd":1}`, callback.Facts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"event":"llm.step.completed","job_id":"j","step_id":"s"`
			if tc.members != "" {
				body += "," + tc.members
			}
			body += "}"
			d, err := callback.ParsePayload([]byte(body), "", callback.PayloadLimits{})
			require.NoError(t, err, "figures never refuse a payload")
			require.Equal(t, tc.want, d.Facts)
			require.Equal(t, tc.want, callback.Analyze(callback.Delivery{Payload: []byte(body)}).Facts)
		})
	}
}

func TestSearchDocument(t *testing.T) {
	t.Parallel()
	d, err := callback.ParsePayload([]byte(`{"error":{"category":"provider","message":"Rate-limited by OpenAI"},"error_message":"LLM provider TIMED out (504)","event":"workflow.failed","job_id":"7b0c5bd8-54a6-4f7a","result":{"text":"Résumé: ÉTÉ_2025 日本語"},"workflow_name":"summarise-document"}`), "", callback.PayloadLimits{})
	require.NoError(t, err)
	require.Equal(t, " workflow failed 7b0c5bd8 54a6 4f7a summarise document llm provider timed out 504"+
		" provider rate limited by openai llm provider timed out 504 workflow failed 7b0c5bd8 54a6 4f7a résumé été 2025 日本語 summarise document ", d.SearchText)

	long := strings.Repeat("x", 100)
	require.Equal(t, []string{strings.Repeat("x", callback.MaxWordBytes), "y"}, callback.Words(long+" y"), "words are cut, not split")

	var values []string
	for range 5000 {
		values = append(values, "word")
	}
	doc := callback.SearchDocument(callback.Delivery{EventType: "e", ExternalJobID: "j"}, values)
	require.LessOrEqual(t, len(doc), callback.MaxSearchBytes)
	require.True(t, strings.HasPrefix(doc, " e j word word "))
	require.True(t, strings.HasSuffix(doc, " word "))
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	terms, err := callback.ParseQuery(`  Timeout "rate  LIMITED by" gpt-4o* 7b0c5bd8-54a6 "" *** "unclosed phrase`)
	require.NoError(t, err)
	require.Equal(t, []callback.SearchTerm{
		{Words: []string{"timeout"}, JobIDPrefix: "Timeout"},
		{Words: []string{"rate", "limited", "by"}},
		{Words: []string{"gpt", "4o"}, Prefix: true, JobIDPrefix: "gpt-4o"},
		{Words: []string{"7b0c5bd8", "54a6"}, JobIDPrefix: "7b0c5bd8-54a6"},
		{Words: []string{"unclosed", "phrase"}},
	}, terms)

	terms, err = callback.ParseQuery("  ")
	require.NoError(t, err)
	require.Empty(t, terms)

	_, err = callback.ParseQuery(strings.Repeat("a ", callback.MaxQueryTerms+1))
	require.ErrorIs(t, err, callback.ErrBadQuery)
	_, err = callback.ParseQuery(strings.Repeat("a", callback.MaxQueryBytes+1))
	require.ErrorIs(t, err, callback.ErrBadQuery)
}
