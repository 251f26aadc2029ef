package callback

import (
	"math"
	"strconv"
	"strings"
)

// Facts are the figures a payload reports, extracted at ingest into columns
// so that statistics never parse payloads. A nil field is a figure the
// payload does not carry in any shape Facts knows, or carries as something
// that is not a non-negative finite number (then it counts as zero in sums
// and is left out of percentiles): a callback is never refused for them.
type Facts struct {
	PromptTokens     *int64
	CompletionTokens *int64
	TotalTokens      *int64
	CostUSD          *float64
	DurationMS       *int64
	// ErrorCategory is error.category of a failed workflow ("" if none),
	// bounded by MaxErrorCategoryBytes.
	ErrorCategory string
}

// MaxErrorCategoryBytes bounds the error_category column.
const MaxErrorCategoryBytes = 128

// The members each figure is read from, first found wins. The LLM service
// sends tokens{prompt,completion,total} and cost_usd in step events,
// cost_data{total_tokens,cost_usd} in workflow.completed, duration_ms in
// both; the OpenAI-style names (usage{prompt_tokens,…}, *_tokens) and a few
// spellings of a total cost are accepted too, since other senders and
// versions of the service use them.
var (
	promptFrom     = []string{"tokens.prompt", "tokens.prompt_tokens", "usage.prompt_tokens", "cost_data.prompt_tokens", "prompt_tokens"}
	completionFrom = []string{"tokens.completion", "tokens.completion_tokens", "usage.completion_tokens", "cost_data.completion_tokens", "completion_tokens"}
	totalFrom      = []string{"tokens.total", "tokens.total_tokens", "usage.total_tokens", "cost_data.total_tokens", "total_tokens"}
	costFrom       = []string{"cost_usd", "cost_data.cost_usd", "cost_data.total_cost", "cost_data.total_cost_usd", "total_cost", "total_cost_usd"}
)

// facts extracts the Facts of a scanned payload. Numbers may be JSON numbers
// or strings holding one ("1834", " 0.0127 "). When the payload gives prompt
// and completion tokens but no total, the total is their sum.
func (sc *scanned) facts() Facts {
	var f Facts
	f.PromptTokens = sc.count(promptFrom)
	f.CompletionTokens = sc.count(completionFrom)
	f.TotalTokens = sc.count(totalFrom)
	if f.TotalTokens == nil && f.PromptTokens != nil && f.CompletionTokens != nil {
		if sum := *f.PromptTokens + *f.CompletionTokens; sum >= 0 { // no overflow
			f.TotalTokens = &sum
		}
	}
	for _, name := range costFrom {
		if v, ok := sc.number(name); ok {
			f.CostUSD = &v
			break
		}
	}
	if v, ok := sc.number("duration_ms"); ok && v < math.MaxInt64/2 {
		ms := int64(math.Round(v))
		f.DurationMS = &ms
	}
	if c := sc.nested["error.category"]; c.isString {
		f.ErrorCategory = StorableText(strings.TrimSpace(c.value), MaxErrorCategoryBytes)
	}
	return f
}

// count is the first of names holding a non-negative whole number that fits
// an int64 (1834, 1834.0, "1834", 1.834e3).
func (sc *scanned) count(names []string) *int64 {
	for _, name := range names {
		v, ok := sc.number(name)
		if !ok || v != math.Trunc(v) || v >= math.MaxInt64/2 {
			continue
		}
		n := int64(v)
		return &n
	}
	return nil
}

// number reads member name ("a" top-level, "a.b" nested) as a finite
// non-negative number.
func (sc *scanned) number(name string) (float64, bool) {
	var f topField
	if obj, member, nested := strings.Cut(name, "."); nested {
		f = sc.nested[obj+"."+member]
	} else {
		f = sc.top[name]
	}
	s := f.raw
	if f.isString {
		s = strings.TrimSpace(f.value)
		// Only decimal numbers: ParseFloat also takes "Inf", "NaN",
		// hexadecimal and underscores, which no sender means.
		if s == "" || strings.ContainsFunc(s, func(r rune) bool {
			return !strings.ContainsRune("0123456789.eE+-", r)
		}) {
			return 0, false
		}
	}
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, false
	}
	return v, true
}

// addText records a string value of the payload for the search document,
// until the document's bound is reached.
func (sc *scanned) addText(s string) {
	if sc.textBytes >= MaxSearchBytes || s == "" {
		return
	}
	sc.texts = append(sc.texts, s)
	sc.textBytes += len(s)
}

// Analyze returns d with Facts and SearchText derived from its payload and
// fields, as ParsePayload sets them, for deliveries built by other means
// (tests, tools, rows stored before the columns existed). A payload that is
// not a JSON object yields no facts and a document of the fields alone.
func Analyze(d Delivery) Delivery {
	d = d.Storable()
	var texts []string
	d.Facts = Facts{}
	if sc, err := scanPayload(d.Payload, DefaultMaxDepth); err == nil {
		d.Facts = sc.facts()
		texts = sc.texts
	}
	d.SearchText = SearchDocument(d, texts)
	return d
}
