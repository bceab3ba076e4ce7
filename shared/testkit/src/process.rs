//! Spawning a service binary as a black box: its own free port, wait for SERVING, signal it.

use std::{
    fs::File,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// How long a binary may take to report SERVING (a readiness bound, not a performance
/// assertion: a debug build on a loaded 2-core machine can be slow to connect).
const READY_WITHIN: Duration = Duration::from_secs(90);
/// Starts of a binary whose port was taken between picking and binding it.
const PORT_ATTEMPTS: u32 = 3;

/// A running service binary, killed on drop.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    /// The gRPC port it listens on.
    pub port: u16,
    /// The port of its Prometheus `/metrics`.
    pub metrics_port: u16,
    log: tempfile_path::LogFile,
}

mod tempfile_path {
    /// A log file under the system temp dir, removed on drop.
    #[derive(Debug)]
    pub struct LogFile(pub std::path::PathBuf);
    impl Drop for LogFile {
        fn drop(&mut self) {
            drop(std::fs::remove_file(&self.0));
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

impl ServiceProcess {
    /// Starts `binary` with `env` on a free port and waits until health says SERVING.
    pub async fn spawn(binary: &str, env: &[(String, String)]) -> Self {
        Self::spawn_serving(|| Self::start(binary, &[], env)).await
    }

    /// Starts `binary` on `port` (e.g. to restart a service where its callers expect it)
    /// and waits until health says SERVING.
    pub async fn spawn_on(binary: &str, env: &[(String, String)], port: u16) -> Self {
        Self::spawn_serving(|| Self::start_on(binary, &[], env, port)).await
    }

    /// Starts a process with `start` and waits for SERVING. A free port is only free when
    /// it is picked: a parallel test may take it before the service binds it. A process
    /// that exits on "Address already in use" is started again (with fresh free ports).
    async fn spawn_serving(start: impl Fn() -> Self) -> Self {
        let mut attempt = 1;
        loop {
            let mut process = start();
            match process.serving().await {
                Ok(()) => return process,
                Err(log) if attempt < PORT_ATTEMPTS && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("service on port {} never became SERVING; its log:\n{log}", process.port),
            }
        }
    }

    /// Starts `binary args…` with `env` on a free port without waiting.
    pub fn start(binary: &str, args: &[&str], env: &[(String, String)]) -> Self {
        Self::start_on(binary, args, env, free_port())
    }

    fn start_on(binary: &str, args: &[&str], env: &[(String, String)], port: u16) -> Self {
        let log = tempfile_path::LogFile(std::env::temp_dir().join(format!(
            "bmtest-{}-{}.log",
            port,
            uuid::Uuid::new_v4().simple()
        )));
        let stderr = File::create(&log.0).expect("log file");
        let metrics_port = free_port();
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().cloned())
            .env("BM_GRPC__PORT", port.to_string())
            .env("BM_GRPC__HOST", "127.0.0.1")
            .env("BM_METRICS__PORT", metrics_port.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Self { child, port, metrics_port, log }
    }

    /// The process's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log.0).unwrap_or_default()
    }

    /// The text of `GET /metrics` (Prometheus exposition format).
    pub async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).await.expect("metrics port");
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A connected channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint()).expect("endpoint").connect().await.expect("connect to the service")
    }

    /// The overall health status, if the service answers.
    pub async fn health(&self) -> Option<ServingStatus> {
        let channel = Channel::from_shared(self.endpoint()).ok()?.connect().await.ok()?;
        let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
        ServingStatus::try_from(response.into_inner().status).ok()
    }

    /// Waits until health says SERVING; the log when the process exits or the time is up.
    async fn serving(&mut self) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if self.health().await == Some(ServingStatus::Serving) {
                return Ok(());
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(self.log())
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

/// The path of a workspace binary of the running executable's profile
/// (`target/<profile>/<name>`, whether we are a test in `target/<profile>/deps/` or a
/// binary in `target/<profile>/`); `make test` builds every binary first.
pub fn workspace_binary(name: &str) -> String {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().expect("target/<profile>");
    let dir = if dir.ends_with("deps") { dir.parent().expect("target/<profile>") } else { dir };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

impl ServiceProcess {
    /// Kills the process at once (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            drop(self.child.kill());
            drop(self.child.wait());
        }
    }
}

/// The services listed by reflection v1.
pub async fn list_services(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection v1")
        .into_inner();
    let response = stream.next().await.expect("a reflection answer").expect("reflection v1 ok");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// The services listed by reflection v1alpha (what grpcurl 1.8 uses).
pub async fn list_services_v1alpha(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let response = stream.next().await.expect("a reflection answer").expect("reflection v1alpha ok");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}
