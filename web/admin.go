package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/topic"
)

// Bounds of the list endpoints' limit parameter.
const (
	defaultClientLimit   = 1000
	defaultRetainedLimit = 100
	maxLimit             = 10000
)

// route is one endpoint of the admin API.
type route struct {
	pattern string
	handler http.Handler
}

// apiRoutes lists the admin API; docs/openapi.yaml describes each route, and
// a test checks that the two agree.
func (h *Handler) apiRoutes() []route {
	return []route{
		{pattern: "GET /api/v1/stats", handler: http.HandlerFunc(h.getStats)},
		{pattern: "GET /api/v1/clients", handler: http.HandlerFunc(h.listClients)},
		{pattern: "GET /api/v1/clients/{id}", handler: http.HandlerFunc(h.getClient)},
		{pattern: "DELETE /api/v1/clients/{id}", handler: http.HandlerFunc(h.disconnectClient)},
		{pattern: "GET /api/v1/retained", handler: http.HandlerFunc(h.listRetained)},
		{pattern: "DELETE /api/v1/retained/{topic...}", handler: http.HandlerFunc(h.deleteRetained)},
		{pattern: "POST /api/v1/publish", handler: http.HandlerFunc(h.publish)},
		{pattern: "GET /api/v1/limits", handler: http.HandlerFunc(h.getLimits)},
		{pattern: "PUT /api/v1/limits", handler: http.HandlerFunc(h.putLimits)},
		{pattern: "POST /api/v1/reload", handler: http.HandlerFunc(h.reload)},
	}
}

// statsBody is the body of GET /api/v1/stats.
type statsBody struct {
	Version            string           `json:"version"`
	ConnectionsCurrent int64            `json:"connections_current"`
	ConnectionsTotal   int64            `json:"connections_total"`
	ConnectionsMaximum int64            `json:"connections_maximum"`
	SessionsCurrent    int64            `json:"sessions_current"`
	MessagesReceived   int64            `json:"messages_received"`
	MessagesSent       int64            `json:"messages_sent"`
	BytesReceived      int64            `json:"bytes_received"`
	BytesSent          int64            `json:"bytes_sent"`
	Subscriptions      int64            `json:"subscriptions"`
	Retained           int64            `json:"retained"`
	Dropped            map[string]int64 `json:"dropped"`
}

func (h *Handler) getStats(w http.ResponseWriter, r *http.Request) {
	st := h.srv.Stats()
	h.writeJSON(w, r, http.StatusOK, statsBody{
		Version:            h.opts.Version,
		ConnectionsCurrent: st.ConnectionsCurrent,
		ConnectionsTotal:   st.ConnectionsTotal,
		ConnectionsMaximum: st.ConnectionsMaximum,
		SessionsCurrent:    st.SessionsCurrent,
		MessagesReceived:   st.MessagesReceived,
		MessagesSent:       st.MessagesSent,
		BytesReceived:      st.BytesReceived,
		BytesSent:          st.BytesSent,
		Subscriptions:      st.Subscriptions,
		Retained:           st.Retained,
		Dropped:            st.Dropped,
	})
}

// clientsBody is the body of GET /api/v1/clients.
type clientsBody struct {
	Clients []broker.ClientSnapshot `json:"clients"`
	// Total counts the sessions that passed the connected filter, before
	// the limit.
	Total     int  `json:"total"`
	Truncated bool `json:"truncated"`
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, defaultClientLimit)
	if err != nil {
		h.writeError(w, r, http.StatusBadRequest, "limit", err.Error())
		return
	}
	var connected *bool
	if s := r.URL.Query().Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			h.writeError(w, r, http.StatusBadRequest, "connected", "connected must be true or false")
			return
		}
		connected = &b
	}
	all := h.srv.Clients()
	out := all[:0]
	for _, c := range all {
		if connected == nil || c.Connected == *connected {
			out = append(out, c)
		}
	}
	body := clientsBody{Clients: out, Total: len(out)}
	if len(out) > limit {
		body.Clients, body.Truncated = out[:limit], true
	}
	h.writeJSON(w, r, http.StatusOK, body)
}

