package packaging

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestPackageNames prevents `make packages` writing files whose names do
// not say the version and architecture (what the README's install
// commands and CI artefacts rely on).
func TestPackageNames(t *testing.T) {
	b := packages(t)
	v := regexp.QuoteMeta(b.res.Version)
	if !regexp.MustCompile(`/wad_` + v + `_[a-z0-9]+\.deb$`).MatchString(b.res.Deb) {
		t.Errorf("deb named %s", b.res.Deb)
	}
	if !regexp.MustCompile(`/wad-` + v + `-1\.[a-z0-9_]+\.rpm$`).MatchString(b.res.RPM) {
		t.Errorf("rpm named %s", b.res.RPM)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(b.res.Deb), ".wad-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left in the output dir: %v", left)
	}
}

// TestLintian prevents a .deb that Debian's checker rejects: lintian must
// report no error, and every shipped override must still match a tag (a
// stale override hides nothing and only misleads).
func TestLintian(t *testing.T) {
	need(t, "lintian")
	b := packages(t)
	cmd := exec.Command("lintian", "--fail-on", "error", "--display-level", ">=info", b.res.Deb)
	out, err := cmd.CombinedOutput()
	t.Logf("lintian:\n%s", out)
	if err != nil {
		t.Fatalf("lintian failed: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") || strings.Contains(line, "unused-override") || strings.Contains(line, "mismatched-override") {
			t.Errorf("lintian: %s", line)
		}
	}
}

