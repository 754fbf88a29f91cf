/** The one logger (server/log.js: pino, JSON lines, the request id on every line of a request). */
export { log, requestContext } from '../../../server/log.js';
