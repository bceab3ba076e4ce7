//! A private `redis-server` (its own port, nothing kept on disk) for fault tests that stop
//! Redis and start it again empty — what a restart of a cache without persistence does to
//! the stock counters. Never the shared one on 6379. `BMTEST_REDIS_SERVER` names the binary
//! (default: `redis-server` on the PATH, else `/usr/bin/redis-server`).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use deadpool_redis::redis;

/// How long the server may take to answer PING (readiness, not performance).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running (or stopped) private redis-server, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    /// The port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

fn binary() -> String {
    crate::server_binary("BMTEST_REDIS_SERVER", "redis-server", "/usr/bin/redis-server")
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub async fn start() -> Self {
        let mut server = Self { port: crate::free_port(), child: None };
        server.resume().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.kill());
            drop(child.wait());
        }
    }

    /// Starts it again, empty, on the same port and waits until it answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new(binary())
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir"])
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}); set BMTEST_REDIS_SERVER"));
        self.child = Some(child);
        let started = Instant::now();
        let mut last_error = String::new();
        while started.elapsed() < READY_WITHIN {
            match redis::Client::open(self.url()) {
                Ok(client) => match client.get_multiplexed_async_connection().await {
                    Ok(mut connection) => match redis::cmd("PING").query_async::<String>(&mut connection).await {
                        Ok(_) => return,
                        Err(error) => last_error = error.to_string(),
                    },
                    Err(error) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} never answered PING: {last_error}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
