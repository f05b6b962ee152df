package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/midgemq/midge/broker"
)

// ReloadResult is what a reload of the configuration did, as POST
// /api/v1/reload reports it.
type ReloadResult struct {
	// Applied lists the keys whose new values took effect, such as
	// "max_inflight_messages".
	Applied []string `json:"applied"`
	// Refused lists the keys whose values changed but cannot change while
	// the broker runs, such as "listener"; they take effect at the next
	// start.
	Refused []string `json:"refused"`
}

// limitsBody is the body of GET /api/v1/limits and the answer to PUT: the
// limits in force, under the names of midge.toml's keys and with their
// meanings (max_queued_messages 0 means no queue, max_connections -1 no
// limit, max_keepalive "0s" no limit, max_store_size 0 no limit).
type limitsBody struct {
	MaxPacketSize       int64  `json:"max_packet_size"`
	MaxInflightMessages int    `json:"max_inflight_messages"`
	MaxQueuedMessages   int    `json:"max_queued_messages"`
	MaxConnections      int    `json:"max_connections"`
	MaxOutputBytes      int64  `json:"max_output_bytes"`
	MaxKeepalive        string `json:"max_keepalive"`
	WriteTimeout        string `json:"write_timeout"`
	MaxStoreSize        int64  `json:"max_store_size"`
	// LogLevel is left out when Options.LogLevel is nil.
	LogLevel string `json:"log_level,omitempty"`
}

// limitsRequest is the body of PUT /api/v1/limits: the members present
// change, the others keep their values.
type limitsRequest struct {
	MaxPacketSize       *int64  `json:"max_packet_size"`
	MaxInflightMessages *int    `json:"max_inflight_messages"`
	MaxQueuedMessages   *int    `json:"max_queued_messages"`
	MaxConnections      *int    `json:"max_connections"`
	MaxOutputBytes      *int64  `json:"max_output_bytes"`
	MaxKeepalive        *string `json:"max_keepalive"`
	WriteTimeout        *string `json:"write_timeout"`
	MaxStoreSize        *int64  `json:"max_store_size"`
	LogLevel            *string `json:"log_level"`
}

// limitKeys maps the fields of broker.Limits to the keys of limitsBody.
var limitKeys = map[string]string{
	"MaxPacketSize":  "max_packet_size",
	"MaxInflight":    "max_inflight_messages",
	"MaxQueued":      "max_queued_messages",
	"MaxConnections": "max_connections",
	"MaxOutputBytes": "max_output_bytes",
	"MaxKeepAlive":   "max_keepalive",
	"WriteTimeout":   "write_timeout",
	"MaxStoreBytes":  "max_store_size",
}

// logLevels are the levels log_level may name.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

// levelName names l as log_level does.
func levelName(l slog.Level) string {
	for name, v := range logLevels {
		if v == l {
			return name
		}
	}
	return strings.ToLower(l.String())
}

// limitsBodyOf returns the body that shows l and the log level.
func (h *Handler) limitsBodyOf(l broker.Limits) limitsBody {
	b := limitsBody{
		MaxPacketSize:       int64(l.MaxPacketSize),
		MaxInflightMessages: l.MaxInflight,
		MaxQueuedMessages:   max(l.MaxQueued, 0),
		MaxConnections:      l.MaxConnections,
		MaxOutputBytes:      int64(l.MaxOutputBytes),
		MaxKeepalive:        (time.Duration(l.MaxKeepAlive) * time.Second).String(),
		WriteTimeout:        l.WriteTimeout.String(),
		MaxStoreSize:        l.MaxStoreBytes,
	}
	if l.MaxConnections < 0 {
		b.MaxConnections = -1
	}
	if h.opts.LogLevel != nil {
		b.LogLevel = levelName(h.opts.LogLevel.Level())
	}
	return b
}

func (h *Handler) getLimits(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, r, http.StatusOK, h.limitsBodyOf(h.srv.Limits()))
}

