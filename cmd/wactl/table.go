package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// The tables of the contact, chat and group commands: laid out like the
// status table (a header in capitals, columns two spaces apart), and
// fitted to the terminal. When the rows are wider than it, the columns
// that hold free text (names, topics, errors) give way, the widest
// first, and their cells are cut with "…"; identifiers (JIDs, ids,
// numbers) are never cut, so what is shown can be copied. Output that
// is not a terminal is not cut unless $COLUMNS says how wide it is
// (--json is the format for scripts).

// termWidth is the width to fit tables to: $COLUMNS when set, else the
// terminal's on stdout, else 0 (no limit).
func (a *app) termWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := a.stdout.(*os.File); ok && isTerminal(f) {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 0
}

// minElastic is the narrowest an elastic column gets.
const minElastic = 10

// printRows prints a table of header and rows; the columns whose
// indexes are in elastic may be cut to fit the terminal.
func (a *app) printRows(header []string, elastic []int, rows [][]string) {
	all := append([][]string{header}, rows...)
	for _, r := range all {
		for i := range r {
			r[i] = cell(r[i])
		}
	}
	widths := make([]int, len(header))
	for _, r := range all {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if limit := a.termWidth(); limit > 0 {
		total := 2 * (len(widths) - 1)
		for _, w := range widths {
			total += w
		}
		for total > limit {
			widest := -1
			for _, i := range elastic {
				if widths[i] > max(minElastic, utf8.RuneCountInString(header[i])) && (widest < 0 || widths[i] > widths[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				break // as narrow as it gets
			}
			widths[widest]--
			total--
		}
	}
	var b strings.Builder
	for _, r := range all {
		b.Reset()
		for i, c := range r {
			c = cut(c, widths[i])
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(a.stdout, strings.TrimRight(b.String(), " "))
	}
}

// cell makes a value fit for a table cell: one line, no control
// characters, "-" for nothing.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return "-"
	}
	return s
}

// cut shortens s to n characters, the last one "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// printFields prints "key: value" lines, values aligned, skipping empty
// values (like `wactl status CLIENT`).
func (a *app) printFields(kv ...string) {
	w := 0
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			w = max(w, len(kv[i]))
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(a.stdout, "%s:%s%s\n", kv[i], strings.Repeat(" ", w-len(kv[i])+2), kv[i+1])
		}
	}
}
