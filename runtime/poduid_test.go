package runtime

import "testing"

// The pod uid a container records (and claims) comes from the first PodUIDAnnotations key
// present; a value that is not uid-shaped or is a layout word is not recorded at all, so
// no member's kubelet files are ever accepted through it.
func TestPodUIDOf(t *testing.T) {
	for _, c := range []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "0b6d5a1c-1111-4222-8333-944455556666"}, "0b6d5a1c-1111-4222-8333-944455556666"},
		{map[string]string{"io.kubernetes.pod.uid": "abc"}, "abc"},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "a", "io.kubernetes.pod.uid": "b"}, "a"},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "../x"}, ""},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "a/b"}, ""},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "pods"}, ""},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "-x"}, ""},
		{map[string]string{"io.kubernetes.cri.sandbox-uid": "../x", "io.kubernetes.pod.uid": "ok"}, ""},
		{nil, ""},
	} {
		if got := podUIDOf(c.ann); got != c.want {
			t.Errorf("podUIDOf(%v) = %q, want %q", c.ann, got, c.want)
		}
	}
}
