//! A minimal open-loop HTTP/1.1 load generator over keep-alive loopback connections.
//!
//! Written here rather than taken from a crate because it must pace requests at a fixed rate and
//! measure each from its *scheduled* start (no coordinated omission), which the client crates
//! do not do by themselves; wrk2 would, but is not in Debian.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Sends `per_conn` requests on each of `conns` connections, each connection at `rate / conns`
/// requests per second; returns each request's latency from its scheduled time and the count
/// of non-2xx answers.
pub async fn run(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    conns: usize,
    rate_per_s: u64,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let per_conn_interval = Duration::from_nanos(1_000_000_000 * conns as u64 / rate_per_s.max(1));
    let chunk = requests.len().div_ceil(conns);
    let mut tasks = Vec::new();
    for part in requests.chunks(chunk).map(<[Vec<u8>]>::to_vec) {
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut conn = BufReader::new(stream);
            let start = Instant::now();
            let (mut lat, mut errors) = (Vec::with_capacity(part.len()), 0usize);
            for (i, req) in part.iter().enumerate() {
                let scheduled = start + per_conn_interval * i as u32;
                tokio::time::sleep_until(scheduled.into()).await;
                conn.get_mut().write_all(req).await?;
                let status = read_response(&mut conn).await?;
                lat.push(scheduled.elapsed());
                errors += usize::from(!(200..300).contains(&status));
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    Ok((all, errors))
}

async fn read_response(conn: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok(status)
}

pub fn post(path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
