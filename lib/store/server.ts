import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { StoreConnection } from './connection';
import { AUTH_TIMEOUT_MS, formatAddress } from './protocol';
import { KeyValueTable } from './table';

/** Options for {@link StoreServer.start}. */
export interface StoreServerOptions {
  /** Interface to listen on. Default `127.0.0.1`: the store is for workers on this host. */
  host?: string;
  /** TCP port; default 0 picks a free one. */
  port?: number;
  /** Secret every client must present; default a fresh 32-byte random token (64 hex chars). */
  token?: string;
  /** Where refused and dropped connections are reported; default one line on stderr. */
  log?: (message: string) => void;
  /** How long a connection may take to authenticate; default 10 s. Shorter only in tests. */
  authTimeoutMs?: number;
}

/**
 * The rendezvous key-value store hosted by the launcher (see docs/store-protocol.md).
 *
 * @example
 * ```ts
 * const store = await StoreServer.start({ token });
 * env.DTRAIN_STORE = store.address;
 * // ... run the job ...
 * await store.close();
 * ```
 */
export class StoreServer {
  private readonly connections = new Set<StoreConnection>();
  private closing: Promise<void> | null = null;
  private unrefd = false;

  private constructor(
    private readonly server: Server,
    /** `host:port` that workers connect to (the `DTRAIN_STORE` value). */
    readonly address: string,
    /** The secret clients must send in `AUTH`. */
    readonly token: string,
  ) {}

  /**
   * Starts listening and resolves once the port is bound.
   *
   * @throws Error if the address cannot be bound
   */
  static async start(options: StoreServerOptions = {}): Promise<StoreServer> {
    const host = options.host ?? '127.0.0.1';
    const token = options.token ?? randomBytes(32).toString('hex');
    const log = options.log ?? ((message: string) => void process.stderr.write(`${message}\n`));
    const tokenDigest = createHash('sha256').update(token, 'latin1').digest();
    const authTimeoutMs = options.authTimeoutMs ?? AUTH_TIMEOUT_MS;

    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const store = new StoreServer(server, formatAddress(host, port), token);

    const table = new KeyValueTable();
    const onClosed = (connection: StoreConnection): void => {
      store.connections.delete(connection);
    };
    server.on('connection', (socket) => {
      if (store.unrefd) socket.unref();
      store.connections.add(
        new StoreConnection(socket, { table, tokenDigest, authTimeoutMs, log, onClosed }),
      );
    });
    server.on('error', (err) => log(`dtrain store: ${err.message}`));
    return store;
  }

  /**
   * Lets the process exit while the store runs (a store hosted by a worker, under mpirun, must
   * not keep a finished script alive); connections accepted later do not hold it either.
   */
  unref(): void {
    this.unrefd = true;
    this.server.unref();
  }

  /** Stops listening and drops every connection; waiting GETs are abandoned. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const connection of [...this.connections]) connection.destroy();
    });
    return this.closing;
  }
}
