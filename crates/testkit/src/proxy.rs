//! A TCP proxy on loopback that a test can cut and heal: the network between one client and the
//! broker failing, while everything else (the broker, the other clients) goes on.
//!
//! A client goes through the proxy for every connection only if the broker tells it to: Kafka
//! clients connect to the address a broker *advertises* after their first Metadata answer, so a
//! proxy on the bootstrap address alone would cut nothing. [`crate::PrivateBroker::behind_proxy`]
//! starts a broker whose second listener advertises the proxy's port (a
//! [`test_broker::Relay`]); the clients given [`Proxy::kafka`] reach the broker only through the
//! proxy, the clients given [`crate::PrivateBroker::kafka`] reach it directly.
//!
//! [`Proxy::cut`] drops every live connection (both ends see it closed) and, until
//! [`Proxy::heal`], accepts new connections and holds them without a byte going through: a client
//! that reconnects hears nothing back, as when packets are lost, and times out by its own clock.
//! At the heal, the held connections are put through (what TCP would deliver once the path is
//! back) and new ones pass again.
//!
//! The proxy runs on a thread and runtime of its own, so a test that blocks its own runtime
//! (`block_in_place`, a blocking read) never stalls the traffic it relays. It listens on
//! 127.0.0.1 only and connects only to the one upstream address it was given.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rebound::KafkaConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// What the proxy has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted, in all.
    pub accepted: u64,
    /// Live connections dropped by [`Proxy::cut`].
    pub dropped: u64,
    /// Connections accepted while cut (held until the heal): the client trying to get back.
    pub held: u64,
    /// Times [`Proxy::cut`] was called.
    pub cuts: u64,
}

/// A proxy from `127.0.0.1:<port>` to one upstream address; stopped (every connection closed)
/// when dropped.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the current cut began, if the path is cut.
    cut_since: Option<Instant>,
    next_id: u64,
    /// The relaying tasks of live connections, to abort at a cut.
    live: HashMap<u64, AbortHandle>,
    /// Connections accepted during the cut.
    held: Vec<TcpStream>,
    stats: ProxyStats,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Proxy {
    /// Starts relaying what `listener` (bound on loopback; the test chose its port before the
    /// broker started, to advertise it) accepts to `upstream`.
    pub fn start(listener: std::net::TcpListener, upstream: SocketAddr) -> io::Result<Proxy> {
        let address = listener.local_addr()?;
        assert!(
            address.ip().is_loopback() && upstream.ip().is_loopback(),
            "the proxy only relays on loopback: {address} -> {upstream}"
        );
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.handle().clone();
        let accepting = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, accepting) => {}
                    }
                });
                // Dropping the runtime cancels every relaying task, closing its sockets.
            })?;
        Ok(Proxy {
            address,
            shared,
            runtime: handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the proxy listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The client configuration of a client that must go through the proxy (with a broker that
    /// advertises the proxy's port, see the module's docs).
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig::new(self.address.to_string())
    }

    /// Cuts the path: every live connection is dropped, new ones are held without an answer
    /// until [`Proxy::heal`]. Returns how many live connections were dropped.
    pub fn cut(&self) -> u64 {
        let mut state = self.shared.lock();
        if state.cut_since.is_none() {
            state.cut_since = Some(Instant::now());
            state.stats.cuts += 1;
        }
        let dropped = state.live.len() as u64;
        for (_, task) in state.live.drain() {
            task.abort();
        }
        state.stats.dropped += dropped;
        dropped
    }

    /// Heals the path: the connections held during the cut are put through, new ones pass.
    /// Returns how long the path was cut (zero if it was not).
    pub fn heal(&self) -> Duration {
        let mut state = self.shared.lock();
        let Some(since) = state.cut_since.take() else {
            return Duration::ZERO;
        };
        for client in std::mem::take(&mut state.held) {
            relay(&self.shared, &mut state, &self.runtime, client);
        }
        since.elapsed()
    }

    /// Whether the path is cut now.
    pub fn is_cut(&self) -> bool {
        self.shared.lock().cut_since.is_some()
    }

    /// What the proxy has seen so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.lock().stats
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.lock().held.clear();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let runtime = tokio::runtime::Handle::current();
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(e) => {
                // Out of file descriptors and the like: try again shortly, as a server would.
                eprintln!("proxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = client.set_nodelay(true);
        let mut state = shared.lock();
        state.stats.accepted += 1;
        if state.cut_since.is_some() {
            state.stats.held += 1;
            state.held.push(client);
        } else {
            relay(&shared, &mut state, &runtime, client);
        }
    }
}

/// Relays `client` to the upstream on a task of its own, registered (under the lock the caller
/// holds) so that a cut can abort it.
fn relay(
    shared: &Arc<Shared>,
    state: &mut State,
    runtime: &tokio::runtime::Handle,
    mut client: TcpStream,
) {
    let id = state.next_id;
    state.next_id += 1;
    let done = shared.clone();
    let task = runtime.spawn(async move {
        if let Ok(mut server) = TcpStream::connect(done.upstream).await {
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        done.lock().live.remove(&id);
    });
    state.live.insert(id, task.abort_handle());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream that answers every chunk it reads with the same bytes.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        address
    }

    async fn round_trip(socket: &mut TcpStream, bytes: &[u8]) -> io::Result<Vec<u8>> {
        socket.write_all(bytes).await?;
        let mut answer = vec![0u8; bytes.len()];
        socket.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn a_cut_drops_live_connections_holds_new_ones_and_the_heal_puts_them_through() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy::start(listener, echo().await).unwrap();

        let mut before = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut before, b"one").await.unwrap(), b"one");

        assert_eq!(proxy.cut(), 1);
        assert!(proxy.is_cut());
        // The live connection is closed: a read ends (EOF or reset) instead of waiting.
        let mut buffer = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), before.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "the live connection survived the cut: {read:?}"
        );

        // A new connection is accepted but nothing comes back while the path is cut.
        let mut during = TcpStream::connect(proxy.address()).await.unwrap();
        during.write_all(b"two").await.unwrap();
        let silent = tokio::time::timeout(Duration::from_millis(300), during.read(&mut buffer));
        assert!(silent.await.is_err(), "an answer came through the cut");

        assert!(proxy.heal() > Duration::ZERO);
        assert!(!proxy.is_cut());
        // What was sent during the cut arrives once the path is back.
        let mut answer = [0u8; 3];
        tokio::time::timeout(Duration::from_secs(5), during.read_exact(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&answer, b"two");
        let mut after = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut after, b"three").await.unwrap(), b"three");

        let stats = proxy.stats();
        assert_eq!(
            (stats.accepted, stats.dropped, stats.held, stats.cuts),
            (3, 1, 1, 1)
        );
    }
}
