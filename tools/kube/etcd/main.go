// etcd for the test control plane: the etcd server's own entry point behind a few-line main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
