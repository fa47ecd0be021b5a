package jobfile_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

// hostile is a jobfile that asks the loader for more than its limits.
type hostile struct {
	// src is the jobfile; files are written next to it, and fifos made
	// there.
	src   string
	files map[string]string
	fifos []string
	// sparse names a file made next to the jobfile of 20 GB with no data.
	sparse string
	opts   jobfile.Options
	// want is the summary of the diagnostic the load must give; line, if
	// not 0, its line in the jobfile. An empty want means the jobfile is
	// valid.
	want string
	line int
	// work, if not 0, is the work limit to load with instead of
	// MaxWork (LoadWithWork): one case passes the real limit.
	work int
}

const hostileHead = "job \"j\" {}\npack \"p\" { path = \"p\" }\n"

// hostileJobfiles returns the jobfiles that crashed or hung the loader
// before it had limits, and others of the same causes, by name. Paths in
// opts that start with "./" are relative to the jobfile's directory.
func hostileJobfiles() map[string]hostile {
	local := func(expr string) string { return hostileHead + "locals {\n  x = " + expr + "\n}\n" }
	nest := func(open, mid, close string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString(hostileHead + "locals {\nl0=1\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "l%d=local.l%d\n", i, i-1)
		}
		b.WriteString("}\n")
		return b.String()
	}
	independent := func(n int) string {
		var b strings.Builder
		b.WriteString(hostileHead + "locals {\n")
		for i := range n {
			fmt.Fprintf(&b, "  l%d = %d\n", i, i)
		}
		b.WriteString("}\n")
		return b.String()
	}
	tooDeep := "Nested too deeply"
	numVar := "variable \"n\" {\n  type = number\n}\n" + hostileHead
	listVar := "variable \"n\" {\n  type = list(any)\n}\n" + hostileHead
	anyVar := "variable \"n\" {\n  type    = any\n  default = 1\n}\n" + hostileHead
	return map[string]hostile{
		// Nesting 100,000 deep overflowed the stack (a fatal error).
		"nested lists":          {src: local(nest("[", "", "]", 100_000)), want: tooDeep, line: 4},
		"nested objects":        {src: local(nest("{a=", "1", "}", 20_000)), want: tooDeep, line: 4},
		"nested parentheses":    {src: local(nest("(", "1", ")", 20_000)), want: tooDeep, line: 4},
		"nested calls":          {src: local(nest("abs(", "1", ")", 100_000)), want: tooDeep, line: 4},
		"nested nots":           {src: local(strings.Repeat("!", 100_000) + "true"), want: tooDeep, line: 4},
		"nested negations":      {src: local(strings.Repeat("-", 100_000) + "1"), want: tooDeep, line: 4},
		"nested ifs":            {src: local(`"` + nest("%{if true}", "x", "%{endif}", 25_000) + `"`), want: tooDeep, line: 4},
		"nested template fors":  {src: local(`"` + nest("%{for a in [1]}", "x", "%{endfor}", 20_000) + `"`), want: tooDeep, line: 4},
		"nested interpolations": {src: local(`"` + nest(`${"`, "x", `"}`, 20_000) + `"`), want: tooDeep, line: 4},
		"nested blocks":         {src: hostileHead + nest("a {\n", "", "}\n", 20_000), want: tooDeep},
		"long sum":              {src: local("1" + strings.Repeat("+1", 20_000)), want: tooDeep, line: 4},
		"long index chain":      {src: local("[1]" + strings.Repeat("[0]", 20_000)), want: tooDeep, line: 4},
		"long conditional":      {src: local(strings.Repeat("true ? 1 : ", 40_000) + "1"), want: tooDeep, line: 4},
		"nested json var file": {src: anyVar, files: map[string]string{"v.json": `{"n": ` + nest("[", "", "]", 100_000) + "}"},
			opts: jobfile.Options{VarFiles: []string{"./v.json"}}, want: tooDeep},
		"nested hcl var file": {src: anyVar, files: map[string]string{"v.tfvars": "n = " + nest("[", "", "]", 100_000) + "\n"},
			opts: jobfile.Options{VarFiles: []string{"./v.tfvars"}}, want: tooDeep},
		"nested -var":            {src: listVar, opts: jobfile.Options{Vars: map[string]string{"n": nest("[", "", "]", 30_000)}}, want: tooDeep},
		"nested environment":     {src: listVar, opts: jobfile.Options{Environ: []string{"TASKHOST_VAR_n=" + nest("[", "", "]", 30_000)}}, want: tooDeep},
		"nested template file":   {src: local(`templatefile("t.tpl", {})`), files: map[string]string{"t.tpl": nest("%{if true}", "x", "%{endif}", 20_000)}, want: "Error in function call", line: 4},
		"templatefile in a loop": {src: local(`[for i in range(1000) : templatefile("t.tpl", {})]`), files: map[string]string{"t.tpl": strings.Repeat("x", 500_000)}, work: 100_000, want: "Too much work", line: 4},
		"nested jsondecode":      {src: local(`jsondecode(file("d.json"))`), files: map[string]string{"d.json": nest("[", "", "]", 100_000)}, want: tooDeep, line: 4},
		"nested yamldecode":      {src: local(`yamldecode(file("d.yaml"))`), files: map[string]string{"d.yaml": nest("[", "", "]", 100_000)}, want: "Error in function call", line: 4},
		"nested yamldecode 5000": {src: local(`yamldecode(file("d.yaml"))`), files: map[string]string{"d.yaml": nest("[", "", "]", 5000)}, want: "Value nested too deeply", line: 4},
		"yamldecode aliases":     {src: local(`yamldecode(file("d.yaml"))`), files: map[string]string{"d.yaml": yamlLaughs(12)}, want: "Value too large", line: 4},
		"yamldecode alias depth": {src: local(`yamldecode(file("d.yaml"))`), files: map[string]string{"d.yaml": yamlChain(200)}, want: "Value nested too deeply", line: 4},
		"yamldecode number":      {src: local(`yamldecode(file("d.yaml"))`), files: map[string]string{"d.yaml": "n: " + strings.Repeat("9", 100_000) + "\n"}, want: "Number too long", line: 4},
		"deeply nested locals":   {src: hostileHead + "locals {\n  l0 = 1\n" + chainOf(200, "  l%d = [local.l%d]\n") + "}\n", want: "Value nested too deeply"},
		"source too large":       {src: local(`"` + strings.Repeat("x", jobfile.MaxSourceBytes) + `"`), want: "Failed to read jobfile"},
		"number literal":         {src: local("1e99999999"), want: "Number out of range", line: 4},
		"number literal digits":  {src: local(strings.Repeat("9", 100_000)), want: "Number too long", line: 4},
		"tiny number literal":    {src: local("1e-99999999"), want: "Number out of range", line: 4},
		"number -var":            {src: numVar, opts: jobfile.Options{Vars: map[string]string{"n": "1e99999999"}}, want: "Number out of range"},
		"number string":          {src: local(`"` + strings.Repeat("9", 100_000) + `" + 1`), want: "Number too long", line: 4},
		"number from a file":     {src: local(`tonumber(file("d.txt"))`), files: map[string]string{"d.txt": strings.Repeat("9", 3_000_000)}, want: "Number too long", line: 4},
		"number product":         {src: local("1e300 * 1e300"), want: "Operation failed", line: 4},
		"number json var file": {src: anyVar, files: map[string]string{"v.json": `{"n": 1e99999999}`},
			opts: jobfile.Options{VarFiles: []string{"./v.json"}}, want: "Number out of range"},
		// file() of a 20 GB sparse file and -var-file /dev/zero ran out of
		// memory; of a FIFO, they waited for a writer.
		"file of a sparse file":         {src: local(`file("sparse")`), sparse: "sparse", want: "Error in function call", line: 4},
		"file of a fifo":                {src: local(`file("fifo")`), fifos: []string{"fifo"}, want: "Error in function call", line: 4},
		"templatefile of a fifo":        {src: local(`templatefile("fifo", {})`), fifos: []string{"fifo"}, want: "Error in function call", line: 4},
		"var file /dev/zero":            {src: anyVar, opts: jobfile.Options{VarFiles: []string{"/dev/zero"}}, want: "Failed to read file"},
		"var file fifo":                 {src: anyVar, fifos: []string{"fifo"}, opts: jobfile.Options{VarFiles: []string{"./fifo"}}, want: "Failed to read file"},
		"var file directory":            {src: anyVar, opts: jobfile.Options{VarFiles: []string{"./"}}, want: "Failed to read file"},
		"var file too large":            {src: anyVar, sparse: "v.json", opts: jobfile.Options{VarFiles: []string{"./v.json"}}, want: "Failed to read file"},
		"-var too large":                {src: anyVar, opts: jobfile.Options{Vars: map[string]string{"n": strings.Repeat("x", jobfile.MaxSourceBytes+1)}}, want: "Value too large"},
		"for_each key too long":         {src: hostileHead + "task \"t\" {\n  for_each = toset([\"" + strings.Repeat("k", 300) + "\"])\n  pack  = \"p\"\n  task  = \"t\"\n}\n", want: "Task id too long", line: 4},
		"task label too long":           {src: hostileHead + "task \"" + strings.Repeat("t", 300) + "\" {\n  pack  = \"p\"\n  task  = \"t\"\n}\n", want: "Task id too long", line: 3},
		"count of ten billion":          {src: hostileHead + "task \"t\" {\n  count = 10000000000\n  pack  = \"p\"\n  task  = \"t\"\n}\n", want: "Too many tasks", line: 4},
		"count of tasks over the limit": {src: hostileHead + "task \"a\" {\n  count = 15000\n  pack  = \"p\"\n  task  = \"t\"\n}\ntask \"b\" {\n  count = 15000\n  pack  = \"p\"\n  task  = \"t\"\n}\n", want: "Too many tasks", line: 9},
		// Three nested for of 1,024 went round the cap of range.
		"nested fors":       {src: local("[for a in range(1024) : [for b in range(1024) : [for c in range(1024) : 1]]]"), want: "Too much work", line: 4},
		"nested dynamic":    {src: hostileHead + "task \"t\" {\n  pack = \"p\"\n  task = \"t\"\n  args {\n    dynamic \"a\" {\n      for_each = range(1000)\n      content {\n        dynamic \"b\" {\n          for_each = range(1000)\n          content {\n            x = 1\n          }\n        }\n      }\n    }\n  }\n}\n", want: "Value too large"},
		"setproduct":        {src: local("setproduct(range(1024), range(1024), range(1024))"), want: "Value too large", line: 4},
		"nested try":        {src: local(nest("try(", "1", ")", 60)), work: 100_000, want: "Too much work", line: 4},
		"wide format":       {src: local(`format("%0999999999d", 1)`), want: "Format width too large", line: 4},
		"replace blow-up":   {src: local(`replace(join("", [for i in range(1000) : "xxxxxxxxxx"]), "", join("", [for i in range(1000) : "xxxxxxxxxx"]))`), want: "Value too large", line: 4},
		"join blow-up":      {src: local(`join(join("", [for i in range(1000) : "xxxxxxxxxxxxxxxxxxxxx"]), range(1000))`), want: "Value too large", line: 4},
		"template blow-up":  {src: hostileHead + "locals {\n  s = join(\"\", [for i in range(1000) : \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"])\n  x = \"" + strings.Repeat("${local.s}", 20_000) + "\"\n}\n", work: 100_000, want: "Too much work", line: 5},
		"shared values":     {src: hostileHead + "locals {\n  a = [for i in range(99) : range(1000)]\n  b = [" + strings.Repeat("local.a, ", 2_000) + "]\n}\n", want: "Value too large", line: 5},
		"shared task args":  {src: hostileHead + "locals {\n  a = [for i in range(99) : range(1000)]\n}\ntask \"t\" {\n  count = 20000\n  pack  = \"p\"\n  task  = \"t\"\n  args  = { x = local.a }\n}\n", work: 100_000, want: "Too much work"},
		"dependencies":      {src: hostileHead + "task \"a\" {\n  count = 10000\n  pack = \"p\"\n  task = \"t\"\n  depends_on = [task.b]\n}\ntask \"b\" {\n  count = 10000\n  pack = \"p\"\n  task = \"t\"\n}\n", work: 100_000, want: "Too much work", line: 7},
		"distinct of many":  {src: local("distinct(flatten([for i in range(1000) : [for j in range(90) : i * 1000 + j]]))")},
		"huge for_each":     {src: hostileHead + "task \"t\" {\n  for_each = toset([for i in range(1000) : tostring(i)])\n  pack = \"p\"\n  task = \"t\"\n  args = { x = [for j in range(1000) : j] }\n}\n", work: 100_000, want: "Too much work"},
		"csvdecode":         {src: local(`csvdecode(join("\n", [for i in range(500) : "c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14,c15,c16,c17,c18,c19,c20,c21,c22,c23,c24,c25,c26,c27,c28,c29,c30,c31,c32,c33,c34,c35,c36,c37,c38,c39,c40,c41,c42,c43,c44,c45,c46,c47,c48,c49,c50,c51,c52,c53,c54,c55,c56,c57,c58,c59,c60,c61,c62,c63,c64,c65,c66,c67,c68,c69,c70,c71,c72,c73,c74,c75,c76,c77,c78,c79,c80,c81,c82,c83,c84,c85,c86,c87,c88,c89,c90,c91,c92,c93,c94,c95,c96,c97,c98,c99,c100,c101,c102,c103,c104,c105,c106,c107,c108,c109,c110,c111,c112,c113,c114,c115,c116,c117,c118,c119,c120,c121,c122,c123,c124,c125,c126,c127,c128,c129,c130,c131,c132,c133,c134,c135,c136,c137,c138,c139,c140,c141,c142,c143,c144,c145,c146,c147,c148,c149,c150,c151,c152,c153,c154,c155,c156,c157,c158,c159,c160,c161,c162,c163,c164,c165,c166,c167,c168,c169,c170,c171,c172,c173,c174,c175,c176,c177,c178,c179,c180,c181,c182,c183,c184,c185,c186,c187,c188,c189,c190,c191,c192,c193,c194,c195,c196,c197,c198,c199,c200"]))`), want: "Value too large", line: 4},
		"regexall of empty": {src: local(`regexall("", join("", [for i in range(1000) : "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]))`), want: "Value too large", line: 4},
		// Locals took time quadratic in their number.
		"chain of 26,000 locals":       {src: chain(26_000)},
		"30,000 independent locals":    {src: independent(30_000)},
		"chain of locals with a cycle": {src: chain(2_000) + "locals {\n  c1 = local.c2\n  c2 = local.c1\n}\n", want: "Cycle in local values"},
	}
}

