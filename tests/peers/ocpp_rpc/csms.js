// An OCPP 1.6J central system for ukscp's tests, independent of the Python `ocpp`
// package: built on npm's ocpp-rpc in strict mode, so every message ukscp sends is
// validated against the OCPP JSON schemas. It is driven by the test over stdio:
//   stdout: one JSON object per line ({"event": "listening"|"connected"|"rejected"|
//           "call"|"result"|"error"|"invalid"|"disconnected", ...});
//   stdin:  one JSON command per line ({"call": "SetChargingProfile", "params": {...}}).
'use strict';
const readline = require('readline');
const { RPCServer } = require('ocpp-rpc');

const args = Object.fromEntries(
  process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=')),
);
const expectedPassword = args.password || null;
let current = null;

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });

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

let nextTransactionId = 1;
const answers = {
  BootNotification: () => ({
    status: 'Accepted', currentTime: new Date().toISOString(), interval: 300,
  }),
  Heartbeat: () => ({ currentTime: new Date().toISOString() }),
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
};

server.on('client', (client) => {
  current = client;
  emit({ event: 'connected', identity: client.identity });
  for (const [method, answer] of Object.entries(answers)) {
    client.handle(method, ({ params }) => {
      emit({ event: 'call', method, params });
      return answer(params);
    });
  }
  // Strict mode checks every CALL and CALLRESULT, both ways, against the OCPP 1.6
  // schemas; a message that fails (or is not OCPP-J at all) is reported as 'invalid'
  // for the test to fail on, besides the CALLERROR the charge point gets back.
  client.on('strictValidationFailure', (failure) => {
    emit({
      event: 'invalid', method: failure.method, outbound: failure.outbound,
      isCall: failure.isCall, message: String(failure.error && failure.error.message),
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

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const command = JSON.parse(line);
  if (command.stop) {
    await server.close({ force: true });
    process.exit(0);
  }
  if (!current) {
    emit({ event: 'error', call: command.call, message: 'no charge point connected' });
    return;
  }
  try {
    const result = await current.call(command.call, command.params);
    emit({ event: 'result', call: command.call, result });
  } catch (error) {
    emit({ event: 'error', call: command.call, message: String(error.message || error) });
  }
});

server.listen(Number(args.port || 0), '127.0.0.1').then((httpServer) => {
  emit({ event: 'listening', port: httpServer.address().port });
});
