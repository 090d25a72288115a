package runtime

// Pause freezes every process of a container (cgroup freezer).
func Pause(g *Global, id string) error {
	h, err := open(g, id)
	if err != nil {
		return err
	}
	defer h.close()
	return h.c.Pause()
}
