package runtime

// Run creates and starts a container. In the foreground it forwards signals,
// reaps orphans as a subreaper, returns the container's exit status as an
// *ExitError, and removes the container afterwards; with detach it returns once
// the container runs.
func Run(g *Global, o CreateOptions, detach bool) error {
	act := actRun
	if detach {
		act = actRunDetached
	}
	status, err := createContainer(g, o, act)
	if err != nil {
		return err
	}
	if !detach && status != 0 {
		return &ExitError{Code: status}
	}
	return nil
}
