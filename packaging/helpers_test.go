package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository's root (the tests run in packaging/).
var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}()

// scratch is removed after all tests; built packages live there.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wad-packaging-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	// systemd-analyze leaves this marker on the host; remove it if the
	// tests made it.
	const marker = "/run/systemd/systemd-units-load"
	_, err = os.Lstat(marker)
	markerExisted := err == nil
	code := m.Run()
	os.RemoveAll(dir)
	if !markerExisted {
		os.Remove(marker)
	}
	os.Exit(code)
}

type built struct {
	bin string // holds the static wad and wactl
	res Result
	// root is the .deb extracted (dpkg-deb -x).
	root string
	err  error
}

var (
	buildOnce sync.Once
	pkgs      built
)

// packages builds static binaries and both packages once per test run,
// and extracts the .deb; a failure fails every test that needs them.
func packages(t *testing.T) built {
	t.Helper()
	buildOnce.Do(func() { pkgs = buildPackages() })
	if pkgs.err != nil {
		t.Fatal(pkgs.err)
	}
	return pkgs
}

func buildPackages() (b built) {
	b.bin = filepath.Join(scratch, "bin")
	for _, name := range []string{"wad", "wactl"} {
		if _, err := run(repoRoot, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath",
			"-ldflags", "-s -w -X main.version=test", "-o", filepath.Join(b.bin, name), "./cmd/"+name); err != nil {
			b.err = err
			return
		}
	}
	b.res, b.err = Build(Options{Root: repoRoot, BinDir: b.bin, OutDir: filepath.Join(scratch, "dist"), Arch: runtime.GOARCH})
	if b.err != nil {
		return
	}
	b.root = filepath.Join(scratch, "debroot")
	_, b.err = run("", nil, "dpkg-deb", "-x", b.res.Deb, b.root)
	return b
}

// run runs a command and returns its stdout; the error carries stderr.
func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// need fails the test (never skips it) when a tool is missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run `make deps` (scripts/ensure-deps.sh installs it)", tool)
		}
	}
}
