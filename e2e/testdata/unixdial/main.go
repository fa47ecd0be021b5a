// Command unixdial connects to each Unix socket named on its command
// line and prints, one line each, the path, a tab, and "connected" or
// the error. The socket tests run it as another local user.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	for _, path := range os.Args[1:] {
		c, err := net.Dial("unix", path)
		if err != nil {
			fmt.Printf("%s\t%v\n", path, err)
			continue
		}
		c.Close()
		fmt.Printf("%s\tconnected\n", path)
	}
}
