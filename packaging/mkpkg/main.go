// Command mkpkg writes wad's .deb and .rpm packages (see package
// packaging): `make packages` runs it after `make build`.
//
//	go run ./packaging/mkpkg [-root DIR] [-bin DIR] [-out DIR] [-version V] [-arch GOARCH]
//
// It prints the paths of the packages it wrote, one a line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wad-project/wad/packaging"
)

func main() {
	var o packaging.Options
	flag.StringVar(&o.Root, "root", ".", "the repository's root `DIR`")
	flag.StringVar(&o.BinDir, "bin", "bin", "`DIR` holding the static wad and wactl binaries")
	flag.StringVar(&o.OutDir, "out", "dist", "output `DIR`")
	flag.StringVar(&o.Version, "version", "", "package `VERSION` (default: from git describe)")
	flag.StringVar(&o.Arch, "arch", "", "Go `ARCH` of the binaries (default: this machine's)")
	flag.Parse()
	res, err := packaging.Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkpkg:", err)
		os.Exit(1)
	}
	fmt.Println(res.Deb)
	fmt.Println(res.RPM)
}
