package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"
	"golang.org/x/text/width"
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
			widths[i] = max(widths[i], dispWidth(c))
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
				if widths[i] > max(minElastic, dispWidth(header[i])) && (widest < 0 || widths[i] > widths[widest]) {
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
				b.WriteString(strings.Repeat(" ", widths[i]-dispWidth(c)+2))
			}
		}
		fmt.Fprintln(a.stdout, strings.TrimRight(b.String(), " "))
	}
}

// cell makes a value fit for a table cell: one line, printable (see
// printable), "-" for nothing.
func cell(s string) string {
	s = printable(s)
	if s == "" {
		return "-"
	}
	return s
}

// printable makes text other people wrote (names, topics, about texts)
// safe for a terminal: control characters (C0 and C1: escape sequences,
// newlines) become spaces and bidirectional overrides are dropped, so
// that no one's name can move the cursor or reorder the line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// cut shortens s to at most n columns, the last one "…".
func cut(s string, n int) string {
	if dispWidth(s) <= n {
		return s
	}
	w := 0
	for i, r := range s {
		if w+runeWidth(r) > n-1 {
			return s[:i] + "…"
		}
		w += runeWidth(r)
	}
	return s
}

// dispWidth is how many terminal columns s takes.
func dispWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is how many columns a terminal gives r: none for combining
// marks, joiners, variation selectors and skin tones, two for East Asian wide
// characters and emoji, else one.
func runeWidth(r rune) int {
	switch {
	case r == 0x200d, r >= 0xfe00 && r <= 0xfe0f, r >= 0x1f3fb && r <= 0x1f3ff, // joiner, variation selectors, skin tones
		unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r):
		return 0
	case r >= 0x1f300 && r <= 0x1faff:
		return 2
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
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
			fmt.Fprintf(a.stdout, "%s:%s%s\n", kv[i], strings.Repeat(" ", w-len(kv[i])+2), printable(kv[i+1]))
		}
	}
}