// chainOf repeats format (with %d twice: i+1, i) n times.
func chainOf(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i+1, i)
	}
	return b.String()
}

// loadHostile writes h to a new directory and loads it, failing the test
// if the load does not end within a minute (it used to hang).
func loadHostile(t *testing.T, h hostile) (string, *jobfile.Job, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "job.hcl")
	if err := os.WriteFile(path, []byte(h.src), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range h.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range h.fifos {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if h.sparse != "" {
		if err := os.Truncate(createEmpty(t, filepath.Join(dir, h.sparse)), 20<<30); err != nil {
			t.Fatal(err)
		}
	}
	opts := h.opts
	opts.VarFiles = nil
	for _, f := range h.opts.VarFiles {
		if strings.HasPrefix(f, "./") {
			f = filepath.Join(dir, f)
		}
		opts.VarFiles = append(opts.VarFiles, f)
	}
	type result struct {
		job   *jobfile.Job
		diags hcl.Diagnostics
	}
	done := make(chan result, 1)
	go func() {
		var job *jobfile.Job
		var diags hcl.Diagnostics
		if h.work > 0 {
			job, diags = jobfile.LoadWithWork(path, opts, h.work)
		} else {
			job, diags = jobfile.LoadWith(path, opts)
		}
		done <- result{job, diags}
	}()
	select {
	case r := <-done:
		return path, r.job, r.diags
	case <-time.After(time.Minute):
		t.Fatalf("the load did not end within a minute")
		return "", nil, nil
	}
}

func createEmpty(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// TestHostileJobfiles loads each hostile jobfile and checks that it ends,
// refused with the diagnostic of the limit it passes (on its line, for a
// limit in the jobfile itself), with at most MaxDiagnostics diagnostics
// and one more, and that they write out in bounded space.
func TestHostileJobfiles(t *testing.T) {
	t.Parallel()
	for name, h := range hostileJobfiles() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, job, diags := loadHostile(t, h)
			if len(diags) > jobfile.MaxDiagnostics+1 {
				t.Errorf("%d diagnostics, want at most %d", len(diags), jobfile.MaxDiagnostics+1)
			}
			var out bytes.Buffer
			if err := jobfile.WriteDiagnostics(&out, nil, diags); err != nil {
				t.Fatal(err)
			}
			if out.Len() > 64<<10 {
				t.Errorf("%d bytes of diagnostics", out.Len())
			}
			if h.want == "" {
				if diags.HasErrors() || job == nil {
					t.Fatalf("want a valid jobfile, got:\n%s", out.String())
				}
				return
			}
			if job != nil || !diags.HasErrors() {
				t.Fatalf("want %q, got a job", h.want)
			}
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Summary == h.want {
					found = d
					break
				}
			}
			if found == nil {
				t.Fatalf("want a diagnostic %q, got:\n%s", h.want, out.String())
			}
			if h.line > 0 {
				if s := found.Subject; s == nil || s.Filename != path || s.Start.Line != h.line {
					t.Errorf("want %q on %s line %d, got %v:\n%s", h.want, path, h.line, s, out.String())
				}
			}
		})
	}
}

