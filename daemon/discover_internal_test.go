package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
)

// ServedForTest lists the names of the methods d serves.
func ServedForTest(d *Daemon) []string { return d.table.Names() }

// TestTableTypesAreTheImplementations prevents an rpc.discover that
// describes other types than the daemon decodes and returns: binding
// ctl.Methods to the implementations checks every entry's Params and
// Result against the implementation's own, and a mismatch panics.
func TestTableTypesAreTheImplementations(t *testing.T) {
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("binding ctl.Methods: %v", v)
			}
		}()
		(&Daemon{}).methods(ctl.Methods)
	}()
	lie := slices.Clone(ctl.Methods)
	lie[0].Result = ctl.OK{}
	func() {
		defer func() {
			if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), lie[0].Name) {
				t.Errorf("a table giving %s another result type was bound (%v)", lie[0].Name, v)
			}
		}()
		(&Daemon{}).methods(lie)
	}()
	impl := bind(func(context.Context, *call, ctl.ClientParams) (ctl.Session, error) { return ctl.Session{}, nil })
	for _, m := range []ctl.Method{
		{Name: "wrong.params", Params: ctl.Empty{}, Result: ctl.Session{}},
		{Name: "wrong.result", Params: ctl.ClientParams{}, Result: &ctl.Session{}},
	} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), m.Name) {
					t.Errorf("%s: bind did not panic naming the method (%v)", m.Name, v)
				}
			}()
			impl(&Daemon{}, m)
		}()
	}
	// Without types (a test's own table) nothing is checked.
	impl(&Daemon{}, ctl.Method{Name: "untyped"})
}
