// Command printpack is a pack for packserver's tests, served by the SDK:
// at each Describe call it writes a line to os.Stdout and one to
// os.Stderr, which go-plugin's stdio stream carries to the host.
package main

import (
	"fmt"
	"os"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packserver"
)

type printing struct{ pack.Pack }

func (p printing) Describe() pack.Description {
	fmt.Println("describe: to stdout")
	fmt.Fprintln(os.Stderr, "describe: to stderr")
	return p.Pack.Describe()
}

func main() {
	s := sdk.NewSet("printpack", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) {})
	if !packserver.Started() {
		os.Exit(2)
	}
	packserver.Serve(printing{pack.FromSet(s)})
}