// TestLinearLocals checks that locals are evaluated once each, in the
// order they need: a chain of 20,000, written last to first, loads with
// the right value at its end.
func TestLinearLocals(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(hostileHead + "locals {\n")
	const n = 20_000
	for i := n; i > 0; i-- {
		fmt.Fprintf(&b, "l%d=local.l%d+1\n", i, i-1)
	}
	b.WriteString("l0=0\n}\ntask \"t\" {\n  pack = \"p\"\n  task = \"t\"\n" + fmt.Sprintf("  args = { n = local.l%d }\n}\n", n))
	_, job, diags := loadHostile(t, hostile{src: b.String()})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := job.Tasks[0].Args["n"]; !got.RawEquals(cty.NumberIntVal(n)) {
		t.Errorf("local.l%d = %#v, want %d", n, got, n)
	}
}

// TestDiagnosticsCapped checks that a jobfile with 200 errors gives the
// first MaxDiagnostics and one that counts the rest, that ErrorCount
// counts them all, and that WriteDiagnostics caps what it is given too.
func TestDiagnosticsCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(hostileHead)
	for i := range 200 {
		fmt.Fprintf(&b, "task \"t%d\" {\n  pack = \"nope%d\"\n  task = \"t\"\n}\n", i, i)
	}
	_, job, diags := loadHostile(t, hostile{src: b.String()})
	if job != nil {
		t.Fatal("want errors")
	}
	if len(diags) != jobfile.MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics, want %d", len(diags), jobfile.MaxDiagnostics+1)
	}
	if got, want := diags[len(diags)-1].Summary, "And 150 more errors"; got != want {
		t.Errorf("last diagnostic %q, want %q", got, want)
	}
	if n := jobfile.ErrorCount(diags); n != 200 {
		t.Errorf("ErrorCount = %d, want 200", n)
	}
	many := make(hcl.Diagnostics, 1000)
	for i := range many {
		many[i] = &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprint("e", i)}
	}
	var out bytes.Buffer
	if err := jobfile.WriteDiagnostics(&out, nil, many); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "Error: "); n != jobfile.MaxDiagnostics+1 {
		t.Errorf("%d diagnostics written, want %d", n, jobfile.MaxDiagnostics+1)
	}
	if !strings.Contains(out.String(), "Error: And 950 more errors") {
		t.Errorf("no count of the rest in:\n%s", out.String())
	}
}

