package media

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wad-project/wad/ctl"
)

func TestSpoolReopen(t *testing.T) {
	data := bytes.Repeat([]byte("wad spool "), 10000)
	sum := sha256.Sum256(data)
	f := &File{Kind: ctl.MediaDocument, Mime: "text/plain", Filename: "a.txt", Caption: "hi", Size: int64(len(data)), SHA256: sum[:],
		r: bytes.NewReader(data)}
	dir := t.TempDir()
	path := filepath.Join(dir, "3EB0ABC")
	if err := f.Spool(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("spool dir holds %d entries, want 1 (no temporary file left)", len(ents))
	}

	meta := *f
	meta.r = nil
	g, err := Reopen(path, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got, err := io.ReadAll(g.Reader())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("reopened bytes differ")
	}
	if g.Kind != f.Kind || g.Mime != f.Mime || g.Filename != f.Filename || g.Caption != f.Caption || !bytes.Equal(g.SHA256, f.SHA256) {
		t.Errorf("metadata %+v, want %+v", g, f)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Close removed the spool file: %v", err)
	}
}

func TestReopenWrongSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Reopen(path, File{Kind: ctl.MediaImage, Size: 100}); err == nil {
		t.Fatal("Reopen accepted a file of the wrong size")
	}
	if _, err := Reopen(filepath.Join(t.TempDir(), "missing"), File{Size: 1}); err == nil {
		t.Fatal("Reopen accepted a missing file")
	}
}

func TestSpoolShortReader(t *testing.T) {
	dir := t.TempDir()
	f := &File{Kind: ctl.MediaDocument, Size: 100, r: bytes.NewReader([]byte("only ten b"))}
	if err := f.Spool(filepath.Join(dir, "x")); err == nil {
		t.Fatal("Spool accepted fewer bytes than Size")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a failed spool left %d entries", len(ents))
	}
}
