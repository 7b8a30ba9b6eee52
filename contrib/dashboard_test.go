package contrib

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/wad-project/wad/daemon/metrics"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	UID           string
	Title         string
	Inputs        []struct {
		Name     string `json:"name"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues  = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)

// metricNames returns the metric names a PromQL expression selects:
// what is left once strings, label matchers, ranges, groupings,
// functions and keywords are taken out.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil { // a Grafana variable query
		return []string{m[1]}
	}
	s := promStrings.ReplaceAllString(expr, " ")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.$") {
			continue // part of a number (1e3), a duration (5m) or a variable
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") || slices.Contains(promKeywords, name) {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfAnExpression(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, method) (rate(wad_rpc_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`: {"wad_rpc_duration_seconds_bucket"},
		`time() - max(wad_reaper_last_run_timestamp_seconds{job="a b"})`:                                                                 {"wad_reaper_last_run_timestamp_seconds"},
		`sum(wad_sessions) / on(instance) group_left sum(process_open_fds offset 5m) > bool 1e3`:                                         {"wad_sessions", "process_open_fds"},
		`label_values(wad_session_memory_bytes{instance=~"$instance"}, client)`:                                                          {"wad_session_memory_bytes"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", expr, got, want)
		}
	}
}

// missing returns the metric names of exprs that are not in names.
func missing(exprs, names []string) []string {
	var out []string
	for _, e := range exprs {
		for _, n := range metricNames(e) {
			if !slices.Contains(names, n) {
				out = append(out, n+" (in "+e+")")
			}
		}
	}
	return out
}

// Prevents: a dashboard panel that stays empty because it queries a
// metric the daemon does not expose (renamed, misspelt, never made).
func TestGrafanaDashboardQueriesOnlyMetricsWadExposes(t *testing.T) {
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q", d.SchemaVersion, d.UID, d.Title)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v: want one Prometheus data source input DS_PROMETHEUS", d.Inputs)
	}
	var exprs []string
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q does not use ${DS_PROMETHEUS}", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				if len(metricNames(tg.Expr)) == 0 {
					t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	names := metrics.Names()
	for _, m := range missing(exprs, names) {
		t.Errorf("the dashboard queries %s, which wad does not expose", m)
	}
	// The check itself can fail.
	if m := missing([]string{`rate(wad_messages_sent{kind="text"}[5m])`}, names); len(m) != 1 {
		t.Errorf("a query of a metric wad lacks went unnoticed: %q", m)
	}
	// Every family of wad's own is on the dashboard.
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricNames(e) {
			used[n] = true
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "wad_") && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") && !used[n] {
			t.Errorf("wad exposes %s, which no panel shows", n)
		}
	}
}

// Prevents: a scrape example that cannot work with the example config.
func TestPrometheusExampleScrapesALoopbackTarget(t *testing.T) {
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`targets:\s*\["([^"]+)"\]`).FindAllStringSubmatch(string(b), -1)
	if len(targets) == 0 {
		t.Fatal("prometheus.yml has no target")
	}
	for _, m := range targets {
		if err := metrics.CheckListen(m[1]); err != nil {
			t.Errorf("target %s: %v", m[1], err)
		}
	}
	var cfg struct {
		Metrics struct {
			Listen string `toml:"listen"`
		} `toml:"metrics"`
	}
	if _, err := toml.DecodeFile("wad.toml", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Listen != "" {
		t.Errorf("wad.toml turns metrics on by default: %q", cfg.Metrics.Listen)
	}
}