// TestRandomBytes loads 100 KB of random bytes, which gave 4,775
// diagnostics that took 23 to 40 s to write.
func TestRandomBytes(t *testing.T) {
	t.Parallel()
	src := make([]byte, 100<<10)
	seed := uint64(14)
	for i := range src {
		seed = seed*6364136223846793005 + 1442695040888963407
		src[i] = byte(seed >> 56)
	}
	_, job, diags := loadHostile(t, hostile{src: string(src)})
	if job != nil || len(diags) > jobfile.MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics", len(diags))
	}
	var out bytes.Buffer
	if err := jobfile.WriteDiagnostics(&out, nil, diags); err != nil {
		t.Fatal(err)
	}
	if out.Len() > 64<<10 {
		t.Errorf("%d bytes of diagnostics", out.Len())
	}
}

// TestSnippetOfALongLine checks that the snippet of a diagnostic on a
// line of a megabyte shows a window of it.
func TestSnippetOfALongLine(t *testing.T) {
	t.Parallel()
	src := hostileHead + "locals {\n  x = [" + strings.Repeat("1, ", 50_000) + "nope]\n}\n"
	_, _, diags := loadHostile(t, hostile{src: src})
	var out bytes.Buffer
	if err := jobfile.WriteDiagnostics(&out, nil, diags); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Variables not allowed") && !strings.Contains(out.String(), "Unknown variable") {
		t.Fatalf("want the error on nope, got:\n%s", out.String())
	}
	if out.Len() > 4<<10 {
		t.Errorf("%d bytes of diagnostics:\n%.2000s", out.Len(), out.String())
	}
	if !strings.Contains(out.String(), "| …, 1, 1, ") || !strings.Contains(out.String(), "1, nope]\n") {
		t.Errorf("want a window around nope, got:\n%s", out.String())
	}
}

