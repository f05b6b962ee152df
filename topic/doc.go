// Package topic validates MQTT topic names and filters and indexes them.
//
// Index maps topic filters to the subscriptions that hold them and answers,
// for one topic name, every subscription whose filter matches it. Retained
// maps topic names to values and answers, for one topic filter, every value
// whose name it matches. Both follow the matching rules of MQTT 3.1.1 and 5.0
// section 4.7: '+' matches one level, '#' matches the parent level and any
// number of levels below it, and a filter that starts with a wildcard does
// not match a topic name that starts with '$'.
//
// Both types are safe for concurrent use. Matching takes a shared lock, so
// publishes on many goroutines match at once; adding and removing
// subscriptions take the exclusive lock.
package topic
