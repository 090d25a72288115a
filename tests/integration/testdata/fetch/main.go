package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"sort"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/", "")
	n := flag.Int("n", 200, "")
	gap := flag.Duration("gap", 5*time.Millisecond, "")
	flag.Parse()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var lat []float64
	errs := 0
	for i := 0; i < *n; i++ {
		t0 := time.Now()
		r, err := c.Get(*url)
		if err == nil {
			_, err = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		if err != nil {
			errs++
		} else {
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		time.Sleep(*gap)
	}
	sort.Float64s(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"ok": len(lat), "errors": errs, "p50ms": q(0.5), "p90ms": q(0.9), "p99ms": q(0.99), "maxms": q(1)})
}