// TestDeferredArgsLimits checks that args evaluated when a task starts,
// from other tasks' outputs, are held to the same limits: three nested
// for over an output of 1,000 elements end with an error, the reason the
// task does not start.
func TestDeferredArgsLimits(t *testing.T) {
	t.Parallel()
	src := hostileHead + `task "s" {
  pack = "p"
  task = "s"
}
task "c" {
  pack = "p"
  task = "c"
  args = { x = [for a in task.s.output.l : [for b in task.s.output.l : [for c in task.s.output.l : 1]]] }
}
`
	_, job, diags := loadHostile(t, hostile{src: src, work: 100_000})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	l := make([]cty.Value, 1000)
	for i := range l {
		l[i] = cty.NumberIntVal(int64(i))
	}
	outputs := func(string) map[string]cty.Value { return map[string]cty.Value{"l": cty.ListVal(l)} }
	done := make(chan error, 1)
	go func() {
		_, err := job.Task("c").EvalDeferred(outputs)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "too much work") {
			t.Fatalf("want too much work, got %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("EvalDeferred did not end within a minute")
	}
}

// The caller's MaxTasks and MaxWork replace the limits of those names:
// a job over the default is loaded with a higher one, and a lower one
// refuses a job within the default.
func TestCallerSetsTaskAndWorkLimits(t *testing.T) {
	t.Parallel()
	src := []byte("job \"j\" {}\npack \"p\" { path = \"p\" }\ntask \"t\" {\n  count = 25000\n  pack  = \"p\"\n  task  = \"t\"\n}\n")
	if _, diags := jobfile.LoadSourceWith("job.hcl", src, jobfile.Options{}); !strings.Contains(diags.Error(), "Too many tasks") {
		t.Fatalf("25,000 tasks under the default limit: %v, want Too many tasks", diags)
	}
	job, diags := jobfile.LoadSourceWith("job.hcl", src, jobfile.Options{MaxTasks: 30000})
	if diags.HasErrors() || len(job.Tasks) != 25000 {
		t.Fatalf("25,000 tasks under MaxTasks 30,000: %v", diags)
	}
	small := []byte("job \"j\" {}\nlocals {\n  x = [for i in range(1000) : [for j in range(5) : i * j]]\n}\n")
	if _, diags := jobfile.LoadSourceWith("job.hcl", small, jobfile.Options{}); diags.HasErrors() {
		t.Fatalf("a small for under the default work limit: %v", diags)
	}
	if _, diags := jobfile.LoadSourceWith("job.hcl", small, jobfile.Options{MaxWork: 1000}); !strings.Contains(diags.Error(), "Too much work") {
		t.Fatalf("the same under MaxWork 1,000: %v, want Too much work", diags)
	}
}

// yamlLaughs is YAML whose aliases stand for 10^levels elements in a few
// lines ("billion laughs").
func yamlLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// yamlChain is YAML in which each anchor nests the one before it, n deep.
func yamlChain(n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x]\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d]\n", i, i, i-1)
	}
	return b.String()
}
