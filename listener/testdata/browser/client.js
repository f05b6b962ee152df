// client.js runs in headless Chromium for TestBrowserMQTTJS
// (listener/browser_test.go). It reads the broker's ws and wss URLs from
// /config, speaks to each listener first with the browser's own WebSocket,
// then with MQTT.js (the global `mqtt` of mqtt.min.js) at MQTT 3.1.1 and
// 5.0, and POSTs the outcome to /result once. Progress lines go to /log as
// they happen, so that a run that hangs still shows how far it got.
'use strict';

// stepTimeout bounds every wait for the broker, in milliseconds.
const stepTimeout = 10000;
// pageTimeout bounds the whole run; the Go test waits longer.
const pageTimeout = 50000;

// logged chains the POSTs to /log, so that the lines arrive in order.
let logged = Promise.resolve();
function note(line) {
  const body = performance.now().toFixed(0) + ' ms: ' + line;
  logged = logged.then(() => fetch('/log', {method: 'POST', body})).catch(() => {});
}

let reported = false;
function report(result) {
  if (reported) {
    return;
  }
  reported = true;
  fetch('/result', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(result),
  }).catch((e) => note('POST /result: ' + e));
}

function fail(msg) {
  throw new Error(msg);
}

function expectEqual(what, got, want) {
  if (got !== want) {
    fail(what + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
  }
}

// within rejects when promise has not settled after ms.
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what + ': nothing after ' + ms + ' ms')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// socketEvents queues a WebSocket's events and returns a function that
// waits for the next one.
function socketEvents(ws) {
  const queue = [];
  const waiters = [];
  const push = (e) => {
    const w = waiters.shift();
    if (w) {
      w(e);
    } else {
      queue.push(e);
    }
  };
  ws.onopen = () => push({type: 'open'});
  ws.onmessage = (m) => push({type: 'message', data: m.data});
  ws.onerror = () => push({type: 'error'});
  ws.onclose = (c) => push({type: 'close', code: c.code});
  return (what) => within(stepTimeout, what,
    queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve)));
}

// rawChecks speaks MQTT 3.1.1 over a bare browser WebSocket.
async function rawChecks(url) {
  // The browser fails a handshake whose response selects no subprotocol
  // or one it did not offer, so an open socket with protocol "mqtt" is the
  // server's choice [MQTT-6.0.0-4].
  const ws = new WebSocket(url, ['mqtt']);
  ws.binaryType = 'arraybuffer';
  const next = socketEvents(ws);
  try {
    let e = await next('open');
    expectEqual('event', e.type, 'open');
    expectEqual('subprotocol', ws.protocol, 'mqtt');

    // CONNECT (level 4, clean session, keep-alive 60 s, empty client id)
    // split over two binary messages: the server must not assume that
    // packets align with messages [MQTT-6.0.0-2].
    const connect = new Uint8Array([
      0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ]);
    ws.send(connect.slice(0, 5));
    ws.send(connect.slice(5));
    let got = [];
    while (got.length < 4) {
      e = await next('CONNACK');
      expectEqual('event', e.type, 'message');
      if (!(e.data instanceof ArrayBuffer)) {
        fail('the broker sent a text message [MQTT-6.0.0-1]');
      }
      got = got.concat(Array.from(new Uint8Array(e.data)));
    }
    expectEqual('CONNACK', JSON.stringify(got), JSON.stringify([0x20, 0x02, 0x00, 0x00]));

    // A text message is a protocol error: the broker closes with 1003
    // (unsupported data) [MQTT-6.0.0-1].
    ws.send('PINGREQ');
    do {
      e = await next('close after a text message');
    } while (e.type === 'message');
    if (e.type === 'error') {
      e = await next('close after error');
    }
    expectEqual('event', e.type, 'close');
    expectEqual('close code', e.code, 1003);
  } finally {
    ws.close();
  }

  // A client that offers no subprotocol is refused: MQTT clients must
  // offer "mqtt" [MQTT-6.0.0-3].
  const bare = new WebSocket(url);
  const nextBare = socketEvents(bare);
  try {
    const e = await nextBare('refusal');
    if (e.type === 'open') {
      fail('a WebSocket without subprotocol was accepted');
    }
  } finally {
    bare.close();
  }
}

const text = new TextDecoder();

// Inbox collects a client's messages; take waits for the next one on a
// topic.
class Inbox {
  constructor(client) {
    this.messages = [];
    this.waiters = [];
    client.on('message', (topic, payload, packet) => {
      this.messages.push({topic, payload, packet});
      this.deliver();
    });
  }

  deliver() {
    this.waiters = this.waiters.filter((w) => {
      const i = this.messages.findIndex((m) => m.topic === w.topic);
      if (i < 0) {
        return true;
      }
      w.resolve(this.messages.splice(i, 1)[0]);
      return false;
    });
  }

  take(topic) {
    return within(stepTimeout, 'message on ' + topic, new Promise((resolve) => {
      this.waiters.push({topic, resolve});
      this.deliver();
    }));
  }
}

