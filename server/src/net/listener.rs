//! [`HuddleListener`]: axum's `Listener` over TCP, or over TLS with the handshakes run
//! off the accept loop (a slow or silent client never holds up the next one).
//!
//! Every accepted stream is [`Metered`]: it counts the bytes the server wrote to it and
//! can be cut from outside ([`Wire::cut`]), which is how a client that stops reading is
//! disconnected even while a write to it is stuck.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A TLS handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The byte counter and cut-off switch of one connection.
#[derive(Debug, Default)]
pub struct Wire {
    written: AtomicU64,
    cut: AtomicBool,
    /// The task waiting to write, woken when the wire is cut. (A waiting read needs no
    /// waking: the server cuts a wire when it has something to write on it.)
    writer: AtomicWaker,
}

impl Wire {
    /// Bytes the server has handed to the connection (the kernel, or TLS).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Fails every read and write from now on, waking any that wait.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.writer.wake();
    }

    #[cfg(test)]
    pub(crate) fn wrote(&self, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the server",
    )
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A server-side stream whose writes are counted and which can be cut.
pub struct Metered {
    stream: Stream,
    wire: Arc<Wire>,
}

impl Metered {
    fn new(stream: Stream) -> Self {
        Metered {
            stream,
            wire: Arc::new(Wire::default()),
        }
    }
}

macro_rules! with_stream {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.stream {
            Stream::Plain($s) => $e,
            Stream::Tls($s) => $e,
        }
    };
}

/// A pending write waits for the wire's cut too: registered first, then the flag
/// checked again, so a cut in between is not missed.
fn pending_or_cut<T>(
    waiter: &AtomicWaker,
    wire: &Wire,
    cx: &Context<'_>,
    poll: Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    if poll.is_pending() {
        waiter.register(cx.waker());
        if wire.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
    }
    poll
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.wire.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        with_stream!(this, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl Metered {
    fn wrote(&self, cx: &Context<'_>, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = &poll {
            self.wire.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        pending_or_cut(&self.wire.writer, &self.wire, cx, poll)
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wire.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let poll = with_stream!(this, s => Pin::new(s).poll_write(cx, buf));
        this.wrote(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wire.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let poll = with_stream!(this, s => Pin::new(s).poll_write_vectored(cx, bufs));
        this.wrote(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.wire.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let poll = with_stream!(this, s => Pin::new(s).poll_flush(cx));
        pending_or_cut(&this.wire.writer, &this.wire, cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        with_stream!(this, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// What every request on a connection learns about it (as axum's `ConnectInfo`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub wire: Arc<Wire>,
}

impl Connected<IncomingStream<'_, HuddleListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, HuddleListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            wire: stream.io().wire.clone(),
        }
    }
}

/// The server's listening socket: plain TCP, or TLS when an acceptor is given.
pub struct HuddleListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    handshaken: mpsc::Sender<(Metered, SocketAddr)>,
    ready: mpsc::Receiver<(Metered, SocketAddr)>,
}

impl HuddleListener {
    pub fn new(tcp: TcpListener, tls: Option<TlsAcceptor>) -> Self {
        let (handshaken, ready) = mpsc::channel(64);
        HuddleListener {
            tcp,
            tls,
            handshaken,
            ready,
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Accepts the next TCP connection, riding out errors as axum's own listener does.
async fn accept_tcp(tcp: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match tcp.accept().await {
            Ok((stream, addr)) => {
                // Signaling messages are small and latency-bound: no Nagle delay.
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%err, "TCP_NODELAY not set");
                }
                return (stream, addr);
            }
            Err(e) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    continue;
                }
                // Out of file descriptors, most likely: wait for some to close.
                tracing::error!("accept error: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
    done: mpsc::Sender<(Metered, SocketAddr)>,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            let _ = done
                .send((Metered::new(Stream::Tls(Box::new(tls))), addr))
                .await;
        }
        Ok(Err(err)) => tracing::debug!(%addr, %err, "TLS handshake failed"),
        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
    }
}

impl axum::serve::Listener for HuddleListener {
    type Io = Metered;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Metered, SocketAddr) {
        let Some(acceptor) = &self.tls else {
            let (tcp, addr) = accept_tcp(&self.tcp).await;
            return (Metered::new(Stream::Plain(tcp)), addr);
        };
        loop {
            tokio::select! {
                biased;
                Some(done) = self.ready.recv() => return done,
                (tcp, addr) = accept_tcp(&self.tcp) => {
                    tokio::spawn(handshake(acceptor.clone(), tcp, addr, self.handshaken.clone()));
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_are_counted_and_a_cut_stops_a_stuck_write() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = HuddleListener::new(tcp, None);
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = axum::serve::Listener::accept(&mut listener).await;
        let wire = server.wire.clone();
        server.write_all(b"hello").await.unwrap();
        assert_eq!(wire.written(), 5);

        // The client never reads: the write fills the socket buffers and waits.
        let writer = tokio::spawn(async move {
            let chunk = vec![0u8; 64 * 1024];
            loop {
                if let Err(e) = server.write_all(&chunk).await {
                    return e.kind();
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!writer.is_finished(), "the write is stuck");
        let stuck_at = wire.written();
        wire.cut();
        let kind = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the cut wakes the writer")
            .unwrap();
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        assert_eq!(wire.written(), stuck_at);
        drop(client);
    }

    #[tokio::test]
    async fn after_a_cut_reads_fail_too() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = HuddleListener::new(tcp, None);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = axum::serve::Listener::accept(&mut listener).await;
        client.write_all(b"queued").await.unwrap();
        server.wire.cut();
        let mut buf = [0u8; 16];
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }
}
