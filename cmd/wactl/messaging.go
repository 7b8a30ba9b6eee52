package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wad-project/wad/ctl"
)

// The messaging commands: send (text, files, locations, contacts;
// replies and mentions), react, edit, revoke, read, presence and
// download. Files travel as descriptors passed over the socket
// (SCM_RIGHTS): wactl opens them with the caller's rights, and the
// daemon never sees a path.

const sendHelp = `Exactly one of TEXT, --file, --location and --contact is the message.
TEXT - reads the text from stdin. With --file, TEXT (or --caption) is the
caption. --file passes the open file to the daemon (no path is sent, and
wactl does not read it); --file - passes stdin. Without --kind the kind
comes from --mime or the file's extension: .jpg .jpeg .png .webp image,
.mp4 .m4v .3gp video, .mp3 .m4a .aac .ogg .oga .opus .amr audio, anything
else document (a sticker needs --kind sticker, a voice note --kind voice).

The message goes into the client's outbound queue, which sends at the
pace wad.toml's [outbox] sets; send waits until it is sent and prints
its id and WhatsApp's timestamp (or why it failed), at most --timeout:
the message then stays queued (` + "`wactl message status`" + ` follows it).
--no-wait prints the id as soon as the message is queued.

examples:
  wactl send sales +4915112345678 "hello"
  wactl send sales +4915112345678 --file photo.jpg --caption "the view"
  wactl send sales 120363012345678901@g.us "agreed" --reply-to 3EB0C431D5A1 --mention +4915112345678
  wactl send sales +4915112345678 --location 52.5163,13.3777 --name "Brandenburger Tor"
  wactl send sales +4915112345678 --contact "Ada Lovelace=+441234567890"
`

const downloadHelp = `The daemon writes the file to a descriptor wactl passes (it opens no
path itself). Without -o the file gets the name the message carries
(else ID and an extension from its mime type) in the current directory;
an existing file is never overwritten without --force. -o - writes to
stdout (the summary then goes to stderr). A failed download leaves no
file behind. Prints the file's kind, mime type, size and SHA-256.
`

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

type sendOpts struct {
	queueOpts
	file, kind, mime, caption, filename string
	replyTo                             string
	mentions                            stringList
	location, name, address             string
	contact                             string
}

func sendFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	o := &sendOpts{}
	fs.StringVar(&o.file, "file", "", "send the `FILE` (- for stdin) as media")
	fs.StringVar(&o.kind, "kind", "", "media `KIND`: "+strings.Join(ctl.MediaKinds, ", ")+" (default: from --mime or the extension)")
	fs.StringVar(&o.mime, "mime", "", "the file's `MIME` type (default: the daemon detects it)")
	fs.StringVar(&o.caption, "caption", "", "the file's `CAPTION`")
	fs.StringVar(&o.filename, "filename", "", "the file `NAME` shown for documents (default: the file's base name)")
	fs.StringVar(&o.replyTo, "reply-to", "", "quote the message `ID` of the same chat")
	fs.Var(&o.mentions, "mention", "tag `JID_OR_PHONE` in the text or caption (repeatable)")
	fs.StringVar(&o.location, "location", "", "send a pin at `LAT,LON` (decimal degrees)")
	fs.StringVar(&o.name, "name", "", "the location's `NAME`")
	fs.StringVar(&o.address, "address", "", "the location's `ADDRESS`")
	fs.StringVar(&o.contact, "contact", "", "send a contact card `NAME=PHONE`")
	o.queueOpts.flags(fs)
	return func(a *app, ctx context.Context, args []string) error { return a.send(ctx, args, o) }
}

// queueOpts are the flags of the commands that queue a message: send,
// react, edit and revoke.
type queueOpts struct {
	noWait  bool
	timeout time.Duration
}

func (o *queueOpts) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.noWait, "no-wait", false, "print the message id once it is queued instead of waiting until it is sent")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "wait at most `DURATION` for the message to be sent (it stays queued)")
}

// queuedFlags gives a react, edit or revoke command the queue's flags.
func queuedFlags(f func(*app, context.Context, []string, *queueOpts) error) func(*flag.FlagSet) func(*app, context.Context, []string) error {
	return func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
		o := &queueOpts{}
		o.flags(fs)
		return func(a *app, ctx context.Context, args []string) error { return f(a, ctx, args, o) }
	}
}

