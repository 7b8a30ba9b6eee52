package packaging

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Options says what Build packages and where the packages go.
type Options struct {
	// Root is the repository's root: packaging/nfpm.yaml and the src
	// paths it names are found there.
	Root string
	// BinDir holds the wad and wactl binaries to ship (static builds, as
	// `make build` writes them to bin/).
	BinDir string
	// OutDir receives the packages; it is created if missing.
	OutDir string
	// Version is the package version; empty: GitVersion(Root).
	Version string
	// Arch is the Go architecture of the binaries; empty: runtime.GOARCH.
	Arch string
	// Date stamps the changelog entry and every file in the packages;
	// zero: the time of the last commit (so rebuilding one commit gives
	// the same files), or now outside a git checkout.
	Date time.Time
}

// Result names the packages Build wrote.
type Result struct {
	Version string
	Deb     string // OutDir/wad_<version>_<debarch>.deb
	RPM     string // OutDir/wad-<version>-1.<rpmarch>.rpm
}

// Formats are the package formats Build writes.
var Formats = []string{"deb", "rpm"}

// Build writes the .deb and the .rpm of wad into o.OutDir. It generates
// the shell completions by running BinDir/wactl (so they match the
// binary shipped) and the Debian changelog, then packages per
// packaging/nfpm.yaml. Errors name the step that failed; on error no
// half-written package is left in OutDir.
func Build(o Options) (Result, error) {
	var res Result
	if o.Root == "" || o.BinDir == "" || o.OutDir == "" {
		return res, errors.New("packaging: Root, BinDir and OutDir must be set")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return res, err
	}
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return res, err
	}
	for _, b := range []string{"wad", "wactl"} {
		if fi, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return res, fmt.Errorf("packaging: %w (run make build first)", err)
		} else if fi.Mode()&0o111 == 0 {
			return res, fmt.Errorf("packaging: %s is not executable", filepath.Join(bin, b))
		}
	}
	if o.Version == "" {
		if o.Version, err = GitVersion(root); err != nil {
			return res, fmt.Errorf("packaging: version: %w", err)
		}
	}
	res.Version = o.Version
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Date.IsZero() {
		o.Date = commitTime(root)
	}
	o.Date = o.Date.UTC().Truncate(time.Second)

	gen, err := os.MkdirTemp("", "wad-pkg-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(gen)
	if err := generate(gen, bin, o); err != nil {
		return res, fmt.Errorf("packaging: %w", err)
	}

	vars := map[string]string{"VERSION": o.Version, "ARCH": o.Arch, "BIN": bin, "GEN": gen}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(root, "packaging", "nfpm.yaml"), func(k string) string { return vars[k] })
	if err != nil {
		return res, fmt.Errorf("packaging: nfpm.yaml: %w", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return res, err
	}
	for _, format := range Formats {
		path, err := pack(&cfg, format, root, o)
		if err != nil {
			return res, fmt.Errorf("packaging: %s: %w", format, err)
		}
		switch format {
		case "deb":
			res.Deb = path
		case "rpm":
			res.RPM = path
		}
	}
	return res, nil
}

// pack writes one package format.
func pack(cfg *nfpm.Config, format, root string, o Options) (string, error) {
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info.MTime = o.Date
	// src paths in nfpm.yaml are relative to the repository's root.
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	for _, c := range info.Contents {
		c.Source = abs(c.Source)
		if c.FileInfo != nil {
			c.FileInfo.MTime = o.Date
		}
	}
	info.Scripts.PreInstall = abs(info.Scripts.PreInstall)
	info.Scripts.PostInstall = abs(info.Scripts.PostInstall)
	info.Scripts.PreRemove = abs(info.Scripts.PreRemove)
	info.Scripts.PostRemove = abs(info.Scripts.PostRemove)
	if format == "deb" {
		// A native package: no Debian revision. (rpm needs its release.)
		info.Release = ""
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", err
	}
	p, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	name := filepath.Join(o.OutDir, p.ConventionalFileName(info))
	tmp, err := os.CreateTemp(o.OutDir, ".wad-*."+format)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := p.Package(info, tmp); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return name, os.Rename(tmp.Name(), name)
}

// generate writes the files that come from the build: completions (from
// the wactl being shipped) and the Debian changelog.
func generate(dir, bin string, o Options) error {
	for shell, name := range map[string]string{"bash": "wactl.bash", "zsh": "_wactl", "fish": "wactl.fish"} {
		cmd := exec.Command(filepath.Join(bin, "wactl"), "completion", shell)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("wactl completion %s: %v: %s", shell, err, stderr.Bytes())
		}
		if len(out) == 0 {
			return fmt.Errorf("wactl completion %s printed nothing", shell)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "changelog.gz"), debianChangelog(o.Version, o.Date), 0o644)
}

// Maintainer is the package's maintainer, as in nfpm.yaml (the Debian
// changelog's trailer must name the same).
const Maintainer = "The wad project <wad-project@users.noreply.github.com>"

// debianChangelog returns a gzip'd (maximum compression, no name or time
// in the header, as Debian requires) one-entry changelog for version.
func debianChangelog(version string, date time.Time) []byte {
	text := fmt.Sprintf("wad (%s) unstable; urgency=medium\n\n"+
		"  * Built from the git repository; its log is the history.\n\n"+
		" -- %s  %s\n",
		version, Maintainer, date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(text))
	zw.Close()
	return buf.Bytes()
}

// commitTime is the committer time of HEAD in root, or now.
func commitTime(root string) time.Time {
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	out, err := cmd.Output()
	if err == nil {
		var sec int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &sec); err == nil {
			return time.Unix(sec, 0)
		}
	}
	return time.Now()
}