// TestDebControl prevents a .deb without its conffiles (an upgrade would
// overwrite the admin's config) or its maintainer scripts.
func TestDebControl(t *testing.T) {
	need(t, "dpkg-deb")
	b := packages(t)
	out, err := run("", nil, "dpkg-deb", "-f", b.res.Deb, "Package", "Version", "Architecture", "Depends")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: wad", "Version: " + b.res.Version, "Depends: systemd"} {
		if !strings.Contains(out, want) {
			t.Errorf("control lacks %q:\n%s", want, out)
		}
	}
	ctrl := filepath.Join(t.TempDir(), "control")
	if _, err := run("", nil, "dpkg-deb", "-e", b.res.Deb, ctrl); err != nil {
		t.Fatal(err)
	}
	conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/wad/wad.toml", "/etc/default/wad"} {
		if !strings.Contains(string(conffiles), f+"\n") {
			t.Errorf("conffiles lacks %s:\n%s", f, conffiles)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctrl, s))
		if err != nil {
			t.Errorf("no %s: %v", s, err)
			continue
		}
		if fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
		if _, err := run("", nil, "sh", "-n", filepath.Join(ctrl, s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// TestDebFiles prevents a package missing a file the units, the docs or
// the shells expect, or shipping a dynamically linked binary.
func TestDebFiles(t *testing.T) {
	b := packages(t)
	for path, mode := range map[string]fs.FileMode{
		"usr/bin/wad":                                       0o755,
		"usr/bin/wactl":                                     0o755,
		"usr/lib/systemd/system/wad.service":                0o644,
		"usr/lib/systemd/system/wad.socket":                 0o644,
		"usr/lib/sysusers.d/wad.conf":                       0o644,
		"usr/lib/tmpfiles.d/wad.conf":                       0o644,
		"etc/wad/wad.toml":                                  0o644,
		"etc/default/wad":                                   0o644,
		"usr/share/bash-completion/completions/wactl":       0o644,
		"usr/share/zsh/vendor-completions/_wactl":           0o644,
		"usr/share/fish/vendor_completions.d/wactl.fish":    0o644,
		"usr/share/doc/wad/copyright":                       0o644,
		"usr/share/doc/wad/changelog.gz":                    0o644,
		"usr/share/doc/wad/README.md":                       0o644,
		"usr/share/doc/wad/examples/wad_client.py":          0o644,
		"usr/share/doc/wad/examples/wad-client.js":          0o644,
		"usr/share/doc/wad/examples/webhook-receiver.py":    0o644,
		"usr/share/doc/wad/examples/webhook-receiver.js":    0o644,
		"usr/share/doc/wad/examples/prometheus.yml":         0o644,
		"usr/share/doc/wad/examples/grafana-dashboard.json": 0o644,
		"usr/share/lintian/overrides/wad":                   0o644,
	} {
		fi, err := os.Stat(filepath.Join(b.root, path))
		if err != nil {
			t.Errorf("missing /%s", path)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("/%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (st.Uid != 0 || st.Gid != 0) && os.Getuid() == 0 {
			t.Errorf("/%s is owned by %d:%d, want root:root", path, st.Uid, st.Gid)
		}
	}
	for _, bin := range []string{"usr/bin/wad", "usr/bin/wactl"} {
		// A static binary has no program interpreter (PT_INTERP).
		out, err := run("", nil, "readelf", "-l", filepath.Join(b.root, bin))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "INTERP") {
			t.Errorf("/%s is dynamically linked", bin)
		}
	}
}

// TestShippedConfig prevents a conffile the daemon refuses: the packaged
// /etc/wad/wad.toml must pass `wad check-config` and point at the paths
// the units use.
func TestShippedConfig(t *testing.T) {
	b := packages(t)
	conf := filepath.Join(b.root, "etc/wad/wad.toml")
	out, err := run("", nil, filepath.Join(b.bin, "wad"), "check-config", "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "socket /run/wad/wad.sock, state_dir /var/lib/wad") {
		t.Errorf("check-config: %s", out)
	}
	same, err := os.ReadFile(filepath.Join(repoRoot, "contrib/wad.toml"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(conf)
	if string(got) != string(same) {
		t.Error("/etc/wad/wad.toml differs from contrib/wad.toml (one source of truth)")
	}
}

// TestShippedCompletions prevents stale or broken completions: the
// packaged scripts are what the shipped wactl generates, and each shell
// parses its own.
func TestShippedCompletions(t *testing.T) {
	need(t, "bash", "zsh", "fish")
	b := packages(t)
	for shell, path := range map[string]string{
		"bash": "usr/share/bash-completion/completions/wactl",
		"zsh":  "usr/share/zsh/vendor-completions/_wactl",
		"fish": "usr/share/fish/vendor_completions.d/wactl.fish",
	} {
		want, err := run("", nil, filepath.Join(b.root, "usr/bin/wactl"), "completion", shell)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(b.root, path))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("/%s is not `wactl completion %s`", path, shell)
		}
		if _, err := run("", nil, shell, "-n", filepath.Join(b.root, path)); err != nil {
			t.Errorf("%s -n /%s: %v", shell, path, err)
		}
	}
}

// TestRPM prevents an .rpm without its scriptlets or with a config file
// that an upgrade would overwrite: rpm must list the post, preun and
// postun scriptlets, and /etc/wad/wad.toml as config(noreplace).
func TestRPM(t *testing.T) {
	need(t, "rpm")
	b := packages(t)
	out, err := run("", nil, "rpm", "-qp", "--scripts", "--configfiles", b.res.RPM)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rpm -qp --scripts --configfiles:\n%s", out)
	for _, want := range []string{
		"postinstall scriptlet", "systemd-sysusers wad.conf", "systemctl --no-reload preset wad.socket wad.service",
		"preuninstall scriptlet", "disable --now wad.service wad.socket",
		"postuninstall scriptlet", "daemon-reload",
		"\n/etc/wad/wad.toml\n", "\n/etc/sysconfig/wad\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rpm output lacks %q", want)
		}
	}
	flags, err := run("", nil, "rpm", "-qp", "--qf", `[%{FILEFLAGS:fflags} %{FILENAMES}\n]`, b.res.RPM)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/wad/wad.toml", "/etc/sysconfig/wad"} {
		if !regexp.MustCompile(`(?m)^c\S*n\S* ` + regexp.QuoteMeta(f) + `$`).MatchString(flags) {
			t.Errorf("%s is not config(noreplace):\n%s", f, flags)
		}
	}
	info, err := run("", nil, "rpm", "-qp", "--qf", `%{NAME} %{VERSION} %{RELEASE}`, b.res.RPM)
	if err != nil {
		t.Fatal(err)
	}
	if want := "wad " + b.res.Version + " 1"; info != want {
		t.Errorf("rpm says %q, want %q", info, want)
	}
}

