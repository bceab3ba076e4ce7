//! `grpc-health-probe [host:port] [service]`: one `grpc.health.v1.Health/Check` call over
//! plaintext HTTP/2, exit 0 when the answer is SERVING and 1 otherwise (refused, timeout,
//! NOT_SERVING, unknown service, any gRPC error). Used by container health checks, where no
//! grpcurl or grpc_health_probe is available offline. Standard library only: it is compiled
//! with plain `rustc` in the image build, needs no crates and adds ~0.5 MB to an image.
//!
//! Defaults: `127.0.0.1:$BM_GRPC__PORT` (or 50050) and the overall service "". The timeout is
//! `$HEALTH_PROBE_TIMEOUT_MS` (default 3000).

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    process::ExitCode,
    time::{Duration, Instant},
};

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(0);
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix whose high bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | u8::try_from(value).unwrap_or(0));
        return;
    }
    out.push(first | u8::try_from(max).unwrap_or(0));
    value -= max;
    while value >= 128 {
        out.push(u8::try_from(value % 128).unwrap_or(0) | 0x80);
        value /= 128;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

/// A literal header field without indexing, with a literal name (no Huffman coding).
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_int(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

fn request(authority: &str, service: &str) -> Vec<u8> {
    let mut headers = vec![0x83, 0x86]; // :method POST, :scheme http (static table)
    hpack_literal(&mut headers, ":path", "/grpc.health.v1.Health/Check");
    hpack_literal(&mut headers, ":authority", authority);
    hpack_literal(&mut headers, "content-type", "application/grpc");
    hpack_literal(&mut headers, "te", "trailers");
    // HealthCheckRequest { service = 1 (string) }, in a gRPC length-prefixed message.
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        let mut len = Vec::new();
        let mut n = service.len();
        while n >= 0x80 {
            len.push(u8::try_from(n & 0x7f).unwrap_or(0) | 0x80);
            n >>= 7;
        }
        len.push(u8::try_from(n).unwrap_or(0));
        message.extend_from_slice(&len);
        message.extend_from_slice(service.as_bytes());
    }
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&message);

    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_HEADERS, 1, &headers));
    out.extend(frame(DATA, END_STREAM, 1, &body));
    out
}

/// The `status` field (1, varint) of a HealthCheckResponse; absent means 0 (UNKNOWN).
fn status_of(message: &[u8]) -> u64 {
    let mut i = 0;
    while i < message.len() {
        let key = message[i];
        i += 1;
        let mut value = 0u64;
        let mut shift = 0;
        match key & 0x7 {
            0 => {
                while i < message.len() {
                    let b = message[i];
                    i += 1;
                    value |= u64::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                if key >> 3 == 1 {
                    return value;
                }
            }
            2 => {
                let mut len = 0usize;
                while i < message.len() {
                    let b = message[i];
                    i += 1;
                    len |= usize::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                i += len;
            }
            _ => return 0,
        }
    }
    0
}

fn check(target: &str, service: &str, timeout: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + timeout;
    let address = target
        .to_socket_addrs()
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{target}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.write_all(&request(target, service)).map_err(|e| e.to_string())?;

    let mut data = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).map_err(|e| format!("reading a frame: {e}"))?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).map_err(|e| format!("reading a frame: {e}"))?;
        match kind {
            SETTINGS if flags & ACK == 0 => stream.write_all(&frame(SETTINGS, ACK, 0, &[])).map_err(|e| e.to_string())?,
            PING if flags & ACK == 0 => stream.write_all(&frame(PING, ACK, 0, &payload)).map_err(|e| e.to_string())?,
            GOAWAY => return Err("the server closed the connection (GOAWAY)".into()),
            RST_STREAM if id == 1 => return Err("the server reset the call".into()),
            DATA if id == 1 => {
                // PADDED: a pad-length byte first, that many bytes of padding last.
                let (start, pad) =
                    if flags & 0x8 != 0 { (1, usize::from(payload.first().copied().unwrap_or(0))) } else { (0, 0) };
                data.extend_from_slice(payload.get(start..payload.len().saturating_sub(pad)).unwrap_or_default());
            }
            _ => {}
        }
        if id == 1 && flags & END_STREAM != 0 && (kind == DATA || kind == HEADERS) {
            break;
        }
    }
    // A gRPC error arrives as trailers only: no message, so no SERVING.
    if data.len() < 5 {
        return Err("no HealthCheckResponse (a gRPC error, e.g. unknown service)".into());
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    Ok(status_of(&data[5..(5 + len).min(data.len())]))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let port = std::env::var("BM_GRPC__PORT").unwrap_or_else(|_| "50050".into());
    let target = args.next().unwrap_or_else(|| format!("127.0.0.1:{port}"));
    let service = args.next().unwrap_or_default();
    let timeout = std::env::var("HEALTH_PROBE_TIMEOUT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let names = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];
    match check(&target, &service, Duration::from_millis(timeout)) {
        Ok(1) => {
            println!("{target} {service:?}: SERVING");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            let name = usize::try_from(status).ok().and_then(|i| names.get(i)).unwrap_or(&"?");
            eprintln!("{target} {service:?}: {name}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("{target} {service:?}: {error}");
            ExitCode::FAILURE
        }
    }
}