// queue calls method, which queues a message of client, and, unless
// --no-wait, follows the message's status events until it is sent or
// failed. It prints done (for a send: "sent" and the id) and the time.
func (a *app) queue(ctx context.Context, o *queueOpts, client, method string, params any, done string, files ...*os.File) error {
	var w *ctl.Watcher
	if !o.noWait {
		ctx2, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		ctx = ctx2
		// Subscribed first, so that no status change is missed.
		var err error
		if w, err = a.client.Watch(ctx, ctl.SubscribeParams{Clients: []string{client}, Kinds: []string{ctl.KindMessageStatus}}); err != nil {
			return err
		}
		defer w.Close()
	}
	var r ctl.SendResult
	if err := a.client.CallFiles(ctx, method, params, &r, files...); err != nil {
		return err
	}
	if w == nil {
		if a.json {
			return a.printJSON(r)
		}
		fmt.Fprintf(a.stdout, "queued %s\n", r.ID)
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("message %s not sent within %s; it stays queued (wactl message status %s %s)", r.ID, o.timeout, client, r.ID)
		case ev, ok := <-w.C:
			if !ok {
				return fmt.Errorf("the daemon closed the connection; message %s is queued", r.ID)
			}
			st := ev.Status
			if st == nil || st.ID != r.ID {
				continue
			}
			switch st.State {
			case ctl.OutQueued:
				continue
			case ctl.OutFailed:
				code := st.Code
				if code == 0 {
					code = ctl.CodeUpstream
				}
				return ctl.Errorf(code, "message %s failed (%s): %s", st.ID, st.Reason, st.Error)
			}
			if a.json {
				return a.printJSON(ctl.SendResult{ID: st.ID, State: st.State, Timestamp: st.Timestamp})
			}
			if done == "" {
				done = "sent " + st.ID
			}
			fmt.Fprintf(a.stdout, "%s at %s\n", done, st.Timestamp.Local().Format(time.RFC3339))
			return nil
		}
	}
}

// messageStatus prints where a queued message is.
func (a *app) messageStatus(ctx context.Context, args []string) error {
	var st ctl.MessageStatus
	if err := a.client.Call(ctx, ctl.MethodMsgStatus, ctl.MessageStatusParams{Client: args[0], ID: args[1]}, &st); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(st)
	}
	fmt.Fprintf(a.stdout, "%s %s to %s: %s", st.ID, st.Method, st.Chat, st.State)
	if st.State == ctl.OutFailed {
		fmt.Fprintf(a.stdout, " (%s): %s", st.Reason, st.Error)
	}
	fmt.Fprintln(a.stdout)
	for _, t := range []struct {
		what string
		at   time.Time
	}{{"queued", st.Queued}, {"sent", st.Sent}, {"delivered", st.Delivered}, {"read", st.Read}} {
		if !t.at.IsZero() {
			fmt.Fprintf(a.stdout, "  %-9s %s\n", t.what, t.at.Local().Format(time.RFC3339))
		}
	}
	if st.Attempts > 1 {
		fmt.Fprintf(a.stdout, "  %d attempts\n", st.Attempts)
	}
	return nil
}

