package jobfile_test

import (
	"testing"

	"github.com/hashicorp/go-version"

	"github.com/taskhost/taskhost/host/jobfile"
)

// TestRequiredPacks: an entry of required_packs declares an installed
// pack; a pack block without a path sets its options.
func TestRequiredPacks(t *testing.T) {
	t.Parallel()
	src := `
required_packs {
  net  = { version = ">= 1.2, < 2.0" }
  dns   = { version = "~> 0.3" }
}
job "j" {}
pack "net" {
  max_parallel = 2
}
pack "local" {
  path = "bin/local"
}
task "a" {
  pack = "net"
  task = "ping"
}
task "b" {
  pack = "dns"
  task = "resolve"
}
task "c" {
  pack = "local"
  task = "x"
}
`
	job, diags := jobfile.LoadSource("/jobs/job.hcl", []byte(src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(job.RequiredPacks) != 2 || job.RequiredPacks[0].Name != "net" || job.RequiredPacks[1].Name != "dns" {
		t.Fatalf("required packs: %+v", job.RequiredPacks)
	}
	net, dns, local := job.Pack("net"), job.Pack("dns"), job.Pack("local")
	if net == nil || net.Required != job.RequiredPacks[0] || net.Path != "" || net.MaxParallel != 2 {
		t.Errorf("net: %+v", net)
	}
	if dns == nil || dns.Required != job.RequiredPacks[1] || dns.Path != "" {
		t.Errorf("dns: %+v", dns)
	}
	if local == nil || local.Required != nil || local.Path != "/jobs/bin/local" {
		t.Errorf("local: %+v", local)
	}
	for v, ok := range map[string]bool{"1.2.0": true, "1.9.9": true, "2.0.0": false, "1.1.9": false} {
		if got := net.Required.Constraints.Check(version.Must(version.NewVersion(v))); got != ok {
			t.Errorf("net allows %s: %v, want %v", v, got, ok)
		}
	}
	if dns.Required.Version != "~> 0.3" {
		t.Errorf("dns version %q", dns.Required.Version)
	}
}
