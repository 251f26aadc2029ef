package callback

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The search document of a callback is its words, in one normal form that
// both databases index as they are, so that a query finds the same
// callbacks on SQLite and PostgreSQL: each run of letters and digits
// (Unicode categories L and N) of the event type, job id, step id, workflow
// name, error message and the payload's string values, lower-cased rune by
// rune, cut to MaxWordBytes, separated by single spaces, with a space before
// the first and after the last word. SQLite indexes it with FTS5's ascii
// tokenizer (which splits exactly at those spaces and keeps every other
// character), PostgreSQL with a GIN index of the words between the spaces
// (and LIKE patterns over the document for phrases and prefixes).
const (
	// MaxWordBytes bounds one word of the document and of a query: longer
	// words are cut, so a query for a long word still finds it.
	MaxWordBytes = 64
	// MaxSearchBytes bounds the document: the payload's text beyond it is
	// not searchable (the fields come first, so they always are).
	MaxSearchBytes = 16 << 10
	// MaxQueryTerms bounds the terms of a query.
	MaxQueryTerms = 16
	// MaxQueryBytes bounds a query's text.
	MaxQueryBytes = 512
)

// SearchDocument returns the search document of a delivery whose fields
// passed the column rule, with texts the payload's string values.
func SearchDocument(d Delivery, texts []string) string {
	b := make([]byte, 1, 256)
	b[0] = ' '
	var full bool
	for _, s := range []string{d.EventType, d.ExternalJobID, d.StepID, d.WorkflowName, d.ErrorMessage} {
		if b, full = appendWords(b, s); full {
			return string(b)
		}
	}
	for _, s := range texts {
		if b, full = appendWords(b, s); full {
			break
		}
	}
	return string(b)
}

// appendWords appends the words of s to the document doc, each followed by
// a space, and reports whether the document is full: a word that would take
// it past MaxSearchBytes is left out, with everything after it. It runs on
// every delivery, so ASCII, the common case, takes a path without rune
// decoding or allocation.
func appendWords(doc []byte, s string) ([]byte, bool) {
	start := len(doc) // of the current word
	flush := func() bool {
		if len(doc) == start {
			return true
		}
		if len(doc)+1 > MaxSearchBytes {
			doc = doc[:start]
			return false
		}
		doc = append(doc, ' ')
		start = len(doc)
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				if !flush() {
					return doc, true
				}
				continue
			}
			if len(doc)-start < MaxWordBytes {
				doc = append(doc, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsNumber(r)) {
			if !flush() {
				return doc, true
			}
			continue
		}
		r = unicode.ToLower(r)
		if len(doc)-start+utf8.RuneLen(r) <= MaxWordBytes {
			doc = utf8.AppendRune(doc, r)
		} else {
			// The rest of an over-long word is cut: no later, shorter
			// rune may fill the gap.
			for ; i < len(s); i += size {
				r, size = utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsNumber(r)) {
					break
				}
			}
		}
	}
	return doc, !flush()
}

// Words splits s into the words of the search document's normal form.
func Words(s string) []string {
	doc, _ := appendWords([]byte{' '}, s)
	return strings.Fields(string(doc))
}

// SearchTerm is one term of a parsed query. A callback matches it when the
// words of Words appear consecutively in its search document, the last one
// as a prefix when Prefix is set; a term typed without quotes also matches
// a callback whose job id begins with JobIDPrefix, exactly as typed.
type SearchTerm struct {
	Words       []string
	Prefix      bool
	JobIDPrefix string // "" for a quoted phrase
}

// ParseQuery parses the query syntax of ListQuery.Query: terms separated by
// spaces, all of which must match. A term is a word (timeout), a word
// ending in * for a prefix (time*), or a "quoted phrase" (words in this
// order). Case and punctuation do not matter: a word holding punctuation
// (gpt-4o, 7b0c5bd8-54a6) is the phrase of its parts. A term without any
// letter or digit is ignored; an unclosed quote runs to the end. Queries
// longer than MaxQueryBytes or with more than MaxQueryTerms terms are
// refused with an error wrapping ErrBadQuery.
func ParseQuery(q string) ([]SearchTerm, error) {
	if len(q) > MaxQueryBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadQuery, MaxQueryBytes)
	}
	q = StorableText(q, 0)
	var terms []SearchTerm
	for q = strings.TrimSpace(q); q != ""; q = strings.TrimSpace(q) {
		var t SearchTerm
		if q[0] == '"' {
			phrase, rest, _ := strings.Cut(q[1:], `"`)
			t.Words, q = Words(phrase), rest
		} else {
			word := q
			if i := strings.IndexFunc(q, unicode.IsSpace); i >= 0 {
				word, q = q[:i], q[i:]
			} else {
				q = ""
			}
			if strings.HasSuffix(word, "*") {
				word = strings.TrimRight(word, "*")
				t.Prefix = true
			}
			t.Words = Words(word)
			t.JobIDPrefix = StorableText(word, MaxJobIDBytes)
		}
		if len(t.Words) == 0 {
			continue
		}
		if len(terms) == MaxQueryTerms {
			return nil, fmt.Errorf("%w: more than %d terms", ErrBadQuery, MaxQueryTerms)
		}
		terms = append(terms, t)
	}
	return terms, nil
}
