// Package packet is Midge's wire codec for the control packets of MQTT 3.1 (protocol level 3, "MQIsdp"), 3.1.1
// (level 4) and 5.0 (level 5), with every 5.0 property and reason code.
//
// # Basics
//
// Reading a packet takes two steps. ReadFixedHeader (from an io.ByteReader, such as a bufio.Reader) or
// ParseFixedHeader (from a byte slice) reads the fixed header and checks the packet type, the flags and, before any
// body byte is buffered, the packet size against the connection's maximum. Then Decode turns exactly
// h.Remaining bytes of body into one of the packet structs, validating every field as strictly as the
// specification allows. A connection that decodes many PUBLISH packets can keep one Publish and call its Decode
// method instead, which allocates only the topic string.
//
// Writing is Packet.Append: it computes the Remaining Length first, grows dst once, and appends the whole packet
// without allocating when dst has room. Append refuses what Decode would refuse, so Decode(Append(p)) equals p.
// One struct can be encoded for every version: fields a version lacks, such as 5.0 properties for 3.1.1, are left
// out.
//
// Errors from decoding are *ReasonError values that carry the 5.0 reason code the connection should answer with
// (MalformedPacket, ProtocolError, PacketTooLarge, UnsupportedProtocolVersion, TopicAliasInvalid); use errors.As.
// The package does no I/O beyond reading a fixed header, logs nothing and holds no state, so it is safe for
// concurrent use as long as each packet value is used by one goroutine at a time.
//
// # Caveats
//
//   - Decoded []byte fields (Payload, Password, Will.Payload, Correlation Data, Authentication Data) alias the body
//     passed to Decode. Copy them, or the whole body, before reusing the read buffer. Strings are always copied
//     (into one copy per packet).
//   - The codec checks syntax, not state. It does not know topic aliases, packet identifiers in flight, the
//     negotiated maximums, or the direction a packet travels (for example, a client's PUBLISH must not carry a
//     Subscription Identifier); the broker checks those.
//   - Topic names and filters are only checked as UTF-8 strings; wildcards, empty filters and '$share/' syntax are
//     the topic package's concern. The 23-character client identifier limit of 3.1 is not enforced either.
//   - Decode never sizes an allocation from a length read off the wire, but a decoded packet can take more memory
//     than its body: at most 9*len(body) + 32 KiB bytes. All the strings of a packet share one copy of the body
//     (at most its size); each list is counted first and allocated once, and costs at most 8 bytes per body byte
//     (a UserProperty value, 32 bytes, for each User Property of 5 bytes on the wire; a Subscription, 24 bytes, for
//     each subscription of 3; a string header, 16 bytes, for each UNSUBSCRIBE filter of 2). Bound the packet size
//     (ReadFixedHeader's maxSize) to bound the memory. Keeping one decoded string keeps its packet's copy alive.
//   - Some encodings have several forms. Append always writes the shortest one (for example a 5.0 PUBACK with
//     Success and no properties as two bytes, and properties in increasing identifier order), so re-encoding a
//     decoded packet can give different bytes that decode to the same packet.
//   - For 3.x, a CONNACK reason code and the SUBACK failure codes lose detail: every failure without a 3.x return
//     code is written as 3 (server unavailable), and every SUBACK failure as 0x80. A zero-length string property
//     decodes as absent.
//   - The first byte of a 3.1 CONNACK is reserved in 3.1; it is read and written as 3.1.1's Session Present flag.
//   - A 5.0 AUTH whose body holds only a reason code is accepted, as DISCONNECT allows it, though the
//     specification only mentions the empty form.
package packet
