package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Probe timeouts: Chromium prints its version at once, and a headless
// start that dumps about:blank takes about a second on a small host.
const (
	versionTimeout = 15 * time.Second
	sandboxTimeout = 45 * time.Second
)

// chromedpNeeded reports whether a missing Chromium breaks something:
// chromedp is the default backend, a session uses it, or the state
// directory holds a chromedp profile.
func chromedpNeeded(o Options) bool {
	if o.DefaultBackend == chromedp.Name {
		return true
	}
	for _, s := range o.Sessions {
		if s.Backend == chromedp.Name {
			return true
		}
	}
	profiles, _ := filepath.Glob(filepath.Join(chromedp.AuthDir(o.StateDir), "session-*"))
	return len(profiles) > 0
}

// Chromium checks that the browser is there and reports its version. A
// missing browser fails when needed (chromedp is the default backend or
// in use) and is a warning otherwise: chromedp logins would fail. path
// is the executable, empty when there is none.
func Chromium(ctx context.Context, cfg chromedp.Config, needed bool) (path string, f ctl.Finding) {
	path, err := cfg.ExecPath()
	if err != nil {
		msg := "Chromium missing: " + strings.TrimPrefix(err.Error(), "chromedp: ")
		fix := "sudo apt install chromium (or dnf install chromium), or set [chromedp] chrome_path"
		if !needed {
			return "", warn(ctl.CheckChromium, "", msg+"; only chromedp sessions need it", fix)
		}
		return "", fail(ctl.CheckChromium, "", msg, fix)
	}
	if err := cfg.Check(); err != nil {
		return path, fail(ctl.CheckChromium, "", err.Error(), "correct the [chromedp] table of the configuration")
	}
	vctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(vctx, path, "--version")
	cmd.Stdout = &stdout
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return path, fail(ctl.CheckChromium, "", fmt.Sprintf("%s --version: %v", path, err),
			"reinstall chromium, or point [chromedp] chrome_path at a working browser")
	}
	return path, ok(ctl.CheckChromium, "", fmt.Sprintf("%s: %s", path, strings.TrimSpace(stdout.String())))
}

// sandboxFix is what to do when the sandbox does not work.
const sandboxFix = "Chromium's sandbox needs unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 " +
	"(and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu), and the unit must keep RestrictNamespaces=user pid net; " +
	"or install a setuid chrome-sandbox"

// Sandbox starts Chromium headless with its sandbox on, as u, and checks
// that it renders about:blank. As root, Chromium cannot use its sandbox:
// when u is root that is a warning (wad runs it with --no-sandbox), and
// when the caller is root and u is not, the browser runs as u. A caller
// that is neither root nor u cannot try: a warning.
func Sandbox(ctx context.Context, path string, u *user.User) ctl.Finding {
	uid, gid := ids(u)
	euid := os.Geteuid()
	switch {
	case uid == 0:
		return warn(ctl.CheckSandbox, "", "wad runs as root, so Chromium runs without its sandbox (--no-sandbox)",
			"run wad as user wad (the packaged unit does)")
	case uid < 0:
		return warn(ctl.CheckSandbox, "", "not tried: the user wad runs as is unknown", "run the check as root, or as the user wad runs as")
	case euid != 0 && euid != uid:
		return warn(ctl.CheckSandbox, "", fmt.Sprintf("not tried: only root or %s can start Chromium as %s", userName(u), u.Username),
			"run `sudo wactl doctor` to try it")
	}
	dir, err := os.MkdirTemp("", "wad-doctor-")
	if err != nil {
		return warn(ctl.CheckSandbox, "", "not tried: "+err.Error(), "make the temporary directory writable")
	}
	defer os.RemoveAll(dir)
	sctx, cancel := context.WithTimeout(ctx, sandboxTimeout)
	defer cancel()
	cmd := exec.CommandContext(sctx, path, "--headless", "--no-first-run", "--no-default-browser-check",
		"--disable-gpu", "--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "about:blank")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	if euid != uid {
		if err := os.Chown(dir, uid, gid); err != nil {
			return warn(ctl.CheckSandbox, "", "not tried: "+err.Error(), "run the check as root")
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err == nil && strings.Contains(stdout.String(), "<html") {
		return ok(ctl.CheckSandbox, "", fmt.Sprintf("Chromium starts with its sandbox on as %s", userName(u)))
	}
	if errors.Is(sctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no page within %s", sandboxTimeout)
	} else if err == nil {
		err = errors.New("it printed no page")
	}
	return fail(ctl.CheckSandbox, "", fmt.Sprintf("Chromium does not start with its sandbox on as %s: %v%s", userName(u), err, lastWords(stderr.String())), sandboxFix)
}

// lastWords picks what Chromium said about its failure: the last line
// that mentions the sandbox or a namespace, else its last line, minus
// the D-Bus noise of a host without a session bus.
func lastWords(s string) string {
	var last, sandbox string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.Contains(l, "dbus") || strings.Contains(l, "unexpected operator") {
			continue
		}
		last = l
		if ll := strings.ToLower(l); strings.Contains(ll, "sandbox") || strings.Contains(ll, "namespace") {
			sandbox = l
		}
	}
	if sandbox != "" {
		last = sandbox
	}
	if last == "" {
		return ""
	}
	if len(last) > 300 {
		last = last[:300] + "..."
	}
	return " (" + last + ")"
}