// readText returns arg, or stdin's text (without one trailing newline)
// when arg is "-".
func (a *app) readText(arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, ctl.MaxTextLen+1))
	if err != nil {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func (a *app) send(ctx context.Context, args []string, o *sendOpts) error {
	p := ctl.SendParams{Client: args[0], To: args[1], ReplyTo: o.replyTo, Mentions: o.mentions}
	text, hasText := "", len(args) == 3
	if hasText {
		text = args[2]
	}
	n := 0
	for _, set := range []bool{o.file != "", o.location != "", o.contact != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return usagef("--file, --location and --contact are different messages: give one")
	case n == 0 && !hasText:
		return usagef("give TEXT (- reads it from stdin), --file, --location or --contact")
	case hasText && (o.location != "" || o.contact != ""):
		return usagef("TEXT cannot go with --location or --contact")
	case o.file == "" && (o.kind != "" || o.mime != "" || o.caption != "" || o.filename != ""):
		return usagef("--kind, --mime, --caption and --filename describe a --file")
	case o.location == "" && (o.name != "" || o.address != ""):
		return usagef("--name and --address describe a --location")
	case hasText && o.caption != "":
		return usagef("the caption is TEXT or --caption, not both")
	case o.kind != "" && !slices.Contains(ctl.MediaKinds, o.kind):
		return usagef("unknown --kind %q: want one of %s", o.kind, strings.Join(ctl.MediaKinds, ", "))
	case o.file == "-" && text == "-":
		return usagef("stdin cannot be both the file and the caption")
	}
	var err error
	if text, err = a.readText(text); err != nil {
		return err
	}
	var files []*os.File
	switch {
	case o.location != "":
		loc, err := parseLocation(o.location)
		if err != nil {
			return err
		}
		loc.Name, loc.Address = o.name, o.address
		p.Location = loc
	case o.contact != "":
		i := strings.LastIndex(o.contact, "=")
		if i < 0 || strings.TrimSpace(o.contact[:i]) == "" || strings.TrimSpace(o.contact[i+1:]) == "" {
			return usagef("--contact %q: want NAME=PHONE, e.g. \"Ada Lovelace=+441234567890\"", o.contact)
		}
		p.Contact = &ctl.ContactCard{Name: strings.TrimSpace(o.contact[:i]), Phone: strings.TrimSpace(o.contact[i+1:])}
	case o.file != "":
		f, done, err := a.openMedia(o.file)
		if err != nil {
			return err
		}
		defer done()
		files = append(files, f)
		caption := o.caption
		if hasText {
			caption = text
		}
		kind, name := o.kind, o.filename
		if name == "" && o.file != "-" {
			name = filepath.Base(o.file)
		}
		if kind == "" {
			kind = guessKind(name, o.mime)
		}
		fd := 0
		p.Media = &ctl.Media{Kind: kind, FD: &fd, Mime: o.mime, Filename: name, Caption: caption}
	default:
		p.Text = text
	}
	return a.queue(ctx, &o.queueOpts, p.Client, ctl.MethodSend, p, "", files...)
}

// openMedia opens the file to send (path "-": stdin) for passing to the
// daemon. done closes it (and, for a stdin that is no file, waits for
// the copy into the pipe that stands in for it).
func (a *app) openMedia(path string) (*os.File, func(), error) {
	if path == "-" {
		if f, ok := a.stdin.(*os.File); ok {
			if isTerminal(f) {
				return nil, nil, usagef("--file -: stdin is a terminal; redirect a file into it")
			}
			return f, func() {}, nil
		}
		// Not an open file (wactl run from a test): a pipe fed from it.
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, nil, err
		}
		copied := make(chan struct{})
		go func() {
			io.Copy(pw, a.stdin)
			pw.Close()
			close(copied)
		}()
		return pr, func() { pr.Close(); <-copied }, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s is a directory", path)
		}
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// guessKind returns the media kind of a file from its mime type, else
// its name's extension: images, videos and audio WhatsApp plays as
// such, and document for anything else. Stickers (WebP) and voice notes
// (Ogg/Opus) are never guessed: a .webp is sent as an image and an
// .ogg as audio unless --kind says otherwise.
func guessKind(name, mimeType string) string {
	if mimeType != "" {
		m, _, _ := strings.Cut(strings.ToLower(mimeType), ";")
		m = strings.TrimSpace(m)
		switch {
		case m == "image/jpeg" || m == "image/png" || m == "image/webp":
			return ctl.MediaImage
		case m == "video/mp4" || m == "video/3gpp":
			return ctl.MediaVideo
		case strings.HasPrefix(m, "audio/"):
			return ctl.MediaAudio
		}
		return ctl.MediaDocument
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".webp":
		return ctl.MediaImage
	case ".mp4", ".m4v", ".3gp":
		return ctl.MediaVideo
	case ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".amr":
		return ctl.MediaAudio
	}
	return ctl.MediaDocument
}

// parseLocation parses "LAT,LON" in decimal degrees.
func parseLocation(s string) (*ctl.Location, error) {
	bad := usagef("--location %q: want LAT,LON in decimal degrees, e.g. 52.5163,13.3777", s)
	ls, lo, ok := strings.Cut(s, ",")
	if !ok {
		return nil, bad
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(ls), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) {
		return nil, bad
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, usagef("--location %q: latitude is -90 to 90, longitude -180 to 180", s)
	}
	return &ctl.Location{Lat: lat, Lon: lon}, nil
}

func (a *app) react(ctx context.Context, args []string, o *queueOpts) error {
	p := ctl.ReactParams{Client: args[0], Chat: args[1], ID: args[2], Emoji: args[3]}
	done := "reacted " + p.Emoji + " to " + p.ID
	if p.Emoji == "" {
		done = "removed the reaction to " + p.ID
	}
	return a.queue(ctx, o, p.Client, ctl.MethodReact, p, done)
}

func (a *app) edit(ctx context.Context, args []string, o *queueOpts) error {
	text, err := a.readText(args[3])
	if err != nil {
		return err
	}
	p := ctl.EditParams{Client: args[0], Chat: args[1], ID: args[2], Text: text}
	return a.queue(ctx, o, p.Client, ctl.MethodEdit, p, "edited "+p.ID)
}

func (a *app) revoke(ctx context.Context, args []string, o *queueOpts) error {
	p := ctl.MessageRef{Client: args[0], Chat: args[1], ID: args[2]}
	return a.queue(ctx, o, p.Client, ctl.MethodRevoke, p, "revoked "+p.ID)
}

func (a *app) read(ctx context.Context, args []string) error {
	p := ctl.ReadParams{Client: args[0], Chat: args[1], IDs: args[2:]}
	var r ctl.ReadResult
	if err := a.client.Call(ctx, ctl.MethodRead, p, &r); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(r)
	}
	if len(r.IDs) == 0 {
		fmt.Fprintf(a.stdout, "nothing to mark read in %s\n", p.Chat)
		return nil
	}
	fmt.Fprintf(a.stdout, "marked read: %s\n", strings.Join(r.IDs, " "))
	return nil
}

