package hardening

import (
	"strings"
	"testing"
)

// TestCheckContainerID: the one id rule, as every verb and the policy apply it.
func TestCheckContainerID(t *testing.T) {
	for _, ok := range []string{"a", "web-1", "trt0011aabb_x.y", strings.Repeat("f", 64), strings.Repeat("a", MaxContainerIDLen)} {
		if err := CheckContainerID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a..b", "../x", "a/b", "a+b", "a b", "é", "a\x00", "-\n", strings.Repeat("a", MaxContainerIDLen+1)} {
		if err := CheckContainerID(bad); err == nil || !strings.Contains(err.Error(), "container id") {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}
