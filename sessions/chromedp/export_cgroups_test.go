package chromedp

import (
	"testing"

	"github.com/wad-project/wad/internal/cgroup"
)

// NewTestTree makes a cgroup tree for the test under its own cgroup (see
// testTree), for the external tests.
func NewTestTree(t *testing.T) *cgroup.Tree { return testTree(t) }