// unitRoot returns a root for systemd-analyze --root: the extracted
// package plus the host's units (targets the wad units name) and
// /bin/kill (ExecReload).
func unitRoot(t *testing.T) string {
	t.Helper()
	b := packages(t)
	root := t.TempDir()
	if _, err := run("", nil, "cp", "-a", b.root+"/.", root); err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(root, "usr/lib/systemd/system")
	if _, err := run("", nil, "cp", "-an", "/usr/lib/systemd/system/.", units); err != nil {
		t.Fatal(err)
	}
	kill, err := exec.LookPath("kill")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run("", nil, "cp", kill, filepath.Join(root, "usr/bin/kill")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	return root
}

// analyzeVerify runs systemd-analyze verify on units inside root and
// returns its complaints (none: "").
func analyzeVerify(root string, units ...string) (string, error) {
	cmd := exec.Command("systemd-analyze", append([]string{"verify", "--root=" + root}, units...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestUnitsVerify prevents units that systemd would load with warnings or
// refuse (unknown keys, missing executables, bad dependencies).
func TestUnitsVerify(t *testing.T) {
	need(t, "systemd-analyze")
	root := unitRoot(t)
	if out, err := analyzeVerify(root, "wad.service", "wad.socket"); err != nil || out != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check can fail: a unit naming a missing program is refused.
	broken := filepath.Join(root, "usr/lib/systemd/system/wad-broken.service")
	if err := os.WriteFile(broken, []byte("[Service]\nExecStart=/usr/bin/wad-not-there\nFrobnicate=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := analyzeVerify(root, "wad-broken.service"); err == nil && out == "" {
		t.Error("systemd-analyze verify accepted a broken unit: the check is blind")
	}
}

// exposure runs systemd-analyze security --offline on a unit file and
// returns the overall exposure level.
func exposure(t *testing.T, root, unit string) float64 {
	t.Helper()
	out, err := run("", nil, "systemd-analyze", "security", "--offline=yes", "--root="+root, "--no-pager", filepath.Join(root, "usr/lib/systemd/system", unit))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// MaxExposure is the highest `systemd-analyze security` exposure the
// issue allows for wad.service.
const MaxExposure = 2.5

// TestServiceExposure prevents hardening from eroding: wad.service must
// score at most MaxExposure (lower is safer).
func TestServiceExposure(t *testing.T) {
	need(t, "systemd-analyze")
	root := unitRoot(t)
	got := exposure(t, root, "wad.service")
	t.Logf("wad.service exposure: %.1f", got)
	if got > MaxExposure {
		t.Errorf("wad.service exposure %.1f > %.1f", got, MaxExposure)
	}
	// The measure can fail: the same unit without its hardening scores
	// far worse.
	var bare []string
	f, err := os.Open(filepath.Join(root, "usr/lib/systemd/system/wad.service"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	hardening := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# Hardening.") {
			hardening = true
		}
		if strings.HasPrefix(line, "[Install]") {
			hardening = false
		}
		if !hardening {
			bare = append(bare, line)
		}
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/wad-bare.service"), []byte(strings.Join(bare, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := exposure(t, root, "wad-bare.service"); b <= MaxExposure {
		t.Errorf("the unhardened unit scores %.1f: the exposure check is blind", b)
	}
}

// TestServiceSettings prevents the settings the issue fixes from being
// dropped, and the ones that would break Chromium or the socket's
// ownership of /run/wad from creeping in.
func TestServiceSettings(t *testing.T) {
	b := packages(t)
	svc := unitSettings(t, filepath.Join(b.root, "usr/lib/systemd/system/wad.service"))
	for key, want := range map[string]string{
		"Type":                  "notify",
		"NotifyAccess":          "main",
		"ExecStartPre":          "/usr/bin/wad reap --config /etc/wad/wad.toml",
		"ExecStart":             "/usr/bin/wad serve --config /etc/wad/wad.toml",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"User":                  "wad",
		"Group":                 "wad",
		"StateDirectory":        "wad",
		"StateDirectoryMode":    "0750",
		"WorkingDirectory":      "%S/wad",
		"KillMode":              "mixed",
		"Restart":               "on-failure",
		"WatchdogSec":           "30s",
		"RestrictNamespaces":    "user pid net",
		"SystemCallFilter":      "@system-service chroot",
		"StartLimitBurst":       "5",
		"StartLimitIntervalSec": "5min",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"ProtectSystem":         "strict",
		"Delegate":              "yes",
		"ProtectControlGroups":  "yes",
	} {
		if got, ok := svc[key]; !ok || got != want {
			t.Errorf("wad.service %s=%q, want %q", key, got, want)
		}
	}
	// Per-browser cgroups (issue 14): `wad delegate` runs as root before
	// the reaper, and the unit's own cgroup stays writable under
	// ProtectControlGroups= on v2 and v1 alike.
	unit, err := os.ReadFile(filepath.Join(b.root, "usr/lib/systemd/system/wad.service"))
	if err != nil {
		t.Fatal(err)
	}
	del := strings.Index(string(unit), "\nExecStartPre=+/usr/bin/wad delegate --user wad\n")
	if reap := strings.Index(string(unit), "\nExecStartPre=/usr/bin/wad reap "); del < 0 || del > reap {
		t.Error("wad.service lacks ExecStartPre=+/usr/bin/wad delegate --user wad before the reaper")
	}
	for _, p := range []string{"/sys/fs/cgroup/system.slice/wad.service", "/sys/fs/cgroup/memory/system.slice/wad.service"} {
		if !strings.Contains(" "+svc["ReadWritePaths"]+" ", " -"+p+" ") {
			t.Errorf("wad.service ReadWritePaths=%q lacks -%s", svc["ReadWritePaths"], p)
		}
	}
	for _, bad := range []string{"MemoryDenyWriteExecute", "RuntimeDirectory", "PrivateUsers", "DynamicUser"} {
		if v, ok := svc[bad]; ok {
			t.Errorf("wad.service sets %s=%s", bad, v)
		}
	}
	sock := unitSettings(t, filepath.Join(b.root, "usr/lib/systemd/system/wad.socket"))
	for key, want := range map[string]string{
		"ListenStream": "/run/wad/wad.sock",
		"SocketUser":   "root",
		"SocketGroup":  "wad",
		"SocketMode":   "0660",
		"WantedBy":     "sockets.target",
	} {
		if sock[key] != want {
			t.Errorf("wad.socket %s=%q, want %q", key, sock[key], want)
		}
	}
}

// unitSettings reads KEY=VALUE lines of a unit file (last one wins).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[k] = v
		}
	}
	return m
}

// TestSysusersTmpfiles prevents a user or state directory that systemd
// cannot create: systemd-sysusers and systemd-tmpfiles apply the shipped
// files to an empty root, giving a system user and group wad (no login
// shell) and /var/lib/wad owned by them, mode 0750.
func TestSysusersTmpfiles(t *testing.T) {
	need(t, "systemd-sysusers", "systemd-tmpfiles")
	if os.Getuid() != 0 {
		t.Fatal("this test creates files owned by another user: run it as root (CI does)")
	}
	b := packages(t)
	root := t.TempDir()
	for _, d := range []string{"etc", "var/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run("", nil, "systemd-sysusers", "--root="+root, filepath.Join(b.root, "usr/lib/sysusers.d/wad.conf")); err != nil {
		t.Fatal(err)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	m := regexp.MustCompile(`(?m)^wad:x:([0-9]+):([0-9]+):[^:]*:/:/usr/sbin/nologin$`).FindStringSubmatch(string(passwd))
	if m == nil {
		t.Fatalf("no system user wad in /etc/passwd:\n%s", passwd)
	}
	uid, _ := strconv.Atoi(m[1])
	gid, _ := strconv.Atoi(m[2])
	if uid >= 1000 || uid == 0 {
		t.Errorf("wad has uid %d, want a system uid", uid)
	}
	group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	if !regexp.MustCompile(`(?m)^wad:x:` + m[2] + `:`).Match(group) {
		t.Errorf("no group wad with gid %s:\n%s", m[2], group)
	}
	if _, err := run("", nil, "systemd-tmpfiles", "--root="+root, "--create", filepath.Join(b.root, "usr/lib/tmpfiles.d/wad.conf")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "var/lib/wad"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o750 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("/var/lib/wad is %v %d:%d, want 0750 %d:%d", fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
	}
}