func (h *Handler) putLimits(w http.ResponseWriter, r *http.Request) {
	var req limitsRequest
	if err := decodeBody(w, r, &req); err != nil {
		h.writeFieldError(w, r, err)
		return
	}
	// One change at a time, so that two requests that change different
	// limits do not undo each other.
	h.limitsMu.Lock()
	defer h.limitsMu.Unlock()
	l := h.srv.Limits()
	level, err := h.applyLimits(&l, &req)
	if err != nil {
		h.writeFieldError(w, r, err)
		return
	}
	if err := h.srv.SetLimits(l); err != nil {
		var le *broker.LimitError
		if errors.As(err, &le) {
			key := limitKeys[le.Limit]
			h.writeError(w, r, http.StatusBadRequest, key, key+" "+le.Reason)
			return
		}
		h.writeError(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	if req.LogLevel != nil {
		h.opts.LogLevel.Set(level)
	}
	body := h.limitsBodyOf(h.srv.Limits())
	h.log.Info("limits changed through the admin api", "limits", body, "remote", r.RemoteAddr)
	h.writeJSON(w, r, http.StatusOK, body)
}

// applyLimits changes l as req asks and returns the log level req names
// (meaningful when req.LogLevel is set). Values are checked here as far
// as midge.toml's meanings go; SetLimits checks the ranges.
func (h *Handler) applyLimits(l *broker.Limits, req *limitsRequest) (slog.Level, error) {
	bad := func(field, format string, args ...any) error {
		return &fieldError{status: http.StatusBadRequest, field: field, msg: field + " " + fmt.Sprintf(format, args...)}
	}
	if v := req.MaxPacketSize; v != nil {
		if *v <= 0 {
			return 0, bad("max_packet_size", "must be positive")
		}
		l.MaxPacketSize = int(*v)
	}
	if v := req.MaxInflightMessages; v != nil {
		if *v <= 0 {
			return 0, bad("max_inflight_messages", "must be positive")
		}
		l.MaxInflight = *v
	}
	if v := req.MaxQueuedMessages; v != nil {
		switch {
		case *v < 0:
			return 0, bad("max_queued_messages", "must not be negative (0 means no queue)")
		case *v == 0:
			l.MaxQueued = -1 // the broker's "no queue"
		default:
			l.MaxQueued = *v
		}
	}
	if v := req.MaxConnections; v != nil {
		if *v == 0 || *v < -1 {
			return 0, bad("max_connections", "must be positive, or -1 for no limit")
		}
		l.MaxConnections = *v
	}
	if v := req.MaxOutputBytes; v != nil {
		if *v <= 0 {
			return 0, bad("max_output_bytes", "must be positive")
		}
		l.MaxOutputBytes = int(*v)
	}
	if v := req.MaxKeepalive; v != nil {
		d, err := time.ParseDuration(*v)
		if err != nil || d < 0 || d%time.Second != 0 {
			return 0, bad("max_keepalive", "must be a whole number of seconds such as \"60s\" (\"0s\" for no limit)")
		}
		l.MaxKeepAlive = int(min(d/time.Second, 1<<20))
	}
	if v := req.WriteTimeout; v != nil {
		d, err := time.ParseDuration(*v)
		if err != nil || d <= 0 {
			return 0, bad("write_timeout", "must be a positive duration such as \"30s\"")
		}
		l.WriteTimeout = d
	}
	if v := req.MaxStoreSize; v != nil {
		if *v < 0 {
			return 0, bad("max_store_size", "must not be negative (0 means no limit)")
		}
		l.MaxStoreBytes = *v
	}
	var level slog.Level
	if v := req.LogLevel; v != nil {
		if h.opts.LogLevel == nil {
			return 0, bad("log_level", "cannot change here: the broker's logger has no adjustable level")
		}
		lv, ok := logLevels[*v]
		if !ok {
			return 0, bad("log_level", "must be debug, info, warn or error")
		}
		level = lv
	}
	return level, nil
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if h.opts.Reload == nil {
		h.writeError(w, r, http.StatusConflict, "", "reload unavailable: the broker was not started from a configuration file")
		return
	}
	res, err := h.opts.Reload()
	if err != nil {
		h.writeError(w, r, http.StatusConflict, "", "configuration not reloaded: "+err.Error())
		return
	}
	if res.Applied == nil {
		res.Applied = []string{}
	}
	if res.Refused == nil {
		res.Refused = []string{}
	}
	h.log.Info("configuration reloaded through the admin api", "applied", res.Applied, "refused", res.Refused,
		"remote", r.RemoteAddr)
	h.writeJSON(w, r, http.StatusOK, res)
}

// writeFieldError answers a request whose body or values were refused.
func (h *Handler) writeFieldError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		h.writeError(w, r, fe.status, fe.field, fe.msg)
		return
	}
	h.writeError(w, r, http.StatusBadRequest, "", err.Error())
}
