package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is what a comparison found.
type report struct {
	o          *options
	env        environment
	start, end time.Time
	loadEnd    string
	results    []*scenarioResult
	// large holds the figures of the large-state scenario by broker; nil when it did not run.
	large     map[brokerKind]sample
	largeErrs []string
	// failed lists the runs that gave no figures at all.
	failed []string
}

// scenarioResult is the figures of one scenario's rounds.
type scenarioResult struct {
	sc      scenario
	samples map[brokerKind][]sample
	errs    []string
}

// figure returns the median (or, for a sum metric, the sum) of m over the rounds of broker b that measured it.
func (r *scenarioResult) figure(b brokerKind, m metric) (float64, bool) {
	var vals []float64
	for _, s := range r.samples[b] {
		if v, ok := s[m.key]; ok && !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	if m.sum {
		var t float64
		for _, v := range vals {
			t += v
		}
		return t, true
	}
	return median(vals), true
}

// median returns the median of vals, which is not empty: the middle value, or the mean of the two middle ones.
func median(vals []float64) float64 {
	v := slices.Clone(vals)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// brief sums up one run's sample in a progress line.
func (sc scenario) brief(s sample) string {
	if s == nil {
		return "no figures"
	}
	var parts []string
	for _, m := range sc.metrics {
		if v, ok := s[m.key]; ok {
			parts = append(parts, m.label+" "+format(m.kind, v))
		}
	}
	return strings.Join(parts, ", ")
}

// format shows v as a figure of kind.
func format(kind string, v float64) string {
	switch kind {
	case kindRate, kindCount:
		return thousands(int(math.Round(v)))
	case kindLatency:
		return formatDuration(time.Duration(v))
	case kindBytes:
		switch {
		case v >= 1<<30:
			return fmt.Sprintf("%.2f GiB", v/(1<<30))
		case v >= 10<<20:
			return fmt.Sprintf("%.0f MiB", v/(1<<20))
		case v >= 1<<20:
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		case v >= 10<<10:
			return fmt.Sprintf("%.0f KiB", v/(1<<10))
		}
		return thousands(int(math.Round(v))) + " B"
	case kindPercent:
		return fmt.Sprintf("%.1f %%", v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatDuration shows d with three significant digits.
func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ratio shows a/b as a multiple, or "—" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.1f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// result returns the figures of scenario name, or nil when it did not run.
func (rep *report) result(name string) *scenarioResult {
	for _, r := range rep.results {
		if r.sc.name == name {
			return r
		}
	}
	return nil
}

// write writes the report as markdown.
func (rep *report) write(b *strings.Builder) {
	o, e := rep.o, rep.env
	fmt.Fprintf(b, "### Results of %s\n\n", rep.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "- Machine: %d cores, %s, %s of memory, Linux %s.\n", e.cores, e.cpu, e.mem, e.kernel)
	fmt.Fprintf(b, "- Load average (1, 5, 15 min): %s at the start, %s at the end (%s in all).\n", e.loadStart,
		rep.loadEnd, rep.end.Sub(rep.start).Round(time.Second))
	fmt.Fprintf(b, "- Software: Go %s; %s (`%s`); %s (`%s`).\n", strings.TrimPrefix(e.goVersion, "go"),
		e.mosquittoVersion, o.mosquittoBin, e.midgeVersion, shortPath(o.midgeBin))
	fmt.Fprintf(b, "- Command: `%s`.\n", e.command)
	fmt.Fprintf(b, "- %s; in each, every scenario runs against Mosquitto and then Midge, each broker started "+
		"afresh; %s per run; 64-byte payloads; MQTT 3.1.1; the load generator runs on the same machine. "+
		"Figures are medians of the rounds unless marked.\n\n", plural(o.rounds, "round"), o.duration)

	if len(rep.results) > 0 {
		b.WriteString("| Scenario | Figure | Mosquitto | Midge | Midge / Mosquitto |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: |\n")
		for _, r := range rep.results {
			for i, m := range r.sc.metrics {
				title := ""
				if i == 0 {
					title = r.sc.title
				}
				mq, okq := r.figure(mosquitto, m)
				md, okd := r.figure(midge, m)
				cell := func(v float64, ok bool) string {
					if !ok {
						return "—"
					}
					return format(m.kind, v)
				}
				rt := "—"
				if okq && okd && !m.sum && m.kind != kindPercent && m.kind != kindCount {
					rt = ratio(md, mq)
				}
				label := m.label
				if m.sum && o.rounds > 1 {
					label += " (sum of the rounds)"
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", title, label, cell(mq, okq), cell(md, okd), rt)
			}
		}
		b.WriteString("\n")
	}
	if rep.large != nil {
		rep.writeLarge(b)
	}
	rep.writeTargets(b)

	if len(rep.results) > 0 {
		b.WriteString("What ran:\n\n")
		for _, r := range rep.results {
			fmt.Fprintf(b, "- **%s** (`-only %s`): %s.\n", r.sc.title, r.sc.name, r.sc.how)
		}
		b.WriteString("\nBroker CPU per delivery is the CPU time (user and system, from /proc/PID/stat) the broker " +
			"process used during the run, over the messages delivered: it tells the brokers apart even where the " +
			"two cores, shared with the load generator, cap the rate. Load generator CPU per delivery is the same for " +
			"this process, which runs the clients: a broker that cost nothing would be bound by it.\n")
		b.WriteString("\nEvery round (Mosquitto; Midge):\n\n")
		b.WriteString("| Scenario | Figure | Mosquitto | Midge |\n| --- | --- | --- | --- |\n")
		for _, r := range rep.results {
			for i, m := range r.sc.metrics {
				title := ""
				if i == 0 {
					title = r.sc.title
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s |\n", title, m.label, rounds(r.samples[mosquitto], m),
					rounds(r.samples[midge], m))
			}
		}
		b.WriteString("\n")
	}
	var errs []string
	for _, r := range rep.results {
		errs = append(errs, r.errs...)
	}
	errs = append(errs, rep.largeErrs...)
	if len(errs) > 0 {
		b.WriteString("Errors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(b, "- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
		b.WriteString("\n")
	}
}

// plural returns n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// rounds lists the figure m of every round.
func rounds(samples []sample, m metric) string {
	var parts []string
	for _, s := range samples {
		if v, ok := s[m.key]; ok {
			parts = append(parts, format(m.kind, v))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "; ")
}

// shortPath shows p relative to the working directory when it is under it.
func shortPath(p string) string {
	if wd, err := os.Getwd(); err == nil {
		if rest, ok := strings.CutPrefix(p, wd+"/"); ok {
			return rest
		}
	}
	return p
}

// writeLarge writes the table of the large-state scenario.
func (rep *report) writeLarge(b *strings.Builder) {
	o := rep.o
	fmt.Fprintf(b, "Large state: each broker empty, then holding %s retained messages (`ret/<a>/<b>`, 64 bytes) "+
		"and %s subscriptions (%d connections of %s filters, half with a `+` level). Subscribe latency is "+
		"SUBSCRIBE to SUBACK for %s subscriptions in turn, in batches of %d %s apart, each to the topic of a "+
		"retained message; msg/s "+
		"is the fan-in QoS 0 load above, on topics no loaded subscription matches, for %s. One run per broker.\n\n",
		thousands(o.retained), thousands(o.subs), (o.subs+subsPerConn-1)/subsPerConn, thousands(subsPerConn),
		thousands(subscribeProbes), probeBatch, probePause, o.duration)
	b.WriteString("| Figure | Mosquitto empty | Mosquitto loaded | Midge empty | Midge loaded | Midge loaded / empty |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	cell := func(k brokerKind, key, kind string) (string, float64, bool) {
		v, ok := rep.large[k][key]
		if !ok {
			return "—", 0, false
		}
		return format(kind, v), v, true
	}
	for _, m := range largeMetrics {
		qe, _, _ := cell(mosquitto, m.key+"_empty", m.kind)
		ql, _, _ := cell(mosquitto, m.key+"_loaded", m.kind)
		de, dev, oke := cell(midge, m.key+"_empty", m.kind)
		dl, dlv, okl := cell(midge, m.key+"_loaded", m.kind)
		rt := "—"
		if oke && okl && m.kind != kindBytes {
			rt = ratio(dlv, dev)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", m.label, qe, ql, de, dl, rt)
	}
	lr, _, _ := cell(midge, "load_retained", kindRate)
	ls, _, _ := cell(midge, "load_subs", kindRate)
	qr, _, _ := cell(mosquitto, "load_retained", kindRate)
	qs, _, _ := cell(mosquitto, "load_subs", kindRate)
	fmt.Fprintf(b, "| loading: retained msg/s, subscriptions/s | %s, %s | | %s, %s | | |\n\n", qr, qs, lr, ls)
}

// writeTargets writes whether Midge met each of its targets.
func (rep *report) writeTargets(b *strings.Builder) {
	type row struct{ target, result, verdict string }
	var rows []row
	add := func(target, result string, met bool) {
		v := "missed"
		if met {
			v = "met"
		}
		rows = append(rows, row{target, result, v})
	}
	throughput := func(name, what string, want float64) {
		r := rep.result(name)
		if r == nil {
			return
		}
		m := r.sc.metrics[0]
		mq, okq := r.figure(mosquitto, m)
		md, okd := r.figure(midge, m)
		target := fmt.Sprintf("%s: Midge ≥ %g× Mosquitto", what, want)
		if !okq || !okd || mq == 0 {
			add(target, "no figures", false)
			return
		}
		extra, met := "", md/mq >= want
		if name == "fanin-qos2" {
			lost, _ := r.figure(midge, metric{key: "lost", sum: true})
			dups, _ := r.figure(midge, metric{key: "dups", sum: true})
			extra = fmt.Sprintf(", %s lost and %s duplicates", thousands(int(lost)), thousands(int(dups)))
			met = met && lost == 0 && dups == 0
			target += " with zero loss"
		}
		add(target, ratio(md, mq)+extra, met)
	}
	throughput("fanin-qos0", "fan-in QoS 0", 4)
	throughput("fanin-qos1", "fan-in QoS 1", 2.5)
	throughput("fanin-qos2", "fan-in QoS 2", 3)
	throughput("fanout", "fan-out 1 → 100", 6)
	throughput("wildcard", thousands(rep.o.wildSubs)+" wildcard subscribers", 2)
	if r := rep.result("latency"); r != nil {
		m := metric{key: "p99"}
		mq, okq := r.figure(mosquitto, m)
		md, okd := r.figure(midge, m)
		if okq && okd {
			add("QoS 1 at 20,000 msg/s: Midge p99 ≤ Mosquitto's", fmt.Sprintf("%s vs %s",
				formatDuration(time.Duration(md)), formatDuration(time.Duration(mq))), md <= mq)
		} else {
			add("QoS 1 at 20,000 msg/s: Midge p99 ≤ Mosquitto's", "no figures", false)
		}
	}
	if r := rep.result("conns"); r != nil {
		per, okp := r.figure(midge, metric{key: "per_conn"})
		rd, okd := r.figure(midge, metric{key: "rate"})
		rq, okq := r.figure(mosquitto, metric{key: "rate"})
		target := "idle connections: ≤ 4 KiB broker RSS each"
		if okp {
			add(target, format(kindBytes, per), per <= 4096)
		} else {
			add(target, "no figures", false)
		}
		target = "idle connections: connect rate ≥ Mosquitto's"
		if okd && okq {
			add(target, fmt.Sprintf("%s vs %s /s (%s)", thousands(int(rd)), thousands(int(rq)), ratio(rd, rq)),
				rd >= rq)
		} else {
			add(target, "no figures", false)
		}
	}
	if rep.large != nil {
		s := rep.large[midge]
		target := fmt.Sprintf("%s retained + %s subscriptions: Midge within 2× of empty", thousands(rep.o.retained),
			thousands(rep.o.subs))
		se, ok1 := s["sub_p50_empty"]
		sl, ok2 := s["sub_p50_loaded"]
		pe, ok3 := s["pub_empty"]
		pl, ok4 := s["pub_loaded"]
		if ok1 && ok2 && ok3 && ok4 && se > 0 && pl > 0 {
			add(target, fmt.Sprintf("subscribe p50 %s of empty, msg/s %s of empty", ratio(sl, se), ratio(pl, pe)),
				sl <= 2*se && pl*2 >= pe)
		} else {
			add(target, "no figures", false)
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("| Target | Result | |\n| --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |\n", r.target, r.result, r.verdict)
	}
	b.WriteString("\n")
}
