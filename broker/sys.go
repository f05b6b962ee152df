package broker

import (
	"math"
	"strconv"
	"time"
)

// sysPrefix starts the topics of the broker's own figures. Filters that
// begin with a wildcard do not match them [MQTT-4.7.2-1].
const sysPrefix = "$SYS/broker/"

// sysLoad is an exponentially weighted moving average of a rate, per
// minute, over a window: the load averages of $SYS/broker/load/.
type sysLoad struct {
	window time.Duration
	value  float64
}

func (l *sysLoad) update(perMinute float64, elapsed time.Duration) {
	decay := math.Exp(-elapsed.Seconds() / l.window.Seconds())
	l.value = perMinute + decay*(l.value-perMinute)
}

// runSys publishes the broker's figures every SysInterval until stop is
// closed.
func (s *Server) runSys(stop <-chan struct{}) {
	start := time.Now()
	ticker := time.NewTicker(s.opts.SysInterval)
	defer ticker.Stop()
	windows := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
	loads := map[string][]*sysLoad{}
	for _, name := range []string{"messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections"} {
		for _, w := range windows {
			loads[name] = append(loads[name], &sysLoad{window: w})
		}
	}
	last, lastAt := s.Stats(), start
	s.publishSys(start, last, loads)
	for {
		select {
		case <-stop:
			return
		case now := <-ticker.C:
			st := s.Stats()
			elapsed := now.Sub(lastAt)
			perMinute := func(d int64) float64 { return float64(d) / elapsed.Minutes() }
			deltas := map[string]int64{
				"messages/received": st.MessagesReceived - last.MessagesReceived,
				"messages/sent":     st.MessagesSent - last.MessagesSent,
				"bytes/received":    st.BytesReceived - last.BytesReceived,
				"bytes/sent":        st.BytesSent - last.BytesSent,
				"connections":       st.ConnectionsTotal - last.ConnectionsTotal,
			}
			for name, d := range deltas {
				for _, l := range loads[name] {
					l.update(perMinute(d), elapsed)
				}
			}
			last, lastAt = st, now
			s.publishSys(start, st, loads)
		}
	}
}

// publishSys publishes one round of figures as retained QoS 0 messages, in
// the layout Mosquitto made usual.
func (s *Server) publishSys(start time.Time, st Stats, loads map[string][]*sysLoad) {
	put := func(topic, value string) {
		// Kept apart from the clients' retained messages, in memory only,
		// and sent live to the subscribers of the topic.
		m := &Message{Topic: sysPrefix + topic, Payload: []byte(value)}
		retained := *m
		retained.Retain = true
		s.sys.Set(m.Topic, &retained)
		s.router.Publish(m, nil)
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	put("version", s.opts.Version)
	put("uptime", strconv.FormatInt(int64(time.Since(start).Seconds()), 10)+" seconds")
	put("clients/connected", n(st.ConnectionsCurrent))
	put("clients/total", n(st.SessionsCurrent))
	put("clients/maximum", n(st.ConnectionsMaximum))
	put("clients/disconnected", n(max(st.SessionsCurrent-st.ConnectionsCurrent, 0)))
	put("messages/received", n(st.MessagesReceived))
	put("messages/sent", n(st.MessagesSent))
	put("bytes/received", n(st.BytesReceived))
	put("bytes/sent", n(st.BytesSent))
	put("subscriptions/count", n(st.Subscriptions))
	put("retained messages/count", n(st.Retained))
	for reason, v := range st.Dropped {
		put("dropped/"+reason, n(v))
	}
	for name, ls := range loads {
		for _, l := range ls {
			suffix := strconv.Itoa(int(l.window.Minutes())) + "min"
			put("load/"+name+"/"+suffix, strconv.FormatFloat(l.value, 'f', 2, 64))
		}
	}
}
