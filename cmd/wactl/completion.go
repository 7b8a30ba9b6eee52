package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/wad-project/wad/ctl"
)

// cmdFlags returns a command's own flags (without the global ones), for
// completion.
func cmdFlags(c command) []*flag.Flag {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

var globalFlagHelp = map[string]string{
	"socket": "daemon socket path",
	"json":   "print machine-readable JSON",
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagWord is how a flag is written on the command line: -o for a
// one-letter flag, --name for the others.
func flagWord(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// flagValues says what a flag's value completes to: files, or one of
// a list of words (nil: nothing in particular).
func flagValues(name string) (files bool, words []string) {
	switch name {
	case "socket", "file", "o", "picture":
		return true, nil
	case "backend":
		return false, []string{"whatsmeow", "chromedp"}
	case "kinds":
		return false, ctl.Kinds
	case "kind":
		return false, ctl.MediaKinds
	}
	return false, nil
}

// positionals returns the names of a command's positional arguments,
// from its synopsis ("CLIENT CHAT [ID...]": client, chat, id), and
// whether the last one repeats.
func positionals(c command) (names []string, variadic bool) {
	for _, w := range strings.Fields(c.args) {
		variadic = strings.HasSuffix(w, "...]") || strings.HasSuffix(w, "...")
		w = strings.Trim(w, "[].")
		if i := strings.Index(w, "|"); i >= 0 && w[i:] == "|-" {
			w = w[:i]
		}
		names = append(names, strings.ToLower(w))
	}
	return names, variadic
}

// takesClient reports whether a command's first argument is a client id.
func takesClient(c command) bool {
	return strings.HasPrefix(c.args, "CLIENT") || strings.HasPrefix(c.args, "[CLIENT")
}

// completion writes a completion script for shell, generated from the
// command tree. Client ids complete from the running daemon.
func (a *app) completion(_ context.Context, args []string) error {
	cmds := commands()
	switch args[0] {
	case "bash":
		return bashCompletion(a.stdout, cmds)
	case "zsh":
		return zshCompletion(a.stdout, cmds)
	case "fish":
		return fishCompletion(a.stdout, cmds)
	}
	return fmt.Errorf("unknown shell %q: want bash, zsh or fish", args[0])
}

// clients prints the client ids the daemon knows, one per line (used by
// the completion scripts; silent when the daemon is not running).
func (a *app) clients(ctx context.Context, _ []string) error {
	list, err := a.client.List(ctx)
	if err != nil {
		return nil
	}
	for _, s := range list {
		fmt.Fprintln(a.stdout, s.Client)
	}
	return nil
}

func names(cmds []command) string {
	var n []string
	for _, t := range topLevel(cmds) {
		n = append(n, t.word)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// top is a first word of the command line: a command ("status"), a
// group of subcommands ("group": list, info, ...) or both ("profile"
// and "profile set").
type top struct {
	word string
	own  *command  // the command named word alone, if any
	subs []command // the commands named word and another word
}

// topLevel groups the visible commands by their first word, in command
// order.
func topLevel(cmds []command) []*top {
	var out []*top
	byWord := map[string]*top{}
	for _, c := range cmds {
		if c.hidden {
			continue
		}
		word, _, isSub := strings.Cut(c.name, " ")
		t := byWord[word]
		if t == nil {
			t = &top{word: word}
			byWord[word] = t
			out = append(out, t)
		}
		if isSub {
			t.subs = append(t.subs, c)
		} else {
			t.own = &c
		}
	}
	return out
}

// subName is the second word of a subcommand's name.
func subName(c command) string {
	_, s, _ := strings.Cut(c.name, " ")
	return s
}

// topHelp is the description of a first word.
func topHelp(t *top) string {
	if t.own != nil {
		return t.own.help
	}
	var s []string
	for _, c := range t.subs {
		s = append(s, subName(c))
	}
	return t.word + " commands: " + strings.Join(s, ", ")
}

// valueFlags lists every flag, global or a command's, that takes a value,
// as written on the command line.
func valueFlags(cmds []command) []string {
	seen := map[string]bool{"--socket": true}
	out := []string{"--socket"}
	for _, c := range cmds {
		for _, f := range cmdFlags(c) {
			if w := flagWord(f); !isBool(f) && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	sort.Strings(out)
	return out
}

func bashCompletion(w io.Writer, cmds []command) error {
	var fileFlags, wordCases []string
	seen := map[string]bool{}
	for _, name := range append([]string{"socket"}, flagNames(cmds)...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		files, words := flagValues(name)
		word := "--" + name
		if len(name) == 1 {
			word = "-" + name
		}
		switch {
		case files:
			fileFlags = append(fileFlags, word)
		case words != nil:
			wordCases = append(wordCases, fmt.Sprintf("\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", word, strings.Join(words, " ")))
		}
	}
	fmt.Fprintf(w, `# bash completion for wactl (generated by: wactl completion bash)
_wactl() {
	local cur prev cmd i j n
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev="${COMP_WORDS[COMP_CWORD-1]}"
	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		--socket) ((i++)) ;;
		-*) ;;
		*) cmd="${COMP_WORDS[i]}"; break ;;
		esac
	done
	case "$prev" in
	%s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
%s	esac
	if [[ -z "$cmd" ]]; then
		COMPREPLY=($(compgen -W "%s --socket --json" -- "$cur"))
		return
	fi
	local subs="" subclients=0
	case "$cmd" in
%s	esac
	if [[ -n "$subs" ]]; then
		if ((COMP_CWORD == i + 1)) && [[ "$cur" != -* ]]; then
			local words="$subs"
			((subclients)) && words="$words $(wactl __clients 2>/dev/null)"
			COMPREPLY=($(compgen -W "$words" -- "$cur"))
			return
		fi
		if [[ " $subs " == *" ${COMP_WORDS[i+1]} "* ]]; then
			cmd="$cmd ${COMP_WORDS[i+1]}"
			((i++))
		fi
	fi
	# n: how many arguments of the command come before the word completed
	n=0
	for ((j = i + 1; j < COMP_CWORD; j++)); do
		case "${COMP_WORDS[j]}" in
		%s) ((j++)) ;;
		-?*) ;;
		*) ((n++)) ;;
		esac
	done
	local flags="--socket --json" clients=0 choices=""
	case "$cmd" in
`, strings.Join(fileFlags, "|"), strings.Join(wordCases, ""), names(cmds), subCases(cmds), strings.Join(valueFlags(cmds), "|"))
	for _, c := range cmds {
		if c.hidden {
			continue
		}
		var fl []string
		for _, f := range cmdFlags(c) {
			fl = append(fl, flagWord(f))
		}
		cl := 0
		if takesClient(c) {
			cl = 1
		}
		pattern := c.name
		if strings.Contains(pattern, " ") {
			pattern = `"` + pattern + `"`
		}
		fmt.Fprintf(w, "\t%s) flags=\"$flags %s\"; clients=%d", pattern, strings.Join(fl, " "), cl)
		for _, pos := range sortedKeys(c.choices) {
			fmt.Fprintf(w, "; ((n == %d)) && choices=%q", pos-1, strings.Join(c.choices[pos], " "))
		}
		fmt.Fprint(w, " ;;\n")
	}
	fmt.Fprint(w, `	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	elif [[ -n "$choices" ]]; then
		COMPREPLY=($(compgen -W "$choices" -- "$cur"))
	elif ((clients && n == 0)); then
		COMPREPLY=($(compgen -W "$(wactl __clients 2>/dev/null)" -- "$cur"))
	fi
}
complete -F _wactl wactl
`)
	return nil
}

// subCases are the bash case branches that set the subcommands of a
// first word.
func subCases(cmds []command) string {
	var b strings.Builder
	for _, t := range topLevel(cmds) {
		if len(t.subs) == 0 {
			continue
		}
		var s []string
		for _, c := range t.subs {
			s = append(s, subName(c))
		}
		fmt.Fprintf(&b, "\t%s) subs=%q", t.word, strings.Join(s, " "))
		if t.own != nil && takesClient(*t.own) {
			b.WriteString("; subclients=1")
		}
		b.WriteString(" ;;\n")
	}
	return b.String()
}

// flagNames lists the names of every command's flags, in command order.
func flagNames(cmds []command) []string {
	var out []string
	for _, c := range cmds {
		for _, f := range cmdFlags(c) {
			out = append(out, f.Name)
		}
	}
	return out
}

func sortedKeys(m map[int][]string) []int {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func zshCompletion(w io.Writer, cmds []command) error {
	fmt.Fprint(w, `#compdef wactl
# zsh completion for wactl (generated by: wactl completion zsh)
_wactl_clients() {
	local -a clients
	clients=(${(f)"$(wactl __clients 2>/dev/null)"})
	_describe 'client' clients
}
_wactl() {
	local -a commands subs
	commands=(
`)
	tops := topLevel(cmds)
	for _, t := range tops {
		fmt.Fprintf(w, "\t\t%s\n", zshQuote(t.word+":"+topHelp(t)))
	}
	fmt.Fprint(w, `	)
	_arguments -C \
		'--socket[daemon socket path]:socket:_files' \
		'--json[print machine-readable JSON]' \
		'1:command:->cmd' \
		'*::arg:->args'
	case $state in
	cmd) _describe 'command' commands ;;
	args)
		case $words[1] in
`)
	for _, t := range tops {
		if len(t.subs) == 0 {
			fmt.Fprintf(w, "\t\t%s)\n\t\t\t_arguments \\\n\t\t\t\t'%s'\n\t\t\t;;\n", t.word, strings.Join(zshSpecs(*t.own), "' \\\n\t\t\t\t'"))
			continue
		}
		// The subcommand's name is the second word; once it is there,
		// its arguments are completed as if it were the command.
		fmt.Fprintf(w, "\t\t%s)\n\t\t\tif (( CURRENT == 2 )); then\n\t\t\t\tsubs=(\n", t.word)
		for _, c := range t.subs {
			fmt.Fprintf(w, "\t\t\t\t\t%s\n", zshQuote(subName(c)+":"+c.help))
		}
		fmt.Fprintf(w, "\t\t\t\t)\n\t\t\t\t_describe '%s command' subs\n", t.word)
		if t.own != nil && takesClient(*t.own) {
			fmt.Fprint(w, "\t\t\t\t_wactl_clients\n")
		}
		fmt.Fprint(w, "\t\t\telse\n\t\t\t\tcase $words[2] in\n")
		for _, c := range t.subs {
			fmt.Fprintf(w, "\t\t\t\t%s)\n\t\t\t\t\tshift words\n\t\t\t\t\t(( CURRENT-- ))\n\t\t\t\t\t_arguments \\\n\t\t\t\t\t\t'%s'\n\t\t\t\t\t;;\n",
				subName(c), strings.Join(zshSpecs(c), "' \\\n\t\t\t\t\t\t'"))
		}
		if t.own != nil {
			fmt.Fprintf(w, "\t\t\t\t*)\n\t\t\t\t\t_arguments \\\n\t\t\t\t\t\t'%s'\n\t\t\t\t\t;;\n", strings.Join(zshSpecs(*t.own), "' \\\n\t\t\t\t\t\t'"))
		}
		fmt.Fprint(w, "\t\t\t\tesac\n\t\t\tfi\n\t\t\t;;\n")
	}
	fmt.Fprint(w, `		esac
		;;
	esac
}
_wactl "$@"
`)
	return nil
}

// zshSpecs are the _arguments specs of a command's flags and arguments.
func zshSpecs(c command) []string {
	var specs []string
	for _, f := range cmdFlags(c) {
		spec := fmt.Sprintf("%s[%s]", flagWord(f), zshEscape(f.Usage))
		if _, repeat := f.Value.(*stringList); repeat {
			spec = "*" + spec
		}
		if !isBool(f) {
			spec += ":" + f.Name + ":"
			switch files, words := flagValues(f.Name); {
			case files:
				spec += "_files"
			case f.Name == "kinds":
				spec += "_values -s , kind " + strings.Join(words, " ")
			case words != nil:
				spec += "(" + strings.Join(words, " ") + ")"
			}
		}
		specs = append(specs, spec)
	}
	pos, variadic := positionals(c)
	for i, name := range pos {
		action := ""
		switch {
		case i == 0 && name == "client":
			action = "_wactl_clients"
		case c.choices[i+1] != nil:
			action = "(" + strings.Join(c.choices[i+1], " ") + ")"
		}
		n := fmt.Sprint(i + 1)
		if variadic && i == len(pos)-1 {
			n = "*"
		}
		specs = append(specs, fmt.Sprintf("%s:%s:%s", n, strings.ReplaceAll(name, ":", ""), action))
	}
	if !variadic {
		specs = append(specs, "*: :")
	}
	return specs
}

func zshEscape(s string) string {
	r := strings.NewReplacer("'", "", "[", "(", "]", ")", "`", "")
	return r.Replace(s)
}

func fishCompletion(w io.Writer, cmds []command) error {
	fmt.Fprintf(w, "# fish completion for wactl (generated by: wactl completion fish)\n")
	fmt.Fprintf(w, "complete -c wactl -f\n")
	fmt.Fprintf(w, "complete -c wactl -l socket -r -F -d %q\n", globalFlagHelp["socket"])
	fmt.Fprintf(w, "complete -c wactl -l json -d %q\n", globalFlagHelp["json"])
	for _, t := range topLevel(cmds) {
		fmt.Fprintf(w, "complete -c wactl -n __fish_use_subcommand -a %s -d %q\n", t.word, topHelp(t))
		var subs []string
		for _, c := range t.subs {
			subs = append(subs, subName(c))
		}
		// cond is when a command's flags and arguments are offered.
		cond := map[string]string{}
		if len(subs) > 0 {
			notSub := fmt.Sprintf("__fish_seen_subcommand_from %s; and not __fish_seen_subcommand_from %s", t.word, strings.Join(subs, " "))
			for _, c := range t.subs {
				fmt.Fprintf(w, "complete -c wactl -n '%s' -a %s -d %q\n", notSub, subName(c), c.help)
				cond[c.name] = fmt.Sprintf("__fish_seen_subcommand_from %s; and __fish_seen_subcommand_from %s", t.word, subName(c))
			}
			cond[t.word] = notSub
		} else {
			cond[t.word] = "__fish_seen_subcommand_from " + t.word
		}
		list := t.subs
		if t.own != nil {
			list = append([]command{*t.own}, list...)
		}
		for _, c := range list {
			fishCommand(w, c, cond[c.name])
		}
	}
	return nil
}

// fishCommand completes the flags and arguments of c when cond holds.
func fishCommand(w io.Writer, c command, cond string) {
	for _, f := range cmdFlags(c) {
		opt := "-l " + f.Name
		if len(f.Name) == 1 {
			opt = "-s " + f.Name
		}
		if !isBool(f) {
			// -r -F: a file name; -x (-r -f): a value, never a file.
			switch files, words := flagValues(f.Name); {
			case files:
				opt += " -r -F"
			case words != nil:
				opt += " -x -a '" + strings.Join(words, " ") + "'"
			default:
				opt += " -x"
			}
		}
		fmt.Fprintf(w, "complete -c wactl -n '%s' %s -d %q\n", cond, opt, strings.ReplaceAll(f.Usage, "`", ""))
	}
	if takesClient(c) {
		fmt.Fprintf(w, "complete -c wactl -n '%s' -a '(wactl __clients 2>/dev/null)'\n", cond)
	}
	for _, pos := range sortedKeys(c.choices) {
		fmt.Fprintf(w, "complete -c wactl -n '%s' -a '%s'\n", cond, strings.Join(c.choices[pos], " "))
	}
}

// zshQuote quotes s for zsh in single quotes, where nothing (no $, no
// backquote) is expanded.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
