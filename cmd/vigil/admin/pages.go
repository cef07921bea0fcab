package admin

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vigilmail/vigil/filters/history"
)

// web holds the dashboard's templates and stylesheet, compiled into the
// binary: the machines it runs on may have no internet, and a page must
// not depend on anything but this listener.
//
//go:embed web/templates/*.html web/static/*
var web embed.FS

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string
	LoggedIn bool
	Node     string
	CSRF     string
	Flash    string
	Error    string
	Data     any
}

type pages struct {
	tmpl   map[string]*template.Template
	static fs.FS
}

var pageFuncs = template.FuncMap{
	// rate shows a per-minute rate with the digits that matter.
	"rate": func(f float64) string {
		if f < 10 {
			return strconv.FormatFloat(f, 'f', 2, 64)
		}
		return strconv.FormatFloat(f, 'f', 0, 64)
	},
	// count writes a count with thousands separators.
	"count": func(n int) string {
		s := strconv.Itoa(n)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"join":  strings.Join,
	"sub":   func(a, b float64) float64 { return a - b },
	"ms": func(sec float64) string {
		switch {
		case sec <= 0:
			return "–"
		case sec < 0.001:
			return fmt.Sprintf("%.0f µs", sec*1e6)
		case sec < 1:
			return fmt.Sprintf("%.1f ms", sec*1e3)
		}
		return fmt.Sprintf("%.2f s", sec)
	},
}

func loadPages() *pages {
	p := &pages{tmpl: map[string]*template.Template{}}
	for _, name := range []string{"login", "error", "overview", "history", "entry", "learn", "config"} {
		p.tmpl[name] = template.Must(template.New(name).Funcs(pageFuncs).ParseFS(web, "web/templates/layout.html", "web/templates/"+name+".html"))
	}
	static, err := fs.Sub(web, "web/static")
	if err != nil {
		panic(err)
	}
	p.static = static
	return p
}

// render writes page name; a template error is logged and answered 500
// (the buffer keeps a half-rendered page from reaching the browser).
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	c := callerOf(r)
	if c.session != nil {
		d.LoggedIn = true
		if d.CSRF == "" {
			d.CSRF = c.session.csrf
		}
		if d.Flash == "" {
			d.Flash = s.sessions.takeFlash(c.session)
		}
	}
	d.Node = s.hooks().Node
	var buf bytes.Buffer
	if err := s.pages.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("admin: rendering a page", "page", name, "err", err)
		http.Error(w, "admin: cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", pageData{Title: http.StatusText(code), Error: msg})
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	b, err := fs.ReadFile(s.pages.static, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(b)
}

// --- overview ---

type actionRow struct {
	Action         string
	Taken, WouldBe int64
}

type symbolRow struct {
	Name    string
	Count   int64
	Percent float64
}

type overviewData struct {
	Window, StepName    string
	O                   history.Overview
	Lists               []ListHealth
	Actions             []actionRow
	Symbols             []symbolRow
	ByAction, ByWouldBe chart
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	window := r.URL.Query().Get("window")
	if _, ok := history.Windows[window]; !ok {
		window = "hour"
	}
	st, err := s.stats(window)
	if err != nil {
		s.pageError(w, r, http.StatusNotImplemented, err.Error())
		return
	}
	d := overviewData{Window: window, StepName: "minute", O: st.Overview, Lists: st.Lists}
	if st.Step > 60 {
		d.StepName = fmt.Sprintf("%d minutes", st.Step/60)
	}
	for _, a := range history.Actions {
		d.Actions = append(d.Actions, actionRow{string(a), st.Actions[string(a)], st.WouldBe[string(a)]})
	}
	for _, sc := range st.TopSymbols {
		row := symbolRow{Name: sc.Name, Count: sc.Count}
		if st.Total > 0 {
			row.Percent = 100 * float64(sc.Count) / float64(st.Total)
		}
		d.Symbols = append(d.Symbols, row)
	}
	d.ByAction = newChart(st.Points, "verdicts by action", func(p history.Point) map[string]int64 { return p.Actions })
	d.ByWouldBe = newChart(st.Points, "verdicts by would-be action", func(p history.Point) map[string]int64 { return p.WouldBe })
	s.render(w, r, http.StatusOK, "overview", pageData{Title: "Overview", Nav: "overview", Data: d})
}

// chart is a stacked bar chart drawn as inline SVG by the template.
type chart struct {
	W, H, Left float64
	Label      string
	Bars       []chartBar
	Ticks      []chartText
	XLabels    []chartText
	Legend     []string
}

type chartBar struct {
	Title string
	Segs  []chartSeg
}

type chartSeg struct {
	Class      string
	X, Y, W, H float64
}

type chartText struct {
	X, Y   float64
	Text   string
	Anchor string
}

func newChart(points []history.Point, label string, values func(history.Point) map[string]int64) chart {
	c := chart{W: 960, H: 180, Left: 44, Label: label}
	const top, bottom = 8.0, 16.0
	var peak int64
	for _, p := range points {
		peak = max(peak, p.Total)
	}
	scale := niceCeil(peak)
	plotH := c.H - top - bottom
	for i := 0; i <= 4; i++ {
		v := scale * int64(i) / 4
		c.Ticks = append(c.Ticks, chartText{Y: c.H - bottom - plotH*float64(v)/float64(scale), Text: strconv.FormatInt(v, 10)})
	}
	for _, a := range history.Actions {
		c.Legend = append(c.Legend, string(a))
	}
	n := float64(max(len(points), 1))
	slot := (c.W - c.Left) / n
	bw := max(slot*0.8, 1)
	for i, p := range points {
		x := c.Left + float64(i)*slot + (slot-bw)/2
		b := chartBar{Title: fmt.Sprintf("%s UTC: %d", p.Time.Format("15:04"), p.Total)}
		y := c.H - bottom
		vals := values(p)
		for _, a := range history.Actions {
			v := vals[string(a)]
			if v == 0 {
				continue
			}
			h := plotH * float64(v) / float64(scale)
			y -= h
			b.Segs = append(b.Segs, chartSeg{Class: string(a), X: round1(x), Y: round1(y), W: round1(bw), H: round1(h)})
			b.Title += fmt.Sprintf(", %s %d", a, v)
		}
		c.Bars = append(c.Bars, b)
	}
	if len(points) > 0 {
		for _, i := range []int{0, len(points) / 2, len(points) - 1} {
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case len(points) - 1:
				anchor = "end"
			}
			x := c.Left + float64(i)*slot + slot/2
			if anchor == "start" {
				x = c.Left + float64(i)*slot
			} else if anchor == "end" {
				x = c.Left + float64(i+1)*slot
			}
			c.XLabels = append(c.XLabels, chartText{X: round1(x), Text: points[i].Time.Format("15:04"), Anchor: anchor})
		}
	}
	return c
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// niceCeil is the smallest of 4, 8, 20, 40, 80, 200, ... (multiples of 4,
// so the four grid lines are whole numbers) at or above v.
func niceCeil(v int64) int64 {
	for d := int64(1); ; d *= 10 {
		for _, m := range []int64{4, 8, 20} {
			if m*d >= v {
				return m * d
			}
		}
	}
}

// --- history ---

type historyData struct {
	Q       history.Query
	Res     history.Result
	Actions []string
	NextURL string
	Size    int
}

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) {
	h := s.hooks().History
	if h == nil {
		s.pageError(w, r, http.StatusNotImplemented, "No history is kept (history.size is 0).")
		return
	}
	q, err := queryOf(r)
	if err != nil {
		s.pageError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	res, err := h.Search(r.Context(), q)
	if err != nil {
		s.pageError(w, r, historyStatus(err), "The history cannot be read now: "+err.Error())
		return
	}
	d := historyData{Q: q, Res: res}
	for _, a := range history.Actions {
		d.Actions = append(d.Actions, string(a))
	}
	if hs, ok := h.(interface{ Size() int }); ok {
		d.Size = hs.Size()
	}
	if res.Next != 0 {
		v := r.URL.Query()
		v.Set("before", strconv.FormatUint(res.Next, 10))
		d.NextURL = "/history?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "history", pageData{Title: "History", Nav: "history", Data: d})
}

func (s *Server) entryPage(w http.ResponseWriter, r *http.Request) {
	h := s.hooks().History
	if h == nil {
		s.pageError(w, r, http.StatusNotImplemented, "No history is kept (history.size is 0).")
		return
	}
	id, err := entryID(r)
	if err != nil {
		s.pageError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	d, err := h.Load(r.Context(), id)
	if err != nil {
		s.pageError(w, r, historyStatus(err), err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "entry", pageData{Title: "Message " + d.QueueID, Nav: "history", Data: d})
}

// learnEntryForm is the entry page's Mark spam / Mark not spam: the result
// is shown at the top of the entry page it returns to.
func (s *Server) learnEntryForm(w http.ResponseWriter, r *http.Request) {
	res, code, err := s.learnEntry(r)
	sess := callerOf(r).session
	if err != nil {
		if code == http.StatusBadRequest || code == http.StatusNotFound {
			s.pageError(w, r, code, err.Error())
			return
		}
		s.sessions.setFlash(sess, fmt.Sprintf("Not learned (%d %s): %v", code, http.StatusText(code), err))
	} else {
		s.sessions.setFlash(sess, "Learned: "+res)
	}
	http.Redirect(w, r, "/history/"+r.PathValue("id"), http.StatusSeeOther)
}

// --- learn (upload) ---

func (s *Server) learnPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "learn", pageData{Title: "Learn", Nav: "learn"})
}

// uploadForm learns an uploaded message. The form's fields come in the
// order csrf, class, file, and the file is streamed to the learner as it
// arrives (within admin.max_body), never stored first.
func (s *Server) uploadForm(w http.ResponseWriter, r *http.Request) {
	sess := callerOf(r).session
	fail := func(code int, msg string) {
		if sess == nil {
			http.Error(w, "admin: "+msg, code)
			return
		}
		s.sessions.setFlash(sess, fmt.Sprintf("Not learned (%d %s): %s", code, http.StatusText(code), msg))
		http.Redirect(w, r, "/learn", http.StatusSeeOther)
	}
	if r.ContentLength > s.maxBody.Load()+64<<10 {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload exceeds admin.max_body (%d bytes)", s.maxBody.Load()))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "not a file upload: "+err.Error())
		return
	}
	var csrf, class string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			fail(http.StatusBadRequest, "no file in the upload")
			return
		}
		if err != nil {
			fail(http.StatusBadRequest, "bad upload: "+err.Error())
			return
		}
		switch part.FormName() {
		case "csrf":
			csrf = smallField(part)
			continue
		case "class":
			class = smallField(part)
			continue
		case "file":
		default:
			continue
		}
		if sess != nil && !sameSecret(csrf, sess.csrf) {
			http.Error(w, "admin: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
			return
		}
		if class != "spam" && class != "ham" {
			fail(http.StatusBadRequest, fmt.Sprintf("class %q: want spam or ham", class))
			return
		}
		res, code, err := s.learnReport(w, r, part, class == "spam", sourceOf(r), "")
		if err != nil {
			fail(code, err.Error())
			return
		}
		name := part.FileName()
		if name == "" {
			name = "the message"
		}
		if sess == nil {
			writeJSON(w, map[string]any{"ok": true, "result": res})
			return
		}
		s.sessions.setFlash(sess, fmt.Sprintf("Learned %s: %s", name, res))
		http.Redirect(w, r, "/learn", http.StatusSeeOther)
		return
	}
}

// smallField reads a short form field.
func smallField(p *multipart.Part) string {
	b, _ := io.ReadAll(io.LimitReader(p, 256))
	return strings.TrimSpace(string(b))
}

// --- configuration ---

func (s *Server) configPage(w http.ResponseWriter, r *http.Request) {
	h := s.hooks()
	if h.Config == nil {
		s.pageError(w, r, http.StatusNotImplemented, "no configuration")
		return
	}
	y, err := h.Config()
	if err != nil {
		s.pageError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "config", pageData{Title: "Configuration", Nav: "config", Data: string(y)})
}