// connect opens an MQTT.js client and waits for its CONNACK.
async function connect(url, opts) {
  const client = mqtt.connect(url, opts);
  try {
    const ack = await within(stepTimeout, 'CONNACK', new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    }));
    client.on('error', (e) => note('client error: ' + e));
    return {client, ack};
  } catch (e) {
    client.end(true);
    throw e;
  }
}

// bigPayload is 200,000 characters of mixed one- to three-byte UTF-8,
// many WebSocket frames long.
function bigPayload() {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 ÄÖÜäöüß€✓';
  let s = '';
  for (let i = 0; s.length < 200000; i++) {
    s += alphabet[(i * 7) % alphabet.length];
  }
  return s;
}

// mqttCase runs MQTT.js at one protocol version over one listener. Its
// topics are under browser/<scheme>/v<version>/.
async function mqttCase(scheme, url, version) {
  const name = scheme + ' v' + version;
  const base = 'browser/' + scheme + '/v' + version;
  const {client, ack} = await connect(url, {
    protocolVersion: version,
    clientId: 'midge-browser-' + scheme + '-v' + version,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0,
    connectTimeout: stepTimeout,
  });
  try {
    expectEqual('CONNACK code', version === 5 ? ack.reasonCode : ack.returnCode, 0);
    expectEqual('CONNACK session present', ack.sessionPresent, false);
    const inbox = new Inbox(client);

    // A retained message, published before the subscription, arrives
    // with it and with its retain flag.
    await within(stepTimeout, 'retained PUBLISH',
      client.publishAsync(base + '/msg/retained', 'retained ' + name, {qos: 1, retain: true}));
    const granted = await within(stepTimeout, 'SUBACK', client.subscribeAsync(base + '/msg/#', {qos: 1}));
    expectEqual('granted', JSON.stringify(granted.map((g) => g.qos)), '[1]');
    const retained = await inbox.take(base + '/msg/retained');
    expectEqual('retained payload', text.decode(retained.payload), 'retained ' + name);
    expectEqual('retained flag', retained.packet.retain, true);

    // QoS 0, 1 and 2 back through the QoS 1 subscription, which caps the
    // delivery QoS at 1.
    const sent = [
      {topic: base + '/msg/qos0', payload: 'qos0 ' + name, qos: 0},
      {topic: base + '/msg/qos1', payload: 'qos1 ünïcödé ✓ ' + name, qos: 1},
      {topic: base + '/msg/qos2', payload: bigPayload(), qos: 2},
    ];
    const props = {userProperties: {origin: 'browser'}, contentType: 'text/plain'};
    for (const m of sent) {
      const opts = {qos: m.qos};
      if (version === 5) {
        opts.properties = props;
      }
      await within(stepTimeout, 'QoS ' + m.qos + ' PUBLISH', client.publishAsync(m.topic, m.payload, opts));
    }
    for (const m of sent) {
      const got = await inbox.take(m.topic);
      const what = 'QoS ' + m.qos + ' message';
      const payload = text.decode(got.payload);
      if (payload !== m.payload) {
        fail(what + ': payload of ' + payload.length + ' characters differs from the ' + m.payload.length + ' sent');
      }
      expectEqual(what + ' QoS', got.packet.qos, Math.min(m.qos, 1));
      expectEqual(what + ' retain flag', got.packet.retain, false);
      if (version === 5) {
        const p = got.packet.properties || {};
        expectEqual(what + ' user property', JSON.stringify(p.userProperties), JSON.stringify(props.userProperties));
        expectEqual(what + ' content type', p.contentType, props.contentType);
      }
    }

    // The Go client answers each message on .../up with "echo <payload>"
    // on .../down: browser to Go, then Go to browser.
    await within(stepTimeout, 'SUBACK', client.subscribeAsync(base + '/down', {qos: 1}));
    await within(stepTimeout, 'PUBLISH to Go', client.publishAsync(base + '/up', 'up ' + name, {qos: 1}));
    const echo = await inbox.take(base + '/down');
    expectEqual('message from Go', text.decode(echo.payload), 'echo up ' + name);
  } finally {
    await within(stepTimeout, 'DISCONNECT', client.endAsync()).catch((e) => note('end ' + name + ': ' + e));
  }
}

async function main() {
  const cfg = await (await fetch('/config')).json();
  const cases = [];
  const run = async (name, f) => {
    note('start ' + name);
    try {
      await f();
      cases.push({name, ok: true});
      note('pass ' + name);
    } catch (e) {
      const msg = String((e && e.stack) || e);
      cases.push({name, ok: false, error: msg});
      note('FAIL ' + name + ': ' + msg);
    }
  };
  for (const [scheme, url] of [['ws', cfg.ws], ['wss', cfg.wss]]) {
    await run(scheme + ' raw', () => rawChecks(url));
    for (const version of [4, 5]) {
      await run(scheme + ' v' + version, () => mqttCase(scheme, url, version));
    }
  }
  report({cases});
}

window.addEventListener('error', (e) => report({error: 'uncaught: ' + e.message}));
window.addEventListener('unhandledrejection', (e) => report({error: 'unhandled rejection: ' + e.reason}));
setTimeout(() => report({error: 'the page did not finish in ' + pageTimeout + ' ms'}), pageTimeout);
main().catch((e) => report({error: String((e && e.stack) || e)}));
