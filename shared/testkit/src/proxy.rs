//! A TCP proxy on loopback that a fault test can make refuse connections: [`TcpProxy::refuse`]
//! closes every proxied connection and stops listening (clients see resets, then
//! "connection refused"), [`TcpProxy::resume`] listens again on the same port. Put in front
//! of Postgres it is "the database is unreachable for a while" without touching the shared
//! server.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    net::{TcpSocket, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// A proxy from `127.0.0.1:<port>` to a target address.
#[derive(Debug)]
pub struct TcpProxy {
    /// The port clients connect to.
    pub port: u16,
    target: SocketAddr,
    accepting: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Starts proxying a free port to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let proxy = Self { port: crate::free_port(), target, accepting: Arc::default() };
        proxy.resume();
        proxy
    }

    /// Whether it is accepting connections.
    pub fn is_up(&self) -> bool {
        self.accepting.lock().expect("proxy state").is_some()
    }

    /// Closes every proxied connection and stops listening; returns once both are done.
    pub async fn refuse(&self) {
        let task = self.accepting.lock().expect("proxy state").take();
        if let Some(task) = task {
            // The task owns the listener and the JoinSet of connections: aborting it drops
            // both, which closes every socket.
            task.abort();
            drop(task.await);
        }
    }

    /// Listens again on the same port.
    pub fn resume(&self) {
        let mut accepting = self.accepting.lock().expect("proxy state");
        assert!(accepting.is_none(), "the proxy is already accepting");
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(SocketAddr::from(([127, 0, 0, 1], self.port))).expect("bind the proxy port");
        let listener = socket.listen(128).expect("listen");
        let target = self.target;
        *accepting = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut server) = TcpStream::connect(target).await {
                                drop(client.set_nodelay(true));
                                drop(server.set_nodelay(true));
                                drop(tokio::io::copy_bidirectional(&mut client, &mut server).await);
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.accepting.lock().expect("proxy state").take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut reader, mut writer) = socket.split();
                    drop(tokio::io::copy(&mut reader, &mut writer).await);
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut answer = vec![0; 4];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn refuse_cuts_open_connections_and_refuses_new_ones_until_resume() {
        let proxy = TcpProxy::start(echo_server().await);
        let mut open = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");

        proxy.refuse().await;
        assert!(!proxy.is_up());
        assert!(round_trip(&mut open).await.is_err(), "an open connection is cut");
        assert!(TcpStream::connect(("127.0.0.1", proxy.port)).await.is_err(), "a new one is refused");

        proxy.resume();
        let mut again = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
    }
}