func (h *Handler) getClient(w http.ResponseWriter, r *http.Request) {
	c, ok := h.srv.Client(r.PathValue("id"))
	if !ok {
		h.writeError(w, r, http.StatusNotFound, "", "no session for this client id")
		return
	}
	h.writeJSON(w, r, http.StatusOK, c)
}

func (h *Handler) disconnectClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !h.srv.Disconnect(id) {
		h.writeError(w, r, http.StatusNotFound, "", "client not connected")
		return
	}
	h.log.Info("client disconnected through the admin api", "client_id", id, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// retainedMessage is one retained message in GET /api/v1/retained.
type retainedMessage struct {
	Topic string `json:"topic"`
	// Payload is the payload as text when it is valid UTF-8 (Encoding
	// "utf-8"), in standard base64 otherwise (Encoding "base64").
	Payload   string     `json:"payload"`
	Encoding  string     `json:"encoding"`
	QoS       byte       `json:"qos"`
	Publisher string     `json:"publisher,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// retainedBody is the body of GET /api/v1/retained.
type retainedBody struct {
	Retained  []retainedMessage `json:"retained"`
	Truncated bool              `json:"truncated"`
}

func (h *Handler) listRetained(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, defaultRetainedLimit)
	if err != nil {
		h.writeError(w, r, http.StatusBadRequest, "limit", err.Error())
		return
	}
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		filter = "#"
	}
	if err := topic.ValidateFilter(filter); err != nil {
		h.writeError(w, r, http.StatusBadRequest, "filter", fmt.Sprintf("invalid filter: %s", err))
		return
	}
	if strings.HasPrefix(filter, topic.SharePrefix) {
		h.writeError(w, r, http.StatusBadRequest, "filter", "a shared subscription filter matches no retained messages")
		return
	}
	// One more than asked tells whether there are more.
	msgs := h.srv.RetainedMessages(filter, limit+1)
	body := retainedBody{Retained: make([]retainedMessage, 0, min(len(msgs), limit))}
	if len(msgs) > limit {
		msgs, body.Truncated = msgs[:limit], true
	}
	now := time.Now()
	for _, m := range msgs {
		if m.Expired(now) {
			continue // expired: no subscriber gets it any more [MQTT-3.3.2-5]
		}
		rm := retainedMessage{Topic: m.Topic, QoS: m.QoS, Publisher: m.Publisher}
		if utf8.Valid(m.Payload) {
			rm.Payload, rm.Encoding = string(m.Payload), "utf-8"
		} else {
			rm.Payload, rm.Encoding = base64.StdEncoding.EncodeToString(m.Payload), "base64"
		}
		if m.Expiry != 0 {
			at := time.Unix(0, m.Expiry)
			rm.ExpiresAt = &at
		}
		body.Retained = append(body.Retained, rm)
	}
	h.writeJSON(w, r, http.StatusOK, body)
}

func (h *Handler) deleteRetained(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := topic.ValidateName(name); err != nil {
		h.writeError(w, r, http.StatusBadRequest, "topic", fmt.Sprintf("invalid topic: %s", err))
		return
	}
	if !h.srv.DeleteRetained(name) {
		h.writeError(w, r, http.StatusNotFound, "", "no retained message on this topic")
		return
	}
	h.log.Info("retained message deleted through the admin api", "topic", name, "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// publishRequest is the body of POST /api/v1/publish. At most one of
// Payload and PayloadBase64 is set; neither means an empty payload.
type publishRequest struct {
	Topic         string  `json:"topic"`
	Payload       *string `json:"payload"`
	PayloadBase64 *string `json:"payload_base64"`
	QoS           int     `json:"qos"`
	Retain        bool    `json:"retain"`
}

// fieldError is a request error that names the field at fault.
type fieldError struct {
	status int
	field  string
	msg    string
}

func (e *fieldError) Error() string { return e.msg }

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	msg, err := decodePublish(w, r)
	if err != nil {
		h.writeFieldError(w, r, err)
		return
	}
	h.srv.Router().Publish(msg, nil)
	h.metrics.adminPublishes.Add(1)
	h.log.Info("message published through the admin api", "topic", msg.Topic, "qos", msg.QoS,
		"retain", msg.Retain, "bytes", len(msg.Payload), "remote", r.RemoteAddr)
	w.WriteHeader(http.StatusAccepted)
}

// decodePublish reads and validates a publish request into a message.
func decodePublish(w http.ResponseWriter, r *http.Request) (*broker.Message, error) {
	var req publishRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, err
	}
	if err := topic.ValidateName(req.Topic); err != nil {
		return nil, &fieldError{status: http.StatusBadRequest, field: "topic", msg: fmt.Sprintf("invalid topic: %s", err)}
	}
	if req.QoS < 0 || req.QoS > 2 {
		return nil, &fieldError{status: http.StatusBadRequest, field: "qos", msg: "qos must be 0, 1 or 2"}
	}
	msg := &broker.Message{Topic: req.Topic, QoS: byte(req.QoS), Retain: req.Retain}
	switch {
	case req.Payload != nil && req.PayloadBase64 != nil:
		return nil, &fieldError{status: http.StatusBadRequest, field: "payload_base64",
			msg: "payload and payload_base64 are exclusive"}
	case req.Payload != nil:
		msg.Payload = []byte(*req.Payload)
	case req.PayloadBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.PayloadBase64)
		if err != nil {
			return nil, &fieldError{status: http.StatusBadRequest, field: "payload_base64",
				msg: fmt.Sprintf("payload_base64 is not standard base64: %s", err)}
		}
		msg.Payload = b
	}
	return msg, nil
}

// decodeBody decodes the request's body, one JSON object of at most
// MaxBodyBytes without unknown members, into v. Its errors are fieldErrors
// where the fault is the client's.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		if err != nil {
			return bodyError(err)
		}
		return &fieldError{status: http.StatusBadRequest, msg: "body holds more than one JSON value"}
	}
	return nil
}

// bodyError turns a JSON decoding error into a fieldError.
func bodyError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		typeError *json.UnmarshalTypeError
		syntax    *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &fieldError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("body is over %d bytes", tooLarge.Limit)}
	case errors.As(err, &typeError) && typeError.Field == "":
		return &fieldError{status: http.StatusBadRequest, msg: "body must be a JSON object"}
	case errors.As(err, &typeError):
		return &fieldError{status: http.StatusBadRequest, field: typeError.Field,
			msg: fmt.Sprintf("%s must be a JSON %s", typeError.Field, jsonType(typeError.Type.Kind().String()))}
	case errors.As(err, &syntax):
		return &fieldError{status: http.StatusBadRequest, msg: fmt.Sprintf("body is not valid JSON: %s", err)}
	case errors.Is(err, io.EOF):
		return &fieldError{status: http.StatusBadRequest, msg: "body is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &fieldError{status: http.StatusBadRequest, msg: "body is truncated JSON"}
	}
	// encoding/json reports unknown members only in its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, uerr := strconv.Unquote(name); uerr == nil {
			name = f
		}
		return &fieldError{status: http.StatusBadRequest, field: name, msg: fmt.Sprintf("unknown field %q", name)}
	}
	return fmt.Errorf("web: decode request body: %w", err)
}

// jsonType names the JSON type that holds a Go kind.
func jsonType(kind string) string {
	switch {
	case kind == "string" || kind == "ptr":
		return "string"
	case kind == "bool":
		return "boolean"
	case strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint"):
		return "integer"
	}
	return kind
}

// queryLimit parses the limit query parameter: an integer in 1..maxLimit,
// def when absent.
func queryLimit(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fmt.Errorf("limit must be an integer in 1..%d", maxLimit)
	}
	return n, nil
}
