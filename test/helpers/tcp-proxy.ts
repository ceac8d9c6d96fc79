// A loopback TCP proxy a test can cut, freeze, reset and restore, to make a real dependency fail
// the ways it does in production.
import net from "node:net";

export interface TcpProxy {
  port: number;
  /** Closes the listener and every open connection: the target looks down (refused). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /**
   * The open connections stop forwarding, with their sockets kept open (a NAT or load balancer
   * that dropped its state, a failed-over host): nothing errors, nothing arrives. New connections
   * forward as usual.
   */
  freeze(): void;
  /** The open connections are reset (RST), as by a restarted middlebox. */
  reset(): void;
  /** Connections made through the proxy so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function tcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  /** Frozen pairs: kept open (and destroyed only by cut or close). */
  const frozen = new Set<[net.Socket, net.Socket]>();
  let server: net.Server;
  let port = 0;
  let connections = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        connections++;
        const upstream = net.connect(targetPort, targetHost);
        const pair: [net.Socket, net.Socket] = [client, upstream];
        pairs.add(pair);
        for (const s of pair) {
          s.on("close", () => pairs.delete(pair));
          s.on("error", () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await listen();
  const cut = async () => {
    for (const pair of [...pairs, ...frozen]) for (const s of pair) s.destroy();
    frozen.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    get port() {
      return port;
    },
    get connections() {
      return connections;
    },
    cut,
    restore: listen,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.add([client, upstream]);
      }
      pairs.clear();
    },
    reset() {
      for (const pair of pairs) for (const s of pair) s.resetAndDestroy();
      pairs.clear();
    },
    close: () => cut().catch(() => undefined),
  };
}
