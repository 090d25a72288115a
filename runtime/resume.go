package runtime

// Resume thaws a paused container.
func Resume(g *Global, id string) error {
	h, err := open(g, id)
	if err != nil {
		return err
	}
	defer h.close()
	return h.c.Resume()
}
