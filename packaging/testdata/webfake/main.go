// Command webfake serves the fake WhatsApp Web page of the chromedp tests
// (sessions/chromedp/testdata) inside the e2e container, so that wad's
// browsers there have a page to load: it shows a QR code and keeps
// polling. It serves the files of one directory on a loopback address
// and answers the page's API calls with empty replies; nobody scans, so
// sessions stay at their QR code.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "loopback `ADDRESS` to listen on")
	dir := flag.String("dir", ".", "`DIR` with index.html and fake.js")
	flag.Parse()
	files := http.FileServer(http.Dir(*dir))
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{}"))
			return
		}
		files.ServeHTTP(w, r)
	})))
}
