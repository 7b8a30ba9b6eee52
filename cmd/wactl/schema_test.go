package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/openrpctest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// TestSchemaPrintsTheDaemonsDocument prevents a wactl schema that prints
// something else than the daemon discovers: the output is the daemon's
// rpc.discover document (its version, not wactl's), indented, and valid
// by the OpenRPC meta-schema.
func TestSchemaPrintsTheDaemonsDocument(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}})
	code, out, errs := wactl(t, d.Socket, "", "schema")
	if code != 0 || errs != "" {
		t.Fatalf("schema: exit %d, %q", code, errs)
	}
	var want ctl.OpenRPC
	if err := d.Client.Call(context.Background(), ctl.MethodDiscover, nil, &want); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(out)); err != nil {
		t.Fatalf("schema printed no JSON: %v\n%s", err, out)
	}
	if compact.String() != string(want) {
		t.Errorf("schema printed another document than rpc.discover answers")
	}
	if !strings.HasPrefix(out, "{\n  \"openrpc\": ") || !strings.HasSuffix(out, "}\n") {
		t.Errorf("schema's output is not indented JSON:\n%.200s", out)
	}
	if err := openrpctest.Validate([]byte(out)); err != nil {
		t.Error(err)
	}
	if v := infoVersion(t, out); v != "test" {
		t.Errorf("info.version %q, want the daemon's", v)
	}
}

// TestSchemaOfflineNeedsNoDaemon prevents --offline from asking a daemon:
// with no socket, it prints wactl's own document, of ctl.Methods and
// wactl's version, valid by the meta-schema.
func TestSchemaOfflineNeedsNoDaemon(t *testing.T) {
	code, out, errs := wactl(t, "/nonexistent/wad.sock", "", "schema", "--offline")
	if code != 0 || errs != "" {
		t.Fatalf("schema --offline: exit %d, %q", code, errs)
	}
	doc, err := openrpctest.Load([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if v := infoVersion(t, out); v != version {
		t.Errorf("info.version %q, want wactl's %q", v, version)
	}
	if err := doc.ListsMethods(ctl.Methods); err != nil {
		t.Error(err)
	}
}

// TestSchemaFromAnOlderDaemonSaysWhy prevents a bare "method not found"
// from a daemon that predates rpc.discover: wactl says so and points at
// --offline, exit 1.
func TestSchemaFromAnOlderDaemonSaysWhy(t *testing.T) {
	s := startStub(t, func(r stubRequest) (any, *ctl.Error) {
		return nil, ctl.Errorf(ctl.CodeMethodNotFound, "method not found: %s", r.Method)
	})
	code, out, errs := wactl(t, s.Socket, "", "schema")
	if code != 1 || out != "" || !strings.Contains(errs, "does not serve rpc.discover") || !strings.Contains(errs, "--offline") {
		t.Errorf("schema from an old daemon: exit %d, %q %q", code, out, errs)
	}
}

func infoVersion(t *testing.T, doc string) string {
	t.Helper()
	var d struct{ Info struct{ Version string } }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	return d.Info.Version
}
