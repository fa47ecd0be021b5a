package main
import ("io"; "github.com/spf13/cobra")
func newPacksNewCmd(stdout io.Writer) *cobra.Command { return &cobra.Command{Use: "new"} }
