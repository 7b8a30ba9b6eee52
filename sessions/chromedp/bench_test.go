package chromedp

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
	"github.com/wad-project/wad/sessions"
)

// BenchmarkTimeToQR measures, for 1 and 6 concurrent logins against the
// loopback fake, the time from session.login to a QR code and the memory
// of each session's browser tree (RSS summed over its processes, as
// session.status reports it, and PSS, which counts shared pages once).
//
//	go test ./sessions/chromedp -run '^$' -bench TimeToQR -benchtime 3x
func BenchmarkTimeToQR(b *testing.B) {
	for _, n := range []int{1, 6} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			f := newFakeWA(b)
			var qrTotal, qrMax time.Duration
			var rssTotal, pssTotal int64
			for i := 0; b.Loop(); i++ {
				e := newEnv(b, "", Config{WebURL: f.url("")})
				var wg sync.WaitGroup
				var mu sync.Mutex
				for c := range n {
					wg.Go(func() {
						t0 := time.Now()
						st, err := e.reg.Login(context.Background(), fmt.Sprintf("b%d", c), sessions.LoginOptions{})
						d := time.Since(t0)
						if err != nil || st.QR == "" {
							b.Errorf("login: %v %+v", err, st)
							return
						}
						mu.Lock()
						qrTotal += d
						qrMax = max(qrMax, d)
						mu.Unlock()
					})
				}
				wg.Wait()
				time.Sleep(2 * time.Second) // let the pages settle
				for c := range n {
					st := e.session(fmt.Sprintf("b%d", c)).status()
					rssTotal += st.RSSBytes
					for _, pid := range chromeproc.Tree(st.PID) {
						pssTotal += pssOf(pid)
					}
				}
				e.close()
			}
			per := float64(b.N * n)
			b.ReportMetric(float64(qrTotal.Milliseconds())/per, "ms-to-qr")
			b.ReportMetric(float64(qrMax.Milliseconds()), "max-ms-to-qr")
			b.ReportMetric(float64(rssTotal)/per/(1<<20), "MB-rss/session")
			b.ReportMetric(float64(pssTotal)/per/(1<<20), "MB-pss/session")
		})
	}
}

func pssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