func (a *app) presence(ctx context.Context, args []string) error {
	p := ctl.PresenceParams{Client: args[0], Chat: args[1], State: ctl.PresenceTyping}
	if len(args) == 3 {
		p.State = args[2]
	}
	if states := []string{ctl.PresenceTyping, ctl.PresenceRecording, ctl.PresencePaused}; !slices.Contains(states, p.State) {
		return usagef("unknown state %q: want %s", p.State, strings.Join(states, ", "))
	}
	var r ctl.OK
	if err := a.client.Call(ctx, ctl.MethodPresence, p, &r); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(r)
	}
	fmt.Fprintf(a.stdout, "%s: %s in %s\n", p.Client, p.State, p.Chat)
	return nil
}

func downloadFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	out := fs.String("o", "", "write to `FILE` (- for stdout) instead of the name the message carries")
	force := fs.Bool("force", false, "overwrite an existing file")
	return func(a *app, ctx context.Context, args []string) error { return a.download(ctx, args, *out, *force) }
}

// downloadOutput is what download prints with --json.
type downloadOutput struct {
	*ctl.DownloadResult
	// File is where the bytes went; empty for stdout.
	File string `json:"file,omitempty"`
}

func (a *app) download(ctx context.Context, args []string, out string, force bool) error {
	p := ctl.DownloadParams{Client: args[0], Chat: args[1], ID: args[2]}
	fd := 0
	p.FD = &fd
	var r ctl.DownloadResult
	call := func(f *os.File) error {
		if err := a.client.CallFiles(ctx, ctl.MethodDownload, p, &r, f); err != nil {
			return err
		}
		if len(r.Data) > 0 { // a daemon that answered with the bytes after all
			if _, err := f.Write(r.Data); err != nil {
				return err
			}
			r.Data = nil
		}
		return nil
	}
	var file string
	switch out {
	case "-":
		f, done, err := a.outputFile(ctx)
		if err != nil {
			return err
		}
		err = call(f)
		if derr := done(); err == nil {
			err = derr
		}
		if err != nil {
			return err
		}
		// The bytes went to stdout; the summary goes beside them.
		a = &app{stdout: a.stderr, stderr: a.stderr, json: a.json}
	case "":
		// The name comes with the result: download to a private name in
		// the current directory, then give it its name.
		f, tmp, err := createTemp(".", ".wactl-download-")
		if err != nil {
			return err
		}
		err = call(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			file = downloadName(r, p.ID)
			err = place(tmp, file, force)
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
	default:
		f, created, err := createOutput(out, force)
		if err != nil {
			return err
		}
		err = call(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			if created {
				os.Remove(out)
			}
			return err
		}
		file = out
	}
	if a.json {
		return a.printJSON(downloadOutput{&r, file})
	}
	where := file
	if where == "" {
		where = "stdout"
	}
	desc := []string{r.Kind}
	if r.Mime != "" {
		desc = append(desc, r.Mime)
	}
	desc = append(desc, humanSize(r.Size), "sha256 "+r.SHA256)
	fmt.Fprintf(a.stdout, "wrote %s (%s)\n", where, strings.Join(desc, ", "))
	return nil
}

// outputFile returns a file standing for stdout: stdout itself when it
// is one, else a pipe copied into it; done waits for the copy (or ctx).
func (a *app) outputFile(ctx context.Context) (*os.File, func() error, error) {
	if f, ok := a.stdout.(*os.File); ok {
		if isTerminal(f) {
			return nil, nil, usagef("-o -: stdout is a terminal; redirect it to a file or pipe, or use -o FILE")
		}
		return f, func() error { return nil }, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(a.stdout, pr)
		pr.Close()
		copied <- err
	}()
	// The daemon closes its copy of the write end after its reply;
	// the copy ends when both are closed.
	return pw, func() error {
		pw.Close()
		select {
		case err := <-copied:
			return err
		case <-ctx.Done():
			pr.Close()
			return ctx.Err()
		}
	}, nil
}

// createOutput opens path for writing: a new file, or with force an
// existing one truncated. created reports whether a failed download
// should remove it: a file made here, or a regular file whose content
// the truncation lost (never a device or pipe).
func createOutput(path string, force bool) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, false, err
	}
	if !force {
		return nil, false, fmt.Errorf("%s exists (--force overwrites it)", path)
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	return f, err == nil && fi.Mode().IsRegular(), nil
}

