package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{"a", nil},
		{"/", nil},
		{"sport/tennis/player1", nil},
		{"$SYS/broker/uptime", nil},
		{"a b/ü/日本", nil},
		{strings.Repeat("a", MaxLength), nil},
		{"", ErrEmpty},                                 // [MQTT-4.7.3-1]
		{strings.Repeat("a", MaxLength+1), ErrTooLong}, // [MQTT-4.7.3-3]
		{"a\x00b", ErrNullCharacter},                   // [MQTT-4.7.3-2]
		{"a\xffb", ErrInvalidUTF8},                     // [MQTT-1.5.3-1]
		{"sport/+", ErrWildcardInName},                 // [MQTT-3.3.2-2]
		{"sport/#", ErrWildcardInName},
		{"a+b", ErrWildcardInName},
	}
	for _, tt := range tests {
		if got := ValidateName(tt.name); !errors.Is(got, tt.want) {
			t.Errorf("ValidateName(%.20q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   error
	}{
		// [MQTT-4.7.1-2] [MQTT-4.7.1-3]: the spec's valid examples.
		{"sport/tennis/#", nil},
		{"#", nil},
		{"sport/#", nil},
		{"+", nil},
		{"+/tennis/#", nil},
		{"sport/+/player1", nil},
		{"/+", nil},
		{"+/+", nil},
		{"$SYS/#", nil},
		{"$share/group/sport/#", nil},
		{"$share/g/+", nil},
		{"$shared/x", nil}, // not a shared subscription, a plain filter
		// and its invalid ones.
		{"sport/tennis#", ErrMisplacedHash},
		{"sport/tennis/#/ranking", ErrMisplacedHash},
		{"#/", ErrMisplacedHash},
		{"sport+", ErrMisplacedPlus},
		{"+a/b", ErrMisplacedPlus},
		{"a/b+", ErrMisplacedPlus},
		{"", ErrEmpty},
		{"a\x00", ErrNullCharacter},
		{"a\xc0", ErrInvalidUTF8},
		{strings.Repeat("a", MaxLength+1), ErrTooLong},
		// [MQTT-4.8.2-1] [MQTT-4.8.2-2]
		{"$share//a", ErrEmptyShareName},
		{"$share/g+/a", ErrInvalidShare},
		{"$share/g#/a", ErrInvalidShare},
		{"$share/g", ErrNoSharedFilter},
		{"$share/g/", ErrNoSharedFilter},
		{"$share", ErrInvalidShare},
		{"$share/g/a#", ErrMisplacedHash},
	}
	for _, tt := range tests {
		if got := ValidateFilter(tt.filter); !errors.Is(got, tt.want) {
			t.Errorf("ValidateFilter(%.20q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in, group, filter string
		ok                bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g", "", "", false},
		{"a/b", "", "", false},
		{"$SYS/a", "", "", false},
	}
	for _, tt := range tests {
		g, f, ok := ParseShared(tt.in)
		if g != tt.group || f != tt.filter || ok != tt.ok {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tt.in, g, f, ok, tt.group, tt.filter, tt.ok)
		}
	}
}

// matchTable holds the matching examples of MQTT 3.1.1 and 5.0 section 4.7,
// and the edge cases around them.
var matchTable = []struct {
	filter, name string
	want         bool
}{
	// 4.7.1.2 Multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true}, // [MQTT-4.7.1-2]
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"sport/tennis/#", "sport/tennis", true},
	{"sport/tennis/#", "sport/tennisx", false},
	// 4.7.1.3 Single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "sport", true},
	{"+", "/sport", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/tennis/x/y", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"sport/+/player1", "sport/tennis/player2", false},
	// 4.7.2 Topics beginning with $ [MQTT-4.7.2-1].
	{"#", "$SYS/broker", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"a/#", "a/$x", true},
	{"a/+", "a/$x", true},
	// Exact and empty levels; matching is case sensitive.
	{"a/b", "a/b", true},
	{"a/b", "a/B", false},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"/", "/", true},
	{"+/+", "/", true},
	{"a", "a/", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTable {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Match("sport/+/player1/#", "sport/tennis/player1/score/wimbledon")
	})
	if allocs != 0 {
		t.Fatalf("Match allocates %v times per call", allocs)
	}
}
