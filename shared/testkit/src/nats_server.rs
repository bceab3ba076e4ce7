//! A private `nats-server` (JetStream on, its own port and store directory) for fault tests
//! that stop the broker and start it again. Never the shared one on 4222 (ARCHITECTURE.md
//! §8.8). `BMTEST_NATS_SERVER` names the binary (default: `nats-server` on the PATH, else
//! `/usr/sbin/nats-server`).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long the broker may take to accept JetStream requests (readiness, not performance).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running (or stopped) private nats-server. Stopped, and its store removed, on drop.
#[derive(Debug)]
pub struct NatsServer {
    /// The client port on 127.0.0.1.
    pub port: u16,
    store: PathBuf,
    child: Option<Child>,
}

fn binary() -> String {
    crate::server_binary("BMTEST_NATS_SERVER", "nats-server", "/usr/sbin/nats-server")
}

impl NatsServer {
    /// Starts a broker on a free port with a fresh store and waits until JetStream answers.
    pub async fn start() -> Self {
        let store = std::env::temp_dir().join(format!("bmtest-nats-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&store).expect("nats store directory");
        let mut server = Self { port: crate::free_port(), store, child: None };
        server.resume().await;
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The broker's store directory (`-sd`).
    pub fn store(&self) -> &std::path::Path {
        &self.store
    }

    fn log_path(&self) -> PathBuf {
        self.store.with_extension("log")
    }

    /// Whether the broker process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the broker (SIGTERM, then SIGKILL after 10 s); its store stays for [`Self::resume`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        drop(Command::new("kill").args(["-TERM", &child.id().to_string()]).status());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(child.kill());
        drop(child.wait());
    }

    /// Starts the broker again on the same port and store (streams and consumers survive)
    /// and waits until JetStream answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.log_path()).expect("nats-server log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({e}); set BMTEST_NATS_SERVER"));
        self.child = Some(child);
        let started = Instant::now();
        let mut last_error = String::new();
        while started.elapsed() < READY_WITHIN {
            match async_nats::connect(self.url()).await {
                // A raw request: the typed account query of async-nats does not parse 2.9's answer.
                Ok(client) => match client.request("$JS.API.INFO", Vec::new().into()).await {
                    Ok(_) => return,
                    Err(error) => last_error = error.to_string(),
                },
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        panic!("nats-server on port {} never became ready ({last_error}); its log:\n{log}", self.port);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        drop(std::fs::remove_dir_all(&self.store));
        drop(std::fs::remove_file(self.log_path()));
    }
}
