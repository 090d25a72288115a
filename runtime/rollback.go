package runtime

// rollback is the one undo path of a verb that builds on the host (create, exec): each step
// that made something registers how to take it away again; on failure the steps run newest
// first, and once the verb has succeeded done drops them. A step must be safe to run at any
// point after it was pushed.
type rollback struct{ steps []func() }

// push registers the undo of what was just made.
func (r *rollback) push(undo func()) { r.steps = append(r.steps, undo) }

// run undoes everything pushed, newest first, once.
func (r *rollback) run() {
	for i := len(r.steps) - 1; i >= 0; i-- {
		r.steps[i]()
	}
	r.steps = nil
}

// done keeps what was made: the verb succeeded.
func (r *rollback) done() { r.steps = nil }
