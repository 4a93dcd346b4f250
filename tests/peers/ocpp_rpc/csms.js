// An OCPP central system for ukscp's tests, independent of the Python `ocpp` package:
// built on npm's ocpp-rpc in strict mode, so every message ukscp sends, and every answer
// it gives, is validated against the OCPP JSON schemas of the negotiated protocol
// (OCPP 1.6J with the security extension, or OCPP 2.0.1).
//   node csms.js --port=N [--password=KEY] [--protocol=ocpp1.6|ocpp2.0.1]
// Without --protocol both are offered and the charge point's subprotocol chooses.
// It is driven by the test over stdio:
//   stdout: one JSON object per line ({"event": "listening"|"connected"|"rejected"|
//           "call"|"result"|"error"|"invalid"|"unhandled"|"disconnected", ...});
//   stdin:  one JSON command per line ({"call": "SetChargingProfile", "params": {...}},
//           or {"stop": true}).
// It exits by itself when stdin closes (the test ended, however it ended).
'use strict';
const readline = require('readline');
const { RPCServer, createRPCError } = require('ocpp-rpc');

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')),
);
const expectedPassword = args.password || null;
const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];
const protocols = args.protocol ? [args.protocol] : PROTOCOLS;
if (!protocols.every((protocol) => PROTOCOLS.includes(protocol))) {
  process.stderr.write(`unknown protocol ${args.protocol}; one of ${PROTOCOLS}\n`);
  process.exit(2);
}
let current = null;

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const now = () => new Date().toISOString();
let nextTransactionId = 1;

// What the central system answers to each call from the charge point, by protocol.
const answers = {
  'ocpp1.6': {
    BootNotification: () => ({ status: 'Accepted', currentTime: now(), interval: 300 }),
    Heartbeat: () => ({ currentTime: now() }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTagInfo: { status: 'Accepted' } }),
    StartTransaction: () => ({
      transactionId: nextTransactionId++, idTagInfo: { status: 'Accepted' },
    }),
    StopTransaction: () => ({ idTagInfo: { status: 'Accepted' } }),
    MeterValues: () => ({}),
    SecurityEventNotification: () => ({}),
    LogStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    SignedFirmwareStatusNotification: () => ({}),
    DataTransfer: () => ({ status: 'UnknownVendorId' }),
  },
  'ocpp2.0.1': {
    BootNotification: () => ({ status: 'Accepted', currentTime: now(), interval: 300 }),
    Heartbeat: () => ({ currentTime: now() }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTokenInfo: { status: 'Accepted' } }),
    TransactionEvent: () => ({}),
    MeterValues: () => ({}),
    SecurityEventNotification: () => ({}),
    NotifyReport: () => ({}),
    ReportChargingProfiles: () => ({}),
    LogStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    NotifyChargingLimit: () => ({}),
    ClearedChargingLimit: () => ({}),
    DataTransfer: () => ({ status: 'UnknownVendorId' }),
  },
};

const server = new RPCServer({ protocols, strictMode: true });

server.auth((accept, reject, handshake) => {
  const given = handshake.password ? handshake.password.toString('utf8') : null;
  if (expectedPassword !== null && given !== expectedPassword) {
    // Refused before the WebSocket upgrade: the charge point sees HTTP 401.
    emit({ event: 'rejected', identity: handshake.identity, withPassword: given !== null });
    reject(401, 'wrong AuthorizationKey');
    return;
  }
  accept({ identity: handshake.identity });
});

server.on('client', (client) => {
  current = client;
  emit({ event: 'connected', identity: client.identity, protocol: client.protocol });
  for (const [method, answer] of Object.entries(answers[client.protocol])) {
    client.handle(method, ({ params }) => {
      emit({ event: 'call', method, params });
      return answer(params);
    });
  }
  // A valid call this central system has no answer for: the charge point gets
  // NotImplemented, and the test sees it.
  client.handle(({ method, params }) => {
    emit({ event: 'unhandled', method, params });
    throw createRPCError('NotImplemented', `${method} is not handled by the test CSMS`);
  });
  // Strict mode checks every CALL and CALLRESULT, both ways, against the protocol's
  // schemas; a message that fails (or is not OCPP-J at all) is reported as 'invalid'
  // for the test to fail on, besides the CALLERROR the charge point gets back.
  client.on('strictValidationFailure', (failure) => {
    emit({
      event: 'invalid', method: failure.method, outbound: failure.outbound,
      isCall: failure.isCall, message: String(failure.error && failure.error.message),
      details: failure.error && failure.error.details,
      params: failure.params, result: failure.result,
    });
  });
  client.on('badMessage', ({ buffer, error }) => {
    emit({
      event: 'invalid', method: null, message: String(error && error.message),
      raw: String(buffer).slice(0, 500),
    });
  });
  client.on('close', () => emit({ event: 'disconnected', identity: client.identity }));
});

async function stop() {
  await server.close({ force: true, awaitPending: false });
  process.exit(0);
}

const input = readline.createInterface({ input: process.stdin });
input.on('close', stop);
input.on('line', async (line) => {
  const command = JSON.parse(line);
  if (command.stop) {
    await stop();
    return;
  }
  if (!current) {
    emit({ event: 'error', call: command.call, message: 'no charge point connected' });
    return;
  }
  try {
    const result = await current.call(command.call, command.params);
    emit({ event: 'result', call: command.call, result });
  } catch (error) {
    emit({
      event: 'error', call: command.call, message: String(error.message || error),
      details: error.details,
    });
  }
});

server.listen(Number(args.port || 0), '127.0.0.1').then((httpServer) => {
  emit({ event: 'listening', port: httpServer.address().port, protocols });
});
