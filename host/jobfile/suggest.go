package jobfile

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// didYouMean returns a sentence suggesting the option closest to given,
// or "" when none is close. Its work is bounded: a name longer than
// suggestMaxLen gets no suggestion, and only the first suggestMaxOptions
// options near its length are compared, so a jobfile of many names and
// many mistakes costs time linear in them.
func didYouMean(given string, options []string) string {
	best := closest(given, options)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// closest is the option of didYouMean, or "".
func closest(given string, options []string) string {
	n := utf8.RuneCountInString(given)
	if n > suggestMaxLen {
		return ""
	}
	best, bestDist, compared := "", 3, 0
	for _, option := range options {
		if len(option) > (suggestMaxLen+3)*utf8.UTFMax {
			continue
		}
		if d := utf8.RuneCountInString(option) - n; d >= 3 || d <= -3 {
			continue // the distance is 3 or more
		}
		if compared++; compared > suggestMaxOptions {
			break
		}
		if d := editDistance(given, option); d < bestDist {
			best, bestDist = option, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// didYouMean is didYouMean for the first suggestMaxCalls calls of a
// load: only the first MaxDiagnostics diagnostics are shown, and a
// jobfile of thousands of mistakes must not spend its time on
// suggestions nobody reads.
func (l *loader) didYouMean(given string, options []string) string {
	if l.suggested++; l.suggested > suggestMaxCalls {
		return ""
	}
	return didYouMean(given, options)
}

// quotedList formats names as "a", "b", "c"; after the first
// quotedListMax, it says how many more there are.
func quotedList(names []string) string {
	shown := names[:min(len(names), quotedListMax)]
	quoted := make([]string, len(shown), len(shown)+1)
	for i, name := range shown {
		quoted[i] = fmt.Sprintf("%q", name)
	}
	if len(names) > len(shown) {
		quoted = append(quoted, fmt.Sprintf("and %s more", thousands(len(names)-len(shown))))
	}
	return strings.Join(quoted, ", ")
}

// The bounds of didYouMean and quotedList.
const (
	suggestMaxLen     = 64
	suggestMaxOptions = 1000
	suggestMaxCalls   = 4 * MaxDiagnostics
	quotedListMax     = 20
)

// Suggest returns the option closest to given, for a did-you-mean of
// the command line (a mistyped task id), or "" when none is close: the
// measure and bounds of the jobfile's own suggestions.
func Suggest(given string, options []string) string {
	return closest(given, options)
}