// createTemp creates a new file named prefix and a number in dir,
// with the permissions of any new file (0666 less the umask).
func createTemp(dir, prefix string) (*os.File, string, error) {
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), i))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil || !errors.Is(err, os.ErrExist) || i >= 1000 {
			return f, name, err
		}
	}
}

// place gives the downloaded file tmp the name name, overwriting an
// existing file only with force.
func place(tmp, name string, force bool) error {
	if force {
		return os.Rename(tmp, name)
	}
	err := os.Link(tmp, name)
	if err == nil {
		return os.Remove(tmp)
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: not overwritten (-o FILE saves it elsewhere, --force overwrites)", name)
	}
	// No hard links here (some file systems): check, then rename.
	if _, serr := os.Lstat(name); serr == nil {
		return fmt.Errorf("%s exists: not overwritten (-o FILE saves it elsewhere, --force overwrites)", name)
	}
	return os.Rename(tmp, name)
}

// downloadName is the file name a download is saved under without -o:
// the name the message carries, reduced to a plain name in the current
// directory, else the message id and an extension from the mime type.
func downloadName(r ctl.DownloadResult, id string) string {
	if n := safeName(r.Filename); n != "" {
		return n
	}
	name := safeName(id)
	if name == "" {
		name = "download"
	}
	return name + mimeExt(r.Mime)
}

// safeName returns the last element of a sender-chosen name, with
// control characters replaced and leading dots removed (a sender names
// no hidden file such as .bashrc), or "" when nothing usable is left.
func safeName(s string) string {
	s = strings.ReplaceAll(s, "\\", "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
	s = strings.TrimLeft(strings.TrimSpace(s), ".")
	for len(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// mimeExt returns a file extension for the mime types WhatsApp media
// comes in ("" when unknown).
func mimeExt(mimeType string) string {
	m, _, _ := strings.Cut(strings.ToLower(mimeType), ";")
	switch strings.TrimSpace(m) {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	case "video/mp4":
		return ".mp4"
	case "video/3gpp":
		return ".3gp"
	case "audio/ogg":
		return ".ogg"
	case "audio/mpeg":
		return ".mp3"
	case "audio/mp4", "audio/aac":
		return ".m4a"
	case "audio/amr":
		return ".amr"
	case "application/pdf":
		return ".pdf"
	case "text/plain":
		return ".txt"
	case "text/vcard", "text/x-vcard":
		return ".vcf"
	case "application/zip":
		return ".zip"
	}
	return ""
}

// humanSize renders a byte count in decimal units ("1.2 MB").
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTP"[exp])
}
