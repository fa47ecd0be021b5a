package jobfile

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// The limits on what a jobfile may ask of the loader. A jobfile is read,
// parsed and evaluated on the host before anything runs, so one that asks
// for more than these is refused with a diagnostic on its line instead of
// exhausting the host's memory, stack or time. docs/jobfile.md lists them
// ("Limits").
const (
	// MaxSourceBytes is the most bytes of HCL source parsed from one
	// place: the jobfile, an HCL var file, a template (templatefile), and
	// a -var or TASKHOST_VAR_ value. HCL reads about a megabyte a second;
	// a larger inventory belongs in a JSON var file.
	MaxSourceBytes = 512 << 10

	// MaxFileBytes is the most bytes read from any file: what file reads,
	// and a JSON var file; the sources above are read up to it, then held
	// to MaxSourceBytes. Only regular files are read (not a FIFO, a device
	// or a directory).
	MaxFileBytes = 4 << 20

	// MaxDepth is how deeply an expression may nest: brackets, braces,
	// parentheses, blocks, strings and templates, their ${…} and %{…},
	// and operators each count one level (a + b + c is two). HCL's parser
	// and evaluator recurse once per level. It is also the most levels a
	// value may nest (a list of lists of lists is three) and a JSON var
	// file or jsondecode input.
	MaxDepth = 100

	// MaxNumberLength is the longest a number may be written, in the
	// jobfile, in a var file or value, or as a string converted to a
	// number: longer ones take time quadratic in their length to read.
	MaxNumberLength = 400

	// MaxValueElements is the most elements a value may hold, counted at
	// every level (a list of 1,000 lists of 1,000 numbers holds 1,001,000),
	// and MaxValueBytes the most bytes of text, all its strings together.
	MaxValueElements = 100_000
	MaxValueBytes    = 16 << 20

	// MaxFormatWidth is the largest width or precision in a format or
	// formatlist verb (%5d, %.3f).
	MaxFormatWidth = 10_000

	// MaxTaskIDBytes is the longest task id, a for_each key or count
	// index included: it names the task's directory, and a file name may
	// have at most 255 bytes.
	MaxTaskIDBytes = 200

	// MaxTasks is the most tasks a jobfile may make, count and for_each
	// included.
	MaxTasks = 20_000

	// MaxWork bounds the whole work of evaluating a jobfile's expressions,
	// in steps of about a microsecond: each value a for expression,
	// splat, template, operator or function call makes or takes, and each
	// value of an attribute, counts one step per element and one per 16
	// bytes of text; each task one more per attribute, and each dependency
	// between tasks one. It keeps nested for expressions (three of 1,024
	// would make a billion values) and long chains from running for
	// minutes; a load stops at the first step past it.
	MaxWork = 2_000_000

	// MaxDiagnostics is how many diagnostics a load returns; the rest are
	// summed up in one more ("and 4,725 more errors").
	MaxDiagnostics = 50
)

// limitsDoc points to where the limits are listed.
const limitsDoc = "see Limits in docs/jobfile.md"

// limitDiag is the diagnostic for a limit exceeded at rng.
func limitDiag(summary, detail string, rng *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail + " (" + limitsDoc + ").",
		Subject:  rng,
	}
}

// moreDiagnostics is the Extra of the diagnostic that stands for the
// diagnostics left out by capDiagnostics: how many errors and warnings.
type moreDiagnostics struct{ errors, warnings int }

// capDiagnostics keeps the first MaxDiagnostics of diags and sums up the
// rest in one more diagnostic, an error if any of them is.
func capDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) <= MaxDiagnostics+1 {
		return diags
	}
	var more moreDiagnostics
	for _, d := range diags[MaxDiagnostics:] {
		if m, ok := d.Extra.(moreDiagnostics); ok {
			more.errors += m.errors
			more.warnings += m.warnings
			continue
		}
		if d.Severity == hcl.DiagError {
			more.errors++
		} else {
			more.warnings++
		}
	}
	sev, what := hcl.DiagError, plural(more.errors, "more error")
	if more.errors == 0 {
		sev, what = hcl.DiagWarning, plural(more.warnings, "more warning")
	} else if more.warnings > 0 {
		what += " and " + plural(more.warnings, "more warning")
	}
	out := append(diags[:MaxDiagnostics:MaxDiagnostics], &hcl.Diagnostic{
		Severity: sev,
		Summary:  "And " + what,
		Detail:   fmt.Sprintf("Only the first %d problems are shown: fix these and check again.", MaxDiagnostics),
		Extra:    more,
	})
	return out
}

// ErrorCount is the number of errors in diags, counting those a long list
// of diagnostics left out (see MaxDiagnostics).
func ErrorCount(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if more, ok := d.Extra.(moreDiagnostics); ok {
			n += more.errors
			continue
		}
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// WarningCount is the number of warnings in diags, counting those a long
// list of diagnostics left out (see MaxDiagnostics).
func WarningCount(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if more, ok := d.Extra.(moreDiagnostics); ok {
			n += more.warnings
			continue
		}
		if d.Severity == hcl.DiagWarning {
			n++
		}
	}
	return n
}

// plural is "1 error" or "2,345 errors" (noun "error").
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// lowerFirst is s with its first letter in lower case, to follow a colon.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// tooManyTasks is the diagnostic for a task block at rng that would make
// n tasks after the blocks before it made others.
func tooManyTasks(n, others, max int, rng hcl.Range) *hcl.Diagnostic {
	detail := fmt.Sprintf("This would make %s tasks", thousands(n))
	if others > 0 {
		detail += fmt.Sprintf(", after %s made by the task blocks above", thousands(others))
	}
	return limitDiag("Too many tasks", detail+fmt.Sprintf("; a jobfile may make at most %s (--max-tasks sets another)", thousands(max)), rng.Ptr())
}
