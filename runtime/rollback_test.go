package runtime

import (
	"slices"
	"testing"
)

func TestRollbackOrder(t *testing.T) {
	var got []int
	var rb rollback
	for i := range 3 {
		rb.push(func() { got = append(got, i) })
	}
	rb.run()
	rb.run() // once
	if !slices.Equal(got, []int{2, 1, 0}) {
		t.Fatalf("undo order %v, want newest first", got)
	}
	got = nil
	rb.push(func() { got = append(got, 9) })
	rb.done()
	rb.run()
	if got != nil {
		t.Fatal("done keeps what was made")
	}
}
