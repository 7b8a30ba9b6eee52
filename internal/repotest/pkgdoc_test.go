package repotest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestEveryPackageSaysWhatItOwns fails for a package without a doc
// comment: if its purpose cannot be said in a paragraph, it is the wrong
// package.
func TestEveryPackageSaysWhatItOwns(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/wad-project/wad/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Doc        string
			Name       string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		if p.Doc == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
	if n < 6 {
		t.Fatalf("only %d packages listed", n)
	}
}
