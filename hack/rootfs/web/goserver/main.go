// Command goserver is the web compatibility sweep's Go HTTP server (hack/rootfs/web/go.sh):
// net/http with its usual goroutine-per-connection model, built static into the Debian web
// rootfs by hack/rootfs/mk-debian-web.sh.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "go %s net/http says hello to %s with %d CPUs\n", runtime.Version(), r.URL.Path, runtime.NumCPU())
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
