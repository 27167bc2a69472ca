// Start Unleash for the tests (tests/servers/unleash.py): database, port and the admin token from the environment.
const unleash = require('unleash-server');

unleash.start({
  db: {
    host: '127.0.0.1', port: Number(process.env.UNLEASH_DB_PORT), user: process.env.UNLEASH_DB_USER,
    password: '', database: process.env.UNLEASH_DB_NAME, ssl: false,
  },
  server: { host: '127.0.0.1', port: Number(process.env.UNLEASH_PORT) },
  authentication: {
    initApiTokens: [{ environment: '*', project: '*', secret: process.env.UNLEASH_ADMIN_TOKEN, type: 'admin',
                      tokenName: 'firebreak-tests' }],
  },
  logLevel: 'error',
}).then(() => console.log('STARTED'));
